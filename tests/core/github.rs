//! GitHub sign-in through the device flow against a fake GitHub in GitHub's wire format
//! (`tests/support/fake-github.py`, which, like GitHub, answers `authorization_pending` with HTTP
//! 200): approved → the token in the keyring, the account in SQLite and the noreply commit
//! identity; refused and expired codes → clear credentials errors; a revoked token → a clear
//! error.

use std::process::{Child, Command};
use std::sync::Arc;

use sam_desktop::core::error::ErrorCategory;
use sam_desktop::core::github::{self, GitHubApp, TOKEN_ENTRY};
use sam_desktop::core::installation::{KeyStore, MemoryKeys};
use sam_desktop::core::redact::Secret;
use sam_desktop::core::store::Store;
use sam_test_support::start_fake;

struct FakeGitHub {
    child: Child,
    url: String,
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl FakeGitHub {
    fn start(expires_in: u32) -> Self {
        let (child, url) = start_fake("fake-github.py", &[&expires_in.to_string()]);
        Self { child, url }
    }

    fn app(&self) -> GitHubApp {
        GitHubApp {
            client_id: "sam-test-client".to_owned(),
            web: self.url.clone(),
            api: self.url.clone(),
        }
    }

    /// Plays the user at GitHub's page: approve or deny `user_code`.
    async fn answer(&self, user_code: &str, approve: bool) {
        let hook = if approve { "approve" } else { "deny" };
        let response = reqwest_post(&format!("{}/__fake/{hook}", self.url), user_code).await;
        assert!(response, "the fake knew the code");
    }
}

async fn reqwest_post(url: &str, user_code: &str) -> bool {
    let url = url.to_owned();
    let body = format!("user_code={user_code}");
    tokio::task::spawn_blocking(move || {
        Command::new("curl")
            .args([
                "-sf",
                "-o",
                "/dev/null",
                "-X",
                "POST",
                "--data",
                &body,
                &url,
            ])
            .status()
            .is_ok_and(|status| status.success())
    })
    .await
    .expect("curl")
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(&dir.path().join("sam.sqlite3")).expect("store");
    (dir, store)
}

#[tokio::test]
async fn an_approved_sign_in_keeps_the_token_in_the_keyring_and_the_account_in_sqlite() {
    let fake = FakeGitHub::start(900);
    let app = fake.app();
    let (dir, store) = store();
    let keys = Arc::new(MemoryKeys::default());
    let sign_in = app.start_sign_in().await.expect("a code");
    assert!(sign_in.verification_uri.ends_with("/login/device"));
    fake.answer(&sign_in.user_code, true).await;
    let account = app
        .finish_sign_in(sign_in, Arc::clone(&keys) as Arc<dyn KeyStore>, &store)
        .await
        .expect("signed in");
    assert_eq!(account.login, "octo-user");
    assert_eq!(
        account.commit_identity(),
        (
            "Octo User".to_owned(),
            "583231+octo-user@users.noreply.github.com".to_owned()
        )
    );
    assert_eq!(github::account(&store).expect("read"), Some(account));
    let token = keys.get(TOKEN_ENTRY).expect("keyring").expect("a token");
    assert!(token.expose().starts_with("gho_"));
    // The token is in the keyring only.
    drop(store);
    for entry in std::fs::read_dir(dir.path()).expect("dir").flatten() {
        let bytes = std::fs::read(entry.path()).unwrap_or_default();
        assert!(!String::from_utf8_lossy(&bytes).contains(token.expose()));
    }
    let (_dir, store) = self::store();
    github::sign_out(keys.as_ref(), &store).expect("signed out");
    assert_eq!(keys.get(TOKEN_ENTRY).expect("keyring"), None);
    assert_eq!(github::account(&store).expect("read"), None);
}

#[tokio::test]
async fn refused_and_expired_codes_and_revoked_tokens_are_clear_errors() {
    let fake = FakeGitHub::start(900);
    let app = fake.app();
    let (_dir, store) = store();
    let keys: Arc<dyn KeyStore> = Arc::new(MemoryKeys::default());

    let sign_in = app.start_sign_in().await.expect("a code");
    fake.answer(&sign_in.user_code, false).await;
    let err = app
        .finish_sign_in(sign_in, Arc::clone(&keys), &store)
        .await
        .expect_err("refused");
    assert_eq!(err.category, ErrorCategory::Credentials);
    assert!(err.message.contains("refused"), "{err:?}");

    let expiring = FakeGitHub::start(1);
    let sign_in = expiring.app().start_sign_in().await.expect("a code");
    let err = expiring
        .app()
        .finish_sign_in(sign_in, Arc::clone(&keys), &store)
        .await
        .expect_err("expired");
    assert_eq!(err.category, ErrorCategory::Credentials);
    assert!(err.message.contains("expired"), "{err:?}");
    assert_eq!(
        keys.get(TOKEN_ENTRY).expect("keyring"),
        None,
        "nothing kept"
    );

    let err = app
        .account_of(&Secret::new("gho_revoked"))
        .await
        .expect_err("revoked");
    assert_eq!(err.category, ErrorCategory::Credentials);
    assert!(err.next_step.contains("Sign in"), "{err:?}");
}
