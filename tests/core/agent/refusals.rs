//! Every refusal is an HTTP answer, and every WebSocket violation closes with the RFC 6455 code
//! that names it: what an independent (or careless) client meets.

use sam_protocol::{AGENT_TIME_HEADER, SESSION_PATH};
use tokio::io::AsyncWriteExt;

use super::harness::TestAgent;
use super::raw::{self, Answer};

fn assert_refusal(answer: &Answer, status: u16, case: &str) {
    assert_eq!(answer.status, status, "{case}: {answer:?}");
    assert!(answer.header("date").is_some(), "{case}: no date");
    let time: i64 = answer
        .header(AGENT_TIME_HEADER)
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("{case}: no agent time"));
    assert!(
        (time - sam_core::agent_client::dial::unix_now()).abs() < 60,
        "{case}"
    );
    assert_eq!(answer.header("connection"), Some("close"), "{case}");
    let length: usize = answer
        .header("content-length")
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("{case}: no length"));
    assert_eq!(answer.body.len(), length, "{case}: the whole body arrives");
}

#[tokio::test]
async fn requests_that_are_not_upgrades_get_http_answers() {
    let agent = TestAgent::start(&[]);
    let huge_token = format!("authorization: Bearer {}", "a".repeat(100 * 1024));
    let mut garbage = vec![0u8; 1024 * 1024];
    getrandom::fill(&mut garbage).expect("random");
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "a 100 KiB Authorization header",
            raw::upgrade(SESSION_PATH, &[huge_token]),
            431,
        ),
        ("1 MiB of garbage", garbage, 431),
        (
            "a control byte in a header",
            raw::upgrade(SESSION_PATH, &["x-note: a\x01b".to_owned()]),
            400,
        ),
        (
            "an 8-bit byte in a header name",
            [b"GET /v1/session HTTP/1.1\r\nx-caf\xe9: 1\r\n\r\n".as_slice()].concat(),
            400,
        ),
        (
            "a GET without upgrade headers",
            b"GET /v1/session HTTP/1.1\r\nhost: agent.sam\r\n\r\n".to_vec(),
            426,
        ),
        (
            "a POST",
            b"POST /v1/session HTTP/1.1\r\nhost: agent.sam\r\ncontent-length: 0\r\n\r\n".to_vec(),
            405,
        ),
        (
            "an old WebSocket version",
            String::from_utf8(raw::upgrade(SESSION_PATH, &[]))
                .expect("text")
                .replace("version: 13", "version: 8")
                .into_bytes(),
            426,
        ),
        ("an unknown path", raw::upgrade("/", &[]), 404),
        ("no token", raw::upgrade(SESSION_PATH, &[]), 401),
        (
            "a session before enrollment",
            raw::upgrade(SESSION_PATH, &[raw::session_bearer(&agent)]),
            409,
        ),
    ];
    for (case, request, status) in cases {
        let answer = raw::exchange(&agent, request).await;
        assert_refusal(&answer, status, case);
        match status {
            405 => assert_eq!(answer.header("allow"), Some("GET"), "{case}"),
            426 => {
                assert_eq!(answer.header("upgrade"), Some("websocket"), "{case}");
                assert_eq!(answer.header("sec-websocket-version"), Some("13"), "{case}");
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn a_request_head_that_never_ends_gets_408() {
    let agent = TestAgent::start(&[]);
    let mut stream = raw::tls(&agent).await;
    stream
        .write_all(b"GET /v1/session HTTP/1.1\r\nhost: agent.sam\r\n")
        .await
        .expect("write");
    // The rest never comes: the agent answers when its head deadline passes.
    let mut bytes = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut bytes).await;
    assert_refusal(&raw::parse(&bytes), 408, "slow head");
}

#[tokio::test]
async fn websocket_violations_close_with_the_code_that_names_them() {
    let agent = TestAgent::start(&[]);
    agent.enroll().await;
    let unmasked = [0x81, 2, b'h', b'i'].to_vec();
    let not_utf8 = raw::masked_frame(0x1, &[0xff, 0xfe]);
    let too_big = {
        let mut frame = vec![0x82];
        raw::push_length(&mut frame, 0x80, 1024 * 1024);
        frame.extend_from_slice(&[0, 0, 0, 0]);
        frame
    };
    let reserved_opcode = raw::masked_frame(0x3, b"x");
    let cases = [
        ("an unmasked frame", unmasked, 1002),
        ("a reserved opcode", reserved_opcode, 1002),
        ("text that is not UTF-8", not_utf8, 1007),
        ("a 1 MiB message", too_big, 1009),
    ];
    for (case, frame, code) in cases {
        let mut stream = raw::session(&agent).await;
        stream.write_all(&frame).await.expect("frame");
        assert_eq!(raw::close_code(&mut stream).await, Some(code), "{case}");
    }
}
