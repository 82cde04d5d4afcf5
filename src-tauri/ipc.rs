//! The IPC layer: Tauri commands over the core, and the TypeScript bindings generated from them.
//!
//! Commands are thin: parse, call one core function (off the main thread), return the core's
//! [`SamError`](crate::core::error::SamError) unchanged. The UI's `src/bindings.ts` is generated
//! from the definitions here by [`export_bindings`]; a test fails when the checked-in file is
//! stale.

mod commands;

use std::path::Path;
use std::sync::Arc;

use specta_typescript::Typescript;
use tauri_specta::{Builder, collect_commands};

use crate::core::Core;

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
            commands::list_workspaces
        ])
        .typ::<crate::core::error::ErrorCategory>()
        // Our types serialize and deserialize alike; one TypeScript type each is enough.
        .disable_serde_phases()
        // Timestamps and sequence numbers are i64 but stay far below 2^53, where a JavaScript
        // number is exact.
        .dangerously_cast_bigints_to_number()
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
