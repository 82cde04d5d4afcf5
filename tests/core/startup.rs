//! Opening the core, and starting the real binary against bad data folders.

use std::process::Command;

use sam_core::Core;
use sam_core::error::ErrorCategory;
use sam_core::paths::AppPaths;
use sam_core::store::LATEST_VERSION;
use sam_test_support::binary;

#[test]
fn a_fresh_data_folder_gets_a_migrated_wal_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let paths = AppPaths::under(dir.path().join("nested/data"));
    let core = Core::open(paths.clone(), sam_core::config::Config::default()).expect("opens");
    let info = core.app_info().expect("info");
    assert_eq!(info.schema_version, LATEST_VERSION);
    assert!(core.list_workspaces().expect("lists").is_empty());
    drop(core);
    // Only this user may enter it (Local workspaces, their credential sockets, the logs).
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&paths.data_dir)
            .expect("folder")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o700);

    let conn = rusqlite::Connection::open(paths.database()).expect("database file exists");
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("pragma");
    assert_eq!(mode, "wal");
}

#[test]
fn a_database_from_a_newer_sam_is_a_configuration_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let paths = AppPaths::under(dir.path());
    std::fs::create_dir_all(&paths.data_dir).expect("dir");
    let conn = rusqlite::Connection::open(paths.database()).expect("creates");
    conn.pragma_update(None, "user_version", LATEST_VERSION + 7)
        .expect("pragma");
    drop(conn);

    let err = Core::open(paths, sam_core::config::Config::default()).expect_err("refused");
    assert_eq!(err.category, ErrorCategory::Configuration);
    assert!(
        err.message.contains("newer version of SAM"),
        "{}",
        err.message
    );
}

#[test]
fn the_app_refuses_an_unusable_data_folder_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let not_a_folder = dir.path().join("file");
    std::fs::write(&not_a_folder, "").expect("file");

    let output = Command::new(binary("sam-desktop"))
        .env("SAM_DATA_DIR", not_a_folder.join("data"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.starts_with("sam-desktop: SAM cannot write its log files"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn an_empty_data_dir_variable_is_refused() {
    let output = Command::new(binary("sam-desktop"))
        .env("SAM_DATA_DIR", "")
        .env_remove("DISPLAY")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("SAM_DATA_DIR is set but empty"), "{stderr}");
}
