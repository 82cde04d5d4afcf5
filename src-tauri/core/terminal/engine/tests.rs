use std::time::{Duration, Instant};

use super::super::frame::{Color, Frame, Row, attrs, modes};
use super::*;

const SIZE: Size = Size { cols: 20, rows: 4 };

fn rows(engine: &Engine) -> Vec<String> {
    engine.screen_text().lines().map(str::to_owned).collect()
}

fn frame_of(engine: &mut Engine, full: bool) -> Option<Frame> {
    engine
        .frame(full)
        .map(|bytes| Frame::decode(&bytes).expect("the engine's frames decode"))
}

/// The text a frame shows on a row, with wide characters and gaps laid out by column.
fn text_of(row: &Row, cols: usize) -> String {
    let mut cells = vec![" ".to_owned(); cols];
    for run in &row.runs {
        let width = if run.style.attrs & attrs::WIDE != 0 {
            2
        } else {
            1
        };
        let mut col = usize::from(run.col);
        if usize::from(run.cells) == width && run.text.chars().count() > 1 {
            // One grapheme: a character and its combining marks.
            cells[col] = run.text.clone();
            continue;
        }
        for ch in run.text.chars() {
            if let Some(cell) = cells.get_mut(col) {
                *cell = ch.to_string();
            }
            for _ in 1..width {
                if let Some(cell) = cells.get_mut(col + 1) {
                    cell.clear();
                }
            }
            col += width;
        }
    }
    cells.concat().trim_end().to_owned()
}

#[test]
fn text_and_cursor_movement_land_where_a_terminal_puts_them() {
    let mut engine = Engine::new(SIZE, 100);
    engine.feed(b"hello\r\nworld\x1b[1;10HX");
    assert_eq!(rows(&engine), ["hello    X", "world", "", ""]);
}

#[test]
fn an_escape_split_across_chunks_is_parsed_once() {
    let mut engine = Engine::new(SIZE, 100);
    engine.feed(b"a\x1b[");
    engine.feed(b"2Cb");
    assert_eq!(rows(&engine)[0], "a  b");
}

#[test]
fn queries_are_answered_once_live_and_never_on_replay() {
    let mut engine = Engine::new(SIZE, 100);
    engine.feed(b"\x1b[c\x1b[6n\x1b[?2004$p");
    let replies = engine.take_replies();
    assert_eq!(replies.len(), 3, "{replies:?}");
    assert!(replies[0].starts_with("\x1b[?"), "{replies:?}");
    assert_eq!(replies[1], "\x1b[1;1R");
    assert_eq!(
        replies[2], "\x1b[?2004;2$y",
        "DECRQM: bracketed paste is reset"
    );
    assert!(engine.take_replies().is_empty(), "taken once");
    engine.replay(b"\x1b[c\x1b[6n\x07");
    assert!(engine.take_replies().is_empty(), "a replay answers nothing");
    assert_eq!(engine.take_bells(), 0, "a replay rings no bell");
}

#[test]
fn colour_queries_are_answered_from_the_theme_unless_the_program_set_one() {
    let mut engine = Engine::new(SIZE, 100);
    engine.set_theme(Theme::LIGHT);
    engine.feed(b"\x1b]11;?\x1b\\\x1b]4;1;rgb:12/34/56\x1b\\\x1b]4;1;?\x07");
    let replies = engine.take_replies();
    assert_eq!(
        replies,
        [
            "\x1b]11;rgb:ffff/ffff/ffff\x1b\\",
            "\x1b]4;1;rgb:1212/3434/5656\x07"
        ]
    );
}

#[test]
fn clipboard_writes_wait_for_consent_and_reads_are_refused() {
    let mut engine = Engine::new(SIZE, 100);
    // OSC 52 write of "secret" (base64 c2VjcmV0), then a read request.
    engine.feed(b"\x1b]52;c;c2VjcmV0\x07\x1b]52;c;?\x07");
    assert_eq!(
        engine.take_clipboard_write(),
        Some(ClipboardWrite {
            text: "secret".to_owned(),
            primary: false
        })
    );
    assert_eq!(engine.take_clipboard_write(), None);
    assert!(
        engine.take_replies().is_empty(),
        "the clipboard is never read back"
    );
    engine.replay(b"\x1b]52;c;c2VjcmV0\x07");
    assert_eq!(engine.take_clipboard_write(), None, "not from a replay");
}

#[test]
fn tabs_show_as_blanks() {
    let mut engine = Engine::new(SIZE, 100);
    engine.feed(b"a\tb");
    assert_eq!(rows(&engine)[0], "a       b");
    let frame = frame_of(&mut engine, true).expect("frame");
    assert_eq!(text_of(&frame.lines[0], 20), "a       b");
}

#[test]
fn titles_bells_and_wide_characters() {
    let mut engine = Engine::new(SIZE, 100);
    engine.feed("\x1b]0;build\x07\x07日本€".as_bytes());
    assert_eq!(engine.take_title().as_deref(), Some("build"));
    assert_eq!(engine.take_bells(), 1);
    assert_eq!(rows(&engine)[0], "日本€");
}

#[test]
fn a_synchronized_update_ends_at_its_timeout() {
    let mut engine = Engine::new(SIZE, 100);
    engine.feed(b"\x1b[?2026hhidden");
    assert!(engine.is_synchronizing());
    assert_eq!(rows(&engine)[0], "", "held back during the update");
    engine.tick(Instant::now() + Duration::from_secs(1));
    assert!(!engine.is_synchronizing());
    assert_eq!(rows(&engine)[0], "hidden");
}

#[test]
fn scrollback_keeps_what_scrolled_off_and_resize_reflows() {
    let mut engine = Engine::new(SIZE, 100);
    for n in 0..10 {
        engine.feed(format!("line {n}\r\n").as_bytes());
    }
    assert_eq!(engine.history_lines(), 7);
    assert_eq!(engine.memory_bytes(), 11 * 20 * size_of::<Cell>());
    assert_eq!(rows(&engine), ["line 7", "line 8", "line 9", ""]);
    engine.scroll(2);
    assert_eq!(rows(&engine)[0], "line 5");
    engine.scroll_to_bottom();
    engine.resize(Size { cols: 4, rows: 4 });
    assert_eq!(engine.size(), Size { cols: 4, rows: 4 });
    assert!(rows(&engine).iter().all(|row| row.chars().count() <= 4));
    engine.reset();
    assert_eq!((engine.history_lines(), rows(&engine)[0].as_str()), (0, ""));
}

#[test]
fn modes_follow_the_program() {
    let mut engine = Engine::new(SIZE, 100);
    assert_eq!(engine.modes() & modes::ALT_SCREEN, 0);
    engine.feed(b"\x1b[?1049h\x1b[?1h\x1b[?2004h\x1b[?1002h\x1b[?1006h\x1b[5 q");
    let modes = engine.modes();
    for bit in [
        modes::ALT_SCREEN,
        modes::APP_CURSOR,
        modes::BRACKETED_PASTE,
        modes::MOUSE_DRAG,
        modes::SGR_MOUSE,
        modes::CURSOR_BLINK,
    ] {
        assert_ne!(modes & bit, 0, "bit {bit:#x} in {modes:#x}");
    }
    let header = frame_of(&mut engine, true).expect("frame").header;
    assert_eq!(header.modes, modes);
    assert_eq!(header.cursor.map(|c| c.shape), Some(2), "blinking beam");
    engine.feed(b"\x1b[?25l\x1b[?1049l");
    let header = frame_of(&mut engine, true).expect("frame").header;
    assert_eq!(header.cursor, None, "hidden cursor");
    assert_eq!(header.modes & modes::ALT_SCREEN, 0);
}

#[test]
fn a_full_frame_reproduces_the_screen() {
    let mut engine = Engine::new(Size { cols: 20, rows: 3 }, 0);
    engine.feed(
        "plain \x1b[1;31mbold red\x1b[0m\r\n\x1b[38;2;1;2;3m日本\x1b[0m x\r\n\x1b[48;5;236mbg"
            .as_bytes(),
    );
    let frame = frame_of(&mut engine, true).expect("a first frame");
    assert!(frame.header.full);
    let screen: Vec<String> = frame.lines.iter().map(|row| text_of(row, 20)).collect();
    assert_eq!(screen, rows(&engine));
    let bold = &frame.lines[0].runs[1];
    assert_eq!(
        (
            bold.text.as_str(),
            bold.style.fg,
            bold.style.attrs & attrs::BOLD != 0
        ),
        ("bold red", Color::Named(1), true)
    );
    let wide = &frame.lines[1].runs[0];
    assert_eq!((wide.cells, wide.style.fg), (4, Color::Rgb(1, 2, 3)));
    assert_eq!(frame.lines[2].runs[0].style.bg, Color::Indexed(236));
    assert_eq!(frame.header.cursor.map(|c| (c.row, c.col)), Some((2, 2)));
    assert_eq!(Frame::decode(&frame.encode()).as_ref(), Ok(&frame));
}

#[test]
fn links_and_the_selection_travel_in_frames() {
    let mut engine = Engine::new(Size { cols: 30, rows: 3 }, 0);
    engine.feed(b"see \x1b]8;;https://example.com/\x1b\\docs\x1b]8;;\x1b\\ and ");
    engine.feed(b"\x1b]8;;file:///x\x1b\\file\x1b]8;;\x1b\\");
    engine.select(SelectionKind::Simple, ScreenPoint { row: 0, col: 4 });
    engine.extend_selection(ScreenPoint { row: 0, col: 7 });
    let frame = frame_of(&mut engine, false).expect("a frame");
    assert_eq!(frame.links, ["https://example.com/"]);
    let linked: Vec<&str> = frame.lines[0]
        .runs
        .iter()
        .filter(|run| run.link.is_some())
        .map(|run| run.text.as_str())
        .collect();
    assert_eq!(linked, ["docs"], "the file: link is not offered");
    let selection = frame.header.selection.expect("a selection");
    assert_eq!(
        (
            selection.start_row,
            selection.start_col,
            selection.end_row,
            selection.end_col
        ),
        (0, 4, 0, 7)
    );
}

#[test]
fn after_a_change_only_damaged_rows_are_sent() {
    let mut engine = Engine::new(Size { cols: 20, rows: 5 }, 0);
    engine.feed(b"one\r\ntwo\r\nthree");
    frame_of(&mut engine, true).expect("first");
    // The emulator always re-reports the cursor's row (the cursor may have moved or blinked).
    let idle = frame_of(&mut engine, false)
        .map(|frame| frame.lines.iter().map(|row| row.index).collect::<Vec<_>>());
    assert!(idle.is_none() || idle == Some(vec![2]), "{idle:?}");
    engine.feed(b"\x1b[2;1HTWO");
    let frame = frame_of(&mut engine, false).expect("a change");
    assert!(!frame.header.full);
    let changed: Vec<u16> = frame.lines.iter().map(|row| row.index).collect();
    assert!(changed.contains(&1) && changed.len() <= 2, "{changed:?}");
    let row = frame
        .lines
        .iter()
        .find(|row| row.index == 1)
        .expect("row 1");
    assert_eq!(text_of(row, 20), "TWO");
}

mod property {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever a program prints, a full frame decodes to exactly the screen's text.
        #[test]
        fn full_frames_equal_the_grid(
            chunks in proptest::collection::vec(
                prop_oneof![
                    "[a-z ]{0,30}",
                    Just("\r\n".to_owned()),
                    Just("日本語".to_owned()),
                    Just("e\u{301}".to_owned()),
                    (30u8..38).prop_map(|c| format!("\x1b[{c}m")),
                    Just("\x1b[0m".to_owned()),
                    Just("\x1b[7m".to_owned()),
                    (1u8..6, 1u8..25).prop_map(|(r, c)| format!("\x1b[{r};{c}H")),
                    Just("\x1b[K".to_owned()),
                ],
                0..40,
            )
        ) {
            let mut engine = Engine::new(Size { cols: 24, rows: 5 }, 10);
            for chunk in &chunks {
                engine.feed(chunk.as_bytes());
            }
            let frame = frame_of(&mut engine, true).expect("full frames always have rows");
            let screen: Vec<String> = frame.lines.iter().map(|row| text_of(row, 24)).collect();
            prop_assert_eq!(screen, rows(&engine));
        }
    }
}
