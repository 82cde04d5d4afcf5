//! Hetzner's label rules: a key is an optional DNS-subdomain prefix and `/`, then a name of at
//! most 63 characters (alphanumeric at both ends, `-_.` inside); a value follows the name rule
//! or is empty. The prefix `hetzner.cloud/` is reserved.

use std::collections::BTreeMap;

fn valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Whether `key` is a valid label key.
pub fn valid_key(key: &str) -> bool {
    match key.rsplit_once('/') {
        Some((prefix, name)) => {
            !prefix.is_empty()
                && prefix.len() <= 253
                && prefix != "hetzner.cloud"
                && prefix.split('.').all(valid_name)
                && valid_name(name)
        }
        None => valid_name(key),
    }
}

/// Whether `value` is a valid label value.
pub fn valid_value(value: &str) -> bool {
    value.is_empty() || valid_name(value)
}

/// The first invalid label, described, if any.
pub fn check(labels: &BTreeMap<String, String>) -> Result<(), String> {
    for (key, value) in labels {
        if !valid_key(key) {
            return Err(format!("label key {key:?} is invalid"));
        }
        if !valid_value(value) {
            return Err(format!("label value {value:?} of {key:?} is invalid"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_follow_the_documented_rules() {
        for good in ["sam-managed", "a", "example.com/role", "x_y.z"] {
            assert!(valid_key(good), "{good}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "hetzner.cloud/x",
            "/x",
            "a/b/",
            &"x".repeat(64),
        ] {
            assert!(!valid_key(bad), "{bad}");
        }
        assert!(valid_value(""));
        assert!(!valid_value("a b"));
    }
}
