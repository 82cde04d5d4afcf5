//! The app's terminals on a real Local workspace: tabs, attach, typing, re-attach after the
//! view goes away, close — the code the window drives, headless.

use std::time::Duration;

use sam_core::terminal::frame::{Frame, attrs};
use sam_core::terminal::{Size, Theme};
use sam_core::terminals::{TerminalMessage, TerminalNotice};
use sam_core::workspace::WorkspaceId;
use tokio::sync::mpsc;

use crate::lifecycle::{Fixture, running_local_workspace};

const SIZE: Size = Size { cols: 80, rows: 24 };

/// Screen rows rebuilt from frames, as the window does.
#[derive(Default)]
struct View {
    rows: Vec<String>,
}

impl View {
    fn apply(&mut self, bytes: &[u8]) {
        let frame = Frame::decode(bytes).expect("frames decode");
        self.rows
            .resize(usize::from(frame.header.rows), String::new());
        for row in &frame.lines {
            let mut cells = vec![" ".to_owned(); usize::from(frame.header.cols)];
            for run in &row.runs {
                let width = if run.style.attrs & attrs::WIDE != 0 {
                    2
                } else {
                    1
                };
                for (i, ch) in run.text.chars().enumerate() {
                    if let Some(cell) = cells.get_mut(usize::from(run.col) + i * width) {
                        *cell = ch.to_string();
                    }
                }
            }
            self.rows[usize::from(row.index)] = cells.concat().trim_end().to_owned();
        }
    }

    fn text(&self) -> String {
        self.rows.join("\n")
    }
}

async fn attach(
    fixture: &Fixture,
    id: &WorkspaceId,
    stream: u32,
) -> mpsc::UnboundedReceiver<TerminalMessage> {
    let (tx, rx) = mpsc::unbounded_channel();
    fixture
        .core
        .terminals()
        .attach(
            fixture.core.workspaces(),
            id,
            stream,
            SIZE,
            Theme::DARK,
            Box::new(move |message| tx.send(message).is_ok()),
        )
        .await
        .expect("attaches");
    rx
}

async fn until(rx: &mut mpsc::UnboundedReceiver<TerminalMessage>, view: &mut View, needle: &str) {
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(message) = rx.recv().await {
            if let TerminalMessage::Frame(bytes) = message {
                view.apply(&bytes);
                if view.text().contains(needle) {
                    return;
                }
            }
        }
        panic!("the terminal went away; screen:\n{}", view.text());
    })
    .await;
    assert!(
        found.is_ok(),
        "never saw {needle:?}; screen:\n{}",
        view.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_loading_at_once_open_one_first_terminal_not_two() {
    let fixture = Fixture::new();
    let id = running_local_workspace(&fixture).await;
    let terminals = fixture.core.terminals();
    let lifecycle = fixture.core.workspaces();
    let (a, b) = tokio::join!(
        terminals.list_or_open(lifecycle, &id, SIZE),
        terminals.list_or_open(lifecycle, &id, SIZE)
    );
    let (a, b) = (a.expect("first view"), b.expect("second view"));
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a, b, "both views see the same single tab");
    let listed = terminals.list(lifecycle, &id).await.expect("lists");
    assert_eq!(listed, a);
    // With a tab there, nothing more is opened.
    let again = terminals
        .list_or_open(lifecycle, &id, SIZE)
        .await
        .expect("again");
    assert_eq!(again, a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tabs_open_attach_type_reattach_rename_and_close() {
    let fixture = Fixture::new();
    let id = running_local_workspace(&fixture).await;
    let terminals = fixture.core.terminals();
    let lifecycle = fixture.core.workspaces();
    assert!(
        terminals
            .list(lifecycle, &id)
            .await
            .expect("lists")
            .is_empty()
    );

    // A plain shell: the machine's login files are not what this test checks.
    let shell = || Some(vec!["/bin/sh".to_owned()]);
    let first = terminals
        .open(lifecycle, &id, SIZE, shell())
        .await
        .expect("opens");
    let second = terminals
        .open(lifecycle, &id, SIZE, shell())
        .await
        .expect("opens");
    assert_eq!(
        (first.name.as_str(), second.name.as_str()),
        ("Terminal 1", "Terminal 2")
    );

    let mut rx = attach(&fixture, &id, first.stream).await;
    let mut view = View::default();
    terminals
        .input(&id, first.stream, b"echo \"sum=$((40 + 2))\"\r")
        .expect("types");
    until(&mut rx, &mut view, "sum=42").await;

    // The view goes away (a tab switch, the window closing); the shell keeps running and a new
    // view gets its screen back.
    terminals.detach(&id, first.stream);
    assert!(
        terminals.input(&id, first.stream, b"x").is_err(),
        "detached"
    );
    let mut rx = attach(&fixture, &id, first.stream).await;
    let mut view = View::default();
    until(&mut rx, &mut view, "sum=42").await;

    terminals
        .rename(fixture.core.store(), &id, first.stream, "  build  ")
        .expect("renames");
    let err = terminals
        .rename(fixture.core.store(), &id, first.stream, "")
        .expect_err("an empty name");
    assert!(err.message.contains("1 to 60"), "{err:?}");
    let tabs = terminals.list(lifecycle, &id).await.expect("lists");
    let names: Vec<&str> = tabs.iter().map(|tab| tab.name.as_str()).collect();
    assert_eq!(names, ["build", "Terminal 2"]);

    terminals
        .close(lifecycle, &id, second.stream)
        .await
        .expect("closes");
    let tabs = terminals.list(lifecycle, &id).await.expect("lists");
    assert_eq!(
        tabs.iter().map(|t| t.stream).collect::<Vec<_>>(),
        [first.stream]
    );

    // The shell exits: the view hears about it.
    terminals
        .input(&id, first.stream, b"exit\r")
        .expect("types");
    let exited = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(message) = rx.recv().await {
            if let TerminalMessage::Notice(TerminalNotice::Exited { code }) = message {
                return code;
            }
        }
        None
    })
    .await
    .expect("exits in time");
    assert_eq!(exited, Some(0));
}

/// Collects frames until the screen shows `needle` (or the program exits), and returns the
/// final screen text and whether a reconnect notice arrived.
async fn collect(
    rx: &mut mpsc::UnboundedReceiver<TerminalMessage>,
    view: &mut View,
    needle: &str,
) -> bool {
    let mut reconnected = false;
    let done = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(message) = rx.recv().await {
            match message {
                TerminalMessage::Frame(bytes) => {
                    view.apply(&bytes);
                    if view.text().contains(needle) {
                        return;
                    }
                }
                TerminalMessage::Notice(TerminalNotice::Reconnecting { .. }) => reconnected = true,
                TerminalMessage::Notice(_) => {}
            }
        }
    })
    .await;
    assert!(
        done.is_ok(),
        "never saw {needle:?}; screen:\n{}",
        view.text()
    );
    reconnected
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_lose_and_repeat_nothing_and_a_new_app_gets_the_screen_back() {
    let fixture = Fixture::new();
    let id = running_local_workspace(&fixture).await;
    let terminals = fixture.core.terminals();
    let lifecycle = fixture.core.workspaces();
    // Numbered lines while the connection drops again and again; then it reads one typed line.
    // The terminal does not echo, so the output is the same however typing and output interleave.
    let program = "stty -echo; for i in $(seq 1 400); do echo \"line $i\"; \
                   case $i in *0) sleep 0.01;; esac; done; \
                   IFS= read -r typed; echo \"typed:$typed\"; sleep 60";
    let tab = terminals
        .open(
            lifecycle,
            &id,
            SIZE,
            Some(vec!["/bin/sh".into(), "-c".into(), program.into()]),
        )
        .await
        .expect("opens");
    let mut rx = attach(&fixture, &id, tab.stream).await;
    let mut view = View::default();
    collect(&mut rx, &mut view, "line 50").await;
    for _ in 0..5 {
        terminals.reconnect(&id);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Typed while the connection may be down: it must arrive exactly once.
    terminals.input(&id, tab.stream, b"once\r").expect("types");
    terminals.reconnect(&id);
    let reconnected = collect(&mut rx, &mut view, "typed:once").await;
    assert!(reconnected, "the view was told the connection dropped");

    // The reference: the same output fed to an engine with no connection in between.
    let mut reference = sam_core::terminal::Engine::new(SIZE, 0);
    let mut output: String = (1..=400).map(|i| format!("line {i}\r\n")).collect();
    output.push_str("typed:once\r\n");
    reference.feed(output.as_bytes());
    let expected: Vec<String> = reference.screen_text().lines().map(str::to_owned).collect();
    assert_eq!(
        view.rows, expected,
        "the screen after five dropped connections"
    );

    // The app quits and starts again: the tab is listed with its name, and attaching replays
    // the output to rebuild the screen.
    drop(rx);
    let again = fixture.reopen();
    let tabs = again
        .terminals()
        .list(again.workspaces(), &id)
        .await
        .expect("lists");
    assert_eq!(
        tabs.iter().map(|t| t.stream).collect::<Vec<_>>(),
        [tab.stream]
    );
    assert_eq!(tabs[0].name, "Terminal 1");
    let (tx, mut rx) = mpsc::unbounded_channel();
    again
        .terminals()
        .attach(
            again.workspaces(),
            &id,
            tab.stream,
            SIZE,
            Theme::DARK,
            Box::new(move |message| tx.send(message).is_ok()),
        )
        .await
        .expect("attaches");
    let mut view = View::default();
    collect(&mut rx, &mut view, "typed:once").await;
    assert_eq!(view.rows, expected, "the screen after the app restarted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coding_agents_command_opens_as_a_read_only_tab_that_closing_leaves_running() {
    let fixture = Fixture::new();
    let id = running_local_workspace(&fixture).await;
    let terminals = fixture.core.terminals();
    let lifecycle = fixture.core.workspaces();
    let workspace = fixture.core.store().workspace(&id).expect("workspace");
    let client = lifecycle.connect(&workspace).await.expect("connects");
    let go = fixture.dir.path().join("go");
    // A command as ACP's terminal/create runs it: a job, without a terminal.
    let script = format!(
        "printf 'one\\ntwo\\n'; while [ ! -e {} ]; do sleep 0.05; done; echo three",
        go.display()
    );
    let job = client
        .run_job(
            vec!["sh".into(), "-c".into(), script],
            None,
            Default::default(),
        )
        .await
        .expect("runs");

    let tab = terminals
        .show_command(lifecycle, &id, job.stream)
        .await
        .expect("opens");
    assert!(tab.output_only);
    assert!(tab.name.starts_with("▶ printf 'one"), "{tab:?}");
    let again = terminals
        .show_command(lifecycle, &id, job.stream)
        .await
        .expect("finds it");
    assert_eq!(again, tab, "one tab per command");
    let listed = terminals.list(lifecycle, &id).await.expect("lists");
    assert!(listed.contains(&tab), "{listed:?}");

    let mut rx = attach(&fixture, &id, job.stream).await;
    let mut view = View::default();
    until(&mut rx, &mut view, "two").await;
    // Each line starts at the first column, as a terminal's output processing would put it.
    assert_eq!(&view.rows[..2], ["one", "two"], "{}", view.text());
    assert!(
        terminals.input(&id, job.stream, b"x").is_err(),
        "a command's output takes no typing"
    );
    std::fs::write(&go, "").expect("go");
    until(&mut rx, &mut view, "three").await;

    // Closing the tab forgets it; the command is the coding agent's, and stays.
    terminals
        .close(lifecycle, &id, job.stream)
        .await
        .expect("closes");
    let listed = terminals.list(lifecycle, &id).await.expect("lists");
    assert!(!listed.iter().any(|t| t.stream == job.stream), "{listed:?}");
    let streams = client.list().await.expect("streams");
    assert!(streams.iter().any(|s| s.stream == job.stream));

    // A terminal is not a command, and a command that is gone cannot be shown.
    let pty = terminals
        .open(lifecycle, &id, SIZE, None)
        .await
        .expect("a terminal")
        .stream;
    let refused = terminals.show_command(lifecycle, &id, pty).await;
    assert!(refused.is_err(), "{refused:?}");
    client.close_stream(job.stream).await.expect("closed");
    let gone = terminals.show_command(lifecycle, &id, job.stream).await;
    assert!(gone.is_err(), "{gone:?}");
}
