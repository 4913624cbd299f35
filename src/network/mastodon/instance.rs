//! Reading what an instance says about itself (`GET /api/v1/instance`),
//! leniently: Mastodon may omit `contact_account`, others more, and v1 and
//! v2 put the post limit and the streaming URL in different places.

use crate::network::NetError;

/// Mastodon's post length when the instance does not say.
pub const DEFAULT_MAX_CHARACTERS: usize = 500;

/// The instance's `uri` (or v2 `domain`) and its post length limit, from the
/// raw `GET /api/v1/instance` body.
pub(crate) fn lenient(body: &str) -> Result<(String, Option<usize>), NetError> {
    let v: serde_json::Value =
        serde_json::from_str(body).map_err(|e| NetError::Decode(format!("the instance: {e}")))?;
    let text = |key: &str| v.get(key).and_then(|x| x.as_str()).map(str::to_owned);
    let uri = text("domain").or_else(|| text("uri")).unwrap_or_default();
    let max = v
        .pointer("/configuration/statuses/max_characters")
        .or_else(|| v.get("max_toot_chars"))
        .and_then(|x| x.as_u64())
        .map(|n| n as usize);
    Ok((uri, max))
}

/// The streaming base the raw instance body names: v1 `urls.streaming_api`
/// or v2 `configuration.urls.streaming`.
pub(crate) fn streaming_api(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v.pointer("/urls/streaming_api")
        .or_else(|| v.pointer("/configuration/urls/streaming"))
        .and_then(|x| x.as_str())
        .map(str::to_owned)
}

/// The advertised streaming base if it is usable: an absolute ws(s) or
/// http(s) URL, and never a plain one for an encrypted server (the stream
/// URL carries the access token). `None` means: stream below the server.
pub(crate) fn streaming_base(advertised: Option<&str>, server: &url::Url) -> Option<url::Url> {
    let advertised = advertised.map(str::trim).filter(|a| !a.is_empty())?;
    let unusable = |why: &str| {
        tracing::warn!(advertised, server = %server, "ignoring the instance's streaming URL: {why}");
        None
    };
    let Ok(url) = url::Url::parse(advertised) else {
        return unusable("not a URL");
    };
    let plain = match url.scheme() {
        "ws" | "http" => true,
        "wss" | "https" => false,
        _ => return unusable("not a ws(s) or http(s) URL"),
    };
    if plain && matches!(server.scheme(), "https" | "wss") {
        return unusable("plain text for an encrypted server would expose the token");
    }
    if url.host_str().is_none() {
        return unusable("no host");
    }
    // One port speaks TLS or it does not: snac2 serving plain HTTP (its
    // `"protocol": "http"`) still advertises `wss://` at its own host and
    // port, where the handshake can only fail, and never as "no stream",
    // so nothing would ever be polled.
    let same_place = url.host_str() == server.host_str()
        && url.port_or_known_default() == server.port_or_known_default();
    if same_place && plain != matches!(server.scheme(), "http" | "ws") {
        return unusable("it names the server's own port with the other security");
    }
    Some(url)
}

/// The domain of the server's own accounts, lowercase: the instance's `uri`
/// is a bare domain on Mastodon (`host:port` on a server off the default
/// port, like snac's `localhost:8001`) and a URL on some others; the
/// server's host (and port) otherwise.
pub(crate) fn domain(uri: &str, server: &url::Url) -> String {
    let uri = uri.trim();
    // Only a `scheme://` makes it a URL: `localhost:8001` parses as one
    // with the scheme `localhost` and no host.
    let from_uri = if uri.contains("://") {
        url::Url::parse(uri).ok().and_then(|url| authority(&url))
    } else {
        let bare = uri.split('/').next().unwrap_or_default();
        Some(bare.to_owned()).filter(|d| !d.is_empty())
    };
    from_uri
        .or_else(|| authority(server))
        .unwrap_or_default()
        .to_lowercase()
}

/// `host` or `host:port` (a port only when not the scheme's default).
fn authority(url: &url::Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_domain_comes_from_uri_in_either_form_else_from_the_server() {
        let server: url::Url = "https://social.example/".parse().unwrap();
        assert_eq!(domain("mastodon.example", &server), "mastodon.example");
        assert_eq!(
            domain("https://pleroma.example", &server),
            "pleroma.example"
        );
        assert_eq!(domain("", &server), "social.example");
    }

    #[test]
    fn the_domain_is_what_servers_really_put_in_uri() {
        let server: url::Url = "http://127.0.0.1:8001/".parse().unwrap();
        let cases = [
            ("localhost:8001", "localhost:8001", "snac: host:port"),
            ("localhost", "localhost", "a single-label host"),
            ("127.0.0.1:8001", "127.0.0.1:8001", "an address and port"),
            ("Social.Example", "social.example", "mixed case"),
            ("social.example/", "social.example", "a trailing slash"),
            (
                "http://localhost:8001/",
                "localhost:8001",
                "a URL off the default port",
            ),
            (
                "https://akkoma.example:443",
                "akkoma.example",
                "a URL on the default port",
            ),
            ("xn--bcher-kva.example", "xn--bcher-kva.example", "punycode"),
            ("bücher.example", "bücher.example", "an IDN as written"),
            ("", "127.0.0.1:8001", "none: the server's host and port"),
        ];
        for (uri, want, case) in cases {
            assert_eq!(domain(uri, &server), want, "{case}");
        }
    }

    #[test]
    fn the_streaming_url_is_taken_from_the_instance_when_it_is_safe() {
        let tls: url::Url = "https://social.example/".parse().unwrap();
        let plain: url::Url = "http://127.0.0.1:8001/".parse().unwrap();
        let base = |advertised: Option<&str>, server: &url::Url| {
            streaming_base(advertised, server).map(|u| u.to_string())
        };
        let cases = [
            (
                Some("wss://streaming.social.example"),
                &tls,
                Some("wss://streaming.social.example/"),
                "Mastodon's own streaming host",
            ),
            (
                Some("https://social.example/stream"),
                &tls,
                Some("https://social.example/stream"),
                "https, with a path",
            ),
            (
                Some("ws://127.0.0.1:4000"),
                &plain,
                Some("ws://127.0.0.1:4000/"),
                "plain for a plain server",
            ),
            (
                Some("ws://streaming.social.example"),
                &tls,
                None,
                "never plain for an encrypted server",
            ),
            (
                Some("wss://127.0.0.1:8001"),
                &plain,
                None,
                "snac2 on plain HTTP advertises TLS on the same port",
            ),
            (
                Some("ws://social.example:443"),
                &tls,
                None,
                "plain on the encrypted server's own port",
            ),
            (
                Some("wss://streaming.example:8443"),
                &plain,
                Some("wss://streaming.example:8443/"),
                "TLS elsewhere for a plain server",
            ),
            (Some("streaming.social.example"), &tls, None, "not a URL"),
            (Some("ftp://social.example"), &tls, None, "another scheme"),
            (Some(" "), &tls, None, "empty"),
            (None, &tls, None, "absent"),
        ];
        for (advertised, server, want, case) in cases {
            assert_eq!(base(advertised, server).as_deref(), want, "{case}");
        }
        let v1 = r#"{"uri":"a.example","urls":{"streaming_api":"wss://s.a.example"}}"#;
        let v2 =
            r#"{"domain":"a.example","configuration":{"urls":{"streaming":"wss://s2.a.example"}}}"#;
        let off = r#"{"uri":"a.example","urls":{"streaming_api":null}}"#;
        assert_eq!(streaming_api(v1).as_deref(), Some("wss://s.a.example"));
        assert_eq!(streaming_api(v2).as_deref(), Some("wss://s2.a.example"));
        assert_eq!(streaming_api(off), None);
    }

    #[test]
    fn the_lenient_read_finds_the_limit_where_servers_put_it() {
        let v2 = r#"{"domain":"a.example","configuration":{"statuses":{"max_characters":1000}}}"#;
        assert_eq!(lenient(v2).unwrap(), ("a.example".into(), Some(1000)));
        let pleroma = r#"{"uri":"https://b.example","max_toot_chars":5000}"#;
        assert_eq!(
            lenient(pleroma).unwrap(),
            ("https://b.example".into(), Some(5000))
        );
        assert_eq!(
            lenient(r#"{"uri":"c.example"}"#).unwrap(),
            ("c.example".into(), None)
        );
    }
}
