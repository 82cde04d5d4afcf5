//! `sam devcontainer check [FOLDER]`: a repository's dev container configurations read as SAM
//! reads them — what each asks for, what SAM does not carry out, or why it is refused.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use sam_core::devcontainer::{self, DevContainer, Source};
use sam_core::error::SamError;
use serde::Serialize;

use super::output::{print_json, print_text};

#[derive(Debug, Subcommand)]
pub(super) enum DevcontainerCommand {
    /// Read a repository's dev container configurations as SAM does, and say what each asks
    /// for or why SAM refuses it. (SAM does not build dev containers yet: docs/devcontainers.md.)
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub(super) struct CheckArgs {
    /// The repository's folder.
    #[arg(default_value = ".")]
    folder: PathBuf,
}

/// One configuration: what SAM reads in it, or why it refuses it.
#[derive(Debug, Serialize)]
struct Checked {
    path: String,
    config: Option<DevContainer>,
    error: Option<String>,
}

/// Runs a `sam devcontainer` command.
pub(super) fn run(command: DevcontainerCommand, json: bool) -> Result<(), SamError> {
    match command {
        DevcontainerCommand::Check(args) => check(&args.folder, json),
    }
}

fn check(folder: &Path, json: bool) -> Result<(), SamError> {
    let root = entries(folder).map_err(|err| {
        SamError::invalid_input(
            format!("Cannot read the folder {}: {err}.", folder.display()),
            "Name a repository's folder: sam devcontainer check PATH.",
        )
    })?;
    let nested = entries(&folder.join(".devcontainer")).unwrap_or_default();
    let checked: Vec<Checked> = devcontainer::configs(&root, &nested)
        .into_iter()
        .map(|path| {
            let read = read(&folder.join(&path)).and_then(|text| DevContainer::parse(&text));
            let (config, error) = match read {
                Ok(config) => (Some(config), None),
                Err(why) => (None, Some(why)),
            };
            Checked {
                path,
                config,
                error,
            }
        })
        .collect();
    if json {
        print_json(&serde_json::json!({ "folder": folder, "configs": checked }));
    } else {
        for one in &checked {
            print_text(&describe(one));
        }
    }
    if checked.is_empty() {
        return Err(SamError::invalid_input(
            format!("{} has no dev container configuration.", folder.display()),
            "SAM looks for .devcontainer/devcontainer.json, .devcontainer.json and \
             .devcontainer/<folder>/devcontainer.json.",
        ));
    }
    let refused = checked.iter().filter(|one| one.error.is_some()).count();
    if refused > 0 {
        return Err(SamError::invalid_input(
            format!(
                "SAM refuses {refused} of the {} configurations.",
                checked.len()
            ),
            "Each says why above; docs/devcontainers.md lists what SAM reads and refuses.",
        ));
    }
    Ok(())
}

/// The names in `folder`, folders with a `/` at the end.
fn entries(folder: &Path) -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(folder)? {
        let entry = entry?;
        let mut name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            name.push('/');
        }
        names.push(name);
    }
    Ok(names)
}

fn read(path: &Path) -> Result<String, String> {
    let size = std::fs::metadata(path)
        .map_err(|err| err.to_string())?
        .len();
    if size > devcontainer::MAX_CONFIG_BYTES {
        return Err(format!(
            "it is {size} bytes; a configuration is at most {} bytes",
            devcontainer::MAX_CONFIG_BYTES
        ));
    }
    let bytes = std::fs::read(path).map_err(|err| err.to_string())?;
    String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_owned())
}

/// A configuration in a few lines.
fn describe(one: &Checked) -> String {
    let Some(config) = &one.config else {
        return format!(
            "{}: refused: {}",
            one.path,
            one.error.as_deref().unwrap_or("")
        );
    };
    let mut lines = vec![match &config.name {
        Some(name) => format!("{}: {name}", one.path),
        None => one.path.clone(),
    }];
    lines.push(match &config.source {
        Source::Image(image) => format!("  image: {image}"),
        Source::Dockerfile {
            dockerfile,
            context,
            ..
        } => format!("  built from {dockerfile} (context {context})"),
    });
    if !config.features.is_empty() {
        let ids: Vec<&str> = config.features.keys().map(String::as_str).collect();
        lines.push(format!("  features: {}", ids.join(", ")));
    }
    let lifecycle = &config.lifecycle;
    let commands: Vec<&str> = [
        (
            "initializeCommand (on this computer)",
            &lifecycle.initialize,
        ),
        ("onCreateCommand", &lifecycle.on_create),
        ("updateContentCommand", &lifecycle.update_content),
        ("postCreateCommand", &lifecycle.post_create),
        ("postStartCommand", &lifecycle.post_start),
        ("postAttachCommand", &lifecycle.post_attach),
    ]
    .into_iter()
    .filter(|(_, command)| command.is_some())
    .map(|(name, _)| name)
    .collect();
    if !commands.is_empty() {
        lines.push(format!("  runs: {}", commands.join(", ")));
    }
    if let Some(user) = &config.remote_user {
        lines.push(format!("  as user: {user}"));
    }
    if !config.forward_ports.is_empty() {
        let ports: Vec<String> = config.forward_ports.iter().map(u16::to_string).collect();
        lines.push(format!("  forwards ports: {}", ports.join(", ")));
    }
    if !config.unsupported.is_empty() {
        lines.push(format!(
            "  not carried out by SAM: {}",
            config.unsupported.join(", ")
        ));
    }
    lines.join("\n")
}
