//! "Did you mean": the known word closest to a typo, for keys, zones,
//! platforms and chat ids.

/// The candidate closest to `word`, when close enough to be a likely typo:
/// an edit distance of at most a third of the word (at least 1, at most 3),
/// or `word` being a whole part of the candidate (`interval` for
/// `question_interval`). Comparison ignores case.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_lowercase();
    let limit = (word.chars().count() / 3).clamp(1, 3);
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let lower = candidate.to_lowercase();
        let distance = if lower == word {
            0
        } else if word.len() >= 4 && lower.split(['_', '/']).any(|part| part == word) {
            1
        } else {
            edit_distance(&word, &lower)
        };
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// Edit distance over characters where swapping two neighbours counts as
/// one edit (`dmeo` is one typo from `demo`): optimal string alignment.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_typos_and_partial_names_but_not_strangers() {
        let keys = ["question_interval", "questions", "timezone", "intro"];
        let cases = [
            ("question_intervall", Some("question_interval")),
            ("interval", Some("question_interval")),
            ("time_zone", Some("timezone")),
            ("Intro", Some("intro")),
            ("questons", Some("questions")),
            ("itnro", Some("intro")),
            ("colour", None),
            ("x", None),
        ];
        for (word, expected) in cases {
            assert_eq!(suggest(word, keys), expected, "for {word}");
        }
    }
}
