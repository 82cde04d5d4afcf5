//! What a resource has cost so far, the way Hetzner bills it: servers (with their IPv4 address)
//! per started hour from creation, whatever their power state, up to the monthly price; Volumes
//! by the hour at a 730th of their monthly price (Hetzner publishes only the monthly one), up to
//! the monthly price. Amounts are gross, in hundredths of a cent.
//!
//! The cap applies per month of use; a resource older than a month is capped at one monthly
//! price per started 730 hours, which is how a long-lived resource is billed to within a day.

use super::model::{Pricing, Server, Volume, rfc3339_ms};
use crate::core::provider::MachineDetails;

/// Hours in Hetzner's billing month.
pub const HOURS_PER_MONTH: u64 = 730;
const HOUR_MS: u64 = 3_600_000;

/// One billed resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Billed {
    since_ms: i64,
    hourly: Option<u64>,
    monthly: u64,
}

impl Billed {
    /// A resource with an hourly price (servers, IPv4 addresses).
    pub fn hourly(since_ms: i64, hourly: u64, monthly: u64) -> Self {
        Self {
            since_ms,
            hourly: Some(hourly),
            monthly,
        }
    }

    /// A resource with only a monthly price (Volumes).
    pub fn monthly(since_ms: i64, monthly: u64) -> Self {
        Self {
            since_ms,
            hourly: None,
            monthly,
        }
    }

    /// What it has cost from its creation until `now_ms`.
    pub fn cost(&self, now_ms: i64) -> u64 {
        let elapsed = u64::try_from(now_ms.saturating_sub(self.since_ms)).unwrap_or(0);
        // Every started hour counts; a resource made a moment ago has cost one hour.
        let hours = elapsed.div_ceil(HOUR_MS).max(1);
        let by_hour = match self.hourly {
            Some(hourly) => hours.saturating_mul(hourly),
            None => hours.saturating_mul(self.monthly).div_ceil(HOURS_PER_MONTH),
        };
        let months = hours.div_ceil(HOURS_PER_MONTH);
        by_hour.min(months.saturating_mul(self.monthly))
    }
}

/// The sum of what `resources` have cost until `now_ms`; `None` when nothing is known.
pub fn so_far(now_ms: i64, server: Option<Billed>, disk: Option<Billed>) -> Option<u64> {
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
            .map(|((since, hourly), monthly)| Billed::hourly(since, hourly, monthly)),
        volume
            .and_then(|v| rfc3339_ms(&v.created))
            .zip(disk_monthly)
            .map(|(since, monthly)| Billed::monthly(since, monthly)),
    );
    let monthly_centicents = match (server_monthly, disk_monthly) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    };
    MachineDetails {
        server: server.map(|s| s.name.clone()),
        server_type: server.map(|s| s.server_type.name.clone()),
        location: server
            .map(|s| s.location.name.clone())
            .or_else(|| volume.map(|v| v.location.name.clone())),
        ip: server
            .and_then(|s| s.public_net.ipv4.as_ref())
            .map(|ip| ip.ip.clone())
            .filter(|ip| !ip.is_empty()),
        server_since_ms: since,
        disk_gb: volume.map(|v| v.size),
        hourly_centicents: hourly,
        monthly_centicents,
        cost_so_far_centicents,
        currency: Some(pricing.currency.clone()).filter(|c| !c.is_empty()),
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

    #[test]
    fn a_new_server_has_cost_one_started_hour() {
        let server = Billed::hourly(0, SERVER_HOURLY, SERVER_MONTHLY);
        assert_eq!(server.cost(0), 79);
        assert_eq!(server.cost(1), 79);
        assert_eq!(server.cost(H), 79);
        assert_eq!(server.cost(H + 1), 158, "the second hour has started");
    }

    #[test]
    fn a_server_is_capped_at_its_monthly_price() {
        let server = Billed::hourly(0, SERVER_HOURLY, SERVER_MONTHLY);
        // 638 hours × 79 = 50 402 > 50 400.
        assert_eq!(server.cost(637 * H), 637 * 79);
        assert_eq!(server.cost(638 * H), SERVER_MONTHLY);
        assert_eq!(server.cost(730 * H), SERVER_MONTHLY);
        // Into the second month, hours count again up to a second cap.
        assert_eq!(server.cost(731 * H), (731 * 79).min(2 * SERVER_MONTHLY));
    }

    #[test]
    fn a_volume_costs_a_730th_of_its_monthly_price_an_hour() {
        let disk = Billed::monthly(0, DISK_MONTHLY);
        assert_eq!(disk.cost(H), 16, "11 440 / 730 = 15.7, rounded up");
        assert_eq!(disk.cost(73 * H), 1144);
        assert_eq!(disk.cost(730 * H), DISK_MONTHLY);
    }

    #[test]
    fn a_clock_before_creation_costs_one_hour_not_a_panic() {
        let server = Billed::hourly(10 * H, SERVER_HOURLY, SERVER_MONTHLY);
        assert_eq!(server.cost(0), 79);
    }

    #[test]
    fn so_far_adds_what_is_known() {
        let server = Billed::hourly(0, SERVER_HOURLY, SERVER_MONTHLY);
        let disk = Billed::monthly(0, DISK_MONTHLY);
        assert_eq!(so_far(H, None, None), None);
        assert_eq!(so_far(H, Some(server), None), Some(79));
        assert_eq!(so_far(H, Some(server), Some(disk)), Some(79 + 16));
    }
}
