//! The whole path on virtual machines: create → boot → the agent downloaded from the fake's
//! release and verified → enrolled → the repository cloned onto the Volume → a terminal; what the
//! workspace's user can and cannot reach inside; stop (the machine deleted, the disk kept) and
//! start (a new machine on the same disk, the work intact, its agent sent by the app as a build
//! that publishes none does); the root timer powering the machine
//! off when the agent is dead, and the agent's own backstop with the app away; delete leaving
//! nothing.

use std::time::Duration;

use sam_core::agent_client::{AgentClient, BackstopAction, IdlePolicy, StreamEvent};
use sam_core::provider::hetzner::api::Power;
use sam_core::provider::hetzner::model::ServerStatus;
use sam_core::ssh_hosts::alias as name_for_ssh;
use sam_core::store::OperationKind;
use sam_core::workspace::WorkspaceStatus;

use sam_core::agent_release::AgentSource;
use sam_test_support::binary;

use super::Tier;
use super::tier::terminal;

/// The phases of SAM's boot script, in order.
const PHASES: [&str; 10] = [
    "read-config",
    "download-agent",
    "verify-agent",
    "install-agent",
    "mount-workspace",
    "block-metadata",
    "ssh",
    "arm-backstop",
    "start-agent",
    "done",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_boots_on_a_virtual_machine_keeps_its_disk_and_is_powered_off_idle() {
    let tier = Tier::start().await;
    let core = tier.core("vm-path");
    let lifecycle = core.workspaces();

    // Create: the machine boots from SAM's user_data and the app enrolls and clones.
    let workspace = tier.create(&core).await;
    let name = format!("sam-{}", workspace.id);
    assert_eq!(workspace.status, WorkspaceStatus::Running, "{workspace:?}");
    let events = core.store().events(&workspace.id, 0, 1000).expect("events");
    let boot: Vec<&str> = events
        .iter()
        .filter(|e| e.step == "boot")
        .map(|e| e.message.as_str())
        .collect();
    let ran: Vec<&str> = PHASES
        .iter()
        .copied()
        .filter(|phase| {
            boot.iter()
                .any(|m| m.starts_with(&format!("sam-boot: {phase}: ok")))
        })
        .collect();
    assert_eq!(ran, PHASES, "every phase ran and was fine: {boot:#?}");

    // A terminal: a login shell as the workspace's user, in the clone.
    let agent = lifecycle.connect(&workspace).await.expect("connected");
    let screen = terminal(
        &agent,
        "echo \"$(id -un) in $(pwd): $(cat README.md)\"\r",
        "private",
    )
    .await;
    assert!(screen.contains("dev in /workspace: private"), "{screen}");

    // SSH with Debian's OpenSSH client through `sam ssh`: a command as the workspace's user,
    // and SFTP, which scp and editors use, from the server's own sftp-server.
    let sam = |args: &[&str]| {
        std::process::Command::new(binary("sam"))
            .args(args)
            .env("SAM_DATA_DIR", tier.data_dir("vm-path"))
            .output()
            .expect("sam runs")
    };
    let id = workspace.id.to_string();
    let out = sam(&[
        "ssh",
        &id,
        "--",
        "echo \"$(id -un) in $(pwd): $(cat README.md)\"",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "dev in /workspace: private\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fetched = tier.data_dir("vm-path").join("README.fetched");
    let batch = tier.data_dir("vm-path").join("sftp-batch");
    std::fs::write(&batch, format!("get README.md {}\n", fetched.display())).expect("batch");
    let config = tier.data_dir("vm-path").join("ssh/config");
    let sftp = std::process::Command::new("sftp")
        .arg("-F")
        .arg(&config)
        .args(["-o", "BatchMode=yes", "-b"])
        .arg(&batch)
        .arg(name_for_ssh(&workspace.name, &workspace.id))
        .env("SAM_DATA_DIR", tier.data_dir("vm-path"))
        .output()
        .expect("sftp runs");
    assert!(
        sftp.status.success(),
        "{}",
        String::from_utf8_lossy(&sftp.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&fetched).expect("fetched").trim(),
        "private"
    );

    // A port of the server reached from this computer, as a coding agent's OAuth callback or a
    // dev server would be: a web server started in the workspace over SSH (it says when it
    // listens), forwarded by `sam port-forward` (which says where).
    let first_line = |child: &mut std::process::Child| {
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.as_mut().expect("stdout")),
            &mut line,
        )
        .expect("a line");
        line
    };
    let sam_child = |args: &[&str]| {
        std::process::Command::new(binary("sam"))
            .args(args)
            .env("SAM_DATA_DIR", tier.data_dir("vm-path"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sam runs")
    };
    let mut server = sam_child(&[
        "ssh",
        &id,
        "--",
        "exec python3 -u -m http.server 8123 --bind 127.0.0.1 2>/dev/null",
    ]);
    let serving = first_line(&mut server);
    assert!(serving.contains("port 8123"), "{serving}");
    let mut forward = sam_child(&["--json", "port-forward", &id, "0:8123"]);
    let announced: serde_json::Value =
        serde_json::from_str(&first_line(&mut forward)).expect("JSON");
    let local = u16::try_from(announced["local"].as_u64().expect("local port")).expect("port");
    let mut socket = std::net::TcpStream::connect(("127.0.0.1", local)).expect("connects");
    std::io::Write::write_all(&mut socket, b"GET /README.md HTTP/1.0\r\n\r\n").expect("asks");
    let mut response = String::new();
    std::io::Read::read_to_string(&mut socket, &mut response).expect("reads");
    for child in [&mut forward, &mut server] {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(response.starts_with("HTTP/1.0 200"), "{response}");
    assert!(response.trim_end().ends_with("private"), "{response}");

    // What the workspace's user cannot do.
    let (out, code) = as_dev(&agent, "ls /var/lib/sam-agent").await;
    assert_ne!(code, Some(0), "the agent's state is readable: {out}");
    assert!(out.contains("Permission denied"), "{out}");
    let (out, code) = as_dev(&agent, "cat /etc/sam-agent/config.json").await;
    assert_ne!(code, Some(0), "the agent's config is readable: {out}");
    let (out, code) = as_dev(
        &agent,
        "curl -sS -m 10 http://169.254.169.254/hetzner/v1/userdata",
    )
    .await;
    assert_ne!(
        code,
        Some(0),
        "the metadata service answered the user: {out}"
    );
    let (out, _) = as_dev(
        &agent,
        "echo work-in-progress > work.txt && sync && cat work.txt",
    )
    .await;
    assert_eq!(out.trim(), "work-in-progress");

    // Inside, as root: the agent runs unprivileged; only its user reaches the metadata
    // service (so the block is the rule, not a broken service); the workspace is the Volume.
    let agent_user = tier.root(&name, "ps -o user= -C sam-agent | sort -u");
    assert_eq!(agent_user.output.trim(), "sam-agent", "{agent_user:?}");
    let metadata = tier.root(
        &name,
        "runuser -u sam-agent -- curl -sS -m 10 http://169.254.169.254/hetzner/v1/metadata/hostname",
    );
    assert_eq!(metadata.output.trim(), name, "{metadata:?}");
    let volume = tier.root(
        &name,
        "test \"$(findmnt -n -o SOURCE /workspace)\" = \"$(readlink -f /dev/disk/by-id/scsi-0HC_Volume_*)\" && echo volume",
    );
    assert_eq!(volume.output.trim(), "volume", "{volume:?}");
    drop(agent);

    // Stop: the machine is deleted, the disk kept. Start: a new machine on the same disk, this
    // time from a build that publishes no agent: the app sends its own.
    for kind in [OperationKind::Stop, OperationKind::Start] {
        if kind == OperationKind::Start {
            tier.use_agent(&core, "vm-path", AgentSource::Deliver(binary("sam-agent")));
        }
        let operation = lifecycle.begin(&workspace.id, kind).expect("begun");
        lifecycle
            .run(operation)
            .await
            .unwrap_or_else(|err| panic!("{kind:?}: {err}\n{}", tier.console(&name)));
        if kind == OperationKind::Stop {
            assert!(tier.fake.servers().is_empty(), "{:?}", tier.fake.servers());
        }
    }
    let started = core.store().workspace(&workspace.id).expect("kept");
    assert_eq!(started.status, WorkspaceStatus::Running);
    let events = core.store().events(&workspace.id, 0, 1000).expect("events");
    assert!(
        events
            .iter()
            .any(|e| e.step == "boot" && e.message == "sam-boot: receive-agent: ok"),
        "the second server received the agent from the app: {events:#?}"
    );
    let agent = lifecycle.connect(&started).await.expect("connected");
    let (out, _) = as_dev(&agent, "cat work.txt").await;
    assert_eq!(out.trim(), "work-in-progress", "the work survived the stop");
    drop(agent);

    // The agent dies and the workspace was idle long ago: the root timer powers the machine off.
    let killed = tier.root(
        &name,
        "systemctl stop sam-agent && touch -d '3 hours ago' /var/lib/sam-agent/active && echo killed",
    );
    assert_eq!(killed.output.trim(), "killed", "{killed:?}");
    wait_for(&tier, &name, ServerStatus::Off, Duration::from_secs(180)).await;

    // Powered on again (the agent starts with the machine), the app away, the agent's own
    // backstop is due: it asks root to power off, and the machine goes off.
    let client = tier.client();
    let server = client
        .server_named(&name)
        .await
        .expect("get")
        .expect("server");
    let action = client
        .power(server.id, Power::Poweron)
        .await
        .expect("power on");
    client
        .wait(&action, Duration::from_secs(60))
        .await
        .expect("powered on");
    let agent = connect_when_up(&tier, lifecycle, &started, &name).await;
    agent
        .set_idle_policy(IdlePolicy {
            timeout_secs: Some(1),
            extend_until: None,
            grace_secs: 0,
            action: BackstopAction::Poweroff,
        })
        .await
        .expect("policy");
    drop(agent);
    wait_for(&tier, &name, ServerStatus::Off, Duration::from_secs(180)).await;

    // The app notices, completes the stop, and a delete leaves nothing.
    lifecycle.sweep().await.expect("sweep");
    let record = core.store().workspace(&workspace.id).expect("kept");
    assert_eq!(record.status, WorkspaceStatus::Stopped, "{record:?}");
    let operation = lifecycle
        .begin(&workspace.id, OperationKind::Delete)
        .expect("begun");
    lifecycle.run(operation).await.expect("deleted");
    assert!(tier.fake.servers().is_empty());
    assert!(
        tier.fake.volume_dir(&name).is_none(),
        "the Volume is deleted"
    );
    let selector = format!("sam-workspace={}", workspace.id);
    assert!(
        client
            .firewalls(&selector)
            .await
            .expect("firewalls")
            .is_empty()
    );
}

/// Runs `script` with `sh -c` as the workspace's user through the agent; its output (standard
/// output and error) and exit code.
async fn as_dev(agent: &AgentClient, script: &str) -> (String, Option<i32>) {
    let job = agent
        .run_job(
            vec!["sh".into(), "-c".into(), format!("{script} 2>&1")],
            None,
            Default::default(),
        )
        .await
        .expect("job");
    let (mut handle, _) = agent.attach(job.stream, 0).await.expect("attached");
    let mut output = Vec::new();
    while let Some(event) = handle.next().await {
        match event {
            StreamEvent::Output { bytes, .. } => output.extend_from_slice(&bytes),
            StreamEvent::Exit(status) => {
                return (String::from_utf8_lossy(&output).into_owned(), status.code);
            }
            _ => {}
        }
    }
    panic!("the job went away: {}", String::from_utf8_lossy(&output));
}

/// Waits until the API shows server `name` as `status`.
async fn wait_for(tier: &Tier, name: &str, status: ServerStatus, within: Duration) {
    let client = tier.client();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let now = client
            .server_named(name)
            .await
            .expect("get")
            .map(|s| s.status);
        if now == Some(status) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} is {now:?}, not {status:?}, after {within:?}\n{}",
            tier.console(name)
        );
        // The machine acts on its own; the API is all there is to watch.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Connects to the workspace's agent once the machine has booted far enough to answer.
async fn connect_when_up(
    tier: &Tier,
    lifecycle: &sam_core::lifecycle::Workspaces,
    workspace: &sam_core::workspace::Workspace,
    name: &str,
) -> AgentClient {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        match lifecycle.connect(workspace).await {
            Ok(agent) => return agent,
            // Each try waits up to 10 s for an answer: the boot is what it waits for.
            Err(err) => assert!(
                tokio::time::Instant::now() < deadline,
                "the agent never answered: {err:?}\n{}",
                tier.console(name)
            ),
        }
    }
}
