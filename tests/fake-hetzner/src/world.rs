//! The fake's state: servers, volumes, firewalls and actions, with the rules Hetzner applies to
//! them (names unique per project, volumes bound to a location, a running action locks its
//! resource, deleting a server detaches what was attached).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::catalog::{Image, Location, ServerType};
use crate::machines::{Address, Machine};

/// Faults to inject, set at start-up (`--faults JSON`) or at run time (`PUT /__fake/faults`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// The next this many API requests get `429 rate_limit_exceeded`.
    pub rate_limited: u32,
    /// The next this many API requests get `503 unavailable`.
    pub server_errors: u32,
    /// Creating a server of these `type@location` pairs (`type` alone: everywhere; `@location`
    /// alone: every type) fails with `412 resource_unavailable`, and `/server_types` shows the
    /// location as not available.
    pub unavailable: Vec<String>,
    /// How long each action runs, in milliseconds.
    pub action_delay_ms: u64,
    /// Actions end in `error` (`action_failed`) and change nothing.
    pub failing_actions: bool,
    /// Servers come up but their agent never starts.
    pub never_boot: bool,
    /// Servers' boot logs end with this phase `FAILED` (after the agent started).
    pub failed_boot_phase: Option<String>,
}

impl Faults {
    /// Whether `server_type` is out of stock in `location`.
    pub fn is_unavailable(&self, server_type: &str, location: &str) -> bool {
        self.unavailable
            .iter()
            .any(|entry| match entry.split_once('@') {
                Some(("", l)) => l == location,
                Some((t, l)) => t == server_type && l == location,
                None => entry == server_type,
            })
    }
}

/// Server power states the fake models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Power {
    /// Being created.
    Initializing,
    /// Powering on.
    Starting,
    /// Running.
    Running,
    /// Shutting down.
    Stopping,
    /// Off.
    Off,
    /// Being deleted.
    Deleting,
}

impl Power {
    /// The API's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initializing => "initializing",
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::Off => "off",
            Self::Deleting => "deleting",
        }
    }
}

/// A server.
#[derive(Debug)]
pub struct Server {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Power state.
    pub power: Power,
    /// When it was created.
    pub created: String,
    /// Its type.
    pub server_type: ServerType,
    /// Its location.
    pub location: Location,
    /// Its image.
    pub image: Image,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Attached volumes.
    pub volumes: Vec<i64>,
    /// Its public IPv4 address (a loopback address, where its agent answers), held for it.
    pub address: Address,
    /// The cloud-init document it was created with.
    pub user_data: Option<String>,
    /// Its agent, while powered on.
    pub machine: Option<Machine>,
    /// Its folder (agent state, a workspace when no volume is attached).
    pub dir: PathBuf,
}

/// A volume.
#[derive(Debug)]
pub struct Volume {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Size in GB.
    pub size: u32,
    /// The server it is attached to.
    pub server: Option<i64>,
    /// Its location.
    pub location: Location,
    /// Filesystem, if formatted at creation.
    pub format: Option<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// When it was created.
    pub created: String,
    /// Its folder: the disk's contents, which the server's agent gets as its workspace.
    pub dir: PathBuf,
}

/// A firewall.
#[derive(Debug)]
pub struct Firewall {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Rules as given.
    pub rules: Vec<Value>,
    /// Servers it is applied to.
    pub servers: Vec<i64>,
    /// When it was created.
    pub created: String,
}

/// An action.
#[derive(Debug, Clone)]
pub struct Action {
    /// Id.
    pub id: i64,
    /// What it does, e.g. `create_server`.
    pub command: &'static str,
    /// `running`, `success` or `error`.
    pub status: &'static str,
    /// 0–100.
    pub progress: u8,
    /// When it started.
    pub started: String,
    /// When it finished.
    pub finished: Option<String>,
    /// What it acts on: `(id, type)`.
    pub resources: Vec<(i64, &'static str)>,
    /// Why it failed.
    pub error: Option<(&'static str, String)>,
}

/// Everything the fake holds.
#[derive(Debug)]
pub struct World {
    next_id: i64,
    /// Servers by id.
    pub servers: BTreeMap<i64, Server>,
    /// Volumes by id.
    pub volumes: BTreeMap<i64, Volume>,
    /// Firewalls by id.
    pub firewalls: BTreeMap<i64, Firewall>,
    /// Actions by id.
    pub actions: BTreeMap<i64, Action>,
    /// Injected faults.
    pub faults: Faults,
}

/// The current time as Hetzner writes it (`+00:00`, whole seconds).
pub fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]+00:00"
        ))
        .unwrap_or_default()
}

impl World {
    /// Removes a server as a finished delete does: its Volumes are detached (not deleted) and its
    /// firewalls no longer apply to it. Whether there was such a server.
    pub fn remove_server(&mut self, id: i64) -> bool {
        let removed = self.servers.remove(&id).inspect(|server| {
            // A virtual machine's own disk goes with it (its logs stay for the tests).
            let _ = std::fs::remove_file(server.dir.join("disk.qcow2"));
        });
        let removed = removed.is_some();
        for volume in self.volumes.values_mut().filter(|v| v.server == Some(id)) {
            volume.server = None;
        }
        for firewall in self.firewalls.values_mut() {
            firewall.servers.retain(|&s| s != id);
        }
        removed
    }

    /// An empty project. Ids start above 2^31, so a client storing them in 32 bits fails.
    pub fn new(faults: Faults) -> Self {
        Self {
            next_id: 3_000_000_000,
            servers: BTreeMap::new(),
            volumes: BTreeMap::new(),
            firewalls: BTreeMap::new(),
            actions: BTreeMap::new(),
            faults,
        }
    }

    /// A fresh id.
    pub fn id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    /// Starts an action on `resources`; it runs until [`World::finish`].
    pub fn action(&mut self, command: &'static str, resources: Vec<(i64, &'static str)>) -> i64 {
        let id = self.id();
        self.actions.insert(
            id,
            Action {
                id,
                command,
                status: "running",
                progress: 0,
                started: now(),
                finished: None,
                resources,
                error: None,
            },
        );
        id
    }

    /// Ends an action: `error` when failing actions are injected. Returns whether it succeeded.
    pub fn finish(&mut self, id: i64) -> bool {
        let failing = self.faults.failing_actions;
        let Some(action) = self.actions.get_mut(&id) else {
            return false;
        };
        action.progress = 100;
        action.finished = Some(now());
        if failing {
            action.status = "error";
            action.error = Some(("action_failed", "Action failed (injected)".to_owned()));
            false
        } else {
            action.status = "success";
            true
        }
    }

    /// Whether a running action holds `id` of `kind` (a second one gets `423 locked`).
    pub fn locked(&self, id: i64, kind: &str) -> bool {
        self.actions.values().any(|a| {
            a.status == "running" && a.resources.iter().any(|&(r, k)| r == id && k == kind)
        })
    }
}

impl Action {
    /// The API's JSON.
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "command": self.command,
            "status": self.status,
            "progress": self.progress,
            "started": self.started,
            "finished": self.finished,
            "resources": self.resources.iter().map(|(id, kind)| json!({"id": id, "type": kind})).collect::<Vec<_>>(),
            "error": self.error.as_ref().map(|(code, message)| json!({"code": code, "message": message})),
        })
    }
}

impl Server {
    /// The API's JSON (never with `datacenter`, which Hetzner removed in July 2026).
    pub fn json(&self, world: &World) -> Value {
        let firewalls: Vec<Value> = world
            .firewalls
            .values()
            .filter(|f| f.servers.contains(&self.id))
            .map(|f| json!({"id": f.id, "status": "applied"}))
            .collect();
        json!({
            "id": self.id,
            "name": self.name,
            "status": self.power.as_str(),
            "created": self.created,
            "public_net": {
                "ipv4": {
                    "id": self.id + 1_000_000,
                    "ip": self.address.ip,
                    "blocked": false,
                    "dns_ptr": format!("static.{}.clients.your-server.de", self.address.ip),
                },
                "ipv6": null,
                "floating_ips": [],
                "firewalls": firewalls,
            },
            "private_net": [],
            "server_type": self.server_type.json(&world.faults.unavailable),
            "location": self.location.json(),
            "image": self.image.json(),
            "iso": null,
            "rescue_enabled": false,
            "locked": world.locked(self.id, "server"),
            "backup_window": null,
            "outgoing_traffic": 0,
            "ingoing_traffic": 0,
            "included_traffic": 21_990_232_555_520_u64,
            "protection": {"delete": false, "rebuild": false},
            "labels": self.labels,
            "volumes": self.volumes,
            "load_balancers": [],
            "primary_disk_size": self.server_type.disk,
            "placement_group": null,
        })
    }
}

impl Volume {
    /// The API's JSON.
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "size": self.size,
            "server": self.server,
            "location": self.location.json(),
            "linux_device": format!("/dev/disk/by-id/scsi-0HC_Volume_{}", self.id),
            "format": self.format,
            "status": "available",
            "protection": {"delete": false},
            "labels": self.labels,
            "created": self.created,
        })
    }
}

impl Firewall {
    /// The API's JSON.
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "labels": self.labels,
            "created": self.created,
            "rules": self.rules,
            "applied_to": self.servers.iter().map(|id| json!({"type": "server", "server": {"id": id}})).collect::<Vec<_>>(),
        })
    }
}
