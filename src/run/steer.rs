//! Carrying out commands: the bot's mentions are read from the user stream
//! (and reconciled from notifications after every reconnection), each
//! command is recorded, applied to the store and acknowledged by direct
//! message saying what changed and what comes next.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::commands::{self, Command, HELP};
use super::Daemon;
use crate::chats::{Chat, Visibility};
use crate::network::backoff::Backoff;
use crate::network::{NetError, NewPost, Social, Status, StreamEvent};
use crate::schedule::{self, PostKind};
use crate::store::{CommandRecord, PostRow, PostState, RunRow};

/// Scope of consent records: one opt-out covers every chat.
const CONSENT: &str = "*";

/// Listens for the mentions of one account until `stop`, reconnecting
/// with backoff; each mention is offered to every chat of that account.
pub async fn listen_account(daemon: &Daemon, chats: &[Chat], stop: CancellationToken) {
    let Some(first) = chats.first() else { return };
    let social = match daemon.connector.connect(first) {
        Ok(social) => social,
        // The chat tasks report this same error, with its context.
        Err(_) => return,
    };
    let mut backoff = Backoff::new(daemon.tuning.backoff_base, daemon.tuning.backoff_cap);
    let domain = loop {
        let instance = tokio::select! {
            _ = stop.cancelled() => return,
            instance = social.instance() => instance,
        };
        match instance {
            Ok(instance) => break instance.domain,
            Err(e) if e.is_retryable() => {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(backoff.next_delay()) => {}
                }
            }
            Err(e) => {
                tracing::error!(chat = %first.id, "moderator commands are off: {e}");
                return;
            }
        }
    };
    listen(daemon, chats, social, &domain, stop).await;
}

async fn listen(
    daemon: &Daemon,
    chats: &[Chat],
    social: Arc<dyn Social>,
    domain: &str,
    stop: CancellationToken,
) {
    let mut backoff = Backoff::new(daemon.tuning.backoff_base, daemon.tuning.backoff_cap);
    let scope = format!("user-stream {}", super::account_key(&chats[0]));
    loop {
        let opened = tokio::select! {
            _ = stop.cancelled() => return,
            opened = social.user_stream() => opened,
        };
        match opened {
            Ok(mut stream) => {
                if let Err(e) = reconcile(daemon, chats, &scope, social.as_ref(), domain).await {
                    tracing::warn!("could not read the bot's mentions: {e:#}");
                }
                loop {
                    let event = tokio::select! {
                        _ = stop.cancelled() => return,
                        event = stream.next() => event,
                    };
                    match event {
                        Some(StreamEvent::Mention(status)) => {
                            backoff.reset();
                            offer(daemon, chats, social.as_ref(), domain, &status).await;
                        }
                        Some(_) => {}
                        None => break,
                    }
                }
                tracing::info!("user stream dropped; reconnecting");
            }
            Err(e @ NetError::Unauthorized { .. }) => {
                tracing::error!(
                    "the user stream refused the token, so moderator commands are off: {e}"
                );
                return;
            }
            Err(e) => tracing::warn!("cannot open the user stream: {e}"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(backoff.next_delay()) => {}
        }
    }
}

/// Offers a mention to each chat of the account; each decides whether it
/// is for it (and consent is recorded once, whichever chat sees it first).
async fn offer(
    daemon: &Daemon,
    chats: &[Chat],
    social: &dyn Social,
    domain: &str,
    status: &Status,
) {
    for chat in chats {
        handle_logged(daemon, chat, social, domain, status).await;
    }
}

/// Handles mentions that arrived while the stream was away. The very first
/// time (no cursor yet) existing mentions are history, not commands: only
/// the position is taken. Handling is idempotent, so rereading is safe.
async fn reconcile(
    daemon: &Daemon,
    chats: &[Chat],
    scope: &str,
    social: &dyn Social,
    domain: &str,
) -> anyhow::Result<()> {
    let cursor = daemon.store.mention_cursor(scope).await?;
    let mentions = social.mentions(cursor.as_deref()).await?;
    if cursor.is_some() {
        for (_, status) in &mentions {
            offer(daemon, chats, social, domain, status).await;
        }
    }
    // "0": before every notification, so later ones are all read.
    let newest = mentions.last().map_or("0", |(id, _)| id.as_str());
    if cursor.is_none() || !mentions.is_empty() {
        daemon.store.set_mention_cursor(scope, newest).await?;
    }
    Ok(())
}

async fn handle_logged(
    daemon: &Daemon,
    chat: &Chat,
    social: &dyn Social,
    domain: &str,
    status: &Status,
) {
    if let Err(e) = handle(daemon, chat, social, domain, status).await {
        tracing::error!(chat = %chat.id, status_id = %status.id, "could not carry out a command: {e:#}");
    }
}

/// Handles one mention of the bot.
pub async fn handle(
    daemon: &Daemon,
    chat: &Chat,
    social: &dyn Social,
    domain: &str,
    status: &Status,
) -> anyhow::Result<()> {
    let text = commands::text_of(&status.content);
    let Some(command) = commands::parse(&text) else {
        return Ok(());
    };
    let sender = status.account.handle(domain);
    let now = daemon.clock.now();
    if command.is_consent() {
        let out = command == Command::OptOut;
        let mut record = record(CONSENT, None, status, &sender, &command, now);
        record.effect = if out { "opted out" } else { "opted in" };
        if !daemon.store.record_command(&record).await? {
            return Ok(());
        }
        daemon
            .store
            .set_opted_out(&sender, out, &status.id, now)
            .await?;
        tracing::info!(account = %sender, opted_out = out, "consent changed");
        let reply = if out {
            "Done: your posts are left out of every recap from now on, past ones included when \
             they are rendered again. Send optin to be included again."
        } else {
            "Done: your posts are included in recaps again."
        };
        return acknowledge(social, status, reply).await;
    }
    if !commands::is_moderator(chat, &sender) {
        if daemon.config.chats.first().is_some_and(|c| c.id == chat.id) {
            tracing::info!(account = %sender, command = %command.name(), "ignored a command from someone who moderates no chat");
        }
        return Ok(());
    }
    match commands::chat_for(&daemon.config, &sender, &text) {
        Some(target) if target.id == chat.id => {}
        // Another chat's listener handles it.
        Some(_) => return Ok(()),
        None => {
            let first = daemon
                .config
                .chats
                .iter()
                .find(|c| commands::is_moderator(c, &sender));
            if first.is_some_and(|c| c.id == chat.id) {
                let record = record(&chat.id, None, status, &sender, &command, now);
                if daemon.store.record_command(&record).await? {
                    let tags: Vec<String> = daemon
                        .config
                        .chats
                        .iter()
                        .filter(|c| commands::is_moderator(c, &sender))
                        .map(|c| c.hashtag.to_string())
                        .collect();
                    let reply = format!("Which chat? Add its hashtag: {}.", tags.join(", "));
                    acknowledge(social, status, &reply).await?;
                }
            }
            return Ok(());
        }
    }
    if let Command::Unknown(_) = command {
        // Only a direct message gets help: a public answer that mentions
        // the bot is not a command.
        if status.visibility == "direct" {
            let record = record(&chat.id, None, status, &sender, &command, now);
            if daemon.store.record_command(&record).await? {
                acknowledge(social, status, HELP).await?;
            }
        }
        return Ok(());
    }
    let run = current_run(daemon, chat, now).await?;
    let record = record(
        &chat.id,
        run.as_ref().map(|r| r.id),
        status,
        &sender,
        &command,
        now,
    );
    // Recorded before it is applied: a command acts at most once, even if
    // the process dies here (the moderator can send it again).
    if !daemon.store.record_command(&record).await? {
        return Ok(());
    }
    let reply = apply(daemon, chat, run, &command, &sender, now).await?;
    daemon
        .store
        .set_command_effect(&chat.id, &status.id, &reply)
        .await?;
    tracing::info!(chat = %chat.id, moderator = %sender, command = %command.name(), effect = %reply, "moderator command");
    daemon.controls.changed();
    acknowledge(social, status, &reply).await
}

fn record<'a>(
    scope: &'a str,
    run_id: Option<i64>,
    status: &'a Status,
    sender: &'a str,
    command: &Command,
    now: DateTime<Utc>,
) -> CommandRecord<'a> {
    CommandRecord {
        scope,
        run_id,
        status_id: &status.id,
        account: sender,
        command: static_name(command),
        received_at: now,
        effect: "received",
    }
}

fn static_name(command: &Command) -> &'static str {
    match command {
        Command::Status => "status",
        Command::Pause => "pause",
        Command::Resume => "resume",
        Command::Next => "next",
        Command::Skip => "skip",
        Command::Extend(_) => "extend",
        Command::Stop => "stop",
        Command::Cancel => "cancel",
        Command::OptOut => "optout",
        Command::OptIn => "optin",
        Command::Unknown(_) => "unknown",
    }
}

/// The run in progress (started, not over), if any.
async fn current_run(
    daemon: &Daemon,
    chat: &Chat,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<RunRow>> {
    Ok(daemon
        .store
        .unfinished_runs(&chat.id)
        .await?
        .into_iter()
        .find(|r| r.planned_start <= now))
}

/// Carries out `command`; returns the reply: what changed, what is next.
async fn apply(
    daemon: &Daemon,
    chat: &Chat,
    run: Option<RunRow>,
    command: &Command,
    sender: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let store = &daemon.store;
    let tag = chat.hashtag.to_string();
    let Some(run) = run else {
        return not_running(daemon, chat, command, sender, now).await;
    };
    let posts = store.posts(run.id).await?;
    let next_question = posts
        .iter()
        .find(|p| p.kind == PostKind::Question && is_unsent(p));
    let reply = match command {
        Command::Status => String::new(),
        Command::Cancel => format!("{tag} is already running; send stop to post the closing now."),
        Command::Pause => match run.paused_at {
            Some(since) => format!(
                "{tag} has been paused since {}.",
                commands::local_time(chat, since)
            ),
            None => {
                store.set_paused(run.id, Some(now)).await?;
                format!("Paused {tag}: nothing more is posted until you send resume.")
            }
        },
        Command::Resume => match run.paused_at {
            None => format!("{tag} is not paused."),
            Some(since) => {
                let paused_for = now - since;
                store.shift_unsent(run.id, paused_for).await?;
                store.set_paused(run.id, None).await?;
                format!(
                    "Resumed {tag}; the rest moved {} later.",
                    minutes(paused_for)
                )
            }
        },
        Command::Next => match next_question {
            None => "No questions are left; send stop to post the closing now.".into(),
            Some(q) => {
                let earlier = q.planned_at - now;
                if earlier > chrono::Duration::zero() {
                    store.shift_unsent(run.id, -earlier).await?;
                }
                format!(
                    "Posting Q{} now; the rest moved {} earlier.",
                    q.number.unwrap_or_default(),
                    minutes(earlier.max(chrono::Duration::zero()))
                )
            }
        },
        Command::Skip => match next_question {
            None => "No questions are left to skip.".into(),
            Some(q) => {
                let reason = format!("skipped by @{sender}");
                store.skip_post(run.id, q.seq, &reason).await?;
                format!("Dropped Q{}.", q.number.unwrap_or_default())
            }
        },
        Command::Extend(by) => {
            let by = chrono::Duration::from_std(*by).unwrap_or_default();
            store.shift_unsent(run.id, by).await?;
            format!("Extended {tag} by {}.", minutes(by))
        }
        Command::Stop => {
            let reason = format!("skipped: @{sender} stopped the chat");
            for post in posts
                .iter()
                .filter(|p| p.kind == PostKind::Question && is_unsent(p))
            {
                store.skip_post(run.id, post.seq, &reason).await?;
            }
            match posts
                .iter()
                .find(|p| p.kind == PostKind::Closing && is_unsent(p))
            {
                Some(closing) => {
                    store.move_post(run.id, closing.seq, now).await?;
                    let until =
                        now + chrono::Duration::from_std(chat.collect_after).unwrap_or_default();
                    store.set_collect_until(run.id, until).await?;
                    format!("Posting the closing of {tag} now.")
                }
                None => format!("The closing of {tag} is already out."),
            }
        }
        Command::OptOut | Command::OptIn | Command::Unknown(_) => HELP.into(),
    };
    let next = describe_next(daemon, chat, run.id).await?;
    Ok(format!("{reply} {next}").trim().to_string())
}

fn is_unsent(post: &PostRow) -> bool {
    matches!(post.state, PostState::Planned | PostState::Sending)
}

fn minutes(d: chrono::Duration) -> String {
    let secs = d.num_seconds().max(0) as u64;
    humantime::format_duration(std::time::Duration::from_secs(secs)).to_string()
}

/// "Next: Q3 at 20:41 GMT." (or the closing, or the end of collection).
async fn describe_next(daemon: &Daemon, chat: &Chat, run_id: i64) -> anyhow::Result<String> {
    let Some(run) = daemon.store.run(run_id).await? else {
        return Ok(String::new());
    };
    let posts = daemon.store.posts(run_id).await?;
    let paused = run
        .paused_at
        .map(|since| format!(" Paused since {}.", commands::local_time(chat, since)))
        .unwrap_or_default();
    let next = posts
        .iter()
        .filter(|p| is_unsent(p))
        .min_by_key(|p| (p.planned_at, p.seq));
    Ok(match next {
        Some(p) => {
            let what = match (p.kind, p.number) {
                (PostKind::Question, Some(n)) => format!("Q{n}"),
                (PostKind::Closing, _) => "the closing".into(),
                _ => "the intro".into(),
            };
            format!(
                "Next: {what} at {}.{paused}",
                commands::local_time(chat, p.planned_at)
            )
        }
        None => format!(
            "Everything is posted; answers count until {}.",
            commands::local_time(chat, run.collect_until)
        ),
    })
}

/// Replies when no run is in progress: `cancel` calls off the next run,
/// `status` says when it is, anything else says there is nothing to steer.
async fn not_running(
    daemon: &Daemon,
    chat: &Chat,
    command: &Command,
    sender: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let tag = chat.hashtag.to_string();
    let upcoming = super::chat::upcoming_starts(daemon, chat, now, 2).await?;
    let when = |s: DateTime<Utc>| {
        s.with_timezone(&chat.timezone)
            .format("%a %-d %b %H:%M %Z")
            .to_string()
    };
    Ok(match (command, upcoming.as_slice()) {
        (Command::Cancel, [next, rest @ ..]) => {
            let until = schedule::timeline(chat, *next).collect_until;
            let opened = daemon
                .store
                .unfinished_runs(&chat.id)
                .await?
                .into_iter()
                .find(|r| r.planned_start == *next);
            let cancelled = match opened {
                // Already opened for its reminders: its driver is told.
                Some(run) => daemon.store.cancel_open_run(run.id, sender, now).await?,
                None => {
                    daemon
                        .store
                        .cancel_run(&chat.id, *next, until, sender, now)
                        .await?
                }
            };
            if cancelled {
                let after = rest
                    .first()
                    .map(|s| format!(" The next one is {}.", when(*s)))
                    .unwrap_or_default();
                format!("Called off the {tag} run of {}.{after}", when(*next))
            } else {
                format!(
                    "The {tag} run of {} cannot be called off any more.",
                    when(*next)
                )
            }
        }
        (Command::Cancel, []) => format!("{tag} has no upcoming run to call off."),
        (_, [next, ..]) => format!("{tag} is not running. The next run starts {}.", when(*next)),
        (_, []) => format!("{tag} is not running and has no upcoming run."),
    })
}

/// Answers the sender by direct message (a reply that mentions them).
async fn acknowledge(social: &dyn Social, to: &Status, reply: &str) -> anyhow::Result<()> {
    let post = NewPost {
        text: format!("@{} {reply}", to.account.acct),
        visibility: Visibility::Direct,
        idempotency_key: format!("hashchat:reply:{}", to.id),
        in_reply_to_id: Some(to.id.clone()),
        language: None,
        spoiler_text: None,
        media_ids: Vec::new(),
    };
    social.post(&post).await?;
    Ok(())
}
