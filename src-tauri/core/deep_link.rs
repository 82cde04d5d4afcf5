//! `sam://` links, which the desktop hands to SAM (a second launch forwards them to the running
//! app): the end of a browser sign-in, and "Open in SAM" badges.
//!
//! - `sam://oauth/callback?code=…&state=…` (or `?error=…&state=…`) — GitHub sending the browser
//!   back ([`crate::github`] checks the `state`).
//! - `sam://open?repo=<https URL>[&branch=<name>]` — prefills the create dialog. Nothing runs
//!   until the user presses Create; only https repositories are accepted.
//!
//! Anything else is refused with a message saying what SAM understands.

use url::Url;

use crate::error::SamError;
use crate::repo::RepoUrl;

/// The longest link SAM reads.
const MAX_LEN: usize = 4096;

/// What a `sam://` link asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// GitHub's answer to a browser sign-in.
    SignIn {
        /// The sign-in it answers.
        state: String,
        /// The code to trade for tokens, or GitHub's error and its description.
        outcome: Result<String, (String, Option<String>)>,
    },
    /// Open the create dialog with this repository (and branch).
    Open {
        /// An https repository address.
        repo: String,
        /// The branch, if the link names one.
        branch: Option<String>,
    },
}

fn refused(why: impl std::fmt::Display) -> SamError {
    SamError::invalid_input(
        format!("SAM could not follow this sam:// link: {why}."),
        "SAM understands sam://open?repo=<https address of a git repository> (optionally \
         &branch=<name>). Check the link where you found it.",
    )
}

/// Reads a `sam://` link.
pub fn parse(text: &str) -> Result<Link, SamError> {
    if text.len() > MAX_LEN {
        return Err(refused(format_args!(
            "it is longer than {MAX_LEN} characters"
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(refused("it contains control characters"));
    }
    let url =
        Url::parse(text.trim()).map_err(|err| refused(format_args!("it is not a link ({err})")))?;
    if url.scheme() != "sam" {
        return Err(refused(format_args!(
            "it is a {}: link, not sam:",
            url.scheme()
        )));
    }
    let query = |name: &str| {
        let mut values = url.query_pairs().filter(|(key, _)| key == name);
        match (values.next(), values.next()) {
            (Some(_), Some(_)) => Err(refused(format_args!("it gives {name} twice"))),
            (value, _) => Ok(value.map(|(_, v)| v.into_owned())),
        }
    };
    match (url.host_str(), url.path().trim_end_matches('/')) {
        (Some("oauth"), "/callback") => {
            let state =
                query("state")?.ok_or_else(|| refused("the sign-in answer has no state"))?;
            let outcome = match (query("code")?, query("error")?) {
                (Some(code), None) if !code.is_empty() => Ok(code),
                (None, Some(error)) => Err((error, query("error_description")?)),
                _ => {
                    return Err(refused(
                        "the sign-in answer has neither a code nor an error",
                    ));
                }
            };
            Ok(Link::SignIn { state, outcome })
        }
        (Some("open"), "") => {
            let repo = query("repo")?.ok_or_else(|| refused("it names no repository (repo=…)"))?;
            if !repo.starts_with("https://") {
                return Err(refused("the repository must be an https:// address"));
            }
            RepoUrl::parse(&repo).map_err(|err| refused(err.message))?;
            let branch = query("branch")?.filter(|b| !b.is_empty());
            if let Some(branch) = &branch
                && (branch.len() > 255 || branch.starts_with('-') || branch.contains(".."))
            {
                return Err(refused(format_args!("{branch:?} is not a branch name")));
            }
            Ok(Link::Open { repo, branch })
        }
        (host, path) => Err(refused(format_args!(
            "SAM does not know sam://{}{path}",
            host.unwrap_or_default()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_sign_in_callback_carries_its_code_or_its_error() {
        assert_eq!(
            parse("sam://oauth/callback?code=abc&state=xyz").expect("link"),
            Link::SignIn {
                state: "xyz".into(),
                outcome: Ok("abc".into())
            }
        );
        assert_eq!(
            parse("sam://oauth/callback?error=access_denied&error_description=The+user+said+no&state=s")
                .expect("link"),
            Link::SignIn {
                state: "s".into(),
                outcome: Err(("access_denied".into(), Some("The user said no".into())))
            }
        );
        for bad in [
            "sam://oauth/callback?code=abc",
            "sam://oauth/callback?state=s",
            "sam://oauth/callback?code=a&code=b&state=s",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_open_link_prefills_an_https_repository_and_branch() {
        assert_eq!(
            parse("sam://open?repo=https%3A%2F%2Fgithub.com%2Focto%2Fhello.git&branch=dev")
                .expect("link"),
            Link::Open {
                repo: "https://github.com/octo/hello.git".into(),
                branch: Some("dev".into())
            }
        );
        assert_eq!(
            parse("sam://open/?repo=https://gitlab.com/a/b").expect("link"),
            Link::Open {
                repo: "https://gitlab.com/a/b".into(),
                branch: None
            }
        );
    }

    #[test]
    fn unknown_and_malformed_links_say_what_is_wrong() {
        for (link, says) in [
            ("sam://open", "names no repository"),
            ("sam://open?repo=file:///etc", "https://"),
            ("sam://open?repo=ssh://git@github.com/a/b", "https://"),
            (
                "sam://open?repo=https://github.com/a/b&branch=--upload-pack=x",
                "not a branch",
            ),
            ("sam://delete?everything=1", "does not know sam://delete"),
            ("https://github.com", "not sam:"),
            ("sam:", "does not know"),
            ("not a link at all", "not a link"),
            ("sam://open?repo=https://a/b\n", "control characters"),
        ] {
            let err = parse(link).expect_err(link);
            assert!(err.message.contains(says), "{link}: {}", err.message);
            assert!(
                err.next_step.contains("sam://open?repo="),
                "{}",
                err.next_step
            );
        }
    }

    proptest! {
        #[test]
        fn no_link_makes_the_parser_panic(text in "(sam://)?[a-z/?=&%:.]{0,80}") {
            let _ = parse(&text);
        }

        #[test]
        fn an_open_link_with_any_https_repository_round_trips(
            owner in "[a-z][a-z0-9-]{0,20}", name in "[a-z][a-z0-9._-]{0,20}"
        ) {
            let repo = format!("https://github.com/{owner}/{name}");
            let mut link = Url::parse("sam://open").expect("base");
            link.query_pairs_mut().append_pair("repo", &repo);
            if let Ok(Link::Open { repo: parsed, .. }) = parse(link.as_str()) {
                prop_assert_eq!(parsed, repo);
            }
        }
    }
}
