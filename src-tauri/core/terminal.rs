//! Terminals in the core: one `alacritty_terminal` engine per PTY session, fed with the byte
//! stream the agent sends. The webview only draws what the engine reports as changed (a later
//! part); this module is the headless half.

pub mod engine;
pub mod frame;

pub use engine::{Engine, Size};
