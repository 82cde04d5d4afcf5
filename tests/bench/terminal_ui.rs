//! Terminals in the real app: keystroke to painted echo, and the canvas paint time of a full
//! redraw, measured inside the webview. Needs a display, like the end-to-end tests.
//!
//! Run: see `docs/benchmarks.md` (a release build, then the bench under Xvfb with a 2560×1600
//! screen, so the window fits a 200×50 terminal).

#![allow(clippy::print_stdout)]

#[allow(dead_code)]
#[path = "../e2e/dunst.rs"]
mod dunst;
#[allow(dead_code)]
#[path = "../e2e/harness.rs"]
mod harness;
mod measure;
#[allow(dead_code)]
#[path = "../e2e/x11.rs"]
mod x11;

use measure::{numbers, percentile};
use serde_json::json;

const KEYSTROKES: usize = 200;

/// Types `x` and Backspace alternately (so the line never wraps) with synthetic key events on
/// the terminal's input, each timed from the keydown to the paint that moved the cursor.
const TYPING: &str = r#"
const [count] = arguments;
const done = arguments[arguments.length - 1];
const box = document.querySelector("[data-testid='terminal']");
const input = document.querySelector("[data-testid='terminal-input']");
const samples = [];
let col = -1;
let expected = null;
let started = 0;
let sent = 0;
let primed = false;
function key(forward) {
  input.dispatchEvent(new KeyboardEvent("keydown", {
    key: forward ? "x" : "Backspace", code: forward ? "KeyX" : "Backspace",
    bubbles: true, cancelable: true,
  }));
}
box.addEventListener("terminal-painted", (event) => {
  col = event.detail.cursorCol;
  if (!primed) {
    // The untimed first "x" has been painted: the cursor's column is known.
    primed = true;
    setTimeout(next, 15);
  } else if (expected !== null && col === expected) {
    samples.push([performance.now() - started, event.detail.frameArrived - started]);
    expected = null;
    setTimeout(next, 15);
  }
});
function next() {
  if (sent >= count) return done(samples);
  // Backspace first (after the untimed "x"), then "x", and so on.
  const forward = sent % 2 === 1;
  expected = forward ? col + 1 : col - 1;
  sent += 1;
  started = performance.now();
  key(forward);
}
key(true);
// WebDriver gives a script 30 s; report what was measured by then.
setTimeout(() => done(samples), 25000);
"#;

/// Starts collecting paint times (read back later from `window.samPaints`).
const PAINTS: &str = r#"
const box = document.querySelector("[data-testid='terminal']");
window.samPaints = { full: [], partial: [], size: null };
box.addEventListener("terminal-painted", (event) => {
  window.samPaints.size = [event.detail.cols, event.detail.rows];
  const whole = event.detail.drawnRows === event.detail.rows;
  (whole ? window.samPaints.full : window.samPaints.partial).push(event.detail.ms);
});
"#;

/// The terminal's grid as last painted, `(cols, rows)`.
async fn grid(app: &harness::App) -> (i64, i64) {
    let value = app
        .script(
            "return document.querySelector(\"[data-testid='terminal']\").dataset.grid;",
            vec![],
        )
        .await;
    let text = value.as_str().unwrap_or_default();
    let (cols, rows) = text.split_once('x').unwrap_or(("0", "0"));
    (cols.parse().unwrap_or(0), rows.parse().unwrap_or(0))
}

/// Sizes the window so the terminal is exactly `cols`×`rows` cells (the panel grows one for one
/// with the window), waiting for each resize to be painted.
async fn fit_terminal(app: &harness::App, cols: i64, rows: i64) {
    for _ in 0..6 {
        let (now_cols, now_rows) = grid(app).await;
        if (now_cols, now_rows) == (cols, rows) {
            return;
        }
        let metrics = app
            .script(
                "const c = document.querySelector(\"[data-testid='terminal-canvas']\").getBoundingClientRect(); \
                 return [window.outerWidth, window.outerHeight, c.width, c.height];",
                vec![],
            )
            .await;
        let m = numbers(&metrics);
        let (cell_w, cell_h) = (m[2] / now_cols as f64, m[3] / now_rows as f64);
        let width = m[0] + (cols - now_cols) as f64 * cell_w + cell_w / 2.0;
        let height = m[1] + (rows - now_rows) as f64 * cell_h + cell_h / 2.0;
        app.set_window_size(width.round() as u32, height.round() as u32)
            .await;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while grid(app).await == (now_cols, now_rows) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    let now = grid(app).await;
    assert_eq!(
        now,
        (cols, rows),
        "the window could not be fitted (is the display large enough?)"
    );
}

fn main() {
    let prepare = |paths: &sam_core::paths::AppPaths| {
        sam_test_support::source_repo(paths.data_dir.parent().expect("home"))
    };
    harness::run_with("bench-terminal-ui", prepare, async |app, repo| {
        app.set_window_size(1920, 1150).await;
        app.create_local_workspace(&repo).await;
        app.wait_css(
            "[data-testid='terminal'][data-status='live']",
            std::time::Duration::from_secs(30),
        )
        .await;
        fit_terminal(app, 200, 50).await;
        let pairs = app.script_async(TYPING, vec![json!(KEYSTROKES)]).await;
        let column = |i: usize| -> Vec<f64> {
            pairs
                .as_array()
                .map(|rows| rows.iter().filter_map(|pair| pair[i].as_f64()).collect())
                .unwrap_or_default()
        };
        let mut typing = column(0);
        let mut arrival = column(1);

        // Full redraws: every line of a screenful of coloured text changes at once, and a
        // clear screen (a full frame) after each of several screens.
        app.script(PAINTS, vec![]).await;
        // Clear what the typing left on the line (Ctrl-U) before the next command.
        app.keys("terminal-input", "\u{15}").await;
        app.keys(
            "terminal-input",
            &format!(
                "for s in 1 2 3 4 5 6 7 8 9 10; do clear; for i in $(seq 1 60); do printf '\\033[3%dm%0200d\\033[0m\\n' $((i % 7 + 1)) $i; done; sleep 0.2; done; clear; echo paints-$((6 * 7)){}",
                char::from(fantoccini::key::Key::Enter)
            ),
        )
        .await;
        // Until the output is over (about three seconds): its last line is on screen.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let done = app
                .script(
                    "return [...document.querySelector(\"[data-testid='terminal-mirror']\").children] \
                       .some((row) => row.textContent === 'paints-42');",
                    vec![],
                )
                .await;
            if done == json!(true) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the output never finished"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let paints = app.script("return window.samPaints;", vec![]).await;
        let mut full = numbers(&paints["full"]);
        let mut partial = numbers(&paints["partial"]);
        let size = paints["size"].clone();

        println!("{:<58} {:>12}", "measure", "value");
        println!("{:<58} {:>12}", "keystrokes timed", typing.len());
        for (label, p) in [("p50", 0.5), ("p99", 0.99), ("max", 1.0)] {
            println!(
                "{:<58} {:>9.2} ms",
                format!("keystroke to painted echo, {label}"),
                percentile(&mut typing, p)
            );
        }
        for (label, p) in [("p50", 0.5), ("p99", 0.99)] {
            println!(
                "{:<58} {:>9.2} ms",
                format!("  of which keystroke to frame arrival, {label}"),
                percentile(&mut arrival, p)
            );
        }
        println!(
            "{:<58} {:>12}",
            "terminal size (cols x rows)",
            size.to_string()
        );
        println!("{:<58} {:>12}", "whole-screen redraws timed", full.len());
        for (label, p) in [("p50", 0.5), ("p99", 0.99)] {
            println!(
                "{:<58} {:>9.2} ms",
                format!("whole-screen redraw paint time, {label}"),
                percentile(&mut full, p)
            );
        }
        println!(
            "{:<58} {:>9.2} ms",
            "partial redraw paint time, p50",
            percentile(&mut partial, 0.5)
        );
    });
}
