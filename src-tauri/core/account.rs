//! The accounts SAM works in, each with its own state: the Hetzner account (token, catalogue,
//! preferences, the reconciler's report, spend, self-deletion), the GitHub sign-in, and the git
//! credentials handed to workspaces.

pub mod git;
pub mod github;
