//! The core never names the GUI framework, so it stays drivable headless (DESIGN, "Shape").

use std::path::Path;

use regex::Regex;
use sam_test_support::repo_root;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_core_never_names_tauri() {
    let src = repo_root().join("src-tauri");
    let mut files = vec![src.join("core.rs")];
    rust_files(&src.join("core"), &mut files);
    assert!(files.len() > 3, "found only {files:?}");

    let mention = Regex::new(r"\btauri").expect("valid regex");
    let offenders: Vec<String> = files
        .iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(file).expect("readable file");
            text.lines()
                .enumerate()
                .filter(|(_, line)| mention.is_match(line))
                .map(|(n, line)| format!("{}:{}: {}", file.display(), n + 1, line.trim()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "the core must not depend on the GUI framework; move these to src-tauri/ipc or shell:\n{}",
        offenders.join("\n")
    );
}
