//! SSH keys for Hetzner servers: the user's OpenSSH public keys (Settings → Hetzner, or
//! `sam hetzner ssh-key`), put on every server created after for the workspace user `dev`, with
//! the firewall's SSH rule (port 22) only while there is at least one. Public keys are not
//! secret, so they live in SQLite. A server keeps the keys it was created with.

use super::account::HetznerAccount;
use super::cloud_init::check_ssh_key;
use crate::error::SamError;
use crate::store::Setting;

const SSH_KEYS: Setting<Vec<String>> = Setting::new("hetzner.ssh_keys");

/// The most keys kept: ten long keys still fit Hetzner's 32 KiB user_data.
pub const MAX_SSH_KEYS: usize = 10;

impl HetznerAccount {
    /// The SSH public keys new servers get, in the order they were added.
    pub fn ssh_keys(&self) -> Result<Vec<String>, SamError> {
        Ok(self.store().get(&SSH_KEYS)?.unwrap_or_default())
    }

    /// Adds an OpenSSH public key (one line, as in a `.pub` file; surrounding blanks are
    /// dropped). Adding a key that is there already changes nothing. Returns the keys.
    pub fn add_ssh_key(&self, key: &str) -> Result<Vec<String>, SamError> {
        let key = key.trim();
        check_ssh_key(key)?;
        let mut keys = self.ssh_keys()?;
        if keys.iter().any(|known| same_key(known, key)) {
            return Ok(keys);
        }
        if keys.len() >= MAX_SSH_KEYS {
            return Err(SamError::invalid_input(
                format!("SAM keeps at most {MAX_SSH_KEYS} SSH keys for Hetzner servers."),
                "Remove one first: sam hetzner ssh-key remove",
            ));
        }
        keys.push(key.to_owned());
        self.put_ssh_keys(&keys)?;
        Ok(keys)
    }

    /// Removes the key that `which` names: its position in the list (from 1), its comment, or
    /// the key itself. Returns the keys left.
    pub fn remove_ssh_key(&self, which: &str) -> Result<Vec<String>, SamError> {
        let which = which.trim();
        let mut keys = self.ssh_keys()?;
        let at = match which.parse::<usize>() {
            Ok(n) if (1..=keys.len()).contains(&n) => Some(n - 1),
            _ => keys
                .iter()
                .position(|key| same_key(key, which) || comment(key) == Some(which)),
        };
        let Some(at) = at else {
            return Err(SamError::invalid_input(
                format!("No SSH key is {which:?}."),
                "Name a key by its number, its comment or the key itself: sam hetzner ssh-key list",
            ));
        };
        keys.remove(at);
        self.put_ssh_keys(&keys)?;
        Ok(keys)
    }

    fn put_ssh_keys(&self, keys: &[String]) -> Result<(), SamError> {
        self.store().put(&SSH_KEYS, &keys.to_vec())?;
        // The next server gets the new keys.
        if let Some(provider) = self.made_provider() {
            provider.set_ssh_keys(keys.to_vec());
        }
        Ok(())
    }
}

/// Whether two key lines hold the same key (type and body; comments may differ).
fn same_key(a: &str, b: &str) -> bool {
    a.split_whitespace()
        .take(2)
        .eq(b.split_whitespace().take(2))
}

/// A key line's comment, when it has one.
fn comment(key: &str) -> Option<&str> {
    let mut words = key.splitn(3, ' ');
    words.nth(2).map(str::trim).filter(|c| !c.is_empty())
}

#[cfg(test)]
mod tests {
    use super::{comment, same_key};

    #[test]
    fn keys_are_the_same_by_type_and_body_and_named_by_comment() {
        let key = "ssh-ed25519 AAAAC3Nza me@laptop";
        assert!(same_key(key, "ssh-ed25519 AAAAC3Nza"));
        assert!(!same_key(key, "ssh-ed25519 AAAAC3Nzb me@laptop"));
        assert_eq!(comment(key), Some("me@laptop"));
        assert_eq!(comment("ssh-ed25519 AAAAC3Nza"), None);
    }
}
