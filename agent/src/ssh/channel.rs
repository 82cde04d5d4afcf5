//! One SSH session channel: it gathers its requests (a PTY, environment variables, agent
//! forwarding), then runs the shell, the command or the sftp server as the workspace's user, in
//! the workspace, piped to the channel until one of them ends.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use russh::server::Msg;
use russh::{Channel, ChannelMsg, Sig};
use tokio::io::AsyncWriteExt;

use super::{Shared, lock};
use crate::agent::Agent;
use crate::stream::{CLOSE_GRACE, Launch, piped_command, pty_command};

/// Logged when a client asks for SFTP (as `scp` and `sftp` do) on a machine without it.
pub(crate) const NO_SFTP_SERVER: &str = "ssh: sftp (used by scp and sftp) needs OpenSSH's \
     sftp-server, which is not installed on this machine; on Debian and Ubuntu: apt install \
     openssh-sftp-server";

/// Where distributions put OpenSSH's sftp-server.
const SFTP_SERVERS: [&str; 4] = [
    "/usr/lib/openssh/sftp-server",
    "/usr/libexec/openssh/sftp-server",
    "/usr/lib/ssh/sftp-server",
    "/usr/libexec/sftp-server",
];

/// How long output may keep arriving after the process exited.
const EXIT_DRAIN: Duration = Duration::from_secs(1);

/// OpenSSH's sftp-server, if this machine has one.
pub(crate) fn sftp_server() -> Option<&'static str> {
    SFTP_SERVERS
        .iter()
        .copied()
        .find(|path| Path::new(path).exists())
}

/// What the channel runs.
enum Program {
    Shell,
    Exec(String),
    Sftp,
}

/// A requested terminal.
struct Terminal {
    term: String,
    cols: u16,
    rows: u16,
}

/// Serves one session channel until its process ends or the client closes it.
pub(super) async fn run(agent: Arc<Agent>, state: Arc<Mutex<Shared>>, mut channel: Channel<Msg>) {
    let mut env = BTreeMap::new();
    let mut terminal = None;
    let program = loop {
        match channel.wait().await {
            None | Some(ChannelMsg::Eof | ChannelMsg::Close) => return,
            Some(ChannelMsg::RequestPty {
                term,
                col_width,
                row_height,
                ..
            }) => {
                terminal = Some(Terminal {
                    term,
                    cols: clamp(col_width),
                    rows: clamp(row_height),
                });
            }
            Some(ChannelMsg::SetEnv {
                variable_name,
                variable_value,
                ..
            }) if is_variable_name(&variable_name) => {
                env.insert(variable_name, variable_value);
            }
            Some(ChannelMsg::Exec { command, .. }) => {
                break Program::Exec(String::from_utf8_lossy(&command).into_owned());
            }
            Some(ChannelMsg::RequestShell { .. }) => break Program::Shell,
            Some(ChannelMsg::RequestSubsystem { name, .. }) if name == "sftp" => {
                break Program::Sftp;
            }
            Some(_) => {}
        }
    };
    let shell = agent.login_shell();
    let command = match &program {
        Program::Shell => vec![shell, "-l".to_owned()],
        Program::Exec(line) => vec![shell, "-c".to_owned(), line.clone()],
        Program::Sftp => vec![sftp_server().unwrap_or(SFTP_SERVERS[0]).to_owned()],
    };
    let mut environment = crate::credentials::git_environment(&agent.config);
    environment.extend(env);
    if let Some(socket) = &lock(&state).agent_socket {
        environment.insert(
            "SSH_AUTH_SOCK".to_owned(),
            socket.path().display().to_string(),
        );
    }
    let cwd = match agent.files.working_dir(None) {
        Ok(cwd) => cwd,
        Err(failure) => return refuse(&channel, &failure.message).await,
    };
    let launch = Launch {
        command,
        cwd: &cwd,
        env: &environment,
        run_as: agent.config.run_as.as_ref(),
    };
    match terminal {
        Some(terminal) if !matches!(program, Program::Sftp) => {
            run_on_terminal(channel, &launch, terminal).await;
        }
        _ => run_piped(channel, &launch).await,
    }
}

/// Runs the program on a new PTY: its output goes to the channel, the channel's data is typed
/// into it, window changes resize it.
async fn run_on_terminal(mut channel: Channel<Msg>, launch: &Launch<'_>, terminal: Terminal) {
    let mut environment = launch.env.clone();
    environment.insert("TERM".to_owned(), terminal.term);
    let launch = Launch {
        env: &environment,
        ..launch.clone()
    };
    let started = pty_process::open()
        .and_then(|(pty, pts)| {
            pty.resize(pty_process::Size::new(terminal.rows, terminal.cols))?;
            let child = pty_command(&launch)
                .map_err(pty_process::Error::Io)?
                .spawn(pts)?;
            Ok((pty, child))
        })
        .map_err(|err| err.to_string());
    let (pty, mut child) = match started {
        Ok(started) => started,
        Err(err) => return refuse(&channel, &format!("cannot start a terminal: {err}")).await,
    };
    let pid = child.id().and_then(|pid| i32::try_from(pid).ok());
    let (mut reader, mut writer) = pty.into_split();
    let mut to_client = channel.make_writer();
    let mut output = tokio::spawn(async move {
        // A PTY says EIO once its last writer is gone: that is the end, not a failure.
        let _ = tokio::io::copy(&mut reader, &mut to_client).await;
    });
    let status = loop {
        tokio::select! {
            message = channel.wait() => match message {
                Some(ChannelMsg::Data { data }) => {
                    let _ = writer.write_all(&data).await;
                }
                Some(ChannelMsg::WindowChange { col_width, row_height, .. }) => {
                    let size = pty_process::Size::new(clamp(row_height), clamp(col_width));
                    let _ = writer.resize(size);
                }
                Some(ChannelMsg::Signal { signal }) => send_signal(pid, &signal),
                None | Some(ChannelMsg::Close) => break None,
                Some(_) => {}
            },
            status = child.wait() => break Some(status),
        }
    };
    match status {
        Some(status) => {
            let _ = tokio::time::timeout(EXIT_DRAIN, &mut output).await;
            finish(&channel, status).await;
        }
        None => hang_up(pid, child, Signal::SIGHUP),
    }
}

/// Runs the program with pipes: the channel's data is its stdin (EOF closes it), its stdout
/// the channel's data, its stderr the channel's extended data.
async fn run_piped(mut channel: Channel<Msg>, launch: &Launch<'_>) {
    let started = piped_command(launch).and_then(|mut command| {
        command.stdin(Stdio::piped());
        command.spawn()
    });
    let mut child = match started {
        Ok(child) => child,
        Err(err) => {
            let what = launch.command.first().map(String::as_str).unwrap_or("");
            return refuse(&channel, &format!("cannot start {what}: {err}")).await;
        }
    };
    let pid = child.id().and_then(|pid| i32::try_from(pid).ok());
    let mut stdin = child.stdin.take();
    let mut copies = Vec::new();
    if let Some(mut stdout) = child.stdout.take() {
        let mut to_client = channel.make_writer();
        copies.push(tokio::spawn(async move {
            let _ = tokio::io::copy(&mut stdout, &mut to_client).await;
        }));
    }
    if let Some(mut stderr) = child.stderr.take() {
        let mut to_client = channel.make_writer_ext(Some(1));
        copies.push(tokio::spawn(async move {
            let _ = tokio::io::copy(&mut stderr, &mut to_client).await;
        }));
    }
    let status = loop {
        tokio::select! {
            message = channel.wait() => match message {
                Some(ChannelMsg::Data { data }) => {
                    if let Some(pipe) = stdin.as_mut()
                        && pipe.write_all(&data).await.is_err()
                    {
                        stdin = None;
                    }
                }
                Some(ChannelMsg::Eof) => stdin = None,
                Some(ChannelMsg::Signal { signal }) => send_signal(pid, &signal),
                None | Some(ChannelMsg::Close) => break None,
                Some(_) => {}
            },
            status = child.wait() => break Some(status),
        }
    };
    drop(stdin);
    match status {
        Some(status) => {
            let drained = futures_util::future::join_all(copies);
            let _ = tokio::time::timeout(EXIT_DRAIN, drained).await;
            finish(&channel, status).await;
        }
        None => hang_up(pid, child, Signal::SIGTERM),
    }
}

/// Tells the client how the process ended and closes the channel.
async fn finish(channel: &Channel<Msg>, status: std::io::Result<std::process::ExitStatus>) {
    use std::os::unix::process::ExitStatusExt;
    // A signal is reported the way shells do, as 128 + its number.
    let code = match status {
        Ok(status) => status
            .code()
            .or_else(|| status.signal().map(|signal| 128 + signal))
            .unwrap_or(255),
        Err(_) => 255,
    };
    let _ = channel.eof().await;
    let _ = channel
        .exit_status(u32::try_from(code).unwrap_or(255))
        .await;
    let _ = channel.close().await;
}

/// Says on the channel's stderr why nothing runs, and ends it with status 127.
async fn refuse(channel: &Channel<Msg>, why: &str) {
    let line = format!("sam-agent: {why}\r\n");
    let _ = channel
        .extended_data(1, std::io::Cursor::new(line.into_bytes()))
        .await;
    let _ = channel.eof().await;
    let _ = channel.exit_status(127).await;
    let _ = channel.close().await;
}

/// The client went away: the process group gets `polite`, then SIGKILL after the grace.
fn hang_up(pid: Option<i32>, mut child: tokio::process::Child, polite: Signal) {
    let Some(pid) = pid else { return };
    let _ = killpg(Pid::from_raw(pid), polite);
    tokio::spawn(async move {
        if tokio::time::timeout(CLOSE_GRACE, child.wait())
            .await
            .is_err()
        {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = child.wait().await;
        }
    });
}

fn send_signal(pid: Option<i32>, signal: &Sig) {
    let signal = match signal {
        Sig::ABRT => Signal::SIGABRT,
        Sig::ALRM => Signal::SIGALRM,
        Sig::FPE => Signal::SIGFPE,
        Sig::HUP => Signal::SIGHUP,
        Sig::ILL => Signal::SIGILL,
        Sig::INT => Signal::SIGINT,
        Sig::KILL => Signal::SIGKILL,
        Sig::PIPE => Signal::SIGPIPE,
        Sig::QUIT => Signal::SIGQUIT,
        Sig::SEGV => Signal::SIGSEGV,
        Sig::TERM => Signal::SIGTERM,
        Sig::USR1 => Signal::SIGUSR1,
        Sig::Custom(name) if name == "USR2" => Signal::SIGUSR2,
        Sig::Custom(_) => return,
    };
    if let Some(pid) = pid {
        let _ = kill(Pid::from_raw(pid), signal);
    }
}

/// A terminal dimension from the client, kept within what a PTY takes.
fn clamp(cells: u32) -> u16 {
    u16::try_from(cells).unwrap_or(u16::MAX).max(1)
}

fn is_variable_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
