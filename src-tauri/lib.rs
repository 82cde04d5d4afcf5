//! SAM Desktop: cloud development workspaces on the user's own Hetzner account, managed from the
//! desktop, with no hosted server anywhere.
//!
//! - [`core`]: the product's logic and state; never names the GUI framework.
//! - [`ipc`]: the commands the webview calls, and the generated TypeScript bindings.
//! - [`shell::run`]: the desktop app's entry point; [`cli::main`]: the `sam` tool's.

#![deny(missing_docs)]

pub mod cli;
pub mod core;
pub mod ipc;
pub mod shell;
