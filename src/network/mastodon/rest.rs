//! Mastodon's REST requests over the account's one HTTP client: reads
//! (`get`), posting with `Idempotency-Key`, media uploads, and the paging
//! query. Answers come back as text; `decode` turns them into our types.

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
    let status = super::decode::status(&answer.body, "the posted status")?;
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
