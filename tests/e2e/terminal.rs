//! Terminals in the real window on a Local workspace: typing, painting, tabs, Ctrl-C, a
//! full-screen program.

use std::time::Duration;

use fantoccini::key::Key;
use serde_json::{Value, json};

use crate::harness::{self, App};
use crate::{only_workspace_folder, source_repo};

pub(crate) const SLOW: Duration = Duration::from_secs(30);

pub(crate) fn enter() -> String {
    char::from(Key::Enter).to_string()
}

/// The terminal's rows as the accessible text mirror holds them.
pub(crate) async fn mirror(app: &App) -> Vec<String> {
    let rows = app
        .script(
            "const m = document.querySelector(\"[data-testid='terminal-mirror']\"); \
             return m ? [...m.children].map((row) => row.textContent) : [];",
            vec![],
        )
        .await;
    serde_json::from_value(rows).unwrap_or_default()
}

/// Waits (bounded, polling the DOM: WebDriver has no change events) until a mirror row
/// satisfies `done`; returns that row's index.
pub(crate) async fn wait_row(app: &App, done: impl Fn(&str) -> bool) -> usize {
    let deadline = tokio::time::Instant::now() + SLOW;
    loop {
        let rows = mirror(app).await;
        if let Some(index) = rows.iter().position(|row| done(row)) {
            return index;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never appeared; the terminal shows:\n{}",
            rows.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (bounded) until the shell shows an empty prompt on a row below the one holding
/// `command`: the shell is reading again after it.
pub(crate) async fn prompt_after(app: &App, command: &str) {
    let deadline = tokio::time::Instant::now() + SLOW;
    loop {
        let rows = mirror(app).await;
        let ready = rows
            .iter()
            .rposition(|row| row.contains(command))
            .is_some_and(|at| {
                rows[at + 1..]
                    .iter()
                    .any(|row| matches!(row.trim_end(), "#" | "$"))
            });
        if ready {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no prompt after {command:?}; the terminal shows:\n{}",
            rows.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How many pixels of screen row `row` on the canvas differ from the terminal's background
/// (its top-left pixel, which no prompt reaches in an empty first column… of the last row).
async fn painted_pixels(app: &App, row: usize) -> u64 {
    let count = app
        .script(
            "const [row] = arguments; \
             const canvas = document.querySelector(\"[data-testid='terminal-canvas']\"); \
             const rows = document.querySelector(\"[data-testid='terminal-mirror']\").children.length; \
             const ctx = canvas.getContext('2d'); \
             const h = Math.floor(canvas.height / rows); \
             const bg = ctx.getImageData(canvas.width - 1, canvas.height - 1, 1, 1).data; \
             const px = ctx.getImageData(0, row * h, canvas.width, h).data; \
             let n = 0; \
             for (let i = 0; i < px.length; i += 4) { \
               if (Math.abs(px[i] - bg[0]) + Math.abs(px[i + 1] - bg[1]) + Math.abs(px[i + 2] - bg[2]) > 48) n++; \
             } \
             return n;",
            vec![json!(row)],
        )
        .await;
    count.as_u64().unwrap_or(0)
}

/// Waits until the terminal is live and its shell shows an empty prompt: keys typed before the
/// shell reads them are echoed early by the terminal, and its answer then lands elsewhere.
pub(crate) async fn shell_ready(app: &App) {
    app.wait_css("[data-testid='terminal'][data-status='live']", SLOW)
        .await;
    wait_row(app, |row| matches!(row.trim_end(), "#" | "$")).await;
}

pub(crate) async fn type_line(app: &App, line: &str) {
    app.keys("terminal-input", &format!("{line}{}", enter()))
        .await;
}

#[test]
fn a_terminal_echoes_paints_interrupts_runs_vi_and_keeps_its_tabs() {
    let prepare = |paths: &sam_core::paths::AppPaths| (source_repo(paths), paths.data_dir.clone());
    harness::run_with("terminal", prepare, async |app, (repo, data_dir)| {
        app.create_local_workspace(&repo).await;
        shell_ready(app).await;

        // Typing reaches the shell, its answer reaches the screen, and the canvas shows it.
        type_line(app, "echo hello-$((6 * 7))").await;
        let row = wait_row(app, |row| row == "hello-42").await;
        assert!(
            painted_pixels(app, row).await > 40,
            "the row with hello-42 is painted"
        );

        // Ctrl-C interrupts a running program.
        type_line(app, "sleep 30; echo slept").await;
        let ctrl_c = format!("{}c{}", char::from(Key::Control), char::from(Key::Null));
        app.keys("terminal-input", &ctrl_c).await;
        // The next line waits for the shell's new prompt: typed while the shell is still
        // handling the interrupt, it would be echoed early and its answer land on the prompt's
        // row, as in any terminal.
        prompt_after(app, "sleep 30; echo slept").await;
        type_line(app, "echo after-$((1 + 1))").await;
        wait_row(app, |row| row == "after-2").await;
        assert!(!mirror(app).await.iter().any(|row| row == "slept"));

        // A full-screen program draws, edits and exits cleanly.
        type_line(app, "vi -u NONE -N -i NONE note.txt; echo vi-exit=$?").await;
        // vi's own status line, not the command line that started it.
        wait_row(app, |row| row.starts_with("\"note.txt\"")).await;
        let escape = char::from(Key::Escape).to_string();
        app.keys("terminal-input", &format!("iwritten in vi{escape}"))
            .await;
        wait_row(app, |row| row == "written in vi").await;
        type_line(app, ":wq").await;
        // Keys typed before vi has exited would be vi's (and lost with it), as in any terminal.
        wait_row(app, |row| row == "vi-exit=0").await;
        type_line(app, "echo back-$((2 + 2))").await;
        wait_row(app, |row| row == "back-4").await;
        assert_eq!(
            std::fs::read_to_string(only_workspace_folder(&data_dir).join("repo/note.txt"))
                .expect("saved"),
            "written in vi\n"
        );

        // A second tab is a second shell; the first keeps its screen.
        let tabs = || tab_ids(app);
        assert_eq!(tabs().await.len(), 1);
        app.click("tab-new").await;
        let deadline = tokio::time::Instant::now() + SLOW;
        while tabs().await.len() < 2 {
            assert!(tokio::time::Instant::now() < deadline, "no second tab");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        shell_ready(app).await;
        type_line(app, "echo second-$((3 * 3))").await;
        wait_row(app, |row| row == "second-9").await;
        let names = tabs().await;
        assert_eq!(names.len(), 2, "{names:?}");
        app.click(&names[0]).await;
        wait_row(app, |row| row == "back-4").await;

        // Several pasted lines ask first, then run as typed.
        app.script(
            "const data = new DataTransfer(); \
             data.setData('text/plain', 'echo pasted-$((5 + 5))\\necho pasted-$((10 + 10))'); \
             document.querySelector(\"[data-testid='terminal-input']\") \
               .dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));",
            vec![],
        )
        .await;
        app.click("paste-confirm-yes").await;
        app.keys("terminal-input", &enter()).await;
        // The second line is typed ahead while the first runs: the terminal echoes it at once,
        // so where the outputs land (after the echo, or after the next prompt) depends on timing.
        // (The commands themselves end in "))", never in their output.)
        wait_row(app, |row| row.ends_with("pasted-10")).await;
        wait_row(app, |row| row.ends_with("pasted-20")).await;
    });
}

/// Kills the app's TCP connections to the workspace's agent (as a network blip would);
/// returns how many there were.
fn cut_connections(data_dir: &std::path::Path) -> usize {
    let store = sam_core::store::Store::open(&data_dir.join("sam.sqlite3")).expect("store");
    let workspace = store.workspaces().expect("workspaces").remove(0);
    let (addr, _) = store.agent(&workspace.id).expect("agent");
    let port = addr
        .and_then(|addr| addr.rsplit(':').next().map(str::to_owned))
        .expect("the agent's port");
    let output = std::process::Command::new("ss")
        .args(["-K", "dst", "127.0.0.1", "dport", "=", &format!(":{port}")])
        .output()
        .expect("ss runs");
    assert!(output.status.success(), "ss -K failed: {output:?}");
    // ss lists each socket it closed under a header line.
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| line.contains(&format!(":{port}")))
        .count()
}

#[test]
fn a_dropped_connection_loses_and_repeats_nothing_on_screen() {
    let prepare = |paths: &sam_core::paths::AppPaths| (source_repo(paths), paths.data_dir.clone());
    harness::run_with(
        "terminal-reconnect",
        prepare,
        async |app, (repo, data_dir)| {
            app.create_local_workspace(&repo).await;
            shell_ready(app).await;
            type_line(
                app,
                "for i in $(seq 1 300); do echo \"row $i\"; sleep 0.02; done; echo streamed",
            )
            .await;
            // Any streamed row: they scroll by faster than the DOM can be polled.
            wait_row(app, |row| row.starts_with("row ")).await;
            let mut cut = 0;
            for _ in 0..3 {
                cut += cut_connections(&data_dir);
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            assert!(
                cut >= 2,
                "the connection was cut and made again ({cut} cuts)"
            );
            let done = wait_row(app, |row| row == "streamed").await;
            // Above "streamed": consecutive rows ending at 300 — nothing lost, nothing twice.
            assert_counts_up_to(&mirror(app).await[..done], "row ", 300);
            // The link came back, and typing still works.
            shell_ready(app).await;
            type_line(app, "echo after-cut-$((3 + 4))").await;
            wait_row(app, |row| row == "after-cut-7").await;
        },
    );
}

/// Asserts that the numbered rows (`prefix` then a number) among `rows` are at least ten
/// consecutive numbers ending at `last`: nothing lost, nothing twice, the right end.
fn assert_counts_up_to(rows: &[String], prefix: &str, last: u32) {
    let numbers: Vec<u32> = rows
        .iter()
        .filter_map(|row| row.strip_prefix(prefix).and_then(|n| n.parse().ok()))
        .collect();
    assert!(numbers.len() >= 10, "{rows:?}");
    assert_eq!(numbers.last(), Some(&last), "{rows:?}");
    let expected: Vec<u32> = (last + 1 - numbers.len() as u32..=last).collect();
    assert_eq!(numbers, expected, "{rows:?}");
}

#[test]
fn a_flood_larger_than_the_agents_ring_ends_on_the_right_screen_and_takes_input() {
    let prepare = |paths: &sam_core::paths::AppPaths| source_repo(paths);
    harness::run_with("terminal-flood", prepare, async |app, repo| {
        app.create_local_workspace(&repo).await;
        shell_ready(app).await;
        // 2 000 000 numbered rows, 15.9 MB: almost four times the agent's 4 MiB ring, so any
        // stretch where the window falls behind the program is skipped as a gap.
        type_line(app, "seq 1 2000000 | sed 's/^/n /'; echo flood-$((40 + 2))").await;
        let done = wait_row(app, |row| row == "flood-42").await;
        assert_counts_up_to(&mirror(app).await[..done], "n ", 2_000_000);
        // Still live, and keys reach the shell.
        shell_ready(app).await;
        type_line(app, "echo after-flood-$((6 * 7))").await;
        wait_row(app, |row| row == "after-flood-42").await;
    });
}

#[test]
fn closing_and_reopening_the_app_brings_the_terminal_back_with_its_screen() {
    let prepare = |paths: &sam_core::paths::AppPaths| source_repo(paths);
    harness::run_with("terminal-restart", prepare, async |app, repo| {
        app.create_local_workspace(&repo).await;
        shell_ready(app).await;
        type_line(app, "cd /tmp && echo before-restart-$((2 * 4))").await;
        wait_row(app, |row| row == "before-restart-8").await;
        let before = tab_ids(app).await;
        assert_eq!(before.len(), 1, "one terminal before quitting: {before:?}");

        app.restart().await;
        app.open_first_workspace().await;
        shell_ready(app).await;
        assert_eq!(tab_ids(app).await, before, "the same tab, no new one");
        // The same shell: its screen is back, and it is still where it was.
        wait_row(app, |row| row == "before-restart-8").await;
        type_line(app, "pwd").await;
        wait_row(app, |row| row == "/tmp").await;
    });
}

/// The terminal tabs' test ids, in order.
async fn tab_ids(app: &App) -> Vec<String> {
    let tabs: Value = app
        .script(
            "return [...document.querySelectorAll(\"[role='tab']\")].map((t) => t.dataset.testid);",
            vec![],
        )
        .await;
    serde_json::from_value(tabs).unwrap_or_default()
}

/// Waits for the next paint whose size differs from `cols`; returns the new size.
const RESIZED: &str = r#"
const [cols] = arguments;
const done = arguments[arguments.length - 1];
const box = document.querySelector("[data-testid='terminal']");
box.addEventListener("terminal-painted", (event) => {
  if (event.detail.cols !== cols) done([event.detail.cols, event.detail.rows]);
});
"#;

#[test]
fn the_terminal_follows_the_window_size() {
    let prepare = |paths: &sam_core::paths::AppPaths| source_repo(paths);
    harness::run_with("terminal-resize", prepare, async |app, repo| {
        app.set_window_size(1280, 800).await;
        app.create_local_workspace(&repo).await;
        shell_ready(app).await;
        type_line(app, "stty size").await;
        let row = wait_row(app, |row| {
            row.split(' ').count() == 2 && row.chars().all(|c| c.is_ascii_digit() || c == ' ')
        })
        .await;
        let before: Vec<u32> = mirror(app).await[row]
            .split(' ')
            .map(|n| n.parse().expect("a number"))
            .collect();
        app.set_window_size(900, 700).await;
        let after: Vec<u32> =
            serde_json::from_value(app.script_async(RESIZED, vec![json!(before[1])]).await)
                .expect("a size");
        assert!(after[0] < before[1], "narrower: {before:?} -> {after:?}");
        // The program sees the new size too.
        type_line(app, "stty size").await;
        let expected = format!("{} {}", after[1], after[0]);
        wait_row(app, |row| row == expected).await;
    });
}

#[test]
fn search_finds_text_in_the_scrollback_and_scrolls_to_it() {
    let prepare = |paths: &sam_core::paths::AppPaths| source_repo(paths);
    harness::run_with("terminal-search", prepare, async |app, repo| {
        app.create_local_workspace(&repo).await;
        shell_ready(app).await;
        type_line(app, "seq 1 150 | sed 's/^/item-/'").await;
        wait_row(app, |row| row == "item-150").await;
        assert!(!mirror(app).await.iter().any(|row| row == "item-7"));
        let search = format!(
            "{}{}f{}",
            char::from(Key::Control),
            char::from(Key::Shift),
            char::from(Key::Null)
        );
        app.keys("terminal-input", &search).await;
        // Rows are padded with blanks: "item-7 " is item-7 and not item-70.
        app.keys("terminal-search", &format!("item-7 {}", enter()))
            .await;
        // The match is in the scrollback: the view scrolls back to it.
        wait_row(app, |row| row == "item-7").await;
        app.keys("terminal-search", &char::from(Key::Escape).to_string())
            .await;
        // Escape closes the search and follows the output again.
        wait_row(app, |row| row == "item-150").await;
        assert!(!mirror(app).await.iter().any(|row| row == "item-7"));
    });
}
