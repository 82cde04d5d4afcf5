//! The tray: an icon whose colour says whether anything runs (grey: nothing, green: running,
//! amber: a workspace is about to stop for idleness, or a coding agent waits for an answer), a
//! title saying how many run and how many agents wait, and a menu with each waiting agent's
//! request (opening its workspace), each workspace — its status, idle warning and cost so far —
//! with Open and Stop, then "Open SAM" and "Quit SAM".
//!
//! It speaks StatusNotifierItem over D-Bus (Tauri's tray with `ksni`). Where the desktop has no
//! tray host (no `org.kde.StatusNotifierWatcher`), building it fails; the app then keeps its
//! window, closing the window quits as usual, and Settings says why ([`TrayStatus`]) — until a
//! host appears on the bus, when the tray is shown after all.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;
use tauri::AppHandle;
use tauri::image::Image;
use tauri::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::{TrayIcon, TrayIconBuilder};

use super::notify::{self, Opener};
use sam_core::Core;
use sam_core::clock::now_ms;
use sam_core::notice::NoticeAction;
use sam_core::provider::hetzner::spend::format_amount;
use sam_core::workspace::{WorkspaceId, WorkspaceStatus};

/// How often the tray looks for changes (one indexed query; the full read only on a change).
const REFRESH: Duration = Duration::from_secs(1);

/// Whether the tray is there, for Settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, specta::Type)]
pub struct TrayStatus {
    /// The tray icon is shown.
    pub available: bool,
    /// Why not, when it is not.
    pub problem: Option<String>,
}

/// The tray's state, shared with the window's close handler and Settings.
#[derive(Debug, Default)]
pub struct TrayState {
    status: Mutex<TrayStatus>,
    running: Mutex<usize>,
}

impl TrayState {
    /// Whether the tray is there, and why not.
    pub fn status(&self) -> TrayStatus {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether closing the window should leave the app in the tray: there is a tray and
    /// something runs.
    pub fn keeps_app(&self) -> bool {
        self.status().available && *self.running.lock().unwrap_or_else(PoisonError::into_inner) > 0
    }
}

/// What the tray shows.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Model {
    running: usize,
    warned: bool,
    title: String,
    /// Coding agents waiting for an answer: the workspace to open, and what waits.
    waiting: Vec<(WorkspaceId, String)>,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    id: WorkspaceId,
    name: String,
    label: String,
    running: bool,
}

/// Shows the tray and keeps it current. Without a tray host, says why in `state` (the window
/// stays) and waits for one to appear on the session bus (a panel that starts after SAM, as at
/// login), then shows the tray.
pub fn install(app: &AppHandle, core: Arc<Core>, state: Arc<TrayState>, open: Opener) {
    let err = match build(app, &core, &open) {
        Ok(tray) => return serve(app, core, state, tray),
        Err(err) => err,
    };
    let problem = format!(
        "This desktop shows no tray icons ({err}). SAM keeps its window; closing it quits \
         SAM, and the servers' own backstops still stop idle workspaces."
    );
    tracing::warn!(%problem, "no tray");
    *state.status.lock().unwrap_or_else(PoisonError::into_inner) = TrayStatus {
        available: false,
        problem: Some(problem),
    };
    let (app, tasks) = (app.clone(), core.tasks().clone());
    tasks.spawn("tray host watch", async move {
        if let Err(err) = host_appears().await {
            tracing::info!(%err, "cannot watch for a tray host");
            return;
        }
        match build(&app, &core, &open) {
            Ok(tray) => {
                tracing::info!("a tray host appeared: SAM is in the tray now");
                serve(&app, core, state, tray);
            }
            Err(err) => tracing::warn!(%err, "a tray host appeared but the tray failed"),
        }
    });
}

/// Returns once a tray host (`org.kde.StatusNotifierWatcher`) owns its name on the session bus.
async fn host_appears() -> zbus::Result<()> {
    use futures_util::StreamExt;
    const WATCHER: &str = "org.kde.StatusNotifierWatcher";
    let bus = zbus::Connection::session().await?;
    let dbus = zbus::fdo::DBusProxy::new(&bus).await?;
    // Listening first, then asking, so an owner that arrives in between is not missed.
    let mut changes = dbus
        .receive_name_owner_changed_with_args(&[(0, WATCHER)])
        .await?;
    if dbus
        .name_has_owner(zbus::names::BusName::try_from(WATCHER)?)
        .await?
    {
        return Ok(());
    }
    while let Some(change) = changes.next().await {
        if change.args()?.new_owner().is_some() {
            return Ok(());
        }
    }
    Err(zbus::Error::Failure("the session bus closed".to_owned()))
}

fn build(app: &AppHandle, core: &Arc<Core>, open: &Opener) -> tauri::Result<TrayIcon> {
    let (menu_core, open) = (Arc::clone(core), Arc::clone(open));
    TrayIconBuilder::with_id("sam")
        .icon(dot(Colour::Idle))
        .title("SAM")
        .tooltip("SAM")
        .on_menu_event(move |app, event| on_menu(app, &menu_core, &open, &event))
        .build(app)
}

/// Keeps the shown tray current.
fn serve(app: &AppHandle, core: Arc<Core>, state: Arc<TrayState>, tray: TrayIcon) {
    *state.status.lock().unwrap_or_else(PoisonError::into_inner) = TrayStatus {
        available: true,
        problem: None,
    };
    let (app, tasks) = (app.clone(), core.tasks().clone());
    tasks.spawn("tray", async move {
        let mut shown = None;
        let mut read = None;
        let mut tick = tokio::time::interval(REFRESH);
        loop {
            tick.tick().await;
            // One cheap query a tick; the whole state only when something changed, or a
            // minute on (costs so far and "stops in N min" move with the clock).
            let stamp = core.store().change_stamp().ok();
            let minute = now_ms() / 60_000;
            if read == Some((stamp, minute)) {
                continue;
            }
            read = Some((stamp, minute));
            let model = match model(&core, now_ms()) {
                Ok(model) => model,
                Err(err) => {
                    tracing::warn!(%err, "reading the state for the tray failed");
                    continue;
                }
            };
            if shown.as_ref() == Some(&model) {
                continue;
            }
            *state.running.lock().unwrap_or_else(PoisonError::into_inner) = model.running;
            if let Err(err) = show(&app, &tray, &model) {
                tracing::warn!(%err, "updating the tray failed");
                continue;
            }
            shown = Some(model);
        }
    });
}

/// Reads what the tray should show now.
fn model(core: &Core, now_ms: i64) -> Result<Model, sam_core::error::SamError> {
    let spend = core.hetzner().spend(now_ms)?;
    let currency = spend.currency.clone().unwrap_or_else(|| "EUR".to_owned());
    let mut entries = Vec::new();
    let mut running = 0;
    let mut warned = false;
    for workspace in core.store().workspaces()? {
        let is_running = workspace.status == WorkspaceStatus::Running;
        running += usize::from(is_running);
        let mut label = format!("{} — {}", workspace.name, workspace.status.as_str());
        if let Some(stop_at) = core.idle().view(&workspace.id, now_ms)?.stop_at_ms {
            warned = true;
            let minutes = u64::try_from(stop_at - now_ms)
                .unwrap_or(0)
                .div_ceil(60_000);
            label.push_str(&format!(", idle: stops in {minutes} min"));
        }
        if let Some(cost) = spend
            .workspaces
            .iter()
            .find(|w| w.workspace == workspace.id.as_str())
        {
            label.push_str(&format!(
                " · {} so far",
                format_amount(cost.so_far_centicents, &currency)
            ));
        }
        entries.push(Entry {
            id: workspace.id,
            name: workspace.name,
            label,
            running: is_running,
        });
    }
    let mut waiting = Vec::new();
    for request in core.store().waiting_permissions()? {
        let Some(entry) = entries
            .iter()
            .find(|e| e.id.as_str() == request.workspace_id)
        else {
            continue;
        };
        let name = &entry.name;
        let asks = request.request["toolCall"]["title"]
            .as_str()
            .unwrap_or("to act");
        waiting.push((
            entry.id.clone(),
            format!("{} in {name} waits: {asks}", request.agent),
        ));
    }
    let mut title = match running {
        0 => "SAM".to_owned(),
        n => format!("SAM — {n} running"),
    };
    match waiting.len() {
        0 => {}
        1 => title.push_str(" · 1 agent waits for you"),
        n => title.push_str(&format!(" · {n} agents wait for you")),
    }
    Ok(Model {
        running,
        warned: warned || !waiting.is_empty(),
        title,
        waiting,
        entries,
    })
}

/// Puts `model` on the tray.
fn show(app: &AppHandle, tray: &TrayIcon, model: &Model) -> tauri::Result<()> {
    let menu = Menu::new(app)?;
    for (number, (workspace, what)) in model.waiting.iter().enumerate() {
        menu.append(&MenuItem::with_id(
            app,
            format!("open:{workspace}:{number}"),
            what,
            true,
            None::<&str>,
        )?)?;
    }
    if !model.waiting.is_empty() {
        menu.append(&PredefinedMenuItem::separator(app)?)?;
    }
    for entry in &model.entries {
        let open = MenuItem::with_id(
            app,
            format!("open:{}", entry.id),
            "Open",
            true,
            None::<&str>,
        )?;
        let stop = MenuItem::with_id(
            app,
            format!("stop:{}", entry.id),
            "Stop",
            entry.running,
            None::<&str>,
        )?;
        menu.append(&Submenu::with_items(
            app,
            &entry.label,
            true,
            &[&open, &stop],
        )?)?;
    }
    if model.entries.is_empty() {
        menu.append(&MenuItem::with_id(
            app,
            "none",
            "No workspaces",
            false,
            None::<&str>,
        )?)?;
    }
    menu.append(&PredefinedMenuItem::separator(app)?)?;
    menu.append(&MenuItem::with_id(
        app,
        "open-app",
        "Open SAM",
        true,
        None::<&str>,
    )?)?;
    menu.append(&MenuItem::with_id(
        app,
        "quit",
        "Quit SAM",
        true,
        None::<&str>,
    )?)?;
    tray.set_menu(Some(menu))?;
    tray.set_title(Some(&model.title))?;
    tray.set_tooltip(Some(&model.title))?;
    let colour = match (model.warned, model.running) {
        (true, _) => Colour::Warned,
        (false, 0) => Colour::Idle,
        (false, _) => Colour::Running,
    };
    tray.set_icon(Some(dot(colour)))
}

fn on_menu(app: &AppHandle, core: &Arc<Core>, open: &Opener, event: &MenuEvent) {
    let id = event.id().as_ref();
    match id {
        "open-app" => super::show_window(app),
        "quit" => app.exit(0),
        _ => {
            let action = match id.split_once(':') {
                Some(("open", workspace)) => (NoticeAction::Open, workspace),
                Some(("stop", workspace)) => (NoticeAction::StopNow, workspace),
                _ => return,
            };
            // A waiting agent's item carries its place after the workspace.
            let workspace = action.1.split(':').next().unwrap_or_default();
            let Ok(workspace) = workspace.parse::<WorkspaceId>() else {
                return;
            };
            let (tasks, core, open) = (core.tasks().clone(), Arc::clone(core), Arc::clone(open));
            tasks.spawn("tray action", async move {
                notify::act(&core, &workspace, action.0, &open).await;
            });
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Colour {
    Idle,
    Running,
    Warned,
}

/// A 32×32 filled circle: the tray's icon.
fn dot(colour: Colour) -> Image<'static> {
    const SIZE: u32 = 32;
    let [r, g, b] = match colour {
        Colour::Idle => [0x94, 0xa3, 0xb8],
        Colour::Running => [0x22, 0xc5, 0x5e],
        Colour::Warned => [0xf5, 0x9e, 0x0b],
    };
    let centre = f64::from(SIZE) / 2.0;
    let mut rgba = Vec::with_capacity((SIZE * SIZE * 4) as usize);
    for y in 0..SIZE {
        for x in 0..SIZE {
            let distance = (f64::from(x) + 0.5 - centre).hypot(f64::from(y) + 0.5 - centre);
            // One pixel of soft edge.
            let alpha = ((centre - 2.0 - distance + 1.0).clamp(0.0, 1.0) * 255.0) as u8;
            rgba.extend_from_slice(&[r, g, b, alpha]);
        }
    }
    Image::new_owned(rgba, SIZE, SIZE)
}
