//! Connecting a Hetzner account in the real window, against the fake Hetzner Cloud: a wrong
//! token is refused with Hetzner's reason, a good one is checked and kept in the keyring (and
//! still there after the app restarts).

use std::time::Duration;

use fake_hetzner::{FakeHetzner, Options};

use crate::harness;

pub(crate) const TOKEN: &str = "a-good-read-write-token";

/// A fake Hetzner Cloud on its own thread and runtime, for as long as this lives.
pub(crate) struct FakeCloud {
    pub(crate) url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl FakeCloud {
    pub(crate) fn start(token: &str) -> Self {
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

impl FakeCloud {
    /// Sends one request to the fake (`/v1/...` with the token, or `/__fake/...`) and returns
    /// the status and the body as JSON (`null` when empty).
    pub(crate) fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        use std::io::{Read, Write};
        let host = self
            .url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .expect("host")
            .to_owned();
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut stream = std::net::TcpStream::connect(&host).expect("the fake answers");
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("request sent");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("answer read");
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .expect("a status line");
        let json = answer
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.trim())
            .filter(|body| !body.is_empty())
            .map_or(serde_json::Value::Null, |body| {
                serde_json::from_str(body).expect("a JSON body")
            });
        (status, json)
    }

    /// The names of the fake's servers (or volumes, or firewalls: `kind` is the API's plural).
    pub(crate) fn names(&self, kind: &str) -> Vec<String> {
        let (status, body) = self.request("GET", &format!("/v1/{kind}"), None);
        assert_eq!(status, 200, "{body}");
        body[kind]
            .as_array()
            .expect("a list")
            .iter()
            .map(|item| item["name"].as_str().unwrap_or_default().to_owned())
            .collect()
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
