//! Terminals end to end through the real agent on loopback: ingest (agent PTY → WSS → engine)
//! beside the same bytes fed straight into an engine, and frame intervals and input latency
//! during a 100 MB flood.
//!
//! Run: `cargo build --release -p sam-agent && cargo bench --bench terminal_e2e`

#![allow(clippy::print_stdout)]

#[allow(dead_code)]
#[path = "../core/agent/harness.rs"]
mod harness;

use std::time::{Duration, Instant};

use harness::TestAgent;
use sam_core::agent_client::{AgentClient, PtySize};
use sam_core::terminal::{Engine, Size, Terminal, TerminalEvent, TerminalOptions};

const SIZE: Size = Size {
    cols: 120,
    rows: 40,
};
const INGEST_MIB: usize = 64;
const FLOOD_MB: usize = 100;
const ROUNDS: usize = 5;

/// Coloured 120-column lines, as a build log or `ls --color` would print them.
fn colored_lines(min_bytes: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(min_bytes + 256);
    let mut n = 0usize;
    while out.len() < min_bytes {
        let color = 31 + (n % 7);
        let body: String = (0..108)
            .map(|i| char::from(b'a' + ((n + i) % 26) as u8))
            .collect();
        out.extend_from_slice(format!("\x1b[{color}m{n:>8}\x1b[0m {body}\n").as_bytes());
        n += 1;
    }
    out
}

struct Run {
    bytes: u64,
    elapsed: Duration,
    frame_gaps: Vec<Duration>,
    input_latency: Vec<Duration>,
}

/// The flood program: prints a file as fast as it can while a thread notes (wall clock) when
/// each typed key arrives — input latency measured where it matters, at the program.
const FLOODER: &str = r#"
import os, sys, threading, time, tty
tty.setraw(0)
arrivals = []
def read_keys():
    while True:
        if not os.read(0, 1):
            break
        arrivals.append(time.time())
threading.Thread(target=read_keys, daemon=True).start()
with open(sys.argv[1], "rb") as source:
    while block := source.read(65536):
        os.write(1, block)
with open(sys.argv[2], "w") as out:
    out.write("\n".join(repr(t) for t in arrivals))
"#;

/// Runs `command` in an agent PTY into a [`Terminal`], draining its events and timing frames;
/// with `typing`, a key is typed every 20 ms and its send time noted.
async fn through_agent(
    client: &AgentClient,
    command: Vec<String>,
    typing: bool,
) -> (Run, Vec<f64>) {
    let start = Instant::now();
    let info = client
        .open_pty(
            Some(command),
            None,
            Default::default(),
            PtySize {
                cols: SIZE.cols,
                rows: SIZE.rows,
            },
        )
        .await
        .expect("opens");
    let (handle, _) = client.attach(info.stream, 0).await.expect("attaches");
    let (terminal, mut events) = Terminal::start(
        client,
        handle,
        0,
        TerminalOptions {
            size: SIZE,
            ..TerminalOptions::default()
        },
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Typing starts with the first output: the program switches its terminal to raw mode (which
    // discards earlier keys) before it prints anything.
    let started = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let typist = typing.then(|| {
        let input = terminal.input_handle();
        let stop = std::sync::Arc::clone(&stop);
        let started = std::sync::Arc::clone(&started);
        std::thread::spawn(move || {
            let mut sent = Vec::new();
            while !started.load(std::sync::atomic::Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(1));
            }
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                sent.push(wall_clock());
                input.write(b"x", true);
                std::thread::sleep(Duration::from_millis(20));
            }
            sent
        })
    });
    let mut frame_gaps = Vec::new();
    let mut last_frame: Option<Instant> = None;
    loop {
        match events.recv().await {
            Some(TerminalEvent::Frame(_)) => {
                if terminal.applied_offset() > 0 {
                    started.store(true, std::sync::atomic::Ordering::Release);
                }
                let now = Instant::now();
                if let Some(last) = last_frame {
                    frame_gaps.push(now - last);
                }
                last_frame = Some(now);
            }
            Some(TerminalEvent::Exited(_)) => break,
            Some(TerminalEvent::Gap { .. }) => panic!("output lost: make the ring larger"),
            Some(TerminalEvent::Closed) | None => panic!("the stream closed"),
            Some(_) => {}
        }
    }
    let elapsed = start.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = typist
        .map(|typist| typist.join().expect("the typist"))
        .unwrap_or_default();
    let run = Run {
        bytes: terminal.applied_offset(),
        elapsed,
        frame_gaps,
        input_latency: Vec::new(),
    };
    (run, sent)
}

fn wall_clock() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn percentile(values: &mut [Duration], p: f64) -> Duration {
    values.sort_unstable();
    values
        .get(((values.len() as f64 - 1.0) * p).round() as usize)
        .copied()
        .unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // A ring larger than the payload, so a producer faster than the engine never causes a gap.
    let agent = TestAgent::start(&["--ring-bytes", "268435456"]);
    let ingest_file = agent.workspace_root().join("ingest.txt");
    std::fs::write(&ingest_file, colored_lines(INGEST_MIB * 1024 * 1024)).expect("file");
    let flood_file = agent.workspace_root().join("flood.txt");
    std::fs::write(&flood_file, colored_lines(FLOOD_MB * 1_000_000)).expect("file");

    let flooder = agent.workspace_root().join("flood.py");
    std::fs::write(&flooder, FLOODER).expect("flood program");
    let arrivals_file = agent.workspace_root().join("arrivals.txt");
    // The same bytes as the PTY delivers them (LF becomes CR LF), for the in-process runs.
    let delivered: Vec<u8> = std::fs::read(&ingest_file)
        .expect("file")
        .split(|&b| b == b'\n')
        .flat_map(|line| line.iter().copied().chain(*b"\r\n"))
        .collect();
    let in_process = || {
        let mut engine = Engine::new(SIZE, 10_000);
        let start = Instant::now();
        for chunk in delivered.chunks(64 * 1024) {
            engine.feed(chunk);
        }
        let _ = engine.frame(true);
        delivered.len() as f64 / 1e6 / start.elapsed().as_secs_f64()
    };
    let (mut e2e, mut local, mut flood) = runtime.block_on(async {
        let client = agent.client().await;
        // Alternating rounds, so both sides see the same machine (two busy cores are noisy).
        let (mut e2e, mut local) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let cat = vec!["cat".to_owned(), ingest_file.display().to_string()];
            let (run, _) = through_agent(&client, cat, false).await;
            e2e.push(run.bytes as f64 / 1e6 / run.elapsed.as_secs_f64());
            local.push(in_process());
        }
        let flood_command = vec![
            "python3".to_owned(),
            flooder.display().to_string(),
            flood_file.display().to_string(),
            arrivals_file.display().to_string(),
        ];
        let (mut flood, sent) = through_agent(&client, flood_command, true).await;
        let arrivals: Vec<f64> = std::fs::read_to_string(&arrivals_file)
            .expect("the flood program's notes")
            .lines()
            .filter_map(|line| line.parse().ok())
            .collect();
        // Keys arrive in order; ones typed after the flood ended never arrive.
        flood.input_latency = sent
            .iter()
            .zip(&arrivals)
            .map(|(sent, arrived)| Duration::from_secs_f64((arrived - sent).max(0.0)))
            .collect();
        (e2e, local, flood)
    });
    let e2e_mbs = median(&mut e2e);
    let local_mbs = median(&mut local);

    println!("{:<62} {:>12}", "measure", "value");
    println!(
        "{:<62} {:>8.1} MB/s",
        "ingest: agent PTY -> WSS -> engine (64 MiB, median of 5)", e2e_mbs
    );
    println!(
        "{:<62} {:>8.1} MB/s",
        "ingest: same bytes straight into an engine (median of 5)", local_mbs
    );
    println!(
        "{:<62} {:>11.2}",
        "ratio (target >= 0.8)",
        e2e_mbs / local_mbs
    );
    println!(
        "{:<62} {:>8.1} MB/s",
        "100 MB flood through the agent",
        flood.bytes as f64 / 1e6 / flood.elapsed.as_secs_f64()
    );
    let frames = flood.frame_gaps.len() + 1;
    println!("{:<62} {:>12}", "flood: frames sent", frames);
    for (label, p) in [("p50", 0.5), ("p99", 0.99), ("max", 1.0)] {
        println!(
            "{:<62} {:>9.1} ms",
            format!("flood: interval between frames, {label}"),
            ms(percentile(&mut flood.frame_gaps, p))
        );
    }
    println!(
        "{:<62} {:>12}",
        "flood: keystrokes timed (one every 20 ms)",
        flood.input_latency.len()
    );
    for (label, p) in [("p50", 0.5), ("p99", 0.99), ("max", 1.0)] {
        println!(
            "{:<62} {:>9.1} ms",
            format!("flood: keystroke to the program, {label}"),
            ms(percentile(&mut flood.input_latency, p))
        );
    }
}
