//! The VM tier: Hetzner workspaces on the fake Hetzner's servers booted as real Linux virtual
//! machines (QEMU, software emulation, the Debian 12 image `scripts/lib/vm-image.sh` builds).
//! Each server's real cloud-init reads SAM's real user_data from the fake's metadata service,
//! and SAM's real boot script downloads, verifies and starts the real agent, mounts the Volume,
//! blocks the metadata address and arms the backstops. Nothing in the path is a stand-in.
//!
//! The test image has one thing no real server has: a root console on a virtio port
//! (`FakeHetzner::root_command`), used to look inside and to kill the agent on purpose.

mod path;
mod tier;

pub use tier::Tier;
