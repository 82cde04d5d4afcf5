//! The Hetzner Cloud API over `reqwest` (rustls): bearer token, pagination, action polling,
//! rate-limit headers read and respected, and jittered retries for transient errors only.
//!
//! **Budget.** Hetzner allows 3600 requests an hour per project, refilled one a second. Every
//! answer says how many are left (`RateLimit-Remaining`) and when the budget is full again
//! (`RateLimit-Reset`). While the remainder is above a reserve, requests go out at once; below
//! it they are spaced at the refill rate the headers imply, so a long run slows down instead of
//! failing. A `429` waits for the budget to refill (bounded) and tries again.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::Mutex;

use super::error::HetznerError;
use super::model::{Action, ActionStatus};
use crate::redact::Secret;

/// Hetzner's API. `HCLOUD_ENDPOINT` overrides it, as for Hetzner's own CLI (see `config`).
pub const DEFAULT_ENDPOINT: &str = "https://api.hetzner.cloud/v1";

/// How the client behaves; the defaults suit the real API, tests shorten the waits.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The API base URL.
    pub endpoint: String,
    /// Attempts after the first for transient errors.
    pub retries: u32,
    /// First retry delay; doubled each time (with full jitter), capped at `max_backoff`.
    pub backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// Longest wait for the rate-limit budget before one request.
    pub max_rate_wait: Duration,
    /// Requests kept in reserve: below it, requests are spaced at the refill rate.
    pub reserve: u32,
    /// How often a running action is polled.
    pub poll_interval: Duration,
    /// One request's timeout.
    pub request_timeout: Duration,
}

impl ClientOptions {
    /// Defaults for `endpoint`.
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into().trim_end_matches('/').to_owned(),
            retries: 4,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            max_rate_wait: Duration::from_secs(60),
            reserve: 100,
            poll_interval: Duration::from_secs(1),
            request_timeout: Duration::from_secs(30),
        }
    }

    /// Defaults for the configured endpoint (`HCLOUD_ENDPOINT`, or Hetzner's).
    pub fn configured(config: &crate::config::HetznerConfig) -> Self {
        Self::new(config.endpoint())
    }
}

/// What the last answer said about the budget.
#[derive(Debug, Default, Clone, Copy)]
struct Budget {
    limit: Option<u64>,
    remaining: Option<u64>,
    /// Unix seconds when the budget is full again.
    reset: Option<u64>,
    /// When the last request left (for spacing), as an instant.
    last_sent: Option<tokio::time::Instant>,
}

impl Budget {
    /// How long to wait before the next request.
    fn wait(&self, reserve: u32, now_unix: u64, now: tokio::time::Instant) -> Duration {
        let (Some(limit), Some(remaining), Some(reset)) = (self.limit, self.remaining, self.reset)
        else {
            return Duration::ZERO;
        };
        let until_reset = reset.saturating_sub(now_unix).max(1);
        if remaining == 0 {
            // Wait for one request's worth to come back.
            let per_request = until_reset as f64 / (limit.max(1)) as f64;
            return Duration::from_secs_f64(per_request.max(0.05));
        }
        if remaining > u64::from(reserve) {
            return Duration::ZERO;
        }
        // Space requests at the refill rate: `limit - remaining` come back by `reset`.
        let missing = limit.saturating_sub(remaining).max(1);
        let interval = Duration::from_secs_f64(until_reset as f64 / missing as f64);
        self.last_sent.map_or(Duration::ZERO, |last| {
            (last + interval).saturating_duration_since(now)
        })
    }
}

/// A Hetzner Cloud API client for one project (one token).
#[derive(Debug)]
pub struct HetznerClient {
    http: reqwest::Client,
    token: Secret,
    options: ClientOptions,
    budget: Mutex<Budget>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn header_u64(headers: &reqwest::header::HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// A random fraction in [0, 1) for jitter.
fn jitter() -> f64 {
    let mut bytes = [0u8; 4];
    let _ = getrandom::fill(&mut bytes);
    f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0)
}

impl HetznerClient {
    /// A client for the project `token` belongs to.
    pub fn new(token: Secret, options: ClientOptions) -> Result<Self, HetznerError> {
        let http = crate::http::builder()
            .timeout(options.request_timeout)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|err| HetznerError::Network(err.to_string()))?;
        Ok(Self {
            http,
            token,
            options,
            budget: Mutex::new(Budget::default()),
        })
    }

    /// The token it authenticates with (handed to a server only for the opt-in self-delete).
    pub fn token(&self) -> &Secret {
        &self.token
    }

    /// The options in use.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// One request with retries; the parsed body (`Value::Null` for an empty one).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, HetznerError> {
        let mut attempt = 0u32;
        loop {
            let outcome = self.once(method.clone(), path, query, body).await;
            match outcome {
                Err(err) if err.is_transient() && attempt < self.options.retries => {
                    attempt += 1;
                    let delay = match &err {
                        // The budget is spent: the next try waits for it (see `once`).
                        HetznerError::Api { status: 429, .. } => Duration::ZERO,
                        _ => {
                            let cap = self
                                .options
                                .backoff
                                .saturating_mul(1 << attempt.min(16))
                                .min(self.options.max_backoff);
                            cap.mul_f64(0.5 + jitter() / 2.0)
                        }
                    };
                    tracing::info!(%method, path, attempt, ?delay, error = %err, "retrying a Hetzner request");
                    tokio::time::sleep(delay).await;
                }
                other => return other,
            }
        }
    }

    async fn once(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, HetznerError> {
        {
            let mut budget = self.budget.lock().await;
            let wait = budget
                .wait(
                    self.options.reserve,
                    unix_now(),
                    tokio::time::Instant::now(),
                )
                .min(self.options.max_rate_wait);
            if !wait.is_zero() {
                tracing::debug!(?wait, remaining = ?budget.remaining, "pacing Hetzner requests");
                tokio::time::sleep(wait).await;
            }
            budget.last_sent = Some(tokio::time::Instant::now());
        }
        let url = format!("{}{path}", self.options.endpoint);
        let mut request = self
            .http
            .request(method, &url)
            .bearer_auth(self.token.expose())
            .query(query);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|err| HetznerError::Network(describe(&err)))?;
        let status = response.status();
        let retry_after_secs = {
            let headers = response.headers();
            let mut budget = self.budget.lock().await;
            budget.limit = header_u64(headers, "ratelimit-limit").or(budget.limit);
            budget.remaining = header_u64(headers, "ratelimit-remaining");
            budget.reset = header_u64(headers, "ratelimit-reset");
            // A spent budget says when it refills: the user is told when to come back.
            (status == StatusCode::TOO_MANY_REQUESTS)
                .then(|| {
                    header_u64(headers, "retry-after")
                        .or_else(|| budget.reset.map(|reset| reset.saturating_sub(unix_now())))
                })
                .flatten()
                .map(|secs| u32::try_from(secs.max(1)).unwrap_or(u32::MAX))
        };
        let bytes = response
            .bytes()
            .await
            .map_err(|err| HetznerError::Network(describe(&err)))?;
        if status.is_success() {
            if bytes.is_empty() || status == StatusCode::NO_CONTENT {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&bytes)
                .map_err(|err| HetznerError::Decode(err.to_string()));
        }
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let error = &body["error"];
        Err(HetznerError::Api {
            status: status.as_u16(),
            code: error["code"].as_str().unwrap_or("unknown_error").to_owned(),
            message: error["message"]
                .as_str()
                .map_or_else(|| status.to_string(), str::to_owned),
            details: Box::new(error["details"].clone()),
            retry_after_secs,
        })
    }

    /// `GET path`, the value under `key` parsed as `T`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        key: &str,
        query: &[(&str, String)],
    ) -> Result<T, HetznerError> {
        let body = self.request(Method::GET, path, query, None).await?;
        take(body, key)
    }

    /// Every item of a paginated list (50 a page), under `key`.
    pub async fn list<T: DeserializeOwned>(
        &self,
        path: &str,
        key: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<T>, HetznerError> {
        let mut items = Vec::new();
        let mut page = 1u64;
        loop {
            let mut query = query.to_vec();
            query.push(("page", page.to_string()));
            query.push(("per_page", "50".to_owned()));
            let body = self.request(Method::GET, path, &query, None).await?;
            let next = body["meta"]["pagination"]["next_page"].as_u64();
            let chunk: Vec<T> = take(body, key)?;
            items.extend(chunk);
            match next {
                Some(n) if n > page => page = n,
                _ => return Ok(items),
            }
        }
    }

    /// `POST path` with `body`.
    pub async fn post<B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<Value, HetznerError> {
        let body =
            serde_json::to_value(body).map_err(|err| HetznerError::Decode(err.to_string()))?;
        self.request(Method::POST, path, &[], Some(&body)).await
    }

    /// `DELETE path`; a resource already gone counts as deleted.
    pub async fn delete(&self, path: &str) -> Result<Option<Action>, HetznerError> {
        match self.request(Method::DELETE, path, &[], None).await {
            Ok(Value::Null) => Ok(None),
            Ok(body) => Ok(take::<Action>(body, "action").ok()),
            Err(HetznerError::Api { status: 404, .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Polls `action` until it ends; its error is returned as [`HetznerError::ActionFailed`].
    pub async fn wait(&self, action: &Action, timeout: Duration) -> Result<Action, HetznerError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut current = action.clone();
        loop {
            match current.status {
                ActionStatus::Success => return Ok(current),
                ActionStatus::Error => {
                    let error = current.error.unwrap_or_default();
                    return Err(HetznerError::ActionFailed {
                        command: current.command,
                        code: error.code,
                        message: error.message,
                    });
                }
                ActionStatus::Running | ActionStatus::Unknown => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(HetznerError::ActionTimeout {
                    command: current.command,
                    waited: timeout,
                });
            }
            tokio::time::sleep(self.options.poll_interval).await;
            current = self
                .get(&format!("/actions/{}", action.id), "action", &[])
                .await?;
        }
    }
}

/// The keyring entry holding the Hetzner API token.
pub const TOKEN_ENTRY: &str = "hetzner-token";

/// The Hetzner token: `HCLOUD_TOKEN` (`from_env`, for scripts) when set, else the keyring's
/// entry; `None` when neither has one. The token is never passed on to anything SAM spawns
/// (local agents get a clean environment).
pub fn token(
    keys: &dyn crate::installation::KeyStore,
    from_env: Option<&Secret>,
) -> Result<Option<Secret>, crate::error::SamError> {
    match from_env {
        Some(token) => Ok(Some(token.clone())),
        None => keys.get(TOKEN_ENTRY),
    }
}

/// Takes `key` out of an answer and parses it.
pub fn take<T: DeserializeOwned>(mut body: Value, key: &str) -> Result<T, HetznerError> {
    let value = body.get_mut(key).map(Value::take).unwrap_or(Value::Null);
    serde_json::from_value(value).map_err(|err| HetznerError::Decode(format!("{key}: {err}")))
}

/// reqwest's error text with its cause (the URL holds no secret: the token is a header).
fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    if let Some(source) = std::error::Error::source(err) {
        text.push_str(": ");
        text.push_str(&source.to_string());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Keys(Option<&'static str>);

    impl crate::installation::KeyStore for Keys {
        fn get(&self, _: &str) -> Result<Option<Secret>, crate::error::SamError> {
            Ok(self.0.map(Secret::new))
        }
        fn set(&self, _: &str, _: &str) -> Result<(), crate::error::SamError> {
            Ok(())
        }
        fn delete(&self, _: &str) -> Result<(), crate::error::SamError> {
            Ok(())
        }
    }

    #[test]
    fn hcloud_token_overrides_the_keyring() {
        let from_env = Secret::new("env-token");
        let token = token(&Keys(Some("kept")), Some(&from_env))
            .expect("ok")
            .expect("a token");
        assert_eq!(token.expose(), "env-token");
        let token = token_of(&Keys(Some("kept")));
        assert_eq!(token.as_deref(), Some("kept"));
        assert_eq!(token_of(&Keys(None)), None);
    }

    fn token_of(keys: &Keys) -> Option<String> {
        token(keys, None)
            .expect("ok")
            .map(|t| t.expose().to_owned())
    }

    #[test]
    fn the_budget_paces_only_below_the_reserve() {
        let now = tokio::time::Instant::now();
        let mut budget = Budget {
            limit: Some(3600),
            remaining: Some(3000),
            reset: Some(1_000_600),
            last_sent: Some(now),
        };
        assert_eq!(budget.wait(100, 1_000_000, now), Duration::ZERO);
        // 3550 missing, back in 3550 s: one a second.
        budget.remaining = Some(50);
        budget.reset = Some(1_003_550);
        let wait = budget.wait(100, 1_000_000, now);
        assert!((wait.as_secs_f64() - 1.0).abs() < 0.01, "{wait:?}");
        budget.remaining = Some(0);
        assert!(budget.wait(100, 1_000_000, now) > Duration::ZERO);
    }
}
