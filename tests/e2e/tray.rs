//! The tray, checked over D-Bus the way a desktop's panel sees it: a fake status-notifier
//! watcher (the panel's side) is on the session bus before the app starts; the app registers
//! its item; its title says how many workspaces run, its menu lists each workspace with its
//! status and Open/Stop; closing the window (as a window manager does) hides it into the tray
//! and says so, "Open SAM" brings it back, and "Stop" from the menu stops the workspace. Without
//! a watcher (every other end-to-end test) the app keeps its window and Settings says why; a
//! watcher that appears later gets the app's item.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use zbus::object_server::SignalEmitter;
use zbus::zvariant::{OwnedValue, Value};

use crate::harness::{self, App, until};
use crate::x11::Display;
use crate::{nothing, source_repo};

const WATCHER: &str = "org.kde.StatusNotifierWatcher";

/// The panel's side of the StatusNotifierItem protocol: it records who registers.
#[derive(Debug, Default, Clone)]
struct Watcher {
    items: Arc<Mutex<Vec<String>>>,
}

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    async fn register_status_notifier_item(
        &self,
        service: String,
        #[zbus(header)] header: zbus::message::Header<'_>,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) {
        let sender = header.sender().map(ToString::to_string).unwrap_or_default();
        // An item names its bus name, or only its object path on the sender.
        let item = if service.starts_with('/') {
            format!("{sender}{service}")
        } else {
            service
        };
        self.items
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(item.clone());
        let _ = Self::status_notifier_item_registered(&emitter, &item).await;
    }

    fn register_status_notifier_host(&self, _service: String) {}

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        self.items
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }

    #[zbus(signal)]
    async fn status_notifier_item_registered(
        emitter: &SignalEmitter<'_>,
        service: &str,
    ) -> zbus::Result<()>;
}

/// Puts the fake watcher on the session bus (before the app starts).
fn start_watcher() -> (zbus::blocking::Connection, Watcher) {
    let watcher = Watcher::default();
    let connection = zbus::blocking::connection::Builder::session()
        .expect("session bus")
        .name(WATCHER)
        .expect("watcher name")
        .serve_at("/StatusNotifierWatcher", watcher.clone())
        .expect("watcher object")
        .build()
        .expect("watcher on the bus");
    (connection, watcher)
}

/// One menu entry as the panel sees it.
#[derive(Debug, Clone)]
struct Entry {
    id: i32,
    label: String,
    enabled: bool,
}

/// What the panel reads from the app's item.
#[derive(Debug)]
struct Seen {
    title: String,
    entries: Vec<Entry>,
}

async fn read_item(bus: &zbus::Connection, name: &str) -> Option<Seen> {
    let properties = zbus::fdo::PropertiesProxy::builder(bus)
        .destination(name.to_owned())
        .ok()?
        .path("/StatusNotifierItem")
        .ok()?
        .build()
        .await
        .ok()?;
    let interface =
        zbus::names::InterfaceName::from_static_str_unchecked("org.kde.StatusNotifierItem");
    let title = String::try_from(properties.get(interface.clone(), "Title").await.ok()?).ok()?;
    let menu =
        zbus::zvariant::OwnedObjectPath::try_from(properties.get(interface, "Menu").await.ok()?)
            .ok()?;
    let reply = bus
        .call_method(
            Some(name),
            menu.as_str(),
            Some("com.canonical.dbusmenu"),
            "GetLayout",
            &(0i32, -1i32, Vec::<&str>::new()),
        )
        .await
        .ok()?;
    type Layout = (u32, (i32, HashMap<String, OwnedValue>, Vec<OwnedValue>));
    let (_, (_, _, children)) = reply.body().deserialize::<Layout>().ok()?;
    let mut entries = Vec::new();
    for child in &children {
        collect(child, &mut entries);
    }
    Some(Seen { title, entries })
}

/// Flattens a dbusmenu layout node `(id, properties, children)` into `out`.
fn collect(node: &Value<'_>, out: &mut Vec<Entry>) {
    let node = match node {
        Value::Value(inner) => inner.as_ref(),
        other => other,
    };
    let Value::Structure(node) = node else {
        return;
    };
    let [
        Value::I32(id),
        Value::Dict(properties),
        Value::Array(children),
    ] = node.fields()
    else {
        return;
    };
    let properties: HashMap<String, OwnedValue> =
        HashMap::try_from(properties.try_clone().expect("clone")).unwrap_or_default();
    let text = |key: &str| {
        properties
            .get(key)
            .and_then(|v| String::try_from(v.try_clone().ok()?).ok())
    };
    out.push(Entry {
        id: *id,
        label: text("label").unwrap_or_default(),
        enabled: properties
            .get("enabled")
            .and_then(|v| bool::try_from(v.try_clone().ok()?).ok())
            .unwrap_or(true),
    });
    for child in children.iter() {
        collect(child, out);
    }
}

async fn click(bus: &zbus::Connection, name: &str, id: i32) {
    bus.call_method(
        Some(name),
        "/MenuBar",
        Some("com.canonical.dbusmenu"),
        "Event",
        &(id, "clicked", Value::from(0i32), 0u32),
    )
    .await
    .expect("menu click");
}

#[test]
fn the_tray_lists_workspaces_with_their_status_and_stops_one_from_its_menu() {
    harness::run_with(
        "tray",
        |paths| (start_watcher(), source_repo(paths)),
        async |app: &mut App, ((_connection, watcher), repo)| {
            let bus = zbus::Connection::session().await.expect("session bus");
            let item = until(
                "the app registers its tray item",
                async || {
                    watcher
                        .items
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .first()
                        .cloned()
                },
                Option::is_some,
            )
            .await
            .expect("an item");
            let name = item.split('/').next().expect("bus name").to_owned();
            let idle = until(
                "the tray shows its menu with nothing running",
                async || read_item(&bus, &name).await,
                // The icon exists before its first menu: wait for the menu too.
                |seen| {
                    seen.as_ref()
                        .is_some_and(|s| s.title == "SAM" && !s.entries.is_empty())
                },
            )
            .await
            .expect("seen");
            let labels: Vec<&str> = idle.entries.iter().map(|e| e.label.as_str()).collect();
            assert!(
                labels.contains(&"Open SAM") && labels.contains(&"Quit SAM"),
                "{labels:?}"
            );

            app.create_local_workspace(&repo).await;
            let workspace = app.text("workspace-name").await;
            let running = until(
                "the tray shows the running workspace",
                async || read_item(&bus, &name).await,
                |seen| {
                    seen.as_ref().is_some_and(|s| {
                        s.title == "SAM — 1 running"
                            && s.entries
                                .iter()
                                .any(|e| e.label.starts_with(&format!("{workspace} — running")))
                    })
                },
            )
            .await
            .expect("seen");
            // Its submenu: Open, and Stop (enabled while it runs).
            let at = running
                .entries
                .iter()
                .position(|e| e.label.starts_with(&workspace))
                .expect("the workspace's entry");
            let (open, stop) = (&running.entries[at + 1], &running.entries[at + 2]);
            assert_eq!((open.label.as_str(), stop.label.as_str()), ("Open", "Stop"));
            assert!(stop.enabled);

            // Closing the window while a workspace runs leaves SAM in the tray, and says so.
            let display = Display::open();
            assert!(display.shown("SAM"));
            display.request_close("SAM");
            until(
                "the window is hidden",
                async || display.shown("SAM"),
                |shown| !shown,
            )
            .await;
            until(
                "the app says it stays in the tray",
                async || {
                    std::fs::read_to_string(
                        std::path::Path::new(&std::env::var("SAM_DUNST_DIR").expect("dunst"))
                            .join("received"),
                    )
                    .unwrap_or_default()
                },
                |received| received.contains("SAM is still running in the tray"),
            )
            .await;
            assert!(
                read_item(&bus, &name).await.is_some(),
                "the tray is still there"
            );
            // "Open SAM" brings it back.
            let open_app = running
                .entries
                .iter()
                .find(|e| e.label == "Open SAM")
                .expect("Open SAM");
            click(&bus, &name, open_app.id).await;
            until(
                "the window is back",
                async || display.shown("SAM"),
                |shown| *shown,
            )
            .await;

            click(&bus, &name, stop.id).await;
            app.wait_css(
                "[data-testid='status'].status-stopped",
                std::time::Duration::from_secs(60),
            )
            .await;
            until(
                "the tray shows nothing running again",
                async || read_item(&bus, &name).await,
                |seen| {
                    seen.as_ref().is_some_and(|s| {
                        s.title == "SAM"
                            && s.entries
                                .iter()
                                .any(|e| e.label.starts_with(&format!("{workspace} — stopped")))
                    })
                },
            )
            .await;
            app.click("nav-hetzner").await;
            let status = app.text("tray-status").await;
            assert!(status.contains("lives in the tray"), "{status}");
        },
    );
}

#[test]
fn without_a_tray_host_the_app_keeps_its_window_says_why_and_takes_a_host_that_appears() {
    harness::run("no-tray", nothing, async |app| {
        app.click("nav-hetzner").await;
        let status = app.text("tray-status").await;
        assert!(status.contains("shows no tray icons"), "{status}");
        assert!(status.contains("closing it quits"), "{status}");

        // A panel starts after SAM (as at login): SAM's item registers with it.
        let (_connection, watcher) = start_watcher();
        until(
            "the app registers its tray item with the new host",
            async || {
                watcher
                    .items
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .len()
            },
            |items| *items == 1,
        )
        .await;
        app.click("nav-workspaces").await;
        app.click("nav-hetzner").await;
        let status = app.text("tray-status").await;
        assert!(status.contains("SAM lives in the tray"), "{status}");
    });
}
