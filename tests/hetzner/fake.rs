//! The fake itself: its wire format (pagination, headers), its standalone binary, and servers
//! that boot the real agent from SAM's user_data with the volume as the workspace disk.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use ed25519_dalek::SigningKey;
use serde_json::{Value, json};

use super::{WAIT, cloud, create_new, request, run_on};

#[tokio::test]
async fn lists_are_paginated_with_meta_link_and_rate_limit_headers() {
    let cloud = cloud().await;
    let http = reqwest::Client::new();
    for n in 0..3 {
        let body = json!({"name": format!("fw-{n}"), "rules": [], "labels": {"page-test": "yes"}});
        let status = http
            .post(format!("{}/firewalls", cloud.fake.base_url()))
            .bearer_auth("t")
            .json(&body)
            .send()
            .await
            .expect("posted")
            .status();
        assert_eq!(status.as_u16(), 201);
    }
    let response = http
        .get(format!(
            "{}/firewalls?per_page=2&page=1&label_selector=page-test",
            cloud.fake.base_url()
        ))
        .bearer_auth("t")
        .send()
        .await
        .expect("listed");
    let headers = response.headers().clone();
    for name in [
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "x-correlation-id",
    ] {
        assert!(headers.contains_key(name), "{name} is sent");
    }
    assert!(
        headers["link"]
            .to_str()
            .expect("text")
            .contains("rel=\"next\"")
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["firewalls"].as_array().expect("list").len(), 2);
    assert_eq!(body["meta"]["pagination"]["next_page"], 2);
    assert_eq!(body["meta"]["pagination"]["last_page"], 2);
    assert_eq!(body["meta"]["pagination"]["total_entries"], 3);
    // The client reads every page.
    let all = cloud
        .client
        .firewalls("page-test=yes")
        .await
        .expect("firewalls");
    assert_eq!(all.len(), 3);
    // Errors come in Hetzner's shape.
    let response = http
        .get(format!("{}/servers/12", cloud.fake.base_url()))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status().as_u16(), 401);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "unauthorized");
    assert!(body["error"].get("details").is_some());
}

#[test]
fn the_binary_prints_its_base_url_first_and_serves_it() {
    let mut child = Command::new(sam_test_support::binary("fake-hetzner"))
        .args(["--listen", "127.0.0.1:0", "--token", "secret-token"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("fake-hetzner starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("first line");
    let url = line.trim().to_owned();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/v1"),
        "{url}"
    );
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (good, bad) = runtime.block_on(async {
        let http = reqwest::Client::new();
        let get = |token: &'static str| {
            http.get(format!("{url}/locations"))
                .bearer_auth(token)
                .send()
        };
        (
            get("secret-token")
                .await
                .expect("answered")
                .status()
                .as_u16(),
            get("other").await.expect("answered").status().as_u16(),
        )
    });
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!((good, bad), (200, 401));
}

/// SAM-shaped user_data carrying just the agent's config.
fn user_data(key: &SigningKey, workspace: &str, secret: &str) -> String {
    let config = json!({
        "public_key": sam_protocol::token::encode_public_key(&key.verifying_key()),
        "workspace_id": workspace,
        "workspace_root": "/workspace",
        "enrollment_secret": secret,
        "backstop": "none",
        "idle_timeout_secs": 0,
    });
    let document = json!({"write_files": [{
        "path": fake_hetzner::machines::AGENT_CONFIG_PATH,
        "content": config.to_string(),
        "permissions": "0600",
    }]});
    format!("#cloud-config\n{document}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_boots_the_real_agent_on_its_address_with_the_volume_as_its_disk() {
    let cloud = cloud().await;
    let workspace = "fakeboot1234";
    let key = SigningKey::from_bytes(&[7; 32]);
    let secret = "a-one-time-enrollment-secret";
    let labels = Default::default();
    let (volume, action) = cloud
        .client
        .create_volume("sam-fakeboot1234", 10, "fsn1", &labels)
        .await
        .expect("volume");
    cloud
        .client
        .wait(&action, WAIT)
        .await
        .expect("volume created");
    let user_data = user_data(&key, workspace, secret);
    let mut create = request("sam-fakeboot1234", &labels, "cx23", "fsn1");
    create.user_data = &user_data;
    create.volumes = vec![volume.id];
    let created = create_new(&cloud.client, &create).await;
    cloud
        .client
        .wait_all(&created.next_actions, WAIT)
        .await
        .expect("started");
    let ip = created.server.public_net.ipv4.expect("an IPv4 address").ip;
    assert!(ip.starts_with("127.0.0."), "{ip}");
    let addr = format!("{ip}:443");

    run_on(
        &cloud,
        &addr,
        &key,
        workspace,
        secret,
        "echo from-the-vm > proof.txt",
    )
    .await;
    let disk = cloud
        .fake
        .volume_dir("sam-fakeboot1234")
        .expect("the volume's folder");
    assert_eq!(
        std::fs::read_to_string(disk.join("proof.txt")).expect("written on the volume"),
        "from-the-vm\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_boots_and_one_that_vanishes() {
    let cloud = cloud().await;
    cloud.fake.set_faults(fake_hetzner::Faults {
        never_boot: true,
        ..fake_hetzner::Faults::default()
    });
    let key = SigningKey::from_bytes(&[5; 32]);
    let user_data = user_data(&key, "neverboot123", "a-one-time-enrollment-secret");
    let labels = Default::default();
    let mut create = request("sam-neverboot123", &labels, "cx23", "fsn1");
    create.user_data = &user_data;
    let created = create_new(&cloud.client, &create).await;
    cloud
        .client
        .wait_all(&created.next_actions, WAIT)
        .await
        .expect("started");
    let server = cloud
        .client
        .server(created.server.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        server.status,
        sam_core::provider::hetzner::model::ServerStatus::Running
    );
    // Running, but nothing answers where its agent would: the address is held for this
    // server alone, so a refusal is the agent's absence, not someone else's port.
    let ip = server.public_net.ipv4.expect("IPv4").ip;
    let err = tokio::net::TcpStream::connect(format!("{ip}:443"))
        .await
        .expect_err("no agent");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);

    // Deleted behind SAM's back: gone from every answer.
    let vanish = reqwest::Client::new()
        .post(format!(
            "{}/__fake/servers/{}/vanish",
            cloud.fake.base_url().trim_end_matches("/v1"),
            server.id
        ))
        .send()
        .await
        .expect("control endpoint");
    assert!(vanish.status().is_success());
    assert!(cloud.client.server(server.id).await.expect("get").is_none());
    assert!(cloud.client.servers("").await.expect("list").is_empty());
}
