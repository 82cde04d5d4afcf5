//! The real `sam-agent` binary on loopback, driven by the app's own `AgentClient`.

mod acp;
mod admission;
mod auth;
mod backstop;
mod credentials;
mod enrollment;
mod files;
pub mod harness;
mod pty;
mod raw;
mod refusals;
mod resume;
mod robustness;
mod terminal;
mod tunnel;
