//! SSH keys for Hetzner servers: a key the user adds reaches every server created after it,
//! for the workspace user `dev`, and the workspace's firewall opens port 22 only while there is
//! a key; a bad key is refused with the reason.

use serde_json::Value;

use super::cloud;
use super::lifecycle::{create_request, hetzner_core};

const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZha2Uta2V5LWZvci10ZXN0cw me@laptop";

/// The firewalls' inbound ports, by firewall name, as the API lists them.
async fn ports(base: &str) -> Vec<(String, Vec<String>)> {
    let listed: Value = reqwest::Client::new()
        .get(format!("{base}/firewalls"))
        .bearer_auth("test-token")
        .send()
        .await
        .expect("listed")
        .json()
        .await
        .expect("JSON");
    listed["firewalls"]
        .as_array()
        .expect("firewalls")
        .iter()
        .map(|firewall| {
            let ports = firewall["rules"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|rule| rule["port"].as_str().map(str::to_owned))
                .collect();
            (firewall["name"].as_str().unwrap_or("").to_owned(), ports)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_keys_reach_new_servers_for_dev_and_open_port_22_only_while_set() {
    let cloud = cloud().await;
    let core = hetzner_core(&cloud, "ssh-keys-test");
    let account = core.hetzner();

    let refused = account
        .add_ssh_key("ssh-ed25519 not/base64!")
        .expect_err("not a key");
    assert!(
        refused
            .message
            .contains("not a single-line OpenSSH public key"),
        "{refused:?}"
    );
    assert_eq!(
        account.add_ssh_key(&format!("  {KEY}\n")).expect("added"),
        [KEY]
    );
    // The same key with another comment is the same key.
    let again = KEY.replace("me@laptop", "me@desktop");
    assert_eq!(account.add_ssh_key(&again).expect("kept"), [KEY]);

    let repo = sam_test_support::source_repo(cloud.dir.path());
    let create = async |name: &str| {
        let lifecycle = core.workspaces();
        let mut request = create_request(repo.clone());
        request.name = Some(name.to_owned());
        let (_, operation) = lifecycle.begin_create(&request).expect("begun");
        lifecycle
            .run(operation)
            .await
            .expect("created")
            .expect("a workspace")
    };
    let with_key = create("with-key").await;
    let user_data = cloud.fake.user_data();
    let last = user_data.last().expect("a server's user_data");
    assert!(last.contains(KEY), "the key is in the user_data");
    let firewalls = ports(cloud.fake.base_url()).await;
    let named = |id: &str| {
        firewalls
            .iter()
            .find(|(name, _)| name.contains(id))
            .map(|(_, ports)| ports.clone())
            .expect("the workspace's firewall")
    };
    assert_eq!(named(with_key.id.as_str()), ["443", "22"]);

    // Removed (by its comment), new servers accept no SSH logins and port 22 stays closed.
    assert!(
        account
            .remove_ssh_key("me@laptop")
            .expect("removed")
            .is_empty()
    );
    assert!(
        account.remove_ssh_key("1").is_err(),
        "nothing left to remove"
    );
    let without = create("without-key").await;
    let user_data = cloud.fake.user_data();
    assert!(!user_data.last().expect("user_data").contains("ssh-ed25519"));
    let firewalls = ports(cloud.fake.base_url()).await;
    let ports_of = firewalls
        .iter()
        .find(|(name, _)| name.contains(without.id.as_str()))
        .map(|(_, ports)| ports.clone())
        .expect("its firewall");
    assert_eq!(ports_of, ["443"]);
}
