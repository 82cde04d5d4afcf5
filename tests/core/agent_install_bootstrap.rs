//! A machine without npm (a fresh server) gets Node.js and npm from the registry with curl,
//! checked against the registry's checksums, before the coding agent is installed with them.
//! The registry is a local fake speaking npm's wire format; its Node.js starts this machine's
//! and its npm is this machine's npm, so the install runs offline. (Measured against the real
//! registry by hand: see `docs/agents.md`.)

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const NODE: &str = "22.99.1";
const NPM: &str = "12.0.0";

/// Serves files by path over HTTP on loopback until the test process ends, `make` making them
/// knowing the registry's base URL (which its documents name); answers that URL.
fn registry(make: impl FnOnce(&str) -> HashMap<String, Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binds");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let files = make(&url);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
            // The rest of the head.
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                header.clear();
            }
            let (status, body) = match files.get(&path) {
                Some(body) => ("200 OK", body.clone()),
                None => ("404 Not Found", b"{}".to_vec()),
            };
            let mut out = &stream;
            let _ = write!(
                out,
                "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = out.write_all(&body);
        }
    });
    url
}

/// A package tarball (`package/…`) of `files` (path, content, executable).
fn tarball(dir: &Path, name: &str, files: &[(&str, String, bool)]) -> Vec<u8> {
    use std::os::unix::fs::PermissionsExt;
    let root = dir.join(name);
    for (path, content, executable) in files {
        let file = root.join("package").join(path);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(&file, content).expect("write");
        let mode = if *executable { 0o755 } else { 0o644 };
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    let out = dir.join(format!("{name}.tgz"));
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&out)
        .arg("-C")
        .arg(&root)
        .arg("package")
        .status()
        .expect("tar");
    assert!(status.success());
    std::fs::read(out).expect("tarball")
}

fn sha1(bytes: &[u8], dir: &Path) -> String {
    let file = dir.join("sum-me");
    std::fs::write(&file, bytes).expect("write");
    let out = Command::new("sha1sum")
        .arg(&file)
        .output()
        .expect("sha1sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a sum")
        .to_owned()
}

/// The registry's files for a Node.js `NODE` and npm `NPM`; `node_sum` replaces the Node.js
/// tarball's true checksum when given.
fn files(dir: &Path, base: &str, node_sum: Option<&str>) -> HashMap<String, Vec<u8>> {
    let system_npm = std::fs::canonicalize(which("npm")).expect("this machine's npm");
    let system_node = which("node");
    let node = tarball(
        dir,
        "node",
        &[(
            "bin/node",
            format!(
                "#!/bin/sh\nif [ \"$1\" = --version ]; then echo v{NODE}; exit 0; fi\nexec '{}' \"$@\"\n",
                system_node.display()
            ),
            true,
        )],
    );
    let npm = tarball(
        dir,
        "npm",
        &[(
            "bin/npm-cli.js",
            format!("require({:?});\n", system_npm.display().to_string()),
            false,
        )],
    );
    let arch = if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "x64"
    };
    let node_url = format!("{base}/node-linux-{arch}/-/node-linux-{arch}-{NODE}.tgz");
    let npm_url = format!("{base}/npm/-/npm-{NPM}.tgz");
    let node_sum = node_sum.map_or_else(|| sha1(&node, dir), str::to_owned);
    let npm_sum = sha1(&npm, dir);
    HashMap::from([
        (
            format!("/node-linux-{arch}"),
            format!(r#"{{"versions": {{"21.9.0": {{}}, "22.1.0": {{}}, "{NODE}": {{}}, "23.0.0": {{}}}}}}"#)
                .into_bytes(),
        ),
        (
            format!("/node-linux-{arch}/{NODE}"),
            format!(r#"{{"dist": {{"tarball": "{node_url}", "shasum": "{node_sum}"}}}}"#).into_bytes(),
        ),
        (node_url.trim_start_matches(base).to_owned(), node),
        (
            "/-/package/npm/dist-tags".to_owned(),
            format!(r#"{{"latest": "{NPM}"}}"#).into_bytes(),
        ),
        (
            format!("/npm/{NPM}"),
            format!(r#"{{"dist": {{"tarball": "{npm_url}", "shasum": "{npm_sum}"}}}}"#).into_bytes(),
        ),
        (npm_url.trim_start_matches(base).to_owned(), npm),
    ])
}

fn which(program: &str) -> PathBuf {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .expect("sh");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// A folder of the tools `install.sh` uses, without node and npm: the PATH of a fresh server.
fn bare_path(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    for tool in [
        "sh", "curl", "tar", "gzip", "sed", "grep", "tr", "sort", "tail", "head", "mkdir", "rm",
        "touch", "cat", "dirname", "uname", "sha1sum", "chmod", "env", "basename",
    ] {
        let _ = std::os::unix::fs::symlink(which(tool), bin.join(tool));
    }
    bin
}

/// Runs `install.sh` with the registry at `base` and the bare PATH.
fn install(dir: &Path, base: &str, package: &str) -> Output {
    let script = sam_test_support::repo_root().join("src-tauri/core/coding_agents/install.sh");
    let work = dir.join("repo");
    std::fs::create_dir_all(&work).expect("repo");
    Command::new(which("sh"))
        .arg(script)
        .arg(dir.join("prefix"))
        .arg(package)
        .arg("22")
        .current_dir(work)
        .env_clear()
        .env("HOME", dir)
        .env("PATH", bare_path(dir))
        .env("npm_config_registry", base)
        .output()
        .expect("install.sh runs")
}

#[test]
fn without_npm_node_and_npm_come_from_the_registry_and_install_the_agent() {
    let dir = tempfile::tempdir().expect("dir");
    let scratch = tempfile::tempdir().expect("scratch");
    let packages = tempfile::tempdir().expect("packages");
    let agent: serde_json::Value =
        serde_json::from_str(&sam_test_support::npm_fake_agent(packages.path(), "boot"))
            .expect("agent.json");
    let package = agent["distribution"]["npx"]["package"]
        .as_str()
        .expect("a package")
        .to_owned();

    let base = registry(|base| files(scratch.path(), base, None));
    let output = install(dir.path(), &base, &package);
    let said = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        said.contains("installing Node.js 22 and npm (this machine has no npm)"),
        "{said}"
    );
    let ready = said.lines().last().expect("a last line");
    let boot = dir.path().join("prefix/node-22-boot");
    assert!(
        ready.starts_with(&format!(
            "sam-install-ready\t{}",
            boot.join("node/bin").display()
        )),
        "the newest Node.js 22 comes first on the agent's PATH: {ready}"
    );
    assert!(
        ready.ends_with("/node_modules/.bin/fake-npm-agent"),
        "{ready}"
    );
    let version = Command::new(boot.join("node/bin/node"))
        .arg("--version")
        .output()
        .expect("node");
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("v{NODE}")
    );

    // A download that does not match the registry's checksum is refused.
    let other = tempfile::tempdir().expect("dir");
    let scratch = tempfile::tempdir().expect("scratch");
    let base = registry(|base| files(scratch.path(), base, Some(&"0".repeat(40))));
    let output = install(other.path(), &base, &package);
    let said = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(5), "{said}");
    assert!(
        said.contains("does not match the registry's checksum"),
        "{said}"
    );
    assert!(
        !other
            .path()
            .join("prefix/node-22-boot/node/bin/node")
            .exists()
    );
}
