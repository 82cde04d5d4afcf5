//! Writing files in the workspace: staged beside the target, then put in place in one step.
//!
//! A write is a [`Staged`] file: a hidden sibling of the target (`.NAME.sam-N.tmp`) that takes
//! the bytes in order, chunk by chunk, and on [`Staged::commit`] is synced and renamed over the
//! target, so a reader sees the old file or the new one, never a part. The new file keeps the
//! old one's permissions and owner; a file that did not exist belongs to the workspace's user
//! (when the agent runs as another, as on a server) with mode 0644, and so do folders created
//! on the way. A staged file that is dropped before its commit is removed.

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use cap_std::fs::{Dir, File, MetadataExt, OpenOptions, Permissions, PermissionsExt};
use sam_protocol::message::ErrorCode;

use super::{Files, FsError, fs_error, io_error, relative};

/// Numbers staged files, so two writes of one path never share a sibling.
static NEXT: AtomicU64 = AtomicU64::new(0);

/// A write in progress.
#[derive(Debug)]
pub struct Staged {
    /// The target's folder.
    dir: Dir,
    /// The target's name in it.
    name: OsString,
    /// The sibling's name in it.
    temp: OsString,
    file: Option<File>,
    written: u64,
    /// The owner the file gets, when it is not the agent's own user.
    owner: Option<(u32, u32)>,
    mode: u32,
    /// The path as the client gave it, for messages.
    path: String,
}

impl Files {
    /// Starts a write of `path`, creating the folders it needs. The target must be a regular
    /// file or absent: a folder or a symbolic link is refused.
    pub fn begin_write(&self, path: &str) -> Result<Staged, FsError> {
        let rel = relative(path)?;
        let Some(name) = rel.file_name() else {
            return Err(fs_error(
                ErrorCode::InvalidArgument,
                format!("{path:?} names no file"),
            ));
        };
        let parent = rel.parent().filter(|p| !p.as_os_str().is_empty());
        let dir = match parent {
            Some(parent) => self.make_dirs(path, parent)?,
            None => self.root.try_clone().map_err(|err| io_error(path, &err))?,
        };
        let (owner, mode) = match dir.symlink_metadata(name) {
            Ok(meta) if meta.is_file() => (Some((meta.uid(), meta.gid())), meta.mode() & 0o7777),
            Ok(meta) if meta.is_dir() => {
                return Err(fs_error(
                    ErrorCode::InvalidArgument,
                    format!("{path:?} is a folder"),
                ));
            }
            Ok(_) => {
                return Err(fs_error(
                    ErrorCode::InvalidArgument,
                    format!(
                        "{path:?} is not a regular file (a link or a device); write what it points to"
                    ),
                ));
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => (self.owner, 0o644),
            Err(err) => return Err(io_error(path, &err)),
        };
        let mut temp = OsString::from(".");
        temp.push(name);
        temp.push(format!(
            ".sam-{}-{}.tmp",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let file = dir
            .open_with(&temp, OpenOptions::new().write(true).create_new(true))
            .map_err(|err| io_error(path, &err))?;
        Ok(Staged {
            dir,
            name: name.to_owned(),
            temp,
            file: Some(file),
            written: 0,
            owner: owner.filter(|&(uid, _)| uid != nix::unistd::geteuid().as_raw()),
            mode,
            path: path.to_owned(),
        })
    }

    /// Opens `parent` beneath the root, creating what is missing, owned by the workspace's user.
    fn make_dirs(&self, path: &str, parent: &Path) -> Result<Dir, FsError> {
        let mut dir = self.root.try_clone().map_err(|err| io_error(path, &err))?;
        for component in parent.components() {
            let created = match dir.create_dir(component) {
                Ok(()) => true,
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => false,
                Err(err) => return Err(io_error(path, &err)),
            };
            dir = dir
                .open_dir(component)
                .map_err(|err| io_error(path, &err))?;
            if let (true, Some((uid, gid))) = (created, self.owner) {
                let handle = dir.try_clone().map_err(|err| io_error(path, &err))?;
                std::os::unix::fs::fchown(handle.into_std_file(), Some(uid), Some(gid))
                    .map_err(|err| io_error(path, &err))?;
            }
        }
        Ok(dir)
    }
}

impl Staged {
    /// Bytes taken so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Appends the next chunk.
    pub fn append(&mut self, bytes: &[u8]) -> Result<(), FsError> {
        let Some(file) = self.file.as_mut() else {
            return Err(abandoned(&self.path));
        };
        file.write_all(bytes)
            .map_err(|err| io_error(&self.path, &err))?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Syncs the staged file and puts it in the target's place; answers its size.
    pub fn commit(mut self) -> Result<u64, FsError> {
        let file = self.file.take().ok_or_else(|| abandoned(&self.path))?;
        let path = self.path.clone();
        let fail = |err: std::io::Error| io_error(&path, &err);
        file.set_permissions(Permissions::from_mode(self.mode))
            .map_err(fail)?;
        let file = file.into_std();
        if let Some((uid, gid)) = self.owner {
            std::os::unix::fs::fchown(&file, Some(uid), Some(gid)).map_err(fail)?;
        }
        file.sync_all().map_err(fail)?;
        drop(file);
        self.dir
            .rename(&self.temp, &self.dir, &self.name)
            .map_err(fail)?;
        // The rename is durable once the folder is.
        if let Ok(dir) = self.dir.try_clone() {
            let _ = dir.into_std_file().sync_all();
        }
        self.temp.clear();
        Ok(self.written)
    }
}

fn abandoned(path: &str) -> FsError {
    fs_error(ErrorCode::Io, format!("{path:?}: the write was abandoned"))
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.temp.is_empty() {
            let _ = self.dir.remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};

    fn root() -> (tempfile::TempDir, Files) {
        let root = tempfile::tempdir().expect("root");
        let files = Files::open(root.path()).expect("open");
        (root, files)
    }

    #[test]
    fn a_write_lands_whole_in_one_rename_and_keeps_the_mode() {
        let (root, files) = root();
        let target = root.path().join("run.sh");
        std::fs::write(&target, "old").expect("write");
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o750)).expect("chmod");
        let mut staged = files.begin_write("run.sh").expect("begin");
        staged.append(b"#!/bin/sh\n").expect("append");
        assert_eq!(std::fs::read(&target).expect("read"), b"old", "not yet");
        staged.append(b"echo hi\n").expect("append");
        assert_eq!(staged.commit().expect("commit"), 18);
        assert_eq!(
            std::fs::read(&target).expect("read"),
            b"#!/bin/sh\necho hi\n"
        );
        let mode = std::fs::metadata(&target).expect("meta").mode() & 0o7777;
        assert_eq!(mode, 0o750);
        let names: Vec<_> = std::fs::read_dir(root.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["run.sh"], "no staged sibling is left");
    }

    #[test]
    fn new_files_get_their_folders_and_abandoned_writes_leave_nothing() {
        let (root, files) = root();
        let mut staged = files.begin_write("src/new/mod.rs").expect("begin");
        staged.append(b"pub fn f() {}\n").expect("append");
        staged.commit().expect("commit");
        let meta = std::fs::metadata(root.path().join("src/new/mod.rs")).expect("meta");
        assert_eq!(meta.mode() & 0o7777, 0o644);

        let mut abandoned = files.begin_write("src/gone.rs").expect("begin");
        abandoned.append(b"half").expect("append");
        drop(abandoned);
        let names: Vec<_> = std::fs::read_dir(root.path().join("src"))
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["new"]);
    }

    #[test]
    fn folders_links_and_escapes_are_refused() {
        let (root, files) = root();
        let outside = tempfile::tempdir().expect("outside");
        std::fs::create_dir(root.path().join("dir")).expect("mkdir");
        std::os::unix::fs::symlink(outside.path(), root.path().join("out")).expect("link");
        std::os::unix::fs::symlink("dir", root.path().join("link")).expect("link");
        for (path, code) in [
            ("dir", ErrorCode::InvalidArgument),
            ("link", ErrorCode::InvalidArgument),
            ("", ErrorCode::InvalidArgument),
            ("../x", ErrorCode::PathOutsideWorkspace),
            ("/etc/x", ErrorCode::PathOutsideWorkspace),
            ("out/x", ErrorCode::PathOutsideWorkspace),
        ] {
            let err = files.begin_write(path).expect_err(path);
            assert_eq!(err.code, code, "{path}: {}", err.message);
        }
        assert_eq!(
            std::fs::read_dir(outside.path()).expect("ls").count(),
            0,
            "nothing was written outside"
        );
    }
}
