//! The billing history: each cloud resource a workspace had, from creation to deletion, with
//! its prices (`migrations/0006_billing.sql`). Spend so far and this month are computed from it.

use rusqlite::{Row, params};

use super::{Store, StoreError};
use crate::provider::hetzner::spend::Charge;
use crate::workspace::WorkspaceId;

/// One billed resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingRecord {
    /// `server` or `volume`.
    pub kind: String,
    /// The cloud's id for it.
    pub resource_id: i64,
    /// The workspace it belonged to.
    pub workspace: String,
    /// Its life and prices.
    pub charge: Charge,
    /// The currency of the prices.
    pub currency: String,
}

const COLUMNS: &str =
    "kind, resource_id, workspace_id, started_ms, ended_ms, hourly, monthly, currency";

impl Store {
    /// Records what the account holds now: each of `seen` is added if new (an existing record
    /// keeps its start and prices), and every open record not among them ends at `now_ms` (its
    /// resource is gone). Returns how many records ended.
    pub fn sync_billing(&self, seen: &[BillingRecord], now_ms: i64) -> Result<usize, StoreError> {
        let mut db = self.lock();
        let tx = db.transaction()?;
        for record in seen {
            tx.execute(
                &format!(
                    "INSERT INTO billing ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, NULL, ?5, ?6, ?7)
                     ON CONFLICT (kind, resource_id) DO NOTHING"
                ),
                params![
                    record.kind,
                    record.resource_id,
                    record.workspace,
                    record.charge.started_ms,
                    record.charge.hourly.map(to_sql),
                    to_sql(record.charge.monthly),
                    record.currency,
                ],
            )?;
        }
        let open: Vec<(String, i64)> = tx
            .prepare("SELECT kind, resource_id FROM billing WHERE ended_ms IS NULL")?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let mut ended = 0;
        for (kind, id) in open {
            if !seen.iter().any(|r| r.kind == kind && r.resource_id == id) {
                ended += tx.execute(
                    "UPDATE billing SET ended_ms = ?3 WHERE kind = ?1 AND resource_id = ?2",
                    params![kind, id, now_ms],
                )?;
            }
        }
        tx.commit()?;
        Ok(ended)
    }

    /// Ends the workspace's open records of `kind` (all kinds when `None`) at `now_ms`: SAM
    /// has just deleted them.
    pub fn end_billing(
        &self,
        workspace: &WorkspaceId,
        kind: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.lock().execute(
            "UPDATE billing SET ended_ms = ?3
             WHERE workspace_id = ?1 AND ended_ms IS NULL AND (?2 IS NULL OR kind = ?2)",
            params![workspace.as_str(), kind, now_ms],
        )?;
        Ok(())
    }

    /// Every record, oldest first, of every workspace that ever had one.
    pub fn billing(&self) -> Result<Vec<BillingRecord>, StoreError> {
        Ok(self
            .lock()
            .prepare(&format!(
                "SELECT {COLUMNS} FROM billing ORDER BY started_ms, kind, resource_id"
            ))?
            .query_map([], read)?
            .collect::<Result<_, _>>()?)
    }
}

fn read(row: &Row<'_>) -> rusqlite::Result<BillingRecord> {
    Ok(BillingRecord {
        kind: row.get(0)?,
        resource_id: row.get(1)?,
        workspace: row.get(2)?,
        charge: Charge {
            started_ms: row.get(3)?,
            ended_ms: row.get(4)?,
            hourly: row.get::<_, Option<i64>>(5)?.map(from_sql),
            monthly: from_sql(row.get(6)?),
        },
        currency: row.get(7)?,
    })
}

fn to_sql(amount: u64) -> i64 {
    i64::try_from(amount).unwrap_or(i64::MAX)
}

fn from_sql(amount: i64) -> u64 {
    u64::try_from(amount).unwrap_or(0)
}
