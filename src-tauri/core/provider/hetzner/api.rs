//! The calls SAM makes, typed: catalogue and prices, servers (create that adopts its own
//! server after a retried create, capacity fallback across the user's preferences, power
//! actions), volumes and firewalls. Status comes from label-selected list calls.

use std::time::Duration;

use super::client::{HetznerClient, take};
use super::error::HetznerError;
use super::model::{
    Action, CreateServer, CreatedServer, Firewall, FirewallRule, Image, Labels, Location, Pricing,
    Server, ServerType, Volume,
};

/// Label on everything SAM creates.
pub const LABEL_MANAGED: &str = "sam-managed";
/// Label naming the installation (one laptop's SAM) that created a resource.
pub const LABEL_INSTALLATION: &str = "sam-installation";
/// Label naming the workspace a resource belongs to.
pub const LABEL_WORKSPACE: &str = "sam-workspace";

/// The label selector for everything one installation created.
pub fn installation_selector(installation: &str) -> String {
    format!("{LABEL_MANAGED}=true,{LABEL_INSTALLATION}={installation}")
}

/// A server power action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Power {
    /// ACPI shutdown (graceful; the OS may ignore it).
    Shutdown,
    /// Pull the plug.
    Poweroff,
    /// Power on.
    Poweron,
}

impl Power {
    fn path(self) -> &'static str {
        match self {
            Self::Shutdown => "shutdown",
            Self::Poweroff => "poweroff",
            Self::Poweron => "poweron",
        }
    }
}

/// The outcome of a create.
#[derive(Debug, Clone)]
pub enum Created {
    /// A new server, with the actions creating it.
    New(Box<CreatedServer>),
    /// The server already existed with this name and the same workspace label (an earlier
    /// attempt got through): it is adopted, never duplicated.
    Adopted(Box<Server>),
}

impl Created {
    /// The server either way.
    pub fn server(&self) -> &Server {
        match self {
            Self::New(created) => &created.server,
            Self::Adopted(server) => server,
        }
    }
}

pub use crate::provider::Placement;

impl HetznerClient {
    /// Every location.
    pub async fn locations(&self) -> Result<Vec<Location>, HetznerError> {
        self.list("/locations", "locations", &[]).await
    }

    /// Every server type.
    pub async fn server_types(&self) -> Result<Vec<ServerType>, HetznerError> {
        self.list("/server_types", "server_types", &[]).await
    }

    /// System images for `architecture` (`x86` or `arm`).
    pub async fn system_images(&self, architecture: &str) -> Result<Vec<Image>, HetznerError> {
        let query = [
            ("type", "system".to_owned()),
            ("architecture", architecture.to_owned()),
        ];
        self.list("/images", "images", &query).await
    }

    /// The price list.
    pub async fn pricing(&self) -> Result<Pricing, HetznerError> {
        self.get("/pricing", "pricing", &[]).await
    }

    /// Servers matching a label selector (one list call however many there are, 50 a page).
    pub async fn servers(&self, label_selector: &str) -> Result<Vec<Server>, HetznerError> {
        self.list(
            "/servers",
            "servers",
            &[("label_selector", label_selector.to_owned())],
        )
        .await
    }

    /// The server called `name`, if any.
    pub async fn server_named(&self, name: &str) -> Result<Option<Server>, HetznerError> {
        let servers: Vec<Server> = self
            .list("/servers", "servers", &[("name", name.to_owned())])
            .await?;
        Ok(servers.into_iter().next())
    }

    /// A server by id; `None` when it is gone.
    pub async fn server(&self, id: i64) -> Result<Option<Server>, HetznerError> {
        match self.get(&format!("/servers/{id}"), "server", &[]).await {
            Ok(server) => Ok(Some(server)),
            Err(HetznerError::Api { status: 404, .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Creates a server; a name already taken by a server with the same `sam-workspace` label
    /// is that workspace's own server from an earlier attempt, and is adopted.
    pub async fn create_server(&self, request: &CreateServer<'_>) -> Result<Created, HetznerError> {
        match self.post("/servers", request).await {
            Ok(body) => {
                let created = serde_json::from_value(body)
                    .map_err(|err| HetznerError::Decode(format!("created server: {err}")))?;
                Ok(Created::New(Box::new(created)))
            }
            Err(err) if err.code() == Some("uniqueness_error") => {
                let existing = self.server_named(request.name).await?;
                let ours = existing.filter(|server| {
                    server.labels.get(LABEL_WORKSPACE) == request.labels.get(LABEL_WORKSPACE)
                });
                ours.map(|server| Created::Adopted(Box::new(server)))
                    .ok_or(err)
            }
            Err(err) => Err(err),
        }
    }

    /// Creates a server at the first of `placements` with capacity: `412
    /// resource_unavailable` (and `placement_error`) moves on to the next; any other error
    /// stops. Returns the server and where it landed.
    pub async fn create_server_somewhere<'p>(
        &self,
        placements: &'p [Placement],
        request: impl Fn(&'p Placement) -> CreateServer<'p>,
    ) -> Result<(Created, Placement), HetznerError> {
        let mut last = None;
        for placement in placements {
            match self.create_server(&request(placement)).await {
                Ok(created) => return Ok((created, placement.clone())),
                Err(err)
                    if matches!(err.code(), Some("resource_unavailable" | "placement_error")) =>
                {
                    tracing::info!(server_type = %placement.server_type, location = %placement.location, "no capacity; trying the next preference");
                    last = Some(err);
                }
                Err(err) => return Err(err),
            }
        }
        Err(last.unwrap_or_else(|| HetznerError::Api {
            status: 412,
            code: "resource_unavailable".to_owned(),
            message: "no server type and location to try".to_owned(),
            details: Box::new(serde_json::Value::Null),
            retry_after_secs: None,
        }))
    }

    /// Deletes a server (attached volumes and firewalls are detached, not deleted); a server
    /// already gone is fine.
    pub async fn delete_server(&self, id: i64) -> Result<Option<Action>, HetznerError> {
        self.delete(&format!("/servers/{id}")).await
    }

    /// Starts a power action.
    pub async fn power(&self, id: i64, action: Power) -> Result<Action, HetznerError> {
        let body = self
            .post(
                &format!("/servers/{id}/actions/{}", action.path()),
                &serde_json::json!({}),
            )
            .await?;
        take(body, "action")
    }

    /// Volumes matching a label selector.
    pub async fn volumes(&self, label_selector: &str) -> Result<Vec<Volume>, HetznerError> {
        self.list(
            "/volumes",
            "volumes",
            &[("label_selector", label_selector.to_owned())],
        )
        .await
    }

    /// Creates an unformatted volume in `location` (the boot script formats it once).
    pub async fn create_volume(
        &self,
        name: &str,
        size_gb: u32,
        location: &str,
        labels: &Labels,
    ) -> Result<(Volume, Action), HetznerError> {
        let body = serde_json::json!({
            "name": name, "size": size_gb, "location": location, "labels": labels, "automount": false,
        });
        let body = self.post("/volumes", &body).await?;
        let volume = take(body.clone(), "volume")?;
        Ok((volume, take(body, "action")?))
    }

    /// Attaches a volume to a server in its location.
    pub async fn attach_volume(&self, volume: i64, server: i64) -> Result<Action, HetznerError> {
        let body = serde_json::json!({ "server": server, "automount": false });
        take(
            self.post(&format!("/volumes/{volume}/actions/attach"), &body)
                .await?,
            "action",
        )
    }

    /// Detaches a volume.
    pub async fn detach_volume(&self, volume: i64) -> Result<Action, HetznerError> {
        take(
            self.post(
                &format!("/volumes/{volume}/actions/detach"),
                &serde_json::json!({}),
            )
            .await?,
            "action",
        )
    }

    /// Deletes a detached volume; one already gone is fine.
    pub async fn delete_volume(&self, volume: i64) -> Result<(), HetznerError> {
        self.delete(&format!("/volumes/{volume}")).await.map(|_| ())
    }

    /// Firewalls matching a label selector.
    pub async fn firewalls(&self, label_selector: &str) -> Result<Vec<Firewall>, HetznerError> {
        self.list(
            "/firewalls",
            "firewalls",
            &[("label_selector", label_selector.to_owned())],
        )
        .await
    }

    /// Creates a firewall admitting only `rules` inbound (everything outbound stays open).
    pub async fn create_firewall(
        &self,
        name: &str,
        rules: &[FirewallRule],
        labels: &Labels,
    ) -> Result<Firewall, HetznerError> {
        let body = serde_json::json!({ "name": name, "rules": rules, "labels": labels });
        take(self.post("/firewalls", &body).await?, "firewall")
    }

    /// Deletes a firewall applied nowhere; one already gone is fine.
    pub async fn delete_firewall(&self, firewall: i64) -> Result<(), HetznerError> {
        self.delete(&format!("/firewalls/{firewall}"))
            .await
            .map(|_| ())
    }

    /// Waits for several actions (a create's `next_actions`), each bounded by `timeout`.
    pub async fn wait_all(
        &self,
        actions: &[Action],
        timeout: Duration,
    ) -> Result<(), HetznerError> {
        for action in actions {
            self.wait(action, timeout).await?;
        }
        Ok(())
    }
}
