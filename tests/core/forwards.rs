//! The desktop's forwards (`core.forwards()`) on a Local workspace whose repository declares
//! `forwardPorts` in `.devcontainer/devcontainer.json`: forwarded once without being asked,
//! reached, and, once the user stops the forward, not forwarded again.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;

use sam_core::idle::IdleChoice;
use sam_core::lifecycle::CreateRequest;
use sam_core::workspace::ProviderKind;

use super::lifecycle::{Fixture, source_repo};

fn git(repo: &std::path::Path, args: &[&str]) {
    let status = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?}");
}

fn answering(body: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binds");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for socket in listener.incoming().flatten() {
            let mut socket = socket;
            let _ = socket.write_all(body.as_bytes());
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_ports_are_forwarded_once() {
    let fixture = Fixture::new();
    let declared = answering("declared");
    let url = source_repo(fixture.dir.path());
    let repo = fixture.dir.path().join("source");
    std::fs::create_dir_all(repo.join(".devcontainer")).expect("folder");
    std::fs::write(
        repo.join(".devcontainer/devcontainer.json"),
        format!(
            "// ports\n{{ \"image\": \"debian\", \"forwardPorts\": [{declared}, \"db:5432\",], }}\n"
        ),
    )
    .expect("writes");
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "dev container"]);

    let lifecycle = fixture.core.workspaces();
    let request = CreateRequest {
        repo: url,
        name: None,
        branch: None,
        provider: ProviderKind::Local,
        idle: IdleChoice::Never,
        placement: None,
    };
    let (workspace, operation) = lifecycle.begin_create(&request).expect("begins");
    lifecycle.run(operation).await.expect("creates");

    let forwards = fixture.core.forwards();
    forwards.reconcile().await;
    let listed = forwards.list(&workspace.id).expect("lists");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].remote, declared);
    let address = listed[0]
        .url
        .as_deref()
        .expect("listening")
        .trim_start_matches("http://")
        .to_owned();
    let mut got = String::new();
    TcpStream::connect(&address)
        .expect("connects")
        .read_to_string(&mut got)
        .expect("reads");
    assert_eq!(got, "declared");
    let events = fixture
        .core
        .store()
        .events(&workspace.id, 0, 1000)
        .expect("events");
    assert!(
        events
            .iter()
            .any(|e| e.message.contains(&format!("declares: {declared}"))),
        "{events:#?}"
    );
    // What becomes of the configuration itself is said once.
    let said: Vec<_> = events.iter().filter(|e| e.step == "devcontainer").collect();
    assert_eq!(said.len(), 1, "{events:#?}");
    assert!(
        said[0].message.starts_with(
            ".devcontainer/devcontainer.json: a dev container configuration (image debian)."
        ),
        "{said:#?}"
    );

    // Stopped by the user: it stays stopped, however often the forwards are reconciled.
    forwards
        .remove(&workspace.id, declared)
        .await
        .expect("removed");
    forwards.reconcile().await;
    assert!(forwards.list(&workspace.id).expect("lists").is_empty());
    assert!(
        TcpStream::connect(&address).is_err(),
        "{address} still listens"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addresses_a_coding_agent_prints_are_offered_until_forwarded_or_dismissed() {
    use sam_core::coding_agents::sessions::{self, AgentChoice};

    let fixture = Fixture::new();
    let id = super::lifecycle::running_local_workspace(&fixture).await;
    let core = &fixture.core;
    let workspace = core.store().workspace(&id).expect("workspace");
    let fake = sam_test_support::binary("fake-acp")
        .to_string_lossy()
        .into_owned();
    let session = sessions::start(
        core,
        &workspace,
        &AgentChoice::Command(fake),
        None,
        &mut |_: &str| {},
    )
    .await
    .expect("started");
    let forwards = core.forwards();
    assert_eq!(forwards.offers(&id).expect("offers"), []);

    // A command the coding agent runs prints where its server listens (the coding agent then
    // quotes it in its message).
    let prompt = "term printf 'ready on http://localhost:%s/ and http://127.0.0.1:%s\\n' 4321 4322";
    sessions::prompt(core, &session.id, prompt, |_| {})
        .await
        .expect("a turn");
    let offered: Vec<u16> = forwards
        .offers(&id)
        .expect("offers")
        .iter()
        .map(|offer| offer.port)
        .collect();
    assert_eq!(offered, [4321, 4322]);
    assert_eq!(forwards.offers(&id).expect("offers")[0].by, session.agent);

    // One forwarded, one dismissed: neither is offered again, even when printed again.
    forwards.add(&id, 4321, None).await.expect("forwarded");
    forwards.dismiss(&id, 4322);
    sessions::prompt(core, &session.id, prompt, |_| {})
        .await
        .expect("a turn");
    assert_eq!(forwards.offers(&id).expect("offers"), []);
    // A forward stopped later is an answer given too.
    forwards.remove(&id, 4321).await.expect("removed");
    assert_eq!(forwards.offers(&id).expect("offers"), []);
}
