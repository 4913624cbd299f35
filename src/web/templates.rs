//! The page templates (`templates/`), compiled into the binary. minijinja
//! escapes every value in an `.html` template unless it is marked safe,
//! which only the recap's sanitised items and our own fragments are.

use std::sync::LazyLock;

use anyhow::Context;
use minijinja::Environment;
use serde::Serialize;

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in [
        ("layout.html", include_str!("templates/layout.html")),
        ("directory.html", include_str!("templates/directory.html")),
        ("room.html", include_str!("templates/room.html")),
        ("live.html", include_str!("templates/live.html")),
        ("state.html", include_str!("templates/state.html")),
        ("question.html", include_str!("templates/question.html")),
        ("not_found.html", include_str!("templates/not_found.html")),
    ] {
        // Fixed text checked by the tests: a syntax error is a bug here.
        if let Err(e) = env.add_template(name, source) {
            tracing::error!("template {name}: {e}");
        }
    }
    env
});

pub fn render(name: &str, context: impl Serialize) -> anyhow::Result<String> {
    TEMPLATES
        .get_template(name)
        .and_then(|t| t.render(context))
        .with_context(|| format!("cannot render {name}"))
}

#[cfg(test)]
mod tests {
    use minijinja::context;

    #[test]
    fn every_template_compiles_and_escapes_what_it_is_given() {
        assert_eq!(super::TEMPLATES.templates().count(), 7);
        let html = super::render(
            "question.html",
            context! { number => 1, text => "<script>x</script>" },
        )
        .expect("renders");
        assert!(
            html.contains("&lt;script&gt;x&lt;&#x2f;script&gt;"),
            "{html}"
        );
    }
}
