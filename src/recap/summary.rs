//! `recap_post: true`: the short summary the bot posts when a run ends,
//! threaded when it does not fit the instance's character limit.

use crate::chats::{Hashtag, Platform};

use super::Recap;

/// The summary as one or more posts, each within `limit` characters (as
/// the chat's `platform` counts them) and each carrying the hashtag.
pub fn summary_posts(
    recap: &Recap,
    url: Option<&str>,
    limit: usize,
    platform: Platform,
) -> Vec<String> {
    let tag = format!("#{}", recap.hashtag);
    let stats = &recap.stats;
    let mut lines = vec![format!(
        "Thank you for joining {tag}! {} {}, {} {}.",
        stats.participants,
        plural(stats.participants, "participant", "participants"),
        stats.answers,
        plural(stats.answers, "answer", "answers"),
    )];
    for question in &recap.questions {
        let n = question.answers.len();
        lines.push(format!(
            "Q{}: {n} {}",
            question.number,
            plural(n, "answer", "answers")
        ));
    }
    if let Some(url) = url {
        lines.push(format!("The recap: {url}"));
    }
    pack(&lines, &tag, limit, platform)
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// Packs lines into posts of at most `limit`, each ending with the tag
/// (added when the post lacks it). A line too long on its own is cut.
fn pack(lines: &[String], tag: &str, limit: usize, platform: Platform) -> Vec<String> {
    let fits = |text: &str| platform.length(&with_tag(text, tag)) <= limit;
    let mut posts: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in lines {
        let candidate = if current.is_empty() {
            line.clone()
        } else {
            format!("{current}\n{line}")
        };
        if fits(&candidate) {
            current = candidate;
            continue;
        }
        if !current.is_empty() {
            posts.push(with_tag(&current, tag));
        }
        current = line.clone();
        while !fits(&current) && current.chars().count() > 1 {
            let keep = current.chars().count() - 1;
            current = current.chars().take(keep).collect();
        }
    }
    if !current.is_empty() {
        posts.push(with_tag(&current, tag));
    }
    posts
}

fn with_tag(text: &str, tag: &str) -> String {
    // A recap's tag comes from a validated chat; were it not a tag, adding
    // it again is the harmless side to err on.
    if Hashtag::parse(tag).is_ok_and(|t| t.found_in(text)) {
        text.to_string()
    } else {
        format!("{text} {tag}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recap::{QuestionRecap, RunInfo, Stats};

    fn recap(questions: u32) -> Recap {
        Recap {
            chat: "1qedchat".into(),
            hashtag: "1QEdChat".into(),
            timezone: "Europe/London".into(),
            run: RunInfo {
                id: 1,
                started_at: None,
                ended_at: None,
            },
            questions: (1..=questions)
                .map(|number| QuestionRecap {
                    number,
                    text: format!("Question {number}"),
                    status_id: None,
                    url: None,
                    posted_at: None,
                    answers: Vec::new(),
                })
                .collect(),
            participants: Vec::new(),
            other_posts: Vec::new(),
            stats: Stats {
                participants: 12,
                answers: 1,
                ..Stats::default()
            },
        }
    }

    #[test]
    fn a_short_summary_is_one_post_with_the_counts_the_link_and_the_hashtag() {
        let posts = summary_posts(
            &recap(2),
            Some("https://school.example/r/2026-12-03.html"),
            500,
            Platform::Mastodon,
        );
        assert_eq!(
            posts,
            vec![
                "Thank you for joining #1QEdChat! 12 participants, 1 answer.\nQ1: 0 answers\nQ2: 0 answers\n\
                 The recap: https://school.example/r/2026-12-03.html"
                    .to_string()
            ]
        );
    }

    #[test]
    fn on_bluesky_a_long_link_counts_in_full_against_the_limit() {
        let url = format!("https://school.example/{}", "r".repeat(60));
        let posts = summary_posts(&recap(2), Some(&url), 100, Platform::Bluesky);
        assert!(posts.len() > 1, "{posts:?}");
        for post in &posts {
            assert!(crate::chats::graphemes(post) <= 100, "{post}");
        }
    }

    #[test]
    fn a_long_summary_is_threaded_within_the_limit_each_post_tagged() {
        let posts = summary_posts(&recap(40), None, 100, Platform::Mastodon);
        assert!(posts.len() > 1, "{posts:?}");
        for post in &posts {
            assert!(crate::chats::post_length(post) <= 100, "{post}");
            assert!(post.contains("#1QEdChat"), "{post}");
        }
        let all = posts.join("\n");
        assert!(all.contains("Q1: 0 answers") && all.contains("Q40: 0 answers"));
    }
}
