//! Terminal commands: tabs, attaching a view (frames and notices stream over a Tauri channel as
//! raw bytes), input, resize, selection, search, scrolling and links.
//!
//! Channel messages: the first byte says what follows — `0` an encoded frame
//! (`docs/terminal.md`), `1` a `TerminalNotice` as JSON.

use serde::Deserialize;
use tauri::State;
use tauri::ipc::{Channel, InvokeResponseBody, JavaScriptChannelId};

use super::AppState;
use sam_core::error::SamError;
use sam_core::terminal::{ScreenPoint, SearchDirection, SearchMatch, SelectionKind, Size, Theme};
use sam_core::terminals::{Sink, TerminalMessage, TerminalTab};
use sam_core::workspace::WorkspaceId;

/// Channel message tag: an encoded frame follows.
pub const FRAME_TAG: u8 = 0;
/// Channel message tag: a JSON notice follows.
pub const NOTICE_TAG: u8 = 1;

fn size(cols: u16, rows: u16) -> Result<Size, SamError> {
    if !(2..=1000).contains(&cols) || !(1..=500).contains(&rows) {
        return Err(SamError::invalid_input(
            format!("A terminal of {cols}×{rows} cells is out of range."),
            "Use 2 to 1000 columns and 1 to 500 rows.",
        ));
    }
    Ok(Size { cols, rows })
}

/// A workspace's terminal tabs; when it has none, a new terminal of `cols`×`rows` is opened
/// first (once, however many views ask at the same time).
#[tauri::command]
#[specta::specta]
pub async fn terminal_list_or_open(
    state: State<'_, AppState>,
    workspace: String,
    cols: u16,
    rows: u16,
) -> Result<Vec<TerminalTab>, SamError> {
    let id: WorkspaceId = workspace.parse()?;
    let core = &state.core;
    core.terminals()
        .list_or_open(core.workspaces(), &id, size(cols, rows)?)
        .await
}

/// Opens a new terminal tab.
#[tauri::command]
#[specta::specta]
pub async fn terminal_open(
    state: State<'_, AppState>,
    workspace: String,
    cols: u16,
    rows: u16,
) -> Result<TerminalTab, SamError> {
    let id: WorkspaceId = workspace.parse()?;
    let core = &state.core;
    core.terminals()
        .open(core.workspaces(), &id, size(cols, rows)?, None)
        .await
}

/// Opens a read-only tab on a command a coding agent runs in the workspace (its terminal id
/// `sam-<stream>`), or finds the one open.
#[tauri::command]
#[specta::specta]
pub async fn terminal_show_command(
    state: State<'_, AppState>,
    workspace: String,
    stream: u32,
) -> Result<TerminalTab, SamError> {
    let id: WorkspaceId = workspace.parse()?;
    let core = &state.core;
    core.terminals()
        .show_command(core.workspaces(), &id, stream)
        .await
}

/// What a view sends to show a terminal.
#[derive(Deserialize, specta::Type)]
pub struct AttachTerminal {
    /// The workspace.
    pub workspace: String,
    /// The terminal (agent stream).
    pub stream: u32,
    /// The view's size in cells.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
    /// The window's appearance (colour queries are answered with its theme).
    pub dark: bool,
    /// Where frames and notices go.
    #[specta(type = String)]
    pub channel: JavaScriptChannelId,
}

impl std::fmt::Debug for AttachTerminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttachTerminal")
            .field("workspace", &self.workspace)
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

/// Shows a terminal in a view: its screen, then every change, over the request's channel.
#[tauri::command]
#[specta::specta]
pub async fn terminal_attach(
    state: State<'_, AppState>,
    webview: tauri::Webview<tauri::Wry>,
    request: AttachTerminal,
) -> Result<(), SamError> {
    let id: WorkspaceId = request.workspace.parse()?;
    let size = size(request.cols, request.rows)?;
    let channel: Channel<InvokeResponseBody> = request.channel.channel_on(webview);
    let sink: Sink = Box::new(move |message| {
        let bytes = match message {
            TerminalMessage::Frame(frame) => {
                let mut bytes = Vec::with_capacity(frame.len() + 1);
                bytes.push(FRAME_TAG);
                bytes.extend_from_slice(&frame);
                bytes
            }
            TerminalMessage::Notice(notice) => {
                let mut bytes = vec![NOTICE_TAG];
                // Our own notice type always serializes.
                bytes.extend(serde_json::to_vec(&notice).unwrap_or_default());
                bytes
            }
        };
        channel.send(InvokeResponseBody::Raw(bytes)).is_ok()
    });
    let theme = if request.dark {
        Theme::DARK
    } else {
        Theme::LIGHT
    };
    let core = &state.core;
    core.terminals()
        .attach(core.workspaces(), &id, request.stream, size, theme, sink)
        .await
}

/// Types into a terminal (keys and pastes, already encoded by the view).
#[tauri::command]
#[specta::specta]
pub fn terminal_input(
    state: State<'_, AppState>,
    workspace: String,
    stream: u32,
    data: String,
) -> Result<(), SamError> {
    let id: WorkspaceId = workspace.parse()?;
    state.core.terminals().input(&id, stream, data.as_bytes())
}

/// Resizes a terminal to its view.
#[tauri::command]
#[specta::specta]
pub async fn terminal_resize(
    state: State<'_, AppState>,
    workspace: String,
    stream: u32,
    cols: u16,
    rows: u16,
) -> Result<(), SamError> {
    let id: WorkspaceId = workspace.parse()?;
    state
        .core
        .terminals()
        .resize(&id, stream, size(cols, rows)?)
        .await
}

/// Stops showing a terminal; it keeps running.
#[tauri::command]
#[specta::specta]
pub fn terminal_detach(
    state: State<'_, AppState>,
    workspace: String,
    stream: u32,
) -> Result<(), SamError> {
    let id: WorkspaceId = workspace.parse()?;
    state.core.terminals().detach(&id, stream);
    Ok(())
}

/// Ends a terminal's program and removes its tab.
#[tauri::command]
#[specta::specta]
pub async fn terminal_close(
    state: State<'_, AppState>,
    workspace: String,
    stream: u32,
) -> Result<(), SamError> {
    let id: WorkspaceId = workspace.parse()?;
    let core = &state.core;
    core.terminals().close(core.workspaces(), &id, stream).await
}

/// Renames a tab.
#[tauri::command]
#[specta::specta]
pub fn terminal_rename(
    state: State<'_, AppState>,
    workspace: String,
    stream: u32,
    name: String,
) -> Result<(), SamError> {
    let id: WorkspaceId = workspace.parse()?;
    let core = &state.core;
    core.terminals().rename(core.store(), &id, stream, &name)
}

/// A change to the selection.
#[derive(Debug, Clone, Copy, Deserialize, specta::Type)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum SelectRequest {
    /// Start a selection at a cell.
    Start {
        /// How it grows.
        kind: SelectKind,
        /// Row on screen.
        row: u16,
        /// Column.
        col: u16,
    },
    /// Move its free end.
    Extend {
        /// Row on screen.
        row: u16,
        /// Column.
        col: u16,
    },
    /// Drop it.
    Clear,
    /// Leave it as it is (to read its text).
    Keep,
}

/// How a selection grows.
#[derive(Debug, Clone, Copy, Deserialize, specta::Type)]
#[serde(rename_all = "kebab-case")]
pub enum SelectKind {
    /// By character.
    Simple,
    /// A rectangle.
    Block,
    /// By word.
    Word,
    /// By line.
    Line,
}

/// Changes the selection; returns the selected text (for copying), if any.
#[tauri::command]
#[specta::specta]
pub fn terminal_select(
    state: State<'_, AppState>,
    workspace: String,
    stream: u32,
    request: SelectRequest,
) -> Result<Option<String>, SamError> {
    let id: WorkspaceId = workspace.parse()?;
    state.core.terminals().view(&id, stream, |engine| {
        match request {
            SelectRequest::Start { kind, row, col } => {
                let kind = match kind {
                    SelectKind::Simple => SelectionKind::Simple,
                    SelectKind::Block => SelectionKind::Block,
                    SelectKind::Word => SelectionKind::Word,
                    SelectKind::Line => SelectionKind::Line,
                };
                engine.select(kind, ScreenPoint { row, col });
            }
            SelectRequest::Extend { row, col } => engine.extend_selection(ScreenPoint { row, col }),
            SelectRequest::Clear => engine.clear_selection(),
            SelectRequest::Keep => {}
        }
        engine.selection_text()
    })
}

/// Finds the next match of `pattern` in the terminal and its scrollback.
#[tauri::command]
#[specta::specta]
pub fn terminal_search(
    state: State<'_, AppState>,
    workspace: String,
    stream: u32,
    pattern: String,
    backward: bool,
) -> Result<Option<SearchMatch>, SamError> {
    let id: WorkspaceId = workspace.parse()?;
    let direction = if backward {
        SearchDirection::Backward
    } else {
        SearchDirection::Forward
    };
    state
        .core
        .terminals()
        .view(&id, stream, |engine| engine.search(&pattern, direction))?
}

/// Scrolls the view `lines` up into history (negative: down); 0 follows the output again.
#[tauri::command]
#[specta::specta]
pub fn terminal_scroll(
    state: State<'_, AppState>,
    workspace: String,
    stream: u32,
    lines: i32,
) -> Result<(), SamError> {
    let id: WorkspaceId = workspace.parse()?;
    state.core.terminals().view(&id, stream, |engine| {
        if lines == 0 {
            engine.scroll_to_bottom();
        } else {
            engine.scroll(lines);
        }
    })
}
