//! The Hetzner token: checked with real calls (authenticates, may write) and kept only in the
//! keyring; `sam hetzner check-token` with `HCLOUD_ENDPOINT`/`HCLOUD_TOKEN`.

use std::collections::BTreeMap;

use sam_core::error::ErrorCategory;
use sam_core::installation::{KeyStore, MemoryKeys};
use sam_core::provider::hetzner::account::{check_token, save_token};
use sam_core::provider::hetzner::client::{HetznerClient, TOKEN_ENTRY};
use sam_core::redact::Secret;

use super::{cloud_with, fast};

#[tokio::test]
async fn only_a_working_read_write_token_is_kept() {
    let cloud = cloud_with("right", |o| {
        o.token = Some("right".to_owned());
        o.read_only_token = Some("reader".to_owned());
    })
    .await;
    let options = || fast(cloud.fake.base_url());
    let keys = MemoryKeys::default();

    let err = save_token(&keys, &Secret::new("wrong"), options())
        .await
        .expect_err("refused");
    assert_eq!(err.category, ErrorCategory::Credentials);
    assert!(err.message.contains("refused"), "{}", err.message);
    let err = save_token(&keys, &Secret::new("reader"), options())
        .await
        .expect_err("read-only");
    assert_eq!(err.category, ErrorCategory::Credentials);
    assert!(err.message.contains("read-only"), "{}", err.message);
    let err = check_token(&Secret::new("  "), options())
        .await
        .expect_err("empty");
    assert_eq!(err.category, ErrorCategory::InvalidInput);
    assert!(
        keys.get(TOKEN_ENTRY).expect("keys").is_none(),
        "nothing kept"
    );

    save_token(&keys, &Secret::new(" right\n"), options())
        .await
        .expect("kept");
    assert_eq!(
        keys.get(TOKEN_ENTRY)
            .expect("keys")
            .expect("a token")
            .expose(),
        "right"
    );
    // The check created nothing in the project.
    let client = HetznerClient::new(Secret::new("right"), options()).expect("client");
    assert!(client.firewalls("").await.expect("firewalls").is_empty());
    assert!(cloud.fake.servers().is_empty());
}

#[tokio::test]
async fn the_cli_checks_the_token_from_the_environment() {
    let cloud = cloud_with("right", |o| o.token = Some("right".to_owned())).await;
    let run = |token: &'static str| {
        let endpoint = cloud.fake.base_url().to_owned();
        let data = cloud.dir.path().join("cli-data");
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(sam_test_support::binary("sam"))
                .args(["--json", "hetzner", "check-token"])
                .env("HCLOUD_ENDPOINT", endpoint)
                .env("HCLOUD_TOKEN", token)
                .env("SAM_DATA_DIR", data)
                .output()
                .expect("sam runs")
        })
    };
    let good = run("right").await.expect("joined");
    assert!(good.status.success(), "{good:?}");
    let answer: serde_json::Value = serde_json::from_slice(&good.stdout).expect("JSON");
    assert_eq!(answer["source"], "HCLOUD_TOKEN");
    let bad = run("wrong").await.expect("joined");
    assert_eq!(bad.status.code(), Some(3), "credentials: exit 3");
    let answer: serde_json::Value = serde_json::from_slice(&bad.stdout).expect("JSON");
    assert_eq!(answer["category"], "credentials");
    // The token never shows up in what the CLI prints.
    assert!(!String::from_utf8_lossy(&bad.stdout).contains("wrong\""));
}

#[tokio::test]
async fn the_cli_lists_what_the_reconciler_sees() {
    let cloud = cloud_with("t", |_| {}).await;
    let theirs = BTreeMap::from([
        ("sam-managed".to_owned(), "true".to_owned()),
        ("sam-installation".to_owned(), "another-laptop".to_owned()),
        ("sam-workspace".to_owned(), "theirsaaaaa2".to_owned()),
    ]);
    cloud
        .client
        .create_firewall("sam-theirsaaaaa2", &[], &theirs)
        .await
        .expect("another installation's firewall");
    let endpoint = cloud.fake.base_url().to_owned();
    let data = cloud.dir.path().join("cli-data");
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(sam_test_support::binary("sam"))
            .args(["--json", "hetzner", "resources"])
            .env("HCLOUD_ENDPOINT", endpoint)
            .env("HCLOUD_TOKEN", "t")
            .env("SAM_DATA_DIR", data)
            .output()
            .expect("sam runs")
    })
    .await
    .expect("joined");
    assert!(output.status.success(), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(report["unknown"], serde_json::json!([]));
    assert_eq!(report["foreign"][0]["name"], "sam-theirsaaaaa2");
    assert_eq!(report["foreign"][0]["installation"], "another-laptop");
    assert_eq!(report["foreign"][0]["monthly_centicents"], 0);
}
