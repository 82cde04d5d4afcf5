//! What Hetzner sends, read tolerantly: unknown fields are ignored, missing ones take their
//! default, and an enum value we have never seen becomes `Unknown` instead of a parse failure.
//! (The generated `hcloud` crate is strict, and one of its releases became unusable the day
//! Hetzner removed a field; see `docs/decisions.md`.) What SAM sends is typed exactly.
//!
//! A server's `root_password` is deliberately not a field here: it is never read, so it is
//! never held, logged or stored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Labels on a resource.
pub type Labels = BTreeMap<String, String>;

/// A server's power state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ServerStatus {
    /// Being created.
    Initializing,
    /// Powering on.
    Starting,
    /// Running.
    Running,
    /// Shutting down.
    Stopping,
    /// Off (still billed).
    Off,
    /// Being deleted.
    Deleting,
    /// Moving to another host.
    Migrating,
    /// Being rebuilt.
    Rebuilding,
    /// A value this version of SAM does not know.
    #[default]
    #[serde(other)]
    Unknown,
}

/// A CPU architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    /// x86-64.
    X86,
    /// ARM64.
    Arm,
    /// A value this version of SAM does not know.
    #[default]
    #[serde(other)]
    Unknown,
}

/// An action's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    /// Still running.
    Running,
    /// Done.
    Success,
    /// Failed.
    Error,
    /// A value this version of SAM does not know.
    #[default]
    #[serde(other)]
    Unknown,
}

/// A server.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Server {
    /// Id.
    pub id: i64,
    /// Name (`sam-<workspace id>` for SAM's).
    pub name: String,
    /// Power state.
    pub status: ServerStatus,
    /// When it was created (RFC 3339).
    pub created: String,
    /// Public addresses.
    pub public_net: PublicNet,
    /// Its type.
    pub server_type: ServerType,
    /// Where it runs.
    pub location: Location,
    /// Labels.
    pub labels: Labels,
    /// Attached volume ids.
    pub volumes: Vec<i64>,
}

/// A server's public network.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PublicNet {
    /// The IPv4 address, if it has one.
    pub ipv4: Option<Ipv4>,
}

/// An IPv4 address.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Ipv4 {
    /// The address.
    pub ip: String,
}

/// A server type.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ServerType {
    /// Id.
    pub id: i64,
    /// Name, e.g. `cx23`.
    pub name: String,
    /// Description.
    pub description: String,
    /// vCPUs.
    pub cores: u32,
    /// Memory in GB.
    pub memory: f64,
    /// Local disk in GB.
    pub disk: u64,
    /// Architecture.
    pub architecture: Architecture,
    /// `shared` or `dedicated`.
    pub cpu_type: String,
    /// Deprecated everywhere.
    pub deprecated: Option<bool>,
    /// Prices per location.
    pub prices: Vec<LocationPrice>,
    /// Where it is offered.
    pub locations: Vec<ServerTypeLocation>,
}

/// A server type in one location.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ServerTypeLocation {
    /// The location's name.
    pub name: String,
    /// In stock (absent on older API versions: assumed available).
    pub available: bool,
    /// Set when it is being retired there.
    pub deprecation: Option<serde_json::Value>,
}

impl Default for ServerTypeLocation {
    fn default() -> Self {
        Self {
            name: String::new(),
            available: true,
            deprecation: None,
        }
    }
}

/// Prices in one location.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LocationPrice {
    /// The location's name.
    pub location: String,
    /// Per hour.
    pub price_hourly: Price,
    /// Per month (the cap).
    pub price_monthly: Price,
}

/// A price: decimal strings, net and gross.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Price {
    /// Without VAT.
    pub net: String,
    /// With VAT.
    pub gross: String,
}

impl Price {
    /// The gross amount in hundredths of a cent (exact for Hetzner's prices, which have at most
    /// four significant decimals); `None` when it is not a decimal number.
    pub fn gross_centicents(&self) -> Option<u64> {
        decimal_centicents(&self.gross)
    }
}

/// An RFC 3339 time as Unix milliseconds; `None` when it is not one.
pub fn rfc3339_ms(text: &str) -> Option<i64> {
    let at =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

/// A non-negative decimal string in units of 1/10 000, rounded half up.
pub fn decimal_centicents(text: &str) -> Option<u64> {
    let (whole, fraction) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let digits: Vec<u64> = fraction.bytes().map(|b| u64::from(b - b'0')).collect();
    let mut value = whole.checked_mul(10_000)?;
    for (i, scale) in [1000, 100, 10, 1].into_iter().enumerate() {
        value += digits.get(i).copied().unwrap_or(0) * scale;
    }
    if digits.get(4).copied().unwrap_or(0) >= 5 {
        value += 1;
    }
    Some(value)
}

/// A location.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Location {
    /// Id.
    pub id: i64,
    /// Name, e.g. `fsn1`.
    pub name: String,
    /// Description.
    pub description: String,
    /// Country code.
    pub country: String,
    /// City.
    pub city: String,
    /// Network zone, e.g. `eu-central`.
    pub network_zone: String,
}

/// An image.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Image {
    /// Id.
    pub id: i64,
    /// Name (system images only).
    pub name: Option<String>,
    /// Architecture.
    pub architecture: Architecture,
    /// Set once deprecated.
    pub deprecated: Option<String>,
}

/// A volume.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Volume {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Size in GB.
    pub size: u32,
    /// The server it is attached to.
    pub server: Option<i64>,
    /// Where it lives.
    pub location: Location,
    /// Its device on the server.
    pub linux_device: String,
    /// When it was created (RFC 3339).
    pub created: String,
    /// Labels.
    pub labels: Labels,
}

/// A firewall.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Firewall {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: Labels,
    /// Where it is applied.
    pub applied_to: Vec<serde_json::Value>,
}

/// An action.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Action {
    /// Id.
    pub id: i64,
    /// What it does, e.g. `create_server`.
    pub command: String,
    /// State.
    pub status: ActionStatus,
    /// 0–100.
    pub progress: u8,
    /// Why it failed.
    pub error: Option<ActionError>,
}

/// Why an action failed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ActionError {
    /// Machine-readable code.
    pub code: String,
    /// Message.
    pub message: String,
}

/// The price list.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Pricing {
    /// Currency, e.g. `EUR`.
    pub currency: String,
    /// VAT rate in percent, as a decimal string.
    pub vat_rate: String,
    /// Volumes.
    pub volume: VolumePricing,
    /// Primary IPs by type.
    pub primary_ips: Vec<PrimaryIpPricing>,
    /// Server types.
    pub server_types: Vec<ServerTypePricing>,
}

impl Pricing {
    /// A server type's prices in a location.
    pub fn server(&self, server_type: &str, location: &str) -> Option<&LocationPrice> {
        self.server_types
            .iter()
            .find(|t| t.name == server_type)?
            .prices
            .iter()
            .find(|p| p.location == location)
    }

    /// What a server of `server_type` in `location` costs together with its primary IPv4
    /// address, gross in hundredths of a cent: `(per hour, per month at most)`. `None` where the
    /// server type has no price there; an address without a price counts as free.
    pub fn server_with_ipv4(
        &self,
        server_type: &str,
        location: &str,
    ) -> (Option<u64>, Option<u64>) {
        let server = self.server(server_type, location);
        let ipv4 = self.ipv4(location);
        let sum = |of: fn(&LocationPrice) -> &Price| {
            let server = server.and_then(|p| of(p).gross_centicents())?;
            Some(server + ipv4.and_then(|p| of(p).gross_centicents()).unwrap_or(0))
        };
        (sum(|p| &p.price_hourly), sum(|p| &p.price_monthly))
    }

    /// What a Volume of `size_gb` costs a month, gross, in hundredths of a cent.
    pub fn volume_monthly(&self, size_gb: u32) -> Option<u64> {
        self.volume
            .price_per_gb_month
            .gross_centicents()
            .map(|per_gb| per_gb * u64::from(size_gb))
    }

    /// A primary IPv4 address's prices in a location.
    pub fn ipv4(&self, location: &str) -> Option<&LocationPrice> {
        self.primary_ips
            .iter()
            .find(|ip| ip.kind == "ipv4")?
            .prices
            .iter()
            .find(|p| p.location == location)
    }
}

/// Volume prices.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct VolumePricing {
    /// Per GB and month.
    pub price_per_gb_month: Price,
}

/// Primary IP prices of one type.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PrimaryIpPricing {
    /// `ipv4` or `ipv6`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Per location.
    pub prices: Vec<LocationPrice>,
}

/// One server type's prices.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ServerTypePricing {
    /// Name.
    pub name: String,
    /// Per location.
    pub prices: Vec<LocationPrice>,
}

/// A firewall rule SAM creates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FirewallRule {
    /// `in`.
    pub direction: &'static str,
    /// `tcp`.
    pub protocol: &'static str,
    /// The port.
    pub port: String,
    /// Who may connect.
    pub source_ips: Vec<String>,
    /// What it is for.
    pub description: String,
}

/// `POST /servers`.
#[derive(Debug, Clone, Serialize)]
pub struct CreateServer<'a> {
    /// `sam-<workspace id>`.
    pub name: &'a str,
    /// Server type name.
    pub server_type: &'a str,
    /// Image name.
    pub image: &'a str,
    /// Location name.
    pub location: &'a str,
    /// The cloud-init document.
    pub user_data: &'a str,
    /// Labels.
    pub labels: &'a Labels,
    /// Volumes to attach.
    pub volumes: Vec<i64>,
    /// Mount them via cloud-init (no: SAM's boot script mounts the workspace disk).
    pub automount: bool,
    /// Firewalls to apply.
    pub firewalls: Vec<FirewallRef>,
    /// Power on once created.
    pub start_after_create: bool,
}

/// A firewall by id, in a create request.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct FirewallRef {
    /// Its id.
    pub firewall: i64,
}

/// What `POST /servers` answers (without `root_password`, on purpose).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CreatedServer {
    /// The server.
    pub server: Server,
    /// `create_server`.
    pub action: Action,
    /// `start_server`, `attach_volume`…
    pub next_actions: Vec<Action>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_values_and_missing_fields_do_not_fail_parsing() {
        let server: Server = serde_json::from_str(
            r#"{"id": 4294967297, "name": "sam-x", "status": "hibernating", "brand_new": {"x": 1},
                "server_type": {"architecture": "riscv", "locations": [{"name": "fsn1"}]}}"#,
        )
        .expect("parses");
        assert_eq!(server.id, 4_294_967_297);
        assert_eq!(server.status, ServerStatus::Unknown);
        assert_eq!(server.server_type.architecture, Architecture::Unknown);
        assert!(server.server_type.locations[0].available);
        assert!(server.public_net.ipv4.is_none());
    }

    #[test]
    fn decimal_prices_become_exact_hundredths_of_cents() {
        assert_eq!(decimal_centicents("4.1531000000000000"), Some(41_531));
        assert_eq!(decimal_centicents("0.0065450000000000"), Some(65));
        assert_eq!(decimal_centicents("0.00655"), Some(66));
        assert_eq!(decimal_centicents("12"), Some(120_000));
        for bad in ["", "-1.0", "1,5", "abc", "."] {
            assert_eq!(decimal_centicents(bad), None, "{bad:?}");
        }
    }
}
