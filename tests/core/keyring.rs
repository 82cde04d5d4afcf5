//! The OS keyring as SAM uses it: against the session's real Secret Service (gnome-keyring,
//! unlocked by scripts/test), and the clear error a user gets when there is none.

use sam_core::github::{StoredTokens, TOKEN_ENTRY};
use sam_core::installation::{KeyStore, OsKeyring};
use sam_core::redact::Secret;
use sam_test_support::binary;

#[test]
fn the_secret_service_keeps_renews_and_forgets_github_tokens() {
    // A name of its own, so parallel tests and the real entries are left alone.
    let name = format!("{TOKEN_ENTRY}-test-{}", std::process::id());
    let keys = OsKeyring;
    let json = r#"{"access_token":"ghu_keyring_test","refresh_token":"ghr_x","expires_at":1}"#;
    keys.set(&name, json).expect("kept");
    let tokens = StoredTokens::parse(&keys.get(&name).expect("read").expect("there"));
    assert_eq!(tokens.access(), Secret::new("ghu_keyring_test"));
    assert_eq!(tokens.expires_at(), Some(1));
    keys.set(&name, "gho_replaced").expect("replaced");
    assert_eq!(
        keys.get(&name).expect("read").expect("there").expose(),
        "gho_replaced"
    );
    keys.delete(&name).expect("forgotten");
    assert_eq!(keys.get(&name).expect("read"), None);
    keys.delete(&name).expect("forgetting nothing is fine");
}

#[test]
fn without_a_secret_service_sam_says_so_and_keeps_nothing_in_files() {
    let dir = tempfile::tempdir().expect("dir");
    let mut child = std::process::Command::new(binary("sam"))
        .args(["--json", "git", "set-token", "git.example.com"])
        .env("SAM_DATA_DIR", dir.path().join("data"))
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}", dir.path().join("no-bus").display()),
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sam");
    std::io::Write::write_all(
        &mut child.stdin.take().expect("stdin"),
        b"no-keyring-token-0123\n",
    )
    .expect("token");
    let output = child.wait_with_output().expect("sam");
    let err: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(output.status.code(), Some(3), "{err}");
    assert_eq!(err["category"], "credentials");
    let message = err["message"].as_str().unwrap_or_default();
    assert!(message.contains("keyring is not available"), "{message}");
    assert!(
        err["next_step"]
            .as_str()
            .unwrap_or_default()
            .contains("never stores keys in plain files")
    );
    for file in crate::git_server::files_under(dir.path()) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap_or_default()).into_owned();
        assert!(
            !text.contains("no-keyring-token"),
            "the token is in {}",
            file.display()
        );
    }
}
