//! Steering a chat live: moderators mention or message the bot (`pause`,
//! `resume`, `next`, `skip`, `extend 10m`, `stop`, `cancel`, `status`),
//! participants ask to be left out of recaps (`optout`, `optin`).
//!
//! The bot's mentions are read from the user stream (and reconciled from
//! notifications after every reconnection); each is read (`parse`),
//! recorded, applied to the store (`apply`) and acknowledged by direct
//! message saying what changed and what comes next.
//!
//! A sender is authenticated by the account the server reports (its full
//! `user@domain`), never by display name, so a same-named account on
//! another instance is refused. Every steer is recorded with who, when
//! and its effect; the record is unique per status, so a steer seen
//! twice (stream, then reconciliation; or by two chats) acts once. The
//! effect lives in the store (paused run, shifted post times), so it
//! survives a restart; the drivers are woken through [`crate::run::Controls`].

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

mod apply;
mod parse;
#[cfg(test)]
mod tests;

use super::daemon::{account_key, Daemon};
use super::poll::{no_streaming, Polling};
use crate::chats::{Chat, Visibility};
use crate::network::backoff::Backoff;
use crate::network::{HashtagStream, NetError, NewPost, Social, Status, StreamEvent};
use crate::store::SteerRecord;
use apply::{apply, current_run};
use parse::{chat_for, is_moderator, parse, text_of, Steer, HELP};

/// Scope of consent records: one opt-out covers every chat.
const CONSENT: &str = "*";

/// Listens for the mentions of one account until `stop`, reconnecting
/// with backoff; each mention is offered to every chat of that account.
pub async fn listen_account(daemon: &Daemon, chats: &[Arc<Chat>], stop: CancellationToken) {
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
                tracing::error!(chat = %first.id(), "moderator commands are off: {e}");
                return;
            }
        }
    };
    listen(daemon, chats, social, &domain, stop).await;
}

async fn listen(
    daemon: &Daemon,
    chats: &[Arc<Chat>],
    social: Arc<dyn Social>,
    domain: &str,
    stop: CancellationToken,
) {
    let mut backoff = Backoff::new(daemon.tuning.backoff_base, daemon.tuning.backoff_cap);
    let scope = format!("user-stream {}", account_key(&chats[0]));
    let mut polling = Polling::new(daemon.clock.clone(), &daemon.tuning, "the mentions");
    let listener = Listener {
        daemon,
        chats,
        scope: &scope,
        social: social.as_ref(),
        domain,
    };
    loop {
        let opened = tokio::select! {
            _ = stop.cancelled() => return,
            opened = social.user_stream() => opened,
        };
        match opened {
            Ok(stream) => {
                if !listener.follow(stream, &mut backoff, &stop).await {
                    return;
                }
                tracing::info!("user stream dropped; reconnecting");
            }
            Err(e @ NetError::Unauthorized { .. }) => {
                tracing::error!(
                    "the user stream refused the token, so moderator commands are off: {e}"
                );
                return;
            }
            Err(e) if no_streaming(&e) => {
                polling.begin(&e);
                if !listener.poll(&mut polling, &stop).await {
                    return;
                }
                continue;
            }
            Err(e) => tracing::warn!("cannot open the user stream: {e}"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(backoff.next_delay()) => {}
        }
    }
}

/// What a mention listener reads with, streaming or polling.
struct Listener<'a> {
    daemon: &'a Daemon,
    chats: &'a [Arc<Chat>],
    scope: &'a str,
    social: &'a dyn Social,
    domain: &'a str,
}

impl Listener<'_> {
    /// Reads the mentions missed while the stream was closed, then offers
    /// each mention the open `stream` brings until it drops (`true`) or
    /// `stop` fires (`false`).
    async fn follow(
        &self,
        mut stream: HashtagStream,
        backoff: &mut Backoff,
        stop: &CancellationToken,
    ) -> bool {
        if let Err(e) = self.reconcile().await {
            tracing::warn!("could not read the bot's mentions: {e:#}");
        }
        loop {
            let event = tokio::select! {
                _ = stop.cancelled() => return false,
                event = stream.next() => event,
            };
            match event {
                Some(StreamEvent::Mention(status)) => {
                    backoff.reset();
                    offer(self.daemon, self.chats, self.social, self.domain, &status).await;
                }
                Some(_) => {}
                None => return true,
            }
        }
    }

    /// Reads the notifications from the stored cursor at every interval
    /// until the stream is due to be tried again (`true`) or `stop` fires
    /// (`false`). The first read of all only takes the position, as after
    /// a first connection.
    async fn poll(&self, polling: &mut Polling, stop: &CancellationToken) -> bool {
        loop {
            let next = polling.next_read();
            if let Err(e) = self.reconcile().await {
                tracing::warn!("could not read the bot's mentions: {e:#}");
            }
            if !polling.wait_until(next, stop).await {
                return false;
            }
            if polling.stream_due() {
                return true;
            }
        }
    }

    async fn reconcile(&self) -> anyhow::Result<()> {
        let (daemon, chats, scope) = (self.daemon, self.chats, self.scope);
        reconcile(daemon, chats, scope, self.social, self.domain).await
    }
}

/// Offers a mention to each chat of the account; each decides whether it
/// is for it (and consent is recorded once, whichever chat sees it first).
async fn offer(
    daemon: &Daemon,
    chats: &[Arc<Chat>],
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
    chats: &[Arc<Chat>],
    scope: &str,
    social: &dyn Social,
    domain: &str,
) -> anyhow::Result<()> {
    let cursor = daemon.store.mention_cursor(scope).await?;
    let mut backoff = Backoff::new(daemon.tuning.backoff_base, daemon.tuning.backoff_cap);
    let mentions = crate::network::retry(
        "mentions",
        &mut backoff,
        daemon.tuning.post_attempts,
        || social.mentions(cursor.as_deref()),
    )
    .await?;
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
        tracing::error!(chat = %chat.id(), status_id = %status.id, "could not carry out a command: {e:#}");
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
    let text = text_of(&status.content);
    let Some(command) = parse(&text) else {
        return Ok(());
    };
    let mention = Mention {
        daemon,
        chat,
        social,
        status,
        sender: sender_of(daemon, status, domain),
        command,
        now: daemon.clock.now(),
    };
    mention.handle(&text).await
}

/// Who sent a mention, as moderators are listed: the full handle, or on
/// Bluesky the DID when a chat lists the moderator by DID.
fn sender_of(daemon: &Daemon, status: &Status, domain: &str) -> String {
    let did = &status.account.id;
    let by_did =
        did.starts_with("did:") && daemon.config.chats.iter().any(|c| is_moderator(c, did));
    if by_did {
        did.clone()
    } else {
        crate::run::ingest::full_handle(&status.account, domain)
    }
}

/// One mention that reads as a command, with who sent it and when.
struct Mention<'a> {
    daemon: &'a Daemon,
    chat: &'a Chat,
    social: &'a dyn Social,
    status: &'a Status,
    sender: String,
    command: Steer,
    now: DateTime<Utc>,
}

impl Mention<'_> {
    async fn handle(&self, text: &str) -> anyhow::Result<()> {
        let (daemon, chat, sender) = (self.daemon, self.chat, &self.sender);
        if self.command.is_consent() {
            return self.consent().await;
        }
        if !is_moderator(chat, sender) {
            if daemon
                .config
                .chats
                .first()
                .is_some_and(|c| c.id() == chat.id())
            {
                tracing::info!(account = %sender, command = %self.command.name(), "ignored a command from someone who moderates no chat");
            }
            return Ok(());
        }
        match chat_for(&daemon.config, sender, text) {
            Some(target) if target.id() == chat.id() => {}
            // Another chat's listener handles it.
            Some(_) => return Ok(()),
            None => return self.ask_which_chat().await,
        }
        if let Steer::Unknown(_) = self.command {
            return self.help().await;
        }
        self.steer().await
    }

    /// `optout` / `optin`: recorded once for every chat, then acknowledged.
    async fn consent(&self) -> anyhow::Result<()> {
        let (daemon, status, sender, now) = (self.daemon, self.status, &self.sender, self.now);
        let out = self.command == Steer::OptOut;
        let mut record = record(CONSENT, None, status, sender, &self.command, now);
        record.effect = if out { "opted out" } else { "opted in" };
        if !daemon.store.record_steer(&record).await? {
            return Ok(());
        }
        daemon
            .store
            .set_opted_out(sender, out, &status.id, now)
            .await?;
        tracing::info!(account = %sender, opted_out = out, "consent changed");
        let reply = if out {
            "Done: your posts are left out of every recap from now on, past ones included when \
             they are rendered again. Send optin to be included again."
        } else {
            "Done: your posts are included in recaps again."
        };
        acknowledge(self.social, status, reply).await
    }

    /// A moderator of several chats named none: the first of their chats
    /// asks which one, once.
    async fn ask_which_chat(&self) -> anyhow::Result<()> {
        let (daemon, chat, sender) = (self.daemon, self.chat, &self.sender);
        let first = daemon.config.chats.iter().find(|c| is_moderator(c, sender));
        if first.is_some_and(|c| c.id() == chat.id()) {
            let record = self.record(None);
            if daemon.store.record_steer(&record).await? {
                let tags: Vec<String> = daemon
                    .config
                    .chats
                    .iter()
                    .filter(|c| is_moderator(c, sender))
                    .map(|c| c.content().hashtag().to_string())
                    .collect();
                let reply = format!("Which chat? Add its hashtag: {}.", tags.join(", "));
                acknowledge(self.social, self.status, &reply).await?;
            }
        }
        Ok(())
    }

    async fn help(&self) -> anyhow::Result<()> {
        // Only a direct message gets help: a public answer that mentions
        // the bot is not a command.
        if self.status.visibility == "direct" {
            let record = self.record(None);
            if self.daemon.store.record_steer(&record).await? {
                acknowledge(self.social, self.status, HELP).await?;
            }
        }
        Ok(())
    }

    /// A moderator's command for this chat: recorded, applied to the
    /// current run, the drivers woken, and the moderator told.
    async fn steer(&self) -> anyhow::Result<()> {
        let (daemon, chat, sender, now) = (self.daemon, self.chat, &self.sender, self.now);
        let run = current_run(daemon, chat, now).await?;
        let record = self.record(run.as_ref().map(|r| r.id));
        // Recorded before it is applied: a command acts at most once, even if
        // the process dies here (the moderator can send it again).
        if !daemon.store.record_steer(&record).await? {
            return Ok(());
        }
        let reply = apply(daemon, chat, run, &self.command, sender, now).await?;
        daemon
            .store
            .set_steer_effect(chat.id(), &self.status.id, &reply)
            .await?;
        tracing::info!(chat = %chat.id(), moderator = %sender, command = %self.command.name(), effect = %reply, "moderator command");
        daemon.controls.changed();
        acknowledge(self.social, self.status, &reply).await
    }

    /// The record of this mention in the chat's scope.
    fn record(&self, run_id: Option<i64>) -> SteerRecord<'_> {
        let (status, sender) = (self.status, &self.sender);
        record(
            self.chat.id(),
            run_id,
            status,
            sender,
            &self.command,
            self.now,
        )
    }
}

fn record<'a>(
    scope: &'a str,
    run_id: Option<i64>,
    status: &'a Status,
    sender: &'a str,
    command: &Steer,
    now: DateTime<Utc>,
) -> SteerRecord<'a> {
    SteerRecord {
        scope,
        run_id,
        status_id: &status.id,
        account: sender,
        command: static_name(command),
        received_at: now,
        effect: "received",
    }
}

fn static_name(command: &Steer) -> &'static str {
    match command {
        Steer::Status => "status",
        Steer::Pause => "pause",
        Steer::Resume => "resume",
        Steer::Next => "next",
        Steer::Skip => "skip",
        Steer::Extend(_) => "extend",
        Steer::Stop => "stop",
        Steer::Cancel => "cancel",
        Steer::OptOut => "optout",
        Steer::OptIn => "optin",
        Steer::Unknown(_) => "unknown",
    }
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
