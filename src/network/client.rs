//! The real server client. STUB: owned by the network helper.
use async_trait::async_trait;

use super::*;

/// A Mastodon-compatible server reached over HTTP(S).
pub struct MastodonClient {
    _private: (),
}

impl MastodonClient {
    /// `platform` chooses megalodon's SNS flavour; `timeout` bounds every call.
    pub fn new(
        server: &url::Url,
        platform: crate::chats::Platform,
        token: Token,
        timeout: std::time::Duration,
    ) -> Result<Self, NetError> {
        let _ = (server, platform, token, timeout);
        unimplemented!("stub")
    }
}

#[async_trait]
impl Social for MastodonClient {
    async fn instance(&self) -> Result<Instance, NetError> {
        unimplemented!("stub")
    }
    async fn me(&self) -> Result<Account, NetError> {
        unimplemented!("stub")
    }
    async fn post(&self, _post: &NewPost) -> Result<Status, NetError> {
        unimplemented!("stub")
    }
    async fn status(&self, _id: &str) -> Result<Option<Status>, NetError> {
        unimplemented!("stub")
    }
    async fn tag_timeline(&self, _tag: &str, _page: &Page) -> Result<Vec<Status>, NetError> {
        unimplemented!("stub")
    }
    async fn replies(&self, _id: &str) -> Result<Vec<Status>, NetError> {
        unimplemented!("stub")
    }
    async fn account_statuses(
        &self,
        _account_id: &str,
        _page: &Page,
    ) -> Result<Vec<Status>, NetError> {
        unimplemented!("stub")
    }
    async fn hashtag_stream(&self, _tag: &str) -> Result<HashtagStream, NetError> {
        unimplemented!("stub")
    }
}
