use super::*;
use crate::chats::{test_chat, Hashtag};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("test time")
        .with_timezone(&Utc)
}

fn weekly(expr: &str, zone: &str) -> Chat {
    let schedule = Box::new(classic_cron(expr).expect("test cron"));
    let when = When::Recurring {
        expr: expr.into(),
        schedule,
    };
    test_chat(when, zone.parse().expect("test zone"))
}

fn starts(expr: &str, zone: &str, after: &str, n: usize) -> Vec<String> {
    next_starts(&weekly(expr, zone), utc(after), n)
        .iter()
        .map(|t| t.to_rfc3339())
        .collect()
}

#[test]
fn classic_weekday_numbers_follow_unix_cron() {
    // 2026-12-03 is a Thursday; every case starts looking on Monday 2026-11-30.
    let cases = [
        ("0 20 * * 4", "2026-12-03T20:00:00+00:00", "4 is Thursday"),
        ("0 20 * * 0", "2026-12-06T20:00:00+00:00", "0 is Sunday"),
        ("0 20 * * 7", "2026-12-06T20:00:00+00:00", "7 is Sunday too"),
        ("0 20 * * 6", "2026-12-05T20:00:00+00:00", "6 is Saturday"),
        ("0 20 * * thu", "2026-12-03T20:00:00+00:00", "names work"),
        (
            "0 20 * * 5-7",
            "2026-12-04T20:00:00+00:00",
            "ranges reach Sunday",
        ),
        ("0 8 * * 1-5", "2026-11-30T08:00:00+00:00", "weekdays"),
        ("0 20 * * 3,4", "2026-12-02T20:00:00+00:00", "lists"),
    ];
    for (expr, expected, why) in cases {
        let got = starts(expr, "UTC", "2026-11-30T00:00:00Z", 1);
        assert_eq!(got, [expected], "{expr}: {why}");
    }
}

#[test]
fn one_to_five_covers_monday_to_friday_only() {
    let got = starts("0 8 * * 1-5", "UTC", "2026-11-29T00:00:00Z", 6);
    let days: Vec<&str> = got.iter().map(|s| &s[..10]).collect();
    assert_eq!(
        days,
        [
            "2026-11-30",
            "2026-12-01",
            "2026-12-02",
            "2026-12-03",
            "2026-12-04",
            "2026-12-07"
        ]
    );
}

#[test]
fn shorthands_and_steps_are_understood() {
    let cases = [
        ("@weekly", "2026-12-06T00:00:00+00:00"),
        ("@daily", "2026-12-01T00:00:00+00:00"),
        ("*/20 9 * * *", "2026-11-30T09:00:00+00:00"),
        ("30 9 1 dec *", "2026-12-01T09:30:00+00:00"),
    ];
    for (expr, expected) in cases {
        assert_eq!(
            starts(expr, "UTC", "2026-11-30T00:00:00Z", 1),
            [expected],
            "{expr}"
        );
    }
}

#[test]
fn bad_cron_names_the_field_at_fault() {
    let cases = [
        ("0 25 * * 4", "hour `25` is out of range 0-23", 2, 2),
        ("0 20 * * 8", "day of week `8` is out of range 0-7", 9, 1),
        ("0 20 * * fr", "day of week `fr` is neither a number 0-7 nor a name like `sun`", 9, 2),
        ("x 20 * * 4", "minute `x` is not a number 0-59", 0, 1),
        ("0 20 * 13 4", "month `13` is out of range 1-12", 7, 2),
        ("0 20 * * 5-1", "the range `5-1` in the day of week field goes backwards", 9, 3),
        ("*/0 20 * * 4", "step `0` in the minute field should be a number from 1 to 59", 0, 3),
        ("0 20 * *", "a schedule has 5 fields (minute hour day-of-month month day-of-week), this one has 4", 0, 8),
        ("0 0 20 * * 4", "a schedule has 5 fields (minute hour day-of-month month day-of-week), this one has 6; it looks like a cron with seconds: drop the first field", 0, 12),
        ("0 20 1 * 4", "a schedule cannot restrict both the day of month and the day of week (classic cron would run when either matches); put `*` in one of them", 0, 10),
        ("0 0 30 2 *", "`0 0 30 2 *` never happens: no month has that day", 0, 10),
        ("@reboot", "unknown shorthand `@reboot`; use @hourly, @daily, @weekly, @monthly or @yearly", 0, 7),
        ("0 20,,21 * * 4", "the hour field has an empty item", 5, 1),
    ];
    for (expr, message, start, len) in cases {
        let e = parse_classic(expr).expect_err(expr);
        assert_eq!(
            (e.message.as_str(), e.start, e.len),
            (message, start, len),
            "{expr}"
        );
    }
}

#[test]
fn a_weekly_london_chat_keeps_its_local_time_across_both_changes() {
    // BST starts 2026-03-29 and ends 2026-10-25.
    let spring = starts("0 20 * * 4", "Europe/London", "2026-03-20T00:00:00Z", 2);
    assert_eq!(
        spring,
        ["2026-03-26T20:00:00+00:00", "2026-04-02T19:00:00+00:00"]
    );
    let autumn = starts("0 20 * * 4", "Europe/London", "2026-10-20T00:00:00Z", 2);
    assert_eq!(
        autumn,
        ["2026-10-22T19:00:00+00:00", "2026-10-29T20:00:00+00:00"]
    );
}

#[test]
fn a_weekly_new_york_chat_keeps_its_local_time_across_both_changes() {
    // EDT starts 2026-03-08 and ends 2026-11-01.
    let spring = starts("0 20 * * 4", "America/New_York", "2026-03-01T00:00:00Z", 2);
    assert_eq!(
        spring,
        ["2026-03-06T01:00:00+00:00", "2026-03-13T00:00:00+00:00"]
    );
    let autumn = starts("0 20 * * 4", "America/New_York", "2026-10-25T00:00:00Z", 2);
    assert_eq!(
        autumn,
        ["2026-10-30T00:00:00+00:00", "2026-11-06T01:00:00+00:00"]
    );
}

#[test]
fn a_time_skipped_by_spring_forward_runs_when_the_gap_ends() {
    // New York has no 02:30 on 2026-03-08: the chat runs at 03:00 EDT.
    let ny = starts("30 2 * * 0", "America/New_York", "2026-03-02T00:00:00Z", 3);
    assert_eq!(
        ny,
        [
            "2026-03-08T07:00:00+00:00",
            "2026-03-15T06:30:00+00:00",
            "2026-03-22T06:30:00+00:00"
        ]
    );
    // London has no 01:30 on 2026-03-29: the chat runs at 02:00 BST.
    let london = starts("30 1 * * 0", "Europe/London", "2026-03-23T00:00:00Z", 2);
    assert_eq!(
        london,
        ["2026-03-29T01:00:00+00:00", "2026-04-05T00:30:00+00:00"]
    );
}

#[test]
fn a_time_repeated_by_fall_back_runs_once_at_the_first() {
    // 01:30 happens twice in New York on 2026-11-01 (EDT, then EST).
    let got = starts("30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", 3);
    assert_eq!(
        got,
        [
            "2026-11-01T05:30:00+00:00",
            "2026-11-02T06:30:00+00:00",
            "2026-11-03T06:30:00+00:00"
        ]
    );
    // Asked from between the two 01:30s, the repeat is not a new run.
    let between = starts("30 1 * * *", "America/New_York", "2026-11-01T06:00:00Z", 1);
    assert_eq!(between, ["2026-11-02T06:30:00+00:00"]);
}

#[test]
fn an_hourly_chat_skips_nothing_and_doubles_nothing_around_the_gap() {
    let got = starts("30 * * * *", "America/New_York", "2026-03-08T05:00:00Z", 3);
    // 00:30 EST, 01:30 EST, then 03:00 EDT (for 02:30) and 03:30 EDT.
    assert_eq!(
        got,
        [
            "2026-03-08T05:30:00+00:00",
            "2026-03-08T06:30:00+00:00",
            "2026-03-08T07:00:00+00:00"
        ]
    );
    let next = starts("30 * * * *", "America/New_York", "2026-03-08T07:00:00Z", 1);
    assert_eq!(next, ["2026-03-08T07:30:00+00:00"]);
}

#[test]
fn a_one_off_chat_starts_once_and_only_in_the_future() {
    let chat = test_chat(When::Once(utc("2026-12-03T20:00:00Z")), Tz::UTC);
    assert_eq!(
        next_starts(&chat, utc("2026-12-01T00:00:00Z"), 5),
        [utc("2026-12-03T20:00:00Z")]
    );
    assert!(next_starts(&chat, utc("2026-12-03T20:00:00Z"), 5).is_empty());
    assert!(next_starts(&chat, utc("2026-12-01T00:00:00Z"), 0).is_empty());
}

#[test]
fn the_timeline_spaces_questions_and_tags_every_post() {
    let mut chat = weekly("0 20 * * 4", "Europe/London");
    chat.set_posts(
        "Welcome to #1QEdChat!",
        &["First?", "Second? #1qedchat", "Third?"],
        "Thanks!",
    );
    let t = timeline(&chat, utc("2026-12-03T20:00:00Z"));
    let got: Vec<(u32, PostKind, Option<u32>, String, &str)> = t
        .posts
        .iter()
        .map(|p| {
            (
                p.seq,
                p.kind,
                p.number,
                p.at.format("%H:%M").to_string(),
                p.text.as_str(),
            )
        })
        .collect();
    let expected = [
        (0, PostKind::Intro, None, "20:00", "Welcome to #1QEdChat!"),
        (
            1,
            PostKind::Question,
            Some(1),
            "20:05",
            "Q1: First? #1QEdChat",
        ),
        (
            2,
            PostKind::Question,
            Some(2),
            "20:15",
            "Q2: Second? #1qedchat",
        ),
        (
            3,
            PostKind::Question,
            Some(3),
            "20:25",
            "Q3: Third? #1QEdChat",
        ),
        (4, PostKind::Closing, None, "20:35", "Thanks! #1QEdChat"),
    ];
    let expected: Vec<_> = expected
        .into_iter()
        .map(|(s, k, n, at, text)| (s, k, n, at.to_string(), text))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(t.collect_until, utc("2026-12-03T21:05:00Z"));
}

#[test]
fn a_longer_tag_is_not_the_chat_tag() {
    let tag = Hashtag::parse("1QEdChat").expect("tag");
    assert_eq!(
        with_hashtag("Join #1QEdChatter", &tag),
        "Join #1QEdChatter #1QEdChat"
    );
    assert_eq!(with_hashtag("Join #1qedchat.", &tag), "Join #1qedchat.");
}

fn session(date: &str, topic: Option<&str>, questions: &[&str]) -> crate::chats::Session {
    crate::chats::Session {
        date: date.parse().expect("test date"),
        topic: topic.map(String::from),
        host: Some("@guest@school.example".into()),
        questions: questions.iter().map(|q| q.to_string()).collect(),
        question_images: vec![None; questions.len()],
        intro: None,
        closing: Some("Thanks {host}!".into()),
    }
}

#[test]
fn a_session_date_uses_its_questions_and_reminders_come_first_with_stable_seqs() {
    let mut chat = weekly("0 20 * * 4", "Europe/London");
    chat.set_sessions(
        vec![session("2026-12-03", Some("Feedback"), &["A?", "B?", "C?"])],
        false,
    );
    chat.set_reminders(vec![
        std::time::Duration::from_secs(15 * 60),
        std::time::Duration::from_secs(24 * 3600),
    ]);
    let t = timeline(&chat, utc("2026-12-03T20:00:00Z"));
    let got: Vec<(u32, PostKind, String)> = t
        .posts
        .iter()
        .map(|p| (p.seq, p.kind, p.at.format("%d %H:%M").to_string()))
        .collect();
    let expected = [
        (6, PostKind::Reminder, "02 20:00"),
        (5, PostKind::Reminder, "03 19:45"),
        (0, PostKind::Intro, "03 20:00"),
        (1, PostKind::Question, "03 20:05"),
        (2, PostKind::Question, "03 20:15"),
        (3, PostKind::Question, "03 20:25"),
        (4, PostKind::Closing, "03 20:35"),
    ];
    let expected: Vec<_> = expected
        .into_iter()
        .map(|(s, k, at)| (s, k, at.to_string()))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(
        t.posts[1].text,
        "#1QEdChat starts in 15 minutes: Feedback, hosted by @guest@school.example"
    );
    assert_eq!(
        t.posts[0].text,
        "#1QEdChat starts in 24 hours: Feedback, hosted by @guest@school.example"
    );
    assert_eq!(t.posts[6].text, "Thanks @guest@school.example! #1QEdChat");
    // Another date falls back to the chat's own questions.
    let other = timeline(&chat, utc("2026-12-10T20:00:00Z"));
    assert_eq!(
        other
            .posts
            .iter()
            .filter(|p| p.kind == PostKind::Question)
            .count(),
        2
    );
    assert_eq!(
        other.posts[0].text,
        "#1QEdChat starts in 24 hours. Join us!"
    );
}

#[test]
fn require_session_skips_dates_without_one_and_ends_after_the_last() {
    let mut chat = weekly("0 20 * * 4", "Europe/London");
    let sessions = vec![
        session("2026-12-03", None, &["A?"]),
        session("2026-12-17", None, &["B?"]),
    ];
    chat.set_sessions(sessions.clone(), true);
    let got = next_starts(&chat, utc("2026-11-30T00:00:00Z"), 5);
    assert_eq!(
        got,
        [utc("2026-12-03T20:00:00Z"), utc("2026-12-17T20:00:00Z")]
    );
    chat.set_sessions(sessions, false);
    assert_eq!(next_starts(&chat, utc("2026-11-30T00:00:00Z"), 5).len(), 5);
}

#[test]
fn runs_on_knows_the_scheduled_days_in_the_chats_zone() {
    // 20:00 in Los Angeles is 04:00 UTC the next day: the local day counts.
    let chat = weekly("0 20 * * 4", "America/Los_Angeles");
    let day = |s: &str| s.parse::<chrono::NaiveDate>().expect("date");
    assert!(runs_on(&chat, day("2026-12-03")));
    assert!(!runs_on(&chat, day("2026-12-04")));
    let once = test_chat(
        When::Once(utc("2026-12-04T04:00:00Z")),
        "America/Los_Angeles".parse().expect("zone"),
    );
    assert!(runs_on(&once, day("2026-12-03")));
    assert!(!runs_on(&once, day("2026-12-04")));
}

#[test]
fn reminder_delays_read_as_people_say_them() {
    let cases = [
        (15 * 60, "15 minutes"),
        (3600, "1 hour"),
        (5400, "1 hour 30 minutes"),
        (24 * 3600, "24 hours"),
        (48 * 3600, "2 days"),
        (30, "30 seconds"),
    ];
    for (secs, text) in cases {
        assert_eq!(human(std::time::Duration::from_secs(secs)), text);
    }
}

#[test]
fn a_runs_plan_carries_each_posts_body_key_and_image_and_wakes_for_the_first_reminder() {
    let mut chat = weekly("0 20 * * 4", "Europe/London");
    let mut on_date = session("2026-12-03", Some("Feedback"), &["A?", "B?"]);
    let image = crate::chats::QuestionImage {
        path: "b.png".into(),
        alt: "A chart".into(),
    };
    on_date.question_images = vec![None, Some(image.clone())];
    chat.set_sessions(vec![on_date], false);
    chat.set_reminders(vec![std::time::Duration::from_secs(15 * 60)]);
    let start = utc("2026-12-03T20:00:00Z");
    let plan = RunPlan::new(&chat, start);

    assert_eq!(plan.question_count, 2, "the session's questions");
    assert_eq!(plan.wake_at(), utc("2026-12-03T19:45:00Z"));
    assert_eq!(plan.collect_until, timeline(&chat, start).collect_until);
    let got: Vec<(u32, &str, &str)> = plan
        .posts
        .iter()
        .map(|p| (p.post.seq, p.body.as_str(), p.idempotency_key.as_str()))
        .collect();
    // Keys must not change between versions: a run resumed after an
    // upgrade resends with the key its first attempt used.
    let key = |seq: u32| format!("hashchat:{}:{}-{seq}", chat.id(), start.timestamp());
    let (k4, k0, k1, k2, k3) = (key(4), key(0), key(1), key(2), key(3));
    assert_eq!(
        got,
        [
            (4, plan.posts[0].post.text.as_str(), k4.as_str()),
            (0, plan.posts[1].post.text.as_str(), k0.as_str()),
            (1, "A?", k1.as_str()),
            (2, "B?", k2.as_str()),
            (3, plan.posts[4].post.text.as_str(), k3.as_str()),
        ]
    );
    assert_eq!(plan.image(1), None);
    assert_eq!(plan.image(2), Some(&image));
    assert_eq!(
        plan.summary_key(1),
        format!("hashchat:{}:{}-summary-1", chat.id(), start.timestamp())
    );
}

/// A weekly chat on Thursdays 20:00 in `zone` with `skip_dates: [dates]`.
fn skipping(zone: &str, dates: &str) -> Chat {
    Chat::from_yaml(&format!(
        "id: a\nhashtag: A\nschedule: \"0 20 * * 4\"\ntimezone: {zone}\nquestions: [Q?]\nskip_dates: [{dates}]"
    ))
    .expect("valid chat")
}

#[test]
fn skip_dates_take_runs_out_of_the_schedule_days_and_ranges_alike() {
    let chat = skipping(
        "Europe/London",
        "\"2026-12-24\", \"2026-12-30..2027-01-08\"",
    );
    let got = next_starts(&chat, utc("2026-12-20T00:00:00Z"), 2);
    // 24 Dec alone, then 31 Dec and 7 Jan inside the range.
    assert_eq!(
        got,
        [utc("2027-01-14T20:00:00Z"), utc("2027-01-21T20:00:00Z")]
    );
    let slots = next_slots(&chat, utc("2026-12-20T00:00:00Z"), 2);
    let shown: Vec<(String, bool)> = slots
        .iter()
        .map(|s| (s.start.format("%m-%d").to_string(), s.skipped))
        .collect();
    let expected = [
        ("12-24", true),
        ("12-31", true),
        ("01-07", true),
        ("01-14", false),
        ("01-21", false),
    ];
    assert_eq!(shown, expected.map(|(d, s)| (d.to_string(), s)));
}

#[test]
fn a_skip_date_is_a_day_in_the_chats_zone_not_in_utc() {
    // 20:00 in Los Angeles on Thursday 3 Dec is 04:00 UTC on Friday 4 Dec.
    let chat = skipping("America/Los_Angeles", "\"2026-12-03\"");
    let got = next_starts(&chat, utc("2026-11-30T00:00:00Z"), 1);
    assert_eq!(got, [utc("2026-12-11T04:00:00Z")]);
    let utc_day = skipping("America/Los_Angeles", "\"2026-12-04\"");
    let got = next_starts(&utc_day, utc("2026-11-30T00:00:00Z"), 1);
    assert_eq!(got, [utc("2026-12-04T04:00:00Z")]);
}

#[test]
fn a_one_off_chat_on_a_skip_date_does_not_run() {
    let chat = Chat::from_yaml(
        "id: a\nhashtag: A\nstart: \"2026-12-24T20:00:00Z\"\nquestions: [Q?]\nskip_dates: [\"2026-12-24\"]",
    )
    .expect("valid chat");
    assert!(next_starts(&chat, utc("2026-12-01T00:00:00Z"), 1).is_empty());
    let slots = next_slots(&chat, utc("2026-12-01T00:00:00Z"), 1);
    assert_eq!(
        slots,
        [Slot {
            start: utc("2026-12-24T20:00:00Z"),
            skipped: true
        }]
    );
}
