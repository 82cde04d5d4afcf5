//! The real `sam-agent` binary on loopback, driven by the app's own `AgentClient`.

mod auth;
mod backstop;
mod credentials;
mod enrollment;
mod files;
pub mod harness;
mod pty;
mod resume;
mod robustness;
mod terminal;
