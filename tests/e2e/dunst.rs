//! The test session's notification daemon (dunst, started by `scripts/lib/in-session.sh` with a
//! menu command the tests steer): what it received and offered, and picking from its menu.

use std::path::PathBuf;
use std::process::Command;

/// The daemon's folder: what the tests choose, what it offered, what it received.
fn dunst_dir() -> PathBuf {
    PathBuf::from(
        std::env::var_os("SAM_DUNST_DIR")
            .expect("SAM_DUNST_DIR: run the end-to-end tests through scripts/test"),
    )
}

/// One of the daemon's files: `received` (a line per notification: app, summary, body,
/// urgency) or `offered` (the menu lines it offered).
pub(crate) fn read(name: &str) -> String {
    std::fs::read_to_string(dunst_dir().join(name)).unwrap_or_default()
}

/// Opens dunst's menu and picks the first offer containing `choice`, as a user would.
pub(crate) fn pick_from_notification(choice: &str) {
    std::fs::write(dunst_dir().join("choose"), choice).expect("choice");
    let status = Command::new("dunstctl")
        .arg("context")
        .status()
        .expect("dunstctl");
    assert!(status.success(), "dunstctl context: {status}");
}

/// Closes every notification on screen and forgets what the daemon received and offered: a
/// test starts without the notifications of the one before (an action picked from one of
/// those would go to an app that is gone).
pub(crate) fn forget_all() {
    let status = Command::new("dunstctl")
        .arg("close-all")
        .status()
        .expect("dunstctl");
    assert!(status.success(), "dunstctl close-all: {status}");
    for name in ["received", "offered", "choose"] {
        std::fs::write(dunst_dir().join(name), "").expect("a fresh file");
    }
}
