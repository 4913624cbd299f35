//! The plain-HTTP side of the client: posting with `Idempotency-Key` (which
//! megalodon cannot send) and the lenient reads used when megalodon cannot
//! decode a server's answer. Statuses are decoded one by one here, so one
//! odd status is logged and skipped instead of failing its whole page.

use reqwest::header::HeaderMap;

use crate::network::error::{from_reqwest, from_status};
use crate::network::{NetError, NewPost, Status, Token};

/// The headers of a successful answer and its body.
pub(crate) struct Answer {
    pub headers: HeaderMap,
    pub body: String,
}

/// `POST /api/v1/statuses` as a form, with the idempotency key.
pub(crate) async fn post_status(
    http: &reqwest::Client,
    server: &url::Url,
    token: &Token,
    post: &NewPost,
) -> Result<(Status, HeaderMap), NetError> {
    let url = endpoint(server, "api/v1/statuses")?;
    let mut form = vec![
        ("status", post.text.as_str()),
        ("visibility", post.visibility.as_str()),
    ];
    if let Some(id) = &post.in_reply_to_id {
        form.push(("in_reply_to_id", id));
    }
    if let Some(language) = &post.language {
        form.push(("language", language));
    }
    if let Some(spoiler) = &post.spoiler_text {
        form.push(("spoiler_text", spoiler));
    }
    for media in &post.media_ids {
        form.push(("media_ids[]", media));
    }
    let request = http
        .post(url)
        .bearer_auth(token.expose())
        .header("Idempotency-Key", &post.idempotency_key)
        .form(&form);
    let answer = send(request).await?;
    let status = Status::from_json(&answer.body)
        .map_err(|e| NetError::Decode(format!("the posted status: {e}")))?;
    Ok((status, answer.headers))
}

/// `POST /api/v2/media`: an image and its description, as multipart.
pub(crate) async fn upload_media(
    http: &reqwest::Client,
    server: &url::Url,
    token: &Token,
    path: &std::path::Path,
    description: &str,
) -> Result<String, NetError> {
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| NetError::Rejected {
            status: 0,
            message: format!("cannot read the image {}: {e}", path.display()),
        })?;
    let name = path
        .file_name()
        .map_or("image".to_string(), |n| n.to_string_lossy().into_owned());
    let mime = match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_lowercase)
        .as_deref()
    {
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        _ => "image/jpeg",
    };
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name)
        .mime_str(mime)
        .map_err(|e| NetError::Transport(e.to_string()))?;
    let form = reqwest::multipart::Form::new()
        .part("file", part)
        .text("description", description.to_string());
    let url = endpoint(server, "api/v2/media")?;
    let answer = send(http.post(url).bearer_auth(token.expose()).multipart(form)).await?;
    let media: serde_json::Value = serde_json::from_str(&answer.body)
        .map_err(|e| NetError::Decode(format!("the uploaded media: {e}")))?;
    media
        .get("id")
        .and_then(|id| {
            id.as_str()
                .map(String::from)
                .or_else(|| Some(id.to_string()))
        })
        .ok_or_else(|| NetError::Decode("the uploaded media has no id".into()))
}

/// `GET` of a path below the server, answered with any 2xx.
pub(crate) async fn get(
    http: &reqwest::Client,
    server: &url::Url,
    token: &Token,
    path_and_query: &str,
) -> Result<Answer, NetError> {
    let url = endpoint(server, path_and_query)?;
    send(http.get(url).bearer_auth(token.expose())).await
}

async fn send(request: reqwest::RequestBuilder) -> Result<Answer, NetError> {
    let response = request.send().await.map_err(from_reqwest)?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.text().await.map_err(from_reqwest)?;
    if status.is_success() {
        Ok(Answer { headers, body })
    } else {
        Err(from_status(status.as_u16(), &headers, &body))
    }
}

/// `path` (no leading slash) below the server's base URL.
pub(crate) fn endpoint(server: &url::Url, path: &str) -> Result<url::Url, NetError> {
    server
        .join(path.trim_start_matches('/'))
        .map_err(|e| NetError::Transport(format!("bad request path {path}: {e}")))
}

/// A JSON array of statuses; the ones that cannot be decoded are logged with
/// their id and skipped.
pub(crate) fn decode_statuses(body: &str) -> Result<Vec<Status>, NetError> {
    let items: Vec<serde_json::Value> =
        serde_json::from_str(body).map_err(|e| NetError::Decode(format!("a status list: {e}")))?;
    Ok(items.into_iter().filter_map(decode_one).collect())
}

fn decode_one(item: serde_json::Value) -> Option<Status> {
    let id = item.get("id").map(|id| id.to_string()).unwrap_or_default();
    match serde_json::from_value::<Status>(item) {
        Ok(status) => Some(status),
        Err(e) => {
            tracing::warn!(status_id = %id, error = %e, "skipped a status that cannot be decoded");
            None
        }
    }
}

/// A JSON array of notifications: the mentions with a status, oldest
/// first; undecodable ones are logged and skipped.
pub(crate) fn decode_mentions(body: &str) -> Result<Vec<(String, Status)>, NetError> {
    let items: Vec<serde_json::Value> = serde_json::from_str(body)
        .map_err(|e| NetError::Decode(format!("a notification list: {e}")))?;
    let mut mentions: Vec<(String, Status)> = items
        .into_iter()
        .filter_map(|item| {
            let id = item.get("id").map(|id| id.to_string()).unwrap_or_default();
            match serde_json::from_value::<crate::network::Notification>(item) {
                Ok(n) if n.kind == "mention" => n.status.map(|s| (n.id, s)),
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(notification_id = %id, error = %e, "skipped a notification that cannot be decoded");
                    None
                }
            }
        })
        .collect();
    mentions.sort_by(|a, b| crate::store::id_order(&a.0, &b.0));
    Ok(mentions)
}

/// The query string of a timeline page, in Mastodon's parameter names.
pub(crate) fn page_query(page: &crate::network::Page) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if page.limit > 0 {
        query.append_pair("limit", &page.limit.to_string());
    }
    for (name, value) in [
        ("min_id", &page.min_id),
        ("max_id", &page.max_id),
        ("since_id", &page.since_id),
    ] {
        if let Some(value) = value {
            query.append_pair(name, value);
        }
    }
    query.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_with_one_broken_status_keeps_the_others() {
        let body = r#"[
            {"id":"2","created_at":"2026-12-03T20:01:00Z","account":{"id":"1","acct":"alice"},"content":"ok"},
            {"id":"3","content":"no account, no date"},
            {"id":"4","created_at":"2026-12-03T20:02:00Z","account":{"id":"1","acct":"a"},"extra":[1,2]}
        ]"#;
        let ids: Vec<_> = decode_statuses(body)
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(ids, ["2", "4"]);
        assert!(decode_statuses("{").is_err());
    }

    #[test]
    fn page_query_uses_mastodons_names() {
        let page = crate::network::Page {
            min_id: Some("5".into()),
            limit: 40,
            ..Default::default()
        };
        assert_eq!(page_query(&page), "limit=40&min_id=5");
        assert_eq!(page_query(&Default::default()), "");
    }
}
