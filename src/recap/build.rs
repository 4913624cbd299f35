//! Reads one run's recap data from the store, and writes the recap files
//! at the end of a run.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use anyhow::Context;

use super::render::Format;
use super::{Answer, OtherPost, Participant, QuestionRecap, Recap, RunInfo, Stats, TOP_ANSWERS};
use crate::chats::Chat;
use crate::schedule::PostKind;
use crate::store::{PostRow, StatusRow, Store};

/// The recap of run `run_id` of `chat`. Deleted statuses are left out;
/// a post answering several questions appears under each.
pub async fn build(store: &Store, chat: &Chat, run_id: i64) -> anyhow::Result<Recap> {
    let run = store
        .run(run_id)
        .await?
        .with_context(|| format!("no run {run_id} in the database"))?;
    anyhow::ensure!(
        run.chat_id == chat.id(),
        "run {run_id} belongs to chat `{}`, not `{}`",
        run.chat_id,
        chat.id()
    );
    let posts = store.posts(run_id).await?;
    let statuses = store.statuses(run_id).await?;
    let seen_before = store
        .accounts_seen_before(chat.id(), run.planned_start)
        .await?;
    let deleted = store.deleted_count(run_id).await?;
    let html = store.status_html(run_id).await?;

    let mut sorted = Sorted::new(&posts, &seen_before, html);
    for status in statuses.iter().filter(|s| s.deleted_at.is_none()) {
        sorted.add(status);
    }
    let mut recap = Recap {
        chat: chat.id().to_string(),
        hashtag: chat.content().hashtag().as_str().to_string(),
        timezone: chat.timing().timezone().name().to_string(),
        run: RunInfo {
            id: run.id,
            started_at: run.started_at,
            ended_at: run.ended_at.map(|_| run.collect_until),
        },
        participants: sorted.participants(),
        questions: sorted.questions,
        other_posts: sorted.other_posts,
        stats: Stats::default(),
    };
    recap.stats = super::stats(&recap, deleted as usize);
    // Consent comes last, so the totals above still count hidden posts.
    hide(&mut recap, &hidden_accounts(store, chat).await?);
    mark_top_answers(&mut recap);
    Ok(recap)
}

/// A run's statuses sorted into answers under their questions, other
/// posts, and who took part.
struct Sorted<'a> {
    questions: Vec<QuestionRecap>,
    participants: BTreeMap<String, Participant>,
    other_posts: Vec<OtherPost>,
    seen_before: &'a HashSet<String>,
    html: HashMap<String, String>,
}

impl<'a> Sorted<'a> {
    fn new(
        posts: &[PostRow],
        seen_before: &'a HashSet<String>,
        html: HashMap<String, String>,
    ) -> Self {
        let questions = posts
            .iter()
            .filter(|p| p.kind == PostKind::Question)
            .map(|p| QuestionRecap {
                number: p.number.unwrap_or(p.seq),
                text: p.body.clone(),
                status_id: p.status_id.clone(),
                url: p.url.clone(),
                posted_at: p.posted_at,
                answers: Vec::new(),
            })
            .collect();
        Self {
            questions,
            participants: BTreeMap::new(),
            other_posts: Vec::new(),
            seen_before,
            html,
        }
    }

    fn add(&mut self, status: &StatusRow) {
        let who = self
            .participants
            .entry(status.account.clone())
            .or_insert_with(|| Participant {
                account: status.account.clone(),
                display_name: status.display_name.clone(),
                answers: 0,
                posts: 0,
                first_time: !self.seen_before.contains(&status.account),
            });
        who.posts += 1;
        let status_html = self.html.remove(&status.status_id).unwrap_or_default();
        if status.answers.is_empty() {
            self.other_posts.push(other_post(status, status_html));
            return;
        }
        who.answers += 1;
        for number in &status.answers {
            if let Some(question) = self.questions.iter_mut().find(|q| q.number == *number) {
                question.answers.push(answer(status, status_html.clone()));
            }
        }
    }

    /// Most active first, then by handle, so the list is stable.
    fn participants(&mut self) -> Vec<Participant> {
        let mut participants: Vec<Participant> = std::mem::take(&mut self.participants)
            .into_values()
            .collect();
        participants.sort_by(|a, b| {
            b.posts
                .cmp(&a.posts)
                .then_with(|| a.account.cmp(&b.account))
        });
        participants
    }
}

fn other_post(status: &StatusRow, html: String) -> OtherPost {
    OtherPost {
        status_id: status.status_id.clone(),
        account: status.account.clone(),
        display_name: status.display_name.clone(),
        text: status.text.clone(),
        html,
        created_at: status.created_at,
        edited_at: status.edited_at,
        url: status.url.clone(),
        hidden: false,
    }
}

fn answer(status: &StatusRow, html: String) -> Answer {
    Answer {
        status_id: status.status_id.clone(),
        account: status.account.clone(),
        display_name: status.display_name.clone(),
        text: status.text.clone(),
        html,
        created_at: status.created_at,
        edited_at: status.edited_at,
        url: status.url.clone(),
        hidden: false,
        favourites: status
            .favourites
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0),
        boosts: status
            .boosts
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0),
        top: false,
    }
}

/// Marks the top answers: the [`TOP_ANSWERS`] answer posts with the most
/// favourites plus boosts, ties at the last place included, none without
/// any, none hidden. A post under two questions is marked under both.
pub fn mark_top_answers(recap: &mut Recap) {
    let mut scores: Vec<(u64, &str)> = Vec::new();
    for a in recap.questions.iter().flat_map(|q| &q.answers) {
        let score = a.favourites + a.boosts;
        if score > 0 && !a.hidden && !scores.iter().any(|(_, id)| *id == a.status_id) {
            scores.push((score, &a.status_id));
        }
    }
    scores.sort_by_key(|&(score, _)| std::cmp::Reverse(score));
    let Some(&(cutoff, _)) = scores.get(TOP_ANSWERS - 1).or(scores.last()) else {
        return;
    };
    let top: HashSet<String> = scores
        .iter()
        .filter(|(score, _)| *score >= cutoff)
        .map(|(_, id)| id.to_string())
        .collect();
    for a in recap
        .questions
        .iter_mut()
        .flat_map(|q| q.answers.iter_mut())
    {
        a.top = top.contains(&a.status_id);
    }
}

/// Accounts whose posts the recap hides (lowercase `user@domain`): those
/// who opted out, and those the chat excludes.
async fn hidden_accounts(store: &Store, chat: &Chat) -> anyhow::Result<HashSet<String>> {
    let mut hidden = store.opted_out().await?;
    hidden.extend(
        chat.policy()
            .exclude()
            .iter()
            .map(|h| h.trim_start_matches('@').to_lowercase()),
    );
    Ok(hidden)
}

/// What a hidden post shows instead of its words.
pub const HIDDEN: &str = "Hidden at the author's request.";

/// Leaves out who wrote, and what, for every post of an account in
/// `hidden` (lowercase `user@domain`): participants who opted out, or
/// are excluded in chats.yaml. Applies to past runs re-rendered too.
fn hide(recap: &mut Recap, hidden: &std::collections::HashSet<String>) {
    if hidden.is_empty() {
        return;
    }
    let is_hidden = |account: &str| hidden.contains(&account.to_lowercase());
    let blank = |account: &mut String,
                 name: &mut String,
                 text: &mut String,
                 html: &mut String,
                 url: &mut String| {
        account.clear();
        *name = "A participant".into();
        *text = HIDDEN.into();
        html.clear();
        url.clear();
    };
    for answer in recap
        .questions
        .iter_mut()
        .flat_map(|q| q.answers.iter_mut())
    {
        if is_hidden(&answer.account) {
            blank(
                &mut answer.account,
                &mut answer.display_name,
                &mut answer.text,
                &mut answer.html,
                &mut answer.url,
            );
            answer.hidden = true;
            (answer.favourites, answer.boosts) = (0, 0);
        }
    }
    for post in &mut recap.other_posts {
        if is_hidden(&post.account) {
            blank(
                &mut post.account,
                &mut post.display_name,
                &mut post.text,
                &mut post.html,
                &mut post.url,
            );
            post.hidden = true;
        }
    }
    recap.participants.retain(|p| !is_hidden(&p.account));
    recap
        .stats
        .top_contributors
        .retain(|p| !is_hidden(&p.account));
}

/// Writes the run's recap in every format to
/// `<recap_dir>/<chat>/<local date><suffix>.<ext>`; returns the paths.
pub async fn write_files(
    store: &Store,
    chat: &Chat,
    run_id: i64,
    suffix: &str,
) -> anyhow::Result<Vec<PathBuf>> {
    let recap = build(store, chat, run_id).await?;
    let run = store.run(run_id).await?.context("the run vanished")?;
    let date = run
        .planned_start
        .with_timezone(&chat.timing().timezone())
        .format("%Y-%m-%d");
    let dir = chat.policy().recap_dir().join(chat.id());
    tokio::fs::create_dir_all(&dir)
        .await
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    for format in Format::ALL {
        let path = dir.join(format!("{date}{suffix}.{}", format.extension()));
        tokio::fs::write(&path, recap.render(format))
            .await
            .with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recap(scores: &[(&str, u64, u64, bool)]) -> Recap {
        let answers = scores
            .iter()
            .map(|&(id, favourites, boosts, hidden)| Answer {
                status_id: id.into(),
                account: String::new(),
                display_name: String::new(),
                text: String::new(),
                html: String::new(),
                created_at: chrono::DateTime::UNIX_EPOCH,
                edited_at: None,
                url: String::new(),
                hidden,
                favourites,
                boosts,
                top: false,
            })
            .collect();
        Recap {
            chat: String::new(),
            hashtag: String::new(),
            timezone: String::new(),
            run: RunInfo {
                id: 1,
                started_at: None,
                ended_at: None,
            },
            questions: vec![QuestionRecap {
                number: 1,
                text: String::new(),
                status_id: None,
                url: None,
                posted_at: None,
                answers,
            }],
            participants: Vec::new(),
            other_posts: Vec::new(),
            stats: Stats::default(),
        }
    }

    #[test]
    fn the_answers_with_the_most_reactions_are_marked_top() {
        // (answers as (id, favourites, boosts, hidden), the ids marked top)
        type Case<'a> = (&'a [(&'a str, u64, u64, bool)], &'a [&'a str], &'a str);
        let cases: [Case; 5] = [
            (&[], &[], "no answers, none top"),
            (&[("a", 0, 0, false)], &[], "no reaction, not top"),
            (
                &[
                    ("a", 5, 0, false),
                    ("b", 1, 3, false),
                    ("c", 2, 0, false),
                    ("d", 1, 0, false),
                ],
                &["a", "b", "c"],
                "the three with the most, boosts counting as favourites",
            ),
            (
                &[
                    ("a", 5, 0, false),
                    ("b", 2, 0, false),
                    ("c", 2, 0, false),
                    ("d", 2, 0, false),
                ],
                &["a", "b", "c", "d"],
                "ties at the last place are all top",
            ),
            (
                &[("a", 9, 9, true), ("b", 1, 0, false)],
                &["b"],
                "a hidden answer is never top",
            ),
        ];
        for (answers, expected, why) in cases {
            let mut recap = recap(answers);
            mark_top_answers(&mut recap);
            let top: Vec<&str> = recap.questions[0]
                .answers
                .iter()
                .filter(|a| a.top)
                .map(|a| a.status_id.as_str())
                .collect();
            assert_eq!(top, expected, "{why}");
        }
    }
}
