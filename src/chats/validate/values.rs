//! Parsers for single values: text as written to a domain value, or a
//! problem saying what is wrong and how to fix it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use url::Url;

use super::Problem;
use crate::chats::suggest::suggest;
use crate::chats::{CaFile, Hashtag, IgnoreRule, Platform, SkipDates, Visibility, When};

/// The longest run, and so the longest single duration, accepted.
pub const MONTH: Duration = Duration::from_secs(31 * 24 * 3600);

pub fn non_empty(s: &str, key: &str) -> Result<String, Problem> {
    if s.trim().is_empty() {
        return Err(Problem::new(format!("`{key}` is empty"))
            .hint("write a value, or remove the line to use the default"));
    }
    Ok(s.to_string())
}

pub fn id(s: &str) -> Result<String, Problem> {
    let id = s.trim();
    if id.is_empty() {
        return Err(Problem::new("the chat id is empty")
            .hint("use lowercase letters, digits, `-` and `_`, e.g. `1qedchat`"));
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    if id.chars().all(allowed) {
        return Ok(id.to_string());
    }
    let fixed: String = id
        .to_lowercase()
        .chars()
        .map(|c| if allowed(c) { c } else { '-' })
        .collect();
    Err(Problem::new(format!(
        "chat id `{id}` may only hold lowercase letters, digits, `-` and `_`"
    ))
    .hint(format!("did you mean `{fixed}`?")))
}

pub fn hashtag(s: &str) -> Result<Hashtag, Problem> {
    Hashtag::parse(s).map_err(|e| {
        let p = Problem::new(format!("invalid hashtag `{}`: {e}", s.trim()));
        let joined: String = s
            .trim()
            .trim_start_matches('#')
            .split_whitespace()
            .collect();
        if s.trim().contains(char::is_whitespace) && Hashtag::parse(&joined).is_ok() {
            p.hint(format!("a hashtag is one word: `{joined}`"))
        } else {
            p.hint("write it as one word of letters, digits and `_`, e.g. `1QEdChat`")
        }
    })
}

pub fn start(s: &str) -> Result<When, Problem> {
    let text = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(When::Once(t.with_timezone(&Utc)));
    }
    let local = text.replace(' ', "T");
    let naive = chrono::NaiveDateTime::parse_from_str(&local, "%Y-%m-%dT%H:%M:%S").is_ok();
    Err(if naive {
        Problem::new(format!("`start` has no UTC offset: `{text}`")).hint(format!(
            "add `Z` for UTC or the zone's offset, e.g. `{local}Z` or `{local}+01:00`"
        ))
    } else {
        Problem::new(format!("`start` should be an RFC 3339 time, not `{text}`"))
            .hint("write the date, the time and the offset, e.g. `2026-12-03T20:00:00Z` or `2026-12-03T20:00:00+01:00`")
    })
}

pub fn duration(s: &str, key: &str, zero_ok: bool) -> Result<Duration, Problem> {
    let d = humantime::parse_duration(s.trim()).map_err(|e| {
        Problem::new(format!(
            "`{key}` should be a duration such as `90s`, `5m` or `1h 30m`, not `{}`",
            s.trim()
        ))
        .hint(e.to_string())
    })?;
    if d.is_zero() && !zero_ok {
        return Err(Problem::new(format!("`{key}` must be longer than zero"))
            .hint("seconds are fine for rehearsals, e.g. `10s`"));
    }
    if d > MONTH {
        return Err(Problem::new(format!("`{key}` is longer than 31 days")));
    }
    Ok(d)
}

pub fn visibility(s: &str) -> Result<Visibility, Problem> {
    match s.trim().to_lowercase().as_str() {
        "public" => Ok(Visibility::Public),
        "unlisted" => Ok(Visibility::Unlisted),
        other @ ("private" | "direct" | "followers") => Err(Problem::new(format!(
            "a chat cannot post `{other}`: only `public` or `unlisted`"
        ))
        .hint("followers-only and direct posts cannot gather a hashtag chat")),
        other => Err(Problem::new(format!("unknown visibility `{other}`")).hint(
            suggest(other, ["public", "unlisted"])
                .map_or("use `public` or `unlisted`".into(), |s| {
                    format!("did you mean `{s}`?")
                }),
        )),
    }
}

pub fn platform(s: &str) -> Result<Platform, Problem> {
    const NAMES: [&str; 5] = ["mastodon", "pleroma", "friendica", "firefish", "gotosocial"];
    let lower = s.trim().to_lowercase();
    Ok(match lower.as_str() {
        "mastodon" => Platform::Mastodon,
        "pleroma" | "akkoma" => Platform::Pleroma,
        "friendica" => Platform::Friendica,
        "firefish" => Platform::Firefish,
        "gotosocial" => Platform::Gotosocial,
        _ => {
            let hint = suggest(&lower, NAMES).map_or_else(
                || format!("use one of {}", NAMES.join(", ")),
                |s| format!("did you mean `{s}`?"),
            );
            return Err(Problem::new(format!("unknown platform `{}`", s.trim())).hint(hint));
        }
    })
}

pub fn timezone(s: &str) -> Result<Tz, Problem> {
    let name = s.trim();
    name.parse::<Tz>().map_err(|_| {
        let names = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
        let hint = suggest(name, names).map_or(
            "use an IANA zone name such as `Europe/London` or `America/New_York`".into(),
            |s| format!("did you mean `{s}`?"),
        );
        Problem::new(format!("unknown time zone `{name}`")).hint(hint)
    })
}

/// `ca_file:`: a PEM bundle holding at least one certificate, relative to
/// the folder of chats.yaml (`base`).
pub fn ca_file(s: &str, base: &std::path::Path) -> Result<CaFile, Problem> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let written = s.trim();
    if written.is_empty() {
        return Err(Problem::new("`ca_file` is empty").hint(
            "name the PEM file of your instance's certificate authority, or remove the line",
        ));
    }
    let path = base.join(written);
    let bytes = std::fs::read(&path).map_err(|e| {
        let message = match e.kind() {
            std::io::ErrorKind::NotFound => format!("the CA file `{written}` does not exist"),
            _ => format!("the CA file `{written}` cannot be read: {e}"),
        };
        Problem::new(message).hint(
            "name a readable PEM file (`-----BEGIN CERTIFICATE-----`); relative paths start in the folder of chats.yaml",
        )
    })?;
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            Problem::new(format!("the CA file `{written}` is not valid PEM: {e}"))
                .hint("it should hold `-----BEGIN CERTIFICATE-----` blocks, as `openssl x509 -outform PEM` writes them")
        })?;
    if certificates.is_empty() {
        return Err(Problem::new(format!("the CA file `{written}` holds no certificate"))
            .hint("it should hold `-----BEGIN CERTIFICATE-----` blocks, as `openssl x509 -outform PEM` writes them"));
    }
    Ok(CaFile { path, certificates })
}

pub fn server(s: &str) -> Result<Url, Problem> {
    let text = s.trim();
    match Url::parse(text) {
        Ok(url)
            if matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some_and(|h| !h.is_empty()) =>
        {
            Ok(url)
        }
        _ => {
            let p = Problem::new(format!("`server` should be an http(s) URL, not `{text}`"));
            let bare =
                !text.contains("://") && text.contains('.') && !text.contains(char::is_whitespace);
            Err(if bare {
                p.hint(format!("did you mean `https://{text}`?"))
            } else {
                p.hint("write the instance's address, e.g. `https://mastodon.social`")
            })
        }
    }
}

/// An entry of `also_watch:`: an instance's address, like `server`.
pub fn watched(s: &str) -> Result<Url, Problem> {
    let text = s.trim();
    server(text).map_err(|_| {
        let p = Problem::new(format!(
            "`also_watch` lists instances by address, not `{text}`"
        ));
        let bare = !text.contains("://") && text.contains('.') && !text.contains(['@', ' ']);
        if bare {
            p.hint(format!("did you mean `https://{text}`?"))
        } else {
            p.hint("write each instance's address, e.g. `https://mastodon.social`")
        }
    })
}

pub fn token_env(s: &str) -> Result<String, Problem> {
    let name = s.trim();
    let identifier = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    // Variable names are short and shouting; a long mixed-case string is
    // most likely the token pasted into the wrong key.
    let token_like = name.len() >= 30 && name.chars().any(|c| c.is_ascii_lowercase());
    if identifier && !token_like {
        return Ok(name.to_string());
    }
    Err(Problem {
        secret: true,
        ..Problem::new("`token_env` should name an environment variable, like `HASHCHAT_TOKEN`")
            .hint("if this is the token itself, remove it from chats.yaml and `export HASHCHAT_TOKEN=…` instead")
    })
}

/// `@user@domain` (the leading `@` optional), normalised with it.
pub fn handle(s: &str) -> Option<String> {
    let (user, domain) = s.trim().trim_start_matches('@').split_once('@')?;
    let user_ok = !user.is_empty()
        && user
            .chars()
            .all(|c| c.is_alphanumeric() || "_.-".contains(c));
    (user_ok && is_domain(domain)).then(|| format!("@{user}@{domain}"))
}

/// A domain as servers use it in handles: a host (dotted, single-label like
/// `localhost`, IDN or punycode) with an optional `:port`.
fn is_domain(domain: &str) -> bool {
    let (host, port) = match domain.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (domain, None),
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    let label_ok = |label: &str| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    port_ok && host.split('.').all(label_ok)
}

/// A session's date, `YYYY-MM-DD`.
pub fn date(s: &str) -> Result<chrono::NaiveDate, Problem> {
    let text = s.trim();
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        Problem::new(format!(
            "`date` should be a day like `2026-12-03`, not `{text}`"
        ))
        .hint("write year-month-day; the day is read in the chat's time zone")
    })
}

/// An entry of `skip_dates`: `2026-12-24`, or `2026-12-21..2027-01-04`
/// (both days included).
pub fn skip_dates(s: &str) -> Result<SkipDates, Problem> {
    const HINT: &str = "write a day as year-month-day (`2026-12-24`) or a range `2026-12-21..2027-01-04` (both days skipped); days are read in the chat's time zone";
    let text = s.trim();
    let day = |d: &str| chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").ok();
    let (first, last) = match text.split_once("..") {
        Some((a, b)) => (day(a), day(b)),
        None => (day(text), day(text)),
    };
    let (Some(first), Some(last)) = (first, last) else {
        let what = if text.contains("..") {
            "a range of days like `2026-12-21..2027-01-04`"
        } else {
            "a day like `2026-12-24`"
        };
        return Err(Problem::new(format!("`{text}` is not {what}")).hint(HINT));
    };
    if last < first {
        return Err(
            Problem::new(format!("the range `{text}` ends before it starts"))
                .hint("write the earlier day first: `2026-12-21..2027-01-04`"),
        );
    }
    if (last - first).num_days() > 366 {
        return Err(
            Problem::new(format!("the range `{text}` is longer than a year")).hint(
                "check the years; to end a chat for good, remove it or use `require_session: true`",
            ),
        );
    }
    Ok(SkipDates { first, last })
}

/// A guest host's handle.
pub fn host(s: &str) -> Result<String, Problem> {
    handle(s).ok_or_else(|| {
        Problem::new(format!(
            "host `{}` is not a handle like `@user@domain`",
            s.trim()
        ))
        .hint("write the full handle, e.g. `@alice@mastodon.social`")
    })
}

/// An ISO 639 language code, checked loosely: 2 or 3 letters.
pub fn language(s: &str) -> Result<String, Problem> {
    let code = s.trim().to_lowercase();
    if (2..=3).contains(&code.len()) && code.chars().all(|c| c.is_ascii_lowercase()) {
        return Ok(code);
    }
    Err(Problem::new(format!(
        "`language` should be a 2-letter ISO 639 code, not `{}`",
        s.trim()
    ))
    .hint("e.g. `en`, `de`, `fr`; Mastodon uses it to offer translations and filter by language"))
}

/// One entry of `ignore:`: `@user@domain`, `domain.example` or
/// `*.domain.example`.
pub fn ignore_rule(s: &str) -> Result<IgnoreRule, Problem> {
    let text = s.trim();
    if text.trim_start_matches('@').contains('@') {
        return handle(text)
            .map(|h| IgnoreRule::Account(h.trim_start_matches('@').to_lowercase()))
            .ok_or_else(|| {
                Problem::new(format!("`{text}` is not a handle like `@user@domain`"))
                    .hint("write an account as `@user@domain`, a whole server as `domain.example`")
            });
    }
    let (wild, domain) = match text.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, text.trim_start_matches('@')),
    };
    let domain = domain.to_lowercase();
    // A bare word (`spam`, `@alice`) is more likely an account without its
    // domain than a single-label server, unless it names a port.
    let valid = is_domain(&domain) && (domain.contains('.') || domain.contains(':'));
    if !valid {
        let hint = if text.starts_with('@') {
            "an account needs its domain too: `@user@domain`"
        } else {
            "write an account as `@user@domain`, a server as `domain.example`, a server and its subdomains as `*.domain.example`"
        };
        return Err(
            Problem::new(format!("`{text}` is neither an account nor a domain")).hint(hint),
        );
    }
    Ok(if wild {
        IgnoreRule::DomainAndSubdomains(domain)
    } else {
        IgnoreRule::Domain(domain)
    })
}

/// An entry of `exclude:`, a handle.
pub fn excluded(s: &str) -> Result<String, Problem> {
    handle(s).ok_or_else(|| {
        Problem::new(format!(
            "`{}` is not a handle like `@user@domain`",
            s.trim()
        ))
        .hint("write the full handle of the person to leave out, e.g. `@alice@mastodon.social`")
    })
}

/// `recap_url`: an http(s) URL once `{date}` is filled in.
pub fn recap_url(s: &str) -> Result<String, Problem> {
    let s = s.trim();
    let probe = s.replace("{date}", "2026-12-03");
    match url::Url::parse(&probe) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(s.to_string()),
        _ => Err(Problem::new(format!("`{s}` is not an http(s) URL")).hint(
            "e.g. `https://school.example/recaps/{date}.html`; `{date}` becomes the run's date",
        )),
    }
}

/// `content_warning`: any text, trimmed.
pub fn content_warning(s: &str) -> Result<String, Problem> {
    non_empty(s, "content_warning").map(|s| s.trim().to_string())
}

#[cfg(test)]
mod handle_tests {
    #[test]
    fn handles_take_every_domain_servers_really_use() {
        let cases = [
            (
                "@alice@mastodon.example",
                Some("@alice@mastodon.example"),
                "plain",
            ),
            (
                "alice@mastodon.example",
                Some("@alice@mastodon.example"),
                "no leading @",
            ),
            (
                "@alice@localhost:8001",
                Some("@alice@localhost:8001"),
                "snac: host:port",
            ),
            (
                "@alice@localhost",
                Some("@alice@localhost"),
                "a single-label host",
            ),
            (
                "@alice@127.0.0.1:8001",
                Some("@alice@127.0.0.1:8001"),
                "an address and port",
            ),
            (
                "@alice@bücher.example",
                Some("@alice@bücher.example"),
                "an IDN",
            ),
            (
                "@alice@xn--bcher-kva.example",
                Some("@alice@xn--bcher-kva.example"),
                "punycode",
            ),
            (
                "@Alice@Social.Example",
                Some("@Alice@Social.Example"),
                "case is kept; compared lowercase",
            ),
            ("@alice", None, "no domain"),
            ("@alice@", None, "an empty domain"),
            ("@@mastodon.example", None, "no user"),
            ("@alice@.example", None, "an empty label"),
            ("@alice@example.", None, "a trailing dot"),
            (
                "@alice@-bad.example",
                None,
                "a label starting with a hyphen",
            ),
            ("@alice@localhost:", None, "an empty port"),
            ("@alice@localhost:99999", None, "a port out of range"),
            ("@alice@localhost:0", None, "port zero"),
            ("@alice@local host", None, "a space"),
            ("@alice@https://mastodon.example", None, "a URL"),
            ("@alice@a@b.example", None, "two @"),
        ];
        for (text, want, case) in cases {
            assert_eq!(super::handle(text).as_deref(), want, "{case}: {text}");
        }
    }
}
