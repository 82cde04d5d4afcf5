//! Accepting connections: admission, TLS, the upgrade request with its token check, then
//! either enrollment or a session.
//!
//! A connection is *pending* until its request has shown a valid token: it holds a place in the
//! admission pool ([`admission`]) and must finish the TLS handshake within [`TLS_DEADLINE`] and
//! send its request head within [`HEAD_DEADLINE`] after that. Only then does it take one of the
//! [`MAX_SESSIONS`] session places, which strangers therefore cannot fill.
//!
//! Every refusal after TLS is a complete HTTP response with no detail (the agent's log has the
//! reason): 400, 405, 408, 426 or 431 for a request that is not a proper upgrade ([`http`]), 404
//! for an unknown path, 401 for any token problem, 409 for enrolling twice or opening a session
//! before enrollment, 503 when every session place is taken. Each carries `Date` and
//! `x-sam-agent-time`, so the client can tell the user that their clock is off.

mod admission;
mod http;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use sam_protocol::MAX_TEXT_FRAME;
use sam_protocol::enroll::{EXPORTER_LABEL, EXPORTER_LEN};
use sam_protocol::message::EnrollMessage;
use sam_protocol::token::{self, Audience};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::agent::Agent;
use crate::session;
use admission::Admission;
use http::{Head, Refusal, Route};

pub use sam_protocol::MAX_SESSIONS;
/// How long the TLS handshake may take, from the moment the connection is accepted.
pub const TLS_DEADLINE: Duration = Duration::from_secs(5);
/// How long the request head may take to arrive, once TLS is up.
pub const HEAD_DEADLINE: Duration = Duration::from_secs(5);
/// How long an enrolling client may take to confirm the agent's proof.
const CONFIRM_DEADLINE: Duration = Duration::from_secs(10);

/// Serves connections on `listener` until the agent shuts down.
pub async fn serve(agent: Arc<Agent>, listener: TcpListener) -> std::io::Result<()> {
    let tls = TlsAcceptor::from(
        agent
            .identity
            .server_config()
            .map_err(std::io::Error::other)?,
    );
    let sessions = Arc::new(Semaphore::new(MAX_SESSIONS));
    let admission = Arc::new(Admission::default());
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
        let Some(ticket) = admission.admit(peer.ip(), Instant::now()) else {
            tracing::debug!(%peer, "closed: too many new connections from this source");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let agent = Arc::clone(&agent);
        let tls = tls.clone();
        let sessions = Arc::clone(&sessions);
        tokio::spawn(async move {
            let admitted = tokio::select! {
                () = ticket.evicted.cancelled() => {
                    tracing::debug!(%peer, "pending connection pushed out by newer ones");
                    return;
                }
                admitted = handshake(&agent, &tls, tcp, peer, &sessions) => admitted,
            };
            drop(ticket);
            let Some((route, ws, exporter, place)) = admitted else {
                return;
            };
            match route {
                Route::Enroll => enroll(&agent, ws, &exporter).await,
                Route::Session => session::run(agent, ws).await,
            }
            drop(place);
        });
    }
}

type Ws = WebSocketStream<tokio_rustls::server::TlsStream<TcpStream>>;

/// TLS, the request head and its checks: the route and a session place, or nothing (answered).
async fn handshake(
    agent: &Agent,
    tls: &TlsAcceptor,
    tcp: TcpStream,
    peer: SocketAddr,
    sessions: &Arc<Semaphore>,
) -> Option<(Route, Ws, [u8; EXPORTER_LEN], OwnedSemaphorePermit)> {
    let mut stream = match tokio::time::timeout(TLS_DEADLINE, tls.accept(tcp)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(err)) => {
            tracing::debug!(%peer, %err, "TLS handshake failed");
            return None;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
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
    let head = tokio::time::timeout(HEAD_DEADLINE, http::read(&mut stream))
        .await
        .unwrap_or_else(|_| {
            Head::Refused(Refusal::new(
                StatusCode::REQUEST_TIMEOUT,
                "request head too slow",
            ))
        });
    let upgrade = match head {
        Head::Upgrade(upgrade) => upgrade,
        Head::Gone => return None,
        Head::Refused(refusal) => return refuse(&mut stream, peer, None, &refusal).await,
    };
    let admitted =
        authorize(agent, upgrade.route, upgrade.authorization.as_deref()).and_then(|route| {
            match Arc::clone(sessions).try_acquire_owned() {
                Ok(place) => Ok((route, place)),
                Err(_) => Err(Refusal::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("all {MAX_SESSIONS} session places are taken"),
                )),
            }
        });
    let (route, place) = match admitted {
        Ok(admitted) => admitted,
        Err(refusal) => return refuse(&mut stream, peer, Some(upgrade.route), &refusal).await,
    };
    if let Err(err) = http::accept(&mut stream, &upgrade).await {
        tracing::debug!(%peer, %err, "upgrade answer failed");
        return None;
    }
    let limit = MAX_TEXT_FRAME.max(sam_protocol::frame::MAX_FRAME);
    let config = WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit));
    let ws =
        WebSocketStream::from_partially_read(stream, upgrade.leftover, Role::Server, Some(config))
            .await;
    Some((route, ws, exporter, place))
}

/// Logs a refusal (the reason stays in the log) and answers it.
async fn refuse<T>(
    stream: &mut tokio_rustls::server::TlsStream<TcpStream>,
    peer: SocketAddr,
    route: Option<Route>,
    refusal: &Refusal,
) -> Option<T> {
    tracing::info!(%peer, ?route, status = refusal.status.as_u16(), reason = %refusal.reason, "connection refused");
    http::refuse(stream, refusal).await;
    None
}

/// Decides whether a request may open `route`, from its `Authorization` header.
fn authorize(agent: &Agent, route: Route, authorization: Option<&str>) -> Result<Route, Refusal> {
    let audience = match route {
        Route::Enroll => Audience::Enroll,
        Route::Session => Audience::Session,
    };
    let Some(bearer) = authorization.and_then(|value| value.strip_prefix("Bearer ")) else {
        return Err(Refusal::new(StatusCode::UNAUTHORIZED, "no bearer token"));
    };
    if let Err(err) = token::verify(
        &agent.config.public_key,
        bearer,
        audience,
        &agent.config.workspace_id,
        unix_now(),
    ) {
        return Err(Refusal::new(
            StatusCode::UNAUTHORIZED,
            format!("token refused: {err}"),
        ));
    }
    let enrolled = agent.identity.is_enrolled();
    match route {
        Route::Enroll if enrolled => Err(Refusal::new(StatusCode::CONFLICT, "already enrolled")),
        Route::Enroll if agent.config.enrollment_key.is_none() => Err(Refusal::new(
            StatusCode::CONFLICT,
            "no enrollment secret configured",
        )),
        Route::Session if !enrolled => Err(Refusal::new(StatusCode::CONFLICT, "not enrolled yet")),
        _ => Ok(route),
    }
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
        ssh_host_key: Some(agent.identity.ssh_public_key()),
    };
    if ws.send(enroll_text(&offer)).await.is_err() {
        return;
    }
    let confirmed = matches!(
        tokio::time::timeout(CONFIRM_DEADLINE, ws.next()).await,
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
