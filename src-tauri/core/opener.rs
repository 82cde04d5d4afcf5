//! Opening web addresses in the user's browser: terminal hyperlinks now, sign-in pages later.
//!
//! Only `http` and `https` addresses are ever opened; anything else (a `file:` path, a
//! `javascript:` URL, a custom scheme a program printed) is refused with a typed error. A
//! `browser` program (`SAM_BROWSER`, read into [`Config::browser`](crate::config::Config::browser))
//! opens addresses instead of the desktop's default browser: tests use it to observe what would
//! be opened, and it suits machines without a desktop. The program gets the address as its only
//! argument, without a shell.

use std::ffi::{OsStr, OsString};
use std::process::{Command, Stdio};

use crate::config::vars;
use crate::error::{ErrorCategory, SamError};

/// Whether `uri` may be opened: only `http` and `https` ever are, and never with control
/// characters in them.
pub fn is_openable_link(uri: &str) -> bool {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return false;
    };
    (scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http"))
        && !rest.is_empty()
        && !uri.chars().any(char::is_control)
}

/// How the browser is started.
#[derive(Debug, Clone, Copy, Default)]
pub struct Browser<'a> {
    /// The program that opens addresses (`SAM_BROWSER`); the desktop's default when `None`.
    pub program: Option<&'a OsStr>,
    /// Variables of SAM's own environment the browser must not inherit (tokens, secrets): see
    /// [`Config::inherited_secrets`](crate::config::Config::inherited_secrets).
    pub withheld: &'a [OsString],
}

/// The schemes of the editors' remote links (`crate::editors`), which only SAM itself makes.
const EDITOR_SCHEMES: [&str; 4] = ["vscode", "cursor", "jetbrains-gateway", "zed"];

/// Whether `uri` is an editor's link SAM may hand the desktop.
pub fn is_editor_link(uri: &str) -> bool {
    uri.split_once("://").is_some_and(|(scheme, rest)| {
        EDITOR_SCHEMES.contains(&scheme) && !rest.is_empty() && !uri.chars().any(char::is_control)
    })
}

/// Opens an editor's link (made by [`crate::editors::Editor::url`]) with the desktop's handler
/// for its scheme, or with `browser.program` when set (tests see the exact link).
pub fn open_editor_link(url: &str, browser: Browser<'_>) -> Result<(), SamError> {
    if !is_editor_link(url) {
        return Err(SamError::internal(
            "SAM made an editor link it does not open.",
            &shorten(url),
        ));
    }
    launch(url, browser)
}

/// Opens `url` in `browser` without waiting for it. The browser never inherits a secret from
/// SAM's environment.
pub fn open_url(url: &str, browser: Browser<'_>) -> Result<(), SamError> {
    if !is_openable_link(url) {
        return Err(SamError::new(
            ErrorCategory::InvalidInput,
            format!(
                "SAM opens only web addresses (http or https), not {:?}.",
                shorten(url)
            ),
            "Copy the address and open it yourself if you trust it.",
        ));
    }
    launch(url, browser)
}

/// Starts the program that opens `url`, detached.
fn launch(url: &str, browser: Browser<'_>) -> Result<(), SamError> {
    let failed = |err: &dyn std::fmt::Display, browser: &str| {
        SamError::new(
            ErrorCategory::Configuration,
            format!("The browser ({browser}) could not be started: {err}."),
            format!(
                "Install a web browser, or set {} to the program that opens addresses.",
                vars::BROWSER
            ),
        )
    };
    let candidates = match browser.program.filter(|program| !program.is_empty()) {
        Some(program) => {
            let mut command = Command::new(program);
            command.arg(url);
            vec![(program.to_string_lossy().into_owned(), command)]
        }
        // The desktop's ways of opening an address, in the order the `open` crate tries them.
        None => open::commands(url)
            .into_iter()
            .map(|command| ("the default browser".to_owned(), command))
            .collect(),
    };
    let mut last = None;
    for (name, mut command) in candidates {
        for variable in browser.withheld {
            command.env_remove(variable);
        }
        // Its own process group: a Ctrl-C to SAM does not reach the browser.
        crate::platform::detach(&mut command);
        match command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(mut child) => {
                // Reaped in the background, so a browser that outlives the app never lingers.
                std::thread::spawn(move || {
                    let _ = child.wait();
                });
                return Ok(());
            }
            Err(err) => last = Some(failed(&err, &name)),
        }
    }
    Err(last.unwrap_or_else(|| failed(&"no way to open addresses is known", "the default browser")))
}

/// At most 80 characters of `text`, for messages.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_links_may_be_opened() {
        assert!(is_openable_link("https://example.com/a?b"));
        assert!(is_openable_link("HTTP://example.com"));
        for bad in [
            "file:///etc/passwd",
            "javascript:alert(1)",
            "ssh://host",
            "https://a\nb",
            "https://",
            "",
        ] {
            assert!(!is_openable_link(bad), "{bad}");
        }
    }

    #[test]
    fn editor_links_are_only_the_editors_schemes() {
        assert!(is_editor_link(
            "vscode://vscode-remote/ssh-remote+sam-a/workspace"
        ));
        assert!(is_editor_link("zed://ssh/dev@sam-a/workspace"));
        for bad in [
            "https://example.com",
            "file:///x",
            "vscode://a\nb",
            "vscode://",
            "code://x",
        ] {
            assert!(!is_editor_link(bad), "{bad}");
        }
    }

    #[test]
    fn a_refused_address_is_an_invalid_input_naming_it() {
        let err = open_url("file:///etc/passwd", Browser::default()).expect_err("refused");
        assert_eq!(err.category, ErrorCategory::InvalidInput);
        assert!(
            err.message.contains("file:///etc/passwd"),
            "{}",
            err.message
        );
    }
}
