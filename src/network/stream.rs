//! Streaming over WebSocket. STUB: owned by the network helper.
use super::{NetError, StreamEvent};

/// A live hashtag stream. `next()` yields events until the connection drops
/// (close, error, or no frame for the idle limit), then `None`.
pub struct HashtagStream {
    _private: (),
}

impl HashtagStream {
    pub async fn next(&mut self) -> Option<StreamEvent> {
        unimplemented!("stub")
    }
}

/// The WebSocket URL for a hashtag stream; the token is in it, so never log it.
pub fn stream_url(server: &url::Url, tag: &str, token: &str) -> Result<url::Url, NetError> {
    let _ = (server, tag, token);
    unimplemented!("stub")
}
