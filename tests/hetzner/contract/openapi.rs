//! Hetzner's OpenAPI description as a contract: each answer's body is validated against the
//! schema its operation documents for that status (`default` for errors).
//!
//! The description (`shared/hetzner/hcloud-openapi.json`, OpenAPI 3.0.3) is turned into JSON
//! Schema 2020-12 once per run:
//! * `nullable: true` becomes a `type` union with `"null"` (and `null` joins an `enum`); next to
//!   `allOf`/`$ref`, where there is no `type` to widen, the schema becomes
//!   `anyOf: [schema, {"type": "null"}]`;
//! * the whole document stays the root resource, so `$ref: "#/components/schemas/X"` resolves
//!   as written, and each response is checked through `{"$ref": "#/components/schemas/Y"}`.
//!
//! Deviations from the description accepted on purpose (see `shared/hetzner/README.md`):
//! * `datacenter` is not required in `server` and in the four answers that inline a primary IP:
//!   Hetzner removed it from the live API in July 2026 and the fake never sends it.
//! * Fields Hetzner added after the description was written (`available` and `recommended` in
//!   `server_types[].locations[]`) pass because no schema on our path sets
//!   `additionalProperties: false` (only load balancer health checks do).
//! * `format: int64`/`decimal`/`double` are not JSON Schema formats and are ignored; `date-time`
//!   is checked.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;

use jsonschema::Validator;
use serde_json::{Map, Value, json};

/// The variable that overrides where the description is read from.
pub const SPEC_VARIABLE: &str = "SAM_HCLOUD_OPENAPI";

/// Schemas that still require `datacenter` although the live API dropped it.
const WITHOUT_DATACENTER: &[(&str, &str)] = &[
    ("server", ""),
    ("create_primary_ip_response", "/properties/primary_ip"),
    ("get_primary_ip_response", "/properties/primary_ip"),
    ("replace_primary_ip_response", "/properties/primary_ip"),
    ("list_primary_ips_response", "/properties/primary_ips/items"),
];

/// Where the description is: `$SAM_HCLOUD_OPENAPI`, else `shared/` next to the checkout (as on
/// CI), else the workplace's `/work/shared`.
pub fn spec_path() -> PathBuf {
    if let Some(path) = std::env::var_os(SPEC_VARIABLE) {
        return PathBuf::from(path);
    }
    let beside = sam_test_support::repo_root().join("../shared/hetzner/hcloud-openapi.json");
    if beside.is_file() {
        return beside;
    }
    PathBuf::from("/work/shared/hetzner/hcloud-openapi.json")
}

/// One documented operation: its method and path template.
#[derive(Debug)]
struct Operation {
    method: String,
    template: String,
    segments: Vec<String>,
}

/// The description, ready to validate answers.
pub struct Contract {
    /// The document after the rewrite above.
    document: Value,
    operations: Vec<Operation>,
    validators: Mutex<HashMap<String, Validator>>,
    /// `METHOD template status` of every answer validated.
    seen: Mutex<BTreeSet<String>>,
}

impl std::fmt::Debug for Contract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Contract")
            .field("operations", &self.operations.len())
            .finish_non_exhaustive()
    }
}

impl Contract {
    /// Reads and rewrites the description; panics with directions when it is missing.
    pub fn load() -> Self {
        let path = spec_path();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|err| {
            panic!(
                "the Hetzner OpenAPI description is not readable at {} ({err}). It lives in \
                 shared/hetzner/hcloud-openapi.json next to the checkout; set {SPEC_VARIABLE} \
                 to its path if it is elsewhere",
                path.display()
            )
        });
        let mut document: Value = serde_json::from_str(&text).expect("the description is JSON");
        let schemas = document
            .pointer_mut("/components/schemas")
            .expect("the description has components.schemas");
        for (name, at) in WITHOUT_DATACENTER {
            let required = schemas
                .pointer_mut(&format!("/{name}{at}/required"))
                .and_then(Value::as_array_mut)
                .unwrap_or_else(|| panic!("{name}{at} has a required list"));
            required.retain(|key| key != "datacenter");
        }
        rewrite_nullable(schemas);
        let mut operations = Vec::new();
        for (template, item) in document["paths"].as_object().expect("paths") {
            let methods = item.as_object().expect("a path item").keys();
            for method in methods.filter(|m| ["get", "post", "put", "delete"].contains(&m.as_str()))
            {
                operations.push(Operation {
                    method: method.to_ascii_uppercase(),
                    template: template.clone(),
                    segments: template
                        .split('/')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                });
            }
        }
        Self {
            document,
            operations,
            validators: Mutex::new(HashMap::new()),
            seen: Mutex::new(BTreeSet::new()),
        }
    }

    /// The documented operation for `method` on a concrete `path` (after `/v1`, no query): the
    /// template whose literal segments match most, so `/servers/actions` beats `/servers/{id}`.
    fn operation(&self, method: &str, path: &str) -> Option<&Operation> {
        let concrete: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        self.operations
            .iter()
            .filter(|op| op.method == method && op.segments.len() == concrete.len())
            .filter_map(|op| {
                let mut literal = 0;
                for (want, got) in op.segments.iter().zip(&concrete) {
                    if want.starts_with('{') {
                        continue;
                    }
                    if want != got {
                        return None;
                    }
                    literal += 1;
                }
                Some((literal, op))
            })
            .max_by_key(|(literal, _)| *literal)
            .map(|(_, op)| op)
    }

    /// Checks one answer: `Err` says what does not match the description.
    pub fn check(&self, method: &str, path: &str, status: u16, body: &str) -> Result<(), String> {
        let op = self
            .operation(method, path)
            .ok_or_else(|| format!("{method} {path}: no such operation in the description"))?;
        let label = format!("{method} {} {status}", op.template);
        let responses =
            &self.document["paths"][&op.template][method.to_ascii_lowercase()]["responses"];
        let (key, response) = match responses.get(status.to_string()) {
            Some(response) => (status.to_string(), response),
            None if status < 400 => {
                let documented: Vec<&String> = responses
                    .as_object()
                    .map(|r| r.keys().collect())
                    .unwrap_or_default();
                return Err(format!(
                    "{label}: status not documented (documented: {documented:?})"
                ));
            }
            None => (
                "default".to_owned(),
                responses
                    .get("default")
                    .ok_or_else(|| format!("{label}: no default (error) response"))?,
            ),
        };
        let schema = &response["content"]["application/json"]["schema"];
        if schema.is_null() {
            self.seen().insert(label.clone());
            return if body.trim().is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "{label}: the description has no body for {key}, got {body}"
                ))
            };
        }
        let reference = schema["$ref"]
            .as_str()
            .ok_or_else(|| format!("{label}: the response schema is not a $ref"))?
            .to_owned();
        let instance: Value = serde_json::from_str(body)
            .map_err(|err| format!("{label}: the body is not JSON ({err}): {body}"))?;
        let errors: Vec<String> = {
            let mut validators = self.validators.lock().unwrap_or_else(|p| p.into_inner());
            let validator = match validators.get(&reference) {
                Some(validator) => validator,
                None => {
                    let validator = self.validator(&reference)?;
                    validators.entry(reference.clone()).or_insert(validator)
                }
            };
            validator
                .iter_errors(&instance)
                .map(|e| format!("  at {}: {e}", e.instance_path()))
                .collect()
        };
        self.seen().insert(label.clone());
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{label} ({reference}):\n{}\n  body: {instance}",
                errors.join("\n")
            ))
        }
    }

    fn validator(&self, reference: &str) -> Result<Validator, String> {
        let mut root = Map::new();
        root.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        root.insert("$ref".into(), json!(reference));
        root.insert("components".into(), self.document["components"].clone());
        jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&Value::Object(root))
            .map_err(|err| format!("the schema {reference} does not compile: {err}"))
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every `METHOD template status` validated so far.
    pub fn validated(&self) -> Vec<String> {
        self.seen().iter().cloned().collect()
    }
}

/// Rewrites OpenAPI 3.0 `nullable: true` into JSON Schema, everywhere below `schema`.
fn rewrite_nullable(schema: &mut Value) {
    match schema {
        Value::Array(items) => items.iter_mut().for_each(rewrite_nullable),
        Value::Object(map) => {
            map.values_mut().for_each(rewrite_nullable);
            if map.remove("nullable") != Some(Value::Bool(true)) {
                return;
            }
            if let Some(kind) = map.get_mut("type") {
                let name = kind.take();
                *kind = json!([name, "null"]);
                if let Some(Value::Array(allowed)) = map.get_mut("enum") {
                    allowed.push(Value::Null);
                }
            } else {
                let inner = std::mem::take(map);
                map.insert(
                    "anyOf".into(),
                    json!([Value::Object(inner), {"type": "null"}]),
                );
            }
        }
        _ => {}
    }
}
