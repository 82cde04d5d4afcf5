//! Hetzner's label selectors: `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`,
//! joined by commas (AND). A selector that does not parse is the client's error
//! (`invalid_input`), as on the real API.

use std::collections::BTreeMap;

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Present(String),
    Absent(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

/// A parsed label selector.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector(Vec<Requirement>);

impl Selector {
    /// Parses `text`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for part in split_top_level(text)? {
            let part = part.trim();
            if part.is_empty() {
                return Err(format!("empty requirement in {text:?}"));
            }
            requirements.push(requirement(part)?);
        }
        Ok(Self(requirements))
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|req| match req {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::Present(k) => labels.contains_key(k),
            Requirement::Absent(k) => !labels.contains_key(k),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
        })
    }
}

/// Splits on commas outside parentheses.
fn split_top_level(text: &str) -> Result<Vec<&str>, String> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        if !(0..=1).contains(&depth) {
            return Err(format!("unbalanced parentheses in {text:?}"));
        }
    }
    if depth != 0 {
        return Err(format!("unbalanced parentheses in {text:?}"));
    }
    parts.push(&text[start..]);
    Ok(parts)
}

fn requirement(part: &str) -> Result<Requirement, String> {
    for (word, set) in [(" notin ", false), (" in ", true)] {
        if let Some((key, rest)) = part.split_once(word) {
            let key = key_of(key)?;
            let rest = rest.trim();
            let inner = rest
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(|| format!("expected (values) in {part:?}"))?;
            let values = inner
                .split(',')
                .map(|v| value_of(v.trim()))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(if set {
                Requirement::In(key, values)
            } else {
                Requirement::NotIn(key, values)
            });
        }
    }
    if let Some((key, value)) = part.split_once("!=") {
        return Ok(Requirement::NotEquals(
            key_of(key)?,
            value_of(value.trim())?,
        ));
    }
    if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
        return Ok(Requirement::Equals(key_of(key)?, value_of(value.trim())?));
    }
    if let Some(key) = part.strip_prefix('!') {
        return Ok(Requirement::Absent(key_of(key)?));
    }
    Ok(Requirement::Present(key_of(part)?))
}

fn key_of(text: &str) -> Result<String, String> {
    let key = text.trim();
    if crate::labels::valid_key(key) {
        Ok(key.to_owned())
    } else {
        Err(format!("{key:?} is not a label key"))
    }
}

fn value_of(text: &str) -> Result<String, String> {
    if crate::labels::valid_value(text) {
        Ok(text.to_owned())
    } else {
        Err(format!("{text:?} is not a label value"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn every_form_of_the_grammar_matches_as_documented() {
        let l = labels(&[("sam-managed", "true"), ("env", "prod"), ("tier", "web")]);
        for (selector, expected) in [
            ("env=prod", true),
            ("env==prod", true),
            ("env!=prod", false),
            ("env!=dev", true),
            ("missing!=x", true),
            ("sam-managed", true),
            ("!sam-managed", false),
            ("!missing", true),
            ("tier in (web,db)", true),
            ("tier in (db)", false),
            ("tier notin (db)", true),
            ("missing notin (db)", true),
            ("env=prod,tier=db", false),
            ("env=prod,tier in (db, web),!gone", true),
        ] {
            let parsed = Selector::parse(selector).expect(selector);
            assert_eq!(parsed.matches(&l), expected, "{selector}");
        }
    }

    #[test]
    fn malformed_selectors_are_errors() {
        for bad in [
            "",
            "env=prod,",
            "tier in web",
            "tier in (a",
            "a b=c",
            "=x",
            "k=v v",
        ] {
            assert!(Selector::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    proptest! {
        /// A selector built from a label set's own pairs always matches it, and negating one
        /// requirement never does.
        #[test]
        fn a_set_matches_its_own_equalities(
            pairs in proptest::collection::btree_map("[a-z][a-z0-9-]{0,8}[a-z0-9]", "[a-z0-9]{1,6}", 1..5)
        ) {
            let text: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let selector = Selector::parse(&text.join(",")).expect("parses");
            prop_assert!(selector.matches(&pairs));
            let (k, v) = pairs.iter().next().expect("one pair");
            let negated = Selector::parse(&format!("{k}!={v}")).expect("parses");
            prop_assert!(!negated.matches(&pairs));
        }

        #[test]
        fn parsing_never_panics(text in ".{0,40}") {
            let _ = Selector::parse(&text);
        }
    }
}
