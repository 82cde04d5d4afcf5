//! A local fake of the Hetzner Cloud API, for SAM's tests and for trying SAM with no cloud
//! account. It speaks the real wire format (JSON shapes, status codes, error bodies,
//! pagination, label selectors, rate-limit headers) and keeps state: actions take time,
//! faults can be injected, and a server created with SAM's user_data boots the real
//! `sam-agent` on its own loopback address, with each volume a folder that becomes the
//! workspace disk — or, with [`Options::vm`], boots as a real Linux virtual machine whose
//! cloud-init runs SAM's user_data ([`vm`]). `docs/hetzner.md` says how to run it.

mod api;
mod catalog;
mod http;
mod labels;
pub mod machines;
mod selector;
pub mod vm;
mod world;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use world::Faults;

/// How to run the fake.
#[derive(Debug, Clone)]
pub struct Options {
    /// The only token accepted; `None` accepts any non-empty token.
    pub token: Option<String>,
    /// A token that may only read (`403 token_readonly` on anything else).
    pub read_only_token: Option<String>,
    /// The `sam-agent` binary servers boot.
    pub agent_bin: PathBuf,
    /// The port agents listen on (443 on a real server).
    pub agent_port: u16,
    /// Where servers and volumes keep their folders.
    pub data_dir: PathBuf,
    /// Requests an hour.
    pub rate_limit: u32,
    /// Requests the budget regains each second.
    pub refill_per_sec: f64,
    /// Faults from the start.
    pub faults: Faults,
    /// Servers boot as virtual machines (`None`: as the agent alone, in a process).
    pub vm: Option<vm::VmOptions>,
}

impl Options {
    /// Defaults: any token, the agent next to this executable on port 443, Hetzner's budget
    /// (3600 an hour, one more each second), no faults.
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            token: None,
            read_only_token: None,
            agent_bin: machines::default_agent_bin(),
            agent_port: 443,
            data_dir,
            rate_limit: 3600,
            refill_per_sec: 1.0,
            faults: Faults::default(),
            vm: None,
        }
    }
}

/// A running fake. Dropping it stops the server and every agent it started.
#[derive(Debug)]
pub struct FakeHetzner {
    base_url: String,
    shared: Arc<api::Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeHetzner {
    /// Starts serving on `listen` (port 0 picks a free one) inside the current tokio runtime.
    pub async fn start(listen: SocketAddr, options: Options) -> std::io::Result<Self> {
        std::fs::create_dir_all(&options.data_dir)?;
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(api::Shared::new(options));
        let app = axum::Router::new()
            .fallback(api::dispatch)
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            base_url: format!("http://{addr}/v1"),
            shared,
            task,
        })
    }

    /// The API's base URL, e.g. `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// How many API requests it has answered (control endpoints not counted).
    pub fn requests(&self) -> u64 {
        self.shared.requests()
    }

    /// Replaces the injected faults.
    pub fn set_faults(&self, faults: Faults) {
        self.shared.world().faults = faults;
    }

    /// Makes a server disappear at once (as if deleted behind SAM's back, in Hetzner Console):
    /// its Volumes are detached and its firewalls no longer apply to it.
    pub fn vanish(&self, server: i64) -> bool {
        self.shared.world().remove_server(server)
    }

    /// Every server's `(name, status, ip)`, for tests.
    pub fn servers(&self) -> Vec<(String, String, String)> {
        self.shared
            .world()
            .servers
            .values()
            .map(|s| {
                (
                    s.name.clone(),
                    s.power.as_str().to_owned(),
                    s.address.ip.clone(),
                )
            })
            .collect()
    }

    /// Every server's user_data, as SAM sent it.
    pub fn user_data(&self) -> Vec<String> {
        self.shared
            .world()
            .servers
            .values()
            .filter_map(|s| s.user_data.clone())
            .collect()
    }

    /// Where a server downloads the agent from, as the server sees it (the fake serves the
    /// agent binary it boots as a release, `GET /__fake/releases/sam-agent-x86_64-linux`), and
    /// the binary's SHA-256; `None` when the binary cannot be read.
    pub fn agent_release(&self) -> Option<(String, String)> {
        let bytes = std::fs::read(&self.shared.options.agent_bin).ok()?;
        let host = if self.shared.options.vm.is_some() {
            vm::HOST_FROM_GUEST
        } else {
            "127.0.0.1"
        };
        let port = self.base_url.rsplit(':').next()?.trim_end_matches("/v1");
        Some((
            format!("http://{host}:{port}/__fake/releases/{}", api::AGENT_ASSET),
            sam_protocol::enroll::sha256_hex(&bytes),
        ))
    }

    /// Runs `command` (one line of `sh`) as root on the virtual machine of server `name`, through
    /// the test image's console; waits at most `timeout`.
    pub fn root_command(
        &self,
        name: &str,
        command: &str,
        timeout: std::time::Duration,
    ) -> std::io::Result<vm::RootOutput> {
        let dir = self
            .server_dir(name)
            .ok_or_else(|| std::io::Error::other(format!("no server {name}")))?;
        vm::root_command(&dir, command, timeout)
    }

    /// The folder of a server, by name: its logs (`console.log` for a virtual machine).
    pub fn server_dir(&self, name: &str) -> Option<PathBuf> {
        self.shared
            .world()
            .servers
            .values()
            .find(|s| s.name == name)
            .map(|s| s.dir.clone())
    }

    /// The folder of a volume, by name: the workspace disk's contents.
    pub fn volume_dir(&self, name: &str) -> Option<PathBuf> {
        self.shared
            .world()
            .volumes
            .values()
            .find(|v| v.name == name)
            .map(|v| v.dir.clone())
    }
}

impl Drop for FakeHetzner {
    fn drop(&mut self) {
        self.task.abort();
        // Agents go with their servers.
        self.shared.world().servers.clear();
    }
}
