//! What SAM finds on the account that it does not expect: labelled resources of this
//! installation with no live workspace record ("not known to SAM"), resources labelled by other
//! installations of SAM (a reinstall, another laptop) listed separately, and workspace records
//! whose server is gone. Fail-closed: only resources labelled `sam-managed=true` are ever
//! looked at, and nothing here deletes anything — it reports, with what each costs.

use std::collections::BTreeSet;

use serde::Serialize;

use super::api::{LABEL_INSTALLATION, LABEL_MANAGED, LABEL_WORKSPACE};
use super::client::HetznerClient;
use super::model::{Labels, Pricing, ServerStatus, rfc3339_ms};
use super::provider::resource_name;
use super::spend::Charge;
use crate::error::SamError;
use crate::store::BillingRecord;
use crate::workspace::WorkspaceId;

/// One resource on the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Resource {
    /// `server`, `volume` or `firewall`.
    pub kind: String,
    /// Hetzner's id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its location (firewalls have none).
    pub location: Option<String>,
    /// The workspace its labels name.
    pub workspace: Option<String>,
    /// The installation its labels name.
    pub installation: Option<String>,
    /// What it costs a month at most, gross, in hundredths of a cent (`None` when unknown;
    /// firewalls are free).
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub monthly_centicents: Option<u64>,
}

/// What the reconciler found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Report {
    /// This installation's resources with no live workspace record.
    pub unknown: Vec<Resource>,
    /// Resources of other installations of SAM: never touched without an explicit choice.
    pub foreign: Vec<Resource>,
    /// Workspaces recorded as running whose server is gone.
    pub vanished: Vec<String>,
}

/// What one look at the account found: the report for the user, plus what the lifecycle acts
/// on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    /// Unknown, foreign and vanished resources.
    pub report: Report,
    /// Workspaces recorded as running whose server is powered off (its idle backstop, most
    /// likely): still billed until the stop is completed.
    pub powered_off: Vec<String>,
    /// This installation's billed servers and Volumes as they are now, priced.
    pub billing: Vec<BillingRecord>,
}

/// Compares the account with the workspaces SAM knows: `known` are the live Hetzner records,
/// `running` those of them that should have a server now; `pricing` prices what is found.
pub async fn reconcile(
    client: &HetznerClient,
    pricing: &Pricing,
    installation: &str,
    known: &BTreeSet<WorkspaceId>,
    running: &BTreeSet<WorkspaceId>,
) -> Result<Findings, SamError> {
    let managed = format!("{LABEL_MANAGED}=true");
    let mut all = Vec::new();
    let mut findings = Findings::default();
    let ours =
        |labels: &Labels| labels.get(LABEL_INSTALLATION).map(String::as_str) == Some(installation);
    for server in client.servers(&managed).await? {
        let (hourly, monthly) =
            pricing.server_with_ipv4(&server.server_type.name, &server.location.name);
        let workspace = server.labels.get(LABEL_WORKSPACE).cloned();
        if let (true, Some(workspace)) = (ours(&server.labels), &workspace) {
            if server.status == ServerStatus::Off
                && workspace
                    .parse::<WorkspaceId>()
                    .is_ok_and(|w| running.contains(&w))
            {
                findings.powered_off.push(workspace.clone());
            }
            if let (Some(started_ms), Some(hourly), Some(monthly)) =
                (rfc3339_ms(&server.created), hourly, monthly)
            {
                findings.billing.push(BillingRecord {
                    kind: "server".to_owned(),
                    resource_id: server.id,
                    workspace: workspace.clone(),
                    charge: Charge::hourly(started_ms, hourly, monthly),
                    currency: pricing.currency.clone(),
                });
            }
        }
        all.push(resource(
            "server",
            server.id,
            server.name,
            Some(server.location.name),
            &server.labels,
            monthly,
        ));
    }
    for volume in client.volumes(&managed).await? {
        let monthly = pricing.volume_monthly(volume.size);
        if let (true, Some(workspace), Some(started_ms), Some(monthly)) = (
            ours(&volume.labels),
            volume.labels.get(LABEL_WORKSPACE),
            rfc3339_ms(&volume.created),
            monthly,
        ) {
            findings.billing.push(BillingRecord {
                kind: "volume".to_owned(),
                resource_id: volume.id,
                workspace: workspace.clone(),
                charge: Charge::monthly(started_ms, monthly),
                currency: pricing.currency.clone(),
            });
        }
        all.push(resource(
            "volume",
            volume.id,
            volume.name,
            Some(volume.location.name),
            &volume.labels,
            monthly,
        ));
    }
    for firewall in client.firewalls(&managed).await? {
        all.push(resource(
            "firewall",
            firewall.id,
            firewall.name,
            None,
            &firewall.labels,
            Some(0),
        ));
    }
    let report = &mut findings.report;
    let servers: BTreeSet<String> = all
        .iter()
        .filter(|r| r.kind == "server")
        .map(|r| r.name.clone())
        .collect();
    for item in all {
        if item.installation.as_deref() != Some(installation) {
            report.foreign.push(item);
        } else if !item
            .workspace
            .as_deref()
            .and_then(|w| w.parse::<WorkspaceId>().ok())
            .is_some_and(|w| known.contains(&w))
        {
            report.unknown.push(item);
        }
    }
    report.vanished = running
        .iter()
        .filter(|w| !servers.contains(&resource_name(w)))
        .map(ToString::to_string)
        .collect();
    Ok(findings)
}

fn resource(
    kind: &str,
    id: i64,
    name: String,
    location: Option<String>,
    labels: &Labels,
    monthly_centicents: Option<u64>,
) -> Resource {
    Resource {
        kind: kind.to_owned(),
        id,
        name,
        location,
        workspace: labels.get(LABEL_WORKSPACE).cloned(),
        installation: labels.get(LABEL_INSTALLATION).cloned(),
        monthly_centicents,
    }
}
