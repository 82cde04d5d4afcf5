//! Desktop notifications for the core's notices (freedesktop notifications through
//! `notify-rust`): the idle warning with "Keep running 1 h" and "Stop now", and the news a user
//! wants with the window closed. Clicking one opens its workspace; "do not disturb" silences
//! them all.

use std::collections::HashMap;
#[cfg(all(unix, not(target_os = "macos")))]
use std::sync::PoisonError;
#[cfg(all(unix, not(target_os = "macos")))]
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify_rust::Notification;
#[cfg(all(unix, not(target_os = "macos")))]
use notify_rust::{Timeout, Urgency};
use tokio::sync::broadcast::error::RecvError;

use sam_core::Core;
use sam_core::clock::now_ms;
use sam_core::coding_agents::sessions;
use sam_core::notice::{Notice, NoticeAction};
use sam_core::store::OperationKind;
use sam_core::workspace::WorkspaceId;

/// How long "Keep running" keeps a workspace.
pub const KEEP_RUNNING: Duration = Duration::from_secs(60 * 60);

/// What opens a workspace in the window.
pub type Opener = Arc<dyn Fn(WorkspaceId) + Send + Sync>;

/// The notification on screen for each slot ([`Notice::slot`]: a workspace, or one of its coding
/// agents' requests), and which showing of it is current: a newer notice for the same slot
/// replaces it rather than piling up (a second idle warning, the
/// stop after it). A replaced notification keeps its id, so the waiter for the replaced showing
/// hears the answer too and must leave it to the current one.
type OnScreen = Arc<Mutex<HashMap<String, (u32, u64)>>>;

/// Numbers each showing.
#[cfg(all(unix, not(target_os = "macos")))]
static SHOWINGS: AtomicU64 = AtomicU64::new(0);

/// Shows every notice published from now on until the core goes away.
pub async fn serve(core: Arc<Core>, open: Opener) {
    let mut notices = core.notices().subscribe();
    let on_screen = OnScreen::default();
    loop {
        match notices.recv().await {
            Ok(notice) => deliver(&core, notice, &open, &on_screen),
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "notifications fell behind; some were not shown");
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// Shows `notice` (unless the user asked not to be disturbed) and carries out what the user
/// picks from it.
fn deliver(core: &Arc<Core>, notice: Notice, open: &Opener, on_screen: &OnScreen) {
    match core.store().do_not_disturb() {
        Ok(false) => {}
        Ok(true) => {
            tracing::info!(?notice, "not shown: do not disturb");
            return;
        }
        Err(err) => tracing::warn!(%err, "reading the do-not-disturb setting failed"),
    }
    let core = Arc::clone(core);
    let open = Arc::clone(open);
    let on_screen = Arc::clone(on_screen);
    let tasks = core.tasks().clone();
    tasks.spawn("notification", async move {
        let shown_notice = notice.clone();
        // Showing is a D-Bus call and waiting for the answer blocks until the user acts or the
        // notification closes: both off the async workers.
        let shown =
            tauri::async_runtime::spawn_blocking(move || show(&shown_notice, &on_screen)).await;
        match shown {
            Ok(Ok(Some(action))) => answer(&core, &notice, action, &open).await,
            Ok(Ok(None)) => {}
            Ok(Err(err)) => tracing::warn!(%err, "showing a desktop notification failed"),
            Err(err) => tracing::warn!(%err, "the notification task failed"),
        }
    });
}

/// Shows `notice`. Notifications here carry no actions SAM can wait for (they are the
/// freedesktop protocol's): the notice shows, and the window is where it is answered.
#[cfg(not(all(unix, not(target_os = "macos"))))]
fn show(
    notice: &Notice,
    _on_screen: &OnScreen,
) -> Result<Option<NoticeAction>, notify_rust::error::Error> {
    Notification::new()
        .appname("SAM")
        .summary(&notice.summary())
        .body(&notice.body(now_ms()))
        .show()?;
    Ok(None)
}

/// Shows `notice` and waits for the user's answer; `None` when it was dismissed or expired.
#[cfg(all(unix, not(target_os = "macos")))]
fn show(
    notice: &Notice,
    on_screen: &OnScreen,
) -> Result<Option<NoticeAction>, notify_rust::error::Error> {
    let lock = || on_screen.lock().unwrap_or_else(PoisonError::into_inner);
    let slot = notice.slot();
    let mut notification = Notification::new();
    if let Some((previous, _)) = lock().get(&slot) {
        notification.id(*previous);
    }
    notification
        .appname("SAM")
        .summary(&notice.summary())
        .body(&notice.body(now_ms()))
        .action(NoticeAction::Open.key(), NoticeAction::Open.label());
    for action in notice.actions() {
        notification.action(action.key(), &notice.action_label(*action));
    }
    if let Notice::IdleWarning { stop_at_ms, .. } = notice {
        // It stays until answered, or until the stop it announces makes it moot.
        let left = u32::try_from((stop_at_ms - now_ms()).max(1000)).unwrap_or(u32::MAX);
        notification
            .urgency(Urgency::Critical)
            .timeout(Timeout::Milliseconds(left));
    }
    let handle = notification.show()?;
    let shown_as = (handle.id(), SHOWINGS.fetch_add(1, Ordering::Relaxed));
    lock().insert(slot.clone(), shown_as);
    let mut chosen = None;
    handle.wait_for_action(|key| chosen = NoticeAction::from_key(key));
    // Replaced: the current showing answers. (The entry stays: a server that keeps answered
    // notifications on screen gets the next one about this workspace in the same place.)
    let current = lock().get(&slot) == Some(&shown_as);
    Ok(chosen.filter(|_| current))
}

/// Shows a one-off message that needs no answer. It does not consult "do not disturb": the
/// caller does (the one caller, the tray explanation, waits until it is off).
pub fn tell(summary: &str, body: &str) {
    let (summary, body) = (summary.to_owned(), body.to_owned());
    tauri::async_runtime::spawn_blocking(move || {
        if let Err(err) = Notification::new()
            .appname("SAM")
            .summary(&summary)
            .body(&body)
            .show()
        {
            tracing::warn!(%err, "showing a desktop notification failed");
        }
    });
}

/// Carries out what the user picked from `notice`: a coding agent's option goes to its
/// permission request, anything else to the workspace.
async fn answer(core: &Core, notice: &Notice, action: NoticeAction, open: &Opener) {
    let option = match (notice, action) {
        (Notice::AgentWaiting { allow: Some(o), .. }, NoticeAction::Allow)
        | (Notice::AgentWaiting { deny: Some(o), .. }, NoticeAction::Deny) => &o.0,
        _ => return act(core, notice.workspace(), action, open).await,
    };
    let Notice::AgentWaiting { request, .. } = notice else {
        return;
    };
    if let Err(err) = sessions::answer(core, *request, option, "notification") {
        tracing::warn!(request, %err, "answering from the notification failed");
        tell("The answer was not given", &err.message);
    }
}

/// Carries out `action` on workspace `id` (from a notification or the tray).
pub async fn act(core: &Core, id: &WorkspaceId, action: NoticeAction, open: &Opener) {
    let lifecycle = core.workspaces();
    match action {
        NoticeAction::Open => open(id.clone()),
        NoticeAction::KeepRunning => {
            if let Err(err) = core.idle().keep_running(id, KEEP_RUNNING, now_ms()).await {
                tracing::warn!(workspace = %id, %err, "keeping the workspace running failed");
            }
        }
        // A coding agent's options are answered with their notice (above).
        NoticeAction::Allow | NoticeAction::Deny => open(id.clone()),
        NoticeAction::StopNow => {
            core.terminals().forget(id);
            match lifecycle.begin(id, OperationKind::Stop) {
                // Its outcome is recorded on the workspace like any stop's.
                Ok(operation) => drop(lifecycle.run(operation).await),
                Err(err) => tracing::warn!(workspace = %id, %err, "stopping failed"),
            }
        }
    }
}
