//! The repository picker's data: the signed-in user's repositories (`GET /user/repos`, every
//! page GitHub's `Link` header names, up to [`MAX_PAGES`]) and a repository's branches.
//! Pagination links are followed only on the API's own origin, so the token never goes
//! elsewhere.

use serde::{Deserialize, Serialize};

use super::{GitHubApp, failed};
use crate::error::SamError;
use crate::redact::Secret;

/// Pages of 100 read at most (1000 repositories).
pub const MAX_PAGES: usize = 10;

/// A repository the user can pick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct GitHubRepo {
    /// `owner/name`.
    pub full_name: String,
    /// Private (or internal) repositories are marked in the picker.
    pub private: bool,
    /// The https address to clone.
    pub clone_url: String,
    /// The branch a clone checks out.
    pub default_branch: String,
    /// GitHub's one-line description.
    pub description: Option<String>,
}

/// One branch in GitHub's answer.
#[derive(Debug, Deserialize)]
struct Branch {
    name: String,
}

/// The `rel="next"` address in a `Link` header.
pub fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (url, params) = part.trim().split_once(';')?;
        let is_next = params
            .split(';')
            .any(|param| param.trim().replace(' ', "") == "rel=\"next\"");
        let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| url.to_owned())
    })
}

/// Whether `name` is an `owner/repository` GitHub would accept.
pub fn is_full_name(name: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty()
            && p.len() <= 100
            && p != "."
            && p != ".."
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    name.split_once('/')
        .is_some_and(|(owner, repo)| part(owner) && part(repo))
}

impl GitHubApp {
    /// Every page of `path` (a JSON array per page), following `Link: rel="next"` on the API's
    /// origin; whether more pages were left unread.
    async fn all_pages<T: serde::de::DeserializeOwned>(
        &self,
        token: &Secret,
        path: &str,
    ) -> Result<(Vec<T>, bool), SamError> {
        let origin = self.api.trim_end_matches('/').to_owned();
        let mut items = Vec::new();
        let mut next = Some(path.to_owned());
        for _ in 0..MAX_PAGES {
            let Some(url) = next.take() else {
                return Ok((items, false));
            };
            let response = self.api_get(token, &url).await?;
            next = response
                .headers()
                .get("link")
                .and_then(|value| value.to_str().ok())
                .and_then(next_link)
                .filter(|url| url.starts_with(&format!("{origin}/")));
            let page: Vec<T> = response
                .json()
                .await
                .map_err(|err| failed("Reading GitHub's list", err))?;
            items.extend(page);
        }
        Ok((items, next.is_some()))
    }

    /// The repositories the token's user can reach, most recently pushed first; whether GitHub
    /// had more than SAM reads.
    pub async fn repositories(&self, token: &Secret) -> Result<(Vec<GitHubRepo>, bool), SamError> {
        self.all_pages(
            token,
            "/user/repos?per_page=100&sort=pushed&affiliation=owner,collaborator,organization_member",
        )
        .await
    }

    /// The branch names of `full_name` (`owner/repository`).
    pub async fn branches(&self, token: &Secret, full_name: &str) -> Result<Vec<String>, SamError> {
        if !is_full_name(full_name) {
            return Err(SamError::invalid_input(
                format!("{full_name:?} is not a GitHub repository name."),
                "Give it as owner/repository.",
            ));
        }
        let (branches, _) = self
            .all_pages::<Branch>(token, &format!("/repos/{full_name}/branches?per_page=100"))
            .await?;
        Ok(branches.into_iter().map(|b| b.name).collect())
    }
}

/// The repositories matching `query` (words found, in any case, in the name or description).
pub fn matching<'a>(repos: &'a [GitHubRepo], query: &str) -> Vec<&'a GitHubRepo> {
    let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    repos
        .iter()
        .filter(|repo| {
            let text = format!(
                "{} {}",
                repo.full_name.to_lowercase(),
                repo.description
                    .as_deref()
                    .unwrap_or_default()
                    .to_lowercase()
            );
            words.iter().all(|word| text.contains(word.as_str()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_next_link_is_read_from_githubs_header() {
        let header = "<https://api.github.com/user/repos?page=2>; rel=\"next\", \
                      <https://api.github.com/user/repos?page=5>; rel=\"last\"";
        assert_eq!(
            next_link(header).as_deref(),
            Some("https://api.github.com/user/repos?page=2")
        );
        assert_eq!(
            next_link("<https://api.github.com/x?page=1>; rel=\"prev\""),
            None
        );
        assert_eq!(next_link(""), None);
    }

    #[test]
    fn full_names_are_owner_slash_repository() {
        assert!(is_full_name("octo-org/hello.world_2"));
        for bad in ["octo", "a/b/c", "/b", "a/", "a/..", "a b/c", "a/b?x=1"] {
            assert!(!is_full_name(bad), "{bad}");
        }
    }

    #[test]
    fn search_matches_every_word_in_name_or_description() {
        let repo = |name: &str, description: Option<&str>| GitHubRepo {
            full_name: name.into(),
            private: false,
            clone_url: format!("https://github.com/{name}.git"),
            default_branch: "main".into(),
            description: description.map(str::to_owned),
        };
        let repos = [
            repo("octo/api-server", Some("The REST API")),
            repo("octo/website", None),
        ];
        let names = |q: &str| {
            matching(&repos, q)
                .iter()
                .map(|r| r.full_name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(""), ["octo/api-server", "octo/website"]);
        assert_eq!(names("API rest"), ["octo/api-server"]);
        assert_eq!(names("web"), ["octo/website"]);
        assert!(names("nothing").is_empty());
    }

    proptest! {
        #[test]
        fn link_parsing_never_panics(header in ".{0,300}") {
            let _ = next_link(&header);
        }
    }
}
