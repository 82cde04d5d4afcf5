//! GitHub against a fake GitHub in GitHub's wire format (`tests/support/fake-github.py`, which,
//! like GitHub, answers OAuth errors with HTTP 200): the device flow; the browser sign-in with
//! PKCE and `state` (bad and replayed `state`, refused, expired codes, a wrong secret); tokens
//! that expire, renewed before they do; sign-out revoking at GitHub; the repository picker.

use std::sync::Arc;

use sam_core::Core;
use sam_core::account::github::REFRESH_AHEAD;
use sam_core::deep_link::{self, Link};
use sam_core::error::ErrorCategory;
use sam_core::github::{self, GitHubApp, SignInMethod, StoredTokens, TOKEN_ENTRY};
use sam_core::installation::{KeyStore, MemoryKeys};
use sam_core::paths::AppPaths;
use sam_core::redact::Secret;
use sam_core::store::Store;
use sam_test_support::{KillOnDrop, binary, start_fake};

fn client() -> reqwest::Client {
    sam_core::http::builder().build().expect("client")
}

pub const SECRET: &str = "sam-test-secret";

pub struct FakeGitHub {
    _process: KillOnDrop,
    pub url: String,
}

impl FakeGitHub {
    /// A fake whose device codes expire after `device_expires_in` seconds and whose tokens
    /// after `token_ttl` (0: never, like an OAuth app), serving git from `git_root` if given.
    pub fn start(
        device_expires_in: u32,
        token_ttl: u32,
        git_root: Option<&std::path::Path>,
    ) -> Self {
        let mut args = vec![device_expires_in.to_string(), token_ttl.to_string()];
        if let Some(root) = git_root {
            args.push(root.to_string_lossy().into_owned());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (process, url) = start_fake("fake-github.py", &args);
        Self {
            _process: process,
            url,
        }
    }

    /// The app, with its secret (browser sign-in, refresh, revoke) or without.
    pub fn app(&self, secret: Option<&str>) -> GitHubApp {
        GitHubApp::at(
            &self.url,
            &self.url,
            "sam-test-client",
            secret.map(Secret::new),
        )
    }

    pub fn host(&self) -> String {
        self.url.trim_start_matches("http://").to_owned()
    }

    pub async fn post(&self, path: &str, form: &str) {
        let response = client()
            .post(format!("{}{path}", self.url))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form.to_owned())
            .send()
            .await
            .expect("fake answers");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
    }

    pub async fn stats(&self) -> serde_json::Value {
        client()
            .get(format!("{}/__fake/stats", self.url))
            .send()
            .await
            .expect("fake answers")
            .json()
            .await
            .expect("json")
    }

    /// A new personal access token GitHub accepts.
    pub async fn pat(&self) -> String {
        let answer: serde_json::Value = client()
            .post(format!("{}/__fake/pat", self.url))
            .send()
            .await
            .expect("fake answers")
            .json()
            .await
            .expect("json");
        answer["token"].as_str().expect("a token").to_owned()
    }

    /// Whether GitHub still accepts `token`.
    pub async fn accepts(&self, token: &str) -> bool {
        client()
            .get(format!("{}/user", self.url))
            .bearer_auth(token)
            .send()
            .await
            .expect("fake answers")
            .status()
            .is_success()
    }

    /// Plays the browser: opens GitHub's authorize address and returns where GitHub sends it
    /// back (the `sam://` link).
    pub async fn authorize(&self, url: &str) -> String {
        let response = sam_core::http::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
            .get(url)
            .send()
            .await
            .expect("fake answers");
        assert_eq!(response.status(), reqwest::StatusCode::FOUND);
        response
            .headers()
            .get("location")
            .expect("a redirect")
            .to_str()
            .expect("text")
            .to_owned()
    }
}

/// A core on a fresh data folder and an in-memory keyring, signing in at `fake`.
pub fn core_for(
    fake: &FakeGitHub,
    secret: Option<&str>,
) -> (tempfile::TempDir, Arc<MemoryKeys>, Core) {
    let dir = tempfile::tempdir().expect("dir");
    let keys = Arc::new(MemoryKeys::default());
    let core = Core::open_with(
        AppPaths::under(dir.path().join("data")),
        sam_core::config::Config::default().with_agent_binary(binary("sam-agent")),
        Arc::clone(&keys) as Arc<dyn KeyStore>,
        None,
    )
    .expect("core");
    core.github().use_app(fake.app(secret));
    (dir, keys, core)
}

/// Signs `core` in through the browser sign-in, the way the desktop delivers the link.
pub async fn browser_sign_in(fake: &FakeGitHub, core: &Core) -> String {
    let authorize = core
        .github()
        .start_browser_sign_in()
        .await
        .expect("started");
    let link = fake.authorize(&authorize).await;
    let Link::SignIn { state, outcome } = deep_link::parse(&link).expect("a sam:// link") else {
        panic!("not a sign-in link: {link}");
    };
    core.github()
        .callback(&state, outcome)
        .await
        .expect("signed in");
    link
}

fn tokens(keys: &MemoryKeys) -> StoredTokens {
    StoredTokens::parse(&keys.get(TOKEN_ENTRY).expect("keyring").expect("tokens"))
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(&dir.path().join("sam.sqlite3")).expect("store");
    (dir, store)
}

#[tokio::test]
async fn an_approved_device_sign_in_keeps_the_token_in_the_keyring_and_the_account_in_sqlite() {
    let fake = FakeGitHub::start(900, 0, None);
    let app = fake.app(None);
    let (dir, store) = store();
    let keys = MemoryKeys::default();
    let sign_in = app.start_sign_in().await.expect("a code");
    assert!(sign_in.verification_uri.ends_with("/login/device"));
    fake.post(
        "/__fake/approve",
        &format!("user_code={}", sign_in.user_code),
    )
    .await;
    let (tokens, session) = app.finish_sign_in(sign_in, 1_000).await.expect("signed in");
    assert_eq!(session.method, SignInMethod::Device);
    assert_eq!(
        session.expires_at, None,
        "an OAuth app's token does not expire"
    );
    let account = app.account_of(&tokens.access()).await.expect("who");
    assert_eq!(account.login, "octo-user");
    assert_eq!(
        account.commit_identity(),
        (
            "Octo User".to_owned(),
            "583231+octo-user@users.noreply.github.com".to_owned()
        )
    );
    github::keep_sign_in(&keys, &store, &tokens, &account, &session).expect("kept");
    assert_eq!(github::account(&store).expect("read"), Some(account));
    let token = tokens.access();
    assert!(token.expose().starts_with("gho_"));
    // The token is in the keyring only.
    drop(store);
    for entry in std::fs::read_dir(dir.path()).expect("dir").flatten() {
        let bytes = std::fs::read(entry.path()).unwrap_or_default();
        assert!(!String::from_utf8_lossy(&bytes).contains(token.expose()));
    }
    let (_dir, store) = self::store();
    github::sign_out(&keys, &store).expect("signed out");
    assert_eq!(keys.get(TOKEN_ENTRY).expect("keyring"), None);
    assert_eq!(github::account(&store).expect("read"), None);
}

#[tokio::test]
async fn refused_and_expired_device_codes_and_revoked_tokens_are_clear_errors() {
    let fake = FakeGitHub::start(900, 0, None);
    let app = fake.app(None);

    let sign_in = app.start_sign_in().await.expect("a code");
    fake.post("/__fake/deny", &format!("user_code={}", sign_in.user_code))
        .await;
    let err = app.finish_sign_in(sign_in, 0).await.expect_err("refused");
    assert_eq!(err.category, ErrorCategory::Credentials);
    assert!(err.message.contains("refused"), "{err:?}");

    let expiring = FakeGitHub::start(1, 0, None);
    let sign_in = expiring.app(None).start_sign_in().await.expect("a code");
    let err = expiring
        .app(None)
        .finish_sign_in(sign_in, 0)
        .await
        .expect_err("expired");
    assert_eq!(err.category, ErrorCategory::Credentials);
    assert!(err.message.contains("expired"), "{err:?}");

    let err = app
        .account_of(&Secret::new("gho_revoked"))
        .await
        .expect_err("revoked");
    assert_eq!(err.category, ErrorCategory::Credentials);
    assert!(err.next_step.contains("Sign in"), "{err:?}");
}

#[tokio::test]
async fn a_browser_sign_in_comes_back_through_its_link_once() {
    let fake = FakeGitHub::start(900, 0, None);
    let (dir, keys, core) = core_for(&fake, Some(SECRET));
    let link = browser_sign_in(&fake, &core).await;
    assert!(link.starts_with("sam://oauth/callback?"), "{link}");
    assert!(link.contains("code="), "{link}");
    let status = core.github().status().await.expect("status");
    assert_eq!(status.account.expect("account").login, "octo-user");
    let session = status.session.expect("session");
    assert_eq!(session.method, SignInMethod::Browser);
    assert_eq!(status.token_entry, TOKEN_ENTRY);
    assert!(status.app.expect("app").has_secret);
    let token = tokens(&keys).access();
    assert!(fake.accepts(token.expose()).await);

    // The same link again: refused as used, and nothing changes.
    let Link::SignIn { state, outcome } = deep_link::parse(&link).expect("link") else {
        unreachable!()
    };
    let err = core
        .github()
        .callback(&state, outcome.clone())
        .await
        .expect_err("replayed");
    assert_eq!(err.category, ErrorCategory::Credentials);
    assert!(err.message.contains("already used"), "{err:?}");
    // A link SAM did not start (another program, an attacker's page).
    let err = core
        .github()
        .callback("forged-state", outcome)
        .await
        .expect_err("forged");
    assert!(
        err.message.contains("not from a sign-in SAM started"),
        "{err:?}"
    );
    assert_eq!(tokens(&keys).access(), token, "still the same sign-in");

    // The token is in the keyring only: not in the database or the logs.
    drop(core);
    for file in crate::git_server::files_under(dir.path()) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(token.expose()),
            "the token is in {}",
            file.display()
        );
    }
}

#[tokio::test]
async fn refused_expired_and_misconfigured_browser_sign_ins_say_what_to_do() {
    let fake = FakeGitHub::start(900, 0, None);
    let (_dir, keys, core) = core_for(&fake, Some(SECRET));
    let attempt = async |core: &Core| {
        let url = core
            .github()
            .start_browser_sign_in()
            .await
            .expect("started");
        let Link::SignIn { state, outcome } =
            deep_link::parse(&fake.authorize(&url).await).expect("link")
        else {
            unreachable!()
        };
        core.github().callback(&state, outcome).await
    };

    fake.post("/__fake/deny-next", "").await;
    let err = attempt(&core).await.expect_err("refused");
    assert!(err.message.contains("refused at GitHub"), "{err:?}");

    let url = core
        .github()
        .start_browser_sign_in()
        .await
        .expect("started");
    let link = fake.authorize(&url).await;
    fake.post("/__fake/expire-codes", "").await;
    let Link::SignIn { state, outcome } = deep_link::parse(&link).expect("link") else {
        unreachable!()
    };
    let err = core
        .github()
        .callback(&state, outcome)
        .await
        .expect_err("expired code");
    assert_eq!(err.category, ErrorCategory::Credentials);
    assert!(
        err.message.contains("expired or was already used"),
        "{err:?}"
    );
    assert_eq!(
        keys.get(TOKEN_ENTRY).expect("keyring"),
        None,
        "nothing kept"
    );

    let (_dir, _keys, wrong) = core_for(&fake, Some("not-the-secret"));
    let err = attempt(&wrong).await.expect_err("wrong secret");
    assert_eq!(err.category, ErrorCategory::Configuration);
    assert!(err.next_step.contains("client id and secret"), "{err:?}");

    let (_dir, _keys, secretless) = core_for(&fake, None);
    let err = secretless
        .github()
        .start_browser_sign_in()
        .await
        .expect_err("no secret");
    assert_eq!(err.category, ErrorCategory::Configuration);
    assert!(err.next_step.contains("sign in with a code"), "{err:?}");
}

#[tokio::test]
async fn an_expiring_token_is_renewed_before_it_expires_and_sign_out_revokes_it_at_github() {
    const TTL: i64 = 28_800;
    let fake = FakeGitHub::start(900, TTL as u32, None);
    let (_dir, keys, core) = core_for(&fake, Some(SECRET));
    browser_sign_in(&fake, &core).await;
    let first = tokens(&keys);
    let expires = first.expires_at().expect("a GitHub app's token expires");
    let session = core
        .github()
        .status()
        .await
        .expect("status")
        .session
        .expect("session");
    assert_eq!(session.expires_at, Some(expires));
    assert!(session.refresh_expires_at.is_some_and(|at| at > expires));

    // Well before expiry nothing is renewed.
    let now = expires - TTL + 60;
    core.github().rotate_token(now).await.expect("rotates");
    assert_eq!(tokens(&keys), first);
    assert_eq!(fake.stats().await["refreshes"], 0);
    // Inside the margin: renewed once, the old token dead, the new one kept.
    let late = expires - REFRESH_AHEAD + 1;
    core.github().rotate_token(late).await.expect("rotates");
    core.github().rotate_token(late).await.expect("rotates");
    assert_eq!(fake.stats().await["refreshes"], 1);
    let second = tokens(&keys);
    assert_ne!(second.access(), first.access());
    assert_eq!(second.expires_at(), Some(late + TTL));
    assert!(!fake.accepts(first.access().expose()).await);
    assert!(fake.accepts(second.access().expose()).await);

    // Sign-out revokes at GitHub and forgets everything here.
    let report = core.github().sign_out().await.expect("signed out");
    assert!(report.revoked_at_github, "{report:?}");
    assert_eq!(fake.stats().await["revoked"], 1);
    assert!(!fake.accepts(second.access().expose()).await);
    assert_eq!(keys.get(TOKEN_ENTRY).expect("keyring"), None);
    let status = core.github().status().await.expect("status");
    assert!(status.account.is_none() && status.session.is_none());
}

#[tokio::test]
async fn without_the_apps_secret_sign_out_says_the_token_stays_valid_at_github() {
    let fake = FakeGitHub::start(900, 0, None);
    let (_dir, keys, core) = core_for(&fake, None);
    let app = fake.app(None);
    let sign_in = app.start_sign_in().await.expect("a code");
    fake.post(
        "/__fake/approve",
        &format!("user_code={}", sign_in.user_code),
    )
    .await;
    let (tokens, session) = app.finish_sign_in(sign_in, 0).await.expect("signed in");
    let account = app.account_of(&tokens.access()).await.expect("who");
    github::keep_sign_in(keys.as_ref(), core.store(), &tokens, &account, &session).expect("kept");
    let report = core.github().sign_out().await.expect("signed out");
    assert!(!report.revoked_at_github);
    let note = report.note.expect("a note");
    assert!(note.contains("settings/applications"), "{note}");
    assert!(
        fake.accepts(tokens.access().expose()).await,
        "still valid at GitHub"
    );
    assert_eq!(keys.get(TOKEN_ENTRY).expect("keyring"), None, "gone here");
}

#[tokio::test]
async fn the_picker_lists_every_page_of_repositories_searchably_with_branches() {
    let fake = FakeGitHub::start(900, 0, None);
    let (_dir, _keys, core) = core_for(&fake, Some(SECRET));
    let err = core
        .github()
        .repos("", false)
        .await
        .expect_err("signed out");
    assert_eq!(err.category, ErrorCategory::Credentials);
    browser_sign_in(&fake, &core).await;

    let all = core.github().repos("", false).await.expect("repos");
    assert_eq!((all.total, all.matched, all.truncated), (130, 130, false));
    assert_eq!(all.repos.len(), 50, "one screenful");
    let private = all
        .repos
        .iter()
        .find(|r| r.full_name == "octo-user/project-003")
        .expect("3");
    assert!(private.private);
    assert!(
        !all.repos
            .iter()
            .find(|r| r.full_name == "octo-user/project-001")
            .expect("1")
            .private
    );

    let found = core
        .github()
        .repos("PROJECT-12", false)
        .await
        .expect("search");
    let names: Vec<_> = found.repos.iter().map(|r| r.full_name.as_str()).collect();
    assert_eq!(found.matched, 10, "{names:?}");
    assert!(
        names.iter().all(|n| n.starts_with("octo-user/project-12")),
        "{names:?}"
    );
    let described = core
        .github()
        .repos("number 129", false)
        .await
        .expect("search");
    assert_eq!(described.repos[0].full_name, "octo-user/project-129");

    let branches = core
        .github()
        .branches("octo-user/project-001")
        .await
        .expect("branches");
    assert_eq!(branches[..2], ["main", "dev"]);
    let err = core.github().branches("not a name").await.expect_err("bad");
    assert_eq!(err.category, ErrorCategory::InvalidInput);
    assert!(core.github().branches("octo-user/nope").await.is_err());
}

#[tokio::test]
async fn a_sign_in_revoked_at_github_is_reported_once_and_not_retried_until_signing_in_again() {
    const TTL: i64 = 28_800;
    let fake = FakeGitHub::start(900, TTL as u32, None);
    let (_dir, keys, core) = core_for(&fake, Some(SECRET));
    browser_sign_in(&fake, &core).await;
    let expires = tokens(&keys).expires_at().expect("expires");
    // The user revokes SAM at github.com/settings/applications.
    fake.post("/__fake/revoke-all", "").await;
    let late = expires - REFRESH_AHEAD + 1;
    let err = core.github().rotate_token(late).await.expect_err("refused");
    assert_eq!(err.category, ErrorCategory::Credentials);
    assert!(err.message.contains("no longer accepts"), "{err:?}");
    let problem = core.github().status().await.expect("status").problem;
    assert!(problem.is_some_and(|p| p.contains("Sign in with GitHub again")));
    // The next ticks do not ask GitHub again.
    assert_eq!(
        core.github().rotate_token(late + 30).await.expect("quiet"),
        0
    );
    assert_eq!(fake.stats().await["refresh_attempts"], 1);
    // Signing in again clears it.
    browser_sign_in(&fake, &core).await;
    assert_eq!(core.github().status().await.expect("status").problem, None);
}
