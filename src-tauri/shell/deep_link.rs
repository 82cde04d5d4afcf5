//! `sam://` links reaching the app. The desktop starts `sam-desktop <link>`; when SAM already
//! runs, that second process hands its arguments over the D-Bus session bus to the running one
//! (the single-instance plugin, one instance per data folder) and exits. The deep-link plugin
//! turns the argument into an "open URL" event, which lands here: a sign-in callback finishes
//! the sign-in, an open link asks the window to prefill the create dialog, anything else is
//! explained in the window.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use tauri::{AppHandle, Manager};
use tauri_plugin_deep_link::DeepLinkExt;
use tauri_specta::Event;

use crate::ipc::github::{GitHubSignInEnded, LinkProblem, OpenRepoLink, StartupLink, StartupLinks};
use sam_core::Core;
use sam_core::deep_link::{self, Link};
use sam_core::error::{ErrorCategory, SamError};

/// The D-Bus name suffix that makes the single instance one per data folder (tests, and users
/// with several `SAM_DATA_DIR`s, run side by side). The hash only needs to agree between two
/// processes of the same binary.
pub fn instance_id(identifier: &str, data_dir: &std::path::Path) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    data_dir.hash(&mut hasher);
    format!("{identifier}.d{:016x}", hasher.finish())
}

/// Wires the deep-link plugin: links while running go to [`follow`]; the link the app started
/// with waits in [`StartupLinks`]; the `sam` scheme is registered with the desktop if it is not.
pub fn install(app: &AppHandle, core: Arc<Core>) {
    let handle = app.clone();
    let following = Arc::clone(&core);
    app.deep_link().on_open_url(move |event| {
        for url in event.urls() {
            follow(&handle, &following, url.as_str());
        }
    });
    let started_with = app
        .deep_link()
        .get_current()
        .ok()
        .flatten()
        .unwrap_or_default();
    for url in started_with {
        tracing::info!(link = %kind(url.as_str()), "SAM started with a sam:// link");
        let waiting = match deep_link::parse(url.as_str()) {
            Ok(Link::Open { repo, branch }) => {
                Some(StartupLink::Open(OpenRepoLink { repo, branch }))
            }
            // No sign-in of this process can be waiting for it.
            Ok(Link::SignIn { .. }) => Some(StartupLink::Problem(LinkProblem {
                error: SamError::new(
                    ErrorCategory::Credentials,
                    "This GitHub sign-in link reached SAM after SAM was closed, so the sign-in \
                     it answers is gone.",
                    "Start the sign-in again from Settings → Credentials, and keep SAM open \
                     until GitHub sends you back.",
                ),
            })),
            Err(error) => Some(StartupLink::Problem(LinkProblem { error })),
        };
        if let Some(link) = waiting {
            *app.state::<StartupLinks>()
                .0
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(link);
        }
    }
    // An installed package's desktop entry declares the scheme already; a user-level one would
    // shadow it and outlive the package.
    if packaged() {
        return;
    }
    let registering = app.clone();
    std::thread::spawn(move || {
        let deep_link = registering.deep_link();
        if !deep_link.is_registered("sam").unwrap_or(false)
            && let Err(err) = deep_link.register_all()
        {
            tracing::info!(%err, "could not register SAM as the handler of sam:// links");
        }
    });
}

/// Whether this is a copy installed by SAM's .deb or .rpm (in `/usr`), not one run from a build
/// folder or an AppImage.
fn packaged() -> bool {
    std::env::current_exe().is_ok_and(|exe| exe.starts_with("/usr/"))
}

/// What a link is for, without its parameters (a sign-in callback's carry secrets): for the log.
fn kind(link: &str) -> &str {
    link.split(['?', '#']).next().unwrap_or_default()
}

/// Acts on one link while the app runs.
pub fn follow(app: &AppHandle, core: &Arc<Core>, link: &str) {
    tracing::info!(link = %kind(link), "a sam:// link arrived");
    super::show_window(app);
    match deep_link::parse(link) {
        Ok(Link::SignIn { state, outcome }) => {
            let (app, tasks, core) = (app.clone(), core.tasks().clone(), Arc::clone(core));
            tasks.spawn("GitHub sign-in callback", async move {
                let ended = match core.github().callback(&state, outcome).await {
                    Ok(account) => GitHubSignInEnded {
                        account: Some(account),
                        error: None,
                    },
                    Err(error) => {
                        tracing::warn!(%error, "a GitHub sign-in link was not accepted");
                        GitHubSignInEnded {
                            account: None,
                            error: Some(error),
                        }
                    }
                };
                if let Err(err) = ended.emit(&app) {
                    tracing::warn!(%err, "telling the window about the sign-in failed");
                }
            });
        }
        Ok(Link::Open { repo, branch }) => {
            if let Err(err) = (OpenRepoLink { repo, branch }).emit(app) {
                tracing::warn!(%err, "asking the window to open a repository failed");
            }
        }
        Err(error) => {
            tracing::info!(%error, "a sam:// link was refused");
            if let Err(err) = (LinkProblem { error }).emit(app) {
                tracing::warn!(%err, "telling the window about a link failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_logged_without_their_parameters() {
        assert_eq!(
            kind("sam://oauth/callback?code=secret&state=x"),
            "sam://oauth/callback"
        );
        assert_eq!(kind("sam://open#frag"), "sam://open");
        assert_eq!(kind("sam://open"), "sam://open");
    }

    #[test]
    fn each_data_folder_has_its_own_instance_name() {
        let a = instance_id("dev.sam", std::path::Path::new("/home/a/.local/share/sam"));
        let b = instance_id("dev.sam", std::path::Path::new("/tmp/test/data"));
        assert_ne!(a, b);
        assert_eq!(
            a,
            instance_id("dev.sam", std::path::Path::new("/home/a/.local/share/sam"))
        );
        assert!(a.starts_with("dev.sam.d"));
    }
}
