//! Where SAM keeps its files on this computer.
//!
//! By default the platform's folders (on Linux `$XDG_DATA_HOME/sam-desktop` for data and
//! `$XDG_STATE_HOME/sam-desktop/logs` for logs). `SAM_DATA_DIR` moves everything — data and
//! logs — under one folder, which is what tests and portable installs use.

use std::path::PathBuf;

use crate::config::{Config, vars};
use crate::error::SamError;

/// The folders SAM writes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppPaths {
    /// SQLite database and other durable state.
    pub data_dir: PathBuf,
    /// Rotated log files.
    pub log_dir: PathBuf,
}

impl AppPaths {
    /// Everything under one folder: `dir` for data, `dir/logs` for logs.
    pub fn under(dir: impl Into<PathBuf>) -> Self {
        let data_dir = dir.into();
        Self {
            log_dir: data_dir.join("logs"),
            data_dir,
        }
    }

    /// The folders for this process: `SAM_DATA_DIR` when set (see [`Config`]), the platform's
    /// otherwise.
    pub fn for_config(config: &Config) -> Result<Self, SamError> {
        match &config.data_dir {
            Some(dir) => Ok(Self::under(dir.clone())),
            None => Self::platform(),
        }
    }

    /// The platform's conventional folders.
    fn platform() -> Result<Self, SamError> {
        let dirs = directories::ProjectDirs::from("dev", "Simple Agent Manager", "sam-desktop")
            .ok_or_else(|| {
                SamError::configuration(
                    "SAM could not find your home folder to keep its data in.",
                    format!(
                        "Set HOME, or set {} to a folder SAM may write to.",
                        vars::DATA_DIR
                    ),
                )
            })?;
        let data_dir = dirs.data_local_dir().to_path_buf();
        let log_dir = match dirs.state_dir() {
            Some(state) => state.join("logs"),
            None => data_dir.join("logs"),
        };
        Ok(Self { data_dir, log_dir })
    }

    /// The SQLite database file.
    pub fn database(&self) -> PathBuf {
        self.data_dir.join("sam.sqlite3")
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn under_puts_logs_inside_the_data_folder() {
        let paths = AppPaths::under("/tmp/sam-x");
        assert_eq!(paths.log_dir, Path::new("/tmp/sam-x/logs"));
        assert_eq!(paths.database(), Path::new("/tmp/sam-x/sam.sqlite3"));
    }
}
