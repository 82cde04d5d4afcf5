//! Where SAM keeps its files on this computer.
//!
//! By default the platform's folders (on Linux `$XDG_DATA_HOME/sam-desktop` for data and
//! `$XDG_STATE_HOME/sam-desktop/logs` for logs). `SAM_DATA_DIR` moves everything — data and
//! logs — under one folder, which is what tests and portable installs use.

use std::path::{Path, PathBuf};

use crate::error::SamError;

/// The environment variable that overrides the data folder.
pub const DATA_DIR_ENV: &str = "SAM_DATA_DIR";

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

    /// The folders for this process: `SAM_DATA_DIR` when set, the platform's otherwise.
    pub fn from_env() -> Result<Self, SamError> {
        match std::env::var_os(DATA_DIR_ENV) {
            Some(dir) if dir.is_empty() => Err(SamError::configuration(
                format!("{DATA_DIR_ENV} is set but empty."),
                format!(
                    "Unset {DATA_DIR_ENV}, or set it to the folder SAM should keep its data in."
                ),
            )),
            Some(dir) => Ok(Self::under(absolute(Path::new(&dir))?)),
            None => Self::platform(),
        }
    }

    /// The platform's conventional folders.
    fn platform() -> Result<Self, SamError> {
        let dirs = directories::ProjectDirs::from("dev", "Simple Agent Manager", "sam-desktop")
            .ok_or_else(|| {
                SamError::configuration(
                    "SAM could not find your home folder to keep its data in.",
                    format!("Set HOME, or set {DATA_DIR_ENV} to a folder SAM may write to."),
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

fn absolute(path: &Path) -> Result<PathBuf, SamError> {
    std::path::absolute(path).map_err(|err| {
        SamError::configuration(
            format!(
                "{DATA_DIR_ENV} ({}) is not a usable path: {err}.",
                path.display()
            ),
            format!("Set {DATA_DIR_ENV} to an absolute folder path."),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_puts_logs_inside_the_data_folder() {
        let paths = AppPaths::under("/tmp/sam-x");
        assert_eq!(paths.log_dir, Path::new("/tmp/sam-x/logs"));
        assert_eq!(paths.database(), Path::new("/tmp/sam-x/sam.sqlite3"));
    }
}
