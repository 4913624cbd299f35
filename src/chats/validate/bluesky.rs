//! The Bluesky keys of a chat (`handle`, `jetstream`, `appview`) and the
//! rules that tie them to `platform`: a Bluesky chat needs a handle, and
//! a Fediverse chat has no use for any of them.

use std::collections::HashSet;

use url::Url;

use super::{Problem, Validator};
use crate::chats::diagnostics::Diagnostic;
use crate::chats::locate::join;
use crate::chats::raw::RawChat;
use crate::chats::{defaults, Bluesky, Platform};

const KEYS: [&str; 3] = ["handle", "jetstream", "appview"];

impl Validator<'_> {
    /// The Bluesky keys of a chat on `platform` (`None`: a wrong platform,
    /// already reported): `Some(None)` on another network, `None` when
    /// something was reported.
    pub(super) fn bluesky(
        &mut self,
        path: &str,
        c: &RawChat,
        broken: &HashSet<String>,
        platform: Option<Platform>,
    ) -> Option<Option<Bluesky>> {
        let handle = self.value(c.handle.as_ref(), path, "handle", broken, handle);
        let jetstream = self.value(c.jetstream.as_ref(), path, "jetstream", broken, |s| {
            address(
                s,
                "jetstream",
                "a ws:// or wss://",
                &["ws", "wss"],
                defaults::BLUESKY_JETSTREAM,
            )
        });
        let appview = self.value(c.appview.as_ref(), path, "appview", broken, |s| {
            address(
                s,
                "appview",
                "an http:// or https://",
                &["http", "https"],
                defaults::BLUESKY_APPVIEW,
            )
        });
        match platform {
            // The top level sets defaults: nothing is required there.
            Some(Platform::Bluesky) if path.is_empty() => Some(None),
            Some(Platform::Bluesky) => {
                self.no_fediverse_keys(path, c);
                if handle.is_unset() {
                    self.missing(
                        path,
                        "a Bluesky chat needs the bot's `handle`".into(),
                        "add e.g. `handle: chatbot.bsky.social`; its app password goes in the variable named by `token_env`",
                    );
                }
                Some(Some(Bluesky {
                    handle: handle.required()?,
                    jetstream: jetstream.get(default(defaults::BLUESKY_JETSTREAM))?,
                    appview: appview.get(default(defaults::BLUESKY_APPVIEW))?,
                }))
            }
            Some(_) if !path.is_empty() => {
                self.no_bluesky_keys(path, c);
                Some(None)
            }
            _ => Some(None),
        }
    }

    /// A Bluesky chat's own `also_watch:` (Fediverse instances) is a mistake.
    fn no_fediverse_keys(&mut self, path: &str, c: &RawChat) {
        let watch = join(path, "also_watch");
        if c.also_watch.is_some() && self.at.has(&watch) {
            let e = Diagnostic::new(
                self.at.key(&watch),
                "`also_watch` reads Fediverse instances, but this chat is on Bluesky",
            )
            .hint("remove it: Jetstream already carries every Bluesky post");
            self.errors.push(e);
        }
    }

    /// A Fediverse chat's own Bluesky keys are a mistake; inherited ones
    /// are the top level's defaults for its Bluesky chats.
    fn no_bluesky_keys(&mut self, path: &str, c: &RawChat) {
        for key in KEYS.iter().filter(|k| set(c, k)) {
            let at = join(path, key);
            if !self.at.has(&at) {
                continue;
            }
            let e = Diagnostic::new(
                self.at.key(&at),
                format!("`{key}` is a Bluesky key, but this chat is not on Bluesky"),
            )
            .hint("add `platform: bluesky` to the chat, or remove the line");
            self.errors.push(e);
        }
    }
}

fn set(c: &RawChat, key: &str) -> bool {
    match key {
        "handle" => c.handle.is_some(),
        "jetstream" => c.jetstream.is_some(),
        _ => c.appview.is_some(),
    }
}

fn default(url: &str) -> Url {
    Url::parse(url).expect("the built-in Bluesky addresses parse")
}

/// A Bluesky handle (`chatbot.bsky.social`, a leading `@` allowed) or a DID.
pub(super) fn handle(s: &str) -> Result<String, Problem> {
    let text = s.trim().trim_start_matches('@');
    if text.starts_with("did:") && text.len() > 8 && !text.contains(char::is_whitespace) {
        return Ok(text.to_string());
    }
    let labels: Vec<&str> = text.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if labels.len() >= 2 && labels.iter().all(label_ok) {
        return Ok(text.to_lowercase());
    }
    let p = Problem::new(format!(
        "`{}` is not a Bluesky handle like `chatbot.bsky.social`",
        s.trim()
    ));
    Err(match text.split_once('@') {
        // `user@bsky.social`: the handle `user.bsky.social` written Fediverse-style.
        Some((user, domain)) if domain.ends_with("bsky.social") => {
            p.hint(format!("did you mean `{user}.{domain}`?"))
        }
        Some(_) => p.hint(
            "`@user@domain` is a Fediverse handle; on Bluesky write the account's handle (`name.bsky.social` or its own domain) or its DID",
        ),
        None => p.hint("write the account's full handle, e.g. `chatbot.bsky.social`, or its DID"),
    })
}

/// A Jetstream or appview address with one of `schemes`.
fn address(
    s: &str,
    key: &str,
    kind: &str,
    schemes: &[&str],
    example: &str,
) -> Result<Url, Problem> {
    let text = s.trim();
    match Url::parse(text) {
        Ok(url)
            if schemes.contains(&url.scheme()) && url.host_str().is_some_and(|h| !h.is_empty()) =>
        {
            Ok(url)
        }
        _ => Err(
            Problem::new(format!("`{key}` should be {kind} URL, not `{text}`"))
                .hint(format!("e.g. `{example}` (the default)")),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::chats::{parse, Platform};

    #[test]
    fn a_bluesky_chat_gets_bluesky_defaults_and_its_moderators_by_handle_or_did() {
        let source = "platform: bluesky\nchats:\n  - id: a\n    hashtag: A\n    schedule: \"0 20 * * 1\"\n    handle: \"@Bot.bsky.social\"\n    moderators: [alice.bsky.social, \"did:plc:abc123\"]\n    questions: [One?]\n";
        let config = parse(Path::new("chats.yaml"), source).expect("valid");
        let account = config.chats[0].account();
        assert_eq!(account.platform(), Platform::Bluesky);
        assert_eq!(account.server().as_str(), "https://bsky.social/");
        assert_eq!(account.max_characters(), 300);
        let keys = account.bluesky().expect("the Bluesky keys");
        assert_eq!(keys.handle(), "bot.bsky.social");
        assert_eq!(
            keys.jetstream().as_str(),
            "wss://jetstream2.us-east.bsky.network/"
        );
        assert_eq!(keys.appview().as_str(), "https://public.api.bsky.app/");
        assert_eq!(
            config.chats[0].policy().moderators(),
            ["@alice.bsky.social", "did:plc:abc123"]
        );
    }

    #[test]
    fn ignore_rules_cover_bluesky_handles_as_domains() {
        let source = "platform: bluesky\nhandle: bot.bsky.social\nchats:\n  - id: a\n    hashtag: A\n    schedule: \"0 20 * * 1\"\n    ignore: [spammer.bsky.social, \"*.spam.example\"]\n    questions: [One?]\n";
        let config = parse(Path::new("chats.yaml"), source).expect("valid");
        let chat = &config.chats[0];
        assert!(chat.ignores("spammer.bsky.social"));
        assert!(chat.ignores("bot.spam.example"));
        assert!(!chat.ignores("alice.bsky.social"));
        assert!(!chat.ignores("alice@mastodon.example"));
    }

    #[test]
    fn bluesky_counts_graphemes_and_the_fediverse_links_as_23() {
        let text = "👩‍🏫 https://example.org/a/very/long/path/indeed";
        assert_eq!(Platform::Bluesky.length(text), 2 + 43);
        assert_eq!(Platform::Mastodon.length(text), 2 + 23);
    }
}
