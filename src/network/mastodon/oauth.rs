//! Getting a token the way Mastodon intends: register an app, let the
//! moderator authorize it in a browser, exchange the code they paste. Used
//! by `hashchat login`; the daemon never calls it. Client secrets and
//! tokens are wrapped so they cannot be printed by accident.
//!
//! This is where megalodon earns its place: app registration and the code
//! exchange differ per server family (`platform:`), and megalodon knows
//! each flavour. It is used nowhere else. Note that megalodon's requests
//! use its own HTTP client and TLS roots, not the account's `ca_file:`.

use std::fmt;

use megalodon::megalodon::AppInputOptions;

use crate::chats::Platform;
use crate::network::error::{from_reqwest, from_status};
use crate::network::{NetError, Token, Trust};

/// The scopes hashchat asks for: read timelines, post statuses.
pub const SCOPES: &[&str] = &["read", "write"];
/// Out-of-band redirect: the server shows the code for the moderator to
/// paste, so no local web server is needed.
pub const OOB: &str = "urn:ietf:wg:oauth:2.0:oob";
const APP_NAME: &str = "hashchat";
const WEBSITE: &str = "https://github.com/hashchat/hashchat";

/// An app registered on the server, ready for the authorization step.
pub struct App {
    pub client_id: String,
    client_secret: String,
    /// Where the moderator authorizes the app (no secret in it).
    pub authorize_url: String,
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("client_id", &self.client_id)
            .field("authorize_url", &self.authorize_url)
            .finish_non_exhaustive()
    }
}

fn api(
    server: &url::Url,
    platform: Platform,
) -> Result<Box<dyn megalodon::Megalodon + Send + Sync>, NetError> {
    let base = server.as_str().trim_end_matches('/').to_owned();
    megalodon::generator(sns(platform), base, None, None).map_err(from_megalodon)
}

/// Registers hashchat on `server` with [`SCOPES`] and the [`OOB`] redirect.
#[tracing::instrument(skip_all, fields(server = %server))]
pub async fn register(server: &url::Url, platform: Platform) -> Result<App, NetError> {
    let options = AppInputOptions {
        scopes: Some(SCOPES.iter().map(|s| s.to_string()).collect()),
        redirect_uris: Some(OOB.to_string()),
        website: Some(WEBSITE.to_string()),
    };
    let app = api(server, platform)?
        .register_app(APP_NAME.to_string(), &options)
        .await
        .map_err(from_megalodon)?;
    let authorize_url = app
        .url
        .ok_or_else(|| NetError::Decode("the server gave no authorization address".into()))?;
    Ok(App {
        client_id: app.client_id,
        client_secret: app.client_secret,
        authorize_url,
    })
}

/// Exchanges the authorization `code` the moderator pasted for a token.
#[tracing::instrument(skip_all, fields(server = %server))]
pub async fn exchange(
    server: &url::Url,
    platform: Platform,
    app: &App,
    code: &str,
) -> Result<Token, NetError> {
    let data = api(server, platform)?
        .fetch_access_token(
            app.client_id.clone(),
            app.client_secret.clone(),
            code.trim().to_string(),
            OOB.to_string(),
        )
        .await
        .map_err(from_megalodon)?;
    Ok(Token::new(data.access_token))
}

/// The scopes of the app behind `token` (`GET /api/v1/apps/verify_credentials`).
/// `Ok(None)` when the server does not say: older servers leave `scopes`
/// out, and tokens made without an app (an admin's, a mock's) have none.
#[tracing::instrument(skip_all, fields(server = %server))]
pub async fn app_scopes(
    server: &url::Url,
    token: &Token,
    timeout: std::time::Duration,
    trust: &Trust,
) -> Result<Option<Vec<String>>, NetError> {
    let http = trust.http_client(
        reqwest::Client::builder()
            .user_agent(concat!("hashchat/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout),
    )?;
    let mut base = server.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    let answer = match super::rest::get(&http, &base, token, "api/v1/apps/verify_credentials").await
    {
        Ok(answer) => answer,
        // No app behind the token: the scopes are unknown, not wrong.
        Err(NetError::Unauthorized { .. } | NetError::Rejected { status: 404, .. }) => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let app: serde_json::Value = serde_json::from_str(&answer.body)
        .map_err(|e| NetError::Decode(format!("the app: {e}")))?;
    let scopes = match app.get("scopes") {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect(),
        Some(serde_json::Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        _ => return Ok(None),
    };
    Ok(Some(scopes))
}

/// megalodon's flavour for a server family.
fn sns(platform: Platform) -> megalodon::SNS {
    match platform {
        Platform::Mastodon => megalodon::SNS::Mastodon,
        Platform::Pleroma => megalodon::SNS::Pleroma,
        Platform::Friendica => megalodon::SNS::Friendica,
        Platform::Firefish => megalodon::SNS::Firefish,
        Platform::Gotosocial => megalodon::SNS::Gotosocial,
    }
}

/// Maps megalodon's error to ours. megalodon reports an HTTP error answer as
/// `OwnError` with the status and the full header map; a body it cannot
/// decode arrives as a reqwest decode error.
fn from_megalodon(err: megalodon::error::Error) -> NetError {
    use megalodon::error::Error as M;
    match err {
        M::OwnError(own) => match (own.status, own.header) {
            (Some(status), Some(headers)) => from_status(status, &headers, &own.message),
            (Some(status), None) => from_status(status, &Default::default(), &own.message),
            // Not an HTTP answer: megalodon's own complaint (unsupported call, parse).
            (None, _) => NetError::Decode(format!("{}: {}", own.kind, own.message)),
        },
        M::RequestError(e) => from_reqwest(e),
        M::JsonError(e) => NetError::Decode(e.to_string()),
        M::ParseError(e) => NetError::Transport(format!("bad server URL: {e}")),
        M::StandardError(e) => NetError::Transport(e.to_string()),
        M::WebSocketError(e) => NetError::Transport(e.to_string()),
    }
}
