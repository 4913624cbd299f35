//! The one TLS trust of every connection: the system's root certificates
//! (read once per process) plus, for an instance behind a private CA, the
//! certificates of the chat's `ca_file:`. One rustls configuration is made
//! per account and handed both to its HTTP client (REST, posting, media)
//! and to tokio-tungstenite for its streams, so REST and streams can never
//! trust different things; the watched instances' clients use the same.
//!
//! Left to itself, tokio-tungstenite reads and parses every root
//! certificate of the system at each connection, and each open stream
//! keeps its own copy of them. A daemon keeps one stream per account open
//! for days and opens one per run, and reconnects each after every drop.

use std::sync::{Arc, OnceLock};

use rustls::pki_types::CertificateDer;
use tokio_tungstenite::Connector;

use super::NetError;

/// What the connections of one account trust. Cheap to clone: the
/// configuration is shared.
#[derive(Clone)]
pub struct Trust {
    config: Arc<rustls::ClientConfig>,
    /// How many certificates came from `ca_file:`, for `Debug`.
    extra: usize,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trust")
            .field("system_roots", &true)
            .field("extra_certificates", &self.extra)
            .finish()
    }
}

impl Trust {
    /// The system's roots only; made once per process.
    pub fn system() -> Result<Trust, NetError> {
        static SYSTEM: OnceLock<Trust> = OnceLock::new();
        if let Some(trust) = SYSTEM.get() {
            return Ok(trust.clone());
        }
        let trust = Trust::build(&[])?;
        Ok(SYSTEM.get_or_init(|| trust).clone())
    }

    /// The system's roots plus `extra` (a `ca_file:`'s certificates, as
    /// the chat's validation read them). Without extra certificates this
    /// is [`Trust::system`].
    pub fn with_extra(extra: &[CertificateDer<'static>]) -> Result<Trust, NetError> {
        if extra.is_empty() {
            return Trust::system();
        }
        Trust::build(extra)
    }

    fn build(extra: &[CertificateDer<'static>]) -> Result<Trust, NetError> {
        let mut roots = system_roots()?.clone();
        let (added, ignored) = roots.add_parsable_certificates(extra.iter().cloned());
        if ignored > 0 {
            tracing::warn!(
                ignored,
                "some certificates of `ca_file:` are not usable as trust anchors"
            );
        }
        if roots.is_empty() {
            // Nothing is cached: certificates installed later are found on
            // the next try.
            return Err(NetError::Transport(
                "no root certificates found on this system to check the server's; \
                 install them (Debian: the ca-certificates package), or name the \
                 server's CA with `ca_file:`"
                    .into(),
            ));
        }
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Trust {
            config: Arc::new(config),
            extra: added,
        })
    }

    /// An HTTP client from `builder` that trusts exactly this.
    pub fn http_client(
        &self,
        builder: reqwest::ClientBuilder,
    ) -> Result<reqwest::Client, NetError> {
        builder
            .use_preconfigured_tls((*self.config).clone())
            .build()
            .map_err(|e| NetError::Transport(format!("building the HTTP client: {e}")))
    }

    /// The WebSocket connector for `url`: this trust for `wss`, none for
    /// plain `ws` (local servers in tests and benches).
    pub fn connector(&self, url: &url::Url) -> Option<Connector> {
        (url.scheme() == "wss").then(|| Connector::Rustls(Arc::clone(&self.config)))
    }
}

/// The connector for `url` with the system's roots only (the Bluesky
/// client's Jetstream, which has no `ca_file:`).
pub(super) fn connector_for(url: &url::Url) -> Result<Option<Connector>, NetError> {
    if url.scheme() != "wss" {
        return Ok(None);
    }
    Ok(Trust::system()?.connector(url))
}

/// The system's root certificates, as tokio-tungstenite's own default
/// (feature `rustls-tls-native-roots`) reads them; read once per process.
fn system_roots() -> Result<&'static rustls::RootCertStore, NetError> {
    static ROOTS: OnceLock<rustls::RootCertStore> = OnceLock::new();
    if let Some(roots) = ROOTS.get() {
        return Ok(roots);
    }
    let found = rustls_native_certs::load_native_certs();
    if !found.errors.is_empty() {
        tracing::warn!(errors = ?found.errors, "some of the system's root certificates could not be read");
    }
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    Ok(ROOTS.get_or_init(|| roots))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_streams_need_no_tls_and_secure_ones_share_one_set_up() {
        let plain = url::Url::parse("ws://127.0.0.1:4000/api/v1/streaming").unwrap();
        assert!(connector_for(&plain).unwrap().is_none());
        let secure = url::Url::parse("wss://mastodon.example/api/v1/streaming").unwrap();
        // The test machines have the system's root certificates.
        let first = Trust::system().unwrap().config;
        let again = Trust::system().unwrap().config;
        assert!(Arc::ptr_eq(&first, &again));
        assert!(
            matches!(connector_for(&secure).unwrap(), Some(Connector::Rustls(c)) if Arc::ptr_eq(&c, &first))
        );
    }

    #[test]
    fn one_trust_gives_its_configuration_to_every_stream() {
        let trust = Trust::build(&[]).unwrap();
        let secure = url::Url::parse("wss://mastodon.example/api/v1/streaming").unwrap();
        let plain = url::Url::parse("ws://127.0.0.1:4000/").unwrap();
        assert!(
            matches!(trust.connector(&secure), Some(Connector::Rustls(c)) if Arc::ptr_eq(&c, &trust.config))
        );
        assert!(trust.connector(&plain).is_none());
    }
}
