//! The VM tier's fixture: a fake Hetzner whose servers boot as virtual machines, a repository
//! server they reach, and SAM cores that use them. Shared by the tests and the cold-start bench.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use fake_hetzner::vm::{HOST_FROM_GUEST, RootOutput, VmOptions};
use fake_hetzner::{FakeHetzner, Options};
use sam_core::Core;
use sam_core::agent_client::{AgentClient, PtySize, StreamEvent};
use sam_core::agent_release::{AgentDownload, AgentSource};
use sam_core::idle::IdleChoice;
use sam_core::installation::{KeyStore, OsKeyring};
use sam_core::lifecycle::CreateRequest;
use sam_core::paths::AppPaths;
use sam_core::provider::hetzner::client::{ClientOptions, HetznerClient};
use sam_core::provider::hetzner::provider::{HetznerProvider, HetznerSettings};
use sam_core::redact::Secret;
use sam_core::workspace::{ProviderKind, Workspace};
use sam_test_support::{KillOnDrop, binary, repo_root, start_fake};
use tempfile::TempDir;

/// The API token the tests use.
const TOKEN: &str = "vm-tier-token";

/// The built image's folder, built once per recipe (cached outside the checkout).
fn image() -> PathBuf {
    let output = Command::new(repo_root().join("scripts/lib/vm-image.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("scripts/lib/vm-image.sh runs");
    assert!(
        output.status.success(),
        "the VM image could not be built; it needs root and Debian's debootstrap, \
         qemu-system-x86 and qemu-utils (./scripts/test installs them)"
    );
    let text = String::from_utf8_lossy(&output.stdout);
    PathBuf::from(text.lines().last().expect("the image folder").trim())
}

/// A fake Hetzner whose servers are virtual machines, a repository server the machines reach,
/// and the folder they live in.
#[derive(Debug)]
pub struct Tier {
    pub fake: FakeHetzner,
    pub dir: TempDir,
    /// The repository's URL as the machines see it.
    pub repo_url: String,
    _git: KillOnDrop,
}

impl Tier {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut options = Options::new(dir.path().join("fake"));
        options.agent_bin = binary("sam-agent");
        options.token = Some(TOKEN.to_owned());
        // SAM polls while machines boot; the budget is not what these tests are about.
        options.rate_limit = 1_000_000;
        options.refill_per_sec = 1_000.0;
        let mut vm = VmOptions::new(image());
        vm.relay = binary("fake-hetzner");
        options.vm = Some(vm);
        let fake = FakeHetzner::start("127.0.0.1:0".parse().expect("addr"), options)
            .await
            .expect("the fake starts");
        let repos = dir.path().join("repos");
        std::fs::create_dir_all(&repos).expect("repos");
        sam_test_support::bare_repo(&repos, "project.git");
        let (git, port) = start_fake("git-http-server.py", &[&repos.to_string_lossy(), "-"]);
        Self {
            fake,
            repo_url: format!("http://{HOST_FROM_GUEST}:{port}/project.git"),
            dir,
            _git: git,
        }
    }

    /// Creates a Hetzner workspace of the tier's repository (idle after 30 minutes) with `core`
    /// and waits until it runs.
    pub async fn create(&self, core: &Core) -> Workspace {
        let lifecycle = core.workspaces();
        let (workspace, operation) = lifecycle
            .begin_create(&self.create_request())
            .expect("begun");
        let name = format!("sam-{}", workspace.id);
        lifecycle
            .run(operation)
            .await
            .unwrap_or_else(|err| panic!("create: {err}\n{}", self.console(&name)))
            .expect("a workspace")
    }

    fn create_request(&self) -> CreateRequest {
        CreateRequest {
            repo: self.repo_url.clone(),
            name: None,
            branch: None,
            provider: ProviderKind::Hetzner,
            idle: IdleChoice::After { secs: 1800 },
            placement: None,
        }
    }

    /// The Hetzner API client the app uses, polling at a pace that suits machines that take a
    /// minute to boot.
    pub fn client(&self) -> HetznerClient {
        HetznerClient::new(Secret::new(TOKEN), client_options(self.fake.base_url()))
            .expect("client")
    }

    /// A SAM core whose Hetzner workspaces run here, with the agent released by the fake. Its
    /// keys are in the session's Secret Service, so that the `sam` command-line tool on the same
    /// data folder ([`Tier::data_dir`]) is the same installation.
    pub fn core(&self, installation: &str) -> Core {
        let core = Core::open_with(
            AppPaths::under(self.data_dir(installation)),
            sam_core::config::Config::default(),
            Arc::new(OsKeyring) as Arc<dyn KeyStore>,
            None,
        )
        .expect("core");
        let (url, sha256) = self.fake.agent_release().expect("the agent release");
        self.use_agent(
            &core,
            installation,
            AgentSource::Download(AgentDownload { url, sha256 }),
        );
        core
    }

    /// The data folder of the core made for `installation`.
    pub fn data_dir(&self, installation: &str) -> PathBuf {
        self.dir.path().join(installation)
    }

    /// Makes `core`'s Hetzner servers (of `installation`) get their agent from `agent`.
    pub fn use_agent(&self, core: &Core, installation: &str, agent: AgentSource) {
        let mut settings = HetznerSettings::with_agent(installation, agent);
        settings.action_timeout = Duration::from_secs(60);
        settings.shutdown_timeout = Duration::from_secs(90);
        core.hetzner().use_provider(Arc::new(HetznerProvider::new(
            Arc::new(self.client()),
            settings,
        )));
    }

    /// Runs `command` as root on server `name`, for up to a minute.
    pub fn root(&self, name: &str, command: &str) -> RootOutput {
        self.fake
            .root_command(name, command, Duration::from_secs(60))
            .unwrap_or_else(|err| {
                panic!(
                    "root console on {name}: {command}: {err}\n{}",
                    self.console(name)
                )
            })
    }

    /// The end of server `name`'s console, for failure messages.
    pub fn console(&self, name: &str) -> String {
        let Some(dir) = self.fake.server_dir(name) else {
            return format!("(no server {name})");
        };
        let text = std::fs::read_to_string(dir.join("console.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        // What the test image's root console said, from the start.
        let root: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|line| line.contains("sam-test-console"))
            .collect();
        let qemu = std::fs::read_to_string(dir.join("qemu.log")).unwrap_or_default();
        format!(
            "--- QEMU's errors for {name}:\n{qemu}\n--- root console of {name}:\n{}\n\
             --- console of {name}:\n{tail}",
            root.join("\n")
        )
    }
}

fn client_options(endpoint: &str) -> ClientOptions {
    ClientOptions {
        backoff: Duration::from_millis(200),
        max_backoff: Duration::from_secs(2),
        poll_interval: Duration::from_millis(500),
        ..ClientOptions::new(endpoint)
    }
}

/// Opens a login shell in a terminal, types `line`, and returns what it printed once `needle`
/// shows in the output (after the typed line's echo).
pub async fn terminal(agent: &AgentClient, line: &str, needle: &str) -> String {
    let pty = agent
        .open_pty(
            None,
            None,
            Default::default(),
            PtySize {
                cols: 100,
                rows: 30,
            },
        )
        .await
        .expect("a terminal");
    let (mut handle, _) = agent.attach(pty.stream, 0).await.expect("attached");
    handle.write(line.as_bytes(), true);
    let mut output = Vec::new();
    let seen = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(event) = handle.next().await {
            if let StreamEvent::Output { bytes, .. } = event {
                output.extend_from_slice(&bytes);
                let text = String::from_utf8_lossy(&output);
                // The echo of the typed line holds the needle only inside `$(…)`.
                if text
                    .lines()
                    .any(|l| l.contains(needle) && !l.contains("$("))
                {
                    return;
                }
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&output).into_owned();
    assert!(seen.is_ok(), "never saw {needle:?}: {text}");
    let _ = agent.close_stream(pty.stream).await;
    text
}
