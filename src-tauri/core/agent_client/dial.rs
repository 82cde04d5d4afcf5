//! Opening one authenticated WebSocket to an agent: TCP, TLS with the pin verifier, upgrade with
//! a fresh token. Shared by enrollment and sessions.

use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use rustls::pki_types::ServerName;
use sam_protocol::enroll::{EXPORTER_LABEL, EXPORTER_LEN};
use sam_protocol::token::{self, Audience};
use sam_protocol::{AGENT_TIME_HEADER, ENROLL_PATH, MAX_AGENT_TEXT_FRAME};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::error::AgentError;
use super::tls::{PinVerifier, SERVER_NAME};

/// A WebSocket to an agent.
pub type AgentSocket = WebSocketStream<TlsStream<TcpStream>>;

/// How long connecting (TCP, TLS and upgrade) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Lifetime of the tokens the client mints: one connection attempt each.
pub const TOKEN_LIFETIME_SECS: i64 = 120;

/// Who is dialling: the installation key and the workspace it wants.
#[derive(Debug, Clone)]
pub struct Caller<'a> {
    /// The installation's signing key.
    pub key: &'a SigningKey,
    /// The workspace id the token names.
    pub workspace: &'a str,
}

impl Caller<'_> {
    /// A fresh token for `audience`.
    pub fn token(&self, audience: Audience) -> String {
        token::mint(
            self.key,
            audience,
            self.workspace,
            unix_now(),
            TOKEN_LIFETIME_SECS,
        )
    }
}

/// Connects to `addr`, upgrades `path` presenting `bearer`, and returns the socket and the TLS
/// session's exporter value (for enrollment). Public so tests and tools can present any token.
pub async fn dial(
    addr: &str,
    verifier: &Arc<PinVerifier>,
    path: &str,
    bearer: &str,
) -> Result<(AgentSocket, [u8; EXPORTER_LEN]), AgentError> {
    tokio::time::timeout(CONNECT_TIMEOUT, dial_inner(addr, verifier, path, bearer))
        .await
        .map_err(|_| AgentError::Unreachable {
            addr: addr.to_owned(),
            detail: format!("no answer within {CONNECT_TIMEOUT:?}"),
        })?
}

async fn dial_inner(
    addr: &str,
    verifier: &Arc<PinVerifier>,
    path: &str,
    bearer: &str,
) -> Result<(AgentSocket, [u8; EXPORTER_LEN]), AgentError> {
    let unreachable = |detail: String| AgentError::Unreachable {
        addr: addr.to_owned(),
        detail,
    };
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|err| unreachable(err.to_string()))?;
    let _ = tcp.set_nodelay(true);
    let config = verifier
        .client_config()
        .map_err(|err| unreachable(err.to_string()))?;
    let name = ServerName::try_from(SERVER_NAME).map_err(|err| unreachable(err.to_string()))?;
    let tls = TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|err| {
            let certificate_refused = err
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                .is_some_and(|tls| matches!(tls, rustls::Error::InvalidCertificate(_)));
            if certificate_refused {
                AgentError::PinMismatch
            } else {
                unreachable(format!("TLS: {err}"))
            }
        })?;
    let mut exporter = [0u8; EXPORTER_LEN];
    tls.get_ref()
        .1
        .export_keying_material(&mut exporter, EXPORTER_LABEL, None)
        .map_err(|err| AgentError::Protocol(format!("TLS exporter: {err}")))?;

    let mut request = format!("wss://{SERVER_NAME}{path}")
        .into_client_request()
        .map_err(|err| AgentError::Protocol(err.to_string()))?;
    let bearer = HeaderValue::from_str(&format!("Bearer {bearer}"))
        .map_err(|err| AgentError::Protocol(err.to_string()))?;
    request.headers_mut().insert("authorization", bearer);
    // What the agent sends: its largest text frame (an `fs_data` of the largest read) and its
    // output frames.
    let frame_limit = MAX_AGENT_TEXT_FRAME.max(sam_protocol::frame::MAX_FRAME);
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(frame_limit))
        .max_frame_size(Some(frame_limit));
    match tokio_tungstenite::client_async_with_config(request, tls, Some(ws_config)).await {
        Ok((socket, _)) => Ok((socket, exporter)),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let status = response.status().as_u16();
            Err(match status {
                401 => {
                    let agent_time = response
                        .headers()
                        .get(AGENT_TIME_HEADER)
                        .and_then(|value| value.to_str().ok())
                        .and_then(|value| value.parse::<i64>().ok());
                    AgentError::Unauthorized {
                        clock_skew_secs: agent_time.map(|t| t - unix_now()),
                    }
                }
                409 if path == ENROLL_PATH => AgentError::AlreadyEnrolled,
                409 => AgentError::NotEnrolled,
                other => AgentError::Refused(other),
            })
        }
        Err(err) => Err(unreachable(format!("upgrade: {err}"))),
    }
}

/// Unix seconds now.
pub fn unix_now() -> i64 {
    crate::clock::now_ms() / 1000
}
