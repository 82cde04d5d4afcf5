//! The desktop shell: window, IPC wiring, notifications and start-up. Thin by design; the work
//! is in the core.

pub mod agent_notices;
pub mod deep_link;
pub mod notify;
mod rendering;
pub mod tray;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tauri::Manager;

use crate::ipc::{self, AppState};
use sam_core::Core;
use sam_core::config::Config;
use sam_core::error::SamError;
use sam_core::logging;
use sam_core::paths::AppPaths;
use sam_core::store::Setting;

/// How long the core's tasks get to end when the app exits.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Starts the app and runs until its last window closes.
pub fn run() -> ExitCode {
    match start() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            report_fatal(&err);
            ExitCode::FAILURE
        }
    }
}

fn start() -> Result<(), SamError> {
    let config = Config::from_env()?;
    let paths = AppPaths::for_config(&config)?;
    let _log_guard = logging::init(
        &paths.log_dir,
        "sam-desktop",
        cfg!(debug_assertions),
        config.log_filter.as_deref(),
    )?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "starting SAM Desktop");
    let core = Arc::new(Core::open(paths, config)?);
    // The core's tasks run on the app's runtime, also when spawned from the GUI thread.
    core.tasks()
        .use_runtime(tauri::async_runtime::handle().inner().clone());
    let commands = ipc::builder();
    let tray_state = Arc::new(tray::TrayState::default());
    let closing = Arc::clone(&tray_state);
    let closing_core = Arc::clone(&core);
    let exiting = Arc::clone(&core);
    let context = tauri::generate_context!();
    let instance = deep_link::instance_id(&context.config().identifier, &core.paths().data_dir);
    tauri::Builder::default()
        // First: a second launch (a `sam://` link, or the user starting SAM again) hands its
        // arguments to the running SAM of the same data folder and exits.
        .plugin(
            tauri_plugin_single_instance::Builder::new()
                .dbus_id(instance)
                .callback(move |app, argv, _cwd| {
                    tracing::info!(arguments = argv.len(), "SAM was started again");
                    if !argv.iter().skip(1).any(|arg| arg.starts_with("sam:")) {
                        show_window(app);
                    }
                })
                .build(),
        )
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_clipboard_manager::init())
        .manage(ipc::github::StartupLinks::default())
        .manage(ipc::agent_sessions::Followers::default())
        .invoke_handler(commands.invoke_handler())
        .manage(AppState {
            core: Arc::clone(&core),
        })
        .manage(Arc::clone(&tray_state))
        .on_window_event(move |window, event| {
            if let tauri::WindowEvent::CloseRequested { api, .. } = event
                && closing.keeps_app()
            {
                // Workspaces run: the app stays in the tray to warn about and stop idle ones.
                api.prevent_close();
                let _ = window.hide();
                explain_tray_once(&closing_core);
            }
        })
        .setup(move |app| {
            if let Some(window) = app.get_webview_window("main") {
                rendering::configure(&window);
            }
            commands.mount_events(app);
            deep_link::install(app.handle(), Arc::clone(&core));
            core.tasks().spawn(
                "change watcher",
                ipc::watch_changes(app.handle().clone(), Arc::clone(&core)),
            );
            core.tasks().spawn(
                "coding agents that need you",
                agent_notices::watch(app.handle().clone(), Arc::clone(&core)),
            );
            core.tasks().spawn(
                "coding agent turns left behind",
                ipc::agent_sessions::adopt_orphans(Arc::clone(&core)),
            );
            // What the user should hear about, as desktop notifications.
            let app_handle = app.handle().clone();
            let open: notify::Opener = Arc::new(move |id| open_workspace(&app_handle, id));
            core.tasks().spawn(
                "notifications",
                notify::serve(Arc::clone(&core), Arc::clone(&open)),
            );
            // The tray, or the reason there is none.
            tray::install(app.handle(), Arc::clone(&core), tray_state, open);
            // The idle check and token renewal, the Hetzner sweep, unfinished operations.
            core.start_background();
            Ok(())
        })
        .build(context)
        .map_err(|err| SamError::internal("The SAM window could not be started.", &err))?
        .run(move |_, event| {
            if let tauri::RunEvent::Exit = event {
                // Every task the core owns ends before the process does.
                tauri::async_runtime::block_on(exiting.shutdown(SHUTDOWN_GRACE));
            }
        });
    tracing::info!("SAM Desktop exited");
    Ok(())
}

/// Brings the window up (it may be hidden in the tray).
pub(crate) fn show_window(app: &tauri::AppHandle) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.show();
        let _ = window.unminimize();
        let _ = window.set_focus();
    }
}

/// The first time the window closes into the tray, says where SAM went.
fn explain_tray_once(core: &Core) {
    const EXPLAINED: Setting<bool> = Setting::new("tray.close_explained");
    // Said once, when the user hears it: not under "do not disturb".
    if core.store().get(&EXPLAINED).ok().flatten().is_some()
        || core.store().do_not_disturb().unwrap_or(false)
    {
        return;
    }
    if let Err(err) = core.store().put(&EXPLAINED, &true) {
        tracing::warn!(%err, "remembering the tray explanation failed");
    }
    notify::tell(
        "SAM is still running in the tray",
        "Workspaces are running, so SAM stays in the tray to warn about and stop idle ones. Open \
         it or quit it from the tray icon.",
    );
}

/// Brings the window up on workspace `id` (a notification or the tray asked for it).
fn open_workspace(app: &tauri::AppHandle, id: sam_core::workspace::WorkspaceId) {
    use tauri_specta::Event;
    show_window(app);
    if let Err(err) = (ipc::OpenWorkspace { id }).emit(app) {
        tracing::warn!(%err, "asking the window to open a workspace failed");
    }
}

/// Start-up failed before there is a window to show it in: say so on standard error.
#[allow(clippy::print_stderr)]
fn report_fatal(err: &SamError) {
    eprintln!("sam-desktop: {}\n{}", err.message, err.next_step);
    if let Some(log_ref) = &err.log_ref {
        eprintln!("(log reference {log_ref})");
    }
}
