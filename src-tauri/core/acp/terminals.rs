//! `terminal/*`: a coding agent's commands run as jobs of the workspace's agent (as the
//! workspace's user, in the repository), and their output is read back from the job's stream.
//! A terminal's id names its stream (`sam-<stream>`), so a connection that takes a session over
//! (the app after a restart) can still answer for terminals an earlier one created.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use agent_client_protocol_schema::v1::{
    CLIENT_METHOD_NAMES, CreateTerminalRequest, CreateTerminalResponse, KillTerminalRequest,
    ReleaseTerminalRequest, TerminalExitStatus, TerminalId, TerminalOutputRequest,
    TerminalOutputResponse, WaitForTerminalExitRequest, WaitForTerminalExitResponse,
};
use sam_protocol::message::ExitStatus;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::files::inside;
use super::wire::{self, INTERNAL_ERROR, INVALID_PARAMS};
use crate::agent_client::{AgentClient, StreamEvent, StreamInput};

/// How often `terminal/wait_for_exit` looks whether the command ended.
const EXIT_POLL: Duration = Duration::from_millis(200);
/// The output kept when the coding agent names no limit.
const DEFAULT_LIMIT: u64 = 1024 * 1024;

type Failure = (i64, String);

/// Where a coding agent's terminals run: the workspace's agent, and the folder its absolute
/// paths must lie in.
#[derive(Debug, Clone)]
pub(super) struct Terminals {
    client: AgentClient,
    root: String,
    /// Per terminal: the output limit asked at creation, and the output of one killed (its
    /// stream is gone). The lock also keeps two reads of one stream apart (an attachment
    /// replaces another on the same connection).
    state: Arc<tokio::sync::Mutex<HashMap<u32, Term>>>,
    /// Ports of the workspace's loopback addresses the commands printed, not taken yet.
    printed: Arc<std::sync::Mutex<BTreeSet<u16>>>,
}

#[derive(Debug, Default)]
struct Term {
    limit: Option<u64>,
    killed: Option<TerminalOutputResponse>,
}

impl Terminals {
    pub(super) fn new(client: AgentClient, root: String) -> Self {
        Self {
            client,
            root,
            state: Arc::default(),
            printed: Arc::default(),
        }
    }

    /// The ports of loopback addresses (`http://localhost:3000`) the commands printed since
    /// the last call.
    pub(super) fn take_printed(&self) -> BTreeSet<u16> {
        std::mem::take(
            &mut self
                .printed
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    /// Whether `method` is one of ACP's terminal methods.
    pub(super) fn handles(method: &str) -> bool {
        let names = &CLIENT_METHOD_NAMES;
        [
            names.terminal_create,
            names.terminal_output,
            names.terminal_wait_for_exit,
            names.terminal_kill,
            names.terminal_release,
        ]
        .contains(&method)
    }

    /// Answers one terminal request, on a task of its own (waiting for an exit takes long).
    pub(super) fn answer(&self, input: &StreamInput, method: &str, id: Value, params: Value) {
        let (terminals, input, method) = (self.clone(), input.clone(), method.to_owned());
        tokio::spawn(async move {
            match terminals.dispatch(&method, params).await {
                Ok(result) => wire::respond(&input, &id, &result),
                Err((code, message)) => wire::refuse(&input, &id, code, &message),
            }
        });
    }

    async fn dispatch(&self, method: &str, params: Value) -> Result<Value, Failure> {
        let names = &CLIENT_METHOD_NAMES;
        if method == names.terminal_create {
            reply(self.create(parse(params)?).await)
        } else if method == names.terminal_output {
            let request: TerminalOutputRequest = parse(params)?;
            reply(self.output(&request.terminal_id).await)
        } else if method == names.terminal_wait_for_exit {
            let request: WaitForTerminalExitRequest = parse(params)?;
            reply(self.wait(&request.terminal_id).await)
        } else if method == names.terminal_kill {
            let request: KillTerminalRequest = parse(params)?;
            reply(self.kill(&request.terminal_id).await)
        } else {
            let request: ReleaseTerminalRequest = parse(params)?;
            reply(self.release(&request.terminal_id).await)
        }
    }

    async fn create(
        &self,
        request: CreateTerminalRequest,
    ) -> Result<CreateTerminalResponse, Failure> {
        let cwd = match &request.cwd {
            Some(path) => {
                let path = path.to_string_lossy();
                Some(inside(&self.root, &path).ok_or_else(|| {
                    (
                        INVALID_PARAMS,
                        format!("{path} is outside the workspace ({})", self.root),
                    )
                })?)
            }
            None => None,
        };
        let env: BTreeMap<String, String> = request
            .env
            .iter()
            .map(|var| (var.name.clone(), var.value.clone()))
            .collect();
        let command = [vec![request.command.clone()], request.args.clone()].concat();
        let info = self
            .client
            .run_job(command, cwd, env)
            .await
            .map_err(|err| (INTERNAL_ERROR, err.to_string()))?;
        self.state.lock().await.insert(
            info.stream,
            Term {
                limit: request.output_byte_limit,
                killed: None,
            },
        );
        Ok(CreateTerminalResponse::new(format!("sam-{}", info.stream)))
    }

    async fn output(&self, id: &TerminalId) -> Result<TerminalOutputResponse, Failure> {
        let stream = stream_of(id)?;
        let state = self.state.lock().await;
        let term = state.get(&stream);
        if let Some(killed) = term.and_then(|term| term.killed.clone()) {
            return Ok(killed);
        }
        let limit = term.and_then(|term| term.limit).unwrap_or(DEFAULT_LIMIT);
        let (bytes, lost, exit) = self.read(stream).await?;
        let ports = crate::terminal::local_urls::local_ports(&bytes);
        if !ports.is_empty() {
            self.printed
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .extend(ports);
        }
        let (output, cut) = last_bytes(&bytes, limit);
        Ok(TerminalOutputResponse::new(output, lost || cut).exit_status(exit.map(exit_status)))
    }

    async fn wait(&self, id: &TerminalId) -> Result<WaitForTerminalExitResponse, Failure> {
        let stream = stream_of(id)?;
        loop {
            if let Some(killed) = self
                .state
                .lock()
                .await
                .get(&stream)
                .and_then(|t| t.killed.clone())
            {
                let status = killed.exit_status.unwrap_or_default();
                return Ok(WaitForTerminalExitResponse::new(status));
            }
            if let Some(exit) = self.info(stream).await?.exit {
                return Ok(WaitForTerminalExitResponse::new(exit_status(exit)));
            }
            tokio::time::sleep(EXIT_POLL).await;
        }
    }

    async fn kill(&self, id: &TerminalId) -> Result<Value, Failure> {
        let stream = stream_of(id)?;
        let mut killed = self.output(id).await?;
        if killed.exit_status.is_none() {
            killed.exit_status = Some(TerminalExitStatus::new().signal("SIGTERM".to_owned()));
        }
        self.close(stream).await?;
        self.state.lock().await.entry(stream).or_default().killed = Some(killed);
        Ok(Value::Object(serde_json::Map::new()))
    }

    async fn release(&self, id: &TerminalId) -> Result<Value, Failure> {
        let stream = stream_of(id)?;
        if self
            .state
            .lock()
            .await
            .remove(&stream)
            .and_then(|t| t.killed)
            .is_none()
        {
            self.close(stream).await?;
        }
        Ok(Value::Object(serde_json::Map::new()))
    }

    async fn close(&self, stream: u32) -> Result<(), Failure> {
        self.client
            .close_stream(stream)
            .await
            .map_err(|err| (INTERNAL_ERROR, err.to_string()))
    }

    async fn info(&self, stream: u32) -> Result<crate::agent_client::StreamInfo, Failure> {
        let streams = self
            .client
            .list()
            .await
            .map_err(|err| (INTERNAL_ERROR, err.to_string()))?;
        streams
            .into_iter()
            .find(|info| info.stream == stream)
            .ok_or_else(|| (INVALID_PARAMS, format!("there is no terminal sam-{stream}")))
    }

    /// The output the agent still holds, whether some was lost to its ring, and the exit.
    async fn read(&self, stream: u32) -> Result<(Vec<u8>, bool, Option<ExitStatus>), Failure> {
        let known = self.info(stream).await?;
        let failed = |err: crate::agent_client::AgentError| (INTERNAL_ERROR, err.to_string());
        let (mut handle, info) = self
            .client
            .attach(stream, known.out_base)
            .await
            .map_err(failed)?;
        let (mut bytes, mut lost) = (Vec::new(), info.out_base > 0);
        let mut at = info.out_base;
        // Caught up once output reaches the head seen at attach; an ended command's exit
        // follows its last output.
        while info.exit.is_some() || at < info.out_head {
            match handle.next().await {
                Some(StreamEvent::Output {
                    offset,
                    bytes: more,
                }) => {
                    at = offset + more.len() as u64;
                    bytes.extend_from_slice(&more);
                }
                Some(StreamEvent::Gap { base, .. }) => {
                    lost = true;
                    at = base;
                }
                Some(StreamEvent::Exit(status)) => return Ok((bytes, lost, Some(status))),
                Some(StreamEvent::Reset) | None => {
                    return Err((INTERNAL_ERROR, format!("terminal sam-{stream} is gone")));
                }
            }
        }
        Ok((bytes, lost, None))
    }
}

/// The stream a terminal id names.
fn stream_of(id: &TerminalId) -> Result<u32, Failure> {
    id.0.strip_prefix("sam-")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| (INVALID_PARAMS, format!("there is no terminal {}", id.0)))
}

fn exit_status(exit: ExitStatus) -> TerminalExitStatus {
    let code = exit.code.and_then(|code| u32::try_from(code).ok());
    let signal = exit.signal.map(|signal| match signal {
        1 => "SIGHUP".to_owned(),
        2 => "SIGINT".to_owned(),
        9 => "SIGKILL".to_owned(),
        15 => "SIGTERM".to_owned(),
        other => format!("signal {other}"),
    });
    TerminalExitStatus::new().exit_code(code).signal(signal)
}

/// The last `limit` bytes of `bytes` as text, cut at a character boundary, and whether
/// anything was cut.
fn last_bytes(bytes: &[u8], limit: u64) -> (String, bool) {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if bytes.len() <= limit {
        return (String::from_utf8_lossy(bytes).into_owned(), false);
    }
    let mut start = bytes.len() - limit;
    // Skip continuation bytes, so the text starts at a character.
    while start < bytes.len() && bytes[start] & 0b1100_0000 == 0b1000_0000 {
        start += 1;
    }
    (String::from_utf8_lossy(&bytes[start..]).into_owned(), true)
}

fn parse<T: DeserializeOwned>(params: Value) -> Result<T, Failure> {
    serde_json::from_value(params).map_err(|err| (INVALID_PARAMS, err.to_string()))
}

fn reply<T: Serialize>(result: Result<T, Failure>) -> Result<Value, Failure> {
    result.map(|value| serde_json::to_value(value).unwrap_or(Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_cut_to_its_last_bytes_at_a_character() {
        assert_eq!(last_bytes(b"hello", 10), ("hello".to_owned(), false));
        assert_eq!(last_bytes(b"hello", 3), ("llo".to_owned(), true));
        // "é" is two bytes: a cut inside it starts after it.
        assert_eq!(last_bytes("aé".as_bytes(), 1), (String::new(), true));
        assert_eq!(last_bytes("aéb".as_bytes(), 2), ("b".to_owned(), true));
    }

    #[test]
    fn terminal_ids_name_streams() {
        assert_eq!(stream_of(&TerminalId::new("sam-12")), Ok(12));
        assert!(stream_of(&TerminalId::new("12")).is_err());
        assert!(stream_of(&TerminalId::new("sam-x")).is_err());
    }
}
