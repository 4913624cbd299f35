//! The recap as CSV: one row per answer (a post answering two questions is
//! a row under each), RFC 4180 quoting, CRLF line ends, a header row.
//! Times are RFC 3339 in UTC so that spreadsheets and scripts agree.

use super::text;
use super::Recap;

const HEADER: [&str; 12] = [
    "run",
    "question",
    "question_text",
    "account",
    "display_name",
    "created_at",
    "edited_at",
    "url",
    "text",
    // Added at the end, so that scripts reading columns by position keep working.
    "favourites",
    "boosts",
    "top",
];

pub fn render(recap: &Recap) -> String {
    let mut writer = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::CRLF)
        .from_writer(Vec::with_capacity(4096));
    // Writing to a Vec cannot fail on I/O; the only error left would be a
    // row of the wrong length, which the fixed arrays below rule out.
    let _ = writer.write_record(HEADER);
    let run = recap.run.id.to_string();
    for question in &recap.questions {
        let number = question.number.to_string();
        for a in text::answers_in_order(question) {
            let edited = a.edited_at.map(text::rfc3339).unwrap_or_default();
            let (favourites, boosts) = (a.favourites.to_string(), a.boosts.to_string());
            let _ = writer.write_record([
                run.as_str(),
                number.as_str(),
                &defuse(&question.text),
                &a.account,
                &defuse(&a.display_name),
                &text::rfc3339(a.created_at),
                &edited,
                &a.url,
                &defuse(&a.text),
                &favourites,
                &boosts,
                if a.top { "true" } else { "false" },
            ]);
        }
    }
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

/// Spreadsheets run a cell starting with `=`, `+`, `-`, `@` (or a tab or
/// CR before one) as a formula; a leading `'` keeps a hostile post text
/// (OWASP's advice for CSV injection).
fn defuse(field: &str) -> std::borrow::Cow<'_, str> {
    if field.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{field}").into()
    } else {
        field.into()
    }
}
