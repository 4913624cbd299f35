//! Streaming over WebSocket with tokio-tungstenite. We do not use megalodon's
//! streaming: 1.3.0 answers pings with an empty pong (servers that check the
//! echo drop it every ~40 s), keeps retrying on 403 and logs its streaming URL,
//! token included, at info level.
//!
//! A [`HashtagStream`] never reconnects by itself: when the connection drops
//! it ends, and the caller reconnects and reconciles from the tag timeline.
//! The URL carries the access token: log it only through [`redact`].
//! TLS is the account's [`Trust`], the same its REST client has. Other
//! networks feed their own events through [`HashtagStream::local`].

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::decode::Notification;
use crate::network::{NetError, Status, StreamEvent, Trust};

/// Mastodon pings every few seconds; a minute without any frame means the
/// connection is dead even if TCP has not noticed.
pub const DEFAULT_IDLE_LIMIT: Duration = Duration::from_secs(60);

/// A live hashtag stream. `next()` yields events until the connection drops
/// (close, error, or no frame for the idle limit), then `None`.
pub struct HashtagStream {
    source: Source,
    idle_limit: Duration,
    /// Why the stream ended, once it has.
    ended: Option<StreamEnd>,
    /// The URL with the token redacted, for logs.
    log_url: String,
}

/// Where a stream's events come from.
enum Source {
    /// Boxed: the socket is large, and the other variant is a pointer.
    Socket(Box<WebSocketStream<MaybeTlsStream<TcpStream>>>),
    /// Events made in this process (the dry run's stand-in server): the
    /// stream ends when their sender is dropped.
    Local(tokio::sync::mpsc::Receiver<StreamEvent>),
}

/// Why a stream ended; the caller logs it when it reconnects.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEnd {
    /// The server sent a close frame (code and reason when given).
    Closed(Option<(u16, String)>),
    /// The connection failed or ended without a close frame.
    Error(String),
    /// No frame at all, not even a ping, for this long.
    Idle(Duration),
}

impl std::fmt::Debug for HashtagStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashtagStream")
            .field("url", &self.log_url)
            .field("idle_limit", &self.idle_limit)
            .field("ended", &self.ended)
            .finish()
    }
}

impl HashtagStream {
    /// Opens the stream at `url` (see [`stream_url`]), trusting what the
    /// account's `trust` does. A refused token at the handshake (401/403)
    /// is `Unauthorized`; the handshake itself is not time-limited here,
    /// the client wraps it in its timeout.
    pub async fn connect(
        url: &url::Url,
        idle_limit: Duration,
        trust: &Trust,
    ) -> Result<Self, NetError> {
        let mut url = url.clone();
        let mut redirects = 0;
        let socket = loop {
            let connector = trust.connector(&url);
            let error = match tokio_tungstenite::connect_async_tls_with_config(
                url.as_str(),
                None,
                false,
                connector,
            )
            .await
            {
                Ok((socket, _)) => break socket,
                Err(error) => error,
            };
            let moved = match &error {
                tungstenite::Error::Http(response) if redirects < MOST_REDIRECTS => {
                    redirect_target(&url, response.status().as_u16(), response.headers())
                }
                _ => None,
            };
            let Some(moved) = moved else {
                return Err(handshake_error(error));
            };
            tracing::info!(from = %redact(&url), to = %redact(&moved), "the streaming server is on another host; following its redirect");
            url = moved;
            redirects += 1;
        };
        let log_url = redact(&url);
        tracing::info!(url = %log_url, "hashtag stream connected");
        Ok(Self {
            source: Source::Socket(Box::new(socket)),
            idle_limit,
            ended: None,
            log_url,
        })
    }

    /// A stream of events sent in this process, not read from a server:
    /// the dry run's stand-in server plays its simulated posts through it.
    /// No idle limit applies; it ends when `events`' sender is dropped.
    pub fn local(events: tokio::sync::mpsc::Receiver<StreamEvent>) -> Self {
        Self {
            source: Source::Local(events),
            idle_limit: DEFAULT_IDLE_LIMIT,
            ended: None,
            log_url: "(in process)".into(),
        }
    }

    /// The next event, or `None` once the connection has dropped. A frame
    /// that cannot be decoded is `Undecodable`; it never ends the stream.
    pub async fn next(&mut self) -> Option<StreamEvent> {
        let socket = match &mut self.source {
            Source::Socket(socket) => socket,
            Source::Local(events) => {
                // `recv` is cancel-safe, as `next` must be.
                let event = events.recv().await;
                if event.is_none() && self.ended.is_none() {
                    self.ended = Some(StreamEnd::Closed(None));
                }
                return event;
            }
        };
        while self.ended.is_none() {
            let frame = match tokio::time::timeout(self.idle_limit, socket.next()).await {
                Err(_) => Err(StreamEnd::Idle(self.idle_limit)),
                Ok(None) => Err(StreamEnd::Error(
                    "the connection ended without a close frame".into(),
                )),
                Ok(Some(Err(e))) => Err(StreamEnd::Error(e.to_string())),
                Ok(Some(Ok(frame))) => Ok(frame),
            };
            match frame {
                Ok(Message::Text(text)) => {
                    if let Some(event) = parse_frame(text.as_str()) {
                        return Some(event);
                    }
                }
                Ok(Message::Ping(_)) => {
                    // tungstenite has queued the pong echoing the payload;
                    // flush it now rather than at the next read, which may
                    // come late if the caller is busy.
                    if let Err(e) = socket.flush().await {
                        end_stream(
                            &mut self.ended,
                            &self.log_url,
                            StreamEnd::Error(format!("answering a ping: {e}")),
                        );
                    }
                }
                Ok(Message::Close(frame)) => {
                    let detail = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                    end_stream(&mut self.ended, &self.log_url, StreamEnd::Closed(detail));
                }
                Ok(other) => {
                    tracing::debug!(kind = ?frame_kind(&other), "ignored a non-text frame")
                }
                Err(end) => end_stream(&mut self.ended, &self.log_url, end),
            }
        }
        None
    }

    /// Why the stream ended; `None` while it is live.
    pub fn ended(&self) -> Option<&StreamEnd> {
        self.ended.as_ref()
    }
}

fn end_stream(ended: &mut Option<StreamEnd>, log_url: &str, why: StreamEnd) {
    tracing::warn!(url = %log_url, reason = ?why, "hashtag stream dropped");
    *ended = Some(why);
}

fn frame_kind(message: &Message) -> &'static str {
    match message {
        Message::Binary(_) => "binary",
        Message::Pong(_) => "pong",
        _ => "other",
    }
}

/// Redirects followed at the handshake. Mastodon's web host answers the
/// streaming path with a 301 to its streaming host when that has a host of
/// its own (mastodon.social: streaming.mastodon.social).
const MOST_REDIRECTS: u32 = 3;

/// Where a redirect at the handshake points, as a WebSocket URL; `None`
/// when the answer is not a redirect, or one not to follow: to another
/// scheme, or from an encrypted stream to a plain one (the URL carries the
/// access token).
fn redirect_target(
    from: &url::Url,
    status: u16,
    headers: &tungstenite::http::HeaderMap,
) -> Option<url::Url> {
    if !matches!(status, 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = headers
        .get(tungstenite::http::header::LOCATION)?
        .to_str()
        .ok()?;
    let mut to = from.join(location).ok()?;
    let scheme = match to.scheme() {
        "https" | "wss" => "wss",
        "http" | "ws" if from.scheme() == "ws" => "ws",
        _ => return None,
    };
    to.set_scheme(scheme).ok()?;
    if to.query().is_none() {
        to.set_query(from.query());
    }
    Some(to)
}

fn handshake_error(e: tungstenite::Error) -> NetError {
    match e {
        tungstenite::Error::Http(response) => {
            let status = response.status().as_u16();
            let body = response
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            crate::network::error::from_status(status, response.headers(), &body)
        }
        // tungstenite's URL errors may quote the URL: keep them out.
        tungstenite::Error::Url(_) => NetError::Transport("invalid stream URL".into()),
        other => NetError::Transport(other.to_string()),
    }
}

/// Decodes one streaming frame: `{"stream":[…],"event":"update","payload":"<json>"}`.
/// `None` for events a hashtag stream does not care about.
pub(crate) fn parse_frame(text: &str) -> Option<StreamEvent> {
    let undecodable = |event: &str, reason: String| {
        tracing::warn!(event, %reason, "undecodable stream frame");
        Some(StreamEvent::Undecodable {
            event: event.to_owned(),
            reason,
        })
    };
    let frame: serde_json::Value = match serde_json::from_str(text) {
        Ok(frame) => frame,
        Err(e) => return undecodable("", format!("frame is not JSON: {e}")),
    };
    let Some(event) = frame.get("event").and_then(|e| e.as_str()) else {
        return undecodable("", "frame has no event name".into());
    };
    // The payload is a JSON document inside a string; tolerate servers that
    // send the object itself.
    let payload = match frame.get("payload") {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    match event {
        "update" | "status.update" | "status_update" => match Status::from_json(&payload) {
            Ok(status) if event == "update" => Some(StreamEvent::Update(status)),
            Ok(status) => Some(StreamEvent::Edit(status)),
            Err(e) => undecodable(event, format!("status payload: {e}")),
        },
        "notification" => match serde_json::from_str::<Notification>(&payload) {
            Ok(n) if n.kind == "mention" => match n.status {
                Some(status) => Some(StreamEvent::Mention(status)),
                None => undecodable(event, "mention without a status".into()),
            },
            Ok(_) => None,
            Err(e) => undecodable(event, format!("notification payload: {e}")),
        },
        "delete" if !payload.trim().is_empty() => {
            Some(StreamEvent::Delete(payload.trim().to_owned()))
        }
        "delete" => undecodable(event, "delete without a status id".into()),
        other => {
            tracing::debug!(event = other, "ignored stream event");
            None
        }
    }
}

/// The WebSocket URL for a hashtag stream; the token is in it, so never log it
/// (log [`redact`] of it).
pub fn stream_url(server: &url::Url, tag: &str, token: &str) -> Result<url::Url, NetError> {
    streaming_url(
        server,
        &[("stream", "hashtag"), ("tag", tag.trim_start_matches('#'))],
        token,
    )
}

/// The WebSocket URL of the bot's user stream (its notifications: mentions
/// and direct messages). Carries the token: never log it unredacted.
pub fn user_stream_url(server: &url::Url, token: &str) -> Result<url::Url, NetError> {
    streaming_url(server, &[("stream", "user")], token)
}

fn streaming_url(
    server: &url::Url,
    params: &[(&str, &str)],
    token: &str,
) -> Result<url::Url, NetError> {
    let bad = |why: &str| NetError::Transport(format!("cannot stream from {server}: {why}"));
    let scheme = match server.scheme() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        _ => return Err(bad("the server URL must start with http:// or https://")),
    };
    let mut base = server.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    let mut url = base
        .join("api/v1/streaming")
        .map_err(|e| bad(&e.to_string()))?;
    url.set_scheme(scheme)
        .map_err(|()| bad("cannot use a WebSocket scheme"))?;
    url.set_query(None);
    url.set_fragment(None);
    url.query_pairs_mut()
        .extend_pairs(params)
        .append_pair("access_token", token);
    Ok(url)
}

/// `url` with the value of `access_token` (and any other secret-looking
/// parameter) replaced, fit for logs.
pub fn redact(url: &url::Url) -> String {
    const SECRET: &[&str] = &["access_token", "token", "code", "client_secret"];
    let mut shown = url.clone();
    shown.set_password(None).ok();
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if SECRET.contains(&k.as_ref()) {
                    "REDACTED".into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        shown.query_pairs_mut().clear().extend_pairs(pairs);
    }
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(s: &str) -> url::Url {
        s.parse().unwrap()
    }

    #[test]
    fn the_stream_url_follows_the_servers_scheme_and_drops_the_hash() {
        let cases = [
            ("https://mastodon.example", "wss://mastodon.example/api/v1/streaming?stream=hashtag&tag=1QEdChat&access_token=s3cret"),
            ("http://127.0.0.1:8080/", "ws://127.0.0.1:8080/api/v1/streaming?stream=hashtag&tag=1QEdChat&access_token=s3cret"),
            ("https://example.org/social", "wss://example.org/social/api/v1/streaming?stream=hashtag&tag=1QEdChat&access_token=s3cret"),
        ];
        for (base, want) in cases {
            assert_eq!(
                stream_url(&server(base), "#1QEdChat", "s3cret")
                    .unwrap()
                    .as_str(),
                want,
                "{base}"
            );
        }
        assert!(stream_url(&server("ftp://x.example"), "t", "s").is_err());
    }

    #[test]
    fn a_redirect_at_the_handshake_is_followed_only_to_a_stream_as_safe() {
        use tungstenite::http::{header::LOCATION, HeaderMap, HeaderValue};
        let from: url::Url =
            "wss://mastodon.example/api/v1/streaming?stream=hashtag&access_token=t"
                .parse()
                .unwrap();
        let at = |location: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(LOCATION, HeaderValue::from_str(location).unwrap());
            headers
        };
        let target =
            |status, location| redirect_target(&from, status, &at(location)).map(|u| u.to_string());
        // Mastodon's web host: https, same path and query, another host.
        assert_eq!(
            target(
                301,
                "https://streaming.example/api/v1/streaming?stream=hashtag&access_token=t"
            ),
            Some("wss://streaming.example/api/v1/streaming?stream=hashtag&access_token=t".into())
        );
        // Relative, and without a query: the query is kept.
        assert_eq!(
            target(302, "/streaming/"),
            Some("wss://mastodon.example/streaming/?stream=hashtag&access_token=t".into())
        );
        // Never from an encrypted stream to a plain one: the token would travel in clear.
        assert_eq!(
            target(301, "http://streaming.example/api/v1/streaming"),
            None
        );
        assert_eq!(target(301, "ftp://streaming.example/"), None);
        // Not a redirect, or one without a place to go.
        assert_eq!(target(404, "https://streaming.example/"), None);
        assert_eq!(redirect_target(&from, 301, &HeaderMap::new()), None);
    }

    #[test]
    fn redact_hides_the_token_and_keeps_the_rest() {
        let url = stream_url(&server("https://mastodon.example"), "edchat", "s3cret&x=1").unwrap();
        let shown = redact(&url);
        assert!(!shown.contains("s3cret"), "{shown}");
        assert_eq!(
            shown,
            "wss://mastodon.example/api/v1/streaming?stream=hashtag&tag=edchat&access_token=REDACTED"
        );
        let with_password = server("https://bot:pw@mastodon.example/x?a=1");
        assert_eq!(redact(&with_password), "https://bot@mastodon.example/x?a=1");
    }

    fn status_json(id: &str) -> String {
        serde_json::json!({
            "id": id, "created_at": "2026-12-03T20:00:00Z", "content": "<p>A1: hi</p>",
            "account": {"id": "1", "acct": "alice"}
        })
        .to_string()
    }

    fn frame(event: &str, payload: &str) -> String {
        serde_json::json!({"stream": ["hashtag", "edchat"], "event": event, "payload": payload})
            .to_string()
    }

    #[test]
    fn frames_become_events_whichever_edit_name_the_server_uses() {
        let update = parse_frame(&frame("update", &status_json("7")));
        assert!(matches!(update, Some(StreamEvent::Update(s)) if s.id == "7"));
        for name in ["status.update", "status_update"] {
            let edit = parse_frame(&frame(name, &status_json("8")));
            assert!(
                matches!(edit, Some(StreamEvent::Edit(s)) if s.id == "8"),
                "{name}"
            );
        }
        assert_eq!(
            parse_frame(&frame("delete", "9")),
            Some(StreamEvent::Delete("9".into()))
        );
        assert_eq!(parse_frame(&frame("filters_changed", "")), None);
    }

    #[test]
    fn broken_frames_are_undecodable_not_fatal() {
        let cases = [
            ("not json", "{", ""),
            ("no event", r#"{"payload":"x"}"#, ""),
            (
                "payload not a status",
                &frame("update", "{\"id\":1}"),
                "update",
            ),
            (
                "payload not JSON",
                &frame("status.update", "<html>"),
                "status.update",
            ),
            ("delete without id", &frame("delete", ""), "delete"),
        ];
        for (case, text, want_event) in cases {
            match parse_frame(text) {
                Some(StreamEvent::Undecodable { event, .. }) => {
                    assert_eq!(event, want_event, "{case}")
                }
                other => panic!("{case}: {other:?}"),
            }
        }
    }
}
