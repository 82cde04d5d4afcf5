//! Files on one connection: listing folders, describing paths and reading files beneath the
//! workspace root. File-system calls block, so each runs off the async threads and answers
//! from a task of its own.

use std::sync::Arc;

use base64::Engine;
use sam_protocol::message::request::{FsList, FsRead, FsStat};
use sam_protocol::message::{ErrorCode, Reply};

use super::{Answer, Session};
use crate::agent::{Agent, Failure};
use crate::files::FsError;

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

    /// Runs a file-system call off the async threads and sends its answer.
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
