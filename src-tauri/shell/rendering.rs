//! How the window draws. WebKitGTK composites pages through OpenGL where it can; on a machine
//! without a GPU that is Mesa's software OpenGL, and every frame of a long coding agent session
//! took about 120 ms here. Drawn without compositing, the same frames take 16 ms and the web
//! process holds half the memory (`docs/benchmarks.md`). So without a GPU (no render node under
//! `/dev/dri`), the window draws without compositing; `SAM_GPU=on` or `off` decides instead.

use std::path::Path;

/// Whether to draw without compositing: `gpu` is `SAM_GPU`, `render_node` whether the machine
/// has a GPU render node.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn without_compositing(gpu: Option<&str>, render_node: bool) -> bool {
    match gpu.map(str::trim) {
        Some("on") => false,
        Some("off") => true,
        _ => !render_node,
    }
}

/// Whether `dri` (normally `/dev/dri`) holds a render node (`renderD128`, …).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn has_render_node(dri: &Path) -> bool {
    std::fs::read_dir(dri).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|entry| entry.file_name().to_string_lossy().starts_with("renderD"))
    })
}

/// Sets how `window` draws. (Only WebKitGTK, on Linux, is set; the other systems' webviews
/// choose for themselves.)
#[cfg(not(target_os = "linux"))]
pub fn configure(_window: &tauri::WebviewWindow) {}

/// Sets how `window` draws.
#[cfg(target_os = "linux")]
pub fn configure(window: &tauri::WebviewWindow) {
    let gpu = std::env::var("SAM_GPU").ok();
    if !without_compositing(gpu.as_deref(), has_render_node(Path::new("/dev/dri"))) {
        return;
    }
    let set = window.with_webview(|webview| {
        use webkit2gtk::{HardwareAccelerationPolicy, SettingsExt, WebViewExt};
        if let Some(settings) = WebViewExt::settings(&webview.inner()) {
            settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
        }
    });
    match set {
        Ok(()) => tracing::info!("no GPU: the window draws without compositing"),
        Err(err) => tracing::warn!(%err, "the window's drawing could not be set"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compositing_is_off_without_a_gpu_unless_asked_for() {
        assert!(without_compositing(None, false));
        assert!(!without_compositing(None, true));
        assert!(!without_compositing(Some("on"), false));
        assert!(without_compositing(Some("off"), true));
        assert!(without_compositing(Some("maybe"), false));
    }

    #[test]
    fn a_render_node_is_a_renderd_entry() {
        let dir = tempfile::tempdir().expect("dir");
        assert!(!has_render_node(dir.path()));
        assert!(!has_render_node(&dir.path().join("missing")));
        std::fs::write(dir.path().join("card0"), "").expect("card");
        assert!(!has_render_node(dir.path()));
        std::fs::write(dir.path().join("renderD128"), "").expect("node");
        assert!(has_render_node(dir.path()));
    }
}
