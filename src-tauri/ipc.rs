//! The IPC layer: Tauri commands over the core, and the TypeScript bindings generated from them.
//!
//! Commands are thin: parse, call one core function (off the main thread), return the core's
//! [`SamError`](sam_core::error::SamError) unchanged. The UI's `src/bindings.ts` is generated
//! from the definitions here by [`export_bindings`]; a test fails when the checked-in file is
//! stale.

mod agent_rules;
pub mod agent_sessions;
mod agents;
mod commands;
mod desktop;
mod git;
pub mod github;
mod hetzner;
mod idle;
mod ports;
mod ssh;
mod terminal;

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use specta_typescript::Typescript;
use tauri_specta::{Builder, collect_commands, collect_events};

use sam_core::Core;

/// What every command can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The core, shared by all commands.
    pub core: Arc<Core>,
}

/// The command registry, shared by the app (for dispatch) and the bindings export.
pub fn builder() -> Builder<tauri::Wry> {
    Builder::<tauri::Wry>::new()
        .commands(collect_commands![
            commands::app_info,
            commands::list_workspaces,
            commands::create_workspace,
            commands::workspace_action,
            commands::get_workspace,
            commands::workspace_events,
            commands::workspace_machine,
            idle::workspace_idle,
            idle::workspace_set_idle_timeout,
            idle::workspace_keep_running,
            idle::do_not_disturb,
            idle::set_do_not_disturb,
            terminal::terminal_list_or_open,
            terminal::terminal_open,
            terminal::terminal_show_command,
            terminal::terminal_attach,
            terminal::terminal_input,
            terminal::terminal_resize,
            terminal::terminal_detach,
            terminal::terminal_close,
            terminal::terminal_rename,
            terminal::terminal_select,
            terminal::terminal_search,
            terminal::terminal_scroll,
            desktop::open_link,
            desktop::clipboard_write,
            desktop::clipboard_read,
            desktop::tray_status,
            agents::agents_catalog,
            agents::agents_add,
            agents::agents_remove,
            agents::agents_keyed,
            agents::agents_set_key,
            agents::agents_remove_key,
            agent_sessions::agent_sessions,
            agent_sessions::agent_activity,
            agent_sessions::agent_start,
            agent_sessions::agent_prompt,
            agent_sessions::agent_set_mode,
            agent_sessions::agent_set_config,
            agent_sessions::agent_files,
            agent_sessions::agent_answer,
            agent_sessions::agent_resume,
            agent_sessions::agent_cancel,
            agent_sessions::agent_pending,
            agent_sessions::agent_follow,
            agent_sessions::agent_unfollow,
            agent_rules::agent_rules,
            agent_rules::agent_rule_add,
            agent_rules::agent_rule_remove,
            agent_rules::agent_audit,
            git::git_token_hosts,
            git::git_set_token,
            git::git_remove_token,
            github::github_sign_in,
            github::github_sign_in_browser,
            github::github_status,
            github::github_sign_out,
            github::github_set_app,
            github::github_forget_app,
            github::github_repos,
            github::github_branches,
            github::take_startup_link,
            hetzner::hetzner_account,
            hetzner::hetzner_set_token,
            hetzner::hetzner_catalog,
            hetzner::hetzner_preferences,
            hetzner::hetzner_set_preferences,
            hetzner::hetzner_resources,
            hetzner::hetzner_last_resources,
            hetzner::hetzner_delete_resource,
            hetzner::spend,
            hetzner::hetzner_self_delete,
            hetzner::hetzner_set_self_delete,
            hetzner::hetzner_ssh_keys,
            hetzner::hetzner_add_ssh_key,
            hetzner::hetzner_remove_ssh_key,
            ports::ports_view,
            ports::ports_forward,
            ports::ports_unforward,
            ports::ports_dismiss,
            ssh::workspace_open_editor,
            ssh::ssh_config_status,
            ssh::ssh_config_set,
        ])
        .events(collect_events![
            WorkspacesChanged,
            OpenWorkspace,
            github::GitHubSignInCode,
            github::GitHubSignInEnded,
            github::OpenRepoLink,
            github::LinkProblem
        ])
        // The UI offers Retry only below the core's own cap.
        .constant("MAX_RETRIES", sam_core::lifecycle::MAX_RETRIES)
        .typ::<sam_core::error::ErrorCategory>()
        .typ::<sam_core::terminals::TerminalNotice>()
        // Our types serialize and deserialize alike; one TypeScript type each is enough.
        .disable_serde_phases()
        // Timestamps and sequence numbers are i64 but stay far below 2^53, where a JavaScript
        // number is exact.
        .dangerously_cast_bigints_to_number()
}

/// Something about the workspaces changed (in this process or another, such as the CLI): the
/// UI reloads what it shows.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct WorkspacesChanged;

/// The user asked (from a notification or the tray) to see a workspace: the window shows it.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct OpenWorkspace {
    /// The workspace.
    pub id: sam_core::workspace::WorkspaceId,
}

/// How often the change watcher looks at the database: one indexed query.
pub const CHANGE_POLL: std::time::Duration = std::time::Duration::from_millis(300);

/// Emits [`WorkspacesChanged`] whenever the store's change stamp or the reconciler's findings
/// move.
pub async fn watch_changes(app: tauri::AppHandle, core: Arc<Core>) {
    use tauri_specta::Event;
    tracing::info!("watching for workspace changes");
    let mut last = None;
    let mut tick = tokio::time::interval(CHANGE_POLL);
    loop {
        tick.tick().await;
        let stamp = (
            core.store().change_stamp().ok(),
            core.hetzner().report_generation(),
        );
        if Some(stamp) != last {
            last = Some(stamp);
            // Forwards follow their workspaces: listening while they run, closed when not.
            let forwards = Arc::clone(core.forwards());
            tokio::spawn(async move { forwards.reconcile().await });
            if let Err(err) = WorkspacesChanged.emit(&app) {
                tracing::warn!(%err, "telling the window about a change failed");
            }
            tracing::debug!(?stamp, "workspaces changed");
        }
    }
}

/// The header of the generated bindings file.
const BINDINGS_HEADER: &str = "// Generated from the Rust command and type definitions by \
`SAM_UPDATE_BINDINGS=1 cargo test --test core bindings`. Do not edit by hand.";

/// Writes the TypeScript bindings for every command and type to `path`.
pub fn export_bindings(path: &Path) -> Result<(), String> {
    builder()
        .export(Typescript::default().header(BINDINGS_HEADER), path)
        .map_err(|err| format!("exporting bindings to {}: {err}", path.display()))
}
