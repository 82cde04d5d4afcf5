//! Keeping secrets out of everything SAM writes down.
//!
//! Two defences, both applied to every log line (see [`crate::logging`]):
//! - **Known values.** Whenever the app holds a real secret (a token read from the keyring, an
//!   enrollment secret) it registers it with [`register_secret`]; any later occurrence of that
//!   exact text is replaced. This catches secrets of any shape.
//! - **Shapes.** Text that looks like a credential (GitHub tokens, bearer headers, JWTs,
//!   Hetzner-style 64-character tokens, private-key blocks, passwords in URLs, `token=…` pairs)
//!   is replaced even if nobody registered it — a safety net for secrets that arrive from
//!   outside, for example in a command's output or an error message from a server.
//!
//! [`Secret`] wraps a secret value in memory so that `Debug` and `Display` never print it.

use std::borrow::Cow;
use std::fmt;
use std::sync::{LazyLock, RwLock};

use regex::{Captures, Regex};

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// Registered secrets shorter than this are ignored: replacing every "abc" in a log would
/// destroy the log and protect nothing.
const MIN_REGISTERED_LEN: usize = 8;

/// A secret value held in memory. Its `Debug` and `Display` print `[redacted]`; the value is
/// only reachable through [`Secret::expose`], which makes every use easy to audit.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value` and registers it with the log redactor.
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        register_secret(&value);
        Self(value)
    }

    /// The secret text itself. Never log it or send it to the UI.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it looks like a pasted token or key: something, and no white space in it.
    pub fn is_one_word(&self) -> bool {
        !self.0.trim().is_empty() && !self.0.chars().any(char::is_whitespace)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// The rules, compiled once.
struct Patterns {
    /// Replaced whole.
    whole: Vec<Regex>,
    /// `key=value` pairs whose key names a secret: the key stays, the value goes.
    pair: Regex,
    /// `scheme://user:password@` or `scheme://token@`: the user info goes.
    url_userinfo: Regex,
    /// Mixed-case 64-character tokens (Hetzner's shape). Lower-case hex digests of the same
    /// length (SHA-256 fingerprints) are useful in logs and are left alone.
    long_token: Regex,
}

static PATTERNS: LazyLock<Patterns> = LazyLock::new(|| {
    let compile = |re: &str| Regex::new(re).expect("redaction patterns are valid");
    Patterns {
        whole: [
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|$)",
            r"\bgh[pousr]_[A-Za-z0-9]{20,}",
            r"\bgithub_pat_[A-Za-z0-9_]{20,}",
            r"\bsk-[A-Za-z0-9_-]{20,}",
            r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*",
            r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}",
        ]
        .iter()
        .map(|re| compile(re))
        .collect(),
        pair: compile(
            r#"(?i)\b(password|passwd|secret|token|api[_-]?key|client[_-]?secret|access[_-]?token|refresh[_-]?token|enrollment[_-]?secret)(["']?\s*[:=]\s*["']?)[^\s"'&,;}]+"#,
        ),
        url_userinfo: compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@"),
        long_token: compile(r"\b[A-Za-z0-9]{64}\b"),
    }
});

static REGISTERED: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Remembers `secret` so that [`redact`] replaces it wherever it appears from now on.
pub fn register_secret(secret: &str) {
    if secret.len() < MIN_REGISTERED_LEN {
        return;
    }
    let mut known = REGISTERED
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !known.iter().any(|s| s == secret) {
        known.push(secret.to_owned());
        // Longest first, so a secret that contains another is replaced whole.
        known.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// Forgets a secret registered earlier (after sign-out, for example).
pub fn forget_secret(secret: &str) {
    let mut known = REGISTERED
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    known.retain(|s| s != secret);
}

/// `value` with [`redact`] applied to every string in it (keys and values), so the JSON stays
/// JSON.
pub fn redact_json(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(text) => {
            if let Cow::Owned(clean) = redact(text) {
                *text = clean;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        Value::Object(map) => {
            let dirty: Vec<String> = map
                .keys()
                .filter(|key| matches!(redact(key), Cow::Owned(_)))
                .cloned()
                .collect();
            for key in dirty {
                if let Some(inner) = map.remove(&key) {
                    map.insert(redact(&key).into_owned(), inner);
                }
            }
            map.values_mut().for_each(redact_json);
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// `text` with every registered secret and every credential-shaped substring replaced.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    {
        let known = REGISTERED
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for secret in known.iter() {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), REDACTED));
            }
        }
    }
    let patterns = &*PATTERNS;
    for re in &patterns.whole {
        out = replace(out, re, |_| REDACTED.to_owned());
    }
    out = replace(out, &patterns.pair, |c| {
        format!("{}{}{REDACTED}", &c[1], &c[2])
    });
    out = replace(out, &patterns.url_userinfo, |c| {
        format!("{}{REDACTED}@", &c[1])
    });
    out = replace(out, &patterns.long_token, |c| {
        let token = &c[0];
        if token.bytes().any(|b| b.is_ascii_uppercase()) {
            REDACTED.to_owned()
        } else {
            token.to_owned()
        }
    });
    out
}

/// Applies `re` only when it matches, so clean text is never copied.
fn replace<'a>(
    text: Cow<'a, str>,
    re: &Regex,
    with: impl Fn(&Captures<'_>) -> String,
) -> Cow<'a, str> {
    if !re.is_match(&text) {
        return text;
    }
    Cow::Owned(
        re.replace_all(&text, |c: &Captures<'_>| with(c))
            .into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn assert_redacted(input: &str, secret: &str) {
        let out = redact(input);
        assert!(!out.contains(secret), "{secret:?} survived in {out:?}");
        assert!(out.contains(REDACTED), "nothing was marked in {out:?}");
    }

    #[test]
    fn github_tokens() {
        let token = "ghp_0123456789abcdefghijABCDEFGHIJ012345";
        assert_redacted(&format!("cloning with {token} now"), token);
        let pat = "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz";
        assert_redacted(&format!("token: {pat}"), pat);
    }

    #[test]
    fn bearer_headers_and_jwts() {
        assert_redacted("Authorization: Bearer abcdefghijklmnop", "abcdefghijklmnop");
        let jwt = "eyJhbGciOiJFZERTQSJ9.eyJhdWQiOiJwdHkifQ.c2lnbmF0dXJl";
        assert_redacted(&format!("sent {jwt}"), jwt);
    }

    #[test]
    fn hetzner_shaped_tokens_but_not_hex_digests() {
        let token = "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1eF3hJ5kL7nP9rS1uV3xY5zA7cD9fG1hJ3k";
        assert_eq!(token.len(), 64);
        assert_redacted(&format!("HCLOUD {token}"), token);
        let digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        assert_eq!(
            redact(&format!("fingerprint {digest}")),
            format!("fingerprint {digest}")
        );
    }

    #[test]
    fn private_key_blocks() {
        let block =
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA\n-----END PRIVATE KEY-----";
        assert_redacted(&format!("key:\n{block}\nend"), "MC4CAQAwBQYDK2VwBCIEIA");
        // A truncated block (cut off mid-log) is still removed.
        assert_redacted("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB", "MHcCAQEEIB");
    }

    #[test]
    fn passwords_in_urls_and_key_value_pairs() {
        assert_redacted(
            "git clone https://x-access-token:s3cr3tvalue@github.com/a/b",
            "s3cr3tvalue",
        );
        assert_eq!(
            redact("https://oauth2:tok@gitlab.com/a"),
            "https://[redacted]@gitlab.com/a"
        );
        assert_eq!(redact("password=hunter22 next"), "password=[redacted] next");
        assert_eq!(
            redact(r#"{"token": "abc123def"}"#),
            r#"{"token": "[redacted]"}"#
        );
    }

    #[test]
    fn ordinary_text_is_untouched_and_not_copied() {
        let line = "workspace ws-1 created in fsn1 (cpx21), 3 steps, https://github.com/a/b";
        assert!(matches!(redact(line), Cow::Borrowed(_)));
    }

    #[test]
    fn registered_secrets_of_any_shape() {
        let secret = Secret::new("plain words that are secret");
        assert_redacted("the value is plain words that are secret!", secret.expose());
        assert_eq!(format!("{secret} {secret:?}"), "[redacted] [redacted]");
        forget_secret(secret.expose());
        assert!(redact("plain words that are secret").contains("plain words"));
    }

    #[test]
    fn json_is_redacted_in_its_strings_and_stays_json() {
        let secret = Secret::new("json-secret-7788");
        let mut value = serde_json::json!({
            "text": "the key is json-secret-7788",
            "nested": [{"json-secret-7788": "token=abcdef123456"}],
            "count": 3,
        });
        redact_json(&mut value);
        assert_eq!(
            value,
            serde_json::json!({
                "text": "the key is [redacted]",
                "nested": [{"[redacted]": "token=[redacted]"}],
                "count": 3,
            })
        );
        forget_secret(secret.expose());
    }

    #[test]
    fn short_registered_values_are_ignored() {
        register_secret("abc");
        assert_eq!(redact("abc abc"), "abc abc");
    }

    proptest! {
        #[test]
        fn a_registered_secret_never_survives(
            // A fixed prefix keeps the random part from overlapping the replacement marker.
            secret in "S3CRET-[a-z0-9]{1,30}",
            before in "[ -~]{0,60}",
            after in "[ -~]{0,60}",
        ) {
            register_secret(&secret);
            let text = format!("{before}{secret}{after}");
            let out = redact(&text);
            prop_assert!(!out.contains(&secret));
            forget_secret(&secret);
        }

        #[test]
        fn redaction_never_panics(text in "\\PC{0,200}") {
            let _ = redact(&text);
        }
    }
}
