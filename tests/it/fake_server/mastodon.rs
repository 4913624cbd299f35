//! Mastodon's JSON shapes (every field megalodon's strict entities require)
//! and its rendering of plain text to HTML.

use serde_json::{json, Value};

use super::{Acct, Shared, World, DOMAIN};

impl Shared {
    pub(super) fn instance_json(&self, w: &World) -> Value {
        let contact = self.account_json(&w.accounts[0]);
        let uri = w.instance_uri.as_deref().unwrap_or(DOMAIN);
        let mut streaming = self.base.replace("http", "ws");
        if w.streaming_advertised_elsewhere {
            let path = super::STREAMING_ELSEWHERE.trim_end_matches("/api/v1/streaming");
            streaming.push_str(path);
        }
        if w.streaming_advertised_as_tls {
            streaming = self.base.replacen("http", "wss", 1);
        }
        if let Some(elsewhere) = &w.streaming_api {
            streaming.clone_from(elsewhere);
        }
        json!({
            "uri": uri, "title": "Fake", "description": "", "email": "admin@fake.example", "version": "4.3.0",
            "urls": {"streaming_api": streaming}, "thumbnail": null,
            "stats": {"user_count": w.accounts.len(), "status_count": w.statuses.len(), "domain_count": 1},
            "languages": ["en"], "registrations": false, "approval_required": false, "invites_enabled": false,
            "configuration": {
                "statuses": {"max_characters": w.max_characters, "max_media_attachments": 4, "characters_reserved_per_url": 23},
                "media_attachments": {"supported_mime_types": [], "image_size_limit": 0, "image_matrix_limit": 0,
                    "video_size_limit": 0, "video_frame_rate_limit": 0, "video_matrix_limit": 0},
                "polls": {"max_options": 4, "max_characters_per_option": 50, "min_expiration": 300, "max_expiration": 2629746},
            },
            "contact_account": contact, "rules": [],
        })
    }

    /// `/.well-known/nodeinfo`: links to the 2.0 document.
    pub(super) fn nodeinfo_links(&self) -> Value {
        json!({"links": [{
            "rel": "http://nodeinfo.diaspora.software/ns/schema/2.0",
            "href": format!("{}/nodeinfo/2.0", self.base),
        }]})
    }

    pub(super) fn nodeinfo(&self, w: &World) -> Value {
        let (name, version) = &w.software;
        json!({
            "version": "2.0", "software": {"name": name, "version": version},
            "protocols": ["activitypub"], "services": {"outbound": [], "inbound": []},
            "usage": {"users": {"total": w.accounts.len()}}, "openRegistrations": false, "metadata": {},
        })
    }

    pub(super) fn account_json(&self, a: &Acct) -> Value {
        let url = format!("https://{}/@{}", DOMAIN, a.username);
        json!({
            "id": a.id, "username": a.username, "acct": a.acct, "display_name": a.username.to_uppercase(),
            "locked": false, "bot": a.bot, "created_at": "2024-01-01T00:00:00.000Z", "note": "",
            "url": url, "avatar": "", "avatar_static": "", "header": "", "header_static": "",
            "followers_count": 0, "following_count": 0, "statuses_count": 0, "emojis": [], "fields": [],
        })
    }

    pub(super) fn status_json(&self, w: &World, id: u64) -> Value {
        let s = &w.statuses[&id];
        let a = &w.accounts[s.account];
        let reply_account = s
            .in_reply_to_id
            .and_then(|r| w.statuses.get(&r))
            .map(|r| &w.accounts[r.account].id);
        let tags: Vec<Value> = s
            .tags
            .iter()
            .map(|t| json!({"name": t, "url": format!("https://{DOMAIN}/tags/{t}"), "history": []}))
            .collect();
        json!({
            "id": id.to_string(), "uri": format!("https://{DOMAIN}/users/{}/statuses/{}", a.username, s.uri_id),
            "url": format!("https://{DOMAIN}/@{}/{id}", a.username), "account": self.account_json(a),
            "in_reply_to_id": s.in_reply_to_id.map(|r| r.to_string()), "in_reply_to_account_id": reply_account,
            "reblog": null, "content": s.content, "created_at": s.created_at.to_rfc3339(),
            "edited_at": s.edited_at.map(|t| t.to_rfc3339()), "emojis": [], "replies_count": 0,
            "reblogs_count": 0, "favourites_count": 0, "sensitive": !s.spoiler_text.is_empty(), "spoiler_text": s.spoiler_text,
            "visibility": s.visibility, "media_attachments": [], "mentions": [], "tags": tags,
            "card": null, "poll": null, "application": null, "language": s.language.as_deref().unwrap_or("en"),
        })
    }
}

/// Mastodon-like HTML for plain text (hashtags linked, lines kept) and the
/// lower-cased hashtags; text starting with `<` is already HTML.
pub(super) fn render(text: &str) -> (String, Vec<String>) {
    let plain = if text.starts_with('<') {
        strip_tags(text)
    } else {
        text.to_owned()
    };
    let mut tags: Vec<String> = vec![];
    for (i, _) in plain.match_indices('#') {
        let before = plain[..i].chars().last();
        let name: String = plain[i + 1..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty()
            && !before.is_some_and(|c| c.is_alphanumeric())
            && !tags.contains(&name.to_lowercase())
        {
            tags.push(name.to_lowercase());
        }
    }
    if text.starts_with('<') {
        return (text.to_owned(), tags);
    }
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    let linked = escaped.split(' ').map(|word| match word.strip_prefix('#') {
        Some(rest) => {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let (name, after) = rest.split_at(end);
            let href = format!("https://{DOMAIN}/tags/{}", name.to_lowercase());
            let link = format!(
                r#"<a href="{href}" class="mention hashtag" rel="tag">#<span>{name}</span></a>"#
            );
            if name.is_empty() {
                word.to_owned()
            } else {
                format!("{link}{after}")
            }
        }
        None => word.to_owned(),
    });
    let html = linked.collect::<Vec<_>>().join(" ").replace('\n', "<br />");
    (format!("<p>{html}</p>"), tags)
}

pub(super) fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

#[test]
fn plain_text_renders_like_mastodon_with_linked_hashtags() {
    let (html, tags) = render("A1: yes, #EdChat! & more\n#edchat #Other_1");
    assert_eq!(tags, ["edchat", "other_1"]);
    assert!(
        html.starts_with("<p>A1: yes, <a href=\"https://fake.example/tags/edchat\""),
        "{html}"
    );
    assert!(
        html.contains("#<span>EdChat</span></a>! &amp; more<br />"),
        "{html}"
    );
    let (_, from_html) = render(r#"<p>A2 <a href="x">#<span>EdChat</span></a></p>"#);
    assert_eq!(from_html, ["edchat"]);
}
