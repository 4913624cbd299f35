//! The validated chat: one [`Chat`] with private fields, in four parts
//! grouped by what each is for. Only `chats` (validation) builds one, so
//! holding a `Chat` means every value was checked; the rest of the crate
//! reads it through accessors and shares it by `Arc`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::NaiveDate;
use chrono_tz::Tz;

use super::{
    CaFile, Diagnostics, Draft, Hashtag, IgnoreRule, Platform, QuestionImage, Session, SkipDates,
    TokenSource, Visibility, When,
};

/// One validated chat definition. Not `Clone`: it is shared by `Arc`
/// (see [`super::Config`]), never copied.
#[derive(Debug)]
pub struct Chat {
    pub(super) id: String,
    pub(super) account: Account,
    pub(super) timing: Timing,
    pub(super) content: Content,
    pub(super) policy: Policy,
}

/// Where and as whom the chat posts.
#[derive(Debug, Clone)]
pub struct Account {
    pub(super) server: url::Url,
    pub(super) platform: Platform,
    pub(super) token: TokenSource,
    pub(super) visibility: Visibility,
    /// The instance's post length limit (`max_characters`, 500 when unknown).
    pub(super) max_characters: usize,
    /// Other instances whose public tag timeline is read anonymously
    /// (`also_watch`): answers that never federate to `server`.
    pub(super) also_watch: Vec<url::Url>,
    /// A private CA trusted beside the system's roots (`ca_file:`).
    pub(super) ca_file: Option<CaFile>,
}

/// When runs start and how each unfolds.
#[derive(Debug, Clone)]
pub struct Timing {
    pub(super) when: When,
    pub(super) timezone: Tz,
    pub(super) first_question_after: Duration,
    pub(super) question_interval: Duration,
    pub(super) collect_after: Duration,
    /// How late a missed post may still go out; `None`: until the run ends.
    pub(super) late_limit: Option<Duration>,
    /// How long before the start each reminder goes out, in the order
    /// written (their seqs follow that order, see `schedule::timeline`).
    pub(super) reminders: Vec<Duration>,
    /// Dated sessions, sorted by date, at most one per date.
    pub(super) sessions: Vec<Session>,
    /// Runs on dates without a session are skipped (and the questions may
    /// then be empty).
    pub(super) require_session: bool,
    /// Days without a run (holidays), in the chat's zone, as written.
    pub(super) skip_dates: Vec<SkipDates>,
}

/// What the chat's posts say.
#[derive(Debug, Clone)]
pub struct Content {
    pub(super) hashtag: Hashtag,
    pub(super) intro: String,
    /// What the chat is about, shown in the directory (`hashchat serve`).
    pub(super) description: Option<String>,
    pub(super) questions: Vec<String>,
    /// One entry per question (same length): the image to attach to it.
    pub(super) question_images: Vec<Option<QuestionImage>>,
    pub(super) closing: String,
    /// The reminder's wording; placeholders `{hashtag}`, `{in}`, `{topic}`,
    /// `{host}`. `None`: the built-in sentence.
    pub(super) reminder_text: Option<String>,
    /// ISO 639 code of the chat's posts (`en`, `de`), lowercase.
    pub(super) language: Option<String>,
    /// Spoiler text put on every post of the chat.
    pub(super) content_warning: Option<String>,
}

/// Who steers the chat, whose posts count, and what becomes of them.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Handles `@user@domain`, as written (the leading `@` added).
    pub(super) moderators: Vec<String>,
    /// Accounts and domains whose posts never count as answers.
    pub(super) ignore: Vec<IgnoreRule>,
    /// Handles `@user@domain` left out of recaps (consent, issue 4).
    pub(super) exclude: Vec<String>,
    /// One public reply to a first-time participant's first answer.
    pub(super) welcome_newcomers: bool,
    pub(super) recap_dir: PathBuf,
    /// Post a short summary (with the hashtag) when each run ends.
    pub(super) recap_post: bool,
    /// Where the published recap lives; `{date}` becomes the run's date
    /// (YYYY-MM-DD in the chat's zone). Linked from the summary post.
    pub(super) recap_url: Option<String>,
}

impl Chat {
    /// One chat from the YAML of its entry under `chats:` (`id: …`,
    /// `hashtag: …`, one key a line, without the leading `- `), validated
    /// like chats.yaml. For tests: the server is `https://mastodon.example`
    /// unless the entry names one, and relative image paths start in the
    /// current folder.
    pub fn from_yaml(entry: &str) -> Result<Chat, Diagnostics> {
        let mut source = String::from("server: https://mastodon.example\nchats:\n");
        for (i, line) in entry.lines().enumerate() {
            source.push_str(if i == 0 { "  - " } else { "    " });
            source.push_str(line);
            source.push('\n');
        }
        let (chats, _) = Draft::parse(Path::new("chat.yaml"), &source).finish_chats()?;
        chats.into_iter().next().ok_or_else(|| {
            let message = "the YAML holds no chat";
            Diagnostics::whole_file("chat.yaml".into(), message, None)
        })
    }

    /// The chat's name on the command line and in the database.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn account(&self) -> &Account {
        &self.account
    }

    pub fn timing(&self) -> &Timing {
        &self.timing
    }

    pub fn content(&self) -> &Content {
        &self.content
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Whether posts by `handle` (`user@domain`, a leading `@` allowed)
    /// are ignored; case-insensitive.
    pub fn ignores(&self, handle: &str) -> bool {
        IgnoreRule::any_covers(&self.policy.ignore, handle)
    }
}

impl Account {
    pub fn server(&self) -> &url::Url {
        &self.server
    }
    pub fn platform(&self) -> Platform {
        self.platform
    }
    pub fn also_watch(&self) -> &[url::Url] {
        &self.also_watch
    }
    pub fn token(&self) -> &TokenSource {
        &self.token
    }
    pub fn ca_file(&self) -> Option<&CaFile> {
        self.ca_file.as_ref()
    }
    /// The certificates every connection of the account trusts beside the
    /// system's roots: `ca_file:`'s, or none.
    pub fn ca_certificates(&self) -> &[rustls::pki_types::CertificateDer<'static>] {
        self.ca_file.as_ref().map_or(&[], |c| &c.certificates)
    }
    pub fn visibility(&self) -> Visibility {
        self.visibility
    }
    pub fn max_characters(&self) -> usize {
        self.max_characters
    }
}

impl Timing {
    pub fn when(&self) -> &When {
        &self.when
    }
    pub fn timezone(&self) -> Tz {
        self.timezone
    }
    pub fn first_question_after(&self) -> Duration {
        self.first_question_after
    }
    pub fn question_interval(&self) -> Duration {
        self.question_interval
    }
    pub fn collect_after(&self) -> Duration {
        self.collect_after
    }
    pub fn late_limit(&self) -> Option<Duration> {
        self.late_limit
    }
    pub fn reminders(&self) -> &[Duration] {
        &self.reminders
    }
    pub fn sessions(&self) -> &[Session] {
        &self.sessions
    }
    pub fn require_session(&self) -> bool {
        self.require_session
    }
    pub fn skip_dates(&self) -> &[SkipDates] {
        &self.skip_dates
    }
    /// Whether `day` (in the chat's zone) is one of `skip_dates`.
    pub fn skips(&self, day: NaiveDate) -> bool {
        self.skip_dates.iter().any(|s| s.contains(day))
    }
}

impl Content {
    pub fn hashtag(&self) -> &Hashtag {
        &self.hashtag
    }
    pub fn intro(&self) -> &str {
        &self.intro
    }
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    pub fn questions(&self) -> &[String] {
        &self.questions
    }
    pub fn question_images(&self) -> &[Option<QuestionImage>] {
        &self.question_images
    }
    pub fn closing(&self) -> &str {
        &self.closing
    }
    pub fn reminder_text(&self) -> Option<&str> {
        self.reminder_text.as_deref()
    }
    pub fn language(&self) -> Option<&str> {
        self.language.as_deref()
    }
    pub fn content_warning(&self) -> Option<&str> {
        self.content_warning.as_deref()
    }
}

impl Policy {
    pub fn moderators(&self) -> &[String] {
        &self.moderators
    }
    pub fn ignore(&self) -> &[IgnoreRule] {
        &self.ignore
    }
    pub fn exclude(&self) -> &[String] {
        &self.exclude
    }
    pub fn welcome_newcomers(&self) -> bool {
        self.welcome_newcomers
    }
    pub fn recap_dir(&self) -> &Path {
        &self.recap_dir
    }
    pub fn recap_post(&self) -> bool {
        self.recap_post
    }
    pub fn recap_url(&self) -> Option<&str> {
        self.recap_url.as_deref()
    }
}

/// Setters for the crate's unit tests, which vary one part of a valid chat
/// (what a test needs that YAML cannot say, such as a session's image that
/// does not exist). Nothing else changes a `Chat` after validation.
#[cfg(test)]
impl Chat {
    pub(crate) fn set_when(&mut self, when: When, timezone: Tz) {
        self.timing.when = when;
        self.timing.timezone = timezone;
    }
    pub(crate) fn set_posts(&mut self, intro: &str, questions: &[&str], closing: &str) {
        self.content.intro = intro.into();
        self.content.questions = questions.iter().map(|q| q.to_string()).collect();
        self.content.question_images = vec![None; questions.len()];
        self.content.closing = closing.into();
    }
    pub(crate) fn set_sessions(&mut self, sessions: Vec<Session>, require_session: bool) {
        self.timing.sessions = sessions;
        self.timing.require_session = require_session;
    }
    pub(crate) fn set_reminders(&mut self, reminders: Vec<Duration>) {
        self.timing.reminders = reminders;
    }
}
