//! Admission benchmark: how the owner fares while strangers attack the agent's port from one
//! address. Prints a table; numbers are recorded in `docs/benchmarks.md`.
//!
//! The attack, all from 127.0.0.2 (every 127/8 address is this machine):
//! - 500 idle TCP sockets that never start TLS, each reopened 1 s after the agent closes it;
//! - 50 slow-headers connections: TLS, then one byte of a request head every 500 ms;
//! - 4 loops of back-to-back TLS handshakes, each dropped once complete.
//!
//! The owner, from 127.0.0.1, dials a session (TLS with the pin, upgrade with a token) every
//! 50 ms, first with no attack and then under it; the agent's resident memory is sampled
//! throughout.
//!
//! Run: `cargo build --release -p sam-agent && cargo bench -p sam-agent --bench admission`

#![allow(clippy::print_stdout)]

#[allow(dead_code)]
#[path = "../../tests/core/agent/harness.rs"]
mod harness;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use harness::TestAgent;
use sam_core::agent_client::dial::dial;
use sam_core::agent_client::tls::PinVerifier;
use sam_protocol::SESSION_PATH;
use sam_protocol::token::Audience;
use sam_test_support::rss_kib;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpSocket;
use tokio_rustls::TlsConnector;

const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const IDLE_SOCKETS: usize = 500;
const SLOW_HEADERS: usize = 50;
const HANDSHAKE_LOOPS: usize = 4;
const ATTEMPTS: usize = 200;
const SUCCESS_WITHIN: Duration = Duration::from_secs(1);

fn main() {
    let agent = TestAgent::start(&[]);
    let owner = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let pin = owner.block_on(agent.enroll());
    let pid = agent.child.id();
    let peak = Arc::new(AtomicU64::new(rss_kib(pid)));
    let idle_rss = peak.load(Ordering::Relaxed);
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (Arc::clone(&peak), Arc::clone(&sampling));
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };

    let quiet = owner.block_on(owner_attempts(&agent, &pin));
    let quiet_peak = peak.swap(rss_kib(pid), Ordering::Relaxed);

    let attack = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let addr: SocketAddr = agent.addr.parse().expect("address");
    let stats = Arc::new(Stats::default());
    for _ in 0..IDLE_SOCKETS {
        attack.spawn(idle_socket(addr, Arc::clone(&stats)));
    }
    for _ in 0..SLOW_HEADERS {
        attack.spawn(slow_headers(addr, Arc::clone(&stats)));
    }
    for _ in 0..HANDSHAKE_LOOPS {
        attack.spawn(handshakes(addr, Arc::clone(&stats)));
    }
    // Let the attack reach its steady state before the owner starts.
    std::thread::sleep(Duration::from_secs(3));
    let attacked = owner.block_on(owner_attempts(&agent, &pin));
    sampling.store(false, Ordering::Relaxed);
    sampler.join().expect("sampler");
    attack.shutdown_background();

    println!("| owner, {ATTEMPTS} session dials | no attack | under attack |");
    println!("| --- | --- | --- |");
    let rows = [
        ("succeeded", quiet.succeeded(), attacked.succeeded()),
        ("within 1 s", quiet.within(), attacked.within()),
        ("p50", quiet.percentile(0.50), attacked.percentile(0.50)),
        ("p99", quiet.percentile(0.99), attacked.percentile(0.99)),
        ("max", quiet.percentile(1.0), attacked.percentile(1.0)),
        (
            "agent peak RSS",
            format!("{:.1} MB", quiet_peak as f64 / 1024.0),
            format!("{:.1} MB", peak.load(Ordering::Relaxed) as f64 / 1024.0),
        ),
    ];
    for (name, a, b) in rows {
        println!("| {name} | {a} | {b} |");
    }
    println!();
    println!("agent RSS at rest: {:.1} MB", idle_rss as f64 / 1024.0);
    println!(
        "attacker: {} TCP connects, {} TLS handshakes completed, {} slow-header bytes sent",
        stats.connects.load(Ordering::Relaxed),
        stats.handshakes.load(Ordering::Relaxed),
        stats.slow_bytes.load(Ordering::Relaxed),
    );
    if let Some(error) = attacked
        .first_error
        .as_deref()
        .or(quiet.first_error.as_deref())
    {
        println!("first owner error: {error}");
    }
}

#[derive(Default)]
struct Stats {
    connects: AtomicU64,
    handshakes: AtomicU64,
    slow_bytes: AtomicU64,
}

struct Attempts {
    /// Latency of each successful dial.
    latencies: Vec<Duration>,
    failed: usize,
    first_error: Option<String>,
}

impl Attempts {
    fn succeeded(&self) -> String {
        let ok = self.latencies.len();
        format!(
            "{ok}/{} ({:.1} %)",
            ok + self.failed,
            percent(ok, ok + self.failed)
        )
    }

    fn within(&self) -> String {
        let total = self.latencies.len() + self.failed;
        let fast = self
            .latencies
            .iter()
            .filter(|d| **d <= SUCCESS_WITHIN)
            .count();
        format!("{fast}/{total} ({:.1} %)", percent(fast, total))
    }

    fn percentile(&self, p: f64) -> String {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        if sorted.is_empty() {
            return "-".to_owned();
        }
        let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
        format!("{:.1} ms", sorted[index].as_secs_f64() * 1000.0)
    }
}

fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    part as f64 * 100.0 / whole as f64
}

async fn owner_attempts(agent: &TestAgent, pin: &str) -> Attempts {
    let verifier = PinVerifier::new(Some(pin.to_owned()));
    let caller = agent.caller();
    let mut attempts = Attempts {
        latencies: Vec::new(),
        failed: 0,
        first_error: None,
    };
    for _ in 0..ATTEMPTS {
        let started = Instant::now();
        match dial(
            &agent.addr,
            &verifier,
            SESSION_PATH,
            &caller.token(Audience::Session),
        )
        .await
        {
            Ok((socket, _)) => {
                attempts.latencies.push(started.elapsed());
                drop(socket);
            }
            Err(err) => {
                attempts.failed += 1;
                attempts.first_error.get_or_insert_with(|| err.to_string());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    attempts
}

async fn connect(addr: SocketAddr, stats: &Stats) -> Option<tokio::net::TcpStream> {
    let socket = TcpSocket::new_v4().ok()?;
    socket.bind(SocketAddr::new(ATTACKER, 0)).ok()?;
    let stream = socket.connect(addr).await.ok()?;
    stats.connects.fetch_add(1, Ordering::Relaxed);
    Some(stream)
}

/// Holds a socket open without a byte of TLS until the agent closes it; then opens another.
async fn idle_socket(addr: SocketAddr, stats: Arc<Stats>) {
    loop {
        if let Some(mut stream) = connect(addr, &stats).await {
            let mut byte = [0u8; 1];
            let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut byte).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn tls_connector() -> TlsConnector {
    let config = PinVerifier::new(None).client_config().expect("config");
    TlsConnector::from(config)
}

/// Completes TLS, then trickles a request head a byte at a time.
async fn slow_headers(addr: SocketAddr, stats: Arc<Stats>) {
    let connector = tls_connector();
    let head = b"GET /v1/session HTTP/1.1\r\nhost: agent.sam\r\nx-padding: ";
    loop {
        if let Some(tcp) = connect(addr, &stats).await
            && let Ok(mut tls) = connector
                .connect("agent.sam".try_into().expect("name"), tcp)
                .await
        {
            stats.handshakes.fetch_add(1, Ordering::Relaxed);
            for byte in head.iter().chain(std::iter::repeat(&b'a')) {
                if tls.write_all(&[*byte]).await.is_err() || tls.flush().await.is_err() {
                    break;
                }
                stats.slow_bytes.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Full TLS handshakes, back to back, each dropped once complete.
async fn handshakes(addr: SocketAddr, stats: Arc<Stats>) {
    let connector = tls_connector();
    loop {
        if let Some(tcp) = connect(addr, &stats).await
            && connector
                .connect("agent.sam".try_into().expect("name"), tcp)
                .await
                .is_ok()
        {
            stats.handshakes.fetch_add(1, Ordering::Relaxed);
        }
        tokio::task::yield_now().await;
    }
}
