//! Coding agents in the real app: how long a coding agent's chunk takes to be painted in the
//! session view, how smoothly a 10 000-update session renders and scrolls, and the webview's
//! memory with it. Needs a display, like the end-to-end tests.
//!
//! Run: see `docs/benchmarks.md` (a release build, then the bench under Xvfb).

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

use fantoccini::key::Key;
use measure::{numbers, percentile};

/// Chunks timed from the coding agent's write to the frame that paints them.
const STAMPS: usize = 300;
/// Milliseconds between them.
const STAMP_GAP_MS: u64 = 20;
/// The size of the long session.
const UPDATES: usize = 10_000;

/// Watches the transcript: for each `stamp I T` chunk that appears, the time from `T` (the
/// coding agent's clock, Unix ms) to the next animation frame after the DOM shows it.
const STAMP_WATCH: &str = r#"
const box = document.querySelector("[data-testid='transcript']");
window.samStamps = [];
let seen = 0;
const observer = new MutationObserver(() => {
  // The agent's reply only (the prompt says "stamp" too).
  const replies = box.querySelectorAll("[data-testid='item-message']");
  const text = replies.length > 0 ? replies[replies.length - 1].textContent : "";
  const found = [...text.slice(Math.max(0, text.length - 4000)).matchAll(/stamp (\d+) ([\d.]+)/g)];
  const fresh = found.filter((m) => Number(m[1]) > seen);
  if (fresh.length === 0) return;
  seen = Math.max(...fresh.map((m) => Number(m[1])));
  requestAnimationFrame(() => {
    const now = performance.timeOrigin + performance.now();
    for (const m of fresh) window.samStamps.push(now - Number(m[2]));
  });
});
observer.observe(box, { childList: true, subtree: true, characterData: true });
window.samStampObserver = observer;
"#;

/// Records every frame's interval (from `requestAnimationFrame`) until stopped.
const FRAMES: &str = r#"
window.samFrames = [];
window.samFramesOn = true;
let last = performance.now();
function tick(now) {
  window.samFrames.push(now - last);
  last = now;
  if (window.samFramesOn) requestAnimationFrame(tick);
}
requestAnimationFrame(tick);
"#;

/// Scrolls the transcript from the top to the bottom, one step per frame; resolves with the
/// frame intervals seen meanwhile.
const SCROLL: &str = r#"
const done = arguments[arguments.length - 1];
const box = document.querySelector("[data-testid='transcript']");
box.scrollTop = 0;
const step = Math.max(1, box.clientHeight / 2);
const intervals = [];
let last = performance.now();
function frame(now) {
  intervals.push(now - last);
  last = now;
  if (box.scrollTop + box.clientHeight >= box.scrollHeight - 1) return done(intervals);
  box.scrollTop += step;
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);
setTimeout(() => done(intervals), 25000);
"#;

/// Resident memory of the webview's processes (WebKitGTK's web processes), in MiB. The bench
/// runs alone, so every such process on the machine is this app's.
fn webview_rss_mib() -> f64 {
    let mut kib = 0u64;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        let pid = entry.file_name().to_string_lossy().parse::<u32>();
        if let (true, Ok(pid)) = (comm.starts_with("WebKitWebProces"), pid) {
            kib += sam_test_support::rss_kib(pid);
        }
    }
    kib as f64 / 1024.0
}

async fn prompt(app: &harness::App, text: &str) {
    app.keys("agent-prompt", &format!("{text}{}", char::from(Key::Enter)))
        .await;
}

async fn turns(app: &harness::App) -> usize {
    let found = app
        .script(
            "return document.querySelectorAll(\"[data-testid='item-turn']\").length;",
            vec![],
        )
        .await;
    found.as_u64().unwrap_or(0) as usize
}

async fn wait_turns(app: &harness::App, count: usize) {
    harness::until(
        "the turn to end",
        async || turns(app).await,
        |n| *n >= count,
    )
    .await;
}

fn main() {
    harness::run_with(
        "bench-agent-ui",
        harness::with_fake_agent,
        async |app, repo| {
            app.set_window_size(1400, 1000).await;
            app.create_local_workspace(&repo).await;
            app.start_fake_agent().await;
            let before = webview_rss_mib();

            // Chunk to paint: stamped chunks, a few tens of milliseconds apart.
            app.script(STAMP_WATCH, vec![]).await;
            prompt(app, &format!("stamp {STAMPS} {STAMP_GAP_MS}")).await;
            wait_turns(app, 1).await;
            let stamps = app
                .script(
                    "window.samStampObserver.disconnect(); return window.samStamps;",
                    vec![],
                )
                .await;
            let mut stamps = numbers(&stamps);

            // For comparison: the frames of the window scrolling a short session (300 lines).
            let short = app.script_async(SCROLL, vec![]).await;
            let mut short = numbers(&short);

            // A long session: 10 000 updates streamed as fast as the agent writes them.
            app.script(FRAMES, vec![]).await;
            prompt(app, &format!("count {UPDATES}")).await;
            wait_turns(app, 2).await;
            let frames = app
                .script(
                    "window.samFramesOn = false; return window.samFrames;",
                    vec![],
                )
                .await;
            let mut streaming = numbers(&frames);
            let after = webview_rss_mib();
            let scrolled = app.script_async(SCROLL, vec![]).await;
            let mut scrolling = numbers(&scrolled);

            println!("{:<58} {:>12}", "measure", "value");
            println!("{:<58} {:>12}", "stamped chunks timed", stamps.len());
            for (label, p) in [("p50", 0.5), ("p99", 0.99), ("max", 1.0)] {
                println!(
                    "{:<58} {:>9.1} ms",
                    format!("chunk written to painted, {label}"),
                    percentile(&mut stamps, p)
                );
            }
            for (name, values) in [
                ("while scrolling a 300-line session", &mut short),
                ("while 10 000 updates stream in", &mut streaming),
                ("while scrolling the 10 000-update session", &mut scrolling),
            ] {
                let over = values.iter().filter(|v| **v > 50.0).count();
                println!("{:<58} {:>12}", format!("frames {name}"), values.len());
                for (label, p) in [("p50", 0.5), ("p99", 0.99), ("max", 1.0)] {
                    println!(
                        "{:<58} {:>9.1} ms",
                        format!("  frame interval, {label}"),
                        percentile(values, p)
                    );
                }
                println!("{:<58} {:>12}", "  frames over 50 ms", over);
            }
            println!(
                "{:<58} {:>9.1} MiB",
                "webview memory (RSS) with the session open", after
            );
            println!(
                "{:<58} {:>9.1} MiB",
                "  of which since the session started",
                after - before
            );
        },
    );
}
