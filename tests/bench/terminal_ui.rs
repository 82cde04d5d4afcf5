//! Terminals in the real app: keystroke to painted echo, and the canvas paint time of a full
//! redraw, measured inside the webview. Needs a display, like the end-to-end tests.
//!
//! Run: `cargo build --release --bins && scripts/lib/with-display.sh cargo bench --bench terminal_ui`

#![allow(clippy::print_stdout)]

#[allow(dead_code)]
#[path = "../e2e/harness.rs"]
mod harness;

use serde_json::{Value, json};

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

fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    values
        .get(((values.len() as f64 - 1.0) * p).round() as usize)
        .copied()
        .unwrap_or(f64::NAN)
}

fn numbers(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .map(|items| items.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

fn main() {
    let prepare = |paths: &sam_desktop::core::paths::AppPaths| {
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
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        app.keys("terminal-input", "\u{15}").await;
        app.keys(
            "terminal-input",
            &format!(
                "for s in 1 2 3 4 5 6 7 8 9 10; do clear; for i in $(seq 1 60); do printf '\\033[3%dm%0200d\\033[0m\\n' $((i % 7 + 1)) $i; done; sleep 0.2; done{}",
                char::from(fantoccini::key::Key::Enter)
            ),
        )
        .await;
        // Collect for a while: the output takes about three seconds.
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
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
