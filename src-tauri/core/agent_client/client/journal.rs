//! Reading a coding agent's journal: the output of an `acp` stream kept on the workspace's
//! disk, which outlives the agent that wrote it (see the agent protocol's `journal_read`).

use sam_protocol::MAX_READ;
use sam_protocol::message::request::{JournalDrop, JournalRead};
use sam_protocol::message::{ErrorCode, Reply, Request};

use super::{AgentClient, unexpected};
use crate::agent_client::AgentError;

impl AgentClient {
    /// The journal of stream `stream` of `epoch` from `offset` to its end. `None` when there
    /// is no such journal.
    pub async fn journal_tail(
        &self,
        epoch: &str,
        stream: u32,
        offset: u64,
    ) -> Result<Option<Vec<u8>>, AgentError> {
        use base64::Engine;
        let mut bytes = Vec::new();
        loop {
            let read = JournalRead {
                epoch: epoch.to_owned(),
                stream,
                offset: offset + bytes.len() as u64,
                length: MAX_READ,
            };
            match self.idempotent(Request::JournalRead(read)).await {
                Ok(Reply::FsData { data, eof, .. }) => {
                    let chunk = base64::engine::general_purpose::STANDARD
                        .decode(data)
                        .map_err(|err| {
                            AgentError::Protocol(format!("fs_data is not base64: {err}"))
                        })?;
                    bytes.extend_from_slice(&chunk);
                    if eof || chunk.is_empty() {
                        return Ok(Some(bytes));
                    }
                }
                Ok(other) => return Err(unexpected(&other)),
                Err(AgentError::Remote {
                    code: ErrorCode::NotFound,
                    ..
                }) => {
                    return Ok(None);
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Removes the journal of stream `stream` of `epoch` (one that is gone already is fine).
    pub async fn journal_drop(&self, epoch: &str, stream: u32) -> Result<(), AgentError> {
        let drop = JournalDrop {
            epoch: epoch.to_owned(),
            stream,
        };
        match self.idempotent(Request::JournalDrop(drop)).await {
            Ok(Reply::Ok) => Ok(()),
            Ok(other) => Err(unexpected(&other)),
            Err(AgentError::Remote {
                code: ErrorCode::NotFound,
                ..
            }) => Ok(()),
            Err(err) => Err(err),
        }
    }
}
