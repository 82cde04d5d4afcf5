//! This installation's identity: a stable id (in SQLite, not secret) and the Ed25519 key that
//! signs every token the app sends to its agents (in the OS keyring, nowhere else).
//!
//! A missing or locked keyring is a `credentials` error with guidance — never a silent fallback
//! to a file (DESIGN decision 3).

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;

use crate::error::{ErrorCategory, SamError};
use crate::redact::Secret;
use crate::store::{Setting, Store};

/// The keyring service name SAM's entries live under.
pub const KEYRING_SERVICE: &str = "sam-desktop";
const ID: Setting<String> = Setting::text("installation_id");

/// Where secrets are kept.
pub trait KeyStore: Send + Sync + std::fmt::Debug {
    /// The secret stored under `name`, if any.
    fn get(&self, name: &str) -> Result<Option<Secret>, SamError>;
    /// Stores `value` under `name`.
    fn set(&self, name: &str, value: &str) -> Result<(), SamError>;
    /// Removes what is stored under `name` (nothing there is fine).
    fn delete(&self, name: &str) -> Result<(), SamError>;
}

/// The operating system's keyring (Secret Service on Linux, Keychain on macOS, Credential
/// Manager on Windows).
#[derive(Debug, Default)]
pub struct OsKeyring;

fn keyring_error(err: &keyring::Error) -> SamError {
    SamError::new(
        ErrorCategory::Credentials,
        format!(
            "SAM keeps its keys in your system keyring, and the keyring is not available: {err}."
        ),
        "Unlock or start your desktop's keyring (GNOME Keyring, KWallet, or the macOS/Windows keychain), \
         then try again (restart SAM if the keyring was not running when SAM started). SAM never \
         stores keys in plain files.",
    )
}

impl KeyStore for OsKeyring {
    fn get(&self, name: &str) -> Result<Option<Secret>, SamError> {
        let entry =
            keyring::Entry::new(KEYRING_SERVICE, name).map_err(|err| keyring_error(&err))?;
        match entry.get_password() {
            Ok(value) => Ok(Some(Secret::new(value))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(err) => Err(keyring_error(&err)),
        }
    }

    fn set(&self, name: &str, value: &str) -> Result<(), SamError> {
        let entry =
            keyring::Entry::new(KEYRING_SERVICE, name).map_err(|err| keyring_error(&err))?;
        entry.set_password(value).map_err(|err| keyring_error(&err))
    }

    fn delete(&self, name: &str) -> Result<(), SamError> {
        let entry =
            keyring::Entry::new(KEYRING_SERVICE, name).map_err(|err| keyring_error(&err))?;
        match entry.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(err) => Err(keyring_error(&err)),
        }
    }
}

/// Secrets in this process's memory only: for unit tests.
#[derive(Debug, Default)]
pub struct MemoryKeys(Mutex<HashMap<String, String>>);

impl KeyStore for MemoryKeys {
    fn get(&self, name: &str) -> Result<Option<Secret>, SamError> {
        let map = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(map.get(name).map(|value| Secret::new(value.clone())))
    }

    fn set(&self, name: &str, value: &str) -> Result<(), SamError> {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.insert(name.to_owned(), value.to_owned());
        Ok(())
    }

    fn delete(&self, name: &str) -> Result<(), SamError> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(name);
        Ok(())
    }
}

/// This installation.
pub struct Installation {
    /// Its id (also in every resource label later).
    pub id: String,
    key: SigningKey,
}

impl std::fmt::Debug for Installation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Installation")
            .field("id", &self.id)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl Installation {
    /// Loads the id from the store and the key from `keys`, creating both on first use.
    pub fn load_or_create(store: &Store, keys: &dyn KeyStore) -> Result<Self, SamError> {
        let id = match store.get(&ID)? {
            Some(id) => id,
            None => {
                let id = hex(&random::<8>()?);
                store.put(&ID, &id)?;
                id
            }
        };
        let entry = format!("installation-key/{id}");
        let key = match keys.get(&entry)? {
            Some(secret) => {
                let bytes: [u8; 32] = URL_SAFE_NO_PAD
                    .decode(secret.expose())
                    .ok()
                    .and_then(|bytes| bytes.try_into().ok())
                    .ok_or_else(|| {
                        SamError::new(
                            ErrorCategory::Credentials,
                            "The installation key in your keyring is damaged.",
                            format!("Remove the keyring entry {KEYRING_SERVICE}/{entry}; SAM will make a new one, \
                                     and existing workspaces will need to be recreated."),
                        )
                    })?;
                SigningKey::from_bytes(&bytes)
            }
            None => {
                let seed = random::<32>()?;
                let encoded = URL_SAFE_NO_PAD.encode(seed);
                // Registered with the log redactor before it could ever be logged.
                let _guard = Secret::new(encoded.clone());
                keys.set(&entry, &encoded)?;
                SigningKey::from_bytes(&seed)
            }
        };
        Ok(Self { id, key })
    }

    /// The key that signs agent tokens.
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// The public key as agents are configured with it.
    pub fn public_key(&self) -> String {
        sam_protocol::token::encode_public_key(&self.key.verifying_key())
    }
}

/// `N` random bytes.
pub fn random<const N: usize>() -> Result<[u8; N], SamError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|err| SamError::internal("This computer's random number source failed.", &err))?;
    Ok(bytes)
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_is_created_once_and_reused() {
        let store = Store::in_memory().expect("store");
        let keys = MemoryKeys::default();
        let first = Installation::load_or_create(&store, &keys).expect("creates");
        let again = Installation::load_or_create(&store, &keys).expect("loads");
        assert_eq!(first.id, again.id);
        assert_eq!(first.public_key(), again.public_key());
        assert!(!format!("{first:?}").contains(&URL_SAFE_NO_PAD.encode(first.key.to_bytes())));
    }

    #[test]
    fn a_damaged_key_is_a_credentials_error() {
        let store = Store::in_memory().expect("store");
        let keys = MemoryKeys::default();
        let id = Installation::load_or_create(&store, &keys)
            .expect("creates")
            .id;
        keys.set(&format!("installation-key/{id}"), "garbage")
            .expect("sets");
        let err = Installation::load_or_create(&store, &keys).expect_err("damaged");
        assert_eq!(err.category, ErrorCategory::Credentials);
    }
}
