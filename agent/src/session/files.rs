//! Files on one connection: listing folders, describing paths, reading and writing files
//! beneath the workspace root. File-system calls block, so each runs off the async threads and
//! answers from a task of its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use sam_protocol::message::request::{FsList, FsRead, FsStat, FsWrite, JournalDrop, JournalRead};
use sam_protocol::message::{ErrorCode, Reply};
use sam_protocol::{MAX_READ, MAX_WRITE};

use super::{Answer, Session};
use crate::agent::{Agent, Failure};
use crate::files::{FsError, Staged};

/// The connection's unfinished writes, by path. Dropped with the connection, which removes
/// what they staged.
pub(super) type Writes = Arc<Mutex<HashMap<String, Staged>>>;

impl Session {
    pub(super) fn fs_list(&mut self, FsList { path }: FsList, answer: Answer) {
        self.blocking(answer, move |agent| {
            let entries = agent.files.list(&path)?;
            Ok(Reply::FsEntries { entries })
        });
    }

    pub(super) fn fs_stat(&mut self, FsStat { path }: FsStat, answer: Answer) {
        self.blocking(answer, move |agent| {
            let entry = agent.files.stat(&path)?;
            Ok(Reply::FsStat { entry })
        });
    }

    pub(super) fn fs_read(&mut self, read: FsRead, answer: Answer) {
        let FsRead {
            path,
            offset,
            length,
        } = read;
        self.blocking(answer, move |agent| {
            let (data, eof) = agent.files.read(&path, offset, length)?;
            let data = base64::engine::general_purpose::STANDARD.encode(data);
            Ok(Reply::FsData { offset, data, eof })
        });
    }

    pub(super) fn fs_write(&mut self, write: FsWrite, answer: Answer) {
        let writes = Arc::clone(&self.writes);
        self.blocking(answer, move |agent| {
            let FsWrite {
                path,
                offset,
                data,
                last,
            } = write;
            // base64 of MAX_WRITE bytes is at most this long; refuse before decoding more.
            if data.len() as u64 > MAX_WRITE.div_ceil(3) * 4 {
                return Err(refused(
                    ErrorCode::TooLarge,
                    format!("a write chunk carries at most {MAX_WRITE} bytes"),
                ));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(&data)
                .map_err(|err| {
                    refused(
                        ErrorCode::InvalidArgument,
                        format!("`data` is not base64: {err}"),
                    )
                })?;
            if bytes.len() as u64 > MAX_WRITE {
                return Err(refused(
                    ErrorCode::TooLarge,
                    format!("a write chunk carries at most {MAX_WRITE} bytes"),
                ));
            }
            let mut writes = writes.lock().unwrap_or_else(|e| e.into_inner());
            let mut staged = if offset == 0 {
                writes.remove(&path);
                agent.files.begin_write(&path)?
            } else {
                let staged = writes.remove(&path).ok_or_else(|| {
                    refused(
                        ErrorCode::InvalidOffset,
                        format!("{path:?}: no write was started (send offset 0 first)"),
                    )
                })?;
                if staged.written() != offset {
                    return Err(refused(
                        ErrorCode::InvalidOffset,
                        format!(
                            "{path:?}: the next chunk starts at {}, not {offset}; the write was dropped",
                            staged.written()
                        ),
                    ));
                }
                staged
            };
            staged.append(&bytes)?;
            if last {
                let size = staged.commit()?;
                return Ok(Reply::FsWritten { size, done: true });
            }
            let size = staged.written();
            writes.insert(path, staged);
            Ok(Reply::FsWritten { size, done: false })
        });
    }

    /// Runs a file-system call off the async threads and sends its answer.
    pub(super) fn journal_read(&mut self, read: JournalRead, answer: Answer) {
        let JournalRead {
            epoch,
            stream,
            offset,
            length,
        } = read;
        self.blocking(answer, move |agent| {
            if length > MAX_READ {
                return Err(refused(
                    ErrorCode::TooLarge,
                    format!("reads are limited to {MAX_READ} bytes"),
                ));
            }
            let (data, eof) = agent.journals.read(&epoch, stream, offset, length)?;
            let data = base64::engine::general_purpose::STANDARD.encode(data);
            Ok(Reply::FsData { offset, data, eof })
        });
    }

    pub(super) fn journal_drop(
        &mut self,
        JournalDrop { epoch, stream }: JournalDrop,
        answer: Answer,
    ) {
        self.blocking(answer, move |agent| {
            agent.journals.remove(&epoch, stream)?;
            Ok(Reply::Ok)
        });
    }

    fn blocking<F>(&self, answer: Answer, call: F)
    where
        F: FnOnce(&Agent) -> Result<Reply, FsError> + Send + 'static,
    {
        let agent = Arc::clone(&self.agent);
        tokio::spawn(async move {
            let reply = match tokio::task::spawn_blocking(move || call(&agent)).await {
                Ok(result) => result.map_err(Failure::from),
                Err(err) => Err(Failure::new(
                    ErrorCode::Internal,
                    format!("file task failed: {err}"),
                )),
            };
            answer.send(reply).await;
        });
    }
}

fn refused(code: ErrorCode, message: String) -> FsError {
    FsError { code, message }
}
