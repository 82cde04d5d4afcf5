//! GitHub sign-in in the real app, end to end: Settings → "Sign in with GitHub" opens the
//! (stand-in) browser at the fake GitHub's authorize page; the browser follows GitHub's
//! redirect and starts `sam-desktop sam://oauth/callback?…` as the desktop's URL handler would;
//! that second process hands the link over D-Bus to the running app (the single-instance
//! plugin) and exits; the running app finishes the sign-in and the window shows the account.
//! The same link again is refused as used; `sam://open` prefills the create form; a link SAM
//! does not know is explained.

use sam_test_support::{binary, start_fake};

use crate::harness::{self, CALLBACK_LINKS, until};

/// The create form's repository field, once a link filled it.
async fn prefilled_repo(app: &harness::App) -> String {
    let field = app.find("repo-url").await;
    until(
        "the repository to be prefilled",
        async || field.prop("value").await.ok().flatten().unwrap_or_default(),
        |value| !value.is_empty(),
    )
    .await
}

#[test]
fn github_sign_in_comes_back_through_a_second_launch_of_the_app() {
    let (_fake, url) = start_fake("fake-github.py", &["900", "28800"]);
    let env = vec![
        ("SAM_GITHUB_URL".to_owned(), url.clone()),
        ("SAM_GITHUB_API_URL".to_owned(), url.clone()),
        (
            "SAM_GITHUB_CLIENT_ID".to_owned(),
            "sam-test-client".to_owned(),
        ),
        (
            "SAM_GITHUB_CLIENT_SECRET".to_owned(),
            "sam-test-secret".to_owned(),
        ),
        (
            "SAM_TEST_SECOND_LAUNCH".to_owned(),
            binary("sam-desktop").to_string_lossy().into_owned(),
        ),
        (
            "HCLOUD_TOKEN".to_owned(),
            "hcloud-token-the-browser-must-not-see".to_owned(),
        ),
    ];
    harness::run_with_env(
        "github-sign-in",
        env,
        |_| (),
        async |app, ()| {
            app.click("nav-hetzner").await;
            app.click("github-sign-in-browser").await;
            let account = app.text("github-account").await;
            assert!(account.contains("octo-user"), "{account}");
            let session = app.text("github-session").await;
            assert!(session.contains("in the browser"), "{session}");
            assert!(session.contains("github/access-token"), "{session}");
            let opened = app.opened_links();
            assert!(
                opened.iter().any(|link| link
                    .starts_with(&format!("{url}/login/oauth/authorize?"))
                    && link.contains("code_challenge_method=S256")
                    && link.contains("state=")),
                "{opened:?}"
            );
            let log = until(
                "the second launch to exit",
                async || app.home_file("second-launch.log"),
                |log| log.contains("exit "),
            )
            .await;
            assert!(log.contains("exit 0"), "{log}");

            // The browser SAM started inherited none of SAM's secrets.
            let browser_env = app.home_file(harness::BROWSER_ENV);
            assert!(
                browser_env.contains("SAM_TEST_SECOND_LAUNCH="),
                "the browser's environment was recorded: {browser_env}"
            );
            for secret in ["hcloud-token-the-browser-must-not-see", "sam-test-secret"] {
                assert!(!browser_env.contains(secret), "the browser got {secret}");
            }

            // The same callback again (a replay): refused as used, still signed in.
            let callback = app.home_file(CALLBACK_LINKS);
            let callback = callback.lines().next().expect("a callback link");
            assert!(callback.starts_with("sam://oauth/callback?"), "{callback}");
            let again = app.launch_again(&[callback]);
            assert!(again.status.success(), "{again:?}");
            let error = app.text("github-error").await;
            assert!(error.contains("already used"), "{error}");
            assert!(app.text("github-account").await.contains("octo-user"));

            // An "Open in SAM" link prefills the create form.
            let open = app.launch_again(&[
                "sam://open?repo=https%3A%2F%2Fgithub.com%2Focto-user%2Fproject-001.git&branch=dev",
            ]);
            assert!(open.status.success(), "{open:?}");
            let repo = prefilled_repo(app).await;
            assert_eq!(repo, "https://github.com/octo-user/project-001.git");

            // A link SAM does not know: said so, nothing else happens.
            let unknown = app.launch_again(&["sam://format-disk?now=1"]);
            assert!(unknown.status.success(), "{unknown:?}");
            let problem = app.text("link-problem").await;
            assert!(
                problem.contains("does not know sam://format-disk"),
                "{problem}"
            );

            // Sign out (revoked at the fake), leaving the session's keyring as it was.
            app.click("nav-hetzner").await;
            app.click("github-sign-out").await;
            app.find("github-sign-in-browser").await;
        },
    );
}

#[test]
fn an_open_in_sam_link_that_starts_the_app_prefills_the_create_form() {
    let link = "sam://open?repo=https%3A%2F%2Fgitlab.com%2Fgroup%2Ftool.git&branch=release-2";
    harness::run_with_args("open-link-at-start", vec![link.to_owned()], async |app| {
        let repo = prefilled_repo(app).await;
        assert_eq!(repo, "https://gitlab.com/group/tool.git");
        let branch = app.find("branch").await.prop("value").await.ok().flatten();
        assert_eq!(branch.as_deref(), Some("release-2"));
        let page = app.text("runs-as-you").await;
        assert!(page.contains("runs as you"), "{page}");
    });
}
