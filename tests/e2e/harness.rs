//! Drives the real `sam-desktop` binary in its real webview through WebDriver.
//!
//! Chain: fantoccini → `WebKitWebDriver` (Debian's webkit2gtk-driver) → `sam-desktop`, with
//! `TAURI_WEBVIEW_AUTOMATION=true` so the app's webview accepts automation. This is what
//! `tauri-driver` does on Linux, without the extra install.
//!
//! Each test gets its own data folder, XDG folders and driver port, runs under a timeout, and
//! leaves a screenshot of its final state in `<target>/e2e-screenshots/`, checked not to be
//! blank. Tests run one at a time (two cores; one webview at a time keeps timings sane).

use std::fs::File;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use sam_core::paths::AppPaths;
use sam_test_support::{binary, target_dir};
use serde_json::json;
use tempfile::TempDir;

/// The longest one test may take, start-up included.
const TEST_TIMEOUT: Duration = Duration::from_secs(90);
/// How long to wait for the driver to accept a session.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for an element to appear.
const ELEMENT_TIMEOUT: Duration = Duration::from_secs(15);

static SERIAL: Mutex<()> = Mutex::new(());

/// `sam ARGS` against an app's data folder.
pub fn sam(data_dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(binary("sam"));
    command.args(args).env("SAM_DATA_DIR", data_dir);
    command
}

/// How long [`until`] waits.
const UNTIL_TIMEOUT: Duration = Duration::from_secs(60);

/// Waits until `read` gives what `done` accepts; returns it. For state outside the window (a
/// cloud, a notification daemon) that offers no event to wait on.
pub async fn until<T: std::fmt::Debug>(
    what: &str,
    mut read: impl AsyncFnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = tokio::time::Instant::now() + UNTIL_TIMEOUT;
    loop {
        let value = read().await;
        if done(&value) {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: still {value:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The app under test, one WebDriver session.
pub struct App {
    client: Client,
    _driver: Driver,
    /// Kept for the test's whole life; `None` only while [`App::restart`] moves it on.
    home: Option<TempDir>,
    /// Extra environment the app starts with.
    env: Vec<(String, String)>,
    /// The arguments the app starts with.
    args: Vec<String>,
}

/// Runs `test` against a freshly started app. `prepare` may seed the app's data folder first.
pub fn run(name: &str, prepare: impl FnOnce(&AppPaths), test: impl AsyncFnOnce(&mut App)) {
    run_with(name, prepare, async |app, ()| test(app).await);
}

/// Like [`run`], passing what `prepare` returns on to `test`.
pub fn run_with<T>(
    name: &str,
    prepare: impl FnOnce(&AppPaths) -> T,
    test: impl AsyncFnOnce(&mut App, T),
) {
    run_with_env(name, Vec::new(), prepare, test);
}

/// Like [`run_with`], with extra environment variables for the app (e.g. `HCLOUD_ENDPOINT`).
pub fn run_with_env<T>(
    name: &str,
    env: Vec<(String, String)>,
    prepare: impl FnOnce(&AppPaths) -> T,
    test: impl AsyncFnOnce(&mut App, T),
) {
    run_launched(name, env, Vec::new(), prepare, test);
}

/// Like [`run`], starting the app with `args` (as the desktop starts it for a `sam://` link).
pub fn run_with_args(name: &str, args: Vec<String>, test: impl AsyncFnOnce(&mut App)) {
    run_launched(
        name,
        Vec::new(),
        args,
        |_| (),
        async |app, ()| test(app).await,
    );
}

fn run_launched<T>(
    name: &str,
    env: Vec<(String, String)>,
    args: Vec<String>,
    prepare: impl FnOnce(&AppPaths) -> T,
    test: impl AsyncFnOnce(&mut App, T),
) {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    assert!(
        std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some(),
        "the end-to-end tests need a display; run them through scripts/test (Xvfb)"
    );
    crate::dunst::forget_all();
    let home = tempfile::tempdir().expect("temp dir");
    let paths = AppPaths::under(home.path().join("data"));
    let prepared = prepare(&paths);
    // Local agents outlive the app by design; a test, passing or failing, leaves none behind.
    let _reaper = AgentReaper(paths.data_dir.clone());

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let mut app = App::launch(home, env, args).await;
        let outcome = tokio::time::timeout(TEST_TIMEOUT, test(&mut app, prepared)).await;
        let shot = app.screenshot(name).await;
        app.close().await;
        assert!(outcome.is_ok(), "{name} timed out after {TEST_TIMEOUT:?}");
        assert_not_blank(&shot);
    });
}

impl App {
    async fn launch(home: TempDir, env: Vec<(String, String)>, args: Vec<String>) -> Self {
        let driver = Driver::start(home.path(), &env);
        let caps = json!({
            "webkitgtk:browserOptions": {
                "binary": binary("sam-desktop"),
                "args": args,
            }
        });
        let caps = caps.as_object().expect("object").clone();
        let url = format!("http://127.0.0.1:{}", driver.port);
        let deadline = tokio::time::Instant::now() + CONNECT_TIMEOUT;
        let client = loop {
            let attempt = ClientBuilder::new(HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&url)
                .await;
            match attempt {
                Ok(client) => break client,
                Err(err) if tokio::time::Instant::now() < deadline => {
                    // The driver is still starting; it offers no readiness signal but its port.
                    let _ = err;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(err) => panic!(
                    "WebKitWebDriver gave no session within {CONNECT_TIMEOUT:?}: {err}\n\
                     driver log:\n{}",
                    driver.log()
                ),
            }
        };
        Self {
            client,
            _driver: driver,
            home: Some(home),
            env,
            args,
        }
    }

    /// The test's home folder (the app's data, the driver's log, [`App::opened_links`]).
    pub fn home(&self) -> &Path {
        self.home.as_ref().expect("the test's home").path()
    }

    /// Reads `file` in the test's home (empty when it does not exist yet).
    pub fn home_file(&self, file: &str) -> String {
        std::fs::read_to_string(self.home().join(file)).unwrap_or_default()
    }

    /// The addresses the app opened in the "browser" (`SAM_BROWSER`), oldest first.
    pub fn opened_links(&self) -> Vec<String> {
        std::fs::read_to_string(self.home().join(OPENED_LINKS))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Starts the app binary again with `args`, as the desktop does for a `sam://` link; it
    /// hands them to the running app and exits. Returns its exit status and output.
    pub fn launch_again(&self, args: &[&str]) -> std::process::Output {
        Command::new(binary("sam-desktop"))
            .args(args)
            .envs(app_env(self.home(), &self.env))
            .stdin(Stdio::null())
            .output()
            .expect("the app starts")
    }

    /// Quits the app and starts it again on the same data (the user closed and reopened it).
    pub async fn restart(&mut self) {
        let _ = self.client.clone().close().await;
        let home = self.home.take().expect("the test's home");
        // The old app must be gone, bus name and all, before the new one starts: a SAM that
        // finds another SAM of the same data folder hands over its arguments and exits (the
        // single-instance rule), which under load left the test talking to a closed session.
        self._driver.stop();
        let data_dir = AppPaths::under(home.path().join("data")).data_dir;
        wait_until_released(&single_instance_name(&data_dir)).await;
        *self = Self::launch(
            home,
            std::mem::take(&mut self.env),
            std::mem::take(&mut self.args),
        )
        .await;
    }

    /// The element with `data-testid`, once it appears.
    pub async fn find(&self, testid: &str) -> Element {
        self.find_css(&format!("[data-testid='{testid}']")).await
    }

    /// The element matching `css`, once it appears.
    pub async fn find_css(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(ELEMENT_TIMEOUT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|err| panic!("no element {css} within {ELEMENT_TIMEOUT:?}: {err}"))
    }

    /// Waits until an element matching `css` exists, up to `timeout`.
    pub async fn wait_css(&self, css: &str, timeout: Duration) -> Element {
        match self
            .client
            .wait()
            .at_most(timeout)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(err) => {
                // Keep what the screen showed: the failure's best explanation.
                let shot = self.screenshot("timeout").await;
                let text = self.client.source().await.unwrap_or_default();
                panic!(
                    "no element {css} within {timeout:?}: {err}\nscreenshot: {} bytes\npage: {text}",
                    shot.len()
                )
            }
        }
    }

    /// Waits until the element with `data-testid` reads exactly `expected` (bounded).
    pub async fn client_wait_text(&self, testid: &str, expected: &str, timeout: Duration) -> bool {
        let css = format!("[data-testid='{testid}']");
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if let Ok(element) = self.client.find(Locator::Css(&css)).await
                && element.text().await.is_ok_and(|text| text == expected)
            {
                return true;
            }
            // WebDriver offers no change notification; poll the DOM a few times a second.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Types into the element with `data-testid`.
    pub async fn type_into(&self, testid: &str, text: &str) {
        self.find(testid)
            .await
            .send_keys(text)
            .await
            .expect("typing");
    }

    /// Every element matching `css` right now.
    pub async fn all_css(&self, css: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .expect("find_all")
    }

    /// The visible text of the element with `data-testid`, once it appears. It is read in the
    /// page in one step: an element the view re-renders between a lookup and a read would be a
    /// stale reference to WebDriver.
    pub async fn text(&self, testid: &str) -> String {
        let css = format!("[data-testid='{testid}']");
        loop {
            self.find_css(&css).await;
            let text = self
                .script(
                    "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;",
                    vec![css.clone().into()],
                )
                .await;
            if let Some(text) = text.as_str() {
                return text.to_owned();
            }
        }
    }

    /// Clicks the element with `data-testid`.
    pub async fn click(&self, testid: &str) {
        self.find(testid).await.click().await.expect("click");
    }

    /// Runs `script` in the page (its `arguments` are `args`) and returns its result.
    pub async fn script(&self, script: &str, args: Vec<serde_json::Value>) -> serde_json::Value {
        self.client
            .execute(script, args)
            .await
            .expect("script runs")
    }

    /// Runs an asynchronous `script` (it calls its last argument when done) and returns what
    /// it passed.
    pub async fn script_async(
        &self,
        script: &str,
        args: Vec<serde_json::Value>,
    ) -> serde_json::Value {
        self.client
            .execute_async(script, args)
            .await
            .expect("script runs")
    }

    /// Resizes the window.
    pub async fn set_window_size(&self, width: u32, height: u32) {
        self.client
            .set_window_size(width, height)
            .await
            .expect("window size");
    }

    /// Sends keys to the element with `data-testid` (WebDriver key codes allowed).
    pub async fn keys(&self, testid: &str, keys: &str) {
        self.find(testid).await.send_keys(keys).await.expect("keys");
    }

    /// Creates a Local workspace from `repo` through the create form and waits until it runs.
    /// Picks the fake coding agent ([`with_fake_agent`]) on the workspace page, starts it and
    /// waits for its session to be ready.
    pub async fn start_fake_agent(&self) {
        self.find("agent-choice")
            .await
            .select_by_value("fake")
            .await
            .expect("the fake agent");
        self.click("start-agent").await;
        self.wait_css(
            "[data-testid='agent-session'][data-state='idle']",
            Duration::from_secs(60),
        )
        .await;
    }

    pub async fn create_local_workspace(&self, repo: &str) {
        self.click("run-local").await;
        self.type_into("repo-url", repo).await;
        self.click("create").await;
        self.find("workspace-page").await;
        self.wait_css(
            "[data-testid='status'].status-running",
            Duration::from_secs(30),
        )
        .await;
    }

    /// Opens the first workspace of the list on screen.
    pub async fn open_first_workspace(&self) {
        self.find_css("[data-testid='workspace-row'] .name button")
            .await
            .click()
            .await
            .expect("opens the workspace");
    }

    /// The document's title.
    pub async fn title(&self) -> String {
        self.client.title().await.expect("title")
    }

    async fn screenshot(&self, name: &str) -> Vec<u8> {
        // Let the webview paint what the test just changed: two animation frames guarantee
        // one full render after the last DOM update.
        self.client
            .execute_async(
                "const done = arguments[0]; \
                 requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
                vec![],
            )
            .await
            .expect("animation frames");
        // The window as it is on the display (WebKit's own snapshot never returns when the
        // window draws without compositing, as it does on a machine without a GPU).
        let (width, height, rgb) = crate::x11::Display::open()
            .capture("SAM")
            .expect("the app's window is on screen");
        let mut png = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut png, width, height);
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder.write_header().expect("PNG header");
            writer.write_image_data(&rgb).expect("PNG data");
        }
        let dir = target_dir().join("e2e-screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot folder");
        std::fs::write(dir.join(format!("{name}.png")), &png).expect("screenshot written");
        png
    }

    async fn close(self) {
        // Ending the session makes the driver close the app; the driver guard then stops it.
        let _ = self.client.close().await;
    }
}

/// Kills the test's Local agents when dropped.
struct AgentReaper(PathBuf);

impl Drop for AgentReaper {
    fn drop(&mut self) {
        sam_test_support::kill_agents_under(&self.0);
    }
}

/// Where the test's browser writes the addresses it was asked to open, one a line.
const OPENED_LINKS: &str = "opened-links.txt";

/// Where the stand-in browser writes the environment it was started with (the last time).
pub const BROWSER_ENV: &str = "browser-env.txt";

/// Where the stand-in browser writes the `sam://` links GitHub sent it back to.
pub const CALLBACK_LINKS: &str = "callback-links.txt";

/// A stand-in browser (`SAM_BROWSER`) that records each address it is asked to open. With
/// `SAM_TEST_SECOND_LAUNCH` set (to the app's binary), it also plays a user approving GitHub's
/// sign-in page: it follows the page's redirect and starts the app again with the `sam://`
/// link, as the desktop's URL handler does.
fn fake_browser(home: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = home.join("browser.sh");
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{opened}'\nenv > '{env}'\n\
         case \"$1\" in */login/oauth/authorize*)\n\
           [ -n \"$SAM_TEST_SECOND_LAUNCH\" ] || exit 0\n\
           link=$(curl -s -o /dev/null -D - \"$1\" | sed -n 's/^[Ll]ocation: *//p' | tr -d '\\r')\n\
           printf '%s\\n' \"$link\" >> '{callbacks}'\n\
           timeout 60 \"$SAM_TEST_SECOND_LAUNCH\" \"$link\" >> '{log}' 2>&1\n\
           echo \"exit $?\" >> '{log}';;\n\
         esac\n",
        opened = home.join(OPENED_LINKS).display(),
        env = home.join(BROWSER_ENV).display(),
        callbacks = home.join(CALLBACK_LINKS).display(),
        log = home.join("second-launch.log").display(),
    );
    std::fs::write(&path, script).expect("browser script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .expect("browser script mode");
    path
}

/// The environment the app runs with: its own data and XDG folders, the stand-in browser, and
/// the test's extra variables.
fn app_env(home: &Path, env: &[(String, String)]) -> Vec<(String, std::ffi::OsString)> {
    let xdg = |name: &str| {
        let dir = home.join(name);
        std::fs::create_dir_all(&dir).expect("xdg folder");
        dir.into_os_string()
    };
    let mut vars = vec![
        ("TAURI_WEBVIEW_AUTOMATION".to_owned(), "true".into()),
        (
            "SAM_DATA_DIR".to_owned(),
            home.join("data").into_os_string(),
        ),
        // Terminals run the login shell; the machine's own shell start-up files (which may
        // wait on locks, print banners or ask questions) are not what these tests check.
        ("SHELL".to_owned(), "/bin/sh".into()),
        // The user's own files (~/.ssh/config, which SSH access for editors edits) are the
        // test's, never the machine's.
        ("HOME".to_owned(), home.as_os_str().to_owned()),
        (
            "SAM_BROWSER".to_owned(),
            fake_browser(home).into_os_string(),
        ),
    ];
    vars.extend(env.iter().map(|(k, v)| (k.clone(), v.into())));
    for (name, dir) in [
        ("XDG_DATA_HOME", "xdg-data"),
        ("XDG_CONFIG_HOME", "xdg-config"),
        ("XDG_CACHE_HOME", "xdg-cache"),
        ("XDG_STATE_HOME", "xdg-state"),
    ] {
        vars.push((name.to_owned(), xdg(dir)));
    }
    vars
}

/// `WebKitWebDriver` in its own process group, so the app it starts is stopped with it.
struct Driver {
    child: Child,
    port: u16,
    log_path: PathBuf,
}

impl Driver {
    fn start(home: &Path, env: &[(String, String)]) -> Self {
        let port = free_port();
        let log_path = home.join("driver.log");
        let log = File::create(&log_path).expect("driver log");
        let child = Command::new("WebKitWebDriver")
            .arg(format!("--port={port}"))
            .envs(app_env(home, env))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|err| {
                panic!("cannot start WebKitWebDriver ({err}); install webkit2gtk-driver")
            });
        Self {
            child,
            port,
            log_path,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Driver {
    /// Stops the whole group: the driver and any app it left behind. Idempotent.
    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The D-Bus name a running SAM of `data_dir` holds (the single-instance plugin's).
fn single_instance_name(data_dir: &Path) -> String {
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(sam_test_support::repo_root().join("tauri.conf.json"))
            .expect("tauri.conf.json"),
    )
    .expect("tauri.conf.json is JSON");
    let identifier = config["identifier"].as_str().expect("identifier");
    format!(
        "{}.SingleInstance",
        sam_desktop::shell::deep_link::instance_id(identifier, data_dir)
    )
}

/// Waits (bounded, polling: the bus announces the release only to its subscribers) until no
/// process owns `name` on the session bus.
async fn wait_until_released(name: &str) {
    let deadline = tokio::time::Instant::now() + CONNECT_TIMEOUT;
    loop {
        let output = Command::new("dbus-send")
            .args([
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/",
                "org.freedesktop.DBus.NameHasOwner",
                &format!("string:{name}"),
            ])
            .output()
            .expect("dbus-send runs");
        let reply = String::from_utf8_lossy(&output.stdout);
        if output.status.success() && reply.contains("boolean false") {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the closed app still holds {name}: {reply}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

/// A blank screenshot (one flat colour) means the webview never painted.
fn assert_not_blank(png: &[u8]) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let mut reader = decoder.read_info().expect("a PNG screenshot");
    let mut pixels = vec![0; reader.output_buffer_size().expect("buffer size")];
    let frame = reader.next_frame(&mut pixels).expect("PNG frame");
    let channels = frame.color_type.samples();
    let pixels = &pixels[..frame.buffer_size()];
    let first = &pixels[..channels];
    let differing = pixels
        .chunks_exact(channels)
        .filter(|px| *px != first)
        .count();
    let total = pixels.len() / channels;
    assert!(
        differing * 200 > total,
        "the screenshot is blank: only {differing} of {total} pixels differ from the corner"
    );
}

/// Puts `fake-acp` in the catalogue as `fake` (the scripted coding agent); returns a repository
/// to create workspaces from.
pub fn with_fake_agent(paths: &AppPaths) -> String {
    let store = sam_core::store::Store::open(&paths.database()).expect("store");
    let fake = binary("fake-acp");
    let spec = sam_core::coding_agents::from_command_line(
        "fake",
        Some("Fake agent"),
        &fake.to_string_lossy(),
        &[],
        Vec::new(),
    )
    .expect("a command line");
    sam_core::coding_agents::add_custom(&store, spec).expect("added");
    sam_test_support::source_repo(paths.data_dir.parent().expect("home"))
}
