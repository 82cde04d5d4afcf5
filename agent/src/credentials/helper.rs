//! `sam-agent credential [--socket PATH] <get|store|erase>`: the git credential helper the
//! workspace's git runs. It forwards git's request to the agent's broker and prints the answer
//! for git; a refusal or an unreachable agent becomes a message on standard error, and git
//! (with `GIT_TERMINAL_PROMPT=0`) fails at once instead of asking for a password.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;

/// The socket when `--socket` is not given.
pub const SOCKET_ENV: &str = "SAM_CREDENTIAL_SOCKET";

/// Runs the helper with the arguments after `credential`.
#[allow(clippy::print_stdout, clippy::print_stderr)]
pub fn main(args: &[String]) -> ExitCode {
    let (socket, action) = match args {
        [flag, path, action] if flag == "--socket" => (Some(PathBuf::from(path)), action),
        [action] => (std::env::var_os(SOCKET_ENV).map(PathBuf::from), action),
        _ => {
            eprintln!("usage: sam-agent credential [--socket PATH] get|store|erase");
            return ExitCode::from(2);
        }
    };
    let Some(socket) = socket else {
        eprintln!("sam: no credential socket: pass --socket or set {SOCKET_ENV}");
        return ExitCode::from(2);
    };
    let mut request = String::new();
    if std::io::stdin().read_to_string(&mut request).is_err() {
        eprintln!("sam: could not read git's request");
        return ExitCode::FAILURE;
    }
    match ask(&socket, action, &request) {
        Ok(reply) => {
            for line in reply.lines().filter(|line| !line.is_empty()) {
                match line.strip_prefix("error=") {
                    Some(message) => eprintln!("sam: {message}"),
                    None => println!("{line}"),
                }
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!(
                "sam: the workspace's agent cannot be asked for credentials ({err}). Open SAM on \
                 your computer and make sure the workspace is running."
            );
            // git goes on without a credential, and fails for want of one.
            ExitCode::SUCCESS
        }
    }
}

fn ask(socket: &std::path::Path, action: &str, request: &str) -> std::io::Result<String> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let request = request.trim_end_matches('\n');
    write!(stream, "action={action}\n{request}\n\n")?;
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply)?;
    Ok(reply)
}
