//! The one HTTP request the agent reads: the WebSocket upgrade. Everything it refuses is
//! answered as a complete HTTP/1.1 response, and everything it accepts is answered with 101.
//!
//! The head is read by hand (with `httparse`) rather than by the WebSocket library so that every
//! way a request can be wrong — too large, not HTTP, the wrong method, no upgrade — gets its own
//! status instead of a dropped connection.

use std::time::{Duration, SystemTime};

use sam_protocol::AGENT_TIME_HEADER;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::http::StatusCode;

/// The largest request head the agent reads (request line and headers, with the blank line).
pub const MAX_HEAD: usize = 16 * 1024;
/// The most header fields a request may have.
pub const MAX_HEADERS: usize = 64;
/// How long the agent keeps reading (and discarding) what a refused client still sends, so
/// that closing does not reset the connection before the client has read the answer.
const LINGER: Duration = Duration::from_secs(2);
/// The most bytes discarded while lingering.
const LINGER_BYTES: usize = 4 * 1024 * 1024;
/// How long writing an answer may take.
const WRITE_DEADLINE: Duration = Duration::from_secs(2);

/// What an upgrade asks to open, by its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/v1/enroll`.
    Enroll,
    /// `/v1/session`.
    Session,
}

/// A request that asked for a WebSocket the right way (its token is not checked yet).
#[derive(Debug)]
pub struct Upgrade {
    /// What it asks to open.
    pub route: Route,
    /// The `Authorization` header's value, when present and printable.
    pub authorization: Option<String>,
    /// The `Sec-WebSocket-Key`, for the accept header.
    key: String,
    /// Bytes the client sent after the head (its first WebSocket frames).
    pub leftover: Vec<u8>,
}

/// Why a request gets no WebSocket.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    /// Headers the status calls for (`Allow` for 405, the upgrade headers for 426).
    pub extra: &'static [(&'static str, &'static str)],
    /// For the agent's log only; never sent.
    pub reason: String,
}

impl Refusal {
    pub fn new(status: StatusCode, reason: impl Into<String>) -> Self {
        Self {
            status,
            extra: &[],
            reason: reason.into(),
        }
    }
}

/// What reading the head ended with.
#[derive(Debug)]
pub enum Head {
    Upgrade(Upgrade),
    Refused(Refusal),
    /// The client closed or failed before a complete head: there is no one to answer.
    Gone,
}

/// Reads one request head from `stream` and checks it is a WebSocket upgrade.
pub async fn read<S: AsyncRead + Unpin>(stream: &mut S) -> Head {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let end = loop {
        let searched = buf.len().saturating_sub(3);
        let n = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return Head::Gone,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = find_blank_line(&buf[searched..]) {
            break searched + at;
        }
        if buf.len() > MAX_HEAD {
            return Head::Refused(Refusal::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                format!("request head over {MAX_HEAD} bytes"),
            ));
        }
    };
    if end > MAX_HEAD {
        return Head::Refused(Refusal::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("request head of {end} bytes"),
        ));
    }
    let leftover = buf.split_off(end);
    match check(&buf) {
        Ok(mut upgrade) => {
            upgrade.leftover = leftover;
            Head::Upgrade(upgrade)
        }
        Err(refusal) => Head::Refused(refusal),
    }
}

/// The index just past the first `\r\n\r\n`.
fn find_blank_line(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .map(|at| at + 4)
}

/// Checks a complete head, in the order the protocol document gives.
fn check(head: &[u8]) -> Result<Upgrade, Refusal> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(Refusal::new(StatusCode::BAD_REQUEST, "incomplete head"));
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Refusal::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                format!("more than {MAX_HEADERS} headers"),
            ));
        }
        Err(err) => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                format!("not HTTP: {err}"),
            ));
        }
    }
    if request.version != Some(1) {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "a WebSocket needs HTTP/1.1",
        ));
    }
    if request.method != Some("GET") {
        return Err(Refusal {
            status: StatusCode::METHOD_NOT_ALLOWED,
            extra: &[("allow", "GET")],
            reason: format!("method {}", request.method.unwrap_or_default()),
        });
    }
    let target = request.path.unwrap_or_default();
    let route = match target.split('?').next().unwrap_or_default() {
        sam_protocol::SESSION_PATH => Route::Session,
        sam_protocol::ENROLL_PATH => Route::Enroll,
        other => {
            return Err(Refusal::new(
                StatusCode::NOT_FOUND,
                format!("unknown path {other}"),
            ));
        }
    };
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|header| header.name.eq_ignore_ascii_case(name))
            .and_then(|header| std::str::from_utf8(header.value).ok())
    };
    let has_token = |name: &str, token: &str| {
        header(name).is_some_and(|value| {
            value
                .split(',')
                .any(|item| item.trim().eq_ignore_ascii_case(token))
        })
    };
    const UPGRADE: &[(&str, &str)] = &[
        ("upgrade", "websocket"),
        ("connection", "Upgrade"),
        ("sec-websocket-version", "13"),
    ];
    if !has_token("upgrade", "websocket") || !has_token("connection", "upgrade") {
        return Err(Refusal {
            status: StatusCode::UPGRADE_REQUIRED,
            extra: UPGRADE,
            reason: "not a WebSocket upgrade".to_owned(),
        });
    }
    if header("sec-websocket-version").map(str::trim) != Some("13") {
        return Err(Refusal {
            status: StatusCode::UPGRADE_REQUIRED,
            extra: UPGRADE,
            reason: "not WebSocket version 13".to_owned(),
        });
    }
    let key = header("sec-websocket-key")
        .map(str::trim)
        .unwrap_or_default();
    if !valid_key(key) {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "missing or malformed Sec-WebSocket-Key",
        ));
    }
    Ok(Upgrade {
        route,
        authorization: header("authorization").map(str::to_owned),
        key: key.to_owned(),
        leftover: Vec::new(),
    })
}

/// RFC 6455 §4.1: the key is 16 random bytes in base64.
fn valid_key(key: &str) -> bool {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(key)
        .is_ok_and(|bytes| bytes.len() == 16)
}

/// Answers an accepted upgrade with 101.
pub async fn accept<S: AsyncWrite + Unpin>(
    stream: &mut S,
    upgrade: &Upgrade,
) -> std::io::Result<()> {
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {}\r\n\r\n",
        derive_accept_key(upgrade.key.as_bytes())
    );
    write_all(stream, response.as_bytes()).await
}

/// Answers a refusal, then closes: the status line, `date`, `x-sam-agent-time`, the headers the
/// status calls for, and the reason phrase as a plain-text body.
pub async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, refusal: &Refusal) {
    if write_all(stream, &render(refusal, SystemTime::now()))
        .await
        .is_err()
    {
        return;
    }
    let _ = tokio::time::timeout(WRITE_DEADLINE, stream.shutdown()).await;
    // Read what the client still sends until it closes too: closing a socket with unread input
    // resets the connection, and a reset can destroy the answer before the client reads it.
    let _ = tokio::time::timeout(LINGER, async {
        let mut discarded = 0;
        let mut chunk = [0u8; 4096];
        while discarded < LINGER_BYTES {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => discarded += n,
            }
        }
    })
    .await;
}

/// The bytes of a refusal's answer.
fn render(refusal: &Refusal, now: SystemTime) -> Vec<u8> {
    let reason = refusal.status.canonical_reason().unwrap_or("Refused");
    let mut text = format!(
        "HTTP/1.1 {} {reason}\r\ndate: {}\r\n{AGENT_TIME_HEADER}: {}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n",
        refusal.status.as_u16(),
        httpdate::fmt_http_date(now),
        crate::activity::now_ms() / 1000,
        reason.len(),
    );
    for (name, value) in refusal.extra {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(reason);
    text.into_bytes()
}

async fn write_all<S: AsyncWrite + Unpin>(stream: &mut S, bytes: &[u8]) -> std::io::Result<()> {
    tokio::time::timeout(WRITE_DEADLINE, async {
        stream.write_all(bytes).await?;
        stream.flush().await
    })
    .await
    .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn request(lines: &[&str]) -> Vec<u8> {
        let mut text = lines.join("\r\n");
        text.push_str("\r\n\r\n");
        text.into_bytes()
    }

    fn upgrade_lines(extra: &[&'static str]) -> Vec<&'static str> {
        let mut lines = vec![
            "GET /v1/session HTTP/1.1",
            "host: agent",
            "upgrade: websocket",
            "connection: keep-alive, Upgrade",
            "sec-websocket-version: 13",
            "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==",
        ];
        lines.extend_from_slice(extra);
        lines
    }

    fn status(head: &[u8]) -> StatusCode {
        match check(head) {
            Ok(_) => StatusCode::SWITCHING_PROTOCOLS,
            Err(refusal) => refusal.status,
        }
    }

    #[test]
    fn a_proper_upgrade_is_accepted_with_its_token() {
        let upgrade =
            check(&request(&upgrade_lines(&["Authorization: Bearer abc"]))).expect("accepted");
        assert_eq!(upgrade.route, Route::Session);
        assert_eq!(upgrade.authorization.as_deref(), Some("Bearer abc"));
        assert_eq!(upgrade.key, KEY);
    }

    #[test]
    fn each_fault_has_its_status() {
        let mut no_upgrade = upgrade_lines(&[]);
        no_upgrade.retain(|line| !line.starts_with("upgrade"));
        let mut old_version = upgrade_lines(&[]);
        old_version[4] = "sec-websocket-version: 8";
        let mut short_key = upgrade_lines(&[]);
        short_key[5] = "sec-websocket-key: c2hvcnQ=";
        let mut post = upgrade_lines(&[]);
        post[0] = "POST /v1/session HTTP/1.1";
        let mut http10 = upgrade_lines(&[]);
        http10[0] = "GET /v1/session HTTP/1.0";
        let mut elsewhere = upgrade_lines(&[]);
        elsewhere[0] = "GET /admin HTTP/1.1";
        let many: Vec<String> = std::iter::once("GET /v1/session HTTP/1.1".to_owned())
            .chain((0..=MAX_HEADERS).map(|n| format!("x-{n}: y")))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let cases: Vec<(&str, Vec<u8>, StatusCode)> = vec![
            (
                "no upgrade",
                request(&no_upgrade),
                StatusCode::UPGRADE_REQUIRED,
            ),
            (
                "version 8",
                request(&old_version),
                StatusCode::UPGRADE_REQUIRED,
            ),
            ("short key", request(&short_key), StatusCode::BAD_REQUEST),
            ("post", request(&post), StatusCode::METHOD_NOT_ALLOWED),
            ("HTTP/1.0", request(&http10), StatusCode::BAD_REQUEST),
            ("path", request(&elsewhere), StatusCode::NOT_FOUND),
            (
                "many headers",
                request(&many),
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ),
            (
                "control byte",
                b"GET / HTTP/1.1\r\nx: a\x01b\r\n\r\n".to_vec(),
                StatusCode::BAD_REQUEST,
            ),
            (
                "8-bit name",
                b"GET / HTTP/1.1\r\nx\xe9: a\r\n\r\n".to_vec(),
                StatusCode::BAD_REQUEST,
            ),
            (
                "garbage",
                b"\x16\x03\x01garbage\r\n\r\n".to_vec(),
                StatusCode::BAD_REQUEST,
            ),
        ];
        for (name, head, expected) in cases {
            assert_eq!(status(&head), expected, "{name}");
        }
    }

    #[test]
    fn a_refusal_is_a_complete_response() {
        let refusal = Refusal {
            status: StatusCode::METHOD_NOT_ALLOWED,
            extra: &[("allow", "GET")],
            reason: "method POST".to_owned(),
        };
        let bytes = render(&refusal, SystemTime::UNIX_EPOCH);
        let text = String::from_utf8(bytes).expect("text");
        let (head, body) = text.split_once("\r\n\r\n").expect("blank line");
        assert_eq!(body, "Method Not Allowed");
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut response = httparse::Response::new(&mut headers);
        let parsed = response.parse(text.as_bytes()).expect("parses");
        assert!(parsed.is_complete());
        assert_eq!(response.code, Some(405));
        let names: Vec<&str> = response.headers.iter().map(|h| h.name).collect();
        assert_eq!(
            names,
            [
                "date",
                AGENT_TIME_HEADER,
                "content-type",
                "content-length",
                "connection",
                "allow"
            ]
        );
        assert!(head.contains("date: Thu, 01 Jan 1970 00:00:00 GMT"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_get_an_answer_or_an_upgrade(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let mut head = bytes;
            head.extend_from_slice(b"\r\n\r\n");
            let _ = check(&head);
        }
    }
}
