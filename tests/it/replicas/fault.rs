//! Faults for the replica test: a gate that freezes a replica (every call
//! of its server client and its leases held until it is woken, as SIGSTOP
//! would) and the record of what each replica did.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hashchat::chats::Chat;
use hashchat::network::{
    Account, HashtagStream, Instance, MastodonClient, NetError, NewPost, Page, Social, Software,
    Status, Token, Trust,
};
use hashchat::run::{Connector, SharedLeases};
use hashchat::store::postgres::{Acquired, Claim, FencingToken, Grant};
use tokio::sync::watch;

/// Holds every call made while closed; a call already past it goes on
/// (a request already on the wire).
#[derive(Clone)]
pub struct Gate(Arc<watch::Sender<bool>>);

impl Gate {
    pub fn new() -> Self {
        Self(Arc::new(watch::Sender::new(false)))
    }

    pub fn freeze(&self) {
        self.0.send_replace(true);
    }

    pub fn wake(&self) {
        self.0.send_replace(false);
    }

    pub fn is_frozen(&self) -> bool {
        *self.0.borrow()
    }

    async fn pass(&self) {
        self.pass_then(|| ()).await;
    }

    /// Passes, then runs `then` before the gate can close again: what
    /// `then` records happened before any later freeze.
    async fn pass_then(&self, then: impl FnOnce()) {
        let mut open = self.0.subscribe();
        // The sender lives in `self`: waiting cannot fail. The guard it
        // returns holds `freeze` off until `then` is done.
        let open = open.wait_for(|frozen| !frozen).await;
        if open.is_ok() {
            then();
        }
        drop(open);
    }
}

/// What one replica did, as its wrappers saw it.
#[derive(Default)]
pub struct Record {
    /// The clock time of its latest lease call (acquire or renew) that
    /// returned: a replica has caught up with the clock when it is now.
    pub lease_calls: watch::Sender<Option<DateTime<Utc>>>,
    /// (Idempotency-Key, text) of every post the server took from it.
    pub posted: Mutex<Vec<(String, String)>>,
    /// How many post requests went past its gate.
    pub attempts: Mutex<usize>,
}

impl Record {
    pub fn posts(&self) -> Vec<(String, String)> {
        self.posted.lock().unwrap().clone()
    }

    pub fn attempts(&self) -> usize {
        *self.attempts.lock().unwrap()
    }
}

/// A replica's leases, behind its gate.
pub struct FrozenLeases {
    pub inner: Arc<dyn SharedLeases>,
    pub gate: Gate,
    pub record: Arc<Record>,
}

#[async_trait]
impl SharedLeases for FrozenLeases {
    async fn acquire(
        &self,
        chat_id: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Acquired> {
        self.gate.pass().await;
        let acquired = self.inner.acquire(chat_id, holder, ttl, now).await;
        self.record.lease_calls.send_replace(Some(now));
        acquired
    }

    async fn renew(
        &self,
        grant: &Grant,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Grant>> {
        self.gate.pass().await;
        let renewed = self.inner.renew(grant, ttl, now).await;
        self.record.lease_calls.send_replace(Some(now));
        renewed
    }

    async fn release(&self, grant: &Grant) -> anyhow::Result<bool> {
        self.gate.pass().await;
        self.inner.release(grant).await
    }

    async fn claim_post(
        &self,
        chat_id: &str,
        run_id: i64,
        seq: u32,
        token: FencingToken,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Claim> {
        self.gate.pass().await;
        self.inner
            .claim_post(chat_id, run_id, seq, token, now)
            .await
    }
}

/// A replica's client for the fake server, behind its gate.
pub struct FrozenSocial {
    inner: MastodonClient,
    gate: Gate,
    record: Arc<Record>,
}

#[async_trait]
impl Social for FrozenSocial {
    async fn instance(&self) -> Result<Instance, NetError> {
        self.gate.pass().await;
        self.inner.instance().await
    }

    async fn me(&self) -> Result<Account, NetError> {
        self.gate.pass().await;
        self.inner.me().await
    }

    async fn post(&self, post: &NewPost) -> Result<Status, NetError> {
        let attempts = &self.record.attempts;
        self.gate.pass_then(|| *attempts.lock().unwrap() += 1).await;
        let status = self.inner.post(post).await?;
        let sent = (post.idempotency_key.clone(), post.text.clone());
        self.record.posted.lock().unwrap().push(sent);
        Ok(status)
    }

    async fn status(&self, id: &str) -> Result<Option<Status>, NetError> {
        self.gate.pass().await;
        self.inner.status(id).await
    }

    async fn tag_timeline(&self, tag: &str, page: &Page) -> Result<Vec<Status>, NetError> {
        self.gate.pass().await;
        self.inner.tag_timeline(tag, page).await
    }

    async fn replies(&self, id: &str) -> Result<Vec<Status>, NetError> {
        self.gate.pass().await;
        self.inner.replies(id).await
    }

    async fn account_statuses(
        &self,
        account_id: &str,
        page: &Page,
    ) -> Result<Vec<Status>, NetError> {
        self.gate.pass().await;
        self.inner.account_statuses(account_id, page).await
    }

    async fn hashtag_stream(&self, tag: &str) -> Result<HashtagStream, NetError> {
        self.gate.pass().await;
        self.inner.hashtag_stream(tag).await
    }

    async fn user_stream(&self) -> Result<HashtagStream, NetError> {
        self.gate.pass().await;
        self.inner.user_stream().await
    }

    async fn muted_and_blocked(&self) -> Result<std::collections::HashSet<String>, NetError> {
        self.gate.pass().await;
        self.inner.muted_and_blocked().await
    }

    async fn software(&self) -> Result<Option<Software>, NetError> {
        self.gate.pass().await;
        self.inner.software().await
    }

    async fn mentions(&self, since_id: Option<&str>) -> Result<Vec<(String, Status)>, NetError> {
        self.gate.pass().await;
        self.inner.mentions(since_id).await
    }
}

/// Hands a replica its gated client for the fake server.
pub struct FrozenConnector {
    pub server: url::Url,
    pub token: String,
    pub gate: Gate,
    pub record: Arc<Record>,
}

impl Connector for FrozenConnector {
    fn connect(&self, _chat: &Chat) -> anyhow::Result<Arc<dyn Social>> {
        let inner = MastodonClient::new(
            &self.server,
            Token::new(self.token.clone()),
            Duration::from_secs(5),
            &Trust::system()?,
        )?;
        Ok(Arc::new(FrozenSocial {
            inner,
            gate: self.gate.clone(),
            record: Arc::clone(&self.record),
        }))
    }
}
