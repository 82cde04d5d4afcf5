//! Ports of a Local workspace: an HTTP server started in it over SSH is listed by `sam ports`
//! and reached through `sam port-forward` — a 50 MB download byte-exact, 100 connections at
//! once — and a local port already taken is refused with a clear message.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Stdio};

use super::cli::Sam;

/// A child process killed (and reaped) when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

/// The first line a child prints on standard output.
fn first_line(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().expect("stdout"))
        .read_line(&mut line)
        .expect("reads");
    line
}

/// `GET path` over HTTP/1.0 to `port`; the body.
fn get(port: u16, path: &str) -> Vec<u8> {
    let mut socket = TcpStream::connect(("127.0.0.1", port)).expect("connects");
    socket
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .expect("asks");
    let mut response = Vec::new();
    socket.read_to_end(&mut response).expect("reads");
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers end");
    assert!(
        response.starts_with(b"HTTP/1.0 200"),
        "{}",
        String::from_utf8_lossy(&response[..end])
    );
    response.split_off(end + 4)
}

#[test]
fn a_web_server_in_the_workspace_is_listed_and_forwarded() {
    let sam = Sam::new();
    let (code, created) = sam.create("web");
    assert_eq!(code, Some(0), "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    let root = sam.data_dir().join("workspaces").join(&id).join("repo");
    let big: Vec<u8> = (0..50_000_000u32).map(|i| (i * 13 % 251) as u8).collect();
    std::fs::write(root.join("big.bin"), &big).expect("writes");
    std::fs::write(root.join("small.txt"), "small and fine\n").expect("writes");

    // An HTTP server in the workspace, started over SSH; it ends when the connection does.
    let port = free_port();
    let mut server = Running(
        sam.command(&[
            "ssh",
            "web",
            "--",
            &format!("exec python3 -u -m http.server {port} --bind 127.0.0.1"),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ssh runs"),
    );
    let serving = first_line(&mut server.0);
    assert!(serving.contains(&format!("port {port}")), "{serving}");

    // Listed by the agent.
    let (code, listed) = sam.json(&["--json", "ports", "web"]);
    assert_eq!(code, Some(0), "{listed}");
    assert!(
        listed["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .any(|p| p["port"] == port && p["address"] == "127.0.0.1"),
        "{listed}"
    );

    // Forwarded to a free local port, announced on the first line.
    let mut forward = Running(
        sam.command(&["--json", "port-forward", "web", &format!("0:{port}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("port-forward runs"),
    );
    let announced: serde_json::Value =
        serde_json::from_str(&first_line(&mut forward.0)).expect("JSON");
    assert_eq!(announced["remote"], port);
    let local = u16::try_from(announced["local"].as_u64().expect("local")).expect("port");
    assert_eq!(announced["url"], format!("http://127.0.0.1:{local}"));

    assert!(get(local, "/big.bin") == big, "the download is byte-exact");
    let fetches: Vec<_> = (0..100)
        .map(|_| std::thread::spawn(move || get(local, "/small.txt")))
        .collect();
    for fetch in fetches {
        assert_eq!(fetch.join().expect("fetched"), b"small and fine\n");
    }

    // A local port that is taken: a clear refusal, nothing left running.
    let taken = sam.run(&["port-forward", "web", &format!("{local}:{port}")]);
    assert_eq!(taken.status.code(), Some(2));
    let said = String::from_utf8_lossy(&taken.stderr);
    assert!(
        said.contains(&format!("Port {local} on this computer is already in use")),
        "{said}"
    );

    // A polite stop ends the forward cleanly.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(forward.0.id()).expect("pid")),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("signals");
    assert!(forward.0.wait().expect("ends").success());
}
