//! Versioned schema migrations.
//!
//! The schema version lives in SQLite's `user_version`. Each migration runs in its own
//! transaction together with the version bump, so a crash leaves the database at one version or
//! the next, never between. Migrations are append-only: never edit one that has shipped.

use rusqlite::Connection;

use super::StoreError;

/// One step of the schema's history.
#[derive(Debug)]
pub(crate) struct Migration {
    /// The `user_version` after this migration.
    pub version: u32,
    /// What it does, for logs.
    pub name: &'static str,
    /// The SQL it runs.
    pub sql: &'static str,
}

/// The schema's history, oldest first. Versions are 1, 2, 3, … without gaps.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "workspaces and their event log",
        sql: include_str!("migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "lifecycle: agent address and pin, operations with leases, settings",
        sql: include_str!("migrations/0002_lifecycle.sql"),
    },
    Migration {
        version: 3,
        name: "names of terminal tabs",
        sql: include_str!("migrations/0003_terminal_tabs.sql"),
    },
    Migration {
        version: 4,
        name: "a Hetzner workspace's chosen location and server type",
        sql: include_str!("migrations/0004_placement.sql"),
    },
    Migration {
        version: 5,
        name: "idle deadlines, warnings and snoozes",
        sql: include_str!("migrations/0005_idle.sql"),
    },
    Migration {
        version: 6,
        name: "billing history of cloud resources",
        sql: include_str!("migrations/0006_billing.sql"),
    },
    Migration {
        version: 7,
        name: "coding agents' sessions and their permission requests",
        sql: include_str!("migrations/0007_agent_sessions.sql"),
    },
    Migration {
        version: 8,
        name: "coding agents' transcripts and who follows their turns",
        sql: include_str!("migrations/0008_agent_transcripts.sql"),
    },
    Migration {
        version: 9,
        name: "mode changes for the follower of a coding agent's turn to hand over",
        sql: include_str!("migrations/0009_agent_mode_requests.sql"),
    },
    Migration {
        version: 10,
        name: "permission rules per workspace and the append-only audit log",
        sql: include_str!("migrations/0010_permission_rules_and_audit.sql"),
    },
    Migration {
        version: 11,
        name: "the SSH host key of each workspace's agent",
        sql: include_str!("migrations/0011_ssh_host_key.sql"),
    },
    Migration {
        version: 12,
        name: "port forwards chosen per workspace",
        sql: include_str!("migrations/0012_port_forwards.sql"),
    },
    Migration {
        version: 13,
        name: "which workspaces' declared ports were forwarded",
        sql: include_str!("migrations/0013_declared_ports.sql"),
    },
];

/// The version this build writes.
pub const LATEST_VERSION: u32 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// The schema version of an open database.
pub(crate) fn current_version(conn: &Connection) -> Result<u32, StoreError> {
    Ok(conn.pragma_query_value(None, "user_version", |row| row.get(0))?)
}

/// Brings the database to `target` (at most [`LATEST_VERSION`]). Refuses a database written by a
/// newer SAM rather than guessing at its meaning.
pub(crate) fn migrate_to(conn: &mut Connection, target: u32) -> Result<(), StoreError> {
    apply(conn, MIGRATIONS, target)
}

fn apply(conn: &mut Connection, history: &[Migration], target: u32) -> Result<(), StoreError> {
    let known = history.last().map_or(0, |m| m.version);
    for migration in history.iter().filter(|m| m.version <= target) {
        // The version is read under the write lock: the app and the CLI may open a new database
        // at the same moment, and only one of them may apply each migration.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let found = current_version(&tx)?;
        if found > known {
            return Err(StoreError::TooNew { found, known });
        }
        if migration.version <= found {
            continue;
        }
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "migrating database"
        );
        tx.execute_batch(migration.sql)?;
        tx.pragma_update(None, "user_version", migration.version)?;
        tx.commit()?;
    }
    // A database newer than this build is refused even when there was nothing to apply.
    let found = current_version(conn)?;
    if found > known {
        return Err(StoreError::TooNew { found, known });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sample rows written at a version, so upgrades are tested on data, not just on tables.
    /// Add an entry whenever a migration adds a table.
    const SEEDS: &[(u32, &str)] = &[
        (
            1,
            "INSERT INTO workspaces (id, name, repo_url, branch, provider, status, error_json, \
             created_at_ms, updated_at_ms) \
         VALUES ('aaaaaaaaaaaa', 'seed', 'https://example.com/r.git', NULL, 'local', 'running', \
             NULL, 1, 1); \
         INSERT INTO workspace_events (workspace_id, at_ms, step, level, message) \
         VALUES ('aaaaaaaaaaaa', 1, 'clone', 'info', 'cloned');",
        ),
        (
            2,
            "INSERT INTO operations (workspace_id, kind, state, step, created_at_ms, updated_at_ms) \
             VALUES ('aaaaaaaaaaaa', 'create', 'succeeded', 'clone', 1, 1); \
             INSERT INTO settings (key, value) VALUES ('installation_id', 'seed');",
        ),
        (
            3,
            "INSERT INTO terminal_tabs (workspace_id, stream, name, created_at_ms) \
             VALUES ('aaaaaaaaaaaa', 1, 'Terminal 1', 1);",
        ),
    ];

    /// Tables, columns, foreign keys and indexes, in a stable textual form. Compared instead of
    /// `sqlite_master.sql`, whose text differs between `CREATE` and `ALTER` for the same schema.
    fn schema_fingerprint(conn: &Connection) -> String {
        let mut out = String::new();
        let mut tables = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%' ORDER BY name",
            )
            .expect("prepare");
        let names: Vec<String> = tables
            .query_map([], |row| row.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        for table in names {
            for pragma in ["table_info", "foreign_key_list", "index_list"] {
                let mut stmt = conn
                    .prepare(&format!("SELECT * FROM pragma_{pragma}(?1)"))
                    .expect("prepare");
                let columns = stmt.column_count();
                let rows = stmt
                    .query_map([&table], |row| {
                        (0..columns)
                            .map(|i| {
                                row.get::<_, rusqlite::types::Value>(i)
                                    .map(|v| format!("{v:?}"))
                            })
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .expect("query");
                for row in rows {
                    out.push_str(&format!(
                        "{table} {pragma} {}\n",
                        row.expect("row").join(" ")
                    ));
                }
            }
        }
        out
    }

    fn table_rows(conn: &Connection, table: &str) -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
            row.get(0)
        })
        .expect("count")
    }

    #[test]
    fn versions_are_contiguous_from_one() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version as usize, index + 1, "{}", migration.name);
        }
    }

    #[test]
    fn an_empty_database_reaches_the_latest_version() {
        let mut conn = Connection::open_in_memory().expect("opens");
        migrate_to(&mut conn, LATEST_VERSION).expect("migrates");
        assert_eq!(current_version(&conn).expect("reads"), LATEST_VERSION);
        assert!(schema_fingerprint(&conn).contains("workspaces table_info"));
        // Migrating again is a no-op.
        migrate_to(&mut conn, LATEST_VERSION).expect("migrates again");
    }

    #[test]
    fn every_previous_version_upgrades_to_the_same_schema_keeping_its_rows() {
        let mut fresh = Connection::open_in_memory().expect("opens");
        migrate_to(&mut fresh, LATEST_VERSION).expect("migrates");
        let expected = schema_fingerprint(&fresh);

        for start in 1..=LATEST_VERSION {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("old.sqlite3");
            let mut conn = Connection::open(&path).expect("opens");
            conn.pragma_update(None, "foreign_keys", true)
                .expect("pragma");
            migrate_to(&mut conn, start).expect("migrates to the old version");
            for (_, seed) in SEEDS.iter().filter(|(version, _)| *version <= start) {
                conn.execute_batch(seed).expect("seeds");
            }
            let before = table_rows(&conn, "workspace_events");
            drop(conn);

            let mut conn = Connection::open(&path).expect("reopens");
            migrate_to(&mut conn, LATEST_VERSION).expect("upgrades");
            assert_eq!(current_version(&conn).expect("reads"), LATEST_VERSION);
            assert_eq!(
                schema_fingerprint(&conn),
                expected,
                "upgrade from version {start}"
            );
            assert_eq!(
                table_rows(&conn, "workspace_events"),
                before,
                "from version {start}"
            );
        }
    }

    #[test]
    fn a_database_from_a_newer_sam_is_refused() {
        let mut conn = Connection::open_in_memory().expect("opens");
        conn.pragma_update(None, "user_version", LATEST_VERSION + 1)
            .expect("pragma");
        assert!(matches!(
            migrate_to(&mut conn, LATEST_VERSION),
            Err(StoreError::TooNew { found, known }) if found == LATEST_VERSION + 1 && known == LATEST_VERSION
        ));
    }

    #[test]
    fn processes_opening_a_new_database_at_once_migrate_it_once() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().expect("dir");
            let path = dir.path().join("race.sqlite3");
            let openers: Vec<_> = (0..4)
                .map(|_| {
                    let path = path.clone();
                    std::thread::spawn(move || crate::store::Store::open(&path).map(|_| ()))
                })
                .collect();
            for opener in openers {
                opener
                    .join()
                    .expect("thread")
                    .expect("every opener succeeds");
            }
        }
    }

    #[test]
    fn a_failing_migration_leaves_the_previous_version_intact() {
        let history = [
            Migration {
                version: 1,
                name: "good",
                sql: "CREATE TABLE one (x INTEGER);",
            },
            Migration {
                version: 2,
                name: "fails half-way",
                sql: "CREATE TABLE two (x INTEGER); INSERT INTO missing_table VALUES (1);",
            },
        ];
        let mut conn = Connection::open_in_memory().expect("opens");
        assert!(matches!(
            apply(&mut conn, &history, 2),
            Err(StoreError::Sqlite(_))
        ));
        assert_eq!(current_version(&conn).expect("reads"), 1);
        let fingerprint = schema_fingerprint(&conn);
        assert!(fingerprint.contains("one table_info"));
        assert!(!fingerprint.contains("two table_info"), "{fingerprint}");
    }
}
