//! Matching posts to questions: Mastodon HTML to plain text, and answer
//! labels (`A1:`, `a 2)`, `A1b`…) found in that text. Pure functions.
// STUB: owned by the answers/recap helper; signatures are the contract.

use crate::chats::Hashtag;
use crate::network::Status;

/// Plain text of Mastodon HTML: tags removed, entities decoded, `<br>` and
/// paragraph breaks kept as line breaks.
pub fn html_to_text(html: &str) -> String {
    let _ = html;
    unimplemented!("stub")
}

/// The question numbers (1..=question_count, ascending, unique) that `text`
/// labels an answer for.
pub fn answered_questions(text: &str, question_count: u32) -> Vec<u32> {
    let _ = (text, question_count);
    unimplemented!("stub")
}

/// Whether the status carries the hashtag (its `tags`, or `#tag` in its text).
pub fn carries_hashtag(status: &Status, text: &str, tag: &Hashtag) -> bool {
    let _ = (status, text, tag);
    unimplemented!("stub")
}
