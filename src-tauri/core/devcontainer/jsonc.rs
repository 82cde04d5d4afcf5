//! JSON with comments (`//` to the end of the line, `/* … */`) and trailing commas, as dev
//! container configurations are written, turned into plain JSON: comments become white space
//! (keeping their line breaks, so an error's line number is the file's), and a comma before a
//! closing bracket goes. Strings are untouched.

/// `text` as plain JSON.
pub fn strip(text: &str) -> String {
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
                out.push(' ');
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    if c == '\n' {
                        out.push('\n');
                    }
                    last = c;
                }
            }
            '}' | ']' => {
                // A comma before the closing bracket (with only white space between) goes.
                let kept = out.trim_end().len();
                if out[..kept].ends_with(',') {
                    out.replace_range(kept - 1..kept, " ");
                }
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// `text` parsed; the error says where (line and column of the file).
pub fn parse(text: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(&strip(text)).map_err(|err| {
        format!(
            "line {}, column {}: {}",
            err.line(),
            err.column(),
            describe(&err)
        )
    })
}

/// What is wrong, without serde's own position suffix.
fn describe(err: &serde_json::Error) -> String {
    let text = err.to_string();
    text.split(" at line ").next().unwrap_or(&text).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn strings_keep_what_looks_like_comments_and_commas() {
        let text = r#"{"a": "x // y /* z */ ,]", "b": ["\"//\"",]}"#;
        let value = parse(text).expect("JSON");
        assert_eq!(value["a"], "x // y /* z */ ,]");
        assert_eq!(value["b"][0], "\"//\"");
    }

    #[test]
    fn errors_name_the_files_line() {
        let text = "{\n  /* two\n lines */\n  \"a\": 1,\n  \"b\": nope\n}";
        let err = parse(text).expect_err("broken");
        assert!(err.starts_with("line 5, column"), "{err}");
    }

    proptest! {
        #[test]
        fn any_text_is_stripped_without_panicking(text in "\\PC{0,300}") {
            let _ = parse(&text);
        }

        #[test]
        fn plain_json_means_the_same(value in proptest::collection::btree_map("[a-z/*,]{0,6}", "[ -~]{0,8}", 0..6)) {
            let text = serde_json::to_string(&value).expect("JSON");
            let parsed = parse(&text).expect("plain JSON parses");
            prop_assert_eq!(parsed, serde_json::to_value(&value).expect("value"));
        }
    }
}
