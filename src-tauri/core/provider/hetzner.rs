//! Workspaces on the user's own Hetzner Cloud account: the API client, its tolerant models, and
//! the cloud-init that boots our agent on each server. Hetzner's own resources never leave this
//! module.

pub mod cloud_init;
