//! The desktop around the window: the OS clipboard and the browser.
//!
//! The clipboard goes through the app, not the webview's `navigator.clipboard`, which WebKitGTK
//! offers only in secure contexts and after a user gesture it cannot always see.

use tauri::{AppHandle, State};
use tauri_plugin_clipboard_manager::ClipboardExt;

use super::AppState;
use sam_core::error::{ErrorCategory, SamError};

/// Opens a web address (a terminal hyperlink) in the browser; anything but http(s) is refused.
#[tauri::command]
#[specta::specta]
pub async fn open_link(state: State<'_, AppState>, url: String) -> Result<(), SamError> {
    state.core.open_url(&url)
}

/// Puts `text` on the OS clipboard.
#[tauri::command]
#[specta::specta]
pub async fn clipboard_write(app: AppHandle, text: String) -> Result<(), SamError> {
    app.clipboard()
        .write_text(text)
        .map_err(|err| clipboard_error("write to", &err))
}

/// The OS clipboard's text (empty when it holds none).
#[tauri::command]
#[specta::specta]
pub async fn clipboard_read(app: AppHandle) -> Result<String, SamError> {
    // An empty clipboard, or one holding only an image, is not an error for a paste.
    Ok(app.clipboard().read_text().unwrap_or_default())
}

fn clipboard_error(what: &str, err: &dyn std::fmt::Display) -> SamError {
    SamError::new(
        ErrorCategory::Configuration,
        format!("SAM could not {what} the clipboard: {err}."),
        "Check that a clipboard is available on this desktop, then try again.",
    )
}

/// Whether the tray icon is shown, and why not.
#[tauri::command]
#[specta::specta]
pub async fn tray_status(
    tray: State<'_, std::sync::Arc<crate::shell::tray::TrayState>>,
) -> Result<crate::shell::tray::TrayStatus, SamError> {
    Ok(tray.status())
}
