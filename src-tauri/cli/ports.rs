//! `sam ports` and `sam port-forward`: a workspace's listening ports, and forwarding them to
//! this computer's loopback.

use clap::Args;
use sam_core::Core;
use sam_core::error::SamError;
use sam_core::port_forward::{self, PortSpec};

use super::ssh::running;
use super::{find, print_json, print_text};

#[derive(Debug, Args)]
pub(super) struct PortsArgs {
    /// The workspace (name or id).
    workspace: String,
}

#[derive(Debug, Args)]
pub(super) struct PortForwardArgs {
    /// Fail when the workspace is stopped instead of starting it.
    #[arg(long)]
    no_start: bool,
    /// The workspace (name or id).
    workspace: String,
    /// What to forward: PORT (the same number here), or LOCAL:REMOTE; LOCAL 0 takes any free
    /// port. Repeat for several.
    #[arg(required = true, value_name = "[LOCAL:]REMOTE")]
    ports: Vec<PortSpec>,
}

/// `sam ports`: the TCP ports programs listen on in the workspace.
pub(super) async fn ports(core: &Core, args: &PortsArgs, json: bool) -> Result<(), SamError> {
    let workspace = find(core, &args.workspace)?;
    let client = core.workspaces().connect(&workspace).await?;
    let ports = client.list_ports().await.map_err(SamError::from)?;
    if json {
        print_json(&serde_json::json!({ "ports": ports }));
    } else if ports.is_empty() {
        print_text(&format!("Nothing listens in workspace {}.", workspace.name));
    } else {
        for port in &ports {
            print_text(&format!("{:>5}  {}", port.port, port.address));
        }
    }
    Ok(())
}

/// `sam port-forward`: listens here until interrupted, printing each forward as it starts
/// (one JSON object per line with `--json`), and each failed connection on standard error.
pub(super) async fn port_forward(
    core: &Core,
    args: PortForwardArgs,
    json: bool,
) -> Result<(), SamError> {
    let workspace = find(core, &args.workspace)?;
    let workspace = running(core, workspace, args.no_start).await?;
    let client = core.workspaces().connect(&workspace).await?;
    let mut listening = Vec::new();
    for spec in args.ports {
        let forward = port_forward::listen(client.clone(), spec, |why| {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("{why}");
            }
        })
        .await?;
        if json {
            print_json(&serde_json::json!({
                "local": forward.local.port(),
                "remote": forward.remote,
                "url": format!("http://{}", forward.local),
            }));
        } else {
            print_text(&format!(
                "Forwarding http://{} to port {} of workspace {}",
                forward.local, forward.remote, workspace.name
            ));
        }
        listening.push(forward);
    }
    if !json {
        print_text("Press Ctrl-C to stop.");
    }
    wait_for_stop().await;
    drop(listening);
    Ok(())
}

/// Ctrl-C or a polite kill.
#[cfg(not(unix))]
async fn wait_for_stop() {
    let _ = tokio::signal::ctrl_c().await;
}

/// Ctrl-C or a polite kill.
#[cfg(unix)]
async fn wait_for_stop() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
