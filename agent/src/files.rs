//! Files in the workspace, confined to its root.
//!
//! Paths are relative to the workspace root. Absolute paths and `..` components are refused up
//! front with a clear error; everything else is resolved by `cap-std` beneath the root folder's
//! handle (with `openat2(RESOLVE_BENEATH)` where the kernel has it), so a symlink that points
//! outside cannot be followed — not even if it is swapped in between a check and a use.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, Metadata};
use sam_protocol::message::{ErrorCode, FsEntry, FsKind};

mod write;

pub use write::Staged;

/// The largest single read.
pub const MAX_READ: u64 = sam_protocol::MAX_READ;

/// A refused or failed file operation.
#[derive(Debug, PartialEq, Eq)]
pub struct FsError {
    /// For the protocol.
    pub code: ErrorCode,
    /// For people.
    pub message: String,
}

fn fs_error(code: ErrorCode, message: impl Into<String>) -> FsError {
    FsError {
        code,
        message: message.into(),
    }
}

/// The workspace's files.
#[derive(Debug)]
pub struct Files {
    root: Dir,
    root_path: PathBuf,
    /// The user (uid, gid) new files and folders belong to, when the agent runs as another.
    owner: Option<(u32, u32)>,
}

impl Files {
    /// Opens the workspace root.
    pub fn open(root: &Path) -> std::io::Result<Self> {
        Ok(Self {
            root: Dir::open_ambient_dir(root, ambient_authority())?,
            root_path: root.to_path_buf(),
            owner: None,
        })
    }

    /// New files and folders will belong to this user and group.
    #[must_use]
    pub fn owned_by(mut self, uid: u32, gid: u32) -> Self {
        self.owner = Some((uid, gid));
        self
    }

    /// The entries of a folder, sorted by name.
    pub fn list(&self, path: &str) -> Result<Vec<FsEntry>, FsError> {
        let rel = relative(path)?;
        let dir = self
            .root
            .open_dir(rel)
            .map_err(|err| io_error(path, &err))?;
        let mut entries = Vec::new();
        for entry in dir.entries().map_err(|err| io_error(path, &err))? {
            let entry = entry.map_err(|err| io_error(path, &err))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let metadata = entry.metadata().map_err(|err| io_error(&name, &err))?;
            entries.push(describe(name, &metadata));
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// One path's description (symlinks are described, not followed).
    pub fn stat(&self, path: &str) -> Result<FsEntry, FsError> {
        let rel = relative(path)?;
        let metadata = self
            .root
            .symlink_metadata(rel)
            .map_err(|err| io_error(path, &err))?;
        let name = rel
            .file_name()
            .map_or_else(|| ".".to_owned(), |n| n.to_string_lossy().into_owned());
        Ok(describe(name, &metadata))
    }

    /// Up to `length` bytes from `offset`; the flag says whether the file ends there.
    pub fn read(&self, path: &str, offset: u64, length: u64) -> Result<(Vec<u8>, bool), FsError> {
        if length > MAX_READ {
            return Err(fs_error(
                ErrorCode::TooLarge,
                format!("reads are limited to {MAX_READ} bytes"),
            ));
        }
        let rel = relative(path)?;
        let mut file = self.root.open(rel).map_err(|err| io_error(path, &err))?;
        let size = file.metadata().map_err(|err| io_error(path, &err))?.len();
        file.seek(SeekFrom::Start(offset))
            .map_err(|err| io_error(path, &err))?;
        let mut data = Vec::new();
        file.take(length)
            .read_to_end(&mut data)
            .map_err(|err| io_error(path, &err))?;
        let eof = offset + data.len() as u64 >= size;
        Ok((data, eof))
    }

    /// The absolute folder for a process's working directory, checked to be inside the root.
    pub fn working_dir(&self, path: Option<&str>) -> Result<PathBuf, FsError> {
        let Some(path) = path else {
            return Ok(self.root_path.clone());
        };
        let rel = relative(path)?;
        // Opening it beneath the root proves it is a folder inside the workspace.
        self.root
            .open_dir(rel)
            .map_err(|err| io_error(path, &err))?;
        Ok(self.root_path.join(rel))
    }
}

/// Validates a client path: relative, no `..`, no NUL.
fn relative(path: &str) -> Result<&Path, FsError> {
    if path.contains('\0') {
        return Err(fs_error(
            ErrorCode::InvalidArgument,
            "paths cannot contain NUL",
        ));
    }
    let rel = Path::new(if path.is_empty() { "." } else { path });
    for component in rel.components() {
        match component {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => {
                return Err(fs_error(
                    ErrorCode::PathOutsideWorkspace,
                    format!("{path:?}: `..` is not allowed"),
                ));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(fs_error(
                    ErrorCode::PathOutsideWorkspace,
                    format!("{path:?}: paths are relative to the workspace root"),
                ));
            }
        }
    }
    Ok(rel)
}

fn io_error(path: &str, err: &std::io::Error) -> FsError {
    use std::io::ErrorKind;
    let escaped = err.raw_os_error() == Some(nix::libc::EXDEV)
        || (err.kind() == ErrorKind::PermissionDenied && err.to_string().contains("outside"));
    if escaped {
        return fs_error(
            ErrorCode::PathOutsideWorkspace,
            format!("{path:?} leads outside the workspace"),
        );
    }
    match err.kind() {
        ErrorKind::NotFound => fs_error(ErrorCode::NotFound, format!("{path:?} does not exist")),
        _ => fs_error(ErrorCode::Io, format!("{path:?}: {err}")),
    }
}

fn describe(name: String, metadata: &Metadata) -> FsEntry {
    let kind = if metadata.is_symlink() {
        FsKind::Symlink
    } else if metadata.is_dir() {
        FsKind::Dir
    } else if metadata.is_file() {
        FsKind::File
    } else {
        FsKind::Other
    };
    let modified_ms = metadata
        .modified()
        .ok()
        .and_then(|time| time.into_std().duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_millis()).ok());
    FsEntry {
        name,
        kind,
        size: metadata.len(),
        modified_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace() -> (tempfile::TempDir, Files, tempfile::TempDir) {
        let root = tempfile::tempdir().expect("root");
        let outside = tempfile::tempdir().expect("outside");
        std::fs::write(outside.path().join("secret"), "outside data").expect("write");
        std::fs::create_dir(root.path().join("src")).expect("mkdir");
        std::fs::write(root.path().join("src/main.rs"), "fn main() {}\n").expect("write");
        std::os::unix::fs::symlink(outside.path().join("secret"), root.path().join("escape"))
            .expect("link");
        std::os::unix::fs::symlink(outside.path(), root.path().join("escape-dir")).expect("link");
        std::os::unix::fs::symlink("src/main.rs", root.path().join("inside-link")).expect("link");
        let files = Files::open(root.path()).expect("open");
        (root, files, outside)
    }

    #[test]
    fn lists_stats_and_reads_inside_the_root() {
        let (_root, files, _outside) = workspace();
        let names: Vec<_> = files
            .list("")
            .expect("list")
            .into_iter()
            .map(|e| (e.name, e.kind))
            .collect();
        assert_eq!(
            names,
            [
                ("escape".to_owned(), FsKind::Symlink),
                ("escape-dir".to_owned(), FsKind::Symlink),
                ("inside-link".to_owned(), FsKind::Symlink),
                ("src".to_owned(), FsKind::Dir),
            ]
        );
        assert_eq!(files.stat("src/main.rs").expect("stat").size, 13);
        assert_eq!(
            files.read("src/main.rs", 3, 4).expect("read"),
            (b"main".to_vec(), false)
        );
        assert!(files.read("src/main.rs", 3, 100).expect("read").1);
        assert_eq!(files.read("inside-link", 0, 2).expect("read").0, b"fn");
    }

    #[test]
    fn escapes_are_refused() {
        let (_root, files, _outside) = workspace();
        for path in [
            "../x",
            "src/../../x",
            "/etc/passwd",
            "escape",
            "escape-dir/secret",
        ] {
            let err = files.read(path, 0, 10).expect_err(path);
            assert_eq!(
                err.code,
                ErrorCode::PathOutsideWorkspace,
                "{path}: {}",
                err.message
            );
        }
        assert_eq!(
            files.list("escape-dir").expect_err("dir").code,
            ErrorCode::PathOutsideWorkspace
        );
        assert_eq!(
            files.working_dir(Some("escape-dir")).expect_err("cwd").code,
            ErrorCode::PathOutsideWorkspace
        );
    }

    #[test]
    fn missing_files_and_big_reads_have_their_own_codes() {
        let (_root, files, _outside) = workspace();
        assert_eq!(
            files.stat("nope").expect_err("missing").code,
            ErrorCode::NotFound
        );
        assert_eq!(
            files
                .read("src/main.rs", 0, MAX_READ + 1)
                .expect_err("big")
                .code,
            ErrorCode::TooLarge
        );
        assert_eq!(
            files.read("a\0b", 0, 1).expect_err("nul").code,
            ErrorCode::InvalidArgument
        );
    }
}
