//! Finding a post the bot already sent, among its own recent statuses:
//! after a restart, or after an attempt whose outcome is unknown. It only
//! reads; deciding what a find means is the caller's.

use crate::network::backoff::Backoff;
use crate::network::html_to_text;
use crate::network::{NetError, Page, Social, Status};
use crate::run::daemon::Daemon;
use crate::store::PostRow;

/// Finds a post that a previous process sent but did not mark.
pub async fn find_already_sent(
    social: &dyn Social,
    bot_account_id: &str,
    post: &PostRow,
) -> Result<Option<Status>, NetError> {
    let page = Page {
        limit: 40,
        ..Page::default()
    };
    let own = social.account_statuses(bot_account_id, &page).await?;
    let wanted = post.text.trim();
    Ok(own.into_iter().find(|s| {
        s.reblog.is_none()
            && s.created_at >= post.planned_at - chrono::Duration::minutes(1)
            && html_to_text(&s.content).trim() == wanted
    }))
}

/// [`find_already_sent`], retried like every read: a passing fault here
/// must neither fail the run nor make it resend a post that went out.
pub(super) async fn look_for_sent(
    daemon: &Daemon,
    social: &dyn Social,
    bot_account_id: &str,
    post: &PostRow,
) -> Result<Option<Status>, NetError> {
    let mut backoff = Backoff::new(daemon.tuning.backoff_base, daemon.tuning.backoff_cap);
    crate::network::retry(
        "the bot's own statuses",
        &mut backoff,
        daemon.tuning.post_attempts,
        || find_already_sent(social, bot_account_id, post),
    )
    .await
}
