//! The ports a repository declares for forwarding in its dev container configuration —
//! `forwardPorts` in `.devcontainer/devcontainer.json` (or `.devcontainer.json`) — which the
//! desktop forwards without being asked the first time the workspace runs.
//!
//! The file is JSON with comments and trailing commas (the dev container specification's
//! "JSONC"). Only what port forwarding needs is read here: numbers, and `"localhost:3000"`-like
//! strings. A `"db:5432"` entry names another container of a Compose setup, which a workspace
//! without that container cannot reach; it is skipped.

/// Where a repository keeps its dev container configuration, in the order looked at.
pub const CONFIG_PATHS: [&str; 2] = [".devcontainer/devcontainer.json", ".devcontainer.json"];

/// The configuration is read whole up to this size; a bigger one is not a configuration.
pub const MAX_CONFIG_BYTES: u64 = 256 * 1024;

/// The workspace's own ports that `text` (a `devcontainer.json`) asks to forward, in its order,
/// without repeats.
pub fn declared_ports(text: &str) -> Result<Vec<u16>, String> {
    let json = strip_jsonc(text);
    let value: serde_json::Value =
        serde_json::from_str(&json).map_err(|err| format!("not JSON with comments: {err}"))?;
    let Some(list) = value.get("forwardPorts") else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| "forwardPorts is not a list".to_owned())?;
    let mut ports = Vec::new();
    for item in list {
        let port = match item {
            serde_json::Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            serde_json::Value::String(s) => match s.rsplit_once(':') {
                Some(("localhost" | "127.0.0.1" | "0.0.0.0", port)) => port.parse().ok(),
                Some(_) => None,
                None => s.parse().ok(),
            },
            _ => None,
        };
        if let Some(port) = port.filter(|p| *p != 0)
            && !ports.contains(&port)
        {
            ports.push(port);
        }
    }
    Ok(ports)
}

/// `text` without comments (`//` to the end of the line, `/* … */`) and without commas that end
/// a list or an object, strings untouched.
fn strip_jsonc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push(c);
                while let Some(c) = chars.next() {
                    out.push(c);
                    match c {
                        '\\' => {
                            if let Some(escaped) = chars.next() {
                                out.push(escaped);
                            }
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
                out.push(' ');
            }
            '}' | ']' => {
                // A comma before the closing bracket (with only white space between) goes.
                let kept = out.trim_end().len();
                if out[..kept].ends_with(',') {
                    out.truncate(kept - 1);
                }
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ports_from_a_commented_configuration() {
        let text = r#"// The app's dev container
        {
            "name": "web // not a comment",
            /* the ports */
            "forwardPorts": [3000, "5173", "localhost:8080", "db:5432", 3000, 0, 70000, "x",],
            "portsAttributes": { "3000": { "label": "app" }, },
        }"#;
        assert_eq!(declared_ports(text), Ok(vec![3000, 5173, 8080]));
    }

    #[test]
    fn no_ports_and_broken_files() {
        assert_eq!(declared_ports("{}"), Ok(vec![]));
        assert_eq!(declared_ports(r#"{"image": "debian"}"#), Ok(vec![]));
        assert!(declared_ports(r#"{"forwardPorts": 3000}"#).is_err());
        assert!(declared_ports("{ nope").is_err());
        assert!(declared_ports("").is_err());
    }

    #[test]
    fn strings_keep_what_looks_like_comments_and_commas() {
        let text = r#"{"a": "x // y /* z */ ,]", "b": ["\"//\"",]}"#;
        let value: serde_json::Value = serde_json::from_str(&strip_jsonc(text)).expect("JSON");
        assert_eq!(value["a"], "x // y /* z */ ,]");
        assert_eq!(value["b"][0], "\"//\"");
    }

    proptest! {
        #[test]
        fn any_text_is_read_without_panicking(text in "\\PC{0,300}") {
            let _ = declared_ports(&text);
        }

        #[test]
        fn plain_json_is_left_as_it_means(ports in proptest::collection::vec(1u16.., 0..8)) {
            let text = serde_json::json!({ "forwardPorts": ports }).to_string();
            let mut unique = Vec::new();
            for port in &ports {
                if !unique.contains(port) {
                    unique.push(*port);
                }
            }
            prop_assert_eq!(declared_ports(&text), Ok(unique));
        }
    }
}
