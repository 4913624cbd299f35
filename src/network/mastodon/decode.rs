//! Mastodon's JSON answers decoded once, leniently, into hashchat's types.
//! A list is decoded item by item: one odd status (or notification) is
//! logged with its id and skipped, and the rest of the page is kept, so a
//! strict decoder never makes the bot lose answers nor read a page twice.

use serde::Deserialize;

use crate::network::{Account, NetError, Status};

/// A notification; hashchat only acts on mentions (commands, consent).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Notification {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub status: Option<Status>,
}

/// One status (`GET /api/v1/statuses/:id`, a posted status).
pub(crate) fn status(body: &str, what: &str) -> Result<Status, NetError> {
    Status::from_json(body).map_err(|e| NetError::Decode(format!("{what}: {e}")))
}

/// One account (`verify_credentials`).
pub(crate) fn account(body: &str) -> Result<Account, NetError> {
    serde_json::from_str(body).map_err(|e| NetError::Decode(format!("the bot's account: {e}")))
}

/// A JSON array of statuses; the ones that cannot be decoded are logged with
/// their id and skipped.
pub(crate) fn statuses(body: &str) -> Result<Vec<Status>, NetError> {
    let items: Vec<serde_json::Value> =
        serde_json::from_str(body).map_err(|e| NetError::Decode(format!("a status list: {e}")))?;
    Ok(items.into_iter().filter_map(one_status).collect())
}

/// The `descendants` of a status's context, leniently.
pub(crate) fn descendants(body: &str, id: &str) -> Result<Vec<Status>, NetError> {
    #[derive(Deserialize)]
    struct Context {
        #[serde(default)]
        descendants: Vec<serde_json::Value>,
    }
    let context: Context = serde_json::from_str(body)
        .map_err(|e| NetError::Decode(format!("context of {id}: {e}")))?;
    Ok(context
        .descendants
        .into_iter()
        .filter_map(one_status)
        .collect())
}

fn one_status(item: serde_json::Value) -> Option<Status> {
    let id = item.get("id").map(|id| id.to_string()).unwrap_or_default();
    match serde_json::from_value::<Status>(item) {
        Ok(status) => Some(status),
        Err(e) => {
            tracing::warn!(status_id = %id, error = %e, "skipped a status that cannot be decoded");
            None
        }
    }
}

/// The ids of a list of accounts (mutes, blocks); entries without one are
/// skipped.
pub(crate) fn account_ids(body: &str) -> Result<Vec<String>, NetError> {
    let accounts: Vec<serde_json::Value> = serde_json::from_str(body)
        .map_err(|e| NetError::Decode(format!("an account list: {e}")))?;
    Ok(accounts
        .iter()
        .filter_map(|a| a.get("id")?.as_str().map(String::from))
        .collect())
}

/// A JSON array of notifications: the mentions with a status, oldest
/// first; undecodable ones are logged and skipped.
pub(crate) fn mentions(body: &str) -> Result<Vec<(String, Status)>, NetError> {
    let items: Vec<serde_json::Value> = serde_json::from_str(body)
        .map_err(|e| NetError::Decode(format!("a notification list: {e}")))?;
    let mut mentions: Vec<(String, Status)> = items
        .into_iter()
        .filter_map(|item| {
            let id = item.get("id").map(|id| id.to_string()).unwrap_or_default();
            match serde_json::from_value::<Notification>(item) {
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

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"id":"2","created_at":"2026-12-03T20:01:00Z","account":{"id":"1","acct":"alice"},"content":"ok"}"#;
    const BROKEN: &str = r#"{"id":"3","content":"no account, no date"}"#;

    #[test]
    fn a_list_with_one_broken_status_keeps_the_others() {
        let body = format!(
            r#"[{GOOD}, {BROKEN},
            {{"id":"4","created_at":"2026-12-03T20:02:00Z","account":{{"id":"1","acct":"a"}},"extra":[1,2]}}]"#
        );
        let ids: Vec<_> = statuses(&body).unwrap().into_iter().map(|s| s.id).collect();
        assert_eq!(ids, ["2", "4"]);
        assert!(statuses("{").is_err());
    }

    #[test]
    fn a_context_with_one_broken_reply_keeps_the_others() {
        let body = format!(r#"{{"ancestors":[],"descendants":[{BROKEN},{GOOD}]}}"#);
        let ids: Vec<_> = descendants(&body, "1")
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(ids, ["2"]);
        assert!(descendants("<html>", "1").is_err());
    }

    #[test]
    fn mentions_keep_only_mentions_oldest_first() {
        let body = format!(
            r#"[{{"id":"9","type":"mention","status":{GOOD}}},
               {{"id":"7","type":"favourite","status":{GOOD}}},
               {{"id":"8","type":"mention","status":{BROKEN}}},
               {{"id":"5","type":"mention","status":{GOOD}}}]"#
        );
        let ids: Vec<_> = mentions(&body).unwrap().into_iter().map(|m| m.0).collect();
        assert_eq!(ids, ["5", "9"]);
    }
}
