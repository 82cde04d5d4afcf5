//! Accepting connections: TLS, then the WebSocket upgrade with its token check, then either
//! enrollment or a session.
//!
//! Every refusal happens before the upgrade, as a bare HTTP status with no detail (the agent's
//! log has the reason): 401 for any token problem — with `Date` and `x-sam-agent-time` headers
//! so the client can tell the user that their clock is off — 404 for an unknown path, 409 for
//! enrolling twice or opening a session before enrollment, 503 when too many connections are
//! open.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::{SinkExt, StreamExt};
use sam_protocol::enroll::{EXPORTER_LABEL, EXPORTER_LEN};
use sam_protocol::message::EnrollMessage;
use sam_protocol::token::{self, Audience};
use sam_protocol::{AGENT_TIME_HEADER, ENROLL_PATH, MAX_TEXT_FRAME, SESSION_PATH};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::agent::Agent;
use crate::session;

/// How many connections may be open at once.
pub const MAX_CONNECTIONS: usize = 32;
/// How long the TLS and WebSocket handshakes may take together.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What an accepted upgrade is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Enroll,
    Session,
}

/// Serves connections on `listener` until the agent shuts down.
pub async fn serve(agent: Arc<Agent>, listener: TcpListener) -> std::io::Result<()> {
    let tls = TlsAcceptor::from(
        agent
            .identity
            .server_config()
            .map_err(std::io::Error::other)?,
    );
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (tcp, peer) = tokio::select! {
            () = agent.shutdown.cancelled() => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait a moment instead of spinning.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let permit = Arc::clone(&slots).try_acquire_owned().ok();
        let agent = Arc::clone(&agent);
        let tls = tls.clone();
        tokio::spawn(async move {
            let overloaded = permit.is_none();
            let outcome = tokio::time::timeout(
                HANDSHAKE_TIMEOUT,
                handshake(&agent, &tls, tcp, peer, overloaded),
            )
            .await;
            match outcome {
                Ok(Some((route, ws, exporter))) => match route {
                    Route::Enroll => enroll(&agent, ws, &exporter).await,
                    Route::Session => session::run(agent, ws).await,
                },
                Ok(None) => {}
                Err(_) => tracing::debug!(%peer, "handshake timed out"),
            }
            drop(permit);
        });
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_rustls::server::TlsStream<TcpStream>>;

// The upgrade callback's signature (and its large error type) is tungstenite's.
#[allow(clippy::result_large_err)]
async fn handshake(
    agent: &Agent,
    tls: &TlsAcceptor,
    tcp: TcpStream,
    peer: SocketAddr,
    overloaded: bool,
) -> Option<(Route, Ws, [u8; EXPORTER_LEN])> {
    let stream = match tls.accept(tcp).await {
        Ok(stream) => stream,
        Err(err) => {
            tracing::debug!(%peer, %err, "TLS handshake failed");
            return None;
        }
    };
    let mut exporter = [0u8; EXPORTER_LEN];
    if let Err(err) = stream
        .get_ref()
        .1
        .export_keying_material(&mut exporter, EXPORTER_LABEL, None)
    {
        tracing::warn!(%peer, %err, "TLS exporter unavailable");
        return None;
    }
    let mut route = None;
    let check = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        if overloaded {
            return Err(refusal(StatusCode::SERVICE_UNAVAILABLE));
        }
        let decided = authorize(agent, request);
        if let Err(reason) = &decided.1 {
            tracing::info!(%peer, path = request.uri().path(), %reason, "connection refused");
        }
        match decided {
            (_, Err(_)) => Err(refusal(decided.0)),
            (_, Ok(accepted)) => {
                route = Some(accepted);
                Ok(response)
            }
        }
    };
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_TEXT_FRAME.max(sam_protocol::frame::MAX_FRAME)))
        .max_frame_size(Some(MAX_TEXT_FRAME.max(sam_protocol::frame::MAX_FRAME)));
    match tokio_tungstenite::accept_hdr_async_with_config(stream, check, Some(config)).await {
        Ok(ws) => route.map(|route| (route, ws, exporter)),
        Err(err) => {
            tracing::debug!(%peer, %err, "upgrade refused");
            None
        }
    }
}

/// Decides what a request may open: the status to refuse with, or the route.
fn authorize(agent: &Agent, request: &Request) -> (StatusCode, Result<Route, String>) {
    let (route, audience) = match request.uri().path() {
        ENROLL_PATH => (Route::Enroll, Audience::Enroll),
        SESSION_PATH => (Route::Session, Audience::Session),
        other => return (StatusCode::NOT_FOUND, Err(format!("unknown path {other}"))),
    };
    let bearer = request
        .headers()
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let Some(bearer) = bearer else {
        return (StatusCode::UNAUTHORIZED, Err("no bearer token".to_owned()));
    };
    let now = unix_now();
    if let Err(err) = token::verify(
        &agent.config.public_key,
        bearer,
        audience,
        &agent.config.workspace_id,
        now,
    ) {
        return (
            StatusCode::UNAUTHORIZED,
            Err(format!("token refused: {err}")),
        );
    }
    let enrolled = agent.identity.is_enrolled();
    match route {
        Route::Enroll if enrolled => (StatusCode::CONFLICT, Err("already enrolled".to_owned())),
        Route::Enroll if agent.config.enrollment_key.is_none() => (
            StatusCode::CONFLICT,
            Err("no enrollment secret configured".to_owned()),
        ),
        Route::Session if !enrolled => (StatusCode::CONFLICT, Err("not enrolled yet".to_owned())),
        _ => (StatusCode::SWITCHING_PROTOCOLS, Ok(route)),
    }
}

fn refusal(status: StatusCode) -> ErrorResponse {
    let mut response = ErrorResponse::new(status.canonical_reason().map(str::to_owned));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Ok(date) = HeaderValue::from_str(&httpdate::fmt_http_date(SystemTime::now())) {
        headers.insert("date", date);
    }
    headers.insert(AGENT_TIME_HEADER, HeaderValue::from(unix_now()));
    response
}

fn unix_now() -> i64 {
    crate::activity::now_ms() / 1000
}

/// The enrollment exchange: send the proof, wait for the client's confirmation, burn the secret.
async fn enroll(agent: &Agent, mut ws: Ws, exporter: &[u8; EXPORTER_LEN]) {
    let Some(key) = &agent.config.enrollment_key else {
        return;
    };
    use base64::Engine;
    let offer = EnrollMessage::EnrollProof {
        proof: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.proof(exporter)),
        workspace: agent.config.workspace_id.clone(),
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    if ws.send(enroll_text(&offer)).await.is_err() {
        return;
    }
    let confirmed = matches!(
        tokio::time::timeout(HANDSHAKE_TIMEOUT, ws.next()).await,
        Ok(Some(Ok(Message::Text(text))))
            if matches!(serde_json::from_str(text.as_str()), Ok(EnrollMessage::EnrollConfirm))
    );
    if !confirmed {
        tracing::warn!("enrollment not confirmed by the client");
        let _ = ws.close(None).await;
        return;
    }
    let reply = match agent.identity.mark_enrolled() {
        Ok(()) => {
            agent.event(&format!(
                "enrolled; certificate {} is now pinned",
                agent.identity.fingerprint()
            ));
            EnrollMessage::Enrolled
        }
        Err(err) => {
            tracing::error!(%err, "cannot record the enrollment");
            EnrollMessage::Failed {
                message: "the agent could not record its enrollment".to_owned(),
            }
        }
    };
    let _ = ws.send(enroll_text(&reply)).await;
    let _ = ws.close(None).await;
}

fn enroll_text(message: &EnrollMessage) -> Message {
    Message::Text(serde_json::to_string(message).unwrap_or_default().into())
}
