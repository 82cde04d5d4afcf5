//! Running a job to its end: started, followed from its first byte, its output handed over line
//! by line as it comes, its stream closed.

use std::collections::BTreeMap;

use sam_protocol::message::ExitStatus;

use super::{AgentClient, StreamEvent};
use crate::agent_client::AgentError;

/// A job that ran to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRun {
    /// How it ended.
    pub status: ExitStatus,
    /// Everything it printed (invalid UTF-8 replaced).
    pub output: String,
}

impl AgentClient {
    /// Runs `command` as a job (in `cwd`, relative to the workspace root, with `env`) until it
    /// ends, handing each line of its output to `on_line` without its line end (the last one
    /// also when unterminated). `None` when the agent restarted before the job ended.
    pub async fn run_to_end(
        &self,
        command: Vec<String>,
        cwd: Option<String>,
        env: BTreeMap<String, String>,
        on_line: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Option<JobRun>, AgentError> {
        let info = self.run_job(command, cwd, env).await?;
        let (mut handle, _) = self.attach(info.stream, 0).await?;
        let mut output = Vec::new();
        let mut unread = 0;
        let status = loop {
            match handle.next().await {
                Some(StreamEvent::Output { bytes, .. }) => {
                    output.extend_from_slice(&bytes);
                    while let Some(end) = output[unread..].iter().position(|b| *b == b'\n') {
                        let line = &output[unread..unread + end];
                        on_line(String::from_utf8_lossy(line).trim_end_matches('\r'));
                        unread += end + 1;
                    }
                }
                Some(StreamEvent::Exit(status)) => break status,
                Some(StreamEvent::Gap { .. }) => {}
                Some(StreamEvent::Reset) | None => return Ok(None),
            }
        };
        if unread < output.len() {
            on_line(&String::from_utf8_lossy(&output[unread..]));
        }
        let _ = self.close_stream(info.stream).await;
        Ok(Some(JobRun {
            status,
            output: String::from_utf8_lossy(&output).into_owned(),
        }))
    }
}
