//! An instance behind a private certificate authority: the fake server
//! behind a TLS front whose certificate (for 127.0.0.1) a CA made here
//! signed. With the CA in `ca_file:`, REST and streams reach it over
//! https and wss through the account's one trust; without it, both are
//! refused.

use std::sync::Arc;
use std::time::Duration;

use hashchat::chats::Chat;
use hashchat::network::{MastodonClient, NetError, Page, Social, StreamEvent, Token, Trust};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::{new_post, within, TAG};
use crate::fake_server::FakeServer;

/// The fake server reached through TLS, and the PEM of the CA that
/// signed the front's certificate.
struct Private {
    fake: FakeServer,
    /// `https://127.0.0.1:<front port>/`
    url: url::Url,
    ca_pem: String,
    front: tokio::task::JoinHandle<()>,
}

impl Drop for Private {
    fn drop(&mut self) {
        self.front.abort();
    }
}

impl Private {
    async fn start() -> Self {
        let fake = FakeServer::start().await;
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA certificate");
        let leaf_key = KeyPair::generate().expect("leaf key");
        let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
            .expect("leaf params")
            .signed_by(&leaf_key, &ca)
            .expect("leaf certificate");
        let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server TLS config");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let front = tokio::spawn(serve_tls(
            listener,
            TlsAcceptor::from(Arc::new(config)),
            fake.port(),
        ));
        Self {
            fake,
            url: format!("https://127.0.0.1:{port}/").parse().expect("URL"),
            ca_pem: ca.pem(),
            front,
        }
    }

    fn client(&self, trust: &Trust) -> MastodonClient {
        let token = Token::new(self.fake.bot_token());
        MastodonClient::new(&self.url, token, Duration::from_secs(5), trust).expect("client")
    }
}

/// Terminates TLS and passes the bytes on to the plain fake server, for
/// HTTP requests and WebSocket upgrades alike.
async fn serve_tls(listener: TcpListener, acceptor: TlsAcceptor, fake_port: u16) {
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            return;
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            // A refused handshake (the client without the CA) just ends here.
            let Ok(mut tls) = acceptor.accept(socket).await else {
                return;
            };
            let Ok(mut plain) = TcpStream::connect(("127.0.0.1", fake_port)).await else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
        });
    }
}

/// A chat whose `ca_file:` is the private CA, validated like chats.yaml.
fn chat_trusting(private: &Private, dir: &tempfile::TempDir) -> Chat {
    let ca_file = dir.path().join("private-ca.pem");
    std::fs::write(&ca_file, &private.ca_pem).expect("write the CA");
    let entry = format!(
        "id: private\nhashtag: {TAG}\nstart: \"2026-12-03T20:00:00Z\"\nquestions: [One?]\nserver: {}\nca_file: {}",
        private.url,
        ca_file.display()
    );
    Chat::from_yaml(&entry).expect("a valid chat")
}

#[tokio::test]
async fn with_ca_file_a_server_behind_a_private_ca_is_reached_over_https_and_wss() {
    let private = Private::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let chat = chat_trusting(&private, &dir);
    let trust = Trust::with_extra(chat.account().ca_certificates()).expect("trust");
    let client = private.client(&trust);

    client.instance().await.expect("the instance over https");
    let posted = client
        .post(&new_post("Q1: over TLS? #EdChat", "private-1"))
        .await
        .expect("a post over https");
    let page = client.tag_timeline(TAG, &Page::default()).await.unwrap();
    assert_eq!(page.len(), 1);
    let mut stream = client.hashtag_stream(TAG).await.expect("a stream over wss");
    within("the stream", private.fake.wait_for_streams(1)).await;
    let answer = private
        .fake
        .post_as("alice", "A1: yes #EdChat", Some(&posted.id), "public");
    let event = within("the answer", stream.next()).await;
    assert!(
        matches!(&event, Some(StreamEvent::Update(s)) if s.id == answer.id),
        "{event:?}"
    );
}

#[tokio::test]
async fn without_ca_file_a_server_behind_a_private_ca_is_refused_for_rest_and_streams() {
    let private = Private::start().await;
    let client = private.client(&Trust::system().expect("the system's roots"));

    let rest = client.instance().await;
    assert!(
        matches!(&rest, Err(NetError::Transport(why)) if why.contains("certificate")),
        "{rest:?}"
    );
    let stream = client.hashtag_stream(TAG).await;
    assert!(
        matches!(&stream, Err(NetError::Transport(why)) if why.contains("certificate")),
        "{:?}",
        stream.err()
    );
    assert_eq!(private.fake.request_count(), 0, "nothing got through");
}
