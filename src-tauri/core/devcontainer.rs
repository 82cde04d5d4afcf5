//! A repository's dev container configuration (`devcontainer.json`, the Development Containers
//! specification): where a repository keeps it, and what it asks for in the terms SAM acts on
//! (`config`), with the container options SAM refuses to pass on (`run_args`).
//!
//! The file is JSON with comments and trailing commas ("JSONC", `jsonc`). SAM reads it for what
//! the desktop shows and decides (the picker, the summary before a build, the ports to forward);
//! building the container is the reference implementation's work.

pub mod config;
pub mod jsonc;
pub mod run_args;

pub use config::{DevContainer, LifecycleCommand, Source, forward_ports};

/// Where a repository keeps a dev container configuration, in the order looked at; besides
/// these, `.devcontainer/<folder>/devcontainer.json` (one level down) names one of several.
pub const CONFIG_PATHS: [&str; 2] = [".devcontainer/devcontainer.json", ".devcontainer.json"];

/// A configuration is read whole up to this size; a bigger one is not a configuration.
pub const MAX_CONFIG_BYTES: u64 = 256 * 1024;

/// The configurations among a repository's files: `root` lists the repository's top folder's
/// entries (`.devcontainer.json`, `.devcontainer`), `nested` the entries of `.devcontainer`
/// (files, and folders with a `/` at the end). Returned in the order a picker shows them: the
/// usual places first, then the named ones by name.
pub fn configs(root: &[String], nested: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    if nested.iter().any(|name| name == "devcontainer.json") {
        found.push(CONFIG_PATHS[0].to_owned());
    }
    if root.iter().any(|name| name == ".devcontainer.json") {
        found.push(CONFIG_PATHS[1].to_owned());
    }
    let mut named: Vec<&str> = nested
        .iter()
        .filter_map(|name| name.strip_suffix('/'))
        .filter(|name| !name.is_empty() && !name.starts_with('.'))
        .collect();
    named.sort_unstable();
    found.extend(
        named
            .into_iter()
            .map(|folder| format!(".devcontainer/{folder}/devcontainer.json")),
    );
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn configurations_are_found_in_the_usual_places_then_by_folder() {
        assert_eq!(
            configs(
                &names(&[".devcontainer", ".devcontainer.json", "src"]),
                &names(&[
                    "devcontainer.json",
                    "python/",
                    "go/",
                    ".cache/",
                    "Dockerfile"
                ])
            ),
            [
                ".devcontainer/devcontainer.json",
                ".devcontainer.json",
                ".devcontainer/go/devcontainer.json",
                ".devcontainer/python/devcontainer.json"
            ]
        );
        assert!(configs(&names(&["README.md"]), &[]).is_empty());
    }
}
