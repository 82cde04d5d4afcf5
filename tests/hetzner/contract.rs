//! The fake speaks the real API's shape. Two independent judges watch one realistic session
//! (catalogue, firewall, volume, server with both, listing with a label selector and pages,
//! actions, power, volume detach/attach, deletes, and the error answers SAM branches on):
//! Hetzner's OpenAPI description validates every body the fake sends, and the strict models of
//! the `hcloud` crate parse every answer.

mod hcloud_client;
mod openapi;

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use fake_hetzner::{FakeHetzner, Options};
use reqwest::Method;
use serde_json::{Value, json};
use tempfile::TempDir;

use openapi::Contract;

const TOKEN: &str = "contract-token";
/// A token that may only read.
const READ_ONLY: &str = "contract-read-only";
const WAIT: Duration = Duration::from_secs(20);
/// Cloud-init with nothing to do: no agent boots on these servers.
const USER_DATA: &str = "#cloud-config\n{}";

/// A fake that accepts only [`TOKEN`], and the folder it keeps its state in.
async fn start_fake() -> (FakeHetzner, TempDir) {
    // reqwest 0.13 is built without a crypto provider; the app installs ring, so do tests.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut options = Options::new(dir.path().join("fake"));
    options.token = Some(TOKEN.to_owned());
    options.read_only_token = Some(READ_ONLY.to_owned());
    let fake = FakeHetzner::start("127.0.0.1:0".parse().expect("addr"), options)
        .await
        .expect("the fake starts");
    (fake, dir)
}

/// An HTTP client that has every answer validated against the description.
struct Wire {
    http: reqwest::Client,
    base: String,
    contract: Contract,
    failures: Mutex<Vec<String>>,
}

impl Wire {
    fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.to_owned(),
            contract: Contract::load(),
            failures: Mutex::new(Vec::new()),
        }
    }

    /// `method path` (after `/v1`, with its query) with `TOKEN`; returns status and body.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(TOKEN, method, path, body).await
    }

    async fn call_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the fake answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        let bare = path.split('?').next().unwrap_or(path);
        if let Err(failure) = self.contract.check(method.as_str(), bare, status, &text) {
            self.failures
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(failure);
        }
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        // The description still lists `datacenter`; the live API dropped it in July 2026.
        if mentions_key(&body, "datacenter") {
            self.failures
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(format!("{method} {bare}: sends `datacenter`: {body}"));
        }
        (status, body)
    }

    /// Like [`Wire::call`] and asserts the status.
    async fn expect(&self, status: u16, method: Method, path: &str, body: Option<Value>) -> Value {
        let (got, answer) = self.call(method.clone(), path, body).await;
        assert_eq!(got, status, "{method} {path}: {answer}");
        answer
    }

    /// Asserts an error answer's status and code.
    async fn expect_error(
        &self,
        status: u16,
        code: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) {
        let answer = self.expect(status, method, path, body).await;
        assert_eq!(answer["error"]["code"], code, "{answer}");
    }

    /// Polls `/actions/{id}` until each action succeeded.
    async fn wait(&self, ids: &[i64]) {
        let deadline = tokio::time::Instant::now() + WAIT;
        for id in ids {
            loop {
                let answer = self
                    .expect(200, Method::GET, &format!("/actions/{id}"), None)
                    .await;
                match answer["action"]["status"].as_str() {
                    Some("success") => break,
                    Some("running") if tokio::time::Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    _ => panic!("action {id} did not succeed: {answer}"),
                }
            }
        }
    }
}

/// Whether `key` is an object key anywhere in `value`.
fn mentions_key(value: &Value, key: &str) -> bool {
    match value {
        Value::Object(map) => map.contains_key(key) || map.values().any(|v| mentions_key(v, key)),
        Value::Array(items) => items.iter().any(|v| mentions_key(v, key)),
        _ => false,
    }
}

/// The ids of a create answer's `action` and `next_actions`.
fn action_ids(answer: &Value) -> Vec<i64> {
    std::iter::once(&answer["action"])
        .chain(answer["next_actions"].as_array().into_iter().flatten())
        .filter_map(|a| a["id"].as_i64())
        .collect()
}

/// Sets the fake's faults (`/__fake` sits beside `/v1`, not under it).
async fn set_faults(fake: &FakeHetzner, faults: Value) {
    let root = fake.base_url().trim_end_matches("/v1");
    let status = reqwest::Client::new()
        .put(format!("{root}/__fake/faults"))
        .json(&faults)
        .send()
        .await
        .expect("the fake answers")
        .status();
    assert!(status.is_success(), "faults set: {status}");
}

#[tokio::test]
#[allow(clippy::print_stderr)] // The list of what was validated is part of the report.
async fn every_answer_matches_the_openapi_description() {
    let (fake, _dir) = start_fake().await;
    let wire = Wire::new(fake.base_url());
    let get = Method::GET;
    let post = Method::POST;
    let delete = Method::DELETE;

    // The catalogue.
    wire.expect(200, get.clone(), "/locations", None).await;
    wire.expect(200, get.clone(), "/locations/fsn1", None).await;
    wire.expect(200, get.clone(), "/server_types", None).await;
    wire.expect(200, get.clone(), "/server_types/104", None)
        .await;
    wire.expect(
        200,
        get.clone(),
        "/images?type=system&architecture=x86",
        None,
    )
    .await;
    wire.expect(200, get.clone(), "/pricing", None).await;

    // 401: a token the project does not know.
    let (status, answer) = wire
        .call_as("not-the-token", get.clone(), "/servers", None)
        .await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (401, &json!("unauthorized"))
    );

    // 403: a read-only token may not write.
    let (status, answer) = wire
        .call_as(
            READ_ONLY,
            post.clone(),
            "/firewalls",
            Some(json!({"name": "ro"})),
        )
        .await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (403, &json!("token_readonly"))
    );
    // 503, injected.
    set_faults(&fake, json!({"server_errors": 1})).await;
    wire.expect_error(503, "unavailable", get.clone(), "/firewalls", None)
        .await;
    set_faults(&fake, json!({})).await;

    // A firewall, then its name again (409).
    let labels = json!({"sam-contract": "yes"});
    let firewall = json!({
        "name": "contract-fw",
        "labels": labels,
        "rules": [{"direction": "in", "protocol": "tcp", "port": "443",
                   "source_ips": ["0.0.0.0/0", "::/0"]}],
    });
    let created = wire
        .expect(201, post.clone(), "/firewalls", Some(firewall.clone()))
        .await;
    let firewall_id = created["firewall"]["id"].as_i64().expect("firewall id");
    wire.expect_error(
        409,
        "uniqueness_error",
        post.clone(),
        "/firewalls",
        Some(firewall),
    )
    .await;

    // A volume in fsn1, then one too small (422).
    let volume = json!({"name": "contract-vol", "size": 10, "location": "fsn1",
                        "format": "ext4", "labels": labels});
    let created = wire
        .expect(201, post.clone(), "/volumes", Some(volume))
        .await;
    let volume_id = created["volume"]["id"].as_i64().expect("volume id");
    wire.wait(&action_ids(&created)).await;
    let tiny = json!({"name": "contract-tiny", "size": 1, "location": "fsn1"});
    wire.expect_error(422, "invalid_input", post.clone(), "/volumes", Some(tiny))
        .await;

    // A server with labels, the volume and the firewall; out of stock first (412).
    let server = |name: &str, volumes: Vec<i64>| {
        json!({
            "name": name, "server_type": "cx23", "image": "debian-12", "location": "fsn1",
            "labels": labels, "volumes": volumes, "firewalls": [{"firewall": firewall_id}],
            "user_data": USER_DATA,
        })
    };
    set_faults(&fake, json!({"unavailable": ["cx23@fsn1"]})).await;
    wire.expect_error(
        412,
        "resource_unavailable",
        post.clone(),
        "/servers",
        Some(server("contract-1", vec![volume_id])),
    )
    .await;
    set_faults(&fake, json!({})).await;
    let created = wire
        .expect(
            201,
            post.clone(),
            "/servers",
            Some(server("contract-1", vec![volume_id])),
        )
        .await;
    let server_id = created["server"]["id"].as_i64().expect("server id");
    wire.wait(&action_ids(&created)).await;
    wire.expect_error(
        409,
        "uniqueness_error",
        post.clone(),
        "/servers",
        Some(server("contract-1", vec![])),
    )
    .await;
    let second = wire
        .expect(
            201,
            post.clone(),
            "/servers",
            Some(server("contract-2", vec![])),
        )
        .await;
    let second_id = second["server"]["id"].as_i64().expect("server id");
    let ids = action_ids(&second);
    let query: Vec<String> = ids.iter().map(|id| format!("id={id}")).collect();
    wire.expect(
        200,
        get.clone(),
        &format!("/actions?{}", query.join("&")),
        None,
    )
    .await;
    wire.wait(&ids).await;

    // Reading it back: one server, a 404, and the label selector page by page.
    let answer = wire
        .expect(200, get.clone(), &format!("/servers/{server_id}"), None)
        .await;
    assert_eq!(answer["server"]["volumes"], json!([volume_id]));
    wire.expect_error(404, "not_found", get.clone(), "/servers/4242", None)
        .await;
    let mut names = BTreeSet::new();
    for page in 1..=2 {
        let answer = wire
            .expect(
                200,
                get.clone(),
                &format!("/servers?label_selector=sam-contract%3Dyes&per_page=1&page={page}"),
                None,
            )
            .await;
        assert_eq!(answer["meta"]["pagination"]["last_page"], 2, "{answer}");
        for s in answer["servers"].as_array().expect("servers") {
            names.insert(s["name"].as_str().expect("name").to_owned());
        }
    }
    assert_eq!(names.len(), 2, "both servers, one a page: {names:?}");
    wire.expect(
        200,
        get.clone(),
        "/volumes?label_selector=sam-contract",
        None,
    )
    .await;
    wire.expect(200, get.clone(), &format!("/volumes/{volume_id}"), None)
        .await;
    wire.expect(200, get.clone(), "/firewalls", None).await;
    wire.expect(200, get.clone(), &format!("/firewalls/{firewall_id}"), None)
        .await;

    // A firewall in use stays (422), and so does an attached volume.
    wire.expect_error(
        422,
        "resource_in_use",
        delete.clone(),
        &format!("/firewalls/{firewall_id}"),
        None,
    )
    .await;
    wire.expect_error(
        422,
        "volume_already_attached",
        delete.clone(),
        &format!("/volumes/{volume_id}"),
        None,
    )
    .await;

    // Power: shutdown, power on, reboot, then power off while a slow action runs (423 on the next).
    let actions = format!("/servers/{server_id}/actions");
    for verb in ["shutdown", "poweron", "reboot"] {
        let answer = wire
            .expect(201, post.clone(), &format!("{actions}/{verb}"), None)
            .await;
        wire.wait(&action_ids(&answer)).await;
    }
    set_faults(&fake, json!({"action_delay_ms": 1000})).await;
    let answer = wire
        .expect(201, post.clone(), &format!("{actions}/poweroff"), None)
        .await;
    wire.expect_error(
        423,
        "locked",
        post.clone(),
        &format!("{actions}/poweron"),
        None,
    )
    .await;
    wire.wait(&action_ids(&answer)).await;
    set_faults(&fake, json!({})).await;

    // The volume comes off and goes back on.
    let volume_actions = format!("/volumes/{volume_id}/actions");
    let answer = wire
        .expect(201, post.clone(), &format!("{volume_actions}/detach"), None)
        .await;
    wire.wait(&action_ids(&answer)).await;
    let attach = json!({"server": server_id, "automount": false});
    let answer = wire
        .expect(
            201,
            post.clone(),
            &format!("{volume_actions}/attach"),
            Some(attach),
        )
        .await;
    wire.wait(&action_ids(&answer)).await;

    // Deletes: servers (an action), then the volume and the firewall they left (204).
    for id in [server_id, second_id] {
        let answer = wire
            .expect(200, delete.clone(), &format!("/servers/{id}"), None)
            .await;
        wire.wait(&action_ids(&answer)).await;
    }
    wire.expect_error(
        404,
        "not_found",
        get.clone(),
        &format!("/servers/{server_id}"),
        None,
    )
    .await;
    wire.expect(204, delete.clone(), &format!("/volumes/{volume_id}"), None)
        .await;
    wire.expect(
        204,
        delete.clone(),
        &format!("/firewalls/{firewall_id}"),
        None,
    )
    .await;
    wire.expect_error(
        404,
        "not_found",
        get.clone(),
        &format!("/volumes/{volume_id}"),
        None,
    )
    .await;
    // Last, as it empties the request budget: 429.
    set_faults(&fake, json!({"rate_limited": 1})).await;
    wire.expect_error(429, "rate_limit_exceeded", get, "/volumes", None)
        .await;

    let failures = wire.failures.lock().unwrap_or_else(|p| p.into_inner());
    assert!(
        failures.is_empty(),
        "answers that do not match the description:\n{}",
        failures.join("\n")
    );
    // The whole run is checked, not a lucky subset: list what was validated.
    let validated = wire.contract.validated();
    eprintln!(
        "validated against the description:\n  {}",
        validated.join("\n  ")
    );
    for needed in [
        "GET /locations 200",
        "GET /server_types 200",
        "GET /images 200",
        "GET /pricing 200",
        "POST /firewalls 201",
        "POST /volumes 201",
        "POST /servers 201",
        "GET /servers/{id} 200",
        "GET /servers 200",
        "GET /actions/{id} 200",
        "GET /actions 200",
        "POST /servers/{id}/actions/shutdown 201",
        "POST /servers/{id}/actions/poweron 201",
        "POST /servers/{id}/actions/poweroff 201",
        "POST /volumes/{id}/actions/detach 201",
        "POST /volumes/{id}/actions/attach 201",
        "DELETE /servers/{id} 200",
        "DELETE /volumes/{id} 204",
        "DELETE /firewalls/{id} 204",
        "GET /servers 401",
        "GET /servers/{id} 404",
        "POST /firewalls 409",
        "POST /servers 412",
        "POST /volumes 422",
        "POST /servers/{id}/actions/poweron 423",
        "POST /servers/{id}/actions/reboot 201",
        "POST /firewalls 403",
        "GET /volumes 429",
        "GET /firewalls 503",
        "DELETE /firewalls/{id} 422",
        "DELETE /volumes/{id} 422",
    ] {
        assert!(
            validated.iter().any(|v| v == needed),
            "{needed} was validated"
        );
    }
}

/// A named change to an answer.
type Edit = (&'static str, fn(&mut Value));

/// The judge is not lenient by accident: answers Hetzner would not send are rejected, and the
/// accepted deviations (no `datacenter`, fields added since) pass.
#[tokio::test]
async fn the_description_rejects_answers_hetzner_would_not_send() {
    let (fake, _dir) = start_fake().await;
    let wire = Wire::new(fake.base_url());
    let request = json!({"name": "judged", "server_type": "cx23", "image": "debian-12",
                         "location": "fsn1", "user_data": USER_DATA});
    let created = wire
        .expect(201, Method::POST, "/servers", Some(request))
        .await;
    let path = format!("/servers/{}", created["server"]["id"]);
    let good = wire.expect(200, Method::GET, &path, None).await;
    let check = |body: &Value| wire.contract.check("GET", &path, 200, &body.to_string());
    let broken: [Edit; 6] = [
        ("a required, nullable key left out", |b| {
            b["server"]
                .as_object_mut()
                .expect("a server")
                .remove("backup_window");
        }),
        ("an unknown status", |b| {
            b["server"]["status"] = json!("hibernating")
        }),
        ("a time that is not RFC 3339", |b| {
            b["server"]["created"] = json!("yesterday")
        }),
        ("null where nothing is nullable", |b| {
            b["server"]["name"] = Value::Null
        }),
        ("a nullable object of the wrong shape", |b| {
            b["server"]["image"] = json!({"id": 1})
        }),
        ("a label value Hetzner refuses", |b| {
            b["server"]["labels"] = json!({"k": "-x-"})
        }),
    ];
    for (what, breaks) in broken {
        let mut body = good.clone();
        breaks(&mut body);
        assert!(check(&body).is_err(), "{what} is rejected");
    }
    let accepted: [Edit; 3] = [
        ("a null image", |b| b["server"]["image"] = Value::Null),
        ("no datacenter", |b| {
            b["server"]
                .as_object_mut()
                .expect("a server")
                .remove("datacenter");
        }),
        ("a field added since", |b| {
            b["server"]["brand_new"] = json!(true)
        }),
    ];
    for (what, changes) in accepted {
        let mut body = good.clone();
        changes(&mut body);
        assert_eq!(check(&body), Ok(()), "{what} is accepted");
    }
    let contract = &wire.contract;
    assert!(
        contract
            .check("GET", &path, 404, r#"{"error":{"code":"not_found"}}"#)
            .is_err(),
        "an error without a message is rejected"
    );
    assert!(
        contract.check("DELETE", "/volumes/1", 204, "{}").is_err(),
        "a 204 carries no body"
    );
    assert!(
        contract
            .check("GET", &path, 201, &good.to_string())
            .is_err(),
        "a success status the operation does not document is rejected"
    );
}
