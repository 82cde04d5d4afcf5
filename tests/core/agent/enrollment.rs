//! Enrollment, pinning, and what happens to impostors.

use sam_core::agent_client::{AgentClient, AgentEndpoint, AgentError, Caller, enroll};

use super::harness::TestAgent;

#[tokio::test]
async fn enrollment_pins_the_agents_certificate_once() {
    let agent = TestAgent::start(&[]);
    let client = agent.client().await;
    assert!(client.epoch().is_some());
    let again = enroll(&agent.addr, &agent.caller(), &agent.secret).await;
    assert_eq!(again, Err(AgentError::AlreadyEnrolled));
}

#[tokio::test]
async fn a_wrong_secret_is_detected_and_nothing_is_pinned() {
    let agent = TestAgent::start(&[]);
    let err = enroll(&agent.addr, &agent.caller(), "not-the-secret-at-all").await;
    assert_eq!(err, Err(AgentError::BadProof));
    // The agent did not burn its secret: the real client can still enroll.
    let pin = enroll(&agent.addr, &agent.caller(), &agent.secret)
        .await
        .expect("enrolls");
    assert_eq!(pin, agent.fingerprint);
}

#[tokio::test]
async fn a_session_before_enrollment_is_refused() {
    let agent = TestAgent::start(&[]);
    let endpoint = AgentEndpoint {
        addr: agent.addr.clone(),
        workspace: agent.workspace.clone(),
        pin: agent.fingerprint.clone(),
    };
    let client = AgentClient::connect(endpoint, agent.key.clone());
    let err = client
        .wait_connected(std::time::Duration::from_secs(5))
        .await
        .expect_err("refused");
    assert_eq!(err, AgentError::NotEnrolled);
}

#[tokio::test]
async fn another_agent_at_the_pinned_address_is_refused() {
    let first = TestAgent::start(&[]);
    let pin = enroll(&first.addr, &first.caller(), &first.secret)
        .await
        .expect("enrolls");
    let impostor = TestAgent::start(&[]);
    enroll(&impostor.addr, &impostor.caller(), &impostor.secret)
        .await
        .expect("enrolls");
    // Same workspace id, same installation key: only the certificate differs.
    let endpoint = AgentEndpoint {
        addr: impostor.addr.clone(),
        workspace: first.workspace.clone(),
        pin,
    };
    let client = AgentClient::connect(endpoint, first.key.clone());
    let err = client
        .wait_connected(std::time::Duration::from_secs(5))
        .await
        .expect_err("refused");
    assert_eq!(err, AgentError::PinMismatch);
}

#[tokio::test]
async fn the_enrollment_mark_and_identity_survive_a_restart() {
    let mut agent = TestAgent::start(&[]);
    let pin = enroll(&agent.addr, &agent.caller(), &agent.secret)
        .await
        .expect("enrolls");
    agent.kill_and_restart();
    assert_eq!(agent.fingerprint, pin, "same certificate after a restart");
    assert_eq!(
        enroll(&agent.addr, &agent.caller(), &agent.secret).await,
        Err(AgentError::AlreadyEnrolled)
    );
    agent.connect(&pin).await;
}

#[tokio::test]
async fn an_enrollment_token_for_another_workspace_is_refused() {
    let agent = TestAgent::start(&[]);
    let caller = Caller {
        key: &agent.key,
        workspace: "zzzzzzzzzzzz",
    };
    let err = enroll(&agent.addr, &caller, &agent.secret)
        .await
        .expect_err("refused");
    assert!(matches!(err, AgentError::Unauthorized { .. }), "{err:?}");
}
