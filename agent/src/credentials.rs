//! The git credential broker: git on the workspace asks a credential helper (`sam-agent
//! credential get`, [`helper`]), which asks the agent over a local socket; the agent answers
//! only for the workspace's own repository, from a token the desktop pushed over the
//! authenticated channel and held in memory only (secret `git:<host>/<path>`). Everything else
//! is refused with a message git shows.
//!
//! The socket speaks git's own credential format (`key=value` lines ending with a blank line),
//! preceded by `action=get|store|erase`. The answer is either `username=…` / `password=…` or
//! `error=<message>`; `store` and `erase` are acknowledged and ignored (nothing is kept).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;

use crate::activity::now_ms;
use crate::agent::Agent;

pub mod helper;

/// The longest request the broker reads.
const MAX_REQUEST: usize = 16 * 1024;
/// The name of a repository's token among the pushed secrets: `git:<host>/<path>`.
pub const SECRET_PREFIX: &str = "git:";

/// The environment that points git at the broker without touching any git config file (which,
/// for a workspace on the user's own computer, is the user's): git's `GIT_CONFIG_COUNT`
/// variables first empty the helper list — so no other helper (`store`, a keychain) is handed
/// the token to keep on disk after it worked — then add this binary's `credential` mode, and
/// `credential.useHttpPath` so the broker learns the repository.
pub fn git_environment(config: &crate::config::Config) -> BTreeMap<String, String> {
    let program = std::env::current_exe().map_or_else(
        |_| "sam-agent".to_owned(),
        |path| path.display().to_string(),
    );
    // `!`: a shell command (a quoted path is not one git would recognise as absolute).
    let helper = format!(
        "!{} credential --socket {}",
        shell_quote(&program),
        shell_quote(&config.credential_socket.display().to_string())
    );
    BTreeMap::from([
        ("GIT_CONFIG_COUNT".to_owned(), "3".to_owned()),
        (
            "GIT_CONFIG_KEY_0".to_owned(),
            "credential.helper".to_owned(),
        ),
        ("GIT_CONFIG_VALUE_0".to_owned(), String::new()),
        (
            "GIT_CONFIG_KEY_1".to_owned(),
            "credential.helper".to_owned(),
        ),
        ("GIT_CONFIG_VALUE_1".to_owned(), helper),
        (
            "GIT_CONFIG_KEY_2".to_owned(),
            "credential.useHttpPath".to_owned(),
        ),
        ("GIT_CONFIG_VALUE_2".to_owned(), "true".to_owned()),
    ])
}

/// Quotes `text` for the shell git runs helpers with.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// What git asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `get`, `store` or `erase`.
    pub action: String,
    /// git's fields: `protocol`, `host`, `path`, …
    pub fields: BTreeMap<String, String>,
}

/// Parses the helper's request; `None` when it is not one.
pub fn parse(text: &str) -> Option<Request> {
    let mut fields = BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        let (key, value) = line.split_once('=')?;
        fields.insert(key.to_owned(), value.to_owned());
    }
    let action = fields.remove("action")?;
    Some(Request { action, fields })
}

/// The secret that would answer for this request's repository (`git:github.com/owner/repo`),
/// or why there is none.
pub fn secret_name(request: &Request) -> Result<String, String> {
    let protocol = request.fields.get("protocol").map_or("", String::as_str);
    let host = request.fields.get("host").map_or("", String::as_str);
    let loopback = host.starts_with("127.0.0.1") || host.starts_with("localhost");
    if protocol != "https" && !(protocol == "http" && loopback) {
        return Err(format!(
            "SAM gives credentials only over https, not {protocol:?}."
        ));
    }
    let Some(path) = request.fields.get("path") else {
        return Err(
            "git did not say which repository (set credential.useHttpPath=true).".to_owned(),
        );
    };
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    if host.is_empty() || path.is_empty() || path.split('/').any(|part| part == "..") {
        return Err("the request names no repository.".to_owned());
    }
    Ok(format!("{SECRET_PREFIX}{host}/{path}"))
}

/// Answers one request from the agent's secrets at `now_secs`.
pub fn answer(agent: &Agent, request: &Request, now_secs: i64) -> String {
    if request.action != "get" {
        // Nothing is stored, so nothing needs erasing.
        return String::new();
    }
    let name = match secret_name(request) {
        Ok(name) => name,
        Err(why) => return format!("error=SAM refused: {why}\n"),
    };
    let repository = &name[SECRET_PREFIX.len()..];
    match agent.secret(&name, now_secs) {
        Some(token) => format!("username=x-access-token\npassword={token}\n"),
        None if agent.has_secret(&name) => format!(
            "error=SAM's token for {repository} has expired. Open SAM on your computer; it \
             pushes a fresh one as soon as it reaches this workspace.\n"
        ),
        None => format!(
            "error=SAM holds no credential for {repository}: it answers only for this \
             workspace's own repository.\n"
        ),
    }
}

/// Serves the broker on `path` (replacing a stale socket) until the agent shuts down.
pub async fn serve(agent: Arc<Agent>, path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    let listener = UnixListener::bind(path)?;
    // Workspace processes run as another user than the agent: they must be able to connect.
    // What they can get is limited to the workspace's own repository.
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o666))?;
    loop {
        let (stream, _) = tokio::select! {
            () = agent.shutdown.cancelled() => return Ok(()),
            accepted = listener.accept() => accepted?,
        };
        let agent = Arc::clone(&agent);
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut reader = BufReader::new(read).take(MAX_REQUEST as u64);
            let mut text = String::new();
            let mut line = String::new();
            loop {
                line.clear();
                match reader.read_line(&mut line).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) if line.trim_end().is_empty() => break,
                    Ok(_) => text.push_str(&line),
                }
            }
            let reply = match parse(&text) {
                Some(request) => {
                    let reply = answer(&agent, &request, now_ms() / 1000);
                    let outcome = if reply.starts_with("password") {
                        "given"
                    } else {
                        "refused"
                    };
                    agent.event(&format!(
                        "git credential {} for {}: {outcome}",
                        request.action,
                        secret_name(&request).unwrap_or_else(|_| "an unknown repository".into())
                    ));
                    reply
                }
                None => "error=SAM could not read the credential request.\n".to_owned(),
            };
            let _ = write.write_all(format!("{reply}\n").as_bytes()).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(text: &str) -> Request {
        parse(text).expect("a request")
    }

    #[test]
    fn requests_parse_and_name_their_repository() {
        let get = request("action=get\nprotocol=https\nhost=github.com\npath=owner/repo.git\n\n");
        assert_eq!(get.action, "get");
        assert_eq!(
            secret_name(&get).as_deref(),
            Ok("git:github.com/owner/repo")
        );
        let local = request("action=get\nprotocol=http\nhost=127.0.0.1:9418\npath=/x/y\n");
        assert_eq!(secret_name(&local).as_deref(), Ok("git:127.0.0.1:9418/x/y"));
        assert_eq!(parse("protocol=https\n"), None, "no action");
        assert_eq!(parse("action=get\nnonsense\n"), None);
    }

    #[test]
    fn anything_but_a_named_https_repository_is_refused() {
        for text in [
            "action=get\nprotocol=http\nhost=github.com\npath=owner/repo\n",
            "action=get\nprotocol=https\nhost=github.com\n",
            "action=get\nprotocol=https\nhost=github.com\npath=\n",
            "action=get\nprotocol=https\nhost=github.com\npath=owner/../other\n",
            "action=get\nprotocol=ssh\nhost=github.com\npath=owner/repo\n",
        ] {
            assert!(secret_name(&request(text)).is_err(), "{text}");
        }
    }
}
