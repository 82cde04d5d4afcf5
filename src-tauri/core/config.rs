//! The process environment, read once at start-up into one typed value that `Core` is opened
//! with. Nothing else in the core reads environment variables for its own behaviour (a Local
//! workspace's shell environment is built from the user's variables in `provider::local`, on
//! purpose): a setting has one name, one parser and one place to look it up.
//!
//! Two kinds of variable live here:
//! - **overrides** a user or a developer may set: where data goes, which agent binary a
//!   server downloads, which Hetzner or GitHub endpoint to talk to, which browser opens links;
//! - **test hooks** ([`TestHooks`]), which exist so that the integration tests can make time
//!   pass quickly or stop an operation at a chosen step. They are documented in one place (here
//!   and `docs/architecture.md`), and none of them is needed in normal use.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::SamError;
use crate::redact::Secret;

/// Every variable SAM reads, by name. The names are the documented interface.
pub mod vars {
    /// Moves data and logs under one folder.
    pub const DATA_DIR: &str = "SAM_DATA_DIR";
    /// The log filter (`tracing` `EnvFilter` syntax), such as `debug` or `info,sam_core=trace`.
    pub const LOG: &str = "SAM_LOG";
    /// The agent binary a Local workspace runs.
    pub const AGENT_BIN: &str = "SAM_AGENT_BIN";
    /// An agent binary for cloud servers to download instead of the release's.
    pub const AGENT_URL: &str = "SAM_AGENT_URL";
    /// The SHA-256 of the binary at [`AGENT_URL`].
    pub const AGENT_SHA256: &str = "SAM_AGENT_SHA256";
    /// The Hetzner Cloud API's address (a test's fake).
    pub const HCLOUD_ENDPOINT: &str = "HCLOUD_ENDPOINT";
    /// A Hetzner API token used instead of the keyring's.
    pub const HCLOUD_TOKEN: &str = "HCLOUD_TOKEN";
    /// GitHub's web address (a test's fake, GitHub Enterprise).
    pub const GITHUB_URL: &str = "SAM_GITHUB_URL";
    /// GitHub's API address.
    pub const GITHUB_API_URL: &str = "SAM_GITHUB_API_URL";
    /// The client id of a GitHub app to sign in as.
    pub const GITHUB_CLIENT_ID: &str = "SAM_GITHUB_CLIENT_ID";
    /// That app's client secret.
    pub const GITHUB_CLIENT_SECRET: &str = "SAM_GITHUB_CLIENT_SECRET";
    /// The program that opens web addresses (the default browser otherwise).
    pub const BROWSER: &str = "SAM_BROWSER";
    /// Test hook: hold every operation before the step of this name, forever.
    pub const FAULT_HOLD_BEFORE_STEP: &str = "SAM_FAULT_HOLD_BEFORE_STEP";
    /// Test hook: an operation's lease, in seconds.
    pub const LEASE_SECS: &str = "SAM_LEASE_SECS";
    /// Test hook: how often the app sweeps the Hetzner account, in seconds (fractions allowed).
    pub const SWEEP_SECS: &str = "SAM_SWEEP_SECS";
    /// Test hook: how often the app checks running workspaces for idleness, in seconds.
    pub const IDLE_TICK_SECS: &str = "SAM_IDLE_TICK_SECS";
}

/// Everything the environment says, parsed. [`Config::default`] is a process with no variables
/// set: the platform's folders, the release's agent, Hetzner's and GitHub's real addresses.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// `SAM_DATA_DIR`: data and logs under this folder instead of the platform's.
    pub data_dir: Option<PathBuf>,
    /// `SAM_LOG`: the log filter.
    pub log_filter: Option<String>,
    /// `SAM_AGENT_BIN`: the agent a Local workspace runs; `sam-agent` beside this executable
    /// when absent.
    pub agent_binary: Option<PathBuf>,
    /// `SAM_AGENT_URL` and `SAM_AGENT_SHA256`, as given; checked when a server is made (see
    /// `agent_release`), so a wrong value is reported where it matters.
    pub agent_override: AgentOverride,
    /// The Hetzner API's address and an environment token.
    pub hetzner: HetznerConfig,
    /// GitHub's addresses and an environment app.
    pub github: GitHubConfig,
    /// `SAM_BROWSER`: the program that opens web addresses.
    pub browser: Option<OsString>,
    /// Hooks for the integration tests.
    pub hooks: TestHooks,
    /// The names of the variables in SAM's environment that look like secrets (`HCLOUD_TOKEN`,
    /// `SAM_GITHUB_CLIENT_SECRET`, any `…_TOKEN`, `…_SECRET…`, `…PASSWORD…`, `…_API_KEY`): the
    /// programs SAM starts on the desktop (the browser) do not inherit them.
    pub inherited_secrets: Vec<OsString>,
}

/// An agent binary of the developer's own, for cloud servers to download.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentOverride {
    /// `SAM_AGENT_URL`, trimmed.
    pub url: Option<String>,
    /// `SAM_AGENT_SHA256`, trimmed.
    pub sha256: Option<String>,
}

/// Where the Hetzner API is, and a token from the environment.
#[derive(Debug, Clone, Default)]
pub struct HetznerConfig {
    /// `HCLOUD_ENDPOINT`; Hetzner's own when absent.
    pub endpoint: Option<String>,
    /// `HCLOUD_TOKEN`: used instead of the keyring's token.
    pub token: Option<Secret>,
}

/// Where GitHub is, and an app from the environment.
#[derive(Debug, Clone, Default)]
pub struct GitHubConfig {
    /// `SAM_GITHUB_URL`; `https://github.com` when absent.
    pub web: Option<String>,
    /// `SAM_GITHUB_API_URL`; `https://api.github.com` when absent.
    pub api: Option<String>,
    /// `SAM_GITHUB_CLIENT_ID`: sign in as this app instead of the user's or the build's.
    pub client_id: Option<String>,
    /// `SAM_GITHUB_CLIENT_SECRET`: that app's secret.
    pub client_secret: Option<Secret>,
}

/// Hooks that let the integration tests make time pass quickly or stop an operation at a chosen
/// step. Each is `None` in normal use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestHooks {
    /// `SAM_FAULT_HOLD_BEFORE_STEP`: every operation holds, forever, before the step of this
    /// name, so a test can kill the process half-way through.
    pub fault_hold_before_step: Option<String>,
    /// `SAM_LEASE_SECS`: an operation's lease, so the next process takes over quickly.
    pub lease: Option<Duration>,
    /// `SAM_SWEEP_SECS`: how often the app sweeps the Hetzner account.
    pub sweep_every: Option<Duration>,
    /// `SAM_IDLE_TICK_SECS`: how often the app checks running workspaces for idleness.
    pub idle_tick: Option<Duration>,
}

impl Config {
    /// Reads this process's environment. Fails with a configuration error naming the variable
    /// when a value cannot be used.
    pub fn from_env() -> Result<Self, SamError> {
        let mut config = Self::from_lookup(|name| std::env::var_os(name))?;
        config.inherited_secrets = std::env::vars_os()
            .map(|(name, _)| name)
            .filter(|name| is_secret_name(&name.to_string_lossy()))
            .collect();
        Ok(config)
    }

    /// Reads the variables through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> Result<Self, SamError> {
        let text = |name: &str| -> Result<Option<String>, SamError> {
            match lookup(name) {
                None => Ok(None),
                Some(value) => value
                    .into_string()
                    .map(|value| Some(value.trim().to_owned()).filter(|value| !value.is_empty()))
                    .map_err(|_| {
                        SamError::configuration(
                            format!("{name} is not valid UTF-8."),
                            format!("Set {name} to a plain text value, or unset it."),
                        )
                    }),
            }
        };
        let secs = |name: &str| -> Result<Option<Duration>, SamError> {
            text(name)?
                .map(|value| {
                    value
                        .parse::<f64>()
                        .ok()
                        .filter(|secs| secs.is_finite() && *secs > 0.0 && *secs < 1e9)
                        .map(Duration::from_secs_f64)
                        .ok_or_else(|| {
                            SamError::configuration(
                                format!("{name} is not a number of seconds: {value:?}."),
                                format!("Set {name} to a positive number such as 2, or unset it."),
                            )
                        })
                })
                .transpose()
        };
        let data_dir = match lookup(vars::DATA_DIR) {
            Some(dir) if dir.is_empty() => {
                return Err(SamError::configuration(
                    format!("{} is set but empty.", vars::DATA_DIR),
                    format!(
                        "Unset {0}, or set it to the folder SAM should keep its data in.",
                        vars::DATA_DIR
                    ),
                ));
            }
            Some(dir) => Some(absolute(PathBuf::from(dir))?),
            None => None,
        };
        Ok(Self {
            data_dir,
            log_filter: text(vars::LOG)?,
            agent_binary: lookup(vars::AGENT_BIN)
                .filter(|path| !path.is_empty())
                .map(PathBuf::from),
            agent_override: AgentOverride {
                url: text(vars::AGENT_URL)?,
                sha256: text(vars::AGENT_SHA256)?,
            },
            hetzner: HetznerConfig {
                endpoint: text(vars::HCLOUD_ENDPOINT)?,
                token: text(vars::HCLOUD_TOKEN)?.map(Secret::new),
            },
            github: GitHubConfig {
                web: text(vars::GITHUB_URL)?,
                api: text(vars::GITHUB_API_URL)?,
                client_id: text(vars::GITHUB_CLIENT_ID)?,
                client_secret: text(vars::GITHUB_CLIENT_SECRET)?.map(Secret::new),
            },
            browser: lookup(vars::BROWSER).filter(|program| !program.is_empty()),
            inherited_secrets: Vec::new(),
            hooks: TestHooks {
                fault_hold_before_step: text(vars::FAULT_HOLD_BEFORE_STEP)?,
                lease: secs(vars::LEASE_SECS)?,
                sweep_every: secs(vars::SWEEP_SECS)?,
                idle_tick: secs(vars::IDLE_TICK_SECS)?,
            },
        })
    }

    /// The agent a Local workspace runs: `SAM_AGENT_BIN`, or `sam-agent` beside this executable.
    pub fn agent_binary(&self) -> PathBuf {
        if let Some(path) = &self.agent_binary {
            return path.clone();
        }
        std::env::current_exe()
            .ok()
            .and_then(|exe| {
                exe.parent()
                    .map(|dir| dir.join(format!("sam-agent{}", std::env::consts::EXE_SUFFIX)))
            })
            .unwrap_or_else(|| PathBuf::from("sam-agent"))
    }

    /// The same configuration with the Local agent at `path` (tests).
    pub fn with_agent_binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.agent_binary = Some(path.into());
        self
    }
}

impl GitHubConfig {
    /// GitHub's web address, without a trailing `/`.
    pub fn web(&self) -> String {
        self.web
            .as_deref()
            .unwrap_or("https://github.com")
            .trim_end_matches('/')
            .to_owned()
    }

    /// GitHub's API address, without a trailing `/`.
    pub fn api(&self) -> String {
        self.api
            .as_deref()
            .unwrap_or("https://api.github.com")
            .trim_end_matches('/')
            .to_owned()
    }
}

impl GitHubConfig {
    /// The git host of the configured GitHub (`github.com`): it depends on the web address only,
    /// so no keyring is read for it.
    pub fn git_host(&self) -> String {
        crate::github::host_of(&self.web())
    }
}

impl HetznerConfig {
    /// The API's address.
    pub fn endpoint(&self) -> &str {
        self.endpoint
            .as_deref()
            .unwrap_or(crate::provider::hetzner::client::DEFAULT_ENDPOINT)
    }
}

/// Whether an environment variable's name says it holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "API_KEY",
        "APIKEY",
        "PRIVATE_KEY",
        "CREDENTIAL",
    ]
    .iter()
    .any(|word| upper.contains(word))
}

fn absolute(path: PathBuf) -> Result<PathBuf, SamError> {
    std::path::absolute(&path).map_err(|err| {
        SamError::configuration(
            format!(
                "{} ({}) is not a usable path: {err}.",
                vars::DATA_DIR,
                path.display()
            ),
            format!("Set {} to an absolute folder path.", vars::DATA_DIR),
        )
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::error::ErrorCategory;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, SamError> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), OsString::from(value)))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn no_variables_means_the_real_services_and_no_hooks() {
        let config = config(&[]).expect("empty environment");
        assert_eq!(config.data_dir, None);
        assert_eq!(config.hooks, TestHooks::default());
        assert_eq!(config.agent_override, AgentOverride::default());
        assert_eq!(config.github.web(), "https://github.com");
        assert_eq!(config.github.api(), "https://api.github.com");
        assert_eq!(config.hetzner.endpoint(), "https://api.hetzner.cloud/v1");
        assert!(config.hetzner.token.is_none());
    }

    #[test]
    fn values_are_trimmed_and_empty_ones_count_as_unset() {
        let config = config(&[
            (vars::AGENT_URL, "  http://192.0.2.1/sam-agent \n"),
            (vars::AGENT_SHA256, ""),
            (vars::HCLOUD_TOKEN, "   "),
            (vars::GITHUB_URL, "http://127.0.0.1:9/"),
        ])
        .expect("valid");
        assert_eq!(
            config.agent_override.url.as_deref(),
            Some("http://192.0.2.1/sam-agent")
        );
        assert_eq!(config.agent_override.sha256, None);
        assert!(config.hetzner.token.is_none());
        assert_eq!(config.github.web(), "http://127.0.0.1:9");
    }

    #[test]
    fn test_hooks_parse_seconds_and_refuse_anything_else() {
        let config = config(&[
            (vars::LEASE_SECS, "2"),
            (vars::SWEEP_SECS, "0.5"),
            (vars::FAULT_HOLD_BEFORE_STEP, "clone"),
        ])
        .expect("valid");
        assert_eq!(config.hooks.lease, Some(Duration::from_secs(2)));
        assert_eq!(config.hooks.sweep_every, Some(Duration::from_millis(500)));
        assert_eq!(
            config.hooks.fault_hold_before_step.as_deref(),
            Some("clone")
        );

        for bad in ["soon", "-1", "0", "NaN", "inf"] {
            let err = self::config(&[(vars::IDLE_TICK_SECS, bad)]).expect_err(bad);
            assert_eq!(err.category, ErrorCategory::Configuration);
            assert!(
                err.message.contains(vars::IDLE_TICK_SECS),
                "{}",
                err.message
            );
        }
    }

    #[test]
    fn an_empty_data_folder_is_refused_and_a_relative_one_made_absolute() {
        let err = config(&[(vars::DATA_DIR, "")]).expect_err("empty");
        assert!(err.message.contains(vars::DATA_DIR));
        let config = config(&[(vars::DATA_DIR, "relative/data")]).expect("relative");
        assert!(config.data_dir.expect("set").is_absolute());
    }

    #[test]
    fn secret_shaped_names_are_recognised() {
        for secret in [
            "HCLOUD_TOKEN",
            "SAM_GITHUB_CLIENT_SECRET",
            "GITHUB_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "OPENAI_API_KEY",
            "PGPASSWORD",
            "gh_token",
        ] {
            assert!(is_secret_name(secret), "{secret}");
        }
        for plain in [
            "PATH",
            "HOME",
            "DISPLAY",
            "SAM_BROWSER",
            "SAM_TEST_SECOND_LAUNCH",
        ] {
            assert!(!is_secret_name(plain), "{plain}");
        }
    }

    #[test]
    fn secrets_from_the_environment_never_print() {
        let config = config(&[
            (vars::HCLOUD_TOKEN, "hcloud-secret-value"),
            (vars::GITHUB_CLIENT_SECRET, "github-secret-value"),
        ])
        .expect("valid");
        let printed = format!("{config:?}");
        assert!(!printed.contains("secret-value"), "{printed}");
    }
}
