//! Exact resume: every byte exactly once across disconnects, input never typed twice, gaps when
//! the ring moved on, and a reset when the agent itself restarted.

use std::collections::BTreeMap;

use proptest::prelude::*;
use sam_core::agent_client::{AgentClient, LinkState, PtySize, StreamEvent};

use super::harness::{TestAgent, contains, read_to_exit, read_until, shell_after};

const LINES: u32 = 120_000;

fn expected_seq() -> Vec<u8> {
    seq_output(LINES)
}

/// What `seq 1 lines` prints.
fn seq_output(lines: u32) -> Vec<u8> {
    (1..=lines)
        .map(|n| format!("{n}\n"))
        .collect::<String>()
        .into_bytes()
}

/// Runs `seq 1 lines` as a job and waits for it to end without taking its output (watching
/// from the current head); returns the stream, whose ring now holds the end of the output.
async fn finished_seq(client: &AgentClient, lines: u32) -> u32 {
    let info = client
        .run_job(
            vec!["seq".into(), "1".into(), lines.to_string()],
            None,
            BTreeMap::new(),
        )
        .await
        .expect("starts");
    let head = client
        .list()
        .await
        .expect("lists")
        .iter()
        .find(|s| s.stream == info.stream)
        .expect("listed")
        .out_head;
    let (mut watcher, _) = client.attach(info.stream, head).await.expect("watches");
    while !matches!(watcher.next().await.expect("event"), StreamEvent::Exit(_)) {}
    info.stream
}

async fn collect_with_cuts(client: &AgentClient, mut cuts: Vec<usize>) -> Vec<u8> {
    cuts.sort_unstable();
    let job = vec!["seq".to_owned(), "1".to_owned(), LINES.to_string()];
    let info = client
        .run_job(job, None, BTreeMap::new())
        .await
        .expect("starts");
    let (mut handle, _) = client.attach(info.stream, 0).await.expect("attaches");
    let mut out = Vec::new();
    loop {
        match handle.next().await.expect("stream open") {
            StreamEvent::Output { offset, bytes } => {
                assert_eq!(
                    offset,
                    out.len() as u64,
                    "output continues exactly where it left off"
                );
                out.extend_from_slice(&bytes);
                while cuts.first().is_some_and(|cut| *cut <= out.len()) {
                    cuts.remove(0);
                    client.reconnect();
                }
            }
            StreamEvent::Exit(status) => {
                assert_eq!(status.code, Some(0));
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    client.close_stream(info.stream).await.expect("closes");
    out
}

#[test]
fn every_byte_arrives_exactly_once_across_random_disconnects() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let agent = TestAgent::start(&[]);
    let client = runtime.block_on(agent.client());
    let expected = expected_seq();
    let len = expected.len();
    let config = ProptestConfig {
        cases: 8,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(cuts in proptest::collection::vec(1usize..len, 1..5))| {
        let out = runtime.block_on(collect_with_cuts(&client, cuts));
        prop_assert_eq!(out.len(), expected.len());
        prop_assert!(out == expected, "the bytes differ");
    });
}

#[tokio::test]
async fn typed_input_during_outages_is_neither_lost_nor_doubled() {
    let agent = TestAgent::start(&[]);
    let client = agent.client().await;
    let script = "stty -echo; cat > typed.txt".to_owned();
    let info = client
        .open_pty(
            Some(vec!["/bin/sh".into(), "-c".into(), script]),
            None,
            BTreeMap::new(),
            PtySize { cols: 80, rows: 24 },
        )
        .await
        .expect("opens");
    let (mut term, _) = client.attach(info.stream, 0).await.expect("attaches");
    let mut expected = String::new();
    for n in 0..40 {
        let line = format!("line {n}\n");
        term.write(line.as_bytes(), true);
        expected.push_str(&line);
        if n % 7 == 3 {
            client.reconnect();
        }
    }
    // End of input for cat.
    term.write(b"\x04", true);
    let (_, status) = read_to_exit(&mut term).await;
    assert_eq!(status.code, Some(0));
    let typed = std::fs::read_to_string(agent.workspace_root().join("typed.txt")).expect("file");
    assert_eq!(typed, expected);
}

#[tokio::test]
async fn a_client_that_fell_behind_the_ring_gets_a_gap_then_the_rest() {
    let agent = TestAgent::start(&["--ring-bytes", "65536"]);
    let client = agent.client().await;
    let stream = finished_seq(&client, LINES).await;
    let (mut job, attached) = client.attach(stream, 0).await.expect("attaches");
    assert_eq!(attached.out_head, expected_seq().len() as u64);
    match job.next().await.expect("event") {
        StreamEvent::Gap { from, base } => {
            assert_eq!(from, 0);
            assert_eq!(base, expected_seq().len() as u64 - 65536);
        }
        other => panic!("expected a gap, got {other:?}"),
    }
    let (rest, _) = read_to_exit(&mut job).await;
    assert_eq!(rest, expected_seq()[expected_seq().len() - 65536..]);
}

/// A regression: with the skipped bytes counted as unacknowledged, a gap wider than the credit
/// window left the window closed for good, and the stream sent nothing after the `gap`.
#[tokio::test]
async fn a_gap_wider_than_the_credit_window_is_followed_by_the_rest() {
    const MANY: u32 = 400_000; // about 2.7 MB: more than the 2 MiB window past the 64 KiB ring
    let expected = seq_output(MANY);
    let agent = TestAgent::start(&["--ring-bytes", "65536"]);
    let client = agent.client().await;
    let stream = finished_seq(&client, MANY).await;
    let (mut job, _) = client.attach(stream, 0).await.expect("attaches");
    let base = match job.next().await.expect("event") {
        StreamEvent::Gap { from: 0, base } => base,
        other => panic!("expected a gap from 0, got {other:?}"),
    };
    assert!(
        base > 2 * 1024 * 1024,
        "the gap ({base} bytes) is wider than the window"
    );
    let (rest, status) = read_to_exit(&mut job).await;
    assert_eq!(status.code, Some(0));
    assert_eq!(rest, expected[expected.len() - 65536..]);
}

#[tokio::test]
async fn an_agent_restart_resets_streams_and_the_client_reconnects_by_itself() {
    let mut agent = TestAgent::start(&[]);
    let client = agent.client().await;
    let first_epoch = client.epoch().expect("epoch");
    let (mut term, info) = shell_after(&client, "echo before", "before\r\n").await;

    let mut state = client.state();
    agent.kill_and_restart();
    // The handle learns that its stream is gone.
    let event = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            match term.next().await {
                Some(StreamEvent::Output { .. }) => {}
                other => return other,
            }
        }
    })
    .await
    .expect("reset in time");
    assert_eq!(event, Some(StreamEvent::Reset));
    let epoch = loop {
        if let LinkState::Connected { epoch } = &*state.borrow_and_update() {
            break epoch.clone();
        }
        state.changed().await.expect("state");
    };
    assert_ne!(epoch, first_epoch);
    assert!(
        client
            .list()
            .await
            .expect("lists")
            .iter()
            .all(|s| s.stream != info.stream)
    );
}

#[test]
fn a_client_killed_mid_session_leaves_the_terminal_running() {
    let agent = TestAgent::start(&[]);
    let pin = {
        // A client on its own runtime, torn down without any goodbye: its socket just dies.
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let (pin, stream) = runtime.block_on(async {
            let client = agent.client().await;
            let (_term, info) = shell_after(&client, "echo still-here", "still-here\r\n").await;
            (agent.fingerprint.clone(), info.stream)
        });
        runtime.shutdown_background();
        (pin, stream)
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let client = agent.connect(&pin.0).await;
        let (mut term, _) = client.attach(pin.1, 0).await.expect("re-attaches");
        let out = read_until(&mut term, |out| contains(out, "still-here\r\n")).await;
        assert!(contains(&out, "still-here"));
    });
}
