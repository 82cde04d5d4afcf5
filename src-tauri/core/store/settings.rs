//! Settings: small values SAM keeps between runs in the `settings` table, each declared once as
//! a typed [`Setting`] beside the code that owns it, and read and written only through
//! [`Store::get`], [`Store::put`] and [`Store::clear`], so a value always comes back as the type
//! it was written as.
//!
//! Values are JSON (`true`, `["github.com"]`, an object), except settings made with
//! [`Setting::text`], whose value is the bare text (the installation id, written so before
//! settings were typed). A stored `null` reads as unset, as a removed row does.
//!
//! The settings SAM keeps today:
//!
//! | key | type | owner |
//! | --- | --- | --- |
//! | `installation.id` | text | `installation` |
//! | `notifications.do_not_disturb` | bool | `notice` |
//! | `tray.close_explained` | bool | the desktop shell |
//! | `hetzner.preferences` | `Preferences` | `provider::hetzner::catalog` |
//! | `hetzner.self_delete` | bool | `provider::hetzner::account` |
//! | `git.token_hosts` | list of hosts | `account::git` |
//! | `github.account`, `github.session`, `github.app` | objects | `github` |
//! | `agents.custom` | list of `AgentSpec` | `coding_agents` |

use std::marker::PhantomData;

use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Store, StoreError};

/// One setting: its key and the type of its value.
#[derive(Debug)]
pub struct Setting<T> {
    key: &'static str,
    text: bool,
    value: PhantomData<fn() -> T>,
}

impl<T> Setting<T> {
    /// A setting whose value is stored as JSON.
    pub const fn new(key: &'static str) -> Self {
        Self {
            key,
            text: false,
            value: PhantomData,
        }
    }
}

impl Setting<String> {
    /// A setting whose value is stored as bare text.
    pub const fn text(key: &'static str) -> Self {
        Self {
            key,
            text: true,
            value: PhantomData,
        }
    }
}

impl Store {
    /// The value of `setting`, `None` when it was never set or was cleared.
    pub fn get<T: DeserializeOwned>(&self, setting: &Setting<T>) -> Result<Option<T>, StoreError> {
        let stored: Option<String> = self
            .lock()
            .query_row(
                "SELECT value FROM settings WHERE key = ?1",
                [setting.key],
                |row| row.get(0),
            )
            .optional()?;
        let Some(text) = stored.filter(|text| text != "null") else {
            return Ok(None);
        };
        let value = if setting.text {
            serde_json::from_value(serde_json::Value::String(text))
        } else {
            serde_json::from_str(&text)
        };
        value.map(Some).map_err(|err| StoreError::Corrupt {
            table: "settings",
            detail: format!("{}: {err}", setting.key),
        })
    }

    /// Sets `setting` to `value`.
    pub fn put<T: Serialize>(&self, setting: &Setting<T>, value: &T) -> Result<(), StoreError> {
        let encoded = serde_json::to_value(value).map_err(|err| StoreError::Corrupt {
            table: "settings",
            detail: format!("{}: {err}", setting.key),
        })?;
        let text = match encoded {
            serde_json::Value::String(text) if setting.text => text,
            other => other.to_string(),
        };
        self.lock().execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) \
             ON CONFLICT (key) DO UPDATE SET value = ?2",
            params![setting.key, text],
        )?;
        Ok(())
    }

    /// Unsets `setting`.
    pub fn clear<T>(&self, setting: &Setting<T>) -> Result<(), StoreError> {
        self.lock()
            .execute("DELETE FROM settings WHERE key = ?1", [setting.key])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAG: Setting<bool> = Setting::new("test.flag");
    const HOSTS: Setting<Vec<String>> = Setting::new("test.hosts");
    const ID: Setting<String> = Setting::text("test.id");

    fn store() -> Store {
        Store::in_memory().expect("opens")
    }

    /// The raw text a setting is stored as.
    fn raw(store: &Store, key: &str) -> Option<String> {
        store
            .lock()
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |row| {
                row.get(0)
            })
            .optional()
            .expect("query")
    }

    #[test]
    fn values_come_back_as_the_type_they_were_written_as() {
        let store = store();
        assert_eq!(store.get(&FLAG).expect("read"), None);
        store.put(&FLAG, &true).expect("write");
        assert_eq!(store.get(&FLAG).expect("read"), Some(true));
        let hosts = vec!["github.com".to_owned(), "git.example.com:8443".to_owned()];
        store.put(&HOSTS, &hosts).expect("write");
        assert_eq!(store.get(&HOSTS).expect("read"), Some(hosts));
        store.clear(&HOSTS).expect("clear");
        assert_eq!(store.get(&HOSTS).expect("read"), None);
    }

    #[test]
    fn settings_round_trip() {
        const K: Setting<String> = Setting::text("k");
        let store = store();
        assert_eq!(store.get(&K).expect("reads"), None);
        store.put(&K, &"v1".to_owned()).expect("sets");
        store.put(&K, &"v2".to_owned()).expect("sets");
        assert_eq!(store.get(&K).expect("reads").as_deref(), Some("v2"));
    }

    #[test]
    fn the_stored_text_is_what_earlier_builds_wrote_and_read() {
        let store = store();
        store.put(&FLAG, &false).expect("write");
        assert_eq!(raw(&store, "test.flag").as_deref(), Some("false"));
        store.put(&ID, &"3f9a2c10aa55".to_owned()).expect("write");
        assert_eq!(raw(&store, "test.id").as_deref(), Some("3f9a2c10aa55"));
        // A JSON `null` (how a cleared value was written before) reads as unset.
        store
            .lock()
            .execute(
                "INSERT INTO settings (key, value) VALUES ('test.hosts', 'null')",
                [],
            )
            .expect("insert");
        assert_eq!(store.get(&HOSTS).expect("read"), None);
    }

    #[test]
    fn a_value_of_the_wrong_shape_is_a_corrupt_row_not_a_panic() {
        let store = store();
        store
            .lock()
            .execute(
                "INSERT INTO settings (key, value) VALUES ('test.flag', 'yes please')",
                [],
            )
            .expect("insert");
        let err = store.get(&FLAG).expect_err("not a bool");
        assert!(
            matches!(err, StoreError::Corrupt { table: "settings", ref detail } if detail.contains("test.flag")),
            "{err:?}"
        );
    }
}
