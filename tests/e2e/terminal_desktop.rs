//! A terminal and the desktop around it, in the real window: the OS clipboard (copy on select,
//! paste, a program's OSC 52 request behind consent), links opened in the browser, mouse
//! reporting to programs, zoom, and the agent restarting under an open terminal.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::Duration;

use fantoccini::key::Key;
use serde_json::{Value, json};

use crate::harness::{self, App};
use crate::terminal::{SLOW, enter, mirror, shell_ready, type_line, wait_row};
use crate::{only_workspace_folder, source_repo};

/// Dispatches a mouse event on the terminal canvas at the middle of cell (`row`, `col`).
async fn mouse(app: &App, kind: &str, row: usize, col: usize, options: Value) {
    app.script(
        "const [kind, row, col, o] = arguments; \
         const canvas = document.querySelector(\"[data-testid='terminal-canvas']\"); \
         const [cols, rows] = document.querySelector(\"[data-testid='terminal']\") \
           .dataset.grid.split('x').map(Number); \
         const r = canvas.getBoundingClientRect(); \
         canvas.dispatchEvent(new MouseEvent(kind, { bubbles: true, cancelable: true, \
           clientX: r.left + (col + 0.5) * r.width / cols, \
           clientY: r.top + (row + 0.5) * r.height / rows, \
           button: 0, buttons: o.buttons ?? 0, ctrlKey: !!o.ctrl, detail: 1 }));",
        vec![json!(kind), json!(row), json!(col), options],
    )
    .await;
}

/// The X clipboard's text, read as another program would (`xclip`).
fn clipboard() -> String {
    let output = std::process::Command::new("xclip")
        .args(["-o", "-selection", "clipboard"])
        .output()
        .expect("xclip runs (apt install xclip)");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Waits (bounded) until `read` returns `expected`; the app copies asynchronously.
async fn wait_for(what: &str, expected: &str, read: impl Fn() -> String) {
    let deadline = tokio::time::Instant::now() + SLOW;
    loop {
        let now = read();
        if now == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} is {now:?}, not {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ctrl(key: char) -> String {
    format!("{}{key}{}", char::from(Key::Control), char::from(Key::Null))
}

fn ctrl_shift(key: char) -> String {
    format!(
        "{}{}{key}{}",
        char::from(Key::Control),
        char::from(Key::Shift),
        char::from(Key::Null)
    )
}

/// A program that turns on SGR mouse reporting, prints what one click sends, and turns it off.
const MOUSE_PROGRAM: &str = r#"import os, termios, tty
saved = termios.tcgetattr(0)
tty.setraw(0)
os.write(1, b"\x1b[?1000h\x1b[?1006hmouse-ready\r\n")
data = b""
while not data.endswith(b"m"):
    data += os.read(0, 64)
os.write(1, b"\x1b[?1006l\x1b[?1000l")
termios.tcsetattr(0, termios.TCSADRAIN, saved)
print("got " + data.decode().replace("\x1b", "ESC"))
"#;

fn grid(app_grid: &str) -> (u32, u32) {
    let (cols, rows) = app_grid.split_once('x').expect("COLSxROWS");
    (cols.parse().expect("cols"), rows.parse().expect("rows"))
}

async fn terminal_grid(app: &App) -> (u32, u32) {
    let value = app
        .script(
            "return document.querySelector(\"[data-testid='terminal']\").dataset.grid;",
            vec![],
        )
        .await;
    grid(value.as_str().unwrap_or_default())
}

#[test]
fn the_terminal_uses_the_clipboard_the_browser_and_the_mouse() {
    let prepare = |paths: &sam_core::paths::AppPaths| (source_repo(paths), paths.data_dir.clone());
    harness::run_with(
        "terminal-desktop",
        prepare,
        async |app, (repo, data_dir)| {
            app.create_local_workspace(&repo).await;
            shell_ready(app).await;

            // Selecting copies to the OS clipboard; Ctrl+Shift+V pastes it back.
            type_line(app, "echo select-$((40 + 2))-me").await;
            let row = wait_row(app, |row| row == "select-42-me").await;
            mouse(app, "mousedown", row, 0, json!({})).await;
            mouse(app, "mousemove", row, 6, json!({ "buttons": 1 })).await;
            mouse(app, "mouseup", row, 8, json!({})).await;
            wait_for("the clipboard", "select-42", clipboard).await;
            app.keys("terminal-input", "echo pasted:").await;
            app.keys("terminal-input", &ctrl_shift('v')).await;
            app.keys("terminal-input", &enter()).await;
            wait_row(app, |row| row == "pasted:select-42").await;

            // A program's clipboard write waits for consent; denied, nothing changes.
            type_line(
                app,
                "printf '\\033]52;c;%s\\a' $(printf osc-denied | base64)",
            )
            .await;
            app.click("clipboard-deny").await;
            type_line(
                app,
                "printf '\\033]52;c;%s\\a' $(printf osc-$((6 * 6)) | base64)",
            )
            .await;
            app.click("clipboard-allow").await;
            wait_for("the clipboard", "osc-36", clipboard).await;

            // Ctrl+click opens a link, and only through the browser.
            type_line(
                app,
                "printf '\\033]8;;https://example.com/sam?q=1\\033\\\\the-link\\033]8;;\\033\\\\\\n'",
            )
            .await;
            let row = wait_row(app, |row| row == "the-link").await;
            mouse(app, "mousemove", row, 2, json!({})).await;
            mouse(app, "mousedown", row, 2, json!({ "ctrl": true })).await;
            mouse(app, "mouseup", row, 2, json!({ "ctrl": true })).await;
            wait_for("the opened links", "https://example.com/sam?q=1", || {
                app.opened_links().join("\n")
            })
            .await;

            // A program that asked for the mouse gets clicks as SGR reports.
            let folder = only_workspace_folder(&data_dir).join("repo");
            std::fs::write(folder.join("mouse.py"), MOUSE_PROGRAM).expect("mouse program");
            // Debian's own interpreter: a version manager's shim on PATH may stall on its lock.
            type_line(app, "/usr/bin/python3 mouse.py").await;
            let row = wait_row(app, |row| row == "mouse-ready").await;
            mouse(app, "mousedown", row, 4, json!({})).await;
            mouse(app, "mouseup", row, 4, json!({})).await;
            let report = format!("got ESC[<0;5;{0}MESC[<0;5;{0}m", row + 1);
            wait_row(app, |line| line == report).await;

            // Zoom: bigger cells, fewer of them, and the shell is told. One step at a time:
            // two quick steps can reach the terminal as two resizes, and a grid read between
            // them is not the one the shell ends up with.
            let mut after = terminal_grid(app).await;
            for font_size in [15, 16] {
                let before = after;
                app.keys("terminal-input", &ctrl('=')).await;
                app.wait_css(
                    &format!("[data-testid='terminal'][data-font-size='{font_size}']"),
                    SLOW,
                )
                .await;
                let deadline = tokio::time::Instant::now() + SLOW;
                after = loop {
                    let now = terminal_grid(app).await;
                    if now.0 < before.0 {
                        break now;
                    }
                    assert!(tokio::time::Instant::now() < deadline, "zoom kept {now:?}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                };
            }
            type_line(app, "stty size").await;
            let expected = format!("{} {}", after.1, after.0);
            wait_row(app, |row| row == expected).await;
        },
    );
}

/// Kills the workspace's agent and starts it again on the same address with the same identity
/// (what a crash and a systemd restart do on a VM): a new epoch, with no terminals.
fn restart_agent(workspace: &Path) {
    let record_path = workspace.join("agent/agent.json");
    let restart_log = workspace.join("agent/restarted.log");
    let record: Value =
        serde_json::from_str(&std::fs::read_to_string(&record_path).expect("agent record"))
            .expect("agent record JSON");
    let pid = record["pid"].as_i64().expect("pid");
    let addr = record["addr"].as_str().expect("addr").to_owned();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("the agent runs");
    // The same environment too (the app gives its agents a clean one).
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("the agent's environment");
    let env: Vec<(String, String)> = environ
        .split(|&b| b == 0)
        .filter_map(|entry| {
            let text = String::from_utf8_lossy(entry);
            let (name, value) = text.split_once('=')?;
            Some((name.to_owned(), value.to_owned()))
        })
        .collect();
    let mut args: Vec<String> = cmdline
        .split(|&b| b == 0)
        .filter(|arg| !arg.is_empty())
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect();
    let program = args.remove(0);
    let args: Vec<String> = args
        .into_iter()
        .filter(|arg| arg != "--enrollment-secret-stdin")
        .map(|arg| {
            if arg.starts_with("--listen=") {
                format!("--listen={addr}")
            } else {
                arg
            }
        })
        .collect();
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill");
    while std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !stat.contains(") Z "))
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let child = std::process::Command::new(program)
        .process_group(0)
        .env_clear()
        .envs(env)
        .args(args)
        .current_dir(workspace.join("repo"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&restart_log).expect("restart log"))
        .spawn()
        .expect("the agent starts again");
    let record = json!({ "pid": child.id(), "addr": addr });
    std::fs::write(&record_path, record.to_string()).expect("agent record");
    // It listens again before the test looks at the window; if it cannot, its log says why.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the restarted agent does not listen on {addr}: {}",
            std::fs::read_to_string(&restart_log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Reaped when it ends (the test's reaper kills it); never left a zombie.
    std::thread::spawn(move || {
        let mut child = child;
        let _ = child.wait();
    });
}

#[test]
fn an_agent_restart_closes_the_terminal_and_a_new_one_opens() {
    let prepare = |paths: &sam_core::paths::AppPaths| (source_repo(paths), paths.data_dir.clone());
    harness::run_with(
        "terminal-agent-restart",
        prepare,
        async |app, (repo, data_dir)| {
            app.create_local_workspace(&repo).await;
            shell_ready(app).await;
            type_line(app, "echo before-$((1 + 1))").await;
            wait_row(app, |row| row == "before-2").await;

            restart_agent(&only_workspace_folder(&data_dir));
            // The shell died with the agent: the terminal says so, and offers a new one.
            app.wait_css("[data-testid='terminal'][data-status='closed']", SLOW)
                .await;
            app.click("terminal-restart").await;
            shell_ready(app).await;
            type_line(app, "echo after-$((2 + 2))").await;
            wait_row(app, |row| row == "after-4").await;
            assert!(
                !mirror(app).await.iter().any(|row| row == "before-2"),
                "a new, clean screen"
            );
        },
    );
}
