//! Bluesky sessions: the app password, the tokens `createSession` hands out,
//! and where those tokens are kept between runs ([`SessionStore`]).
//!
//! Logins are scarce (30 per 5 minutes and 300 a day per account): a bot
//! that logs in at every start is locked out. So the tokens are stored, and
//! a process logs each account in at most once ([`claim_login`]).
//! Nothing here sends a request: the client (`client.rs`) does.

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::network::Token;

/// An app password: wrapped so that it is never printed or logged.
#[derive(Clone)]
pub struct AppPassword(String);

impl AppPassword {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself, only for the body of `createSession`.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The password is read like an access token (`token_env` / `token_file`).
impl From<Token> for AppPassword {
    fn from(token: Token) -> Self {
        Self(token.expose().to_string())
    }
}

impl fmt::Debug for AppPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AppPassword(<redacted>)")
    }
}

/// What `createSession` and `refreshSession` answer; the tokens are
/// private and never printed.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub did: String,
    pub handle: String,
    access_jwt: String,
    refresh_jwt: String,
}

impl Session {
    pub fn new(
        did: impl Into<String>,
        handle: impl Into<String>,
        access_jwt: impl Into<String>,
        refresh_jwt: impl Into<String>,
    ) -> Self {
        Self {
            did: did.into(),
            handle: handle.into(),
            access_jwt: access_jwt.into(),
            refresh_jwt: refresh_jwt.into(),
        }
    }

    pub(super) fn access(&self) -> &str {
        &self.access_jwt
    }

    pub(super) fn refresh(&self) -> &str {
        &self.refresh_jwt
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("did", &self.did)
            .field("handle", &self.handle)
            .field("tokens", &"<redacted>")
            .finish()
    }
}

/// Where the tokens live between runs: the database in the daemon, memory
/// or a file elsewhere. `save` is called after every login and refresh.
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn load(&self) -> io::Result<Option<Session>>;
    async fn save(&self, session: &Session) -> io::Result<()>;
}

/// Tokens kept for the life of the process only.
#[derive(Default)]
pub struct MemorySessionStore(Mutex<Option<Session>>);

impl MemorySessionStore {
    pub fn new(session: Option<Session>) -> Self {
        Self(Mutex::new(session))
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Session>> {
        // A panic elsewhere while holding the lock leaves a whole Option.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl SessionStore for MemorySessionStore {
    async fn load(&self) -> io::Result<Option<Session>> {
        Ok(self.slot().clone())
    }

    async fn save(&self, session: &Session) -> io::Result<()> {
        *self.slot() = Some(session.clone());
        Ok(())
    }
}

/// Tokens in a JSON file readable by its owner only.
pub struct FileSessionStore {
    path: PathBuf,
}

impl FileSessionStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

#[async_trait]
impl SessionStore for FileSessionStore {
    async fn load(&self) -> io::Result<Option<Session>> {
        match tokio::fs::read(&self.path).await {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                io::Error::other(format!("{} is not a session: {e}", self.path.display()))
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn save(&self, session: &Session) -> io::Result<()> {
        let json = serde_json::to_vec(session).map_err(io::Error::other)?;
        // Written beside and renamed: a crash never leaves half a file.
        let partial = self.path.with_extension("partial");
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut file = options.open(&partial).await?;
        tokio::io::AsyncWriteExt::write_all(&mut file, &json).await?;
        file.sync_all().await?;
        tokio::fs::rename(&partial, &self.path).await
    }
}

/// Records that this process logs `identifier` in on `pds`; `false` when it
/// already has once, so the caller must not log in again.
pub(super) fn claim_login(pds: &str, identifier: &str) -> bool {
    logins(|set| set.insert((pds.to_string(), identifier.to_lowercase())))
}

/// Gives the claim back: the login never reached the server (down, or
/// the connection failed), so it cannot have counted against the limits.
pub(super) fn release_login(pds: &str, identifier: &str) {
    logins(|set| set.remove(&(pds.to_string(), identifier.to_lowercase())));
}

fn logins<T>(f: impl FnOnce(&mut HashSet<(String, String)>) -> T) -> T {
    static LOGGED_IN: Mutex<Option<HashSet<(String, String)>>> = Mutex::new(None);
    let mut logged_in = LOGGED_IN.lock().unwrap_or_else(|p| p.into_inner());
    f(logged_in.get_or_insert_with(HashSet::new))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neither_the_password_nor_the_tokens_are_ever_printed() {
        let password = AppPassword::new("abcd-efgh-ijkl-mnop");
        let session = Session::new("did:plc:bot", "bot.test", "ACCESS", "REFRESH");
        let printed = format!("{password:?} {session:?}");
        for secret in ["abcd-efgh", "ACCESS", "REFRESH"] {
            assert!(!printed.contains(secret), "{printed}");
        }
        assert!(printed.contains("did:plc:bot"));
    }

    #[tokio::test]
    async fn a_file_store_gives_back_what_it_saved_and_nothing_before() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileSessionStore::new(dir.path().join("session.json"));
        assert_eq!(store.load().await.unwrap(), None);
        let session = Session::new("did:plc:bot", "bot.test", "A", "R");
        store.save(&session).await.unwrap();
        assert_eq!(store.load().await.unwrap(), Some(session));
    }

    #[test]
    fn an_account_is_claimed_once_per_server() {
        assert!(claim_login("http://pds.claim.test", "Bot.test"));
        assert!(!claim_login("http://pds.claim.test", "bot.test"));
        assert!(claim_login("http://other.claim.test", "bot.test"));
        release_login("http://other.claim.test", "bot.test");
        assert!(claim_login("http://other.claim.test", "bot.test"));
    }
}
