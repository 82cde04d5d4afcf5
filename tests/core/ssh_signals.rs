//! What OpenSSH's command line cannot send — a signal for the remote command — sent by another
//! SSH client (russh's) through `sam ssh --stdio`, the ProxyCommand, to a Local workspace's
//! agent, whose host key the client checks against SAM's known_hosts like OpenSSH does.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::PublicKeyOrCertificate;
use russh::{ChannelMsg, Sig};

use super::cli::Sam;

/// Accepts only the host key SAM pinned: `pinned`, a line of SAM's known_hosts
/// (`sam-<id> ssh-ed25519 AAAA…`).
struct Pinned {
    pinned: String,
}

impl client::Handler for Pinned {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let offered = key.public_key().to_openssh().unwrap_or_default();
        let pinned = self.pinned.split_whitespace().skip(1).take(2);
        Ok(pinned.eq(offered.split_whitespace().take(2)))
    }
}

/// An SSH connection to the workspace `demo` of `sam`, through `sam ssh --stdio`.
async fn connect(sam: &Sam) -> (Handle<Pinned>, tokio::process::Child) {
    let ssh_dir = sam.data_dir().join("ssh");
    let known_hosts = std::fs::read_to_string(ssh_dir.join("known_hosts")).expect("known_hosts");
    let pinned = known_hosts
        .lines()
        .find(|line| !line.starts_with('#'))
        .expect("a host key")
        .to_owned();
    let config = std::fs::read_to_string(ssh_dir.join("config")).expect("SAM's hosts");
    let user = config
        .lines()
        .find_map(|line| line.trim().strip_prefix("User "))
        .expect("a user")
        .to_owned();
    let mut proxy = tokio::process::Command::from(sam.command(&["ssh", "--stdio", "demo"]))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("sam ssh --stdio runs");
    let pipe = tokio::io::join(
        proxy.stdout.take().expect("stdout"),
        proxy.stdin.take().expect("stdin"),
    );
    let handler = Pinned { pinned };
    let mut session = client::connect_stream(Arc::new(client::Config::default()), pipe, handler)
        .await
        .expect("the host key SAM pinned");
    let auth = session
        .authenticate_none(user)
        .await
        .expect("authenticates");
    assert!(auth.success(), "{auth:?}");
    (session, proxy)
}

/// Runs `command`, sends `signal` once it printed `ready`; what it printed and its exit status.
async fn signalled(session: &Handle<Pinned>, command: &str, signal: Sig) -> (String, Option<u32>) {
    let mut channel = session.channel_open_session().await.expect("a channel");
    channel.exec(true, command).await.expect("runs");
    let (mut out, mut sent, mut status) = (Vec::new(), false, None);
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), channel.wait())
            .await
            .expect("the command answers");
        match message {
            Some(ChannelMsg::Data { data }) => {
                out.extend_from_slice(&data);
                if !sent && out.ends_with(b"ready\n") {
                    channel.signal(signal.clone()).await.expect("signalled");
                    sent = true;
                }
            }
            Some(ChannelMsg::ExitStatus { exit_status }) => status = Some(exit_status),
            Some(ChannelMsg::Close) | None => break,
            Some(_) => {}
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_reach_the_remote_command_and_its_end_is_reported() {
    let sam = Sam::new();
    let (code, created) = sam.create("demo");
    assert_eq!(code, Some(0), "{created}");
    let (session, _proxy) = connect(&sam).await;

    // A command that handles the signal says so and ends as it chooses.
    let (out, status) = signalled(
        &session,
        "trap 'echo terminated; exit 9' TERM; echo ready; while :; do sleep 0.05; done",
        Sig::TERM,
    )
    .await;
    assert_eq!(out, "ready\nterminated\n");
    assert_eq!(status, Some(9));

    // One that does not dies of it, reported as shells do (128 + 2).
    let (out, status) = signalled(&session, "echo ready; exec sleep 60", Sig::INT).await;
    assert_eq!(out, "ready\n");
    assert_eq!(status, Some(130));
}
