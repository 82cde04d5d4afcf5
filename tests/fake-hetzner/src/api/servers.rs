//! `/servers`: create (with uniqueness, placement faults, volumes and firewalls), list, get,
//! delete, and the power actions. A server that powers on boots its agent.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::http::Method;
use axum::response::Response;
use serde_json::{Value, json};

use super::{Request, Shared, schedule, schedule_with, selector};
use crate::catalog;
use crate::http::{ApiError, answer, page};
use crate::machines::{self, Boot, Machine};
use crate::vm::{self, VmBoot};
use crate::world::{Power, Server, World, now};

/// Largest user_data Hetzner accepts.
pub const USER_DATA_LIMIT: usize = 32 * 1024;

pub fn route(
    shared: &Arc<Shared>,
    method: &Method,
    request: &Request<'_>,
) -> Result<Response, ApiError> {
    let id = request.segments.get(1).map(|text| {
        text.parse::<i64>()
            .map_err(|_| ApiError::invalid("id", format!("{text:?} is not an id")))
    });
    match (id, request.segments.get(2), request.segments.get(3), method) {
        (None, None, None, &Method::GET) => list(shared, request),
        (None, None, None, &Method::POST) => create(shared, &request.body),
        (Some(id), None, None, &Method::GET) => {
            let id = id?;
            let world = shared.world();
            let server = world
                .servers
                .get(&id)
                .ok_or_else(|| ApiError::not_found("server"))?;
            Ok(answer(200, &json!({"server": server.json(&world)})))
        }
        (Some(id), None, None, &Method::DELETE) => delete(shared, id?),
        (Some(id), Some(&"actions"), Some(action), &Method::POST) => power(shared, id?, action),
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn list(shared: &Arc<Shared>, request: &Request<'_>) -> Result<Response, ApiError> {
    let selector = selector(request)?;
    let name = request.query.get("name");
    let statuses = request.query.all("status");
    let world = shared.world();
    let items = world
        .servers
        .values()
        .filter(|s| selector.matches(&s.labels))
        .filter(|s| name.is_none_or(|n| n == s.name))
        .filter(|s| statuses.is_empty() || statuses.contains(&s.power.as_str()))
        .map(|s| s.json(&world))
        .collect();
    page(request.path, "servers", items, &request.query)
}

/// An RFC 1123 host name, as Hetzner requires of server names.
fn valid_hostname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// A string field, or an error naming it.
fn text<'a>(body: &'a Value, field: &str) -> Result<&'a str, ApiError> {
    body[field]
        .as_str()
        .ok_or_else(|| ApiError::invalid(field, "is missing or not a string"))
}

/// Resolves "ID or name" (numbers and numeric strings are ids).
fn id_or_name(value: &Value) -> Option<Result<i64, String>> {
    match value {
        Value::Number(n) => n.as_i64().map(Ok),
        Value::String(s) => Some(s.parse::<i64>().map_err(|_| s.clone())),
        _ => None,
    }
}

/// The labels of a request body.
pub fn labels(body: &Value) -> Result<BTreeMap<String, String>, ApiError> {
    let labels: BTreeMap<String, String> = match &body["labels"] {
        Value::Null => BTreeMap::new(),
        other => serde_json::from_value(other.clone())
            .map_err(|_| ApiError::invalid("labels", "must be an object of strings"))?,
    };
    crate::labels::check(&labels).map_err(|err| ApiError::invalid("labels", err))?;
    Ok(labels)
}

fn create(shared: &Arc<Shared>, body: &Value) -> Result<Response, ApiError> {
    let name = text(body, "name")?;
    if !valid_hostname(name) {
        return Err(ApiError::invalid(
            "name",
            "must be a valid hostname (RFC 1123)",
        ));
    }
    let types = catalog::server_types();
    let server_type = match id_or_name(&body["server_type"]) {
        Some(Ok(id)) => types.iter().find(|t| t.id == id),
        Some(Err(name)) => types.iter().find(|t| t.name == name),
        None => return Err(ApiError::invalid("server_type", "is required")),
    }
    .cloned()
    .ok_or_else(|| ApiError::invalid("server_type", "server type not found"))?;
    let locations = catalog::locations();
    let location = match id_or_name(&body["location"]) {
        Some(Ok(id)) => locations.iter().find(|l| l.id == id),
        Some(Err(name)) => locations.iter().find(|l| l.name == name),
        None => locations
            .iter()
            .find(|l| l.name == server_type.locations[0]),
    }
    .cloned()
    .ok_or_else(|| ApiError::invalid("location", "location not found"))?;
    if !server_type.locations.contains(&location.name) {
        return Err(ApiError::new(
            422,
            "invalid_input",
            format!(
                "server type {} is not offered in {}",
                server_type.name, location.name
            ),
        ));
    }
    let image = match id_or_name(&body["image"]) {
        Some(Ok(id)) => catalog::images().into_iter().find(|i| i.id == id),
        // One name per architecture: the server type's decides.
        Some(Err(name)) => catalog::images()
            .into_iter()
            .find(|i| i.name == name && i.architecture == server_type.architecture),
        None => return Err(ApiError::invalid("image", "is required")),
    }
    .ok_or_else(|| ApiError::invalid("image", "image not found"))?;
    if image.architecture != server_type.architecture {
        return Err(ApiError::invalid(
            "image",
            "image architecture does not match the server type",
        ));
    }
    let user_data = match &body["user_data"] {
        Value::Null => None,
        Value::String(text) if text.len() > USER_DATA_LIMIT => {
            return Err(ApiError::invalid(
                "user_data",
                "is too long (at most 32 KiB)",
            ));
        }
        Value::String(text) => Some(text.clone()),
        _ => return Err(ApiError::invalid("user_data", "must be a string")),
    };
    let labels = labels(body)?;
    let start = body["start_after_create"].as_bool().unwrap_or(true);
    let volume_ids: Vec<i64> =
        serde_json::from_value(body.get("volumes").cloned().unwrap_or(json!([])))
            .map_err(|_| ApiError::invalid("volumes", "must be a list of ids"))?;
    let firewall_ids: Vec<i64> = body["firewalls"]
        .as_array()
        .map(|list| list.iter().filter_map(|f| f["firewall"].as_i64()).collect())
        .unwrap_or_default();
    let ssh_keys = body["ssh_keys"].as_array().is_some_and(|k| !k.is_empty());

    let mut world = shared.world();
    if world.servers.values().any(|s| s.name == name) {
        return Err(ApiError::not_unique("name"));
    }
    if world.faults.is_unavailable(server_type.name, location.name) {
        return Err(ApiError::new(
            412,
            "resource_unavailable",
            "error during placement",
        ));
    }
    for id in &volume_ids {
        let volume = world
            .volumes
            .get(id)
            .ok_or_else(|| ApiError::invalid("volumes", format!("volume {id} not found")))?;
        if volume.location.name != location.name {
            return Err(ApiError::invalid(
                "volumes",
                format!("volume {id} is in another location"),
            ));
        }
        if volume.server.is_some() {
            return Err(ApiError::new(
                422,
                "volume_already_attached",
                format!("volume {id} is already attached"),
            ));
        }
    }
    for id in &firewall_ids {
        if !world.firewalls.contains_key(id) {
            return Err(ApiError::invalid(
                "firewalls",
                format!("firewall {id} not found"),
            ));
        }
    }
    let address = machines::reserve_address(shared.options.agent_port)
        .ok_or_else(|| ApiError::new(412, "resource_unavailable", "no loopback address left"))?;
    let id = world.id();
    let dir = shared.options.data_dir.join(format!("server-{id}"));
    std::fs::create_dir_all(&dir)
        .map_err(|err| ApiError::new(500, "server_error", err.to_string()))?;
    for volume in &volume_ids {
        if let Some(v) = world.volumes.get_mut(volume) {
            v.server = Some(id);
        }
    }
    for firewall in &firewall_ids {
        if let Some(f) = world.firewalls.get_mut(firewall) {
            f.servers.push(id);
        }
    }
    world.servers.insert(
        id,
        Server {
            id,
            name: name.to_owned(),
            power: Power::Initializing,
            created: now(),
            server_type,
            location,
            image,
            labels,
            volumes: volume_ids.clone(),
            address,
            user_data,
            machine: None,
            dir,
        },
    );
    let create = world.action("create_server", vec![(id, "server")]);
    let mut next = Vec::new();
    if start {
        next.push(world.action("start_server", vec![(id, "server")]));
    }
    for volume in &volume_ids {
        next.push(world.action("attach_volume", vec![(*volume, "volume"), (id, "server")]));
    }
    let server_json = world.servers[&id].json(&world);
    let body = json!({
        "server": server_json,
        "action": world.actions[&create].json(),
        "next_actions": next.iter().map(|a| world.actions[a].json()).collect::<Vec<_>>(),
        // Set only without SSH keys, and never used by SAM (cloud-init disables passwords).
        "root_password": if ssh_keys { Value::Null } else { json!(format!("fake-{id:x}-password")) },
    });
    drop(world);
    schedule_with(shared, create, &next, move |world, shared| {
        if let Some(server) = world.servers.get_mut(&id) {
            server.power = Power::Off;
        }
        if start {
            power_on(world, shared, id);
        }
    });
    Ok(answer(201, &body))
}

/// Powers a server on and boots its agent (unless faults say it never boots).
fn power_on(world: &mut World, shared: &Shared, id: i64) {
    let never_boot = world.faults.never_boot;
    let failed_boot_phase = world.faults.failed_boot_phase.clone();
    let disk = world
        .volumes
        .values()
        .find(|v| v.server == Some(id))
        .map(|v| v.dir.clone());
    let volume_dirs: BTreeMap<i64, PathBuf> = world
        .volumes
        .values()
        .filter(|v| v.server == Some(id))
        .map(|v| (v.id, v.dir.clone()))
        .collect();
    let Some(server) = world.servers.get_mut(&id) else {
        return;
    };
    server.power = Power::Running;
    if never_boot || server.machine.is_some() {
        return;
    }
    let _ = std::fs::remove_file(server.dir.join("poweroff-requested"));
    if let Some(options) = &shared.options.vm {
        let volumes = server
            .volumes
            .iter()
            .filter_map(|id| Some((*id, vm::volume_disk(&volume_dirs.get(id)?.clone()))))
            .collect();
        let boot = VmBoot {
            id,
            name: &server.name,
            ip: &server.address.ip,
            agent_port: shared.options.agent_port,
            dir: &server.dir,
            volumes,
            user_data: server.user_data.as_deref(),
            location: server.location.name,
        };
        match vm::boot(options, &boot) {
            Ok(machine) => server.machine = Some(machine),
            Err(err) => {
                let _ = std::fs::write(server.dir.join("boot-error"), err.to_string());
            }
        }
        return;
    }
    if let Some(user_data) = &server.user_data {
        let boot = Boot {
            agent_bin: &shared.options.agent_bin,
            ip: &server.address.ip,
            port: shared.options.agent_port,
            dir: &server.dir,
            disk: disk.as_deref(),
            failed_phase: failed_boot_phase.as_deref(),
        };
        match machines::boot(user_data, &boot) {
            Ok(machine) => server.machine = machine,
            Err(err) => {
                let _ = std::fs::write(server.dir.join("boot-error"), err.to_string());
            }
        }
    }
}

fn delete(shared: &Arc<Shared>, id: i64) -> Result<Response, ApiError> {
    let mut world = shared.world();
    let server = world
        .servers
        .get_mut(&id)
        .ok_or_else(|| ApiError::not_found("server"))?;
    server.power = Power::Deleting;
    server.machine = None;
    let action = world.action("delete_server", vec![(id, "server")]);
    let body = json!({"action": world.actions[&action].json()});
    drop(world);
    schedule(shared, action, move |world, _| {
        world.remove_server(id);
    });
    Ok(answer(200, &body))
}

fn power(shared: &Arc<Shared>, id: i64, action: &str) -> Result<Response, ApiError> {
    let mut world = shared.world();
    if !world.servers.contains_key(&id) {
        return Err(ApiError::not_found("server"));
    }
    if world.locked(id, "server") {
        return Err(ApiError::new(
            423,
            "locked",
            "server is locked by a running action",
        ));
    }
    let command = match action {
        "poweron" => "start_server",
        "poweroff" => "stop_server",
        "shutdown" => "shutdown_server",
        "reboot" => "reboot_server",
        _ => return Err(ApiError::not_found("action")),
    };
    let server = world
        .servers
        .get_mut(&id)
        .ok_or_else(|| ApiError::not_found("server"))?;
    let mut vm_acts = false;
    match action {
        "poweron" if server.power == Power::Off => server.power = Power::Starting,
        "poweroff" => {
            // Pulling the plug is immediate.
            server.power = Power::Off;
            server.machine = None;
        }
        // A virtual machine is asked (ACPI) and is off when its system has shut down.
        "shutdown" if server.power == Power::Running => {
            server.power = Power::Stopping;
            if server
                .machine
                .as_ref()
                .is_some_and(Machine::press_power_button)
            {
                vm_acts = true;
            }
        }
        "reboot" => {
            vm_acts = server.machine.as_ref().is_some_and(Machine::reset);
        }
        _ => {}
    }
    let started = world.action(command, vec![(id, "server")]);
    let body = json!({"action": world.actions[&started].json()});
    drop(world);
    let action = action.to_owned();
    schedule(shared, started, move |world, shared| {
        if vm_acts {
            // The machine does it by itself; `notice_machines` sees it off.
            return;
        }
        match action.as_str() {
            "poweron" => power_on(world, shared, id),
            "shutdown" => {
                if let Some(server) = world.servers.get_mut(&id) {
                    server.power = Power::Off;
                    server.machine = None;
                }
            }
            "reboot" => {
                if let Some(server) = world.servers.get_mut(&id) {
                    server.machine = None;
                }
                power_on(world, shared, id);
            }
            _ => {}
        }
    });
    Ok(answer(201, &body))
}

/// Servers whose machine stopped by itself (a virtual machine that powered off) or whose agent
/// ran its power-off backstop are off now.
pub fn notice_machines(shared: &Shared) {
    let mut world = shared.world();
    for server in world.servers.values_mut() {
        let stopped = server
            .machine
            .as_mut()
            .is_some_and(|m| m.powered_off() || machines::poweroff_requested(&server.dir));
        if stopped {
            server.machine = None;
            server.power = Power::Off;
        }
    }
}
