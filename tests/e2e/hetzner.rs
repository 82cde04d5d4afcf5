//! Connecting a Hetzner account in the real window, against the fake Hetzner Cloud: a wrong
//! token is refused with Hetzner's reason, a good one is checked and kept in the keyring (and
//! still there after the app restarts).

use std::time::Duration;

use fake_hetzner::{FakeHetzner, Options};

use crate::harness;

const TOKEN: &str = "a-good-read-write-token";

/// A fake Hetzner Cloud on its own thread and runtime, for as long as this lives.
struct FakeCloud {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl FakeCloud {
    fn start(token: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut options = Options::new(dir.path().join("fake"));
        options.token = Some(token.to_owned());
        let (url_tx, url_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let fake = FakeHetzner::start("127.0.0.1:0".parse().expect("addr"), options)
                    .await
                    .expect("the fake starts");
                url_tx.send(fake.base_url().to_owned()).expect("url sent");
                let _ = stopped.await;
            });
        });
        let url = url_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the fake's URL");
        Self {
            url,
            stop: Some(stop),
            thread: Some(thread),
            _dir: dir,
        }
    }
}

impl Drop for FakeCloud {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn a_hetzner_token_is_checked_and_kept_in_the_keyring() {
    let cloud = FakeCloud::start(TOKEN);
    let env = vec![("HCLOUD_ENDPOINT".to_owned(), cloud.url.clone())];
    harness::run_with_env(
        "hetzner-token",
        env,
        |_| (),
        async |app, ()| {
            app.click("connect-hetzner").await;
            app.find("connect-hetzner-screen").await;

            app.type_into("hetzner-token", "not-the-right-token").await;
            app.click("hetzner-save").await;
            let error = app.text("error-notice").await;
            assert!(error.contains("refused"), "{error}");

            let field = app.find("hetzner-token").await;
            field.clear().await.expect("cleared");
            app.type_into("hetzner-token", TOKEN).await;
            app.click("hetzner-save").await;
            let status = app.text("hetzner-status").await;
            assert!(status.contains("keyring"), "{status}");
            // The field is emptied: the token is not kept in the page.
            let value = app
                .script(
                    "return document.querySelector(\"[data-testid='hetzner-token']\").value;",
                    vec![],
                )
                .await;
            assert_eq!(value, serde_json::json!(""));

            // Kept in the keyring: the app knows it after a restart.
            app.restart().await;
            app.click("connect-hetzner").await;
            let status = app.text("hetzner-status").await;
            assert!(status.contains("keyring"), "{status}");
        },
    );
}
