//! Hetzner benchmarks against the fake (no network, actions instant, agents boot at once):
//! the time SAM itself adds to a create on Hetzner (request to `running`, with the fake's own
//! waiting at zero), and the API calls a minute it spends keeping 50 workspaces' status fresh —
//! per-workspace status checks, and the app's sweep, which is what the app runs.
//!
//! Run: `cargo build --release --workspace --bins && cargo bench --bench hetzner` (as root: the fake's
//! agents listen on port 443).

#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_hetzner::{FakeHetzner, Options};
use sam_core::Core;
use sam_core::agent_release::AgentDownload;
use sam_core::idle::IdleChoice;
use sam_core::installation::{KeyStore, MemoryKeys};
use sam_core::lifecycle::CreateRequest;
use sam_core::paths::AppPaths;
use sam_core::provider::Provider;
use sam_core::provider::hetzner::api::{LABEL_INSTALLATION, LABEL_MANAGED, LABEL_WORKSPACE};
use sam_core::provider::hetzner::client::{ClientOptions, HetznerClient};
use sam_core::provider::hetzner::model::CreateServer;
use sam_core::provider::hetzner::provider::{HetznerProvider, HetznerSettings};
use sam_core::redact::Secret;
use sam_core::workspace::{ProviderKind, WorkspaceId};
use sam_test_support::{binary, source_repo};

const CREATES: usize = 5;
const POLLED: usize = 50;
const POLL_FOR: Duration = Duration::from_secs(30);
const SWEEPS: u64 = 20;

fn settings(installation: &str) -> HetznerSettings {
    let mut settings = HetznerSettings::new(
        installation,
        AgentDownload {
            url: "https://example.com/sam-agent".to_owned(),
            sha256: "0".repeat(64),
        },
    );
    settings.action_timeout = Duration::from_secs(30);
    settings
}

fn client(fake: &FakeHetzner) -> Arc<HetznerClient> {
    let mut options = ClientOptions::new(fake.base_url());
    options.poll_interval = Duration::from_millis(20);
    Arc::new(HetznerClient::new(Secret::new("bench"), options).expect("client"))
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("dir");
    let repo = source_repo(dir.path());
    runtime.block_on(async {
        let mut options = Options::new(dir.path().join("fake"));
        options.agent_bin = binary("sam-agent");
        let fake = FakeHetzner::start("127.0.0.1:0".parse().expect("addr"), options)
            .await
            .expect("fake");

        // 1. Request to `running` on Hetzner, everything real but the cloud.
        let core = Core::open_with(
            AppPaths::under(dir.path().join("app")),
            sam_core::config::Config::default().with_agent_binary(binary("sam-agent")),
            Arc::new(MemoryKeys::default()) as Arc<dyn KeyStore>,
            None,
        )
        .expect("core");
        core.hetzner().use_provider(Arc::new(HetznerProvider::new(
            client(&fake),
            settings("bench-create"),
        )));
        let mut creates = Vec::new();
        for _ in 0..CREATES {
            let request = CreateRequest {
                repo: repo.clone(),
                name: None,
                branch: None,
                provider: ProviderKind::Hetzner,
                idle: IdleChoice::Never,
                placement: None,
            };
            let started = Instant::now();
            let (_, operation) = core.workspaces().begin_create(&request).expect("begun");
            let workspace = core.workspaces().run(operation).await.expect("created");
            creates.push(started.elapsed());
            assert!(workspace.is_some());
        }
        println!("{:<60} {:>10}", "measure", "value");
        println!(
            "{:<60} {:>7.0} ms",
            format!("create on Hetzner (fake, instant), request to running, median of {CREATES}"),
            median(creates.clone()).as_secs_f64() * 1000.0
        );
        println!(
            "{:<60} {:>7.0} ms",
            "  slowest",
            creates.iter().max().expect("samples").as_secs_f64() * 1000.0
        );

        // 2. Status of 50 workspaces, each asked once a second, for POLL_FOR.
        let client = client(&fake);
        let labels = |w: &str| {
            BTreeMap::from([
                (LABEL_MANAGED.to_owned(), "true".to_owned()),
                (LABEL_INSTALLATION.to_owned(), "bench-poll".to_owned()),
                (LABEL_WORKSPACE.to_owned(), w.to_owned()),
            ])
        };
        let mut ids = Vec::new();
        for n in 0..POLLED {
            // Workspace ids are 12 characters of the base32 alphabet.
            let suffix: String = (0..4)
                .map(|i| char::from(b"abcdefghijklmnopqrstuvwxyz234567"[(n >> (5 * i)) & 31]))
                .collect();
            let id: WorkspaceId = format!("pollwsaa{suffix}").parse().expect("id");
            let name = format!("sam-{id}");
            let labels = labels(id.as_str());
            client
                .create_server(&CreateServer {
                    name: &name,
                    server_type: "cx23",
                    image: "debian-12",
                    location: "fsn1",
                    user_data: "#cloud-config\n{}",
                    labels: &labels,
                    volumes: Vec::new(),
                    automount: false,
                    firewalls: Vec::new(),
                    start_after_create: true,
                })
                .await
                .expect("server");
            ids.push(id);
        }
        let provider = HetznerProvider::new(Arc::clone(&client), settings("bench-poll"));
        let before = fake.requests();
        let started = Instant::now();
        let mut polls = 0u64;
        while started.elapsed() < POLL_FOR {
            for id in &ids {
                provider.status(id).await.expect("status");
                polls += 1;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let calls = fake.requests() - before;
        let minutes = started.elapsed().as_secs_f64() / 60.0;
        println!(
            "{:<60} {:>10}",
            format!("status checks of {POLLED} workspaces (each once a second)"),
            polls
        );
        println!(
            "{:<60} {:>8.1}/min",
            "  Hetzner API calls they cost",
            calls as f64 / minutes
        );

        // 3. The app's sweep (reconciler + vanished servers), which is its status poll: one a
        //    minute, whatever the number of workspaces.
        let sweeper = Core::open_with(
            AppPaths::under(dir.path().join("sweeper")),
            sam_core::config::Config::default().with_agent_binary(binary("sam-agent")),
            Arc::new(MemoryKeys::default()) as Arc<dyn KeyStore>,
            None,
        )
        .expect("core");
        sweeper
            .hetzner()
            .use_provider(Arc::new(HetznerProvider::new(
                Arc::clone(&client),
                settings("bench-poll"),
            )));
        // The first sweep also reads the catalogue (price list, locations, server types), which
        // is then reused for 15 minutes.
        let before = fake.requests();
        sweeper.workspaces().sweep().await.expect("sweep");
        let first = fake.requests() - before;
        let before = fake.requests();
        for _ in 0..SWEEPS {
            sweeper.workspaces().sweep().await.expect("sweep");
        }
        let steady = (fake.requests() - before) as f64 / SWEEPS as f64;
        println!(
            "{:<60} {:>10.1}",
            format!("app sweep with {POLLED} workspaces: API calls per sweep"),
            steady
        );
        println!(
            "{:<60} {:>8.1}/min",
            "  at one sweep a minute, catalogue every 15 min included",
            steady + (first as f64 - steady) / 15.0
        );
    });
}
