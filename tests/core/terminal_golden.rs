//! Golden replay tests: real sessions recorded with `sam terminal record`
//! (`tests/fixtures/terminal/record.sh`) replayed into the engine. Each `.golden` file holds the
//! reviewed final screen — its text, then every styled run as a full frame carries it (colours,
//! attributes, wide characters), then the cursor and modes.
//!
//! After re-recording: `SAM_UPDATE_GOLDEN=1 cargo test --test core terminal_golden`, then read
//! every changed `.golden` file before committing it.

use std::fmt::Write as _;
use std::path::PathBuf;

use sam_desktop::core::terminal::frame::{Frame, Style, attrs, modes};
use sam_desktop::core::terminal::{Engine, Size};
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
