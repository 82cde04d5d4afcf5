//! Enrollment from the desktop's side: check the agent's proof, then pin its certificate.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::{SinkExt, StreamExt};
use sam_protocol::ENROLL_PATH;
use sam_protocol::enroll::{EnrollmentKey, certificate_fingerprint};
use sam_protocol::message::EnrollMessage;
use sam_protocol::token::Audience;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::dial::{AgentSocket, CONNECT_TIMEOUT, Caller, dial};
use super::error::AgentError;
use super::tls::PinVerifier;

/// What enrollment established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolled {
    /// The certificate fingerprint to pin from now on.
    pub pin: String,
    /// The public half of the agent's SSH host key (`ssh-ed25519 AAAA…`), from an agent that
    /// has an SSH server.
    pub ssh_host_key: Option<String>,
}

/// Enrolls the agent at `addr` with the workspace's one-time `secret` and returns the
/// certificate fingerprint to pin from now on.
pub async fn enroll(addr: &str, caller: &Caller<'_>, secret: &str) -> Result<String, AgentError> {
    enroll_agent(addr, caller, secret)
        .await
        .map(|enrolled| enrolled.pin)
}

/// Enrolls the agent at `addr` with the workspace's one-time `secret`: its certificate's pin
/// and its SSH host key, both vouched for by the proof.
pub async fn enroll_agent(
    addr: &str,
    caller: &Caller<'_>,
    secret: &str,
) -> Result<Enrolled, AgentError> {
    let verifier = PinVerifier::new(None);
    let (mut socket, exporter) = dial(
        addr,
        &verifier,
        ENROLL_PATH,
        &caller.token(Audience::Enroll),
    )
    .await?;
    let certificate = verifier
        .presented()
        .ok_or_else(|| AgentError::Protocol("no certificate presented".into()))?;

    let EnrollMessage::EnrollProof {
        proof,
        workspace,
        ssh_host_key,
        ..
    } = next(&mut socket).await?
    else {
        return Err(AgentError::Protocol("expected enroll_proof".into()));
    };
    if workspace != caller.workspace {
        return Err(AgentError::Protocol(format!(
            "the agent serves workspace {workspace:?}"
        )));
    }
    let proof = URL_SAFE_NO_PAD
        .decode(proof)
        .map_err(|_| AgentError::BadProof)?;
    if !EnrollmentKey::from_secret(secret).verify(&exporter, &proof) {
        let _ = socket
            .close(Some(CloseFrame {
                code: CloseCode::Library(4001),
                reason: "enrollment proof did not verify".into(),
            }))
            .await;
        return Err(AgentError::BadProof);
    }
    let fingerprint = certificate_fingerprint(&certificate);
    let confirm = serde_json::to_string(&EnrollMessage::EnrollConfirm).unwrap_or_default();
    socket
        .send(Message::Text(confirm.into()))
        .await
        .map_err(|_| AgentError::ConnectionLost)?;
    match next(&mut socket).await? {
        EnrollMessage::Enrolled => {
            let _ = socket.close(None).await;
            Ok(Enrolled {
                pin: fingerprint,
                ssh_host_key,
            })
        }
        EnrollMessage::Failed { message } => Err(AgentError::Protocol(message)),
        other => Err(AgentError::Protocol(format!("unexpected {other:?}"))),
    }
}

async fn next(socket: &mut AgentSocket) -> Result<EnrollMessage, AgentError> {
    let deadline = tokio::time::timeout(CONNECT_TIMEOUT, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str(text.as_str()).map_err(|err| {
                        AgentError::Protocol(format!("bad enrollment message: {err}"))
                    });
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(_)) | Some(Err(_)) | None => return Err(AgentError::ConnectionLost),
            }
        }
    });
    deadline
        .await
        .map_err(|_| AgentError::Timeout(CONNECT_TIMEOUT))?
}
