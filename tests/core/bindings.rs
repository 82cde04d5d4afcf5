//! `ui/src/bindings.ts` must be exactly what the Rust definitions generate.

use sam_test_support::repo_root;

#[test]
fn bindings_are_up_to_date() {
    let checked_in = repo_root().join("ui/src/bindings.ts");
    let dir = tempfile::tempdir().expect("temp dir");
    let fresh_path = dir.path().join("bindings.ts");
    sam_desktop::ipc::export_bindings(&fresh_path).expect("bindings export");
    let fresh = std::fs::read_to_string(&fresh_path).expect("exported file");
    assert!(
        fresh.contains("listWorkspaces"),
        "the export lists the commands"
    );

    if std::env::var_os("SAM_UPDATE_BINDINGS").is_some_and(|v| v == "1") {
        std::fs::write(&checked_in, &fresh).expect("bindings written");
        return;
    }
    let current = std::fs::read_to_string(&checked_in).unwrap_or_default();
    assert!(
        current == fresh,
        "ui/src/bindings.ts is stale. Regenerate it with \
         `SAM_UPDATE_BINDINGS=1 cargo test --test core bindings` and commit the result."
    );
}
