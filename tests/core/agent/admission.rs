//! Admission control against a real agent: strangers cannot keep the owner out, and only
//! connections that proved a token can fill the session places.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use sam_protocol::{MAX_SESSIONS, PENDING_PER_SOURCE, SESSION_PATH};
use tokio::io::AsyncReadExt;

use super::harness::TestAgent;
use super::raw;

const STRANGER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

#[tokio::test]
async fn a_stranger_parking_sockets_pushes_out_only_its_own() {
    let agent = TestAgent::start(&[]);
    // More idle sockets than there are session places: before admission control, these alone
    // made every connection of the owner's fail with 503 until they timed out.
    let mut parked = Vec::new();
    for _ in 0..MAX_SESSIONS + 8 {
        parked.push(raw::tcp_from(STRANGER, &agent).await);
    }
    assert!(parked.len() > PENDING_PER_SOURCE);

    // With all of them parked, the owner connects and works.
    let client = agent.client().await;
    let files = client.fs_list("").await.expect("lists the workspace");
    assert!(files.is_empty(), "{files:?}");

    // The agent made room for each newer one by closing that source's oldest.
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(20), parked[0].read(&mut byte))
        .await
        .expect("the oldest parked socket is closed");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    drop(parked);
}

#[tokio::test]
async fn only_connections_with_a_token_can_fill_the_session_places() {
    let agent = TestAgent::start(&[]);
    agent.enroll().await;
    let mut sessions = Vec::new();
    for _ in 0..MAX_SESSIONS {
        sessions.push(raw::session(&agent).await);
    }
    let stranger = raw::exchange(&agent, raw::upgrade(SESSION_PATH, &[])).await;
    assert_eq!(
        stranger.status, 401,
        "a stranger learns nothing of the load"
    );
    let owner = raw::exchange(
        &agent,
        raw::upgrade(SESSION_PATH, &[raw::session_bearer(&agent)]),
    )
    .await;
    assert_eq!(owner.status, 503);

    // A place freed is a place the owner gets.
    drop(sessions.pop());
    let client = agent.connect(&agent.fingerprint).await;
    client.fs_list("").await.expect("lists the workspace");
}
