//! Tunnels and SSH: what a forwarded port and an SSH connection cost beside a direct loopback
//! connection. A TCP server on loopback is reached directly and through a tunnel of the real
//! agent (TLS WebSocket session on loopback, `sam_core::tunnel::pipe`, which `sam ssh --stdio`
//! uses): throughput of a 256 MiB download and the round trip of a 1-byte echo, in pairs so a
//! busy machine cannot flatter one side. Then `sam ssh --stdio` start-up — from launching it to
//! the SSH server's greeting on its standard output — and a whole `ssh sam-<name> true`, against
//! a Local workspace made by the real `sam`.
//!
//! Run (it needs the Secret Service, as `sam` does):
//! `cargo build --release --workspace --bins && dbus-run-session -- ./scripts/lib/in-session.sh cargo bench --bench tunnel`

#![allow(clippy::print_stdout)]

#[allow(dead_code)]
#[path = "../core/agent/harness.rs"]
mod harness;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::TestAgent;
use sam_core::agent_client::{AgentClient, TunnelTarget};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const DOWNLOAD: usize = 256 * 1024 * 1024;
const PAIRS: usize = 5;
const ECHOES: usize = 2000;
const STARTS: usize = 20;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let agent = TestAgent::start(&[]);
    let (download_port, echo_port) = runtime.block_on(servers());
    let client = runtime.block_on(agent.client());

    let mut direct = Vec::new();
    let mut tunneled = Vec::new();
    for _ in 0..PAIRS {
        direct.push(direct_download(download_port));
        tunneled.push(runtime.block_on(tunnel_download(&client, download_port)));
    }
    let rate = |d: &Duration| DOWNLOAD as f64 / 1e6 / d.as_secs_f64();
    let ratios: Vec<f64> = direct
        .iter()
        .zip(&tunneled)
        .map(|(d, t)| rate(t) / rate(d))
        .collect();
    report_rates("download, direct loopback", &direct, rate);
    report_rates("download, through a tunnel", &tunneled, rate);
    report("  tunnel / direct, per pair", sorted(ratios));

    let direct_rtt = direct_echo(echo_port);
    let tunnel_rtt = runtime.block_on(tunnel_echo(&client, echo_port));
    report("1-byte echo, direct loopback (µs)", micros(direct_rtt));
    report("1-byte echo, through a tunnel (µs)", micros(tunnel_rtt));
    drop(client);
    drop(agent);

    ssh_startup();
}

/// A server that sends `DOWNLOAD` bytes to each connection, and one that echoes.
async fn servers() -> (u16, u16) {
    let download = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let echo = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let ports = (
        download.local_addr().expect("addr").port(),
        echo.local_addr().expect("addr").port(),
    );
    tokio::spawn(async move {
        let chunk = vec![b'x'; 64 * 1024];
        while let Ok((mut socket, _)) = download.accept().await {
            let chunk = chunk.clone();
            tokio::spawn(async move {
                for _ in 0..DOWNLOAD / chunk.len() {
                    if socket.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = echo.accept().await {
            socket.set_nodelay(true).expect("nodelay");
            tokio::spawn(async move {
                let mut byte = [0u8; 1];
                while socket.read_exact(&mut byte).await.is_ok() {
                    if socket.write_all(&byte).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    ports
}

fn direct_download(port: u16) -> Duration {
    let start = Instant::now();
    let mut socket = TcpStream::connect(("127.0.0.1", port)).expect("connects");
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0;
    while got < DOWNLOAD {
        got += socket.read(&mut buf).expect("reads");
    }
    start.elapsed()
}

async fn tunnel_download(client: &AgentClient, port: u16) -> Duration {
    let (near, mut far) = tokio::io::duplex(256 * 1024);
    let (near_in, near_out) = tokio::io::split(near);
    let start = Instant::now();
    let piping = sam_core::tunnel::pipe(client, TunnelTarget::Tcp, Some(port), near_in, near_out);
    let reading = async move {
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0;
        while got < DOWNLOAD {
            got += far.read(&mut buf).await.expect("reads");
        }
        start.elapsed()
    };
    tokio::select! {
        took = reading => took,
        ended = piping => panic!("the tunnel ended early: {ended:?}"),
    }
}

fn direct_echo(port: u16) -> Vec<Duration> {
    let mut socket = TcpStream::connect(("127.0.0.1", port)).expect("connects");
    socket.set_nodelay(true).expect("nodelay");
    let mut byte = [0u8; 1];
    (0..ECHOES)
        .map(|_| {
            let start = Instant::now();
            socket.write_all(b"k").expect("writes");
            socket.read_exact(&mut byte).expect("reads");
            start.elapsed()
        })
        .collect()
}

async fn tunnel_echo(client: &AgentClient, port: u16) -> Vec<Duration> {
    let (near, mut far) = tokio::io::duplex(4096);
    let (near_in, near_out) = tokio::io::split(near);
    let piping = sam_core::tunnel::pipe(client, TunnelTarget::Tcp, Some(port), near_in, near_out);
    let talking = async move {
        let mut byte = [0u8; 1];
        let mut samples = Vec::with_capacity(ECHOES);
        for _ in 0..ECHOES {
            let start = Instant::now();
            far.write_all(b"k").await.expect("writes");
            far.read_exact(&mut byte).await.expect("reads");
            samples.push(start.elapsed());
        }
        samples
    };
    tokio::select! {
        samples = talking => samples,
        ended = piping => panic!("the tunnel ended early: {ended:?}"),
    }
}

/// `sam ssh --stdio` start-up and a whole `ssh … true`, against a Local workspace.
fn ssh_startup() {
    let sam = sam_test_support::binary("sam");
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let repo = sam_test_support::source_repo(dir.path());
    let created = Command::new(&sam)
        .args([
            "--json",
            "workspace",
            "create",
            "--repo",
            &repo,
            "--name",
            "bench",
            "--wait",
        ])
        .env("SAM_DATA_DIR", &data)
        .output()
        .expect("sam runs");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&created.stdout).expect("JSON");
    let id = created["id"].as_str().expect("id").to_owned();
    // Writes SAM's SSH files (and proves the path once).
    let first = Command::new(&sam)
        .args(["ssh", &id, "--", "true"])
        .env("SAM_DATA_DIR", &data)
        .status()
        .expect("sam ssh");
    assert!(first.success());

    let greetings: Vec<Duration> = (0..STARTS)
        .map(|_| {
            let start = Instant::now();
            let mut proxy = Command::new(&sam)
                .args(["ssh", "--stdio", &id])
                .env("SAM_DATA_DIR", &data)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("sam ssh --stdio");
            let mut greeting = [0u8; 8];
            proxy
                .stdout
                .as_mut()
                .expect("stdout")
                .read_exact(&mut greeting)
                .expect("greeting");
            let took = start.elapsed();
            assert_eq!(&greeting, b"SSH-2.0-");
            drop(proxy.stdin.take());
            proxy.wait().expect("ends");
            took
        })
        .collect();
    report(
        "sam ssh --stdio: launch to greeting (ms)",
        millis(greetings),
    );

    let config = data.join("ssh/config");
    let wholes: Vec<Duration> = (0..STARTS)
        .map(|_| {
            let start = Instant::now();
            let status = Command::new("ssh")
                .arg("-F")
                .arg(&config)
                .args(["-o", "BatchMode=yes", "sam-bench", "true"])
                .env("SAM_DATA_DIR", &data)
                .status()
                .expect("ssh");
            assert!(status.success());
            start.elapsed()
        })
        .collect();
    report("ssh sam-bench true, whole (ms)", millis(wholes));
    sam_test_support::kill_agents_under(dir.path());
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values
}

fn micros(samples: Vec<Duration>) -> Vec<f64> {
    sorted(samples.iter().map(|d| d.as_secs_f64() * 1e6).collect())
}

fn millis(samples: Vec<Duration>) -> Vec<f64> {
    sorted(samples.iter().map(|d| d.as_secs_f64() * 1e3).collect())
}

fn report_rates(what: &str, samples: &[Duration], rate: impl Fn(&Duration) -> f64) {
    report(
        &format!("{what} (MB/s)"),
        sorted(samples.iter().map(rate).collect()),
    );
}

/// min, median, p99 (the max for few samples) and max of sorted `values`.
fn report(what: &str, values: Vec<f64>) {
    let at = |p: f64| values[((values.len() - 1) as f64 * p).round() as usize];
    println!(
        "{what:<44} min {:9.2}  median {:9.2}  p99 {:9.2}  max {:9.2}  ({} samples)",
        values[0],
        at(0.5),
        at(0.99),
        values[values.len() - 1],
        values.len()
    );
}
