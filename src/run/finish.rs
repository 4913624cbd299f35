//! The end of a run, once collection is over: the summary post
//! (`recap_post`), the report of posts that did not go out, and the recap
//! files.

use std::sync::Arc;

use super::daemon::Daemon;
use crate::chats::Chat;
use crate::network::Social;
use crate::recap;
use crate::schedule::RunPlan;
use crate::store::{PostRow, PostState};

/// `recap_post`: the summary, threaded when long. Posted before the run
/// is marked done, so a crash here posts it on resume; its idempotency
/// keys keep the server from taking it twice.
pub(super) async fn post_summary(
    daemon: &Daemon,
    social: &Arc<dyn Social>,
    chat: &Chat,
    plan: &RunPlan,
    run_id: i64,
    limit: usize,
) {
    let recap = match recap::build(&daemon.store, chat, run_id).await {
        Ok(recap) => recap,
        Err(e) => {
            tracing::error!("no summary post: the recap could not be built: {e:#}");
            return;
        }
    };
    let date = plan
        .start
        .with_timezone(&chat.timing().timezone())
        .format("%Y-%m-%d")
        .to_string();
    let url = chat
        .policy()
        .recap_url()
        .as_ref()
        .map(|u| u.replace("{date}", &date));
    let mut reply_to: Option<String> = None;
    let platform = chat.account().platform();
    for (i, text) in recap::summary_posts(&recap, url.as_deref(), limit, platform)
        .into_iter()
        .enumerate()
    {
        let post = crate::network::NewPost {
            text,
            visibility: chat.account().visibility(),
            idempotency_key: plan.summary_key(i),
            in_reply_to_id: reply_to.clone(),
            language: chat.content().language().map(str::to_string),
            spoiler_text: chat.content().content_warning().map(str::to_string),
            media_ids: Vec::new(),
        };
        match social.post(&post).await {
            Ok(status) => reply_to = Some(status.id),
            Err(e) => {
                tracing::error!("the summary post was not posted: {e}");
                return;
            }
        }
    }
    tracing::info!("summary posted");
}

pub(super) fn report_unposted(posts: &[PostRow]) {
    for post in posts.iter().filter(|p| p.state != PostState::Sent) {
        tracing::error!(
            seq = post.seq,
            state = post.state.as_str(),
            reason = post.last_error.as_deref().unwrap_or(""),
            "a post of this run was not posted"
        );
    }
}

pub(super) async fn write_recaps(daemon: &Daemon, chat: &Chat, run_id: i64) {
    let suffix = if daemon.options.dry_run {
        "-dry-run"
    } else {
        ""
    };
    match recap::write_files(&daemon.store, chat, run_id, suffix).await {
        Ok(paths) => {
            for path in paths {
                tracing::info!(path = %path.display(), "recap written");
            }
        }
        Err(e) => tracing::error!("could not write the recap: {e:#}"),
    }
}
