//! What `sam` prints: one JSON object or line with `--json`, readable text otherwise.

use serde::Serialize;

#[allow(clippy::print_stdout)]
pub(super) fn print_json(value: &impl Serialize) {
    println!("{}", serde_json::to_string(value).unwrap_or_default());
}

#[allow(clippy::print_stdout)]
pub(super) fn print_text(text: &str) {
    println!("{text}");
}

/// Text that continues on the same line (a streamed message), shown at once.
#[allow(clippy::print_stdout)]
pub(super) fn print_partial(text: &str) {
    use std::io::Write;
    print!("{text}");
    let _ = std::io::stdout().flush();
}

/// A remark beside the output, on standard error.
#[allow(clippy::print_stderr)]
pub(super) fn print_note(text: &str) {
    eprintln!("{text}");
}
