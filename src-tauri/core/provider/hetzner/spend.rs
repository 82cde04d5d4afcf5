//! What a resource has cost, the way Hetzner bills it: servers (with their IPv4 address) per
//! started hour from creation to deletion, whatever their power state, up to the monthly price
//! in each calendar month (UTC); Volumes by the hour at a 730th of their monthly price (Hetzner
//! publishes only the monthly one), up to the monthly price. Amounts are gross, in hundredths of
//! a cent.
//!
//! An hour that straddles the turn of a month counts in both months: the sums can be one hourly
//! price above the invoice per month boundary a resource lived across, never below it.

use std::collections::BTreeMap;

use serde::Serialize;
use time::{OffsetDateTime, Time};

use super::model::{Pricing, Server, Volume, rfc3339_ms};
use crate::provider::{MachineCost, MachineDetails, MachineFact};
use crate::store::BillingRecord;

/// Hours in Hetzner's billing month (the Volume's hourly price is a 730th of its monthly one).
pub const HOURS_PER_MONTH: u64 = 730;
const HOUR_MS: u64 = 3_600_000;
/// No resource lives longer than this many months (a bound for the month walk).
const MAX_MONTHS: usize = 1200;

/// One billed resource over its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charge {
    /// Its creation, Unix milliseconds.
    pub started_ms: i64,
    /// Its deletion; `None` while it exists.
    pub ended_ms: Option<i64>,
    /// Its hourly price; `None` for Volumes (a 730th of the monthly price).
    pub hourly: Option<u64>,
    /// Its monthly price, the most it costs in one calendar month.
    pub monthly: u64,
}

impl Charge {
    /// A resource with an hourly price (servers with their IPv4 address), alive since `since_ms`.
    pub fn hourly(since_ms: i64, hourly: u64, monthly: u64) -> Self {
        Self {
            started_ms: since_ms,
            ended_ms: None,
            hourly: Some(hourly),
            monthly,
        }
    }

    /// A resource with only a monthly price (Volumes), alive since `since_ms`.
    pub fn monthly(since_ms: i64, monthly: u64) -> Self {
        Self {
            started_ms: since_ms,
            ended_ms: None,
            hourly: None,
            monthly,
        }
    }

    /// What it has cost from its creation until `now_ms` (or its deletion).
    pub fn cost(&self, now_ms: i64) -> u64 {
        self.cost_between(i64::MIN, now_ms)
    }

    /// What it cost between `from_ms` and `to_ms`: each calendar month's started hours, capped
    /// at the monthly price. A resource created in the window has cost at least one hour.
    pub fn cost_between(&self, from_ms: i64, to_ms: i64) -> u64 {
        let start = self.started_ms.max(from_ms);
        let end = self
            .ended_ms
            .map_or(to_ms, |ended| ended.min(to_ms))
            .max(start);
        if end == start && self.started_ms < from_ms {
            return 0;
        }
        let mut total = 0u64;
        let mut month = month_start(start);
        for _ in 0..MAX_MONTHS {
            let next = next_month(month);
            let (a, b) = (start.max(month), end.min(next));
            total = total.saturating_add(self.month_cost(b - a));
            if end <= next {
                break;
            }
            month = next;
        }
        total
    }

    /// What `elapsed_ms` within one calendar month cost.
    fn month_cost(&self, elapsed_ms: i64) -> u64 {
        let hours = u64::try_from(elapsed_ms)
            .unwrap_or(0)
            .div_ceil(HOUR_MS)
            .max(1);
        let by_hour = match self.hourly {
            Some(hourly) => hours.saturating_mul(hourly),
            None => hours.saturating_mul(self.monthly).div_ceil(HOURS_PER_MONTH),
        };
        by_hour.min(self.monthly)
    }
}

/// The first moment (UTC) of the calendar month holding `ms`.
pub fn month_start(ms: i64) -> i64 {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|at| at.replace_day(1).ok())
        .map(|at| at.replace_time(Time::MIDNIGHT))
        .map_or(ms, |at| at.unix_timestamp().saturating_mul(1000))
}

/// The first moment of the month after the one that starts at `month_ms`.
fn next_month(month_ms: i64) -> i64 {
    // 32 days on from the 1st is always inside the next month.
    let next = month_start(month_ms.saturating_add(32 * 24 * 3_600_000));
    if next > month_ms { next } else { i64::MAX }
}

/// What one workspace has cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct WorkspaceSpend {
    /// The workspace (it may have been deleted since).
    pub workspace: String,
    /// Everything its servers and disks cost, gross, in hundredths of a cent.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub so_far_centicents: u64,
    /// What they cost this calendar month.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub this_month_centicents: u64,
}

/// What the workspaces have cost, from the billing history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Spend {
    /// The currency of the amounts (`None` before anything was billed).
    pub currency: Option<String>,
    /// The start of this calendar month (UTC), Unix milliseconds.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub month_start_ms: i64,
    /// This month so far, over every workspace including deleted ones.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub month_to_date_centicents: u64,
    /// Each workspace that was ever billed.
    pub workspaces: Vec<WorkspaceSpend>,
}

/// Adds up `records` at `now_ms`.
pub fn summarize(records: &[BillingRecord], now_ms: i64) -> Spend {
    let month = month_start(now_ms);
    let mut by_workspace: BTreeMap<&str, WorkspaceSpend> = BTreeMap::new();
    for record in records {
        let entry = by_workspace
            .entry(&record.workspace)
            .or_insert_with(|| WorkspaceSpend {
                workspace: record.workspace.clone(),
                so_far_centicents: 0,
                this_month_centicents: 0,
            });
        entry.so_far_centicents += record.charge.cost(now_ms);
        entry.this_month_centicents += record.charge.cost_between(month, now_ms);
    }
    let workspaces: Vec<WorkspaceSpend> = by_workspace.into_values().collect();
    Spend {
        currency: records.first().map(|r| r.currency.clone()),
        month_start_ms: month,
        month_to_date_centicents: workspaces.iter().map(|w| w.this_month_centicents).sum(),
        workspaces,
    }
}

/// `€0.42`: an amount for a notification or the command line.
pub fn format_amount(centicents: u64, currency: &str) -> String {
    let cents = centicents.saturating_add(50) / 100;
    let value = format!("{}.{:02}", cents / 100, cents % 100);
    match currency {
        "EUR" => format!("€{value}"),
        "USD" => format!("${value}"),
        other => format!("{value} {other}"),
    }
}

/// The sum of what `server` and `disk` have cost until `now_ms`; `None` when nothing is known.
pub fn so_far(now_ms: i64, server: Option<Charge>, disk: Option<Charge>) -> Option<u64> {
    match (server, disk) {
        (None, None) => None,
        (server, disk) => {
            Some(server.map_or(0, |s| s.cost(now_ms)) + disk.map_or(0, |d| d.cost(now_ms)))
        }
    }
}

/// What a workspace's server (if any) and disk are and cost at `now_ms`, for the workspace page.
pub fn details(
    server: Option<&Server>,
    volume: Option<&Volume>,
    pricing: &Pricing,
    now_ms: i64,
) -> MachineDetails {
    let (hourly, server_monthly) = server.map_or((None, None), |s| {
        pricing.server_with_ipv4(&s.server_type.name, &s.location.name)
    });
    let since = server.and_then(|s| rfc3339_ms(&s.created));
    let disk_monthly = volume.and_then(|v| pricing.volume_monthly(v.size));
    let cost_so_far_centicents = so_far(
        now_ms,
        since
            .zip(hourly)
            .zip(server_monthly)
            .map(|((since, hourly), monthly)| Charge::hourly(since, hourly, monthly)),
        volume
            .and_then(|v| rfc3339_ms(&v.created))
            .zip(disk_monthly)
            .map(|(since, monthly)| Charge::monthly(since, monthly)),
    );
    let monthly_centicents = match (server_monthly, disk_monthly) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    };
    let server_fact = match server {
        Some(s) => MachineFact {
            since_ms: since,
            ..MachineFact::new(
                "server",
                "Server",
                format!("{} ({})", s.name, s.server_type.name),
            )
        },
        None => MachineFact::new(
            "server",
            "Server",
            "none while stopped — nothing is billed for compute",
        ),
    };
    let location = server
        .map(|s| s.location.name.clone())
        .or_else(|| volume.map(|v| v.location.name.clone()));
    let ip = server
        .and_then(|s| s.public_net.ipv4.as_ref())
        .map(|ip| ip.ip.clone())
        .filter(|ip| !ip.is_empty());
    let mut facts = vec![
        server_fact,
        MachineFact::new(
            "location",
            "Location",
            location.unwrap_or_else(|| "—".to_owned()),
        ),
        MachineFact::new("ip", "Address", ip.unwrap_or_else(|| "—".to_owned())),
    ];
    if let Some(volume) = volume {
        facts.push(MachineFact::new(
            "disk",
            "Disk",
            format!("{} GB, kept while stopped", volume.size),
        ));
    }
    let name = server
        .map(|s| s.name.clone())
        .or_else(|| volume.map(|v| v.name.clone()));
    let mut removed_on_delete = Vec::new();
    if let Some(s) = server {
        removed_on_delete.push(format!("the server {} ({})", s.name, s.server_type.name));
    }
    if let Some(v) = volume {
        removed_on_delete.push(format!(
            "the disk {} ({} GB) with every file on it",
            v.name, v.size
        ));
    }
    if let Some(name) = name {
        removed_on_delete.push(format!("the firewall {name} (free)"));
    }
    MachineDetails {
        removed_on_delete,
        facts,
        cost: Some(MachineCost {
            hourly_centicents: hourly,
            monthly_centicents,
            so_far_centicents: cost_so_far_centicents,
            // Hetzner prices in euro; an answer without a currency is read as such.
            currency: Some(pricing.currency.clone())
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| "EUR".to_owned()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    // Worked example: a server with its IPv4 address at €0.0079 an hour (79 centicents) and
    // €5.04 a month at most; a 20 GB Volume at €0.0572 per GB-month, €1.144 a month.
    const SERVER_HOURLY: u64 = 79;
    const SERVER_MONTHLY: u64 = 50_400;
    const DISK_MONTHLY: u64 = 11_440;

    /// 1 February 1970, 00:00 UTC: January has 744 hours.
    const FEB: i64 = 744 * H;

    #[test]
    fn a_new_server_has_cost_one_started_hour() {
        let server = Charge::hourly(0, SERVER_HOURLY, SERVER_MONTHLY);
        assert_eq!(server.cost(0), 79);
        assert_eq!(server.cost(1), 79);
        assert_eq!(server.cost(H), 79);
        assert_eq!(server.cost(H + 1), 158, "the second hour has started");
    }

    #[test]
    fn a_server_is_capped_at_its_monthly_price_in_each_calendar_month() {
        let server = Charge::hourly(0, SERVER_HOURLY, SERVER_MONTHLY);
        // 638 hours × 79 = 50 402 > 50 400.
        assert_eq!(server.cost(637 * H), 637 * 79);
        assert_eq!(server.cost(638 * H), SERVER_MONTHLY);
        assert_eq!(server.cost(FEB), SERVER_MONTHLY, "all of January");
        // February's first hour is billed again.
        assert_eq!(server.cost(FEB + 1), SERVER_MONTHLY + 79);
        assert_eq!(server.cost_between(FEB, FEB + 1), 79, "this month");
    }

    #[test]
    fn a_server_across_the_turn_of_the_month_is_billed_in_both() {
        // Created 31 January 20:00, deleted 1 February 06:00: 4 hours in January, 6 in
        // February.
        let server = Charge {
            ended_ms: Some(FEB + 6 * H),
            ..Charge::hourly(FEB - 4 * H, SERVER_HOURLY, SERVER_MONTHLY)
        };
        assert_eq!(server.cost(FEB + 100 * H), 10 * 79);
        assert_eq!(server.cost_between(FEB, FEB + 100 * H), 6 * 79);
        assert_eq!(server.cost_between(0, FEB), 4 * 79);
        // Deleted before March: nothing in March.
        assert_eq!(server.cost_between(FEB + 28 * 24 * H, FEB + 29 * 24 * H), 0);
    }

    #[test]
    fn a_powered_off_server_costs_the_same_as_a_running_one() {
        // Billing follows creation and deletion only: 3 hours 10 minutes are 4 started hours.
        let server = Charge {
            ended_ms: Some(3 * H + 10 * 60_000),
            ..Charge::hourly(0, SERVER_HOURLY, SERVER_MONTHLY)
        };
        assert_eq!(server.cost(10 * H), 4 * 79);
    }

    #[test]
    fn a_volume_costs_a_730th_of_its_monthly_price_an_hour() {
        let disk = Charge::monthly(0, DISK_MONTHLY);
        assert_eq!(disk.cost(H), 16, "11 440 / 730 = 15.7, rounded up");
        assert_eq!(disk.cost(73 * H), 1144);
        assert_eq!(disk.cost(730 * H), DISK_MONTHLY);
        assert_eq!(disk.cost(FEB), DISK_MONTHLY, "capped in a 744-hour month");
    }

    #[test]
    fn a_clock_before_creation_costs_one_hour_not_a_panic() {
        let server = Charge::hourly(10 * H, SERVER_HOURLY, SERVER_MONTHLY);
        assert_eq!(server.cost(0), 79);
        assert_eq!(Charge::hourly(i64::MAX - 1, 1, 1).cost(i64::MIN), 1);
    }

    #[test]
    fn so_far_adds_what_is_known() {
        let server = Charge::hourly(0, SERVER_HOURLY, SERVER_MONTHLY);
        let disk = Charge::monthly(0, DISK_MONTHLY);
        assert_eq!(so_far(H, None, None), None);
        assert_eq!(so_far(H, Some(server), None), Some(79));
        assert_eq!(so_far(H, Some(server), Some(disk)), Some(79 + 16));
    }

    #[test]
    fn months_start_on_the_first_at_midnight_utc() {
        assert_eq!(month_start(FEB + 5 * H), FEB);
        assert_eq!(month_start(FEB), FEB);
        assert_eq!(month_start(FEB - 1), 0);
        assert_eq!(next_month(0), FEB);
    }

    #[test]
    fn spend_adds_up_each_workspace_so_far_and_this_month() {
        let record = |workspace: &str, kind: &str, id, charge| BillingRecord {
            kind: kind.to_owned(),
            resource_id: id,
            workspace: workspace.to_owned(),
            charge,
            currency: "EUR".to_owned(),
        };
        let now = FEB + 10 * H;
        let records = [
            // Deleted in January: costs nothing this month.
            record(
                "old",
                "server",
                1,
                Charge {
                    ended_ms: Some(2 * H),
                    ..Charge::hourly(0, SERVER_HOURLY, SERVER_MONTHLY)
                },
            ),
            // Created on 31 January at 22:00 and still there: 2 hours then, 10 now.
            record(
                "live",
                "server",
                2,
                Charge::hourly(FEB - 2 * H, SERVER_HOURLY, SERVER_MONTHLY),
            ),
            record(
                "live",
                "volume",
                3,
                Charge::monthly(FEB - 2 * H, DISK_MONTHLY),
            ),
        ];
        let spend = summarize(&records, now);
        assert_eq!(spend.month_start_ms, FEB);
        assert_eq!(spend.currency.as_deref(), Some("EUR"));
        let old = &spend.workspaces[1];
        assert_eq!(
            (old.workspace.as_str(), old.so_far_centicents),
            ("old", 2 * 79)
        );
        assert_eq!(old.this_month_centicents, 0);
        let live = &spend.workspaces[0];
        // The disk: 2 hours in January (32), 10 in February (157).
        assert_eq!(live.this_month_centicents, 10 * 79 + 157);
        assert_eq!(live.so_far_centicents, 12 * 79 + 32 + 157);
        assert_eq!(spend.month_to_date_centicents, live.this_month_centicents);
    }

    #[test]
    fn amounts_read_in_euros_and_cents() {
        assert_eq!(format_amount(0, "EUR"), "€0.00");
        assert_eq!(format_amount(79, "EUR"), "€0.01");
        assert_eq!(format_amount(50_400, "EUR"), "€5.04");
        assert_eq!(format_amount(9_999, "EUR"), "€1.00");
        assert_eq!(format_amount(12_345, "CHF"), "1.23 CHF");
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            /// Adding up the calendar months of a resource's life gives its cost so far, and no
            /// month costs more than the monthly price.
            #[test]
            fn months_add_up_to_the_whole_and_each_is_capped(
                start in 0i64..(3 * 366 * 24 * H),
                life in 0i64..(400 * 24 * H),
                ended in any::<bool>(),
                after in 0i64..(100 * 24 * H),
                volume in any::<bool>(),
            ) {
                let charge = Charge {
                    ended_ms: ended.then_some(start + life),
                    ..if volume {
                        Charge::monthly(start, DISK_MONTHLY)
                    } else {
                        Charge::hourly(start, SERVER_HOURLY, SERVER_MONTHLY)
                    }
                };
                // A resource created on a month's very first millisecond would be counted in
                // the window that ends there too (windows include their end, so that a
                // resource created "now" has cost its first hour).
                prop_assume!(month_start(start) != start);
                let now = start + life + after;
                let mut month = month_start(start);
                let mut total = 0;
                while month <= now {
                    let next = next_month(month);
                    let cost = charge.cost_between(month, next.min(now));
                    prop_assert!(cost <= charge.monthly, "{cost} in one month");
                    total += cost;
                    month = next;
                }
                prop_assert_eq!(total, charge.cost(now));
            }
        }
    }
}
