//! `/volumes` (create in a location or next to a server, attach, detach, delete when detached)
//! and `/firewalls` (create, apply at creation, delete only when applied nowhere).

use std::sync::Arc;

use axum::http::Method;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::servers::labels;
use super::{Request, Shared, schedule, selector};
use crate::catalog;
use crate::http::{ApiError, answer, page};
use crate::world::{Firewall, Volume, now};

fn id_of(request: &Request<'_>) -> Option<Result<i64, ApiError>> {
    request.segments.get(1).map(|text| {
        text.parse::<i64>()
            .map_err(|_| ApiError::invalid("id", format!("{text:?} is not an id")))
    })
}

fn no_content() -> Response {
    axum::http::StatusCode::NO_CONTENT.into_response()
}

/// The request's `name`, checked.
fn resource_name(body: &Value) -> Result<&str, ApiError> {
    let name = body["name"]
        .as_str()
        .ok_or_else(|| ApiError::invalid("name", "is required"))?;
    if valid_name(name) {
        Ok(name)
    } else {
        Err(ApiError::invalid(
            "name",
            "must be 1-64 characters: letters, digits and -_.",
        ))
    }
}

/// A resource name: alphanumeric at both ends, `-_.` inside, at most 64 characters.
fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

pub fn volumes(
    shared: &Arc<Shared>,
    method: &Method,
    request: &Request<'_>,
) -> Result<Response, ApiError> {
    match (
        id_of(request),
        request.segments.get(2),
        request.segments.get(3),
        method,
    ) {
        (None, None, None, &Method::GET) => {
            let selector = selector(request)?;
            let name = request.query.get("name");
            let world = shared.world();
            let items = world
                .volumes
                .values()
                .filter(|v| selector.matches(&v.labels) && name.is_none_or(|n| n == v.name))
                .map(Volume::json)
                .collect();
            page(request.path, "volumes", items, &request.query)
        }
        (None, None, None, &Method::POST) => create_volume(shared, &request.body),
        (Some(id), None, None, &Method::GET) => {
            let id = id?;
            let world = shared.world();
            let volume = world
                .volumes
                .get(&id)
                .ok_or_else(|| ApiError::not_found("volume"))?;
            Ok(answer(200, &json!({"volume": volume.json()})))
        }
        (Some(id), None, None, &Method::DELETE) => {
            let id = id?;
            let mut world = shared.world();
            let volume = world
                .volumes
                .get(&id)
                .ok_or_else(|| ApiError::not_found("volume"))?;
            if volume.server.is_some() {
                return Err(ApiError::new(
                    422,
                    "volume_already_attached",
                    "volume is attached; detach it first",
                ));
            }
            if let Some(volume) = world.volumes.remove(&id) {
                let _ = std::fs::remove_dir_all(&volume.dir);
            }
            Ok(no_content())
        }
        (Some(id), Some(&"actions"), Some(&"attach"), &Method::POST) => {
            attach(shared, id?, &request.body)
        }
        (Some(id), Some(&"actions"), Some(&"detach"), &Method::POST) => {
            let id = id?;
            let mut world = shared.world();
            let volume = world
                .volumes
                .get(&id)
                .ok_or_else(|| ApiError::not_found("volume"))?;
            let server = volume.server;
            let action = world.action("detach_volume", vec![(id, "volume")]);
            let body = json!({"action": world.actions[&action].json()});
            drop(world);
            schedule(shared, action, move |world, _| {
                if let Some(v) = world.volumes.get_mut(&id) {
                    v.server = None;
                }
                if let Some(s) = server.and_then(|s| world.servers.get_mut(&s)) {
                    s.volumes.retain(|&v| v != id);
                }
            });
            Ok(answer(201, &body))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn create_volume(shared: &Arc<Shared>, body: &Value) -> Result<Response, ApiError> {
    let name = resource_name(body)?;
    let size = body["size"]
        .as_u64()
        .and_then(|s| u32::try_from(s).ok())
        .filter(|s| (10..=10_240).contains(s))
        .ok_or_else(|| ApiError::invalid("size", "must be 10 to 10240 (GB)"))?;
    let format = match body["format"].as_str() {
        None => None,
        Some(f @ ("ext4" | "xfs")) => Some(f.to_owned()),
        Some(_) => return Err(ApiError::invalid("format", "must be ext4 or xfs")),
    };
    let labels = labels(body)?;
    let mut world = shared.world();
    if world.volumes.values().any(|v| v.name == name) {
        return Err(ApiError::not_unique("name"));
    }
    let server = body["server"].as_i64();
    let location = match (server, body["location"].as_str()) {
        (Some(server), _) => world
            .servers
            .get(&server)
            .map(|s| s.location.clone())
            .ok_or_else(|| ApiError::invalid("server", "server not found"))?,
        (None, Some(name)) => catalog::locations()
            .into_iter()
            .find(|l| l.name == name)
            .ok_or_else(|| ApiError::invalid("location", "location not found"))?,
        (None, None) => {
            return Err(ApiError::invalid(
                "location",
                "location or server is required",
            ));
        }
    };
    let id = world.id();
    let dir = shared.options.data_dir.join(format!("volume-{id}"));
    std::fs::create_dir_all(&dir)
        .map_err(|err| ApiError::new(500, "server_error", err.to_string()))?;
    if shared.options.vm.is_some() {
        crate::vm::create_volume_disk(&dir, size)
            .map_err(|err| ApiError::new(500, "server_error", err.to_string()))?;
    }
    world.volumes.insert(
        id,
        Volume {
            id,
            name: name.to_owned(),
            size,
            server,
            location,
            format,
            labels,
            created: now(),
            dir,
        },
    );
    if let Some(s) = server.and_then(|s| world.servers.get_mut(&s)) {
        s.volumes.push(id);
    }
    let action = world.action("create_volume", vec![(id, "volume")]);
    let next: Vec<Value> = server
        .map(|s| world.action("attach_volume", vec![(id, "volume"), (s, "server")]))
        .into_iter()
        .collect::<Vec<_>>()
        .into_iter()
        .map(|a| {
            let json = world.actions[&a].json();
            world.finish(a);
            json
        })
        .collect();
    let body = json!({
        "volume": world.volumes[&id].json(),
        "action": world.actions[&action].json(),
        "next_actions": next,
    });
    drop(world);
    schedule(shared, action, |_, _| {});
    Ok(answer(201, &body))
}

fn attach(shared: &Arc<Shared>, id: i64, body: &Value) -> Result<Response, ApiError> {
    let server = body["server"]
        .as_i64()
        .ok_or_else(|| ApiError::invalid("server", "is required"))?;
    let mut world = shared.world();
    let volume = world
        .volumes
        .get(&id)
        .ok_or_else(|| ApiError::not_found("volume"))?;
    if volume.server.is_some() {
        return Err(ApiError::new(
            422,
            "volume_already_attached",
            "volume is already attached",
        ));
    }
    let target = world
        .servers
        .get(&server)
        .ok_or_else(|| ApiError::invalid("server", "server not found"))?;
    if target.location.name != volume.location.name {
        return Err(ApiError::invalid(
            "server",
            "server is in another location than the volume",
        ));
    }
    let action = world.action("attach_volume", vec![(id, "volume"), (server, "server")]);
    let body = json!({"action": world.actions[&action].json()});
    drop(world);
    schedule(shared, action, move |world, _| {
        if let Some(v) = world.volumes.get_mut(&id) {
            v.server = Some(server);
        }
        if let Some(s) = world.servers.get_mut(&server) {
            s.volumes.push(id);
        }
    });
    Ok(answer(201, &body))
}

pub fn firewalls(
    shared: &Arc<Shared>,
    method: &Method,
    request: &Request<'_>,
) -> Result<Response, ApiError> {
    match (id_of(request), method) {
        (None, &Method::GET) => {
            let selector = selector(request)?;
            let name = request.query.get("name");
            let world = shared.world();
            let items = world
                .firewalls
                .values()
                .filter(|f| selector.matches(&f.labels) && name.is_none_or(|n| n == f.name))
                .map(Firewall::json)
                .collect();
            page(request.path, "firewalls", items, &request.query)
        }
        (None, &Method::POST) => create_firewall(shared, &request.body),
        (Some(id), &Method::GET) => {
            let id = id?;
            let world = shared.world();
            let firewall = world
                .firewalls
                .get(&id)
                .ok_or_else(|| ApiError::not_found("firewall"))?;
            Ok(answer(200, &json!({"firewall": firewall.json()})))
        }
        (Some(id), &Method::DELETE) => {
            let id = id?;
            let mut world = shared.world();
            let firewall = world
                .firewalls
                .get(&id)
                .ok_or_else(|| ApiError::not_found("firewall"))?;
            if !firewall.servers.is_empty() {
                return Err(ApiError::new(
                    422,
                    "resource_in_use",
                    "firewall is still applied to servers",
                ));
            }
            world.firewalls.remove(&id);
            Ok(no_content())
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn create_firewall(shared: &Arc<Shared>, body: &Value) -> Result<Response, ApiError> {
    let name = resource_name(body)?;
    let rules = body["rules"].as_array().cloned().unwrap_or_default();
    for rule in &rules {
        let direction_ok = matches!(rule["direction"].as_str(), Some("in" | "out"));
        let protocol_ok = matches!(
            rule["protocol"].as_str(),
            Some("tcp" | "udp" | "icmp" | "esp" | "gre")
        );
        if !direction_ok || !protocol_ok {
            return Err(ApiError::invalid(
                "rules",
                "each rule needs a direction (in, out) and a protocol",
            ));
        }
    }
    let rules = rules
        .into_iter()
        .map(|mut rule| {
            for key in ["port", "description"] {
                if rule.get(key).is_none() {
                    rule[key] = Value::Null;
                }
            }
            for key in ["source_ips", "destination_ips"] {
                if rule.get(key).is_none() {
                    rule[key] = json!([]);
                }
            }
            rule
        })
        .collect();
    let labels = labels(body)?;
    let servers: Vec<i64> = body["apply_to"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|a| a["server"]["id"].as_i64())
                .collect()
        })
        .unwrap_or_default();
    let mut world = shared.world();
    if world.firewalls.values().any(|f| f.name == name) {
        return Err(ApiError::not_unique("name"));
    }
    if let Some(missing) = servers.iter().find(|s| !world.servers.contains_key(s)) {
        return Err(ApiError::new(
            404,
            "firewall_resource_not_found",
            format!("server {missing} not found"),
        ));
    }
    let id = world.id();
    world.firewalls.insert(
        id,
        Firewall {
            id,
            name: name.to_owned(),
            labels,
            rules,
            servers: servers.clone(),
            created: now(),
        },
    );
    let actions: Vec<Value> = servers
        .iter()
        .map(|&s| {
            let a = world.action("apply_firewall", vec![(id, "firewall"), (s, "server")]);
            world.finish(a);
            world.actions[&a].json()
        })
        .collect();
    let body = json!({"firewall": world.firewalls[&id].json(), "actions": actions});
    Ok(answer(201, &body))
}
