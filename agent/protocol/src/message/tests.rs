//! The wire shape of messages (exactly as `docs/agent-protocol.md` shows it), round trips of
//! every message through the envelope, and fuzz-style checks that no text makes decoding panic
//! and that a readable `req` always survives into the error.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::request::*;
use super::*;

fn client_json(message: &ClientMessage) -> Value {
    serde_json::from_str(&message.encode()).expect("encodes to JSON")
}

fn agent_json(message: &AgentMessage) -> Value {
    serde_json::from_str(&message.encode()).expect("encodes to JSON")
}

#[test]
fn a_request_is_one_flat_object_with_req_next_to_type() {
    let message = ClientMessage::request(
        3,
        Request::OpenPty(OpenPty {
            command: None,
            cwd: Some("src".into()),
            env: BTreeMap::new(),
            cols: 80,
            rows: 24,
        }),
    );
    assert_eq!(
        client_json(&message),
        json!({"req":3,"type":"open_pty","command":null,"cwd":"src","env":{},"cols":80,"rows":24})
    );
    // The exact text, as the protocol document shows it: `req` first, then `type`.
    assert_eq!(
        ClientMessage::request(4, Request::Attach(Attach { stream: 1, from: 0 })).encode(),
        r#"{"req":4,"type":"attach","stream":1,"from":0}"#
    );
    assert_eq!(
        ClientMessage::request(5, Request::List).encode(),
        r#"{"req":5,"type":"list"}"#
    );
}

/// Every example line of the protocol document (`→ {…}` from the client, `← {…}` from the
/// agent) is a message of that direction and is exactly what this crate writes for it.
#[test]
fn the_documented_examples_are_what_this_crate_writes() {
    let doc = include_str!("../../../../docs/agent-protocol.md");
    let mut checked = 0;
    for line in doc.lines() {
        let (text, written) = if let Some(text) = line.strip_prefix("→ ") {
            let message = ClientMessage::decode(text).unwrap_or_else(|err| panic!("{text}: {err}"));
            (text, message.encode())
        } else if let Some(text) = line.strip_prefix("← ") {
            let message = AgentMessage::decode(text).unwrap_or_else(|err| panic!("{text}: {err}"));
            (text, message.encode())
        } else {
            continue;
        };
        assert_eq!(
            written, text,
            "the document shows other text than this crate writes"
        );
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} examples found");
}

#[test]
fn notices_and_events_have_no_req() {
    let hello = ClientMessage::from(Notice::Hello {
        protocol: crate::PROTOCOL_VERSION,
        client: "sam-desktop/0.1.0".into(),
    });
    assert_eq!(
        client_json(&hello),
        json!({"type":"hello","protocol":crate::PROTOCOL_VERSION,"client":"sam-desktop/0.1.0"})
    );
    let gap = AgentMessage::from(Event::Gap {
        stream: 1,
        from: 0,
        base: 4096,
    });
    assert_eq!(
        agent_json(&gap),
        json!({"type":"gap","stream":1,"from":0,"base":4096})
    );
}

#[test]
fn an_error_carries_req_exactly_when_it_answers_a_request() {
    let reply = AgentMessage::reply(
        7,
        Reply::Error {
            code: ErrorCode::PathOutsideWorkspace,
            message: "no".into(),
        },
    );
    assert_eq!(
        agent_json(&reply),
        json!({"req":7,"type":"error","code":"path_outside_workspace","message":"no"})
    );
    let event = AgentMessage::from(Event::Error {
        code: ErrorCode::BadFrame,
        message: "no".into(),
    });
    assert_eq!(
        agent_json(&event),
        json!({"type":"error","code":"bad_frame","message":"no"})
    );
    assert_eq!(AgentMessage::decode(&reply.encode()), Ok(reply));
    assert_eq!(AgentMessage::decode(&event.encode()), Ok(event));
}

#[test]
fn req_decides_between_reply_and_event() {
    assert_eq!(
        AgentMessage::decode(r#"{"type":"ok","req":9}"#),
        Ok(AgentMessage::reply(9, Reply::Ok))
    );
    let no_req = AgentMessage::decode(r#"{"type":"ok"}"#).expect_err("ok is not an event");
    assert_eq!(no_req.req, None);
    let event_with_req =
        AgentMessage::decode(r#"{"type":"gap","req":2,"stream":1,"from":0,"base":1}"#)
            .expect_err("gap is not a reply");
    assert_eq!(event_with_req.req, Some(2));
}

#[test]
fn unknown_fields_are_ignored_and_optional_ones_default() {
    let message =
        ClientMessage::decode(r#"{"type":"open_pty","req":3,"cols":80,"rows":24,"future":true}"#)
            .expect("parses");
    let ClientMessage::Request(Envelope {
        req: 3,
        body: Request::OpenPty(open),
    }) = message
    else {
        panic!("expected open_pty, got {message:?}");
    };
    assert_eq!(open.command, None);
    assert!(open.env.is_empty());
    assert_eq!(
        ClientMessage::decode(r#"{"type":"list","req":2,"future":{"x":1}}"#),
        Ok(ClientMessage::request(2, Request::List))
    );
    assert_eq!(
        ClientMessage::decode(r#"{"type":"ack","stream":1,"applied":5,"req":null}"#),
        Ok(ClientMessage::Notice(Notice::Ack {
            stream: 1,
            applied: 5
        })),
        "a null req counts as none"
    );
}

#[test]
fn an_unknown_type_keeps_its_req_for_the_error_reply() {
    let err = ClientMessage::decode(r#"{"type":"format_disk","req":41}"#).expect_err("unknown");
    assert_eq!(err.req, Some(41));
    assert!(
        matches!(
            err.kind,
            DecodeErrorKind::BadBody {
                expected: "request",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("format_disk"), "{err}");
    let err = ClientMessage::decode(r#"{"type":"format_disk"}"#).expect_err("unknown");
    assert_eq!(err.req, None);
}

#[test]
fn a_request_without_req_and_a_notice_with_one_are_refused() {
    let err = ClientMessage::decode(r#"{"type":"list"}"#).expect_err("list needs a req");
    assert_eq!(err.req, None);
    assert!(err.to_string().contains("without \"req\""), "{err}");
    let err = ClientMessage::decode(r#"{"type":"hello","req":1,"protocol":2,"client":"x"}"#)
        .expect_err("hello is not a request");
    assert_eq!(err.req, Some(1));
}

#[test]
fn garbage_gets_a_typed_error() {
    for (text, kind) in [
        ("", "object"),
        ("not json", "object"),
        ("[1,2]", "object"),
        ("\"list\"", "object"),
        (r#"{"type":"list","req":-1}"#, "req"),
        (r#"{"type":"list","req":"1"}"#, "req"),
        (r#"{"type":"list","req":1.5}"#, "req"),
        (r#"{"req":1}"#, "body"),
        (r#"{"type":7,"req":1}"#, "body"),
        (r#"{"type":"attach","req":1,"stream":"x","from":0}"#, "body"),
    ] {
        let err = ClientMessage::decode(text).expect_err(text);
        let found = match err.kind {
            DecodeErrorKind::NotAnObject(_) => "object",
            DecodeErrorKind::BadReq(_) => "req",
            DecodeErrorKind::BadBody { .. } => "body",
        };
        assert_eq!(found, kind, "{text}: {err}");
    }
}

#[test]
fn serde_deserialize_agrees_with_decode() {
    let text = r#"{"req":5,"type":"streams","streams":[]}"#;
    assert_eq!(
        serde_json::from_str::<AgentMessage>(text).expect("parses"),
        AgentMessage::decode(text).expect("decodes")
    );
    assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"format_disk"}"#).is_err());
}

#[test]
fn a_pushed_secret_does_not_show_in_debug_output() {
    let push = PushSecret {
        name: "git:github.com/o/r".into(),
        value: "ghs_very_secret".into(),
        expires_at: None,
    };
    assert!(!format!("{push:?}").contains("ghs_very_secret"));
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-z_]{0,12}"]
}

fn env() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(text(), text(), 0..3)
}

fn command() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(text(), 0..4)
}

fn exit_status() -> impl Strategy<Value = ExitStatus> {
    (any::<Option<i32>>(), any::<Option<i32>>())
        .prop_map(|(code, signal)| ExitStatus { code, signal })
}

fn stream_info() -> impl Strategy<Value = StreamInfo> {
    (
        any::<u32>(),
        prop_oneof![
            Just(StreamKind::Log),
            Just(StreamKind::Pty),
            Just(StreamKind::Job)
        ],
        command(),
        any::<(u64, u64, u64)>(),
        any::<Option<(u16, u16)>>(),
        prop::option::of(exit_status()),
    )
        .prop_map(
            |(stream, kind, command, (out_base, out_head, in_acked), size, exit)| StreamInfo {
                stream,
                kind,
                command,
                out_base,
                out_head,
                in_acked,
                size: size.map(|(cols, rows)| PtySize { cols, rows }),
                exit,
                cwd: None,
            },
        )
}

fn idle_policy() -> impl Strategy<Value = IdlePolicy> {
    (
        any::<Option<u64>>(),
        any::<Option<i64>>(),
        any::<u64>(),
        prop_oneof![
            Just(BackstopAction::Poweroff),
            Just(BackstopAction::DeleteServer),
            Just(BackstopAction::Exit),
            Just(BackstopAction::None)
        ],
    )
        .prop_map(
            |(timeout_secs, extend_until, grace_secs, action)| IdlePolicy {
                timeout_secs,
                extend_until,
                grace_secs,
                action,
            },
        )
}

fn fs_entry() -> impl Strategy<Value = FsEntry> {
    (
        text(),
        prop_oneof![
            Just(FsKind::File),
            Just(FsKind::Dir),
            Just(FsKind::Symlink),
            Just(FsKind::Other)
        ],
        any::<u64>(),
        any::<Option<i64>>(),
    )
        .prop_map(|(name, kind, size, modified_ms)| FsEntry {
            name,
            kind,
            size,
            modified_ms,
        })
}

fn error_code() -> impl Strategy<Value = ErrorCode> {
    prop::sample::select(vec![
        ErrorCode::BadFrame,
        ErrorCode::BadMessage,
        ErrorCode::HelloExpected,
        ErrorCode::UnsupportedProtocol,
        ErrorCode::UnknownStream,
        ErrorCode::InvalidOffset,
        ErrorCode::NotAttached,
        ErrorCode::TooManyStreams,
        ErrorCode::SpawnFailed,
        ErrorCode::NotFound,
        ErrorCode::PathOutsideWorkspace,
        ErrorCode::TooLarge,
        ErrorCode::InvalidArgument,
        ErrorCode::Io,
        ErrorCode::Internal,
    ])
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        (
            prop::option::of(command()),
            prop::option::of(text()),
            env(),
            any::<(u16, u16)>()
        )
            .prop_map(
                |(command, cwd, env, (cols, rows))| Request::OpenPty(OpenPty {
                    command,
                    cwd,
                    env,
                    cols,
                    rows
                })
            ),
        (command(), prop::option::of(text()), env())
            .prop_map(|(command, cwd, env)| Request::RunJob(RunJob { command, cwd, env })),
        any::<(u32, u64)>().prop_map(|(stream, from)| Request::Attach(Attach { stream, from })),
        any::<u32>().prop_map(|stream| Request::Detach(Detach { stream })),
        any::<(u32, u16, u16)>().prop_map(|(stream, cols, rows)| Request::Resize(Resize {
            stream,
            cols,
            rows
        })),
        any::<u32>().prop_map(|stream| Request::Close(Close { stream })),
        Just(Request::List),
        Just(Request::KeepAlive),
        (text(), any::<bool>()).prop_map(|(source, busy)| Request::Busy(Busy { source, busy })),
        idle_policy().prop_map(|policy| Request::SetIdlePolicy(SetIdlePolicy { policy })),
        Just(Request::Status),
        (text(), text(), any::<Option<i64>>()).prop_map(|(name, value, expires_at)| {
            Request::PushSecret(PushSecret {
                name,
                value,
                expires_at,
            })
        }),
        text().prop_map(|name| Request::RevokeSecret(RevokeSecret { name })),
        Just(Request::PrepareStop),
        text().prop_map(|path| Request::FsList(FsList { path })),
        text().prop_map(|path| Request::FsStat(FsStat { path })),
        (text(), any::<(u64, u64)>()).prop_map(|(path, (offset, length))| Request::FsRead(
            FsRead {
                path,
                offset,
                length
            }
        )),
        (text(), any::<u64>(), text(), any::<bool>()).prop_map(|(path, offset, data, last)| {
            Request::FsWrite(FsWrite {
                path,
                offset,
                data,
                last,
            })
        }),
        (text(), any::<(u32, u64, u64)>()).prop_map(|(epoch, (stream, offset, length))| {
            Request::JournalRead(JournalRead {
                epoch,
                stream,
                offset,
                length,
            })
        }),
        (text(), any::<u32>())
            .prop_map(|(epoch, stream)| Request::JournalDrop(JournalDrop { epoch, stream })),
    ]
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        (any::<Req>(), request()).prop_map(|(req, body)| ClientMessage::request(req, body)),
        (any::<u32>(), text())
            .prop_map(|(protocol, client)| Notice::Hello { protocol, client }.into()),
        any::<(u32, u64)>().prop_map(|(stream, applied)| Notice::Ack { stream, applied }.into()),
    ]
}

fn reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        stream_info().prop_map(|stream| Reply::Opened { stream }),
        stream_info().prop_map(|stream| Reply::Attached { stream }),
        Just(Reply::Ok),
        prop::collection::vec(stream_info(), 0..3).prop_map(|streams| Reply::Streams { streams }),
        (
            any::<i64>(),
            prop::collection::vec(text(), 0..3),
            idle_policy(),
            any::<Option<i64>>()
        )
            .prop_map(
                |(last_activity_ms, active_reasons, policy, backstop_at_ms)| {
                    Reply::Status {
                        status: AgentStatus {
                            last_activity_ms,
                            active_reasons,
                            policy,
                            backstop_at_ms,
                        },
                    }
                }
            ),
        any::<u32>().prop_map(|closed_streams| Reply::StopPrepared { closed_streams }),
        prop::collection::vec(fs_entry(), 0..3).prop_map(|entries| Reply::FsEntries { entries }),
        fs_entry().prop_map(|entry| Reply::FsStat { entry }),
        (any::<u64>(), text(), any::<bool>()).prop_map(|(offset, data, eof)| Reply::FsData {
            offset,
            data,
            eof
        }),
        (any::<u64>(), any::<bool>()).prop_map(|(size, done)| Reply::FsWritten { size, done }),
        (error_code(), text()).prop_map(|(code, message)| Reply::Error { code, message }),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (
            any::<u32>(),
            text(),
            text(),
            text(),
            prop::collection::vec(stream_info(), 0..3),
            any::<(u64, u64, u32, u64, u64, u64, u64)>(),
        )
            .prop_map(
                |(protocol, agent_version, epoch, workspace, streams, limits)| Event::Welcome {
                    protocol,
                    agent_version,
                    epoch,
                    workspace,
                    streams,
                    limits: Limits {
                        max_frame: limits.0,
                        max_text_frame: limits.1,
                        max_streams: limits.2,
                        ring_bytes: limits.3,
                        window_bytes: limits.4,
                        max_read: limits.5,
                        max_write: limits.6,
                        max_tunnels: limits.2,
                        tunnel_window: limits.4,
                    },
                }
            ),
        any::<(u32, u64, u64)>().prop_map(|(stream, from, base)| Event::Gap { stream, from, base }),
        any::<(u32, u64)>().prop_map(|(stream, acked)| Event::InputAck { stream, acked }),
        (any::<u32>(), exit_status()).prop_map(|(stream, status)| Event::Exit { stream, status }),
        (error_code(), text()).prop_map(|(code, message)| Event::Error { code, message }),
    ]
}

fn agent_message() -> impl Strategy<Value = AgentMessage> {
    prop_oneof![
        (any::<Req>(), reply()).prop_map(|(req, body)| AgentMessage::reply(req, body)),
        event().prop_map(AgentMessage::Event),
    ]
}

/// Any JSON value, nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(text(), inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A `type` that is sometimes a real one, from either direction.
fn type_name() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "hello", "ack", "open_pty", "run_job", "attach", "detach", "resize", "close", "list",
            "keep_alive", "busy", "set_idle_policy", "status", "push_secret", "revoke_secret",
            "prepare_stop", "fs_list", "fs_stat", "fs_read", "fs_write", "journal_read",
            "journal_drop", "welcome", "opened", "attached",
            "ok", "streams", "gap", "input_ack", "exit", "stop_prepared", "fs_entries",
            "fs_data", "fs_written", "error", "format_disk",
        ])
        .prop_map(Value::from),
        1 => json_value(),
    ]
}

/// Checks the one promise about a text that does not decode: its `req` is kept when readable.
fn req_survives(text: &str, err: &DecodeError) -> Result<(), TestCaseError> {
    let readable = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|value| value.get("req").and_then(Value::as_u64));
    if !matches!(err.kind, DecodeErrorKind::NotAnObject(_)) {
        prop_assert_eq!(err.req, readable, "{}", err);
    }
    Ok(())
}

proptest! {
    #[test]
    fn every_client_message_round_trips(message in client_message()) {
        let text = message.encode();
        prop_assert_eq!(ClientMessage::decode(&text), Ok(message));
    }

    #[test]
    fn every_agent_message_round_trips(message in agent_message()) {
        let text = message.encode();
        prop_assert_eq!(AgentMessage::decode(&text), Ok(message));
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = ClientMessage::decode(&text);
        let _ = AgentMessage::decode(&text);
    }

    #[test]
    fn arbitrary_objects_never_panic_and_keep_a_readable_req(
        kind in type_name(),
        req in prop_oneof![Just(None), any::<u64>().prop_map(|r| Some(Value::from(r))), json_value().prop_map(Some)],
        fields in prop::collection::btree_map("[a-z_]{1,10}", json_value(), 0..6),
    ) {
        let mut object: Map<String, Value> = fields.into_iter().collect();
        object.insert("type".into(), kind);
        if let Some(req) = req {
            object.insert("req".into(), req);
        }
        let text = Value::Object(object).to_string();
        if let Err(err) = ClientMessage::decode(&text) {
            req_survives(&text, &err)?;
        }
        if let Err(err) = AgentMessage::decode(&text) {
            req_survives(&text, &err)?;
        }
    }

    #[test]
    fn a_damaged_message_never_panics_and_keeps_its_req(
        message in client_message(),
        victim in any::<prop::sample::Index>(),
        replacement in prop::option::of(json_value()),
    ) {
        let mut value = client_json(&message);
        let object = value.as_object_mut().expect("an object");
        let keys: Vec<String> = object.keys().filter(|key| *key != "req").cloned().collect();
        let key = keys[victim.index(keys.len())].clone();
        match replacement {
            Some(replacement) => object.insert(key, replacement),
            None => object.remove(&key),
        };
        let text = value.to_string();
        if let Err(err) = ClientMessage::decode(&text) {
            req_survives(&text, &err)?;
        }
    }
}
