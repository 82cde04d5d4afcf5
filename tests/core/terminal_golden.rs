//! Golden replay tests: real sessions recorded with `sam terminal record`
//! (`tests/fixtures/terminal/record.sh`) replayed into the engine. Each `.golden` file holds the
//! reviewed final screen — its text, then every styled run as a full frame carries it (colours,
//! attributes, wide characters), then the cursor and modes.
//!
//! After re-recording: `SAM_UPDATE_GOLDEN=1 cargo test --test core terminal_golden`, then read
//! every changed `.golden` file before committing it.

use std::fmt::Write as _;
use std::path::PathBuf;

use sam_core::terminal::frame::{Frame, Style, attrs, modes};
use sam_core::terminal::{Engine, Size};
use sam_test_support::{binary, repo_root};

const RECORDINGS: &[&str] = &[
    "ls-color",
    "vi",
    "alt-screen",
    "top",
    "progress",
    "unicode",
    "colors",
];
const SIZE: Size = Size { cols: 80, rows: 24 };

fn fixture(name: &str, ext: &str) -> PathBuf {
    repo_root()
        .join("tests/fixtures/terminal")
        .join(format!("{name}.{ext}"))
}

fn recording(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name, "bin")).expect("the recording is committed")
}

/// The reviewable description of an engine's screen.
fn describe(engine: &mut Engine) -> String {
    let frame = Frame::decode(&engine.frame(true).expect("a full frame")).expect("decodes");
    let mut out = String::from("screen:\n");
    for line in engine.screen_text().lines() {
        let _ = writeln!(out, "|{line}");
    }
    out.push_str("styled runs:\n");
    for row in &frame.lines {
        for run in row.runs.iter().filter(|run| run.style != Style::default()) {
            let names: Vec<&str> = [
                (attrs::BOLD, "bold"),
                (attrs::DIM, "dim"),
                (attrs::ITALIC, "italic"),
                (attrs::UNDERLINE, "underline"),
                (attrs::INVERSE, "inverse"),
                (attrs::STRIKEOUT, "strike"),
                (attrs::HIDDEN, "hidden"),
                (attrs::WIDE, "wide"),
            ]
            .into_iter()
            .filter(|(bit, _)| run.style.attrs & bit != 0)
            .map(|(_, name)| name)
            .collect();
            let _ = writeln!(
                out,
                "r{} c{}+{} fg={:?} bg={:?} [{}] {:?}",
                row.index,
                run.col,
                run.cells,
                run.style.fg,
                run.style.bg,
                names.join(" "),
                run.text
            );
        }
    }
    let _ = writeln!(
        out,
        "cursor: {:?}\nalternate screen: {}",
        frame.header.cursor.map(|c| (c.row, c.col, c.shape)),
        frame.header.modes & modes::ALT_SCREEN != 0
    );
    out
}

fn replayed(bytes: &[u8], chunk: usize) -> Engine {
    let mut engine = Engine::new(SIZE, 1000);
    for piece in bytes.chunks(chunk) {
        engine.replay(piece);
    }
    engine
}

#[test]
fn recordings_replay_to_their_reviewed_screens() {
    let update = std::env::var_os("SAM_UPDATE_GOLDEN").is_some();
    let mut stale = Vec::new();
    for name in RECORDINGS {
        let actual = describe(&mut replayed(&recording(name), 64 * 1024));
        let path = fixture(name, "golden");
        if update {
            std::fs::write(&path, &actual).expect("write golden");
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        if actual != expected {
            stale.push(format!(
                "--- {name}: expected\n{expected}--- actual\n{actual}"
            ));
        }
    }
    assert!(stale.is_empty(), "{}", stale.join("\n"));
}

#[test]
fn any_chunking_gives_the_same_screen() {
    for name in RECORDINGS {
        let bytes = recording(name);
        let whole = describe(&mut replayed(&bytes, bytes.len().max(1)));
        for chunk in [1, 2, 3, 7, 61] {
            assert_eq!(
                describe(&mut replayed(&bytes, chunk)),
                whole,
                "{name} in {chunk}-byte chunks"
            );
        }
    }
}

#[test]
fn a_recorded_sessions_queries_are_answered_live_but_not_on_replay() {
    // vi asks for the cursor position (twice), the terminal's identity and the background.
    let bytes = recording("vi");
    let mut live = Engine::new(SIZE, 1000);
    live.feed(&bytes);
    let replies = live.take_replies();
    assert_eq!(replies.len(), 4, "{replies:?}");
    assert!(
        replies
            .iter()
            .any(|reply| reply.starts_with("\x1b]11;rgb:"))
    );
    assert!(replayed(&bytes, 4096).take_replies().is_empty());
}

#[test]
fn the_replay_command_prints_the_golden_screen() {
    let output = std::process::Command::new(binary("sam"))
        .args(["terminal", "replay", "--cols", "80", "--rows", "24"])
        .arg(fixture("vi", "bin"))
        .output()
        .expect("runs sam");
    assert!(output.status.success(), "{output:?}");
    let printed: String = String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .map(|line| format!("|{line}\n"))
        .collect();
    let golden = std::fs::read_to_string(fixture("vi", "golden")).expect("golden");
    assert!(golden.contains(&printed), "{printed}");
}

/// A full frame of the colours recording, and what it decodes to, for the window's decoder
/// test (`ui/src/features/terminal/frame.test.ts`): both sides must read the same bytes alike.
#[test]
fn the_windows_decoder_fixture_is_current() {
    use sam_core::terminal::frame::Color;
    let mut engine = replayed(&recording("colors"), 4096);
    engine.feed(b"\x1b]8;;https://example.com/\x1b\\link\x1b]8;;\x1b\\ \xe6\x97\xa5e\xcc\x81");
    let bytes = engine.frame(true).expect("a full frame");
    let frame = Frame::decode(&bytes).expect("decodes");
    let color = |color: Color| match color {
        Color::Default => serde_json::json!({ "kind": "default" }),
        Color::Named(index) => serde_json::json!({ "kind": "named", "index": index }),
        Color::Indexed(index) => serde_json::json!({ "kind": "indexed", "index": index }),
        Color::Rgb(r, g, b) => serde_json::json!({ "kind": "rgb", "r": r, "g": g, "b": b }),
    };
    let header = &frame.header;
    let expected = serde_json::json!({
        "full": header.full,
        "cols": header.cols,
        "rows": header.rows,
        "cursor": header.cursor.map(|c| serde_json::json!({ "row": c.row, "col": c.col, "shape": c.shape })),
        "modes": header.modes,
        "displayOffset": header.display_offset,
        "history": header.history,
        "selection": null,
        "lines": frame.lines.iter().map(|row| serde_json::json!({
            "index": row.index,
            "runs": row.runs.iter().map(|run| serde_json::json!({
                "col": run.col,
                "cells": run.cells,
                "fg": color(run.style.fg),
                "bg": color(run.style.bg),
                "attrs": run.style.attrs,
                "link": run.link,
                "text": run.text,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "links": frame.links,
    });
    let dir = repo_root().join("ui/src/features/terminal/fixtures");
    let json = format!(
        "{}\n",
        serde_json::to_string_pretty(&expected).expect("json")
    );
    if std::env::var_os("SAM_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(&dir).expect("fixture folder");
        std::fs::write(dir.join("colors.frame"), &bytes).expect("write");
        std::fs::write(dir.join("colors.frame.json"), &json).expect("write");
        return;
    }
    assert_eq!(
        std::fs::read(dir.join("colors.frame")).ok().as_deref(),
        Some(bytes.as_slice()),
        "stale: SAM_UPDATE_GOLDEN=1 cargo test --test core terminal_golden"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("colors.frame.json")).ok(),
        Some(json)
    );
}
