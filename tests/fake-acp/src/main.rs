//! A scripted ACP agent. It answers `initialize`, `session/new`, `session/load`,
//! `session/set_mode` (its modes are `auto`, its default, and `ask`) and `session/prompt`, and
//! each prompt's text is a command:
//!
//! - `mentions …`: a chunk `mentions: <name>=<uri>, …` of the prompt's `resource_link` blocks
//!   and `image <type> of <n> base64 characters` for its image blocks (or `mentions: none`);
//! - `model`: a chunk `model: <value>`, its option `model` (`fast`, the default, or `deep`,
//!   set with `session/set_config_option`);
//! - `remember`: a chunk `remembered: N`, N the chunks `session/load` replayed in this process;
//! - `stamp N MS`: N chunks `stamp <i> <Unix ms>`, MS milliseconds apart (for benchmarks);
//! - `mode`: a chunk `mode: <current mode>`, then `end_turn`;
//! - `count N`: N `agent_message_chunk` updates (`chunk 1` … `chunk N`), then `end_turn`;
//! - `ask`: a `session/request_permission` for a `touch x` tool call with the options `allow`
//!   (allow_once) and `deny` (reject_once); once answered, a chunk `permission: <option>` (or
//!   `permission: cancelled`), then `end_turn`;
//! - `env NAME`: a chunk `NAME=<value>` (or `NAME unset`), then `end_turn`;
//! - `crash`: exits with status 3 in the middle of the turn;
//! - `read PATH`: an `fs/read_text_file` of PATH (lines 2 and 3 when PATH ends in `#2+2`); a
//!   chunk `read: <content>` or `read failed: <message>`, then `end_turn`;
//! - `write PATH TEXT`: an `fs/write_text_file` of TEXT (of N lines `line <i>` when TEXT is
//!   `@N`) to PATH; a chunk `wrote` or `write failed: <message>`, then `end_turn`;
//! - `term COMMAND`: runs `sh -c COMMAND` in a client terminal (`terminal/create`, a
//!   `tool_call` showing the terminal, then `wait_for_exit`, `output`, `release`, the tool call
//!   completed); a chunk `term <exit code>: <output>` (or
//!   `term failed: <message>`);
//! - `termkill`: starts `sleep 30` in a client terminal, kills it, and reports a chunk
//!   `killed: <signal>` from `wait_for_exit`;
//! - `usage`: a `usage_update` (24 000 of 200 000 tokens, 0.42 USD), then a chunk `used`;
//! - `await PATH`: a chunk `waiting`, then (once PATH exists) a chunk `awaited`;
//! - `run SECONDS`: runs `sleep SECONDS` (a tool command), with a chunk `running` before and
//!   `ran` after;
//! - `think`: an `agent_thought_chunk`, then a chunk `thought done`;
//! - `plan`: a `plan` of two entries (one completed, one in progress);
//! - `edit PATH`: a `tool_call` of kind `edit` with a diff of PATH (`old line` → `new line`),
//!   its `tool_call_update` to `completed`, then a chunk `edited`;
//! - `markdown`: one chunk of markdown (a heading, bold, inline code, a fenced block, a list);
//! - `noise`: a line that is not JSON, a vendor's `_vendor/status` notification, an answer to
//!   no request, then a chunk `after noise`.
//!
//! A turn whose permission request was answered `cancelled` ends with `cancelled`.
//!
//! Every chunk it sends is kept in `<cwd>/.fake-acp/<session>.history` (one JSON line each), and
//! `session/load` replays them as chunks before it answers, as agents that load sessions do.
//!
//! It writes `fake-acp: ready` to stderr at start, for the host's log.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{BufRead, Write};

use serde_json::{Value, json};

/// The ids of the requests this agent sends.
const PERMISSION_ID: u64 = 1000;
const READ_ID: u64 = 2000;
const TERM_ID: u64 = 3000;

fn main() {
    eprintln!("fake-acp: ready");
    *MODE.lock().expect("mode") = "auto".to_owned();
    *MODEL.lock().expect("model") = "fast".to_owned();
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut sessions = 0u32;
    while let Some(Ok(line)) = lines.next() {
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            send(
                &json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "parse error"}}),
            );
            continue;
        };
        let id = message.get("id").cloned();
        let method = message.get("method").and_then(Value::as_str).unwrap_or("");
        let params = message.get("params").cloned().unwrap_or(Value::Null);
        let result = match method {
            "initialize" => json!({
                "protocolVersion": 1,
                "agentCapabilities": {"loadSession": true, "promptCapabilities": {"image": true}},
                "authMethods": [],
            }),
            "session/new" => {
                sessions += 1;
                remember_in(&params);
                json!({
                    "sessionId": format!("fake-{}-{sessions}", std::process::id()),
                    "configOptions": config_options(),
                    "modes": {"currentModeId": *MODE.lock().expect("mode"), "availableModes": [
                        {"id": "auto", "name": "Auto", "description": "Decides on its own"},
                        {"id": "ask", "name": "Ask", "description": "Asks before it acts"},
                    ]},
                })
            }
            "session/set_mode" => {
                set_mode(&message);
                continue;
            }
            "session/set_config_option" => {
                let value = params["value"].as_str().unwrap_or("");
                if params["configId"] == "model" && ["fast", "deep"].contains(&value) {
                    *MODEL.lock().expect("model") = value.to_owned();
                    json!({"configOptions": config_options()})
                } else {
                    send(
                        &json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32602, "message": "no such option or value"}}),
                    );
                    continue;
                }
            }
            "session/load" => {
                remember_in(&params);
                let session = params["sessionId"].as_str().unwrap_or("").to_owned();
                let texts = history(&session);
                *LOADED.lock().expect("loaded") = texts.len();
                for text in texts {
                    update(
                        &session,
                        json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": text}}),
                    );
                }
                json!({})
            }
            "session/prompt" => {
                let session = params["sessionId"].as_str().unwrap_or("").to_owned();
                let text = params["prompt"][0]["text"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned();
                if text.starts_with("mentions") {
                    let links: Vec<String> = params["prompt"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|block| match block["type"].as_str() {
                            Some("resource_link") => Some(format!(
                                "{}={}",
                                block["name"].as_str().unwrap_or("?"),
                                block["uri"].as_str().unwrap_or("?")
                            )),
                            Some("image") => Some(format!(
                                "image {} of {} base64 characters",
                                block["mimeType"].as_str().unwrap_or("?"),
                                block["data"].as_str().map_or(0, str::len)
                            )),
                            _ => None,
                        })
                        .collect();
                    let said = if links.is_empty() {
                        "none".to_owned()
                    } else {
                        links.join(", ")
                    };
                    chunk(&session, &format!("mentions: {said}\n"));
                    json!({"stopReason": "end_turn"})
                } else if text == "mode" {
                    send(
                        &json!({"jsonrpc": "2.0", "method": "session/update", "params": {
                            "sessionId": session,
                            "update": {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": format!("mode: {}\n", MODE.lock().expect("mode"))}},
                        }}),
                    );
                    json!({"stopReason": "end_turn"})
                } else {
                    turn(&session, &text, &mut lines)
                }
            }
            // Notifications (a cancel outside a permission wait has nothing to stop).
            _ if id.is_none() => continue,
            other => {
                send(
                    &json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": format!("no method {other}")}}),
                );
                continue;
            }
        };
        send(&json!({"jsonrpc": "2.0", "id": id, "result": result}));
    }
}

/// Plays one prompt; returns the prompt's result.
fn turn(
    session: &str,
    text: &str,
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
) -> Value {
    let (command, argument) = text.split_once(' ').unwrap_or((text, ""));
    match command {
        "count" => {
            let n: u32 = argument.trim().parse().unwrap_or(0);
            for i in 1..=n {
                chunk(session, &format!("chunk {i}\n"));
            }
        }
        "ask" => {
            send(&json!({
                "jsonrpc": "2.0",
                "id": PERMISSION_ID,
                "method": "session/request_permission",
                "params": {
                    "sessionId": session,
                    "toolCall": {
                        "toolCallId": "call-1",
                        "title": "touch x",
                        "kind": "execute",
                        "rawInput": {"command": "touch x"},
                    },
                    "options": [
                        {"optionId": "allow", "name": "Allow", "kind": "allow_once"},
                        {"optionId": "deny", "name": "Deny", "kind": "reject_once"},
                    ],
                },
            }));
            let answer = wait_for(PERMISSION_ID, lines);
            let outcome = &answer["result"]["outcome"];
            let outcome = match outcome["outcome"].as_str() {
                Some("selected") => outcome["optionId"].as_str().unwrap_or("?").to_owned(),
                Some(other) => other.to_owned(),
                None => "invalid".to_owned(),
            };
            chunk(session, &format!("permission: {outcome}\n"));
            if outcome == "cancelled" {
                return json!({"stopReason": "cancelled"});
            }
        }
        "read" => {
            let (path, range) = match argument.split_once('#') {
                Some((path, _)) => (path, json!({"line": 2, "limit": 2})),
                None => (argument, json!({})),
            };
            let mut params = json!({"sessionId": session, "path": path.trim()});
            if let (Some(params), Some(range)) = (params.as_object_mut(), range.as_object()) {
                params.extend(range.clone());
            }
            send(
                &json!({"jsonrpc": "2.0", "id": READ_ID, "method": "fs/read_text_file", "params": params}),
            );
            let answer = wait_for(READ_ID, lines);
            let text = match answer["result"]["content"].as_str() {
                Some(content) => format!("read: {content}"),
                None => format!(
                    "read failed: {}",
                    answer["error"]["message"].as_str().unwrap_or("?")
                ),
            };
            chunk(session, &text);
        }
        "write" => {
            let (path, text) = argument
                .trim()
                .split_once(' ')
                .unwrap_or((argument.trim(), ""));
            let content = match text.strip_prefix('@').and_then(|n| n.parse::<usize>().ok()) {
                Some(lines) => (1..=lines).map(|i| format!("line {i}\n")).collect(),
                None => text.to_owned(),
            };
            let answer = call(
                READ_ID + 1,
                "fs/write_text_file",
                json!({"sessionId": session, "path": path, "content": content}),
                lines,
            );
            let text = match answer.get("error") {
                None => "wrote".to_owned(),
                Some(error) => {
                    format!("write failed: {}", error["message"].as_str().unwrap_or("?"))
                }
            };
            chunk(session, &text);
        }
        "term" | "termkill" => {
            let killing = command == "termkill";
            let script = if killing { "sleep 30" } else { argument.trim() };
            let create = call(
                TERM_ID,
                "terminal/create",
                json!({"sessionId": session, "command": "sh", "args": ["-c", script]}),
                lines,
            );
            let Some(terminal) = create["result"]["terminalId"].as_str() else {
                chunk(
                    session,
                    &format!("term failed: {}", create["error"]["message"]),
                );
                return json!({"stopReason": "end_turn"});
            };
            // The tool call shows the command's terminal, as agents do for the client to
            // display it live.
            let tool = format!("term-{terminal}");
            update(
                session,
                json!({"sessionUpdate": "tool_call", "toolCallId": tool, "title": script, "kind": "execute", "status": "in_progress", "content": [{"type": "terminal", "terminalId": terminal}]}),
            );
            let on = json!({"sessionId": session, "terminalId": terminal});
            if killing {
                call(TERM_ID + 1, "terminal/kill", on.clone(), lines);
            }
            let exit = call(TERM_ID + 2, "terminal/wait_for_exit", on.clone(), lines);
            let output = call(TERM_ID + 3, "terminal/output", on.clone(), lines);
            call(TERM_ID + 4, "terminal/release", on, lines);
            update(
                session,
                json!({"sessionUpdate": "tool_call_update", "toolCallId": tool, "status": "completed"}),
            );
            if killing {
                chunk(
                    session,
                    &format!(
                        "killed: {}",
                        exit["result"]["signal"].as_str().unwrap_or("?")
                    ),
                );
            } else {
                chunk(
                    session,
                    &format!(
                        "term {}: {}",
                        exit["result"]["exitCode"],
                        output["result"]["output"].as_str().unwrap_or("?")
                    ),
                );
            }
        }
        "model" => {
            let model = MODEL.lock().expect("model").clone();
            chunk(session, &format!("model: {model}\n"));
        }
        "remember" => {
            let loaded = *LOADED.lock().expect("loaded");
            chunk(session, &format!("remembered: {loaded}\n"));
        }
        "stamp" => {
            let mut words = argument.split_whitespace();
            let n: u32 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
            let gap: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
            for i in 1..=n {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
                chunk(session, &format!("stamp {i} {now:.1}\n"));
                std::thread::sleep(std::time::Duration::from_millis(gap));
            }
        }
        "await" => {
            // Says it waits, then waits for a file to appear: a turn that ends when a test says.
            chunk(session, "waiting\n");
            let path = std::path::Path::new(argument.trim());
            while !path.exists() {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            chunk(session, "awaited\n");
        }
        "run" => {
            chunk(session, "running\n");
            let _ = std::process::Command::new("sleep")
                .arg(argument.trim())
                .status();
            chunk(session, "ran\n");
        }
        "noise" => {
            println!("this is not json");
            send(&json!({"jsonrpc": "2.0", "method": "_vendor/status", "params": {"busy": true}}));
            send(&json!({"jsonrpc": "2.0", "id": 424242, "result": {}}));
            chunk(session, "after noise\n");
        }
        "env" => {
            let name = argument.trim();
            let value = std::env::var(name)
                .map_or_else(|_| format!("{name} unset"), |v| format!("{name}={v}"));
            // Not kept in the history: the tests look for keys in every file.
            update(
                session,
                json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": format!("{value}\n")}}),
            );
        }
        "crash" => {
            chunk(session, "about to crash\n");
            std::process::exit(3);
        }
        "usage" => {
            update(
                session,
                json!({"sessionUpdate": "usage_update", "used": 24000, "size": 200000, "cost": {"amount": 0.42, "currency": "USD"}}),
            );
            chunk(session, "used");
        }
        "think" => {
            update(
                session,
                json!({"sessionUpdate": "agent_thought_chunk", "content": {"type": "text", "text": "weighing it"}}),
            );
            chunk(session, "thought done\n");
        }
        "plan" => update(
            session,
            json!({"sessionUpdate": "plan", "entries": [
                {"content": "Read the code", "priority": "high", "status": "completed"},
                {"content": "Write the fix", "priority": "medium", "status": "in_progress"},
            ]}),
        ),
        "edit" => {
            let path = argument.trim();
            update(
                session,
                json!({"sessionUpdate": "tool_call", "toolCallId": "edit-1", "title": format!("Edit {path}"),
                       "kind": "edit", "status": "pending", "locations": [{"path": path}],
                       "content": [{"type": "diff", "path": path, "oldText": "old line\n", "newText": "new line\n"}]}),
            );
            update(
                session,
                json!({"sessionUpdate": "tool_call_update", "toolCallId": "edit-1", "status": "completed"}),
            );
            chunk(session, "edited\n");
        }
        "markdown" => chunk(
            session,
            "# Findings\n\nThe **bug** is in `main.rs`:\n\n```rust\nfn main() {}\n```\n\n- one\n- two\n",
        ),
        _ => chunk(session, &format!("unknown command {command:?}\n")),
    }
    json!({"stopReason": "end_turn"})
}

/// Reads until the client answers request `id`; other messages wait their turn (this agent is
/// single-threaded and has one request in flight).
fn wait_for(id: u64, lines: &mut impl Iterator<Item = std::io::Result<String>>) -> Value {
    while let Some(Ok(line)) = lines.next() {
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if message.get("id").and_then(Value::as_u64) == Some(id) {
            return message;
        }
        // A mode change is answered at once, as agents do mid-turn.
        if message.get("method").and_then(Value::as_str) == Some("session/set_mode") {
            set_mode(&message);
        }
    }
    // The client went away for good.
    std::process::exit(0);
}

/// Sends request `id` to the client and waits for its answer.
fn call(
    id: u64,
    method: &str,
    params: Value,
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
) -> Value {
    send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
    wait_for(id, lines)
}

/// Its sessions' mode: `auto` until `session/set_mode` says otherwise.
static MODE: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// Answers a `session/set_mode` request: `auto` and `ask` are its modes.
fn set_mode(message: &Value) {
    let id = message.get("id").cloned();
    match message["params"]["modeId"].as_str() {
        Some(mode @ ("auto" | "ask")) => {
            *MODE.lock().expect("mode") = mode.to_owned();
            send(&json!({"jsonrpc": "2.0", "id": id, "result": {}}));
        }
        _ => send(
            &json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32602, "message": "no such mode"}}),
        ),
    }
}

/// Its option `model`: `fast` until `session/set_config_option` says otherwise.
static MODEL: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// Its configuration options: the model (its modes are not repeated here).
fn config_options() -> Value {
    let model = MODEL.lock().expect("model").clone();
    json!([{
        "id": "model", "name": "Model", "category": "model", "type": "select",
        "currentValue": model,
        "options": [{"value": "fast", "name": "Fast"}, {"value": "deep", "name": "Deep"}],
    }])
}

/// Where sessions' histories are kept: `<cwd>/.fake-acp`, from `session/new` or `session/load`.
static HISTORY: std::sync::Mutex<Option<std::path::PathBuf>> = std::sync::Mutex::new(None);
/// How many chunks the last `session/load` replayed.
static LOADED: std::sync::Mutex<usize> = std::sync::Mutex::new(0);

fn remember_in(params: &Value) {
    if let Some(cwd) = params["cwd"].as_str() {
        let dir = std::path::Path::new(cwd).join(".fake-acp");
        let _ = std::fs::create_dir_all(&dir);
        *HISTORY.lock().expect("history") = Some(dir);
    }
}

fn history_file(session: &str) -> Option<std::path::PathBuf> {
    let dir = HISTORY.lock().expect("history").clone()?;
    Some(dir.join(format!("{session}.history")))
}

/// The chunks a session sent, oldest first.
fn history(session: &str) -> Vec<String> {
    let Some(file) = history_file(session) else {
        return Vec::new();
    };
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<String>(line).ok())
        .collect()
}

fn chunk(session: &str, text: &str) {
    if let Some(file) = history_file(session)
        && let Ok(mut out) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
    {
        let _ = writeln!(out, "{}", Value::String(text.to_owned()));
    }
    update(
        session,
        json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": text}}),
    );
}

fn update(session: &str, update: Value) {
    send(&json!({
        "jsonrpc": "2.0",
        "method": "session/update",
        "params": {"sessionId": session, "update": update},
    }));
}

fn send(message: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{message}");
    let _ = out.flush();
}
