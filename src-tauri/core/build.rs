//! Build script: the release facts that the core embeds (which GitHub repository publishes the
//! agent, and the agent binaries' SHA-256).
//!
//! A release build gets the checksums from the release workflow; a development build has none,
//! and the core then asks for `SAM_AGENT_URL` + `SAM_AGENT_SHA256` at run time
//! (`core::agent_release`). A malformed value fails the build here rather than producing an app
//! that cannot verify what it downloads.

// The build script talks to Cargo through stdout and to the developer through stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

// The same check the app applies to `SAM_AGENT_SHA256` at run time.
#[allow(dead_code)]
#[path = "agent_release/check.rs"]
mod check;

/// The agent checksums, one per architecture that a release publishes.
const CHECKSUM_VARS: [&str; 2] = ["SAM_AGENT_SHA256_X86_64", "SAM_AGENT_SHA256_AARCH64"];

/// `owner/repo` of the GitHub repository whose releases carry the agent binaries.
const REPO_VAR: &str = "SAM_RELEASE_REPO";

fn main() {
    for name in CHECKSUM_VARS {
        let value = read(name);
        let value = if value.is_empty() {
            value
        } else {
            check::sha256(&value).unwrap_or_else(|problem| {
                fail(&format!(
                    "{name} must be 64 hex digits (the output of `sha256sum`), but {problem}: \
                     {value:?}. Unset it for a development build."
                ))
            })
        };
        println!("cargo:rustc-env={name}={value}");
    }

    let repo = read(REPO_VAR);
    if !repo.is_empty() && !is_repo_slug(&repo) {
        fail(&format!(
            "{REPO_VAR} must look like `owner/repo` (letters, digits, `-`, `_`, `.`), got {repo:?}."
        ));
    }
    println!("cargo:rustc-env={REPO_VAR}={repo}");
}

/// The variable's value, empty when unset, and tells Cargo to rebuild when it changes.
fn read(name: &str) -> String {
    println!("cargo:rerun-if-env-changed={name}");
    match std::env::var(name) {
        Ok(value) => value,
        Err(std::env::VarError::NotPresent) => String::new(),
        Err(std::env::VarError::NotUnicode(_)) => fail(&format!("{name} is not valid UTF-8.")),
    }
}

fn is_repo_slug(value: &str) -> bool {
    let part_ok = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    matches!(value.split_once('/'), Some((owner, repo)) if part_ok(owner) && part_ok(repo))
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}
