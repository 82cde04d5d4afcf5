//! The one check of an agent download's address and checksum, shared by the runtime overrides
//! (`SAM_AGENT_URL`, `SAM_AGENT_SHA256`), the cloud-init builder and the build script (which
//! includes this file by path, so it uses nothing but `std`).
//!
//! Both values end up in a cloud-init script and are compared by `boot.sh`, so each check
//! returns the canonical form: the scheme in lower case (`HTTPS://` is the same address), the
//! checksum in lower-case hex as `sha256sum` prints it.

use std::fmt;

/// Why a value is not a usable agent download address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlProblem {
    /// Not `http://` or `https://`.
    Scheme,
    /// Nothing where the host belongs.
    NoHost,
    /// Whitespace, quotes, backslashes or control characters, which a boot script must not meet.
    UnsafeCharacter,
}

/// Why a value is not a SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sha256Problem {
    /// Not 64 characters long.
    Length(usize),
    /// A character that is not a hex digit.
    NotHex,
}

impl fmt::Display for UrlProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Scheme => "it does not start with http:// or https://",
            Self::NoHost => "it names no host",
            Self::UnsafeCharacter => {
                "it contains spaces, quotes, backslashes or control characters"
            }
        })
    }
}

impl fmt::Display for Sha256Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Length(len) => write!(f, "it has {len} characters, not 64"),
            Self::NotHex => f.write_str("it has characters other than the hex digits 0-9 and a-f"),
        }
    }
}

/// `url` as an agent download address, with its scheme in lower case.
pub fn agent_url(url: &str) -> Result<String, UrlProblem> {
    let (scheme, rest) = url.split_once("://").ok_or(UrlProblem::Scheme)?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(UrlProblem::Scheme);
    }
    let safe = url
        .chars()
        .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '\'' | '`' | '\\'));
    if !safe {
        return Err(UrlProblem::UnsafeCharacter);
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() {
        return Err(UrlProblem::NoHost);
    }
    Ok(format!("{scheme}://{rest}"))
}

/// `value` as a SHA-256 in lower-case hex.
pub fn sha256(value: &str) -> Result<String, Sha256Problem> {
    if value.len() != 64 {
        return Err(Sha256Problem::Length(value.chars().count()));
    }
    if !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Sha256Problem::NotHex);
    }
    Ok(value.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_is_case_blind_and_comes_back_in_lower_case() {
        assert_eq!(
            agent_url("HTTPS://example.com/a?b=c").as_deref(),
            Ok("https://example.com/a?b=c")
        );
        assert_eq!(
            agent_url("http://192.0.2.10:8000/sam-agent").as_deref(),
            Ok("http://192.0.2.10:8000/sam-agent")
        );
    }

    #[test]
    fn addresses_a_boot_script_must_not_meet_are_refused() {
        for (url, problem) in [
            ("ftp://example.com/a", UrlProblem::Scheme),
            ("example.com/a", UrlProblem::Scheme),
            ("file:///tmp/a", UrlProblem::Scheme),
            ("https://", UrlProblem::NoHost),
            ("http:///a", UrlProblem::NoHost),
            ("https://example.com/a b", UrlProblem::UnsafeCharacter),
            ("https://example.com/a'b", UrlProblem::UnsafeCharacter),
            ("https://example.com/\nruncmd", UrlProblem::UnsafeCharacter),
            ("https://exämple.com/a", UrlProblem::UnsafeCharacter),
        ] {
            assert_eq!(agent_url(url), Err(problem), "{url:?}");
        }
    }

    #[test]
    fn checksums_are_64_hex_digits_in_lower_case() {
        let sha = "AB".repeat(32);
        assert_eq!(sha256(&sha), Ok("ab".repeat(32)));
        assert_eq!(sha256("abc"), Err(Sha256Problem::Length(3)));
        assert_eq!(sha256(&"g".repeat(64)), Err(Sha256Problem::NotHex));
        assert_eq!(sha256(&"é".repeat(32)), Err(Sha256Problem::NotHex));
    }
}
