//! SAM Desktop: cloud development workspaces on the user's own Hetzner account, managed from the
//! desktop, with no hosted server anywhere.
//!
//! The product's logic and state are the `sam_core` crate, which has no GUI framework in its
//! dependency tree; this crate is the desktop shell over it:
//!
//! - [`ipc`]: the commands the webview calls, and the generated TypeScript bindings.
//! - [`shell::run`]: the desktop app's entry point.
//!
//! The `sam` command-line tool is its own package (`src-tauri/cli/`) over `sam_core` alone.

#![deny(missing_docs)]

pub mod ipc;
pub mod shell;
