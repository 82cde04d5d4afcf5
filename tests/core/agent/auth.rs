//! The token attack list: every bad token gets a bare 401 with the agent's clock, before any
//! WebSocket exists.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer, SigningKey};
use sam_core::agent_client::dial::unix_now;
use sam_core::agent_client::tls::PinVerifier;
use sam_core::agent_client::{AgentError, dial};
use sam_protocol::SESSION_PATH;
use sam_protocol::token::{Audience, mint};

use super::harness::TestAgent;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn signed(key: &SigningKey, header: &str, claims: &serde_json::Value) -> String {
    let input = format!(
        "{}.{}",
        b64(header.as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64(&signature.to_bytes()))
}

#[tokio::test]
async fn every_bad_token_is_refused_with_401_and_the_agents_clock() {
    let agent = TestAgent::start(&[]);
    let pin = sam_core::agent_client::enroll(&agent.addr, &agent.caller(), &agent.secret)
        .await
        .expect("enrolls");
    let now = unix_now();
    let claims = |aud: &str, workspace: &str, iat: i64, exp: i64| serde_json::json!({"aud": aud, "workspace": workspace, "iat": iat, "exp": exp});
    let session = Audience::Session.as_str();
    let ws = agent.workspace.as_str();
    let stranger = SigningKey::from_bytes(&[9; 32]);
    let header = r#"{"alg":"EdDSA","typ":"JWT"}"#;

    let hs256 = {
        use hmac::Mac;
        let input = format!(
            "{}.{}",
            b64(br#"{"alg":"HS256","typ":"JWT"}"#),
            b64(claims(session, ws, now, now + 60).to_string().as_bytes())
        );
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(agent.key.verifying_key().as_bytes())
                .expect("key");
        mac.update(input.as_bytes());
        format!("{input}.{}", b64(&mac.finalize().into_bytes()))
    };
    let cases: Vec<(&str, String)> = vec![
        ("empty", String::new()),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(br#"{"alg":"none"}"#),
                b64(claims(session, ws, now, now + 60).to_string().as_bytes())
            ),
        ),
        ("HS256 keyed with the public key", hs256),
        (
            "another key",
            mint(&stranger, Audience::Session, ws, now, 60),
        ),
        (
            "expired",
            mint(&agent.key, Audience::Session, ws, now - 400, 60),
        ),
        (
            "issued in the future",
            mint(&agent.key, Audience::Session, ws, now + 600, 60),
        ),
        (
            "lifetime over five minutes",
            mint(&agent.key, Audience::Session, ws, now, 3600),
        ),
        (
            "wrong workspace",
            mint(&agent.key, Audience::Session, "zzzzzzzzzzzz", now, 60),
        ),
        (
            "enrollment audience",
            mint(&agent.key, Audience::Enroll, ws, now, 60),
        ),
        ("garbage", "a.b.c".to_owned()),
        (
            "unsigned header tampering",
            signed(
                &agent.key,
                r#"{"alg":"EdDSA","jku":"x"}"#,
                &claims(session, ws, now, now + 60),
            ),
        ),
    ];
    assert!(!signed(&agent.key, header, &claims(session, ws, now, now + 60)).is_empty());
    for (name, token) in cases {
        let verifier = PinVerifier::new(Some(pin.clone()));
        let err = dial(&agent.addr, &verifier, SESSION_PATH, &token)
            .await
            .expect_err(name);
        match err {
            AgentError::Unauthorized {
                clock_skew_secs: Some(skew),
            } => assert!(skew.abs() <= 2, "{name}: skew {skew}"),
            other => panic!("{name}: expected 401, got {other:?}"),
        }
    }
    // And the well-formed token works.
    let good = signed(&agent.key, header, &claims(session, ws, now, now + 60));
    let verifier = PinVerifier::new(Some(pin));
    assert!(
        dial(&agent.addr, &verifier, SESSION_PATH, &good)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn an_unknown_path_is_404() {
    let agent = TestAgent::start(&[]);
    let verifier = PinVerifier::new(None);
    let token = mint(
        &agent.key,
        Audience::Session,
        &agent.workspace,
        unix_now(),
        60,
    );
    let err = dial(&agent.addr, &verifier, "/v1/admin", &token)
        .await
        .expect_err("refused");
    assert_eq!(err, AgentError::Refused(404));
}
