//! `fs/read_text_file` and `fs/write_text_file`: a coding agent reads and writes files of the
//! workspace through the workspace agent's confined file API (never outside the repository; at
//! most `MAX_READ` bytes read, at most `MAX_TEXT_WRITE` written, a write landing whole or not
//! at all, as the workspace's user).

use agent_client_protocol_schema::v1::{
    ReadTextFileRequest, ReadTextFileResponse, WriteTextFileRequest, WriteTextFileResponse,
};
use sam_protocol::MAX_READ;
use serde_json::Value;

use super::wire::{self, INTERNAL_ERROR, INVALID_PARAMS};
use crate::agent_client::{AgentClient, StreamInput};

/// The largest text a coding agent may write in one `fs/write_text_file`.
pub(super) const MAX_TEXT_WRITE: usize = 16 * 1024 * 1024;

/// Where a coding agent's file requests go: the workspace's agent, and the folder that the
/// coding agent's absolute paths must lie in.
#[derive(Debug, Clone)]
pub(super) struct Files {
    pub(super) client: AgentClient,
    pub(super) root: String,
}

impl Files {
    /// Answers one `fs/read_text_file` request, on a task of its own.
    pub(super) fn read(&self, input: &StreamInput, id: Value, params: Value) {
        let files = self.clone();
        answer_on_task(input, id, async move { files.read_text(params).await });
    }

    /// Answers one `fs/write_text_file` request, on a task of its own.
    pub(super) fn write(&self, input: &StreamInput, id: Value, params: Value) {
        let files = self.clone();
        answer_on_task(input, id, async move { files.write_text(params).await });
    }

    async fn write_text(&self, params: Value) -> Result<WriteTextFileResponse, (i64, String)> {
        let request: WriteTextFileRequest =
            serde_json::from_value(params).map_err(|err| (INVALID_PARAMS, err.to_string()))?;
        let path = request.path.to_string_lossy().into_owned();
        let relative = self.relative(&path)?;
        if request.content.len() > MAX_TEXT_WRITE {
            return Err((
                INVALID_PARAMS,
                format!(
                    "{path}: {} bytes is more than SAM writes for a coding agent ({MAX_TEXT_WRITE})",
                    request.content.len()
                ),
            ));
        }
        self.client
            .fs_write(&relative, request.content.as_bytes())
            .await
            .map_err(|err| (INTERNAL_ERROR, err.to_string()))?;
        Ok(WriteTextFileResponse::new())
    }

    /// A coding agent's absolute `path` as the workspace agent's relative one, or the refusal.
    fn relative(&self, path: &str) -> Result<String, (i64, String)> {
        inside(&self.root, path).ok_or_else(|| {
            (
                INVALID_PARAMS,
                format!("{path} is outside the workspace ({})", self.root),
            )
        })
    }

    async fn read_text(&self, params: Value) -> Result<ReadTextFileResponse, (i64, String)> {
        let request: ReadTextFileRequest =
            serde_json::from_value(params).map_err(|err| (INVALID_PARAMS, err.to_string()))?;
        let path = request.path.to_string_lossy().into_owned();
        let relative = self.relative(&path)?;
        let (bytes, eof) = self
            .client
            .fs_read(&relative, 0, MAX_READ)
            .await
            .map_err(|err| (INTERNAL_ERROR, err.to_string()))?;
        if !eof {
            return Err((
                INTERNAL_ERROR,
                format!("{path} is larger than {MAX_READ} bytes"),
            ));
        }
        let text = String::from_utf8(bytes)
            .map_err(|_| (INTERNAL_ERROR, format!("{path} is not text")))?;
        Ok(ReadTextFileResponse::new(lines(
            &text,
            request.line,
            request.limit,
        )))
    }
}

/// Runs `work` on a task of its own and answers request `id` with its result or refusal.
fn answer_on_task<R, F>(input: &StreamInput, id: Value, work: F)
where
    R: serde::Serialize,
    F: Future<Output = Result<R, (i64, String)>> + Send + 'static,
{
    let input = input.clone();
    tokio::spawn(async move {
        match work.await {
            Ok(response) => {
                let result = serde_json::to_value(response).unwrap_or(Value::Null);
                wire::respond(&input, &id, &result);
            }
            Err((code, message)) => wire::refuse(&input, &id, code, &message),
        }
    });
}

/// `path` relative to `root`, when it lies inside it (the agent confines it again).
pub fn inside(root: &str, path: &str) -> Option<String> {
    let root = root.trim_end_matches('/');
    let rest = path.strip_prefix(root)?;
    if rest.is_empty() {
        return Some(String::new());
    }
    rest.strip_prefix('/').map(str::to_owned)
}

/// The lines from `line` (1-based) on, at most `limit` of them.
fn lines(text: &str, line: Option<u32>, limit: Option<u32>) -> String {
    if line.is_none() && limit.is_none() {
        return text.to_owned();
    }
    let skip = line.map_or(0, |l| l.saturating_sub(1) as usize);
    let take = limit.map_or(usize::MAX, |l| l as usize);
    text.split_inclusive('\n').skip(skip).take(take).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_range_is_cut_by_lines() {
        let text = "a\nb\nc\nd";
        assert_eq!(lines(text, None, None), text);
        assert_eq!(lines(text, Some(2), Some(2)), "b\nc\n");
        assert_eq!(lines(text, Some(4), None), "d");
        assert_eq!(lines(text, Some(9), None), "");
    }
}
