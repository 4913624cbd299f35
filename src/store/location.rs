//! Where the database is, as `--db` / `HASHCHAT_DB` name it: a SQLite file
//! or a PostgreSQL URL. Parsed once, in the command line's second stage;
//! the URL's password never reaches a log line or an error message.

use std::convert::Infallible;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The database a command opens.
#[derive(Clone, PartialEq, Eq)]
pub enum DbLocation {
    Sqlite(PathBuf),
    Postgres(PostgresUrl),
}

impl DbLocation {
    /// Whether there is a database there to read: a SQLite file must exist
    /// (reading commands never create one); a server is asked on opening.
    pub fn exists(&self) -> bool {
        match self {
            DbLocation::Sqlite(path) => path.exists(),
            DbLocation::Postgres(_) => true,
        }
    }
}

impl FromStr for DbLocation {
    type Err = Infallible;

    /// A `postgres://` or `postgresql://` URL, or else a SQLite file path.
    /// Never fails: a malformed URL is reported (redacted) on connecting,
    /// so that no parser error can echo its password.
    fn from_str(raw: &str) -> Result<Self, Infallible> {
        let lower = raw.get(..13).unwrap_or(raw).to_ascii_lowercase();
        Ok(
            if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
                DbLocation::Postgres(PostgresUrl(raw.to_string()))
            } else {
                DbLocation::Sqlite(PathBuf::from(raw))
            },
        )
    }
}

impl fmt::Display for DbLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbLocation::Sqlite(path) => write!(f, "{}", path.display()),
            DbLocation::Postgres(url) => write!(f, "{url}"),
        }
    }
}

impl fmt::Debug for DbLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbLocation::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            DbLocation::Postgres(url) => f.debug_tuple("Postgres").field(url).finish(),
        }
    }
}

/// A PostgreSQL connection URL. Shown (Display, Debug) with its password
/// replaced by `***`; [`PostgresUrl::expose`] is for connecting only.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl(String);

impl PostgresUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL with its password, to hand to the driver.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with the password (as written, and percent-decoded) replaced:
    /// for the driver's error messages, which may quote the URL.
    pub fn scrub(&self, text: &str) -> String {
        match self.password() {
            Some(password) if !password.is_empty() => {
                let mut out = text.replace(&password, "***");
                if let Ok(decoded) = percent_decode(&password) {
                    if !decoded.is_empty() {
                        out = out.replace(&decoded, "***");
                    }
                }
                out
            }
            _ => text.to_string(),
        }
    }

    /// The password as written in the URL (between `user:` and the last
    /// `@` of the authority), if any.
    fn password(&self) -> Option<String> {
        let rest = self.0.split_once("://")?.1;
        let authority = rest.split(['/', '?']).next().unwrap_or(rest);
        let userinfo = authority.rsplit_once('@')?.0;
        Some(userinfo.split_once(':')?.1.to_string())
    }
}

fn percent_decode(text: &str) -> Result<String, std::string::FromUtf8Error> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
}

impl fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.scrub(&self.0))
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostgresUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_url_is_told_from_a_sqlite_path_and_shown_without_its_password() {
        let cases = [
            ("hashchat.db", "hashchat.db", false),
            ("/var/lib/x/postgres.db", "/var/lib/x/postgres.db", false),
            (
                "postgres://u:s3cret@h:5432/db",
                "postgres://u:***@h:5432/db",
                true,
            ),
            (
                "postgresql://u:p%40ss@h/db",
                "postgresql://u:***@h/db",
                true,
            ),
            ("POSTGRES://u@h/db", "POSTGRES://u@h/db", true),
        ];
        for (raw, shown, is_postgres) in cases {
            let location: DbLocation = raw.parse().unwrap();
            assert_eq!(location.to_string(), shown, "{raw}");
            assert!(!format!("{location:?}").contains("s3cret"), "{raw}");
            assert_eq!(
                matches!(location, DbLocation::Postgres(_)),
                is_postgres,
                "{raw}"
            );
        }
    }

    #[test]
    fn a_driver_error_quoting_the_password_decoded_is_scrubbed() {
        let url = PostgresUrl::new("postgres://u:p%40ss@h/db");
        assert_eq!(
            url.scrub("bad password p@ss for u"),
            "bad password *** for u"
        );
    }
}
