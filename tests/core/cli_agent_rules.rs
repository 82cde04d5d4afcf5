//! Permission rules from the `sam` command line, on a Local workspace with the scripted
//! `fake-acp`: rules that would do other than they seem refused, allow and deny rules answering
//! at once, and the append-only audit log of every answer.

use super::cli::Sam;
use super::cli_agents::{Turn, chunks, json_lines, started};

#[test]
fn rules_answer_what_they_match_and_the_audit_log_keeps_every_answer() {
    let sam = Sam::new();
    let session = started(&sam);

    // Rules that would do something else than they seem are refused.
    for (args, says) in [
        (
            vec!["agent", "allow", "agents", "--command", "touch x; rm -rf ~"],
            "joins several commands",
        ),
        (
            vec!["agent", "allow", "agents", "--agent", "nosuch"],
            "knows no coding agent",
        ),
        (
            vec!["agent", "allow", "agents", "--path", "src/**"],
            "needs a tool kind",
        ),
    ] {
        let refused = sam.run(&args);
        assert_eq!(refused.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains(says),
            "{refused:?}"
        );
    }
    let (code, allow) = sam.json(&[
        "--json",
        "agent",
        "allow",
        "agents",
        "--agent",
        "fake",
        "--command",
        "touch",
    ]);
    assert_eq!(code, Some(0), "{allow}");
    assert_eq!(allow["tool_kind"], "execute");

    // A matching request is answered by the rule, at once, with the agent's "allow once".
    let prompt = |expected: &str| {
        let output = sam.run(&["--json", "agent", "prompt", &session, "ask"]);
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        let lines = json_lines(&output);
        assert_eq!(chunks(&lines), format!("permission: {expected}\n"));
        lines
    };
    let lines = prompt("allow");
    assert_eq!(lines[0]["type"], "permission");
    assert_eq!(
        lines[0]["permission"]["answered_by"],
        format!("rule {}", allow["id"])
    );

    // A deny rule wins over the allow rule.
    let (code, deny) = sam.json(&["--json", "agent", "deny", "agents", "--command", "touch"]);
    assert_eq!(code, Some(0), "{deny}");
    prompt("deny");
    let (_, listed) = sam.json(&["--json", "agent", "rules", "agents"]);
    assert_eq!(
        listed["rules"].as_array().map(Vec::len),
        Some(2),
        "{listed}"
    );

    // Without rules, the request waits for a person again.
    for rule in [&allow, &deny] {
        let id = rule["id"].to_string();
        assert_eq!(
            sam.run(&["agent", "forget-rule", &id]).status.code(),
            Some(0)
        );
    }
    let mut turn = Turn::start(&sam, &session, "ask");
    let (number, asked) = turn.asked();
    assert!(asked["permission"]["answer"].is_null(), "{asked}");
    let n = number.to_string();
    assert_eq!(
        sam.run(&["agent", "answer", &n, "allow"]).status.code(),
        Some(0)
    );
    assert_eq!(chunks(&turn.rest()), "permission: allow\n");

    // Every answer is in the audit log with the exact request, newest first.
    let (code, audit) = sam.json(&["--json", "agent", "audit", "agents"]);
    assert_eq!(code, Some(0), "{audit}");
    let by: Vec<&str> = audit["audit"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| row["answered_by"].as_str().unwrap_or("?"))
        .collect();
    let (a, d) = (
        format!("rule {}", allow["id"]),
        format!("rule {}", deny["id"]),
    );
    assert_eq!(by, ["cli", d.as_str(), a.as_str()]);
    assert_eq!(
        audit["audit"][0]["request"]["toolCall"]["rawInput"]["command"],
        "touch x"
    );
    assert_eq!(audit["audit"][0]["workspace_name"], "agents");

    // The log outlives the workspace, and nothing can change or remove a row.
    let output = sam.run(&["workspace", "delete", "agents", "--yes", "--wait"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let (_, audit) = sam.json(&["--json", "agent", "audit"]);
    assert_eq!(audit["audit"].as_array().map(Vec::len), Some(3), "{audit}");
    let db = rusqlite::Connection::open(sam.data_dir().join("sam.sqlite3")).expect("opens");
    for sql in [
        "UPDATE agent_audit SET answer = 'allow'",
        "DELETE FROM agent_audit",
    ] {
        let err = db.execute(sql, []).expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
}
