//! Terminals in the core: one `alacritty_terminal` engine per PTY session, fed with the byte
//! stream the agent sends ([`session`]). The webview only draws what the engine reports as
//! changed, from the binary [`frame`]s it builds.

pub mod engine;
pub mod frame;
pub mod local_urls;
pub mod session;
pub mod theme;

pub use engine::{
    ClipboardWrite, Engine, ScreenPoint, SearchDirection, SearchMatch, SelectionKind, Size,
};
pub use session::{Terminal, TerminalEvent, TerminalOptions};
pub use theme::Theme;
