//! The desktop shell: window, IPC wiring, notifications and start-up. Thin by design; the work
//! is in the core.

pub mod deep_link;
pub mod notify;
pub mod tray;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tauri::Manager;

use crate::ipc::{self, AppState};
use sam_core::Core;
use sam_core::clock::now_ms;
use sam_core::config::Config;
use sam_core::error::SamError;
use sam_core::logging;
use sam_core::paths::AppPaths;

/// How often running workspaces are checked for idleness: well inside the 5-minute warning.
const IDLE_TICK: Duration = Duration::from_secs(30);

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
    let commands = ipc::builder();
    let tray_state = Arc::new(tray::TrayState::default());
    let closing = Arc::clone(&tray_state);
    let closing_core = Arc::clone(&core);
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
            commands.mount_events(app);
            deep_link::install(app.handle(), Arc::clone(&core));
            tauri::async_runtime::spawn(ipc::watch_changes(
                app.handle().clone(),
                Arc::clone(&core),
            ));
            // What the user should hear about, as desktop notifications.
            let app_handle = app.handle().clone();
            let open: notify::Opener = Arc::new(move |id| open_workspace(&app_handle, id));
            tauri::async_runtime::spawn(notify::serve(Arc::clone(&core), Arc::clone(&open)));
            // The tray, or the reason there is none.
            tray::install(app.handle(), Arc::clone(&core), tray_state, open);
            // Idle workspaces: warned, then stopped (core::idle); GitHub tokens kept fresh.
            let idling = Arc::clone(&core);
            tauri::async_runtime::spawn(async move {
                let every = idling.config().hooks.idle_tick.unwrap_or(IDLE_TICK);
                let mut tick = tokio::time::interval(every);
                loop {
                    tick.tick().await;
                    if let Err(err) = idling.idle().tick(now_ms()).await {
                        tracing::warn!(error = %err, "the idle check failed");
                    }
                    // GitHub tokens renewed before they expire, and handed to workspaces.
                    if let Err(err) = idling.github().rotate_token(now_ms() / 1000).await {
                        tracing::warn!(error = %err, "renewing the GitHub token failed");
                    }
                }
            });
            // Resources SAM does not know, servers that vanished: at start, then periodically.
            let sweeping = Arc::clone(&core);
            tauri::async_runtime::spawn(async move {
                sweeping.workspaces().sweep_forever().await;
            });
            // Finish whatever an earlier process (a crashed app, a killed CLI) left half-done.
            let resuming = Arc::clone(&core);
            tauri::async_runtime::spawn(async move {
                match resuming.workspaces().resume_orphans().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(n, "resumed unfinished operations"),
                    Err(err) => {
                        tracing::warn!(error = %err, "resuming unfinished operations failed")
                    }
                }
            });
            Ok(())
        })
        .run(context)
        .map_err(|err| SamError::internal("The SAM window could not be started.", &err))?;
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
    const KEY: &str = "tray.close_explained";
    // Said once, when the user hears it: not under "do not disturb".
    if core.store().setting(KEY).ok().flatten().is_some()
        || core.store().do_not_disturb().unwrap_or(false)
    {
        return;
    }
    if let Err(err) = core.store().set_setting(KEY, "true") {
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
