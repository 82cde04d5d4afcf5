//! `sam hetzner ssh-key`: the SSH keys new Hetzner servers get, from the command line.

use super::cli::Sam;

#[test]
fn ssh_keys_for_hetzner_servers_are_added_listed_and_removed() {
    let sam = Sam::new();
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZha2Uta2V5 me@laptop";
    let file = sam.dir.path().join("id_ed25519.pub");
    std::fs::write(&file, format!("{key}\n")).expect("key file");
    let file = file.to_string_lossy().into_owned();
    let (code, added) = sam.json(&["--json", "hetzner", "ssh-key", "add", "--file", &file]);
    assert_eq!(code, Some(0), "{added}");
    assert_eq!(added["keys"], serde_json::json!([key]));
    let listed = sam.run(&["hetzner", "ssh-key", "list"]);
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout),
        format!("1. {key}\n")
    );

    let bad = sam.run(&["hetzner", "ssh-key", "add", "ssh-rsa"]);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("OpenSSH public key"));

    let (code, removed) = sam.json(&["--json", "hetzner", "ssh-key", "remove", "1"]);
    assert_eq!(code, Some(0), "{removed}");
    assert_eq!(removed["keys"], serde_json::json!([]));
    let listed = sam.run(&["hetzner", "ssh-key", "list"]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("No SSH keys"));
}
