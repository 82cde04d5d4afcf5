//! Workspaces on the user's own Hetzner Cloud account: the API client, its tolerant models, and
//! the cloud-init that boots our agent on each server. Hetzner's own resources (servers,
//! volumes, firewalls) never leave this module; the lifecycle sees only the provider trait.

pub mod account;
pub mod api;
pub mod catalog;
pub mod client;
pub mod cloud_init;
pub mod delivery;
pub mod error;
pub mod model;
pub mod provider;
pub mod reconcile;
pub mod settings;
pub mod spend;
pub mod ssh_keys;
