//! The wire around every answer: Hetzner's error body, rate-limit headers, pagination with
//! `meta.pagination` and a `Link` header, and query strings with repeated keys.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An API error in Hetzner's form: `{"error": {"code", "message", "details"}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Value,
}

impl ApiError {
    /// An error with no details.
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code,
            message: message.into(),
            details: Value::Null,
        }
    }

    /// `422 invalid_input` naming the field at fault.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            details: json!({"fields": [{"name": field, "messages": [message.clone()]}]}),
            ..Self::new(
                422,
                "invalid_input",
                format!("invalid input in field '{field}'"),
            )
        }
        .with_message(message)
    }

    /// `409 uniqueness_error` on `field`.
    pub fn not_unique(field: &str) -> Self {
        Self {
            details: json!({"fields": [{"name": field}]}),
            ..Self::new(409, "uniqueness_error", format!("{field} is already used"))
        }
    }

    /// `405 method_not_allowed`.
    pub fn method_not_allowed() -> Self {
        Self::new(405, "method_not_allowed", "method not allowed")
    }

    /// `404 not_found`.
    pub fn not_found(what: &str) -> Self {
        Self::new(404, "not_found", format!("{what} not found"))
    }

    fn with_message(mut self, message: String) -> Self {
        self.message = message;
        self
    }

    /// The body.
    pub fn body(&self) -> Value {
        json!({"error": {"code": self.code, "message": self.message, "details": self.details}})
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

/// A JSON answer.
pub fn answer(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    (status, axum::Json(body.clone())).into_response()
}

/// The project's request budget: `limit` an hour, refilled `refill_per_sec`, bursts allowed.
#[derive(Debug)]
pub struct Bucket {
    limit: f64,
    refill_per_sec: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// A full bucket.
    pub fn new(limit: u32, refill_per_sec: f64) -> Self {
        Self {
            limit: f64::from(limit),
            refill_per_sec,
            tokens: f64::from(limit),
            at: Instant::now(),
        }
    }

    /// Takes one request's worth; `false` when the budget is spent.
    pub fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens
            + now.duration_since(self.at).as_secs_f64() * self.refill_per_sec)
            .min(self.limit);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Empties the budget (an injected burst of 429s).
    pub fn drain(&mut self) {
        self.tokens = 0.0;
        self.at = Instant::now();
    }

    /// `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (when the budget is full).
    pub fn headers(&self, headers: &mut HeaderMap) {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let missing = (self.limit - self.tokens).max(0.0);
        let reset = unix + (missing / self.refill_per_sec.max(1e-9)).ceil() as u64;
        let mut put = |name: &'static str, value: String| {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        };
        put("ratelimit-limit", format!("{}", self.limit as u64));
        put(
            "ratelimit-remaining",
            format!("{}", self.tokens.floor() as u64),
        );
        put("ratelimit-reset", reset.to_string());
    }
}

/// A query string, keeping repeated keys.
#[derive(Debug, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Parses `raw` (without the `?`).
    pub fn parse(raw: Option<&str>) -> Self {
        Self(
            form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// One page of `items` under `key`, with `meta.pagination` and a `Link` header, as the API
/// pages lists: `page` from 1, `per_page` 25 by default and at most 50.
pub fn page(path: &str, key: &str, items: Vec<Value>, query: &Query) -> Result<Response, ApiError> {
    let number = |name: &str, default: u64| -> Result<u64, ApiError> {
        match query.get(name) {
            None => Ok(default),
            Some(text) => text.parse::<u64>().ok().filter(|&n| n >= 1).ok_or_else(|| {
                ApiError::invalid(name, format!("{text:?} is not a positive number"))
            }),
        }
    };
    let per_page = number("per_page", 25)?.min(50);
    let page = number("page", 1)?;
    let total = items.len() as u64;
    let last = total.div_ceil(per_page).max(1);
    let start = usize::try_from((page - 1) * per_page).unwrap_or(usize::MAX);
    let chunk: Vec<Value> = items
        .into_iter()
        .skip(start)
        .take(usize::try_from(per_page).unwrap_or(50))
        .collect();
    let previous = (page > 1).then(|| page - 1);
    let next = (page < last).then(|| page + 1);
    let body = json!({
        key: chunk,
        "meta": {"pagination": {
            "page": page,
            "per_page": per_page,
            "previous_page": previous,
            "next_page": next,
            "last_page": last,
            "total_entries": total,
        }},
    });
    let mut links = Vec::new();
    let mut link = |rel: &str, n: u64| {
        links.push(format!(
            "<{path}?page={n}&per_page={per_page}>; rel=\"{rel}\""
        ))
    };
    if let Some(p) = previous {
        link("prev", p);
    }
    if let Some(n) = next {
        link("next", n);
    }
    link("last", last);
    let mut response = answer(200, &body);
    if let Ok(value) = HeaderValue::from_str(&links.join(", ")) {
        response.headers_mut().insert("link", value);
    }
    Ok(response)
}
