//! Where a cloud server downloads `sam-agent` from, and the SHA-256 it must verify first.
//!
//! A release build embeds the checksums of the agent binaries that the same release publishes
//! (the release workflow passes them to the build script), so the app pins exactly the agents
//! that were built with it, at `https://github.com/<RELEASE_REPO>/releases/download/v<version>/
//! sam-agent-<arch>-linux`. A development build embeds none; it uses an agent of the
//! developer's own through `SAM_AGENT_URL` and `SAM_AGENT_SHA256`, which also override a release
//! build's defaults. `docs/release.md` describes both.

pub mod check;

use std::path::{Path, PathBuf};

use crate::config::AgentOverride;
use crate::config::vars::{AGENT_SHA256 as SHA256_VAR, AGENT_URL as URL_VAR};
use crate::error::SamError;

/// `owner/repo` of the GitHub repository whose releases carry the agent binaries; the build
/// sets it from `SAM_RELEASE_REPO` when that is given.
pub const RELEASE_REPO: &str = or_default(env!("SAM_RELEASE_REPO"), "sam-desktop/sam-desktop");

/// A CPU architecture that SAM publishes an agent for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    /// 64-bit x86 (Hetzner's CX, CPX and CCX server types).
    X86_64,
    /// 64-bit ARM (Hetzner's CAX server types).
    Aarch64,
}

impl Arch {
    /// Every architecture, in the order the UI offers them.
    pub const ALL: [Arch; 2] = [Self::X86_64, Self::Aarch64];

    /// The name used in asset names and build variables: `x86_64` or `aarch64`.
    pub fn name(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::Aarch64 => "aarch64",
        }
    }

    /// The architecture of this computer when it runs Linux (so its own agent binary runs on
    /// servers of that architecture); `None` elsewhere.
    pub fn this_computer() -> Option<Self> {
        if !cfg!(target_os = "linux") {
            None
        } else if cfg!(target_arch = "x86_64") {
            Some(Self::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Some(Self::Aarch64)
        } else {
            None
        }
    }

    /// The build variable that carries this architecture's checksum into a release build.
    fn build_var(self) -> &'static str {
        match self {
            Self::X86_64 => "SAM_AGENT_SHA256_X86_64",
            Self::Aarch64 => "SAM_AGENT_SHA256_AARCH64",
        }
    }
}

/// What cloud-init downloads and verifies before it starts the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentDownload {
    /// An `http(s)` URL of a static `sam-agent` binary.
    pub url: String,
    /// The binary's SHA-256, as 64 lowercase hex digits.
    pub sha256: String,
}

/// How a new server gets its agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentSource {
    /// It downloads a published binary (this release's, or the developer's through the
    /// overrides) and verifies its SHA-256 first.
    Download(AgentDownload),
    /// The app sends it this binary, the agent beside the app, when the build publishes none:
    /// the server's first stage keeps only the binary whose SHA-256 its user_data pins.
    Deliver(PathBuf),
}

/// How servers of `arch` get their agent: [`agent_download`] when this build or the overrides
/// name one; otherwise, with no override set, delivery of `local_agent` (the agent beside the
/// app) when this computer runs Linux on `arch`, so its agent runs on those servers.
pub fn agent_source(
    arch: Arch,
    overrides: &AgentOverride,
    local_agent: &Path,
) -> Result<AgentSource, SamError> {
    match agent_download(arch, overrides) {
        Ok(download) => Ok(AgentSource::Download(download)),
        Err(err) => {
            let no_override = overrides.url.is_none() && overrides.sha256.is_none();
            if no_override && Arch::this_computer() == Some(arch) && local_agent.is_file() {
                Ok(AgentSource::Deliver(local_agent.to_owned()))
            } else {
                Err(err)
            }
        }
    }
}

/// Where the agent for `arch` comes from: the overrides (`SAM_AGENT_URL` and
/// `SAM_AGENT_SHA256`) when set, otherwise this release's asset and embedded checksum.
///
/// Fails with a configuration error when an override is malformed or only half set, or when
/// this build embeds no checksum for `arch` and no override is set.
pub fn agent_download(arch: Arch, overrides: &AgentOverride) -> Result<AgentDownload, SamError> {
    resolve(arch, &Embedded::THIS_BUILD, overrides)
}

/// The facts a build embeds. Tests make their own instead of the real build's.
#[derive(Debug)]
struct Embedded {
    version: &'static str,
    repo: &'static str,
    sha256_x86_64: &'static str,
    sha256_aarch64: &'static str,
}

impl Embedded {
    /// What this build embedded (empty checksums when the build had none).
    const THIS_BUILD: Embedded = Embedded {
        version: env!("CARGO_PKG_VERSION"),
        repo: RELEASE_REPO,
        sha256_x86_64: env!("SAM_AGENT_SHA256_X86_64"),
        sha256_aarch64: env!("SAM_AGENT_SHA256_AARCH64"),
    };

    fn sha256(&self, arch: Arch) -> Option<&'static str> {
        let sha = match arch {
            Arch::X86_64 => self.sha256_x86_64,
            Arch::Aarch64 => self.sha256_aarch64,
        };
        (!sha.is_empty()).then_some(sha)
    }

    fn release_url(&self, arch: Arch) -> String {
        format!(
            "https://github.com/{}/releases/download/v{}/sam-agent-{}-linux",
            self.repo,
            self.version,
            arch.name()
        )
    }
}

/// [`agent_download`] with the build's facts passed in. The configuration has already made
/// an empty variable count as unset, so `SAM_AGENT_URL= sam-desktop` turns an override off.
fn resolve(
    arch: Arch,
    embedded: &Embedded,
    overrides: &AgentOverride,
) -> Result<AgentDownload, SamError> {
    match (&overrides.url, &overrides.sha256) {
        (Some(url), Some(sha256)) => Ok(AgentDownload {
            url: override_url(url)?,
            sha256: override_sha256(sha256)?,
        }),
        (Some(_), None) | (None, Some(_)) => Err(SamError::configuration(
            format!("Only one of {URL_VAR} and {SHA256_VAR} is set."),
            format!(
                "Set both: {URL_VAR} to the agent binary's http(s) URL and {SHA256_VAR} to its \
                 SHA-256 (`sha256sum sam-agent`), or unset both to use this release's agent."
            ),
        )),
        (None, None) => match embedded.sha256(arch) {
            Some(sha256) => Ok(AgentDownload {
                url: embedded.release_url(arch),
                sha256: sha256.to_owned(),
            }),
            None => Err(SamError::configuration(
                format!(
                    "This build of SAM has no checksum for the {} agent, so it cannot install \
                     the agent on a cloud server.",
                    arch.name()
                ),
                format!(
                    "Set {URL_VAR} to the http(s) URL of a sam-agent built for {} Linux and \
                     {SHA256_VAR} to its SHA-256 (see docs/release.md), or build SAM with {} set.",
                    arch.name(),
                    arch.build_var()
                ),
            )),
        },
    }
}

fn override_url(url: &str) -> Result<String, SamError> {
    check::agent_url(url).map_err(|problem| {
        SamError::configuration(
            format!("{URL_VAR} is not an http(s) URL: {url:?} ({problem})."),
            format!("Set {URL_VAR} to a URL such as http://192.0.2.10:8000/sam-agent."),
        )
    })
}

fn override_sha256(sha256: &str) -> Result<String, SamError> {
    check::sha256(sha256).map_err(|problem| {
        SamError::configuration(
            format!("{SHA256_VAR} is not a SHA-256 (64 hex digits): {problem}."),
            format!("Set {SHA256_VAR} to the first field of `sha256sum sam-agent`."),
        )
    })
}

/// `value`, or `default` when `value` is empty; usable in a constant.
const fn or_default(value: &'static str, default: &'static str) -> &'static str {
    if value.is_empty() { default } else { value }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::ffi::OsString;

    use super::*;
    use crate::config::Config;
    use crate::error::ErrorCategory;

    const SHA_X86: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const SHA_ARM: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    const RELEASE: Embedded = Embedded {
        version: "1.2.3",
        repo: "acme/sam",
        sha256_x86_64: SHA_X86,
        sha256_aarch64: SHA_ARM,
    };

    const X86_ONLY: Embedded = Embedded {
        sha256_aarch64: "",
        ..RELEASE
    };

    const DEVELOPMENT: Embedded = Embedded {
        sha256_x86_64: "",
        sha256_aarch64: "",
        ..RELEASE
    };

    /// The overrides as the configuration reads them from `pairs`.
    fn env(pairs: &[(&str, &str)]) -> AgentOverride {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
            .expect("valid configuration")
            .agent_override
    }

    fn no_env() -> AgentOverride {
        AgentOverride::default()
    }

    #[test]
    fn a_release_build_downloads_its_own_release_assets() {
        let x86 = resolve(Arch::X86_64, &RELEASE, &no_env()).expect("embedded");
        assert_eq!(
            x86.url,
            "https://github.com/acme/sam/releases/download/v1.2.3/sam-agent-x86_64-linux"
        );
        assert_eq!(x86.sha256, SHA_X86);
        let arm = resolve(Arch::Aarch64, &RELEASE, &no_env()).expect("embedded");
        assert!(arm.url.ends_with("/v1.2.3/sam-agent-aarch64-linux"));
        assert_eq!(arm.sha256, SHA_ARM);
    }

    #[test]
    fn an_architecture_without_a_checksum_is_not_available() {
        assert!(resolve(Arch::X86_64, &X86_ONLY, &no_env()).is_ok());
        let err = resolve(Arch::Aarch64, &X86_ONLY, &no_env()).expect_err("no arm checksum");
        assert_eq!(err.category, ErrorCategory::Configuration);
        assert!(err.message.contains("aarch64"), "{}", err.message);
        assert!(err.next_step.contains("SAM_AGENT_SHA256_AARCH64"));
    }

    #[test]
    fn a_development_build_says_which_variables_to_set() {
        let err = resolve(Arch::X86_64, &DEVELOPMENT, &no_env()).expect_err("nothing embedded");
        assert_eq!(err.category, ErrorCategory::Configuration);
        assert!(!err.retryable);
        for name in [
            "SAM_AGENT_URL",
            "SAM_AGENT_SHA256",
            "SAM_AGENT_SHA256_X86_64",
        ] {
            assert!(err.next_step.contains(name), "{name}: {}", err.next_step);
        }
    }

    #[test]
    fn the_overrides_replace_url_and_checksum_for_every_build() {
        let lookup = env(&[
            ("SAM_AGENT_URL", " http://192.0.2.10:8000/sam-agent "),
            ("SAM_AGENT_SHA256", &SHA_ARM.to_ascii_uppercase()),
        ]);
        for embedded in [&RELEASE, &DEVELOPMENT] {
            for arch in Arch::ALL {
                let download = resolve(arch, embedded, &lookup).expect("override");
                assert_eq!(download.url, "http://192.0.2.10:8000/sam-agent");
                assert_eq!(download.sha256, SHA_ARM, "normalised to lowercase");
            }
        }
    }

    #[test]
    fn empty_overrides_count_as_unset() {
        let lookup = env(&[("SAM_AGENT_URL", ""), ("SAM_AGENT_SHA256", "  ")]);
        let download = resolve(Arch::X86_64, &RELEASE, &lookup).expect("embedded");
        assert_eq!(download.sha256, SHA_X86);
    }

    #[test]
    fn a_half_set_override_is_an_error() {
        for (name, value) in [
            ("SAM_AGENT_URL", "https://example.com/sam-agent"),
            ("SAM_AGENT_SHA256", SHA_X86),
        ] {
            let err = resolve(Arch::X86_64, &RELEASE, &env(&[(name, value)])).expect_err(name);
            assert_eq!(err.category, ErrorCategory::Configuration);
            assert!(err.next_step.contains("SAM_AGENT_URL"));
            assert!(err.next_step.contains("SAM_AGENT_SHA256"));
        }
    }

    #[test]
    fn override_urls_must_be_plain_http_or_https() {
        for url in [
            "ftp://example.com/sam-agent",
            "file:///tmp/sam-agent",
            "example.com/sam-agent",
            "https://",
            "http:///sam-agent",
            "https://example.com/sam agent",
            "https://example.com/$(reboot)'",
            "https://example.com/\nruncmd",
        ] {
            let lookup = env(&[("SAM_AGENT_URL", url), ("SAM_AGENT_SHA256", SHA_X86)]);
            let err = resolve(Arch::X86_64, &RELEASE, &lookup).expect_err(url);
            assert_eq!(err.category, ErrorCategory::Configuration, "{url}");
            assert!(err.message.contains("SAM_AGENT_URL"), "{url}");
        }
        let lookup = env(&[
            ("SAM_AGENT_URL", "HTTPS://example.com/a?b=c"),
            ("SAM_AGENT_SHA256", SHA_X86),
        ]);
        let download = resolve(Arch::X86_64, &RELEASE, &lookup).expect("upper-case scheme");
        assert_eq!(
            download.url, "https://example.com/a?b=c",
            "handed to cloud-init in the form its own check accepts"
        );
    }

    #[test]
    fn override_checksums_must_be_64_hex_digits() {
        let too_long = format!("{SHA_X86}0");
        let not_hex = SHA_X86.replace('1', "g");
        for sha in [&SHA_X86[1..], too_long.as_str(), not_hex.as_str()] {
            let lookup = env(&[
                ("SAM_AGENT_URL", "https://example.com/sam-agent"),
                ("SAM_AGENT_SHA256", sha),
            ]);
            let err = resolve(Arch::X86_64, &RELEASE, &lookup).expect_err(sha);
            assert_eq!(err.category, ErrorCategory::Configuration);
            assert!(err.message.contains("SAM_AGENT_SHA256"));
        }
    }

    #[test]
    fn this_build_embeds_no_checksum_or_a_well_formed_one() {
        for arch in Arch::ALL {
            if let Some(sha) = Embedded::THIS_BUILD.sha256(arch) {
                assert_eq!(override_sha256(sha).as_deref(), Ok(sha), "{arch:?}");
            }
        }
    }

    #[test]
    fn this_build_has_a_release_repository() {
        let (owner, repo) = RELEASE_REPO.split_once('/').expect("owner/repo");
        assert!(!owner.is_empty() && !repo.is_empty());
        assert_eq!(Arch::X86_64.name(), "x86_64");
        assert_eq!(Arch::Aarch64.name(), "aarch64");
    }
}
