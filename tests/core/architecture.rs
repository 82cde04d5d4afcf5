//! The core and the `sam` tool stay free of the GUI framework (DESIGN, "Shape"): the compiler
//! holds the boundary (`sam-core` cannot name a crate it does not depend on), and this test holds
//! the dependency lists, so the webview's libraries never creep in through a new dependency.

use std::process::Command;

use sam_test_support::repo_root;

/// Crates that mean the GUI framework or the webview's native libraries.
const GUI_CRATES: [&str; 5] = ["tauri", "wry", "webkit2gtk", "gtk", "tao"];

/// Every crate in `package`'s normal and build dependency tree, one name per entry.
fn dependency_names(package: &str) -> Vec<String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(repo_root())
        .args(["tree", "--locked", "--offline", "--edges", "normal,build"])
        .args(["--prefix", "none", "--format", "{p}", "--package", package])
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree -p {package} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

fn assert_free_of_gui(package: &str) {
    let names = dependency_names(package);
    assert!(
        names.iter().any(|name| name == "tokio"),
        "the tree of {package} looks empty or unreadable: {names:?}"
    );
    let offenders: Vec<&String> = names
        .iter()
        .filter(|name| {
            GUI_CRATES
                .iter()
                .any(|gui| *name == gui || name.starts_with(&format!("{gui}-")))
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "{package} must not depend on the GUI framework or the webview; found {offenders:?} \
         (see `cargo tree -p {package} -i <crate>` for the path)"
    );
}

#[test]
fn the_core_has_no_gui_framework_in_its_dependency_tree() {
    assert_free_of_gui("sam-core");
}

#[test]
fn the_sam_tool_builds_without_the_gui_framework() {
    assert_free_of_gui("sam-cli");
}
