//! The API: one dispatcher that checks the token, spends the rate-limit budget, injects faults
//! and routes `/v1/...` to the resource handlers; `/__fake/...` controls the fake itself.

mod servers;
mod storage;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use axum::response::Response;
use serde_json::{Value, json};

use crate::Options;
use crate::catalog;
use crate::http::{ApiError, Bucket, Query, answer, page};
use crate::selector::Selector;
use crate::world::{Faults, World};

/// What every request reaches.
#[derive(Debug)]
pub struct Shared {
    /// The project.
    pub world: Mutex<World>,
    /// The request budget.
    pub bucket: Mutex<Bucket>,
    /// How the fake was started.
    pub options: Options,
    /// Correlation ids.
    requests: std::sync::atomic::AtomicU64,
}

impl Shared {
    /// A fresh project.
    pub fn new(options: Options) -> Self {
        Self {
            world: Mutex::new(World::new(options.faults.clone())),
            bucket: Mutex::new(Bucket::new(options.rate_limit, options.refill_per_sec)),
            options,
            requests: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// API requests answered so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The project, locked.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bucket(&self) -> MutexGuard<'_, Bucket> {
        self.bucket.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Ends action `id` after the configured delay and runs `effect` if it succeeded.
pub fn schedule(
    shared: &Arc<Shared>,
    id: i64,
    effect: impl FnOnce(&mut World, &Shared) + Send + 'static,
) {
    schedule_with(shared, id, &[], effect);
}

/// Like [`schedule`]; the `follow` actions (a create's `next_actions`) end with it, in error
/// when it failed.
pub fn schedule_with(
    shared: &Arc<Shared>,
    id: i64,
    follow: &[i64],
    effect: impl FnOnce(&mut World, &Shared) + Send + 'static,
) {
    let shared = Arc::clone(shared);
    let follow = follow.to_vec();
    tokio::spawn(async move {
        let delay = shared.world().faults.action_delay_ms;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let mut world = shared.world();
        let succeeded = world.finish(id);
        for action in follow {
            world.finish(action);
        }
        if succeeded {
            effect(&mut world, &shared);
        }
    });
}

/// A parsed request.
pub struct Request<'a> {
    /// Path segments after `/v1`.
    pub segments: Vec<&'a str>,
    /// The query.
    pub query: Query,
    /// The JSON body (`null` when empty).
    pub body: Value,
    /// The path as requested, for `Link` headers.
    pub path: &'a str,
}

/// Every request.
pub async fn dispatch(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    if let Some(rest) = path.strip_prefix("/__fake/") {
        return control(&shared, &method, rest, &body);
    }
    let n = shared
        .requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut response = match handle(&shared, &method, path, raw.as_deref(), &headers, &body) {
        Ok(response) => response,
        Err(err) => answer(err.status().as_u16(), &err.body()),
    };
    shared.bucket().headers(response.headers_mut());
    if let Ok(id) = HeaderValue::from_str(&format!("fake-{n:016x}")) {
        response.headers_mut().insert("x-correlation-id", id);
    }
    response
}

fn handle(
    shared: &Arc<Shared>,
    method: &Method,
    path: &str,
    raw_query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    // Every request counts against the budget, authenticated or not.
    {
        let mut world = shared.world();
        let mut bucket = shared.bucket();
        if world.faults.rate_limited > 0 {
            world.faults.rate_limited -= 1;
            bucket.drain();
        }
        if !bucket.take() {
            return Err(ApiError::new(
                429,
                "rate_limit_exceeded",
                "limit of 3600 requests per hour reached",
            ));
        }
        if world.faults.server_errors > 0 {
            world.faults.server_errors -= 1;
            return Err(ApiError::new(
                503,
                "unavailable",
                "service temporarily unavailable (injected)",
            ));
        }
    }
    authorize(&shared.options, method, headers)?;
    let rest = path
        .strip_prefix("/v1/")
        .ok_or_else(|| ApiError::not_found("path"))?;
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body)
            .map_err(|err| ApiError::new(400, "json_error", format!("invalid JSON: {err}")))?
    };
    let request = Request {
        segments: rest.split('/').filter(|s| !s.is_empty()).collect(),
        query: Query::parse(raw_query),
        body,
        path,
    };
    servers::notice_machines(shared);
    match (request.segments.first().copied(), method) {
        (Some("locations"), &Method::GET) => catalog_list(
            &request,
            "locations",
            catalog::locations()
                .iter()
                .map(|l| (l.name.to_owned(), l.json()))
                .collect(),
        ),
        (Some("server_types"), &Method::GET) => {
            let unavailable = shared.world().faults.unavailable.clone();
            let items = catalog::server_types()
                .iter()
                .map(|t| {
                    (
                        t.name.to_owned(),
                        t.json(&resolve_unavailable(&unavailable, t.name)),
                    )
                })
                .collect();
            catalog_list(&request, "server_types", items)
        }
        (Some("images"), &Method::GET) => {
            let items = catalog::images()
                .iter()
                .filter(|i| {
                    request
                        .query
                        .get("architecture")
                        .is_none_or(|a| a == i.architecture)
                })
                .filter(|_| request.query.get("type").is_none_or(|t| t == "system"))
                .map(|i| (i.name.to_owned(), i.json()))
                .collect();
            catalog_list(&request, "images", items)
        }
        (Some("pricing"), &Method::GET) => Ok(answer(200, &json!({"pricing": catalog::pricing()}))),
        (Some("actions"), &Method::GET) => actions(shared, &request),
        (Some("servers"), _) => servers::route(shared, method, &request),
        (Some("volumes"), _) => storage::volumes(shared, method, &request),
        (Some("firewalls"), _) => storage::firewalls(shared, method, &request),
        (Some(_), &Method::GET | &Method::POST | &Method::PUT | &Method::DELETE) => {
            Err(ApiError::not_found("resource"))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// The locations where `server_type` is out of stock, for `/server_types`.
fn resolve_unavailable(unavailable: &[String], server_type: &str) -> Vec<String> {
    let faults = Faults {
        unavailable: unavailable.to_vec(),
        ..Faults::default()
    };
    catalog::locations()
        .iter()
        .filter(|l| faults.is_unavailable(server_type, l.name))
        .map(|l| l.name.to_owned())
        .collect()
}

fn authorize(options: &Options, method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::new(401, "unauthorized", "unable to authenticate"))?;
    if options.read_only_token.as_deref() == Some(token) {
        return if method == Method::GET {
            Ok(())
        } else {
            Err(ApiError::new(
                403,
                "token_readonly",
                "The token you are using is read-only",
            ))
        };
    }
    match &options.token {
        Some(expected) if expected != token => {
            Err(ApiError::new(401, "unauthorized", "unable to authenticate"))
        }
        _ => Ok(()),
    }
}

/// A catalogue list or one entry of it (`/locations/fsn1`, `/server_types/104`), with `name`
/// filters and pagination.
fn catalog_list(
    request: &Request<'_>,
    key: &str,
    items: Vec<(String, Value)>,
) -> Result<Response, ApiError> {
    if let Some(which) = request.segments.get(1) {
        let singular = key.trim_end_matches('s');
        let found = items
            .into_iter()
            .find(|(name, item)| name == which || which.parse::<i64>().ok() == item["id"].as_i64())
            .ok_or_else(|| ApiError::not_found(singular))?;
        return Ok(answer(200, &json!({ singular: found.1 })));
    }
    let name = request.query.get("name");
    let items = items
        .into_iter()
        .filter(|(n, _)| name.is_none_or(|want| want == n))
        .map(|(_, item)| item)
        .collect();
    page(request.path, key, items, &request.query)
}

fn actions(shared: &Arc<Shared>, request: &Request<'_>) -> Result<Response, ApiError> {
    let world = shared.world();
    if let Some(id) = request.segments.get(1) {
        let action = id
            .parse::<i64>()
            .ok()
            .and_then(|id| world.actions.get(&id))
            .ok_or_else(|| ApiError::not_found("action"))?;
        return Ok(answer(200, &json!({"action": action.json()})));
    }
    let ids = request.query.all("id");
    if ids.is_empty() {
        return Err(ApiError::invalid("id", "is required"));
    }
    let items = ids
        .iter()
        .filter_map(|id| id.parse::<i64>().ok())
        .filter_map(|id| world.actions.get(&id))
        .map(crate::world::Action::json)
        .collect();
    page(request.path, "actions", items, &request.query)
}

/// The `label_selector` of a list request.
pub fn selector(request: &Request<'_>) -> Result<Selector, ApiError> {
    match request.query.get("label_selector") {
        None | Some("") => Ok(Selector::default()),
        Some(text) => Selector::parse(text).map_err(|err| ApiError::invalid("label_selector", err)),
    }
}

/// `/__fake/faults` (GET, PUT) and `/__fake/servers/{id}/vanish` (POST).
fn control(shared: &Arc<Shared>, method: &Method, rest: &str, body: &[u8]) -> Response {
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match (segments.as_slice(), method) {
        (["faults"], &Method::PUT) => match serde_json::from_slice::<Faults>(body) {
            Ok(faults) => {
                shared.world().faults = faults;
                answer(200, &json!({"ok": true}))
            }
            Err(err) => answer(400, &json!({"error": err.to_string()})),
        },
        (["servers", id, "vanish"], &Method::POST) => {
            let removed = id
                .parse::<i64>()
                .is_ok_and(|id| shared.world().remove_server(id));
            answer(
                if removed { 200 } else { 404 },
                &json!({"vanished": removed}),
            )
        }
        (["releases", AGENT_ASSET], &Method::GET) => {
            match std::fs::read(&shared.options.agent_bin) {
                Ok(bytes) => Response::builder()
                    .header("content-type", "application/octet-stream")
                    .body(axum::body::Body::from(bytes))
                    .unwrap_or_default(),
                Err(err) => answer(500, &json!({"error": err.to_string()})),
            }
        }
        _ => answer(404, &json!({"error": "unknown control endpoint"})),
    }
}

/// The agent binary's name as a release publishes it.
pub const AGENT_ASSET: &str = "sam-agent-x86_64-linux";
