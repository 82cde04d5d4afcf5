//! The terminal engine fed end to end from a real agent: frames, replies sent back as automatic
//! input exactly once, re-attach without re-answering, and a flood.

use std::time::Duration;

use sam_core::agent_client::{AgentClient, PtySize, StreamInfo};
use sam_core::terminal::frame::{Frame, attrs};
use sam_core::terminal::{Engine, Size, Terminal, TerminalEvent, TerminalOptions};
use tokio::sync::mpsc;

use super::harness::TestAgent;

const SIZE: Size = Size { cols: 60, rows: 8 };

/// The screen as a consumer rebuilds it from frames alone.
#[derive(Default)]
struct Screen {
    rows: Vec<String>,
    frames: usize,
}

impl Screen {
    fn apply(&mut self, bytes: &[u8]) {
        let frame = Frame::decode(bytes).expect("frames decode");
        self.frames += 1;
        let (cols, rows) = (
            usize::from(frame.header.cols),
            usize::from(frame.header.rows),
        );
        self.rows.resize(rows, String::new());
        for row in &frame.lines {
            let mut cells = vec![" ".to_owned(); cols];
            for run in &row.runs {
                let width = if run.style.attrs & attrs::WIDE != 0 {
                    2
                } else {
                    1
                };
                let mut col = usize::from(run.col);
                for ch in run.text.chars() {
                    if let Some(cell) = cells.get_mut(col) {
                        *cell = ch.to_string();
                    }
                    col += width;
                }
            }
            self.rows[usize::from(row.index)] = cells.concat().trim_end().to_owned();
        }
    }

    fn text(&self) -> String {
        self.rows.iter().map(|row| format!("{row}\n")).collect()
    }
}

async fn open(client: &AgentClient, script: &str) -> StreamInfo {
    client
        .open_pty(
            Some(vec![
                "bash".into(),
                "--norc".into(),
                "-c".into(),
                script.into(),
            ]),
            None,
            Default::default(),
            PtySize {
                cols: SIZE.cols,
                rows: SIZE.rows,
            },
        )
        .await
        .expect("opens a terminal")
}

async fn start(
    client: &AgentClient,
    stream: u32,
    from: u64,
    replay_until: u64,
) -> (Terminal, mpsc::Receiver<TerminalEvent>) {
    let (handle, _) = client.attach(stream, from).await.expect("attaches");
    Terminal::start(
        client,
        handle,
        from,
        TerminalOptions {
            size: SIZE,
            replay_until,
            ..TerminalOptions::default()
        },
    )
}

/// Applies events until the rebuilt screen satisfies `done`; returns whether the program exited.
async fn until(
    events: &mut mpsc::Receiver<TerminalEvent>,
    screen: &mut Screen,
    done: impl Fn(&str) -> bool,
) -> bool {
    let waited = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(event) = events.recv().await {
            match event {
                TerminalEvent::Frame(bytes) => screen.apply(&bytes),
                TerminalEvent::Exited(_) => return true,
                TerminalEvent::Closed => panic!("the stream closed; screen:\n{}", screen.text()),
                _ => {}
            }
            if done(&screen.text()) {
                return false;
            }
        }
        panic!("events ended; screen:\n{}", screen.text())
    })
    .await;
    waited.unwrap_or_else(|_| panic!("timed out; screen:\n{}", screen.text()))
}

async fn in_acked(client: &AgentClient, stream: u32) -> u64 {
    client
        .list()
        .await
        .expect("lists streams")
        .into_iter()
        .find(|info| info.stream == stream)
        .expect("the stream")
        .in_acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_go_back_once_and_typing_reaches_the_program() {
    let agent = TestAgent::start(&[]);
    let client = agent.client().await;
    // The program asks where the cursor is, reads the answer, then reads a typed line.
    let info = open(
        &client,
        r#"printf 'ready\033[6n'; IFS= read -rs -d R reply; printf '\ngot %s\n' "${reply#?}"; IFS= read -r line; echo "typed:$line"; read -r wait"#,
    )
    .await;
    let (terminal, mut events) = start(&client, info.stream, 0, 0).await;
    let mut screen = Screen::default();
    until(&mut events, &mut screen, |text| text.contains("got [1;6")).await;
    terminal.input(b"hello\r").expect("a terminal takes input");
    until(&mut events, &mut screen, |text| {
        text.contains("typed:hello")
    })
    .await;
    // The reply "\x1b[1;6R" (6 bytes) went once, and the typed line (6 bytes): 12 in total.
    assert_eq!(
        in_acked(&client, info.stream).await,
        12,
        "{}",
        screen.text()
    );
    assert!(screen.frames >= 2);

    // A new consumer (the app restarted) re-attaches from 0: the old query is replayed, the
    // screen comes back, and nothing is answered again.
    drop(terminal);
    drop(events);
    let head = client
        .list()
        .await
        .expect("lists")
        .into_iter()
        .find(|s| s.stream == info.stream)
        .expect("stream")
        .out_head;
    let (again, mut events) = start(&client, info.stream, 0, head).await;
    let mut screen = Screen::default();
    until(&mut events, &mut screen, |text| {
        text.contains("typed:hello")
    })
    .await;
    while again.applied_offset() < head {
        until(&mut events, &mut screen, |_| true).await;
    }
    assert_eq!(
        in_acked(&client, info.stream).await,
        12,
        "nothing re-answered"
    );
    again.input(b"bye\r").expect("a terminal takes input");
    assert!(
        until(&mut events, &mut screen, |_| false).await,
        "the program exits"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_skips_frames_and_ends_on_the_right_screen() {
    let agent = TestAgent::start(&["--ring-bytes", "67108864"]);
    let client = agent.client().await;
    let file = agent.workspace_root().join("flood.txt");
    let text: String = (0..200_000)
        .map(|n| format!("line {n:>7} of the flood\n"))
        .collect();
    std::fs::write(&file, &text).expect("flood file");
    let info = open(&client, &format!("cat {}", file.display())).await;
    let (_terminal, mut events) = start(&client, info.stream, 0, 0).await;
    let mut screen = Screen::default();
    let mut frames = 0usize;
    let exited = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(event) = events.recv().await {
            match event {
                TerminalEvent::Frame(bytes) => {
                    frames += 1;
                    screen.apply(&bytes);
                    // A slow consumer: the pump must skip frames, not queue them.
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
                TerminalEvent::Exited(_) => return true,
                TerminalEvent::Gap { .. } => panic!("no output may be lost with a large ring"),
                _ => {}
            }
        }
        false
    })
    .await
    .expect("the flood ends in time");
    assert!(exited);
    // The reference: the same bytes through the PTY's newline translation into an engine.
    let mut reference = Engine::new(SIZE, 0);
    reference.feed(text.replace('\n', "\r\n").as_bytes());
    assert_eq!(screen.text(), reference.screen_text());
    // 4.8 MB of output arrives in hundreds of chunks; a consumer taking 30 ms a frame sees few.
    assert!(frames < 400, "{frames} frames for a slow consumer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_that_fell_behind_the_ring_resets_and_shows_the_tail() {
    // The smallest ring the agent takes; the program writes about twice that before anyone
    // attaches, so the start of its output is gone.
    let agent = TestAgent::start(&["--ring-bytes", "65536"]);
    let client = agent.client().await;
    let marker = agent.workspace_root().join("written");
    let info = open(
        &client,
        &format!(
            "seq 1 20000; echo tail-done; touch {}; exec cat",
            marker.display()
        ),
    )
    .await;
    // The file system offers no event: poll, bounded.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !marker.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the output was never written"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (terminal, mut events) = start(&client, info.stream, 0, 0).await;
    // The first frame of the (still empty) screen may go out before the agent's answer.
    let mut screen = Screen::default();
    let (from, base) = loop {
        let event = tokio::time::timeout(Duration::from_secs(30), events.recv())
            .await
            .expect("an event in time")
            .expect("an event");
        match event {
            TerminalEvent::Gap { from, base } => break (from, base),
            TerminalEvent::Frame(bytes) => {
                screen.apply(&bytes);
                assert_eq!(screen.text().trim(), "", "no output before the gap");
            }
            other => panic!("the gap comes first, not {other:?}"),
        }
    };
    assert_eq!(from, 0);
    assert!(base > 60_000, "{base} bytes were dropped");
    until(&mut events, &mut screen, |text| text.contains("tail-done")).await;
    // What the rows show is the tail as a never-disconnected terminal shows it: the last
    // numbers, consecutive, then the marker line, and nothing from before the gap.
    let expected: String = (20000 - SIZE.rows as u32 + 3..=20000)
        .map(|n| format!("{n}\n"))
        .chain(["tail-done\n".to_owned(), "\n".to_owned()])
        .collect();
    assert_eq!(screen.text(), expected);
    assert!(terminal.applied_offset() > base);
}
