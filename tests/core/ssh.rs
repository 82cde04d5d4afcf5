//! SSH into a Local workspace with Debian's OpenSSH client, through the config `sam ssh-config`
//! installs: commands, stdin, exit codes, a PTY, scp and sftp, forwarding both ways, dynamic
//! forwarding as VS Code uses it, and a changed host key refused. Everything goes through the
//! real `sam ssh --stdio` ProxyCommand and the real agent.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::cli::Sam;

/// A user's own SSH config, which SAM must leave byte for byte.
const USERS_CONFIG: &str = "# my settings\r\nHost *\r\n    ServerAliveInterval 30\r\nInclude ~/.ssh/extra.conf\r\n\r\nHost build\r\n    HostName build.example.com";

/// Runs its arguments (an `ssh -tt` command) in a PTY of 30 rows and 90 columns, waits for the
/// remote `stty size` to say so, resizes the PTY to 40x100 (SIGWINCH to ssh, as a terminal
/// window does), and waits for the remote to print the new size; then hangs up.
const RESIZE_SCRIPT: &str = r#"
import fcntl, os, pty, signal, struct, sys, termios
def size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
pid, fd = pty.fork()
if pid == 0:
    size(0, 30, 90)
    os.execvp(sys.argv[1], sys.argv[1:])
seen = b""
def until(text):
    global seen
    while text not in seen:
        chunk = os.read(fd, 4096)
        if not chunk:
            sys.exit("ended before " + repr(text) + ": " + repr(seen))
        seen += chunk
until(b"30 90")
size(fd, 40, 100)
os.kill(pid, signal.SIGWINCH)
until(b"40 100")
os.kill(pid, signal.SIGTERM)
os.waitpid(pid, 0)
"#;

struct Ssh {
    sam: Sam,
    config: PathBuf,
}

impl Ssh {
    /// A running Local workspace `demo` and a user's SSH config with SAM's block installed.
    fn new() -> Self {
        let sam = Sam::new();
        let (code, created) = sam.create("demo");
        assert_eq!(code, Some(0), "{created}");
        let config = sam.dir.path().join("ssh_config");
        std::fs::write(&config, USERS_CONFIG).expect("writes");
        let installed = sam.run(&["ssh-config", "--yes", "--ssh-config", path(&config)]);
        assert!(installed.status.success(), "{}", text(&installed.stderr));
        let shown = text(&installed.stdout);
        assert!(
            shown.contains("+# >>> SAM workspaces"),
            "the change is shown: {shown}"
        );
        Self { sam, config }
    }

    /// OpenSSH's client with the user's config, never prompting.
    fn ssh(&self, args: &[&str]) -> Command {
        let mut ssh = Command::new("ssh");
        ssh.arg("-F")
            .arg(&self.config)
            .args(["-o", "BatchMode=yes"])
            .args(args)
            .env("SAM_DATA_DIR", self.sam.data_dir())
            .env("HOME", self.sam.dir.path());
        ssh
    }

    fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = self
            .ssh(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ssh runs");
        let mut input = child.stdin.take().expect("stdin");
        let stdin = stdin.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = input.write_all(&stdin);
        });
        let output = child.wait_with_output().expect("ssh ends");
        writer.join().expect("stdin written");
        output
    }

    fn workspace_root(&self) -> PathBuf {
        let (_, list) = self.sam.json(&["--json", "workspace", "list"]);
        let id = list["workspaces"][0]["id"].as_str().expect("id").to_owned();
        self.sam.data_dir().join("workspaces").join(id).join("repo")
    }

    /// A master connection in the background with `forwards` (`-L …`, `-R …`, `-D …`), set up
    /// before this returns (OpenSSH forks only once the forwards are listening).
    fn forward(&self, forwards: &[&str]) -> Master {
        let control = self
            .sam
            .dir
            .path()
            .join(format!("ctl-{}", forwards.join("").len()));
        let mut args = vec!["-f", "-N", "-o", "ExitOnForwardFailure=yes", "-M", "-S"];
        let control_arg = path(&control).to_owned();
        args.push(&control_arg);
        args.extend_from_slice(forwards);
        args.push("sam-demo");
        // The forked connection keeps its output open: read none of it, or nothing ends.
        let errors = self.sam.dir.path().join("forward.err");
        let status = self
            .ssh(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&errors).expect("creates"))
            .status()
            .expect("ssh runs");
        let said = std::fs::read_to_string(&errors).unwrap_or_default();
        assert!(status.success(), "{said}");
        Master {
            ssh: self.ssh(&["-S", path(&control), "-O", "exit", "sam-demo"]),
        }
    }
}

/// Ends a background master connection when dropped.
struct Master {
    ssh: Command,
}

impl Drop for Master {
    fn drop(&mut self) {
        let _ = self.ssh.stderr(Stdio::null()).status();
    }
}

fn path(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

/// A server on this computer's loopback (which is the Local workspace's) answering each
/// connection with `answer`.
fn answering(answer: &'static [u8]) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binds");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for socket in listener.incoming().flatten() {
            let mut socket = socket;
            let _ = socket.write_all(answer);
        }
    });
    port
}

fn read_all(mut socket: TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    socket.read_to_end(&mut got).expect("reads");
    got
}

#[test]
fn openssh_runs_commands_in_a_workspace_through_sams_config() {
    let ssh = Ssh::new();

    // The user's file is intact after SAM's block, and the block only includes SAM's file.
    let installed = std::fs::read_to_string(&ssh.config).expect("reads");
    assert!(installed.starts_with("# >>> SAM workspaces"), "{installed}");
    assert!(installed.ends_with(USERS_CONFIG), "{installed}");

    // OpenSSH resolves SAM's values, pinned and strict.
    let resolved = ssh.run(&["-G", "sam-demo"], b"");
    let resolved = text(&resolved.stdout);
    for wanted in ["stricthostkeychecking true", "hostkeyalias sam-"] {
        assert!(resolved.contains(wanted), "{wanted}: {resolved}");
    }

    // A command, in the repository, as this computer's user.
    let out = ssh.run(&["sam-demo", "echo hello; pwd; id -un"], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let user = text(&Command::new("id").arg("-un").output().expect("id").stdout);
    let root = ssh.workspace_root();
    assert_eq!(
        text(&out.stdout),
        format!("hello\n{}\n{user}", root.display())
    );

    // Standard input arrives whole; exit codes come back.
    let upload: Vec<u8> = (0..5_000_000u32).map(|i| (i * 31 % 256) as u8).collect();
    let out = ssh.run(
        &["sam-demo", "cat > upload.bin && wc -c < upload.bin"],
        &upload,
    );
    assert_eq!(text(&out.stdout).trim(), "5000000", "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read(root.join("upload.bin")).expect("file"),
        upload
    );
    let out = ssh.run(&["sam-demo", "echo oops >&2; exit 7"], b"");
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(text(&out.stderr), "oops\n");

    // A PTY, and environment variables the client sends.
    let out = ssh.run(
        &[
            "-tt",
            "-o",
            "SetEnv=SAM_TEST_VAR=passed",
            "sam-demo",
            "tty; echo $SAM_TEST_VAR",
        ],
        b"",
    );
    let shown = text(&out.stdout);
    assert!(shown.contains("/dev/pts/"), "{shown}");
    assert!(shown.contains("passed"), "{shown}");

    // "Open in VS Code": the exact link handed to the desktop's opener, with the user's
    // config holding SAM's block; without the block, a refusal that names the way.
    let fifo = ssh.sam.dir.path().join("opened");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo")
            .success()
    );
    let opener = ssh.sam.dir.path().join("opener.sh");
    std::fs::write(
        &opener,
        format!("#!/bin/sh\nprintf '%s\\n' \"$1\" > '{}'\n", path(&fifo)),
    )
    .expect("writes");
    Command::new("chmod")
        .arg("+x")
        .arg(&opener)
        .status()
        .expect("chmod");
    let reading = std::thread::spawn(move || std::fs::read_to_string(fifo).expect("reads"));
    let opened = ssh
        .sam
        .command(&[
            "--json",
            "open",
            "demo",
            "--editor",
            "vscode",
            "--ssh-config",
            path(&ssh.config),
        ])
        .env("SAM_BROWSER", &opener)
        .output()
        .expect("sam open");
    assert!(opened.status.success(), "{}", text(&opened.stderr));
    let link = format!(
        "vscode://vscode-remote/ssh-remote+sam-demo{}",
        root.display()
    );
    let shown: serde_json::Value = serde_json::from_slice(&opened.stdout).expect("JSON");
    assert_eq!(shown["url"], link.as_str());
    assert_eq!(reading.join().expect("read").trim(), link);
    let bare = ssh.sam.dir.path().join("bare_config");
    std::fs::write(&bare, USERS_CONFIG).expect("writes");
    let refused = ssh.sam.run(&[
        "open",
        "demo",
        "--editor",
        "zed",
        "--ssh-config",
        path(&bare),
    ]);
    assert_eq!(refused.status.code(), Some(3));
    assert!(
        text(&refused.stderr).contains("sam ssh-config"),
        "{}",
        text(&refused.stderr)
    );

    // A terminal resized on this side resizes the workspace's PTY: OpenSSH, in a PTY of
    // 90x30 that becomes 100x40, sends a window change; the remote shell, told by SIGWINCH,
    // prints its new size.
    let resized = Command::new("python3")
        .arg("-c")
        .arg(RESIZE_SCRIPT)
        .arg("ssh")
        .args([
            "-F",
            path(&ssh.config),
            "-o",
            "BatchMode=yes",
            "-tt",
            "sam-demo",
        ])
        .arg("trap 'stty size' WINCH; stty size; while :; do sleep 1000 & wait $!; done")
        .env("SAM_DATA_DIR", ssh.sam.data_dir())
        .env("HOME", ssh.sam.dir.path())
        .output()
        .expect("python3 runs");
    assert!(
        resized.status.success(),
        "{}{}",
        text(&resized.stdout),
        text(&resized.stderr)
    );

    // VS Code's pattern: a dynamic forward, no PTY, a script on bash's stdin.
    let socks = free_port().to_string();
    let out = ssh.run(
        &["-T", "-D", &socks, "sam-demo", "bash"],
        b"echo \"ready $((6*7))\"\nexit 0\n",
    );
    assert_eq!(text(&out.stdout), "ready 42\n", "{}", text(&out.stderr));
}

#[test]
fn scp_sftp_and_forwarding_both_ways() {
    let ssh = Ssh::new();
    let root = ssh.workspace_root();

    // scp (SFTP underneath, since OpenSSH 9) and sftp in batch mode, byte-exact.
    let local = ssh.sam.dir.path().join("local.bin");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&local, &data).expect("writes");
    let scp = Command::new("scp")
        .args([
            "-F",
            path(&ssh.config),
            "-o",
            "BatchMode=yes",
            "-q",
            path(&local),
        ])
        .arg("sam-demo:copied.bin")
        .env("SAM_DATA_DIR", ssh.sam.data_dir())
        .env("HOME", ssh.sam.dir.path())
        .output()
        .expect("scp runs");
    assert!(scp.status.success(), "{}", text(&scp.stderr));
    assert_eq!(
        std::fs::read(root.join("copied.bin")).expect("copied"),
        data
    );
    let batch = ssh.sam.dir.path().join("batch");
    let fetched = ssh.sam.dir.path().join("fetched.bin");
    std::fs::write(
        &batch,
        format!(
            "mkdir made\nput {} made/put.bin\nget copied.bin {}\n",
            path(&local),
            path(&fetched)
        ),
    )
    .expect("writes");
    let sftp = Command::new("sftp")
        .args([
            "-F",
            path(&ssh.config),
            "-o",
            "BatchMode=yes",
            "-b",
            path(&batch),
            "sam-demo",
        ])
        .env("SAM_DATA_DIR", ssh.sam.data_dir())
        .env("HOME", ssh.sam.dir.path())
        .output()
        .expect("sftp runs");
    assert!(sftp.status.success(), "{}", text(&sftp.stderr));
    assert_eq!(std::fs::read(root.join("made/put.bin")).expect("put"), data);
    assert_eq!(std::fs::read(&fetched).expect("got"), data);

    // -L: a port here reaches a server as seen from the workspace.
    let server = answering(b"from the workspace side\n");
    let local_port = free_port();
    let forward = format!("{local_port}:127.0.0.1:{server}");
    let master = ssh.forward(&["-L", &forward]);
    let got = read_all(TcpStream::connect(("127.0.0.1", local_port)).expect("connects"));
    assert_eq!(got, b"from the workspace side\n");
    drop(master);

    // -R: a port in the workspace reaches a server here.
    let here = answering(b"from the laptop side\n");
    let remote_port = free_port();
    let forward = format!("{remote_port}:127.0.0.1:{here}");
    let master = ssh.forward(&["-R", &forward]);
    let got = read_all(TcpStream::connect(("127.0.0.1", remote_port)).expect("connects"));
    assert_eq!(got, b"from the laptop side\n");
    drop(master);

    // -D: SOCKS5 to a server as seen from the workspace.
    let socks = free_port();
    let master = ssh.forward(&["-D", &socks.to_string()]);
    let mut proxy = TcpStream::connect(("127.0.0.1", socks)).expect("connects");
    proxy.write_all(&[5, 1, 0]).expect("greets");
    let mut reply = [0u8; 2];
    proxy.read_exact(&mut reply).expect("chosen");
    assert_eq!(reply, [5, 0]);
    let mut connect = vec![5, 1, 0, 1, 127, 0, 0, 1];
    connect.extend_from_slice(&server.to_be_bytes());
    proxy.write_all(&connect).expect("asks");
    let mut answer = [0u8; 10];
    proxy.read_exact(&mut answer).expect("answered");
    assert_eq!(answer[1], 0, "SOCKS connect succeeded: {answer:?}");
    assert_eq!(read_all(proxy), b"from the workspace side\n");
    drop(master);
}

#[test]
fn a_changed_host_key_is_refused_and_the_users_config_comes_back_intact() {
    let ssh = Ssh::new();
    let known_hosts = ssh.sam.data_dir().join("ssh/known_hosts");
    let pinned = std::fs::read_to_string(&known_hosts).expect("SAM's known hosts");
    let line = pinned
        .lines()
        .find(|l| l.starts_with("sam-"))
        .expect("an entry");
    let alias = line.split(' ').next().expect("alias");
    // Another machine's key under the workspace's alias.
    let other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDEEQsOwGsBc6HrWcLR6kLdbuzAyY0brGEo7XEhNGfTL";
    std::fs::write(&known_hosts, format!("{alias} {other}\n")).expect("writes");
    let out = ssh.run(&["sam-demo", "true"], b"");
    assert_eq!(out.status.code(), Some(255));
    let said = text(&out.stderr);
    assert!(
        said.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
            || said.contains("Host key verification failed"),
        "{said}"
    );
    std::fs::write(&known_hosts, pinned).expect("restores");

    // Agent forwarding: the workspace's ssh-add reaches this computer's agent.
    let agent_dir = ssh.sam.dir.path().join("agent");
    std::fs::create_dir(&agent_dir).expect("folder");
    let socket = agent_dir.join("agent.sock");
    let mut local_agent = Command::new("ssh-agent")
        .args(["-D", "-a", path(&socket)])
        .stdout(Stdio::piped())
        .spawn()
        .expect("ssh-agent runs");
    // ssh-agent -D prints where it listens once it does.
    let mut said = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(local_agent.stdout.as_mut().expect("stdout")),
        &mut said,
    )
    .expect("ssh-agent answers");
    let listed = ssh
        .ssh(&["-A", "sam-demo", "ssh-add -l; echo \"status $?\""])
        .env("SSH_AUTH_SOCK", &socket)
        .stdin(Stdio::null())
        .output()
        .expect("ssh runs");
    let _ = local_agent.kill();
    let _ = local_agent.wait();
    let shown = text(&listed.stdout);
    // 1: the agent answered and holds no key; 2 would be "cannot reach an agent".
    assert!(
        shown.contains("status 1"),
        "{shown}{}",
        text(&listed.stderr)
    );

    // A stopped workspace: refused with SAM_SSH_NO_START, woken by a plain ssh.
    let stopped = ssh.sam.run(&["workspace", "stop", "demo", "--wait"]);
    assert!(stopped.status.success(), "{}", text(&stopped.stderr));
    let refused = ssh
        .ssh(&["sam-demo", "true"])
        .env("SAM_SSH_NO_START", "1")
        .stdin(Stdio::null())
        .output()
        .expect("ssh runs");
    assert_ne!(refused.status.code(), Some(0));
    assert!(
        text(&refused.stderr).contains("is stopped"),
        "{}",
        text(&refused.stderr)
    );
    let woken = ssh.run(&["sam-demo", "echo woke"], b"");
    assert_eq!(text(&woken.stdout), "woke\n", "{}", text(&woken.stderr));
    assert!(
        text(&woken.stderr).contains("SAM: starting workspace demo"),
        "{}",
        text(&woken.stderr)
    );

    // Removing the block gives the user's file back exactly.
    let removed = ssh.sam.run(&[
        "ssh-config",
        "--remove",
        "--yes",
        "--ssh-config",
        path(&ssh.config),
    ]);
    assert!(removed.status.success(), "{}", text(&removed.stderr));
    assert_eq!(
        std::fs::read_to_string(&ssh.config).expect("reads"),
        USERS_CONFIG
    );

    // A damaged block is refused, and the file stays as it was.
    let damaged = format!("# >>> SAM workspaces (added by `sam ssh-config`) >>>\n{USERS_CONFIG}");
    std::fs::write(&ssh.config, &damaged).expect("writes");
    let refused = ssh
        .sam
        .run(&["ssh-config", "--yes", "--ssh-config", path(&ssh.config)]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    assert_eq!(
        std::fs::read_to_string(&ssh.config).expect("reads"),
        damaged
    );
}
