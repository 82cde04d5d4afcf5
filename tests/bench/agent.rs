//! Agent benchmarks: throughput and keystroke latency through the real agent over real TLS
//! WebSockets on loopback, idle memory, binary size. Prints a table; numbers are recorded in
//! `docs/benchmarks.md`.
//!
//! Run: `cargo build --release -p sam-agent && cargo bench --bench agent`

#![allow(clippy::print_stdout)]

#[allow(dead_code)]
#[path = "../core/agent/harness.rs"]
mod harness;

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::TestAgent;
use sam_core::agent_client::{AgentClient, PtySize, StreamEvent, StreamHandle};
use sam_test_support::rss_kib;

const PAYLOAD_MIB: usize = 64;
const ROUNDS: usize = 3;
const KEYSTROKES: usize = 2000;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // A ring larger than the payload: a producer faster than the link would otherwise (by
    // design) overrun the ring and the client would get a gap instead of every byte.
    let agent = TestAgent::start(&["--ring-bytes", "134217728"]);
    let file = agent.workspace_root().join("payload.bin");
    let payload: Vec<u8> = (0..PAYLOAD_MIB * 1024 * 1024)
        .map(|n| b'!' + (n % 90) as u8)
        .collect();
    std::fs::write(&file, &payload).expect("payload");
    let mib = PAYLOAD_MIB as f64;

    let pipe = best_of(|| {
        let start = Instant::now();
        let mut child = Command::new("cat")
            .arg(&file)
            .stdout(Stdio::piped())
            .spawn()
            .expect("cat");
        let mut sink = Vec::with_capacity(payload.len());
        child
            .stdout
            .take()
            .expect("stdout")
            .read_to_end(&mut sink)
            .expect("read");
        child.wait().expect("wait");
        assert_eq!(sink.len(), payload.len());
        start.elapsed()
    });

    let local_pty = best_of(|| local_pty_cat(&file, payload.len()));

    let (pty, job, rtt, rss) = runtime.block_on(async {
        let client = agent.client().await;
        let pty = best_of_async(&client, true).await;
        let job = best_of_async(&client, false).await;
        let rtt = keystroke_round_trips(&client).await;
        let rss = rss_kib(agent.child.id());
        (pty, job, rtt, rss)
    });

    let size = std::fs::metadata(sam_test_support::binary("sam-agent"))
        .expect("binary")
        .len();
    let rate = |d: Duration| mib * 1.048_576 / d.as_secs_f64();
    let rows: [(&str, String); 11] = [
        (
            "local pipe (cat -> pipe -> reader)",
            format!("{:.0} MB/s", rate(pipe)),
        ),
        (
            "local PTY (cat -> pty -> reader)",
            format!("{:.0} MB/s", rate(local_pty)),
        ),
        (
            "job: pipe -> agent -> WSS -> client",
            format!("{:.0} MB/s", rate(job)),
        ),
        (
            "PTY: pty -> agent -> WSS -> client",
            format!("{:.0} MB/s", rate(pty)),
        ),
        (
            "job / local pipe",
            format!("{:.2}", pipe.as_secs_f64() / job.as_secs_f64()),
        ),
        (
            "PTY / local PTY",
            format!("{:.2}", local_pty.as_secs_f64() / pty.as_secs_f64()),
        ),
        ("keystroke round trip p50", format!("{:.3} ms", rtt.0)),
        ("keystroke round trip p99", format!("{:.3} ms", rtt.1)),
        (
            "idle agent RSS (one session open)",
            format!("{:.1} MB", rss as f64 / 1024.0),
        ),
        (
            "agent binary (this build)",
            format!("{:.1} MB", size as f64 / 1_000_000.0),
        ),
        ("keystrokes / rounds", format!("{KEYSTROKES} / {ROUNDS}")),
    ];
    println!("payload: {PAYLOAD_MIB} MiB, best of {ROUNDS} rounds (MB = 10^6 bytes)");
    for (measure, value) in rows {
        println!("{measure:<40} {value:>12}");
    }
}

/// `cat` on a local pseudo-terminal read directly: what a PTY costs without the agent.
fn local_pty_cat(file: &std::path::Path, expected: usize) -> Duration {
    use std::os::fd::AsFd;
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let mut termios = nix::sys::termios::tcgetattr(pty.slave.as_fd()).expect("tcgetattr");
    // Raw output, as a terminal emulator reading a binary-safe stream would see it.
    nix::sys::termios::cfmakeraw(&mut termios);
    nix::sys::termios::tcsetattr(
        pty.slave.as_fd(),
        nix::sys::termios::SetArg::TCSANOW,
        &termios,
    )
    .expect("tcsetattr");
    let start = Instant::now();
    let mut child = Command::new("cat")
        .arg(file)
        .stdout(Stdio::from(pty.slave.try_clone().expect("dup")))
        .spawn()
        .expect("cat");
    drop(pty.slave);
    let mut master = std::fs::File::from(pty.master);
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0;
    while total < expected {
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
    child.wait().expect("wait");
    assert_eq!(total, expected);
    start.elapsed()
}

fn best_of(mut run: impl FnMut() -> Duration) -> Duration {
    (0..ROUNDS).map(|_| run()).min().expect("rounds")
}

async fn best_of_async(client: &AgentClient, pty: bool) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..ROUNDS {
        let command = vec!["cat".to_owned(), "payload.bin".to_owned()];
        let start = Instant::now();
        let info = if pty {
            client
                .open_pty(
                    Some(command),
                    None,
                    BTreeMap::new(),
                    PtySize {
                        cols: 200,
                        rows: 50,
                    },
                )
                .await
        } else {
            client.run_job(command, None, BTreeMap::new()).await
        }
        .expect("starts");
        let (mut handle, _) = client.attach(info.stream, 0).await.expect("attaches");
        let received = drain(&mut handle).await;
        best = best.min(start.elapsed());
        assert_eq!(received, (PAYLOAD_MIB * 1024 * 1024) as u64);
        client.close_stream(info.stream).await.expect("closes");
    }
    best
}

async fn drain(handle: &mut StreamHandle) -> u64 {
    let mut total = 0;
    loop {
        match handle.next().await.expect("open") {
            StreamEvent::Output { bytes, .. } => total += bytes.len() as u64,
            StreamEvent::Exit(_) => return total,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// One byte typed, the same byte echoed back by `cat` in raw mode; p50 and p99 in ms.
async fn keystroke_round_trips(client: &AgentClient) -> (f64, f64) {
    let command = vec![
        "/bin/sh".to_owned(),
        "-c".to_owned(),
        "stty raw -echo; echo ready; exec cat".to_owned(),
    ];
    let info = client
        .open_pty(
            Some(command),
            None,
            BTreeMap::new(),
            PtySize { cols: 80, rows: 24 },
        )
        .await
        .expect("opens");
    let (mut term, _) = client.attach(info.stream, 0).await.expect("attaches");
    harness::read_until(&mut term, |out| harness::contains(out, "ready")).await;
    let mut samples = Vec::with_capacity(KEYSTROKES);
    for n in 0..KEYSTROKES {
        let key = b'a' + (n % 26) as u8;
        let start = Instant::now();
        term.write(&[key], true);
        loop {
            match term.next().await.expect("open") {
                StreamEvent::Output { bytes, .. } if bytes.contains(&key) => break,
                StreamEvent::Output { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        samples.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    samples.sort_by(f64::total_cmp);
    (
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
    )
}
