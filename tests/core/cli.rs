//! The real `sam` binary: JSON shapes, exit codes, background workers, and a process killed
//! mid-operation whose work the next process finishes. Needs the Secret Service (scripts/test
//! runs the tests inside a D-Bus session with an unlocked gnome-keyring).

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use sam_core::store::Store;
use sam_core::workspace::WorkspaceId;
use sam_test_support::binary;
use serde_json::Value;

use super::lifecycle::{agent_processes_for as agents_for, source_repo};

pub(crate) struct Sam {
    pub(crate) dir: tempfile::TempDir,
}

impl Drop for Sam {
    fn drop(&mut self) {
        sam_test_support::kill_agents_under(self.dir.path());
    }
}

impl Sam {
    pub(crate) fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("dir"),
        }
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(binary("sam"));
        command
            .args(args)
            .env("SAM_DATA_DIR", self.dir.path().join("data"))
            .env("SAM_LEASE_SECS", "1");
        command
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.command(args)
            .stdin(Stdio::null())
            .output()
            .expect("sam runs")
    }

    /// `sam agent set-key AGENT` with `key` on standard input, as a person types it.
    pub(crate) fn set_key(&self, agent: &str, key: &str) {
        use std::io::Write;
        let mut set = self
            .command(&["agent", "set-key", agent])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("set-key runs");
        set.stdin
            .take()
            .expect("stdin")
            .write_all(format!("{key}\n").as_bytes())
            .expect("writes");
        assert!(set.wait().expect("exits").success());
    }

    pub(crate) fn json(&self, args: &[&str]) -> (Option<i32>, Value) {
        let output = self.run(args);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let value = serde_json::from_str(stdout.trim()).unwrap_or_else(|err| {
            panic!(
                "{args:?}: not JSON ({err}): {stdout:?}\nstderr: {}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
        (output.status.code(), value)
    }

    /// Creates a Local workspace named `name` from a fresh source repository and waits for it.
    pub(crate) fn create(&self, name: &str) -> (Option<i32>, Value) {
        let repo = source_repo(self.dir.path());
        self.json(&[
            "--json",
            "workspace",
            "create",
            "--repo",
            &repo,
            "--name",
            name,
            "--wait",
        ])
    }

    /// Where this SAM keeps its data.
    pub(crate) fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    pub(crate) fn store(&self) -> Store {
        Store::open(&self.dir.path().join("data/sam.sqlite3")).expect("store")
    }

    /// Polls `show` until `done` (bounded): the background worker has no other signal to us.
    fn wait_for(&self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let (_, shown) = self.json(&["--json", "workspace", "show", id]);
            if done(&shown) {
                return shown;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "gave up waiting: {shown}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn json_shapes_and_exit_codes() {
    let sam = Sam::new();
    let (code, created) = sam.create("demo");
    assert_eq!(code, Some(0), "{created}");
    for key in ["id", "name", "status", "provider", "repo"] {
        assert!(created.get(key).is_some(), "{key} missing in {created}");
    }
    assert_eq!(created["status"], "running");
    assert_eq!(created["provider"], "local");
    assert_eq!(created["name"], "demo");
    let id = created["id"].as_str().expect("id").to_owned();

    let (code, list) = sam.json(&["--json", "workspace", "list"]);
    assert_eq!(code, Some(0));
    assert_eq!(list["workspaces"].as_array().map(Vec::len), Some(1));

    let (code, err) = sam.json(&["--json", "workspace", "create", "--repo", "not a url"]);
    assert_eq!(code, Some(2));
    assert_eq!(err["category"], "invalid-input");
    assert!(err["next_step"].is_string());

    let (code, logs) = sam.json(&["--json", "workspace", "logs", "demo"]);
    assert_eq!(code, Some(0));
    assert!(
        logs["events"]
            .as_array()
            .is_some_and(|events| events.iter().any(|e| e["step"] == "clone"))
    );

    // The idle policy: never on this computer unless set; set, kept running, refused when bad.
    let (code, idle) = sam.json(&["--json", "idle", "show", "demo"]);
    assert_eq!(
        (code, &idle["timeout_secs"]),
        (Some(0), &Value::Null),
        "{idle}"
    );
    let (code, idle) = sam.json(&["--json", "idle", "set", "demo", "45m"]);
    assert_eq!(
        (code, idle["timeout_secs"].as_u64()),
        (Some(0), Some(2700)),
        "{idle}"
    );
    let before = sam_core::clock::now_ms();
    let (code, idle) = sam.json(&["--json", "idle", "keep-running", "demo", "--for", "2h"]);
    assert_eq!(code, Some(0), "{idle}");
    let kept = idle["kept_until_ms"].as_i64().expect("kept until");
    assert!(kept >= before + 2 * 3_600_000, "{idle}");
    assert_eq!(
        sam.run(&["idle", "set", "demo", "30s"]).status.code(),
        Some(2)
    );
    let (code, err) = sam.json(&["--json", "idle", "keep-running", "demo", "--for", "25h"]);
    assert_eq!(
        (code, &err["category"]),
        (Some(2), &Value::from("invalid-input"))
    );
    // A git token goes to the keyring; only the host is listed, and the token is in no file.
    let mut setting = sam
        .command(&["--json", "git", "set-token", "git.example.com:8443"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sam");
    std::io::Write::write_all(
        &mut setting.stdin.take().expect("stdin"),
        b"cli-git-token-0123456789\n",
    )
    .expect("token");
    let output = setting.wait_with_output().expect("sam");
    let hosts: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(hosts["hosts"], serde_json::json!(["git.example.com:8443"]));
    let database = std::fs::read(sam.dir.path().join("data/sam.sqlite3")).unwrap_or_default();
    assert!(!String::from_utf8_lossy(&database).contains("cli-git-token"));
    let (code, hosts) = sam.json(&["--json", "git", "remove-token", "git.example.com:8443"]);
    assert_eq!((code, &hosts["hosts"]), (Some(0), &serde_json::json!([])));
    let (code, err) = sam.json(&["--json", "git", "remove-token", "https://x/y"]);
    assert_eq!(
        (code, &err["category"]),
        (Some(2), &Value::from("invalid-input"))
    );

    // Nothing billed on this computer.
    let (code, spend) = sam.json(&["--json", "spend"]);
    assert_eq!(code, Some(0), "{spend}");
    assert_eq!(spend["month_to_date_centicents"], 0);

    let refused = sam.run(&["workspace", "delete", &id]);
    assert_eq!(
        refused.status.code(),
        Some(2),
        "no confirmation on a closed stdin"
    );
    let (code, deleted) = sam.json(&["--json", "workspace", "delete", &id, "--yes", "--wait"]);
    assert_eq!(code, Some(0));
    assert_eq!(deleted["deleted"], id.as_str());
    let (code, err) = sam.json(&["--json", "workspace", "show", &id]);
    assert_eq!(code, Some(2));
    assert_eq!(err["category"], "invalid-input");
}

#[test]
fn without_wait_a_background_worker_finishes_the_job() {
    let sam = Sam::new();
    let repo = source_repo(sam.dir.path());
    let (code, created) = sam.json(&["--json", "workspace", "create", "--repo", &repo]);
    assert_eq!(code, Some(0));
    assert_eq!(created["status"], "creating");
    let id = created["id"].as_str().expect("id").to_owned();
    // The status turns `running` a moment before the operation is recorded as done.
    let shown = sam.wait_for(&id, |shown| {
        shown["status"] == "running" && shown["operation"].is_null()
    });
    assert_eq!(shown["error"], Value::Null, "{shown}");
    sam.run(&["workspace", "delete", &id, "--yes", "--wait"]);
}

#[test]
fn a_create_killed_mid_way_is_finished_by_the_next_process_without_a_second_agent() {
    let sam = Sam::new();
    let repo = source_repo(sam.dir.path());
    let mut held = sam
        .command(&["--json", "workspace", "create", "--repo", &repo, "--wait"])
        .env("SAM_FAULT_HOLD_BEFORE_STEP", "clone")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(sam.dir.path().join("held.log")).expect("log"))
        .spawn()
        .expect("starts");
    let id = wait_for_event(&sam, "held before this step");
    held.kill().expect("SIGKILL");
    held.wait().expect("reaped");

    let (code, resumed) = resume_after_lease(&sam, &id);
    assert_eq!(code, Some(0), "{resumed}");
    assert_eq!(resumed["status"], "running");
    assert_eq!(
        agents_for(&id),
        1,
        "the agent the dead process started was adopted, not doubled"
    );
    sam.run(&["workspace", "delete", &id, "--yes", "--wait"]);
    assert_eq!(agents_for(&id), 0);
}

#[test]
fn a_stop_killed_mid_way_is_finished_by_the_next_process() {
    let sam = Sam::new();
    let repo = source_repo(sam.dir.path());
    let (_, created) = sam.json(&["--json", "workspace", "create", "--repo", &repo, "--wait"]);
    let id = created["id"].as_str().expect("id").to_owned();
    let mut held = sam
        .command(&["workspace", "stop", &id, "--wait"])
        .env("SAM_FAULT_HOLD_BEFORE_STEP", "release")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(sam.dir.path().join("held.log")).expect("log"))
        .spawn()
        .expect("starts");
    wait_for_event(&sam, "held before this step");
    held.kill().expect("SIGKILL");
    held.wait().expect("reaped");

    let (code, resumed) = resume_after_lease(&sam, &id);
    assert_eq!(code, Some(0), "{resumed}");
    assert_eq!(resumed["status"], "stopped");
    assert_eq!(agents_for(&id), 0);
    sam.run(&["workspace", "delete", &id, "--yes", "--wait"]);
}

/// Waits (bounded) for an event whose message contains `text`; returns its workspace id.
fn wait_for_event(sam: &Sam, text: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let log = sam.dir.path().join("held.log");
    loop {
        if sam.dir.path().join("data/sam.sqlite3").exists() {
            let store = sam.store();
            for workspace in store.workspaces().expect("lists") {
                let events = store.events(&workspace.id, 0, 1000).expect("events");
                if events.iter().any(|event| event.message.contains(text)) {
                    return workspace.id.to_string();
                }
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no event {text:?}; the held process said: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `resume` once the dead process's lease has expired.
fn resume_after_lease(sam: &Sam, id: &str) -> (Option<i32>, Value) {
    let workspace: WorkspaceId = id.parse().expect("id");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !sam
        .store()
        .orphaned_operations()
        .expect("lists")
        .iter()
        .any(|op| op.workspace == workspace)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the lease never expired"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = sam.run(&["workspace", "resume", id]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    sam.json(&["--json", "workspace", "show", id])
}

#[test]
fn the_local_agent_gets_a_clean_environment() {
    let sam = Sam::new();
    let repo = source_repo(sam.dir.path());
    let output = sam
        .command(&["--json", "workspace", "create", "--repo", &repo, "--wait"])
        .env(
            "GITHUB_TOKEN",
            "ghp_should_never_reach_the_workspace_000000",
        )
        .env("HCLOUD_TOKEN", "also-private")
        .output()
        .expect("runs");
    let created: Value = serde_json::from_slice(&output.stdout).expect("json");
    let id = created["id"].as_str().expect("id").to_owned();
    let environ = agent_environment(&id);
    assert!(
        environ.iter().any(|var| var.starts_with("PATH=")),
        "{environ:?}"
    );
    for var in &environ {
        assert!(
            !var.starts_with("GITHUB_TOKEN=") && !var.starts_with("HCLOUD_TOKEN="),
            "{var} leaked"
        );
        assert!(!var.starts_with("SAM_"), "{var} leaked");
    }
    sam.run(&["workspace", "delete", &id, "--yes", "--wait"]);
}

/// The environment of the agent serving workspace `id`.
fn agent_environment(id: &str) -> Vec<String> {
    for entry in std::fs::read_dir("/proc")
        .expect("proc")
        .filter_map(Result::ok)
    {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&cmdline);
        if text.contains("sam-agent") && text.contains(&format!("--workspace-id={id}")) {
            let environ = std::fs::read(entry.path().join("environ")).expect("environ");
            return environ
                .split(|b| *b == 0)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .collect();
        }
    }
    panic!("no agent for {id}");
}

#[test]
fn terminal_replay_prints_the_final_screen() {
    let sam = Sam::new();
    let recording = sam.dir.path().join("session.bin");
    // Colours, a cursor jump, an overwrite and a query (which a replay must not answer).
    std::fs::write(
        &recording,
        b"\x1b[31mred\x1b[0m\r\nplain\x1b[1;6Hx\x1b[6n\r\n\r\nabc\rZ",
    )
    .expect("write");
    let output = sam.run(&[
        "terminal",
        "replay",
        recording.to_str().expect("utf-8"),
        "--cols",
        "10",
        "--rows",
        "4",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "red  x\nplain\nZbc\n\n"
    );

    let (code, json) = sam.json(&[
        "--json",
        "terminal",
        "replay",
        recording.to_str().expect("utf-8"),
        "--cols",
        "10",
        "--rows",
        "4",
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(json["rows"][2], "Zbc");

    let missing = sam.run(&["terminal", "replay", "/no/such/file"]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn terminal_record_saves_what_a_program_prints_and_replays_it() {
    use std::io::Write;
    let sam = Sam::new();
    let recording = sam.dir.path().join("typed.bin");
    let file = recording.to_str().expect("utf-8");
    let program = r#"IFS= read -r line; printf '\033[32mgot %s\033[0m\n' "$line""#;
    let mut child = sam
        .command(&[
            "--json", "terminal", "record", file, "--cols", "30", "--rows", "3", "--", "bash",
            "--norc", "-c", program,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("runs sam");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"hello\n")
        .expect("types");
    let output = child.wait_with_output().expect("finishes");
    assert!(output.status.success(), "{output:?}");
    let summary: Value = serde_json::from_slice(&output.stdout).expect("json");
    let bytes = std::fs::read(&recording).expect("the recording");
    assert_eq!(summary["bytes"], bytes.len());
    assert_eq!(
        (summary["cols"].as_u64(), summary["exit_code"].as_i64()),
        (Some(30), Some(0))
    );
    assert!(
        bytes.windows(5).any(|w| w == b"\x1b[32m"),
        "raw bytes, colours included: {bytes:?}"
    );
    let (code, screen) = sam.json(&[
        "--json", "terminal", "replay", file, "--cols", "30", "--rows", "3",
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(
        screen["rows"],
        serde_json::json!(["hello", "got hello", ""])
    );

    let again = sam.run(&["terminal", "record", file, "--", "true"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    let missing = sam.run(&[
        "terminal",
        "record",
        "--force",
        file,
        "--",
        "no-such-program-here",
    ]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such-program-here"));
}

#[test]
fn sam_github_keeps_your_own_apps_secret_in_the_keyring_and_refuses_bad_ids() {
    let sam = Sam::new();
    let (code, status) = sam.json(&["--json", "github", "status"]);
    assert_eq!(code, Some(0), "{status}");
    assert_eq!(status["account"], Value::Null);

    let (code, err) = sam.json(&["--json", "github", "use-app", "not an id!"]);
    assert_eq!(
        (code, &err["category"]),
        (Some(2), &Value::from("invalid-input")),
        "{err}"
    );

    let mut using = sam
        .command(&["--json", "github", "use-app", "Iv23liCLIEXAMPLE"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sam");
    std::io::Write::write_all(
        &mut using.stdin.take().expect("stdin"),
        b"cli-app-secret-0123456789abcdef\n",
    )
    .expect("secret");
    let output = using.wait_with_output().expect("sam");
    let status: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(status["app"]["client_id"], "Iv23liCLIEXAMPLE", "{status}");
    assert_eq!(status["app"]["source"], "own");
    assert_eq!(status["app"]["has_secret"], true);
    let database = std::fs::read(sam.dir.path().join("data/sam.sqlite3")).unwrap_or_default();
    assert!(!String::from_utf8_lossy(&database).contains("cli-app-secret"));

    let (code, status) = sam.json(&["--json", "github", "forget-app"]);
    assert_eq!(code, Some(0), "{status}");
    assert_eq!(
        status["app"],
        Value::Null,
        "no app without the user's own (this build has none)"
    );
    let (code, err) = sam.json(&["--json", "github", "repos"]);
    assert_eq!(
        (code, &err["category"]),
        (Some(3), &Value::from("credentials")),
        "{err}"
    );
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.contains("not signed in")),
        "{err}"
    );
}

#[test]
fn the_agent_catalogue_lists_built_in_agents_and_keeps_the_users_own() {
    let sam = Sam::new();
    let (code, listed) = sam.json(&["agent", "catalog", "--json"]);
    assert_eq!(code, Some(0), "{listed}");
    let ids: Vec<&str> = listed["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    assert_eq!(ids, ["claude-code", "codex", "gemini", "opencode"]);
    assert_eq!(listed["agents"][0]["origin"], "built_in");
    assert_eq!(listed["agents"][0]["keyEnv"][0], "ANTHROPIC_API_KEY");

    let add = [
        "agent",
        "add",
        "my-agent",
        "--command",
        "my-agent --acp 'two words'",
        "--env",
        "MODE=fast",
        "--key-env",
        "MINE_KEY",
        "--json",
    ];
    let (code, added) = sam.json(&add);
    assert_eq!(code, Some(0), "{added}");
    let mine = &added["agents"][4];
    assert_eq!(mine["origin"], "custom");
    assert_eq!(
        mine["distribution"]["command"],
        serde_json::json!({"command": "my-agent", "args": ["--acp", "two words"], "env": {"MODE": "fast"}})
    );

    // Bad input is refused with exit code 2, and nothing is stored.
    for (args, says) in [
        (vec!["agent", "add", "codex", "--command", "x"], "built-in"),
        (
            vec!["agent", "add", "Bad Id", "--command", "x"],
            "not valid",
        ),
        (
            vec!["agent", "add", "x", "--command", "x 'open"],
            "cannot be read",
        ),
        (
            vec!["agent", "add", "x", "--command", "x", "--env", "TOKEN=abc"],
            "looks like a secret",
        ),
        (vec!["agent", "remove", "nobody"], "no coding agent"),
    ] {
        let output = sam.run(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }

    let (code, removed) = sam.json(&["agent", "remove", "my-agent", "--json"]);
    assert_eq!(code, Some(0));
    assert_eq!(removed["agents"].as_array().map(Vec::len), Some(4));
    let text = sam.run(&["agent", "catalog"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("Claude Code: npm @agentclientprotocol/claude-agent-acp@0.101.0, Node.js 22 or later; key: ANTHROPIC_API_KEY"), "{text}");
    assert!(
        text.contains("or log in, in a terminal of the workspace: npx --yes @openai/codex login"),
        "{text}"
    );
    assert!(
        text.contains("installed on the workspace's machine when it first starts"),
        "{text}"
    );
}
