//! Git repository URLs: what the user typed, checked before anything starts.
//!
//! Accepted: `https://` (and `http://`) URLs with a host and a path, and `file://` URLs of local
//! repositories. SSH URLs are refused — a workspace has no SSH key — with the https form to use
//! instead when the host is one we know.

use crate::error::SamError;

/// A validated repository URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoUrl {
    url: String,
    name: String,
}

const KNOWN_HOSTS: [&str; 3] = ["github.com", "gitlab.com", "bitbucket.org"];

impl RepoUrl {
    /// Checks `input` and derives a default workspace name from it.
    pub fn parse(input: &str) -> Result<Self, SamError> {
        let url = input.trim();
        let invalid = |why: &str| {
            SamError::invalid_input(
                format!("{url:?} is not a repository URL SAM can clone: {why}."),
                "Use an https URL such as https://github.com/owner/repo.git, or file:///path/to/repo.",
            )
        };
        if url.is_empty() {
            return Err(invalid("it is empty"));
        }
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("it contains spaces or control characters"));
        }
        if let Some(https) = ssh_to_https(url) {
            return Err(SamError::invalid_input(
                format!("{url:?} is an SSH URL; workspaces have no SSH key to clone with."),
                match https {
                    Some(https) => format!("Use the https form instead: {https}"),
                    None => "Use the repository's https URL instead.".to_owned(),
                },
            ));
        }
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| invalid("it has no scheme such as https://"))?;
        let path = match scheme.to_ascii_lowercase().as_str() {
            "https" | "http" => {
                let (host, path) = rest
                    .split_once('/')
                    .ok_or_else(|| invalid("it has no repository path"))?;
                if host.is_empty()
                    || host.contains('@') && host.split('@').next().is_some_and(|u| u.contains(':'))
                {
                    return Err(invalid("put credentials in SAM's settings, not in the URL"));
                }
                if path.trim_matches('/').is_empty() {
                    return Err(invalid("it has no repository path"));
                }
                path
            }
            "file" => {
                if !rest.starts_with('/') {
                    return Err(invalid("file URLs need an absolute path (file:///…)"));
                }
                rest
            }
            other => return Err(invalid(&format!("the scheme {other}:// is not supported"))),
        };
        let last = path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default();
        let name = last.strip_suffix(".git").unwrap_or(last);
        if name.is_empty() || name == "." || name == ".." {
            return Err(invalid("it does not end in a repository name"));
        }
        Ok(Self {
            url: url.to_owned(),
            name: name.to_owned(),
        })
    }

    /// The URL as given (trimmed).
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The repository's name, the default workspace name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// For an http(s) URL, the host (with its port) and the repository path without a trailing
    /// `.git`: what a git credential is for (`github.com`, `owner/repo`).
    pub fn host_and_path(&self) -> Option<(String, String)> {
        let (scheme, rest) = self.url.split_once("://")?;
        if !matches!(scheme.to_ascii_lowercase().as_str(), "https" | "http") {
            return None;
        }
        let (host, path) = rest.split_once('/')?;
        let host = host.rsplit('@').next().unwrap_or(host).to_ascii_lowercase();
        let path = path
            .split(['?', '#'])
            .next()
            .unwrap_or(path)
            .trim_matches('/');
        let path = path.strip_suffix(".git").unwrap_or(path);
        Some((host, path.to_owned()))
    }
}

/// `Some(https form or None)` when `url` is an SSH URL.
fn ssh_to_https(url: &str) -> Option<Option<String>> {
    let (host, path) = if let Some(rest) = url.strip_prefix("ssh://") {
        let rest = rest.split_once('@').map_or(rest, |(_, after)| after);
        let (host, path) = rest.split_once('/')?;
        (host.split(':').next().unwrap_or(host), path)
    } else if !url.contains("://") && url.contains('@') && url.contains(':') {
        // scp-like: git@github.com:owner/repo.git
        let (_, rest) = url.split_once('@')?;
        rest.split_once(':')?
    } else {
        return None;
    };
    Some(
        KNOWN_HOSTS
            .contains(&host)
            .then(|| format!("https://{host}/{}", path.trim_start_matches('/'))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCategory;

    #[test]
    fn accepted_urls_and_their_names() {
        for (url, name) in [
            ("https://github.com/owner/repo.git", "repo"),
            ("https://gitlab.com/group/sub/project", "project"),
            ("  https://example.com/r/  ", "r"),
            ("file:///home/me/code/thing", "thing"),
        ] {
            assert_eq!(RepoUrl::parse(url).expect(url).name(), name);
        }
    }

    #[test]
    fn ssh_urls_of_known_hosts_get_the_https_form() {
        let err = RepoUrl::parse("git@github.com:owner/repo.git").expect_err("ssh");
        assert_eq!(
            err.next_step,
            "Use the https form instead: https://github.com/owner/repo.git"
        );
        let err = RepoUrl::parse("ssh://git@gitlab.com/group/repo.git").expect_err("ssh");
        assert!(err.next_step.contains("https://gitlab.com/group/repo.git"));
        let err = RepoUrl::parse("git@git.internal:repo.git").expect_err("ssh");
        assert_eq!(err.next_step, "Use the repository's https URL instead.");
    }

    #[test]
    fn bad_input_is_invalid_input_with_a_reason() {
        for url in [
            "",
            "github.com/owner/repo",
            "https://github.com",
            "ftp://x/y",
            "file://relative/x",
            "https://a b/c",
            "https://u:p@host/r",
        ] {
            let err = RepoUrl::parse(url).expect_err(url);
            assert_eq!(err.category, ErrorCategory::InvalidInput, "{url}");
        }
    }
}
