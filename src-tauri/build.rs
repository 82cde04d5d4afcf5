//! Build script: the desktop shell's generated context (Tauri's configuration and capabilities).
//! The release facts the core embeds are `sam-core`'s own build script's.

fn main() {
    tauri_build::build()
}
