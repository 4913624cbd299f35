//! Question lists, a chat's or a session's: text, or a mapping with an
//! image whose file must exist and whose alt text is required.

use std::path::Path;

use crate::chats::diagnostics::Diagnostic;
use crate::chats::locate::join;
use crate::chats::raw::RawQuestion;
use crate::chats::QuestionImage;

use super::Validator;

/// Mastodon's limit on a media description.
const ALT_MAX: usize = 1500;

/// Question texts and, at the same index, their images.
pub(super) type Questions = (Vec<String>, Vec<Option<QuestionImage>>);

impl Validator<'_> {
    /// The questions at `key` (e.g. `chats[0].questions`); `None` after
    /// reporting every problem. An empty list is an error.
    pub(super) fn question_list(&mut self, key: &str, raw: &[RawQuestion]) -> Option<Questions> {
        if raw.is_empty() {
            let e = Diagnostic::new(self.at.key(key), "`questions` is empty")
                .hint("add at least one question: `- How do you …?`");
            self.errors.push(e);
            return None;
        }
        let mut texts = Vec::new();
        let mut images = Vec::new();
        let mut ok = true;
        for (i, q) in raw.iter().enumerate() {
            let item = format!("{key}[{i}]");
            let (text, image) = match q {
                RawQuestion::Text(text) => (Some(text.as_str()), None),
                RawQuestion::Rich { text, image, alt } => {
                    let image = self.image(&item, i, image.as_deref(), alt.as_deref());
                    ok &= image.is_some();
                    (text.as_deref(), image.flatten())
                }
            };
            match text.map(str::trim).filter(|t| !t.is_empty()) {
                Some(text) => texts.push(text.to_string()),
                None => {
                    ok = false;
                    let e = match q {
                        RawQuestion::Rich { text: None, .. } => Diagnostic::new(
                            self.at.value(&item),
                            format!("question {} has an image but no `text`", i + 1),
                        )
                        .hint("add `text: How do you …?` beside `image:`"),
                        RawQuestion::Rich { .. } => empty(self.at.value(&join(&item, "text")), i),
                        RawQuestion::Text(_) => empty(self.at.value(&item), i),
                    };
                    self.errors.push(e);
                }
            }
            images.push(image);
        }
        ok.then_some((texts, images))
    }

    /// The image of question `i`: `Some(None)` without one, `None` after
    /// reporting a problem.
    fn image(
        &mut self,
        item: &str,
        i: usize,
        image: Option<&str>,
        alt: Option<&str>,
    ) -> Option<Option<QuestionImage>> {
        let n = i + 1;
        let alt = alt.map(str::trim).filter(|a| !a.is_empty());
        let Some(image) = image.map(str::trim).filter(|p| !p.is_empty()) else {
            if alt.is_some() {
                let e = Diagnostic::new(
                    self.at.key(&join(item, "alt")),
                    format!("question {n} has `alt` text but no `image`"),
                )
                .hint("add `image: path/to/picture.png`, or remove `alt:`");
                self.errors.push(e);
                return None;
            }
            return Some(None);
        };
        let mut ok = true;
        let path = self.base.join(image);
        if !path.is_file() {
            ok = false;
            let e = Diagnostic::new(
                self.at.value(&join(item, "image")),
                format!("the image of question {n}, `{image}`, does not exist"),
            )
            .hint(format!(
                "paths are relative to the folder of chats.yaml{}",
                shown_base(self.base)
            ));
            self.errors.push(e);
        }
        match alt {
            None => {
                ok = false;
                let e = Diagnostic::new(
                    self.at.value(&join(item, "image")),
                    format!("the image of question {n} has no `alt` text"),
                )
                .hint(
                    "add `alt:` describing the image for people who cannot see it: it is required",
                );
                self.errors.push(e);
            }
            Some(a) if a.chars().count() > ALT_MAX => {
                ok = false;
                let e = Diagnostic::new(
                    self.at.value(&join(item, "alt")),
                    format!(
                        "the alt text of question {n} is {} characters, over Mastodon's {ALT_MAX}",
                        a.chars().count()
                    ),
                );
                self.errors.push(e);
            }
            Some(_) => {}
        }
        ok.then(|| {
            Some(QuestionImage {
                path,
                alt: alt.unwrap_or_default().to_string(),
            })
        })
    }
}

fn empty(at: crate::chats::Span, i: usize) -> Diagnostic {
    Diagnostic::new(at, format!("question {} is empty", i + 1))
        .hint("write the question, or remove the line")
}

fn shown_base(base: &Path) -> String {
    if base.as_os_str().is_empty() {
        String::new()
    } else {
        format!(" (`{}`)", base.display())
    }
}
