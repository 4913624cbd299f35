//! `hashchat login --server URL [--token-file PATH]`: gets an access token
//! through Mastodon's OAuth flow. Registers an app (`read write`), prints
//! the address where the moderator authorizes it, reads the code they
//! paste, exchanges it, then stores the token in a file only its owner can
//! read (0600) or prints the `export` line for the environment variable.
//!
//! Talk goes to stderr so that stdout holds only the `export` line. The
//! token is never logged; it reaches stdout only when asked for (no file).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};

use super::common::UsageError;
use crate::chats::{self, defaults, Platform};
use crate::network::oauth::{self, SCOPES};
use crate::network::{MastodonClient, Social, Token, Trust};

/// What `login` was asked to do.
#[derive(Debug, Clone)]
pub struct LoginOptions {
    pub server: url::Url,
    pub platform: Platform,
    /// Where to store the token; `None` prints the `export` line.
    pub token_file: Option<PathBuf>,
    /// Bounds every request.
    pub timeout: Duration,
}

/// Runs the flow: `input` gives the code, `talk` gets the instructions,
/// `out` gets the `export` line.
pub async fn login(
    options: &LoginOptions,
    input: &mut impl BufRead,
    talk: &mut impl Write,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let server = &options.server;
    let app = within(options.timeout, oauth::register(server, options.platform))
        .await
        .with_context(|| format!("registering hashchat as an app on {server}"))?;
    writeln!(
        talk,
        "Open this address while logged in as the bot account, allow hashchat ({}), and paste the code it shows:\n\n  {}\n",
        SCOPES.join(" "),
        app.authorize_url
    )?;
    write!(talk, "code: ")?;
    talk.flush()?;
    let mut code = String::new();
    input
        .read_line(&mut code)
        .context("reading the authorization code")?;
    let code = code.trim();
    if code.is_empty() {
        bail!("no authorization code given; run `hashchat login` again and paste the code the server shows");
    }
    let token = within(options.timeout, oauth::exchange(server, options.platform, &app, code))
        .await
        .context("exchanging the code for a token (a code works once and only for a few minutes; run `hashchat login` again)")?;
    greet(options, &token, talk).await?;
    match &options.token_file {
        Some(path) => {
            let loosened = store(path, &token)?;
            if let Some(mode) = loosened {
                writeln!(talk, "note: {} was readable by others (mode {mode:o}); it has been replaced by a file only you can read", path.display())?;
            }
            writeln!(
                talk,
                "Token saved to {} (mode 600). In chats.yaml:\n\n  token_file: {}",
                path.display(),
                path.display()
            )?;
        }
        None => {
            writeln!(
                talk,
                "Token below; hashchat reads it from {} (or the variable `token_env` names):",
                defaults::TOKEN_ENV
            )?;
            writeln!(out, "export {}={}", defaults::TOKEN_ENV, token.expose())?;
        }
    }
    Ok(())
}

/// Says whose token it is: the moderator should see it is the bot's.
async fn greet(options: &LoginOptions, token: &Token, talk: &mut impl Write) -> anyhow::Result<()> {
    let trust = Trust::system()?;
    let client = MastodonClient::new(&options.server, token.clone(), options.timeout, &trust)?;
    match client.me().await {
        Ok(me) => {
            let domain = options.server.host_str().unwrap_or_default();
            let bot = if me.bot {
                ""
            } else {
                " (not marked as a bot: consider ticking \"This is an automated account\" in its profile)"
            };
            writeln!(talk, "Logged in as @{}{bot}", me.handle(domain))?;
        }
        Err(e) => writeln!(
            talk,
            "warning: the token was issued but reading its account failed: {e}"
        )?,
    }
    Ok(())
}

async fn within<T, E: std::error::Error + Send + Sync + 'static>(
    limit: Duration,
    call: impl std::future::Future<Output = Result<T, E>>,
) -> anyhow::Result<T> {
    match tokio::time::timeout(limit, call).await {
        Ok(result) => Ok(result?),
        Err(_) => bail!("no answer from the server within {limit:?}"),
    }
}

/// Writes the token to `path`, readable only by its owner: a fresh 0600
/// file beside it, renamed over the old one, so the secret never sits in a
/// file others can read. Returns the old file's mode when it was looser.
fn store(path: &Path, token: &Token) -> anyhow::Result<Option<u32>> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    create_private_dir(&dir)?;
    let loosened = loose_mode(path)?;
    let name = path
        .file_name()
        .context("--token-file names a folder, not a file")?;
    let temp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = write_private(&temp, token).and_then(|()| {
        std::fs::rename(&temp, path).with_context(|| format!("cannot replace {}", path.display()))
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written?;
    Ok(loosened)
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("cannot create the folder {}", dir.display()))
}

fn write_private(path: &Path, token: &Token) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    writeln!(file, "{}", token.expose())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The mode of an existing file others may read, group or world.
#[cfg(unix)]
fn loose_mode(path: &Path) -> anyhow::Result<Option<u32>> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => bail!("{} is a folder; name a file for the token", path.display()),
        Ok(m) => Ok(Some(m.permissions().mode() & 0o777).filter(|mode| mode & 0o077 != 0)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

#[cfg(not(unix))]
fn loose_mode(_path: &Path) -> anyhow::Result<Option<u32>> {
    Ok(None)
}

/// The command, on the terminal: the code from stdin, talk on stderr, the
/// `export` line on stdout.
pub async fn run(
    server: &url::Url,
    token_file: Option<PathBuf>,
    platform: &str,
) -> anyhow::Result<ExitCode> {
    let options = LoginOptions {
        server: server.clone(),
        platform: chats::parse_platform(platform).map_err(UsageError)?,
        token_file,
        timeout: Duration::from_secs(30),
    };
    let mut input = std::io::stdin().lock();
    login(
        &options,
        &mut input,
        &mut std::io::stderr(),
        &mut std::io::stdout(),
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn a_new_token_file_and_its_folders_are_private() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("secrets/hashchat/token");
        assert_eq!(store(&path, &Token::new("s3cr3t")).expect("store"), None);
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "s3cr3t\n");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().expect("parent")), 0o700);
    }

    #[test]
    fn a_token_file_readable_by_others_is_replaced_by_a_private_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("token");
        std::fs::write(&path, "old\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert_eq!(
            store(&path, &Token::new("new")).expect("store"),
            Some(0o644)
        );
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "new\n");
        assert_eq!(mode(&path), 0o600);
        let leftovers = std::fs::read_dir(dir.path()).expect("dir").count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
    }
}
