//! A deliberately careless client: raw TCP and TLS to a real agent, writing whatever bytes a
//! test wants, to see what the agent answers.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use sam_core::agent_client::tls::PinVerifier;
use sam_protocol::token::Audience;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::harness::TestAgent;

pub type Tls = TlsStream<TcpStream>;

/// A plain TCP connection to the agent from the loopback address `source` (127.0.0.2, say:
/// every 127/8 address is this machine, so tests can play several internet hosts).
pub async fn tcp_from(source: IpAddr, agent: &TestAgent) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::new(source, 0)).expect("bind");
    let addr: SocketAddr = agent.addr.parse().expect("address");
    socket.connect(addr).await.expect("connects")
}

/// A TLS connection to the agent, trusting whatever certificate it shows.
pub async fn tls(agent: &TestAgent) -> Tls {
    let tcp = TcpStream::connect(&agent.addr).await.expect("connects");
    let config = PinVerifier::new(None).client_config().expect("config");
    TlsConnector::from(Arc::clone(&config))
        .connect("agent.sam".try_into().expect("name"), tcp)
        .await
        .expect("TLS")
}

/// A parsed HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `request` (writing while reading, so a large request cannot block the answer), then
/// reads to the end of the connection and parses the answer.
pub async fn exchange(agent: &TestAgent, request: Vec<u8>) -> Answer {
    let (mut reader, mut writer) = tokio::io::split(tls(agent).await);
    let write = tokio::spawn(async move {
        // The agent may stop reading and close once it has refused: not this test's concern.
        let _ = writer.write_all(&request).await;
        let _ = writer.shutdown().await;
    });
    let mut bytes = Vec::new();
    let _ = reader.read_to_end(&mut bytes).await;
    let _ = write.await;
    parse(&bytes)
}

/// Reads a response head (and, when the answer says how long, its body) from `bytes`.
pub fn parse(bytes: &[u8]) -> Answer {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(end)) = response.parse(bytes) else {
        panic!("not an HTTP answer: {:?}", String::from_utf8_lossy(bytes));
    };
    Answer {
        status: response.code.expect("status"),
        headers: response
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_owned(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect(),
        body: bytes[end..].to_vec(),
    }
}

/// An upgrade request for `path` with the given extra header lines.
pub fn upgrade(path: &str, extra: &[String]) -> Vec<u8> {
    let mut text = format!(
        "GET {path} HTTP/1.1\r\nhost: agent.sam\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    );
    for line in extra {
        text.push_str(line);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    text.into_bytes()
}

/// A session token's header line for this agent.
pub fn session_bearer(agent: &TestAgent) -> String {
    format!(
        "authorization: Bearer {}",
        agent.caller().token(Audience::Session)
    )
}

/// A WebSocket session upgraded by hand (the agent must be enrolled): the TLS stream after the
/// 101 answer.
pub async fn session(agent: &TestAgent) -> Tls {
    let mut stream = tls(agent).await;
    let request = upgrade(sam_protocol::SESSION_PATH, &[session_bearer(agent)]);
    stream.write_all(&request).await.expect("request");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let byte = stream.read_u8().await.expect("answer");
        head.push(byte);
    }
    assert_eq!(
        parse(&head).status,
        101,
        "{:?}",
        String::from_utf8_lossy(&head)
    );
    stream
}

/// A client frame (masked with a zero key, which leaves the payload as it is).
pub fn masked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x80 | opcode];
    push_length(&mut frame, 0x80, payload.len() as u64);
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend_from_slice(payload);
    frame
}

/// A frame header with the length field (and mask bit) as given, for lying about lengths.
pub fn push_length(frame: &mut Vec<u8>, mask_bit: u8, len: u64) {
    match len {
        0..=125 => frame.push(mask_bit | len as u8),
        126..=0xffff => {
            frame.push(mask_bit | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            frame.push(mask_bit | 127);
            frame.extend_from_slice(&len.to_be_bytes());
        }
    }
}

/// Reads server frames until a close frame, and returns its status code (`None`: no code).
pub async fn close_code(stream: &mut Tls) -> Option<u16> {
    loop {
        let first = stream.read_u8().await.expect("a frame");
        let len = match stream.read_u8().await.expect("length") & 0x7f {
            126 => u64::from(stream.read_u16().await.expect("length")),
            127 => stream.read_u64().await.expect("length"),
            short => u64::from(short),
        };
        let mut payload = vec![0u8; usize::try_from(len).expect("size")];
        stream.read_exact(&mut payload).await.expect("payload");
        if first & 0x0f == 0x8 {
            return payload
                .get(..2)
                .map(|code| u16::from_be_bytes([code[0], code[1]]));
        }
    }
}
