//! Coding agents in the window, on a Local workspace with the scripted `fake-acp`: started from
//! the workspace page, prompted, its reply shown as markdown, its edit as a diff, its plan as a
//! checklist, a permission request answered from the view — and one that waited while the app
//! was closed, still there after the restart and answered then, recorded once; a crashed agent's
//! session resumed from the view.

use std::time::Duration;

use fantoccini::key::Key;

use crate::harness::{self, App, sam, until, with_fake_agent};
use crate::terminal::{shell_ready, type_line, wait_row};

const SLOW: Duration = Duration::from_secs(30);

/// The texts of the elements matching `css`.
async fn texts(app: &App, css: &str) -> Vec<String> {
    let found = app
        .script(
            "return [...document.querySelectorAll(arguments[0])].map((e) => e.textContent);",
            vec![css.into()],
        )
        .await;
    serde_json::from_value(found).unwrap_or_default()
}

/// Types a prompt and sends it with Enter.
async fn prompt(app: &App, text: &str) {
    app.keys("agent-prompt", &format!("{text}{}", char::from(Key::Enter)))
        .await;
}

async fn turns_ended(app: &App, count: usize) {
    until(
        "the turn to end",
        async || texts(app, "[data-testid='item-turn']").await.len(),
        |n| *n >= count,
    )
    .await;
}

async fn message_with(app: &App, text: &str) {
    until(
        "the agent's reply",
        async || texts(app, "[data-testid='item-message']").await,
        |found| found.iter().any(|m| m.contains(text)),
    )
    .await;
}

async fn open_session(app: &App) {
    app.wait_css("[data-testid='agent-session-tab']", SLOW)
        .await
        .click()
        .await
        .expect("opens the session");
    app.wait_css("[data-testid='agent-session']", SLOW).await;
}

#[test]
fn a_coding_agent_is_prompted_and_asks_the_window_before_it_acts() {
    harness::run_with("agents", with_fake_agent, async |app, repo| {
        app.create_local_workspace(&repo).await;
        app.find("agents-panel").await;
        app.start_fake_agent().await;

        // A reply as markdown: a heading, inline code, a highlighted block.
        prompt(app, "markdown").await;
        turns_ended(app, 1).await;
        message_with(app, "Findings").await;
        let code = texts(app, "[data-testid='item-message'] pre.code").await;
        assert_eq!(code, ["fn main() {}"]);
        let keywords = texts(app, "[data-testid='item-message'] pre.code .kw").await;
        assert_eq!(keywords, ["fn"], "the code is highlighted");

        // A custom agent's modes are its own business: the header says SAM answers nothing.
        let brake = app.text("brake").await;
        assert!(brake.contains("SAM never answers for you"), "{brake}");

        // The header shows the agent's mode; choosing another reaches the agent.
        app.find("session-mode")
            .await
            .select_by_value("ask")
            .await
            .expect("the ask mode");
        // The agent's answer shows in the header; a prompt sent meanwhile would find the
        // session busy with the change.
        app.wait_css("[data-testid='session-mode'][data-mode='ask']", SLOW)
            .await;
        prompt(app, "mode").await;
        turns_ended(app, 2).await;
        message_with(app, "mode: ask").await;

        // An edit as a diff with its path, a plan as a checklist.
        prompt(app, "edit /src/a.rs").await;
        turns_ended(app, 3).await;
        let diff = app
            .wait_css(
                "[data-testid='item-tool'][data-status='completed'] [data-testid='tool-diff'][data-path='/src/a.rs']",
                SLOW,
            )
            .await
            .text()
            .await
            .expect("diff text");
        assert!(
            diff.contains("- old line") && diff.contains("+ new line"),
            "{diff}"
        );
        prompt(app, "plan").await;
        turns_ended(app, 4).await;
        let plan = app
            .script(
                "return [...document.querySelectorAll(\"[data-testid='item-plan'] li\")].map((li) => li.dataset.status);",
                vec![],
            )
            .await;
        assert_eq!(plan, serde_json::json!(["completed", "in_progress"]));

        // A permission request waits for the person, shown with the agent's own options.
        prompt(app, "ask").await;
        app.wait_css("[data-testid='agent-session'][data-state='waiting']", SLOW)
            .await;
        let options = texts(app, "[data-testid='permission-option']").await;
        assert_eq!(options, ["Allow", "Deny"]);
        app.find_css("[data-testid='permission-option'][data-option='allow']")
            .await
            .click()
            .await
            .expect("allows");
        message_with(app, "permission: allow").await;
        turns_ended(app, 5).await;
        let answer = app.text("permission-answer").await;
        assert!(
            answer.contains("Allow") && answer.contains("this window"),
            "{answer}"
        );

        // Another request waits while the app is closed; after the restart it is still there,
        // the app takes the turn back, and the answer reaches the agent.
        prompt(app, "ask").await;
        app.wait_css("[data-testid='permission-option']", SLOW)
            .await;
        app.restart().await;
        app.open_first_workspace().await;
        open_session(app).await;
        app.wait_css(
            "[data-testid='agent-session-tab'][data-state='waiting']",
            SLOW,
        )
        .await;
        app.find_css("[data-testid='permission-option'][data-option='deny']")
            .await
            .click()
            .await
            .expect("denies");
        message_with(app, "permission: deny").await;
        turns_ended(app, 6).await;
        // Everything once: two requests, six prompts, six turn ends.
        assert_eq!(texts(app, "[data-testid='item-permission']").await.len(), 2);
        assert_eq!(texts(app, "[data-testid='item-prompt']").await.len(), 6);
        assert_eq!(texts(app, "[data-testid='item-turn']").await.len(), 6);

        // The coding agent crashes mid-turn: the session ends, and Resume has a new process of
        // it load the session, with its history.
        prompt(app, "crash").await;
        app.wait_css("[data-testid='agent-session'][data-state='ended']", SLOW)
            .await;
        app.click("resume-session").await;
        app.wait_css("[data-testid='agent-session'][data-state='idle']", SLOW)
            .await;
        prompt(app, "remember").await;
        message_with(app, "remembered: ").await;
        let replies = texts(app, "[data-testid='item-message']").await;
        let remembered = replies
            .iter()
            .find(|m| m.contains("remembered: "))
            .expect("a reply");
        assert!(!remembered.contains("remembered: 0"), "{remembered}");

        // The agent's other options are menus in the header; a change reaches it between turns.
        app.find_css("[data-testid='session-config'][data-config='model']")
            .await
            .select_by_value("deep")
            .await
            .expect("the deep model");
        app.wait_css(
            "[data-testid='session-config'][data-config='model'][data-value='deep']",
            SLOW,
        )
        .await;
        prompt(app, "model").await;
        message_with(app, "model: deep").await;

        // `@` offers the repository's files; Tab picks one, and it goes to the agent as a link.
        app.keys("agent-prompt", "mentions @READ").await;
        app.wait_css("[data-testid='mention-option']", SLOW).await;
        app.keys(
            "agent-prompt",
            &format!("{}{}", char::from(Key::Tab), char::from(Key::Enter)),
        )
        .await;
        message_with(app, "mentions: README.md=file://").await;

        // A command the coding agent runs opens as a read-only terminal tab showing its output
        // live; the person's own terminal lets it finish.
        shell_ready(app).await;
        prompt(
            app,
            "term echo from-the-agent; while [ ! -e go-on ]; do sleep 0.05; done",
        )
        .await;
        app.wait_css("[data-testid='tool-terminal']", SLOW)
            .await
            .click()
            .await
            .expect("opens the command's tab");
        app.wait_css(
            "[role='tab'][data-output-only='true'][aria-selected='true']",
            SLOW,
        )
        .await;
        wait_row(app, |row| row == "from-the-agent").await;
        app.find_css("[role='tab'][data-output-only='false']")
            .await
            .click()
            .await
            .expect("back to the shell");
        shell_ready(app).await;
        type_line(app, "touch go-on").await;
        message_with(app, "term 0: from-the-agent").await;
    });
}

/// Waits until the notification daemon has received a notification whose summary is `summary`.
async fn notified(summary: &str) {
    until(
        summary,
        async || crate::dunst::read("received"),
        |received| received.lines().any(|line| line.contains(summary)),
    )
    .await;
}

#[test]
fn a_coding_agent_that_waits_is_answered_from_a_desktop_notification() {
    let prepare = |paths: &sam_core::paths::AppPaths| {
        let repo = with_fake_agent(paths);
        (repo, paths.data_dir.clone())
    };
    harness::run_with("agent-notice", prepare, async |app, (repo, data_dir)| {
        app.create_local_workspace(&repo).await;
        let name = app.text("workspace-name").await;
        let started = sam(
            &data_dir,
            &["--json", "agent", "start", &name, "--agent", "fake"],
        )
        .output()
        .expect("sam runs");
        let started: serde_json::Value =
            serde_json::from_slice(&started.stdout).expect("a JSON answer");
        let session = started["session"]["id"].as_str().expect("an id").to_owned();

        // The user turns to another program; a turn started from the command line asks.
        let elsewhere = crate::x11::Display::open();
        elsewhere.focus_elsewhere();
        // The web view learns of it after the window does.
        until(
            "the window losing the focus",
            async || app.script("return document.hasFocus();", vec![]).await,
            |focused| focused == &serde_json::Value::Bool(false),
        )
        .await;
        let mut turn = sam_test_support::KillOnDrop(
            sam(&data_dir, &["--json", "agent", "prompt", &session, "ask"])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("prompt runs"),
        );
        let waits = format!("fake in {name} waits for your answer");
        notified(&waits).await;
        let offered = crate::dunst::read("offered");
        crate::dunst::pick_from_notification(&format!("#Allow ({waits}"));
        let store = sam_core::store::Store::open(&data_dir.join("sam.sqlite3")).expect("store");
        let answered = async || {
            store
                .transcript(&session, 0, 100)
                .expect("read")
                .into_iter()
                .filter(|row| row.kind == "answered")
                .map(|row| row.body)
                .collect::<Vec<_>>()
        };
        let answered = until("the answer from the notification", answered, |rows| {
            !rows.is_empty()
        })
        .await;
        assert_eq!(answered.len(), 1, "{answered:?}");
        assert_eq!(answered[0]["answered_by"], "notification");
        let mut lines = String::new();
        std::io::Read::read_to_string(&mut turn.0.stdout.take().expect("piped"), &mut lines)
            .expect("the turn's output");
        let status = turn.0.wait().expect("the turn ends");
        assert!(status.success(), "{lines}");
        assert!(lines.contains("permission: allow"), "{lines}");
        notified(&format!("fake in {name} finished its turn (done)")).await;
        drop(elsewhere);

        // The agent's own options were offered.
        let offered = crate::dunst::read("offered") + &offered;
        assert!(offered.contains("#Deny ("), "{offered}");
    });
}
