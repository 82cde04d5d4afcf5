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

use crate::workspace::EventLevel;

/// Where a repository keeps a dev container configuration, in the order looked at; besides
/// these, `.devcontainer/<folder>/devcontainer.json` (one level down) names one of several.
pub const CONFIG_PATHS: [&str; 2] = [".devcontainer/devcontainer.json", ".devcontainer.json"];

/// A configuration is read whole up to this size; a bigger one is not a configuration.
pub const MAX_CONFIG_BYTES: u64 = 256 * 1024;

/// What a workspace's log says the first time it runs with a configuration at `path` (holding
/// `text`): SAM does not build dev containers yet, so the workspace runs without it — or why SAM
/// would refuse it.
pub fn first_run_note(path: &str, text: &str) -> (EventLevel, String) {
    match DevContainer::parse(text) {
        Ok(config) => {
            let what = match (&config.name, &config.source) {
                (Some(name), _) => format!("\"{name}\""),
                (None, Source::Image(image)) => format!("image {image}"),
                (None, Source::Dockerfile { dockerfile, .. }) => format!("built from {dockerfile}"),
            };
            (
                EventLevel::Info,
                format!(
                    "{path}: a dev container configuration ({what}). SAM does not build dev \
                     containers yet, so this workspace runs without it (docs/devcontainers.md)."
                ),
            )
        }
        Err(why) => (
            EventLevel::Warn,
            format!("{path}: SAM would refuse this dev container configuration: {why}."),
        ),
    }
}

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
    fn the_first_run_says_the_configuration_is_not_built_or_why_it_is_refused() {
        let (level, note) = first_run_note(".devcontainer.json", r#"{"image": "debian:12"}"#);
        assert_eq!(level, EventLevel::Info);
        assert!(note.contains("(image debian:12)"), "{note}");
        assert!(note.contains("runs without it"), "{note}");
        let (level, note) = first_run_note("x", r#"{"image": "i", "runArgs": ["--privileged"]}"#);
        assert_eq!(level, EventLevel::Warn);
        assert!(
            note.contains("would refuse") && note.contains("--privileged"),
            "{note}"
        );
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
