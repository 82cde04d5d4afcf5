//! A real coding agent from npm — Codex's ACP adapter, `@agentclientprotocol/codex-acp` — in a
//! Local workspace, against a local fake of OpenAI's Responses API: it asks the desktop before it
//! runs a command, waits for the answer, runs it and ends its turn. `scripts/test` installs the
//! adapter (`SAM_REAL_AGENTS`); where it is not installed the test says so and checks nothing.

use super::cli::Sam;
use super::cli_agents::{Turn, chunks};

/// Where `scripts/test` installs the real adapters.
fn codex_acp() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("SAM_REAL_AGENTS").map(std::path::PathBuf::from)?;
    let script = dir.join("node_modules/@agentclientprotocol/codex-acp/dist/index.js");
    script.is_file().then_some(script)
}

#[test]
fn codex_acp_asks_the_desktop_before_it_runs_a_command_and_runs_it_once_allowed() {
    let Some(codex) = codex_acp() else {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("codex-acp is not installed (SAM_REAL_AGENTS): nothing checked");
        }
        return;
    };
    let sam = Sam::new();
    let (code, created) = sam.create("codex");
    assert_eq!(code, Some(0), "{created}");
    let log = sam.data_dir().join("responses.jsonl");
    let (_server, listening) =
        sam_test_support::start_fake("fake-responses.py", &[&log.to_string_lossy()]);
    let port = listening.strip_prefix("LISTENING ").expect("a port");
    let codex_home = sam.data_dir().join("codex-home");
    std::fs::create_dir_all(&codex_home).expect("codex home");
    std::fs::write(
        codex_home.join("config.toml"),
        format!(
            "model = \"fake-model\"\nmodel_provider = \"fake\"\n\n[model_providers.fake]\n\
             name = \"fake\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\nenv_key = \"FAKE_KEY\"\n\
             wire_api = \"responses\"\n"
        ),
    )
    .expect("config.toml");

    // The adapter as the user's own agent, its key in the keyring.
    let command = format!("node {}", codex.display());
    let env = format!("CODEX_HOME={}", codex_home.display());
    let add = [
        "agent",
        "add",
        "codex-real",
        "--command",
        &command,
        "--env",
        &env,
        "--env",
        "NO_BROWSER=1",
        "--key-env",
        "FAKE_KEY",
    ];
    assert_eq!(sam.run(&add).status.code(), Some(0));
    sam.set_key("codex-real", "fake-key-0001");

    // Its own default mode ("agent") reviews commands with the model instead of asking; SAM
    // starts it in one that asks.
    let (code, start) = sam.json(&[
        "--json",
        "agent",
        "start",
        "codex",
        "--agent",
        "codex-real",
        "--mode",
        "workspace-write",
    ]);
    assert_eq!(code, Some(0), "{start}");
    let session = start["session"]["id"].as_str().expect("an id").to_owned();

    // An allow rule for `touch` does not cover a command joined to another.
    let rule = sam.run(&["agent", "allow", "codex", "--command", "touch"]);
    assert_eq!(rule.status.code(), Some(0), "{rule:?}");

    let mut turn = Turn::start(&sam, &session, "run the tests");
    // The adapter says a few things first (a warning about the unknown model, its commands).
    let asked = loop {
        let line = turn.next();
        assert_ne!(
            line["type"], "done",
            "the turn ended without asking: {line}"
        );
        if line["type"] == "permission" {
            break line;
        }
    };
    let number = asked["permission"]["id"].as_i64().expect("a number");
    let request = &asked["permission"]["request"];
    assert!(asked["permission"]["answer"].is_null(), "{asked}");
    assert_eq!(request["toolCall"]["kind"], "execute", "{request}");
    assert_eq!(
        request["toolCall"]["rawInput"]["command"],
        "touch tests_ran.txt && echo tests passed"
    );
    let workspace = created["id"].as_str().expect("an id");
    let repo = sam
        .data_dir()
        .join("workspaces")
        .join(workspace)
        .join("repo");
    assert!(repo.is_dir(), "{}", repo.display());
    assert!(
        !repo.join("tests_ran.txt").exists(),
        "nothing ran before the answer"
    );
    let kinds: Vec<&str> = request["options"]
        .as_array()
        .expect("options")
        .iter()
        .filter_map(|o| o["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"allow_once") && kinds.contains(&"reject_once"),
        "{kinds:?}"
    );
    let allow = request["options"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["kind"] == "allow_once"))
        .and_then(|o| o["optionId"].as_str())
        .expect("an allow-once option")
        .to_owned();

    let answered = sam.run(&["agent", "answer", &number.to_string(), &allow]);
    assert_eq!(answered.status.code(), Some(0), "{answered:?}");
    let rest = turn.rest();
    assert!(
        chunks(&rest).contains("The tests ran and passed."),
        "{rest:?}"
    );
    assert_eq!(rest.last().expect("done")["stopReason"], "end_turn");
    assert!(
        repo.join("tests_ran.txt").exists(),
        "the command ran once allowed"
    );
    // The fake model saw the command's output come back.
    let requests = std::fs::read_to_string(&log).expect("the fake's log");
    assert!(requests.contains("tests passed"), "{requests}");
}
