//! The TLS set-up of the streaming connections and of the watched
//! instances' HTTPS clients, made once per process.
//!
//! Left to itself, tokio-tungstenite reads and parses every root
//! certificate of the system at each connection, and each open stream
//! keeps its own copy of them. A daemon keeps one stream per account open
//! for days and opens one per run, and reconnects each after every drop.

use std::sync::{Arc, OnceLock};

use tokio_tungstenite::Connector;

use super::NetError;

/// The connector for `url`: the shared TLS set-up for `wss`, none for
/// plain `ws` (local servers in tests and benches).
pub(super) fn connector_for(url: &url::Url) -> Result<Option<Connector>, NetError> {
    if url.scheme() != "wss" {
        return Ok(None);
    }
    Ok(Some(Connector::Rustls(config()?)))
}

/// The shared TLS set-up for an HTTPS client (the watched instances').
pub(super) fn https_config() -> Result<rustls::ClientConfig, NetError> {
    config().map(|c| (*c).clone())
}

/// The system's root certificates, as tokio-tungstenite's own default
/// (feature `rustls-tls-native-roots`) reads them; cached once read.
fn config() -> Result<Arc<rustls::ClientConfig>, NetError> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    if let Some(config) = CONFIG.get() {
        return Ok(Arc::clone(config));
    }
    let found = rustls_native_certs::load_native_certs();
    if !found.errors.is_empty() {
        tracing::warn!(errors = ?found.errors, "some of the system's root certificates could not be read");
    }
    let mut roots = rustls::RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        // Not cached: certificates installed later are found on the next try.
        return Err(NetError::Transport(
            "no root certificates found on this system to check the streaming server's; \
             install them (Debian: the ca-certificates package)"
                .into(),
        ));
    }
    let config = Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    Ok(Arc::clone(CONFIG.get_or_init(|| config)))
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
        let first = config().unwrap();
        let again = config().unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        assert!(
            matches!(connector_for(&secure).unwrap(), Some(Connector::Rustls(c)) if Arc::ptr_eq(&c, &first))
        );
    }
}
