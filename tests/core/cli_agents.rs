//! Coding agents' sessions from the `sam` command line, on a Local workspace with the scripted
//! `fake-acp`: a turn streamed as JSON lines, and a permission request that waits until another
//! `sam` process answers it with one of the agent's own options.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use sam_test_support::binary;
use serde_json::Value;

use super::cli::Sam;

/// A running Local workspace with the fake agent in the catalogue; returns a started session.
pub(super) fn started(sam: &Sam) -> String {
    let (code, created) = sam.create("agents");
    assert_eq!(code, Some(0), "{created}");
    let fake = binary("fake-acp").to_string_lossy().into_owned();
    let (code, added) = sam.json(&["--json", "agent", "add", "fake", "--command", &fake]);
    assert_eq!(code, Some(0), "{added}");
    let (code, start) = sam.json(&["--json", "agent", "start", "agents", "--agent", "fake"]);
    assert_eq!(code, Some(0), "{start}");
    assert_eq!(start["session"]["state"], "idle");
    start["session"]["id"].as_str().expect("an id").to_owned()
}

/// A `sam agent prompt --json` running in the background, read line by line.
pub(super) struct Turn {
    child: std::process::Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Turn {
    pub(super) fn start(sam: &Sam, session: &str, text: &str) -> Self {
        Self::spawn(sam, &["--json", "agent", "prompt", session, text])
    }

    /// `sam ARGS` in the background.
    fn spawn(sam: &Sam, args: &[&str]) -> Self {
        let mut child = sam
            .command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("prompt runs");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Self { child, lines }
    }

    /// The next JSON line (blocks until the process prints one).
    pub(super) fn next(&mut self) -> Value {
        let line = self.lines.next().expect("a line").expect("readable");
        serde_json::from_str(&line).expect("a JSON line")
    }

    /// The permission request the next line must be; its number.
    pub(super) fn asked(&mut self) -> (i64, Value) {
        let asked = self.next();
        assert_eq!(asked["type"], "permission", "{asked}");
        (asked["permission"]["id"].as_i64().expect("a number"), asked)
    }

    /// Every line up to and including `done`.
    pub(super) fn rest(&mut self) -> Vec<Value> {
        let mut rest = Vec::new();
        loop {
            let line = self.next();
            let done = line["type"] == "done";
            rest.push(line);
            if done {
                return rest;
            }
        }
    }
}

impl Drop for Turn {
    /// A failing test leaves no turn waiting for an answer.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The transcript entry of a session's last prompt.
pub(super) fn last_prompt(sam: &Sam, session: &str) -> sam_core::store::AgentEventRow {
    let entries = sam
        .store()
        .transcript(session, 0, 100_000)
        .expect("transcript");
    entries
        .into_iter()
        .rev()
        .find(|e| e.kind == "prompt")
        .expect("a prompt")
}

/// The JSON lines a `sam --json agent prompt` printed.
pub(super) fn json_lines(output: &std::process::Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

/// The agent message chunks among JSON lines, joined.
pub(super) fn chunks(lines: &[Value]) -> String {
    lines
        .iter()
        .filter(|l| l["type"] == "update")
        .filter_map(|l| l["update"]["update"]["content"]["text"].as_str())
        .collect()
}

#[test]
fn a_turn_streams_as_json_lines_and_ends_with_its_stop_reason() {
    let sam = Sam::new();
    let session = started(&sam);
    let output = sam.run(&["--json", "agent", "prompt", &session, "count 3"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let lines = json_lines(&output);
    assert_eq!(chunks(&lines), "chunk 1\nchunk 2\nchunk 3\n");
    assert_eq!(lines.last().expect("done")["stopReason"], "end_turn");

    let (code, listed) = sam.json(&["--json", "agent", "sessions", "agents"]);
    assert_eq!(code, Some(0));
    assert_eq!(listed["sessions"][0]["id"], session.as_str());
    assert_eq!(listed["sessions"][0]["state"], "idle");
}

#[test]
fn a_permission_request_waits_for_an_answer_from_another_process() {
    let sam = Sam::new();
    let session = started(&sam);
    let mut turn = Turn::start(&sam, &session, "ask");
    let (number, asked) = turn.asked();
    assert_eq!(
        asked["permission"]["request"]["toolCall"]["rawInput"]["command"],
        "touch x"
    );

    let (code, pending) = sam.json(&["--json", "agent", "pending"]);
    assert_eq!(code, Some(0));
    assert_eq!(pending["pending"][0]["id"], number);
    // The workspace list says an agent there waits.
    let activity = sam.store().agent_activity().expect("activity");
    assert_eq!(activity.len(), 1);
    assert_eq!((activity[0].working, activity[0].waiting), (0, 1));
    let n = number.to_string();

    // Only the agent's own options, and only once.
    let wrong = sam.run(&["agent", "answer", &n, "yes-always"]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("allow, deny"));
    let (code, answered) = sam.json(&["--json", "agent", "answer", &n, "deny"]);
    assert_eq!(code, Some(0), "{answered}");
    let again = sam.run(&["agent", "answer", &n, "allow"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("answered already: deny"));

    let rest = turn.rest();
    assert_eq!(rest[0]["type"], "answered");
    assert_eq!(chunks(&rest), "permission: deny\n");
    assert_eq!(rest.last().expect("done")["stopReason"], "end_turn");
    assert!(turn.child.wait().expect("exits").success());
    assert_eq!(sam.store().agent_activity().expect("activity"), []);

    // The audit log keeps the request with its answer, who gave it, and that it was delivered.
    let (_, pending) = sam.json(&["--json", "agent", "pending"]);
    assert_eq!(pending["pending"].as_array().map(Vec::len), Some(0));
    let row = sam.store().permission(number).expect("kept");
    assert_eq!(row.answer.as_deref(), Some("deny"));
    assert_eq!(row.answered_by.as_deref(), Some("cli"));
    assert!(row.delivered);
}

#[test]
fn an_agents_key_reaches_only_its_process_and_no_file() {
    let sam = Sam::new();
    let (code, created) = sam.create("keys");
    assert_eq!(code, Some(0), "{created}");
    let fake = binary("fake-acp").to_string_lossy().into_owned();
    let add = [
        "agent",
        "add",
        "fake",
        "--command",
        &fake,
        "--key-env",
        "FAKE_API_KEY",
    ];
    assert_eq!(sam.run(&add).status.code(), Some(0));

    sam.set_key("fake", "sk-test-4711");
    let (_, catalog) = sam.json(&["--json", "agent", "catalog"]);
    assert_eq!(catalog["keyed"], serde_json::json!(["fake"]));

    let (code, start) = sam.json(&["--json", "agent", "start", "keys", "--agent", "fake"]);
    assert_eq!(code, Some(0), "{start}");
    let session = start["session"]["id"].as_str().expect("id").to_owned();
    let output = sam.run(&["--json", "agent", "prompt", &session, "env FAKE_API_KEY"]);
    let lines = json_lines(&output);
    // The agent has the key; quoting it, its words reach the transcript (and this output)
    // redacted.
    assert_eq!(chunks(&lines), "FAKE_API_KEY=[redacted]\n");

    // Not in SAM's database, its logs, or the workspace's agent log.
    for file in sam_test_support::files_under(sam.dir.path()) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        let found = bytes.windows(12).any(|w| w == b"sk-test-4711");
        assert!(!found, "the key is in {}", file.display());
    }
    assert_eq!(
        sam.run(&["agent", "remove-key", "fake"]).status.code(),
        Some(0)
    );
    let (_, catalog) = sam.json(&["--json", "agent", "catalog"]);
    assert_eq!(catalog["keyed"], serde_json::json!([]));
}

#[test]
fn cancel_answers_a_waiting_request_cancelled_and_ends_the_turn() {
    let sam = Sam::new();
    let session = started(&sam);
    let mut turn = Turn::start(&sam, &session, "ask");
    assert_eq!(turn.next()["type"], "permission");
    let (code, cancelled) = sam.json(&["--json", "agent", "cancel", &session]);
    assert_eq!(code, Some(0), "{cancelled}");
    assert_eq!(cancelled["answered"], 1);
    let rest = turn.rest();
    assert_eq!(rest[0]["permission"]["answer"], "cancelled");
    assert_eq!(chunks(&rest), "permission: cancelled\n");
    assert_eq!(rest.last().expect("done")["stopReason"], "cancelled");
    assert_eq!(
        turn.child.wait().expect("exits").code(),
        Some(1),
        "a cancelled turn is not a success"
    );
}

#[test]
fn a_turn_whose_follower_died_is_adopted_and_recorded_once() {
    let sam = Sam::new();
    let session = started(&sam);
    let mut turn = Turn::start(&sam, &session, "ask");
    let (number, _) = turn.asked();
    // The process following the turn dies while the agent waits (an app closed mid-turn).
    turn.child.kill().expect("killed");
    turn.child.wait().expect("reaped");
    let store = sam.store();

    // While its heartbeat is fresh, nobody else takes the turn, and no new prompt starts.
    let busy = sam.run(&["agent", "follow", &session]);
    assert_eq!(busy.status.code(), Some(2), "{busy:?}");
    assert!(String::from_utf8_lossy(&busy.stderr).contains("Another SAM process"));
    let refused = sam.run(&["agent", "prompt", &session, "count 1"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("has not finished its turn"));

    // Its heartbeat goes stale (here at once instead of after five seconds).
    store.release_agent_session(&session).expect("released");
    let orphans = store.unfollowed_agent_sessions(0).expect("listed");
    assert_eq!(orphans.len(), 1);
    assert_eq!(orphans[0].state, "waiting");

    let mut follow = Turn::spawn(&sam, &["--json", "agent", "follow", &session]);
    let (code, answered) = sam.json(&["--json", "agent", "answer", &number.to_string(), "allow"]);
    assert_eq!(code, Some(0), "{answered}");
    let rest = follow.rest();
    assert_eq!(rest[0]["type"], "answered", "{rest:?}");
    assert_eq!(chunks(&rest), "permission: allow\n");
    assert_eq!(rest.last().expect("done")["stopReason"], "end_turn");

    // The transcript holds the turn once: the request is not read again by the adopter.
    let kinds: Vec<String> = store
        .transcript(&session, 0, 100)
        .expect("read")
        .into_iter()
        .map(|row| row.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "started",
            "prompt",
            "permission",
            "answered",
            "update",
            "turn"
        ]
    );
    assert_eq!(store.agent_session(&session).expect("kept").state, "idle");
}

#[test]
fn a_session_starts_in_the_mode_asked_for_and_changes_it_on_request() {
    let sam = Sam::new();
    let (code, created) = sam.create("modes");
    assert_eq!(code, Some(0), "{created}");
    let fake = binary("fake-acp").to_string_lossy().into_owned();
    assert_eq!(
        sam.run(&["agent", "add", "fake", "--command", &fake])
            .status
            .code(),
        Some(0)
    );
    let mode_now = |session: &str| {
        let output = sam.run(&["--json", "agent", "prompt", session, "mode"]);
        let lines = json_lines(&output);
        chunks(&lines)
    };

    // A mode the agent does not offer is refused with the ones it does.
    let wrong = sam.run(&[
        "agent", "start", "modes", "--agent", "fake", "--mode", "yolo",
    ]);
    assert_eq!(wrong.status.code(), Some(2), "{wrong:?}");
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("It offers: auto, ask"));

    let (code, start) = sam.json(&[
        "--json", "agent", "start", "modes", "--agent", "fake", "--mode", "ask",
    ]);
    assert_eq!(code, Some(0), "{start}");
    let session = start["session"]["id"].as_str().expect("id").to_owned();
    assert_eq!(mode_now(&session), "mode: ask\n");

    let (code, set) = sam.json(&["--json", "agent", "mode", &session, "auto"]);
    assert_eq!(code, Some(0), "{set}");
    assert_eq!(mode_now(&session), "mode: auto\n");

    // During a turn another process follows, the change goes through that follower (the one
    // process that writes to the agent) and is answered once it has handed it over.
    let mut turn = Turn::start(&sam, &session, "ask");
    let (number, _) = turn.asked();
    let (code, set) = sam.json(&["--json", "agent", "mode", &session, "ask"]);
    assert_eq!(code, Some(0), "{set}");
    let (code, _) = sam.json(&["--json", "agent", "answer", &number.to_string(), "allow"]);
    assert_eq!(code, Some(0));
    assert_eq!(chunks(&turn.rest()), "permission: allow\n");
    assert_eq!(mode_now(&session), "mode: ask\n");

    // The transcript says who set which mode, and the stray answers stay out of it.
    let modes: Vec<Value> = sam
        .store()
        .transcript(&session, 0, 100)
        .expect("read")
        .into_iter()
        .filter(|row| row.kind == "mode")
        .map(|row| row.body)
        .collect();
    assert_eq!(
        modes,
        [
            serde_json::json!({"currentModeId": "ask", "by": "sam"}),
            serde_json::json!({"currentModeId": "auto", "by": "cli"}),
            serde_json::json!({"currentModeId": "ask", "by": "cli"}),
        ]
    );
}

#[test]
fn a_session_whose_agent_crashed_or_whose_workspace_restarted_is_resumed_by_loading_it() {
    let sam = Sam::new();
    let session = started(&sam);
    let output = sam.run(&["--json", "agent", "prompt", &session, "count 2"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");

    // A crash ends the session; a prompt says how to take it up again.
    let crashed = sam.run(&["agent", "prompt", &session, "crash"]);
    assert_ne!(crashed.status.code(), Some(0));
    let refused = sam.run(&["agent", "prompt", &session, "remember"]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("sam agent resume"),
        "{refused:?}"
    );
    let entries = || {
        sam.store()
            .transcript(&session, 0, 100_000)
            .expect("transcript")
    };
    let before = entries().len();

    let (code, resumed) = sam.json(&["--json", "agent", "resume", &session]);
    assert_eq!(code, Some(0), "{resumed}");
    assert_eq!(resumed["session"]["state"], "idle");
    // The replayed history is not recorded again: one `resumed` entry says it happened.
    let after = entries();
    assert_eq!(after.len(), before + 1);
    let last = after.last().expect("an entry");
    assert_eq!(last.kind, "resumed");
    // chunk 1, chunk 2, "about to crash".
    assert_eq!(last.body["replayed"], 3);
    let remembered = sam.run(&["--json", "agent", "prompt", &session, "remember"]);
    assert_eq!(remembered.status.code(), Some(0), "{remembered:?}");
    assert!(String::from_utf8_lossy(&remembered.stdout).contains("remembered: 3"));

    // A running process is not resumed.
    let running = sam.run(&["agent", "resume", &session]);
    assert_eq!(running.status.code(), Some(2), "{running:?}");
    assert!(String::from_utf8_lossy(&running.stderr).contains("still running"));

    // Stopped and started while a request waits, the workspace has a new agent: the session
    // loads into it, and the request the old process asked is answered cancelled.
    let mut turn = Turn::start(&sam, &session, "ask");
    let (number, _) = turn.asked();
    drop(turn);
    for action in ["stop", "start"] {
        let output = sam.run(&["workspace", action, "agents", "--wait"]);
        assert_eq!(output.status.code(), Some(0), "{action}: {output:?}");
    }
    let (code, resumed) = sam.json(&["--json", "agent", "resume", &session]);
    assert_eq!(code, Some(0), "{resumed}");
    let remembered = sam.run(&["--json", "agent", "prompt", &session, "remember"]);
    assert_eq!(remembered.status.code(), Some(0), "{remembered:?}");
    assert!(String::from_utf8_lossy(&remembered.stdout).contains("remembered: 4"));
    let (_, pending) = sam.json(&["--json", "agent", "pending"]);
    assert_eq!(
        pending["pending"].as_array().map(Vec::len),
        Some(0),
        "{pending}"
    );
    let row = sam.store().permission(number).expect("kept");
    assert_eq!(row.answer.as_deref(), Some("cancelled"));
}

#[test]
fn what_an_agent_said_while_sam_was_away_is_recovered_from_its_journal_after_a_restart() {
    let sam = Sam::new();
    let session = started(&sam);
    let go = sam.dir.path().join("go");
    let mut turn = Turn::start(&sam, &session, &format!("await {}", go.display()));
    assert_eq!(chunks(&[turn.next()]), "waiting\n");
    // SAM goes away mid-turn (the laptop sleeps); the coding agent finishes with nobody reading.
    drop(turn);
    std::fs::write(&go, "").expect("go");
    let journal = || {
        sam_test_support::files_under(sam.dir.path())
            .into_iter()
            .find(|file| file.extension().is_some_and(|e| e == "acp"))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let written = journal().and_then(|file| std::fs::read_to_string(file).ok());
        if written.is_some_and(|text| text.contains("\"stopReason\"")) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the turn never ended");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Then the workspace stops and starts: the process, and the agent's memory of it, are gone.
    for action in ["stop", "start"] {
        let output = sam.run(&["workspace", action, "agents", "--wait"]);
        assert_eq!(output.status.code(), Some(0), "{action}: {output:?}");
    }
    let store = sam.store();
    store.release_agent_session(&session).expect("released");

    // The next SAM process to take the session records the rest of the turn from the journal,
    // ends the session (its process is gone), and drops the journal.
    let follow = sam.run(&["agent", "follow", &session]);
    assert_ne!(follow.status.code(), Some(0), "{follow:?}");
    assert!(
        String::from_utf8_lossy(&follow.stderr).contains("recovered from its journal"),
        "{follow:?}"
    );
    let transcript = store.transcript(&session, 0, 100).expect("read");
    let kinds: Vec<&str> = transcript.iter().map(|row| row.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["started", "prompt", "update", "update", "turn", "ended"]
    );
    assert_eq!(transcript[3].body["update"]["content"]["text"], "awaited\n");
    assert_eq!(transcript[4].body["stopReason"], "end_turn");
    assert!(journal().is_none(), "the journal was dropped");

    // Taken up again, the session goes on where the coding agent left it.
    let (code, resumed) = sam.json(&["--json", "agent", "resume", &session]);
    assert_eq!(code, Some(0), "{resumed}");
    let remembered = sam.run(&["--json", "agent", "prompt", &session, "remember"]);
    assert!(String::from_utf8_lossy(&remembered.stdout).contains("remembered: 2"));
}

#[test]
fn a_sessions_other_options_change_between_turns_to_values_the_agent_offers() {
    let sam = Sam::new();
    let session = started(&sam);
    let model_now = |session: &str| {
        let output = sam.run(&["--json", "agent", "prompt", session, "model"]);
        let lines = json_lines(&output);
        chunks(&lines)
    };
    assert_eq!(model_now(&session), "model: fast\n");
    for (option, value, says) in [
        ("model", "huge", "Choose one of: fast, deep"),
        ("colour", "red", "It offers: model"),
    ] {
        let refused = sam.run(&["agent", "config", &session, option, value]);
        assert_eq!(refused.status.code(), Some(2), "{refused:?}");
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains(says),
            "{refused:?}"
        );
    }
    let (code, set) = sam.json(&["--json", "agent", "config", &session, "model", "deep"]);
    assert_eq!(code, Some(0), "{set}");
    assert_eq!(model_now(&session), "model: deep\n");
    let entries = sam
        .store()
        .transcript(&session, 0, 1000)
        .expect("transcript");
    let config = entries
        .iter()
        .find(|e| e.kind == "config")
        .expect("recorded");
    assert_eq!(config.body["by"], "cli");
    assert_eq!(config.body["configOptions"][0]["currentValue"], "deep");

    // During a turn, the change is refused with when to try again.
    let mut turn = Turn::start(&sam, &session, "ask");
    let (number, _) = turn.asked();
    let busy = sam.run(&["agent", "config", &session, "model", "fast"]);
    assert_eq!(busy.status.code(), Some(2), "{busy:?}");
    assert!(
        String::from_utf8_lossy(&busy.stderr).contains("between turns"),
        "{busy:?}"
    );
    assert_eq!(
        sam.run(&["agent", "answer", &number.to_string(), "allow"])
            .status
            .code(),
        Some(0)
    );
    turn.rest();
}
