//! A build that publishes no agent sends its own: the first stage in the user_data (real
//! `python3`, on a loopback port in place of 443) throws away a binary whose SHA-256 is not the
//! pinned one, keeps the one that is, and the boot script verifies and installs it. Nothing the
//! stage receives runs before that.

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::Duration;

use sam_core::provider::hetzner::cloud_init::RECEIVE_SCRIPT_PATH;
use sam_core::provider::hetzner::delivery::Delivery;

use crate::cloud_init::{BootRoot, FAKE_AGENT, describe, generate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_stage_keeps_only_the_pinned_agent_which_the_boot_script_installs() {
    let dir = tempfile::tempdir().expect("dir");
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    };
    let ours = Delivery::of(&write("sam-agent", FAKE_AGENT))
        .await
        .expect("ours");
    let other = Delivery::of(&write("other", b"#!/bin/sh\necho 'not the agent'\n"))
        .await
        .expect("other");

    let user_data = generate(None, &ours.sha256, &[]);
    assert!(user_data.contains("SAM_AGENT_DELIVERY=push"), "{user_data}");
    let boot = BootRoot::new(&user_data);
    // The first stage, as user_data writes it.
    let stage = boot.path(RECEIVE_SCRIPT_PATH);
    std::fs::create_dir_all(stage.parent().expect("parent")).expect("mkdir");
    std::fs::write(
        &stage,
        crate::cloud_init::written_file(&user_data, RECEIVE_SCRIPT_PATH),
    )
    .expect("stage");
    let port = {
        let probe = std::net::TcpListener::bind("0.0.0.0:0").expect("a free port");
        probe.local_addr().expect("addr").port()
    };
    let child = boot
        .command()
        .env("SAM_RECEIVE_PORT", port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the boot script starts");

    // Another binary is refused (and the app says so), the pinned one is taken.
    let refused = other
        .send("127.0.0.1", port, Duration::from_secs(60))
        .await
        .expect_err("a binary with another checksum is refused");
    assert!(refused.message.contains("checksum mismatch"), "{refused:?}");
    ours.send("127.0.0.1", port, Duration::from_secs(60))
        .await
        .expect("the pinned binary is taken");

    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("joined")
        .expect("the boot script ends");
    assert!(output.status.success(), "{}", describe(&output, &boot));
    let installed = std::fs::read(boot.path("/usr/local/bin/sam-agent")).expect("installed");
    assert_eq!(
        installed, FAKE_AGENT,
        "exactly the pinned binary is installed"
    );
    let log = boot.read("/var/log/sam-boot.log");
    for line in [
        "sam-boot: receive-agent: ok",
        "sam-boot: verify-agent: ok",
        "sam-boot: install-agent: ok",
        "sam-boot: done: ok",
    ] {
        assert!(log.lines().any(|l| l == line), "{line} missing:\n{log}");
    }
    assert!(!log.contains("download-agent"), "{log}");
    // The refused binary left nothing behind.
    let leftovers: Vec<_> = std::fs::read_dir(boot.path("/var/lib/sam-boot"))
        .expect("download folder")
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
