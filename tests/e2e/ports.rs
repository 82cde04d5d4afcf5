//! The Ports panel and editors in the real window: a server listening in a Local workspace is
//! offered, forwarded with one click, reached through the forward, opened in the "browser", and
//! forwarded again on the same port when the app is restarted; an address a terminal prints is
//! offered and forwarded from the terminal; SSH access for editors is turned
//! on in Settings after the change it makes is shown, and "Open in VS Code" hands the editor its
//! Remote-SSH link.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use crate::harness::{self, App};
use crate::source_repo;

const SHOWN: Duration = Duration::from_secs(30);

/// An HTTP server on loopback — the Local workspace's loopback — answering `body`.
fn web_server(body: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binds");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for socket in listener.incoming().flatten() {
            let mut socket = socket;
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request);
            let _ = write!(
                socket,
                "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

fn fetch(url: &str) -> String {
    let addr = url.trim_start_matches("http://");
    let mut socket = TcpStream::connect(addr).expect("connects");
    socket.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("asks");
    let mut response = String::new();
    socket.read_to_string(&mut response).expect("reads");
    response
}

async fn forwarded_url(app: &App, port: u16) -> String {
    let css = format!("[data-testid='forward-{port}'] [data-testid='forward-url']");
    app.wait_css(&css, SHOWN).await.text().await.expect("text")
}

#[test]
fn a_listening_port_is_forwarded_opened_and_kept_and_an_editor_opens_the_workspace() {
    harness::run_with("ports", source_repo, async |app, repo| {
        let port = web_server("hello from the workspace");
        app.create_local_workspace(&repo).await;

        // Offered, forwarded with one click, reached.
        app.wait_css(&format!("[data-testid='offer-{port}']"), SHOWN)
            .await
            .click()
            .await
            .expect("forward");
        let url = forwarded_url(app, port).await;
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        assert!(fetch(&url).ends_with("hello from the workspace"), "{url}");
        app.find_css(&format!(
            "[data-testid='forward-{port}'] [data-testid='forward-open']"
        ))
        .await
        .click()
        .await
        .expect("open");
        harness::until(
            "the forward reaches the browser",
            async || app.opened_links(),
            |links| links.contains(&url),
        )
        .await;

        // The app restarts: the forward listens again, on the same local port.
        app.restart().await;
        app.open_first_workspace().await;
        assert_eq!(forwarded_url(app, port).await, url);
        assert!(fetch(&url).ends_with("hello from the workspace"));

        // Stopped from the panel: nothing listens there any more.
        app.find_css(&format!(
            "[data-testid='forward-{port}'] [data-testid='forward-stop']"
        ))
        .await
        .click()
        .await
        .expect("stop");
        app.wait_css(&format!("[data-testid='offer-{port}']"), SHOWN)
            .await;
        let addr = url.trim_start_matches("http://");
        assert!(TcpStream::connect(addr).is_err(), "{addr} still listens");

        // A dev server printing where it listens, in a terminal: offered, forwarded.
        crate::terminal::shell_ready(app).await;
        let printed = web_server("printed");
        crate::terminal::type_line(app, &format!("echo 'Local: http://localhost:{printed}/'"))
            .await;
        app.wait_css(
            &format!("[data-testid='port-offer-{printed}'] [data-testid='port-offer-forward']"),
            SHOWN,
        )
        .await
        .click()
        .await
        .expect("forward");
        let printed_url = forwarded_url(app, printed).await;
        assert!(fetch(&printed_url).ends_with("printed"), "{printed_url}");

        // The workspace stops: its forwards stop listening; it starts: they listen again.
        app.click("action-stop").await;
        app.wait_css("[data-testid='status'].status-stopped", SHOWN)
            .await;
        let printed_addr = printed_url.trim_start_matches("http://").to_owned();
        harness::until(
            "the forward closes with its workspace",
            async || TcpStream::connect(&printed_addr).is_err(),
            |closed| *closed,
        )
        .await;
        app.click("action-start").await;
        app.wait_css("[data-testid='status'].status-running", SHOWN)
            .await;
        assert_eq!(forwarded_url(app, printed).await, printed_url);
        assert!(fetch(&printed_url).ends_with("printed"));

        // An editor before SSH access is on: a clear refusal naming the way.
        app.click("open-vscode").await;
        let refusal = app
            .wait_css("[data-testid='open-in'] ~ [role='alert']", SHOWN)
            .await;
        let said = refusal.text().await.expect("text");
        assert!(said.contains("SSH access for editors"), "{said}");

        // Settings: the change is shown, then made.
        app.click("nav-hetzner").await;
        let change = app.find("ssh-change").await.text().await.expect("text");
        assert!(change.contains("+# >>> SAM workspaces"), "{change}");
        app.click("ssh-toggle").await;
        assert!(
            app.client_wait_text("ssh-toggle", "Turn off", SHOWN).await,
            "the switch shows it is on"
        );
        let config = app.home_file(".ssh/config");
        assert!(config.starts_with("# >>> SAM workspaces"), "{config}");

        // "Open in VS Code" hands VS Code its Remote-SSH link for the repository.
        app.click("nav-workspaces").await;
        app.open_first_workspace().await;
        app.click("open-vscode").await;
        let expected = "vscode://vscode-remote/ssh-remote+sam-";
        harness::until(
            "VS Code's link reaches the desktop",
            async || app.opened_links(),
            |links| {
                links
                    .iter()
                    .any(|l| l.starts_with(expected) && l.ends_with("/repo"))
            },
        )
        .await;
    });
}
