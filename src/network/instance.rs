//! Reading what an instance says about itself, when megalodon's strict
//! decoding fails (Mastodon may omit `contact_account`, others more).

use super::NetError;

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

/// The domain of the server's own accounts: the instance's `uri` is a bare
/// domain on Mastodon and a URL on some others; the server's host otherwise.
pub(crate) fn domain(uri: &str, server: &url::Url) -> String {
    let from_uri = match url::Url::parse(uri) {
        Ok(url) => url.host_str().map(str::to_owned),
        Err(_) => Some(uri.trim().trim_end_matches('/').to_owned()).filter(|d| !d.is_empty()),
    };
    from_uri
        .or_else(|| server.host_str().map(str::to_owned))
        .unwrap_or_default()
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
