//! `sam open WORKSPACE --editor …`: the workspace's repository in an editor, over SSH.

use std::path::PathBuf;

use clap::Args;
use sam_core::Core;
use sam_core::editors::Editor;
use sam_core::error::SamError;
use sam_core::ssh_hosts;

use super::{find, print_json, print_text};

#[derive(Debug, Args)]
pub(super) struct OpenArgs {
    /// The workspace (name or id).
    workspace: String,
    /// The editor: vscode, cursor, jetbrains (Gateway) or zed.
    #[arg(long)]
    editor: Editor,
    /// The SSH config the editor reads (default: ~/.ssh/config); it must hold SAM's block
    /// (`sam ssh-config`).
    #[arg(long, value_name = "FILE")]
    ssh_config: Option<PathBuf>,
}

/// `sam open`: hands the editor's link to the desktop and prints it.
pub(super) fn open(core: &Core, args: &OpenArgs, json: bool) -> Result<(), SamError> {
    let workspace = find(core, &args.workspace)?;
    let ssh_config = match &args.ssh_config {
        Some(path) => path.clone(),
        None => ssh_hosts::user_ssh_config()?,
    };
    let url = core.open_in_editor(&workspace.id, args.editor, &ssh_config)?;
    if json {
        print_json(&serde_json::json!({ "editor": args.editor.name(), "url": url }));
    } else {
        print_text(&format!(
            "Opened {} in {}: {url}",
            workspace.name,
            args.editor.name()
        ));
    }
    Ok(())
}
