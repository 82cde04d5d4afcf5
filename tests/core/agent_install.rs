//! A coding agent distributed on npm is installed where it runs when it first starts, with the
//! machine's Node.js when that is new enough, reused by later starts, and a package npm cannot
//! install is a clear error. The package is a local tarball (`npm pack`) whose program starts
//! `fake-acp`, so nothing is fetched from the registry. (On a Hetzner workspace: the `hetzner`
//! tests.)

use std::process::Command;

use sam_core::coding_agents::{AgentSpec, add_custom};

use super::cli::Sam;

/// The catalogue entry of an npm agent installed from a packed local package, or from `package`
/// instead when given.
fn npm_agent(dir: &std::path::Path, id: &str, package: Option<&str>) -> AgentSpec {
    let mut spec: AgentSpec =
        serde_json::from_str(&sam_test_support::npm_fake_agent(dir, id)).expect("agent.json");
    if let (Some(other), sam_core::coding_agents::Distribution::Npx { package, .. }) =
        (package, &mut spec.distribution)
    {
        *package = other.to_owned();
    }
    spec
}

#[test]
fn an_npm_agent_is_installed_on_first_start_and_reused_after() {
    let sam = Sam::new();
    let (code, created) = sam.create("npm");
    assert_eq!(code, Some(0), "{created}");
    let packages = tempfile::tempdir().expect("dir");
    add_custom(&sam.store(), npm_agent(packages.path(), "npm-fake", None)).expect("added");
    let missing = packages.path().join("missing.tgz").display().to_string();
    add_custom(
        &sam.store(),
        npm_agent(packages.path(), "npm-missing", Some(&missing)),
    )
    .expect("added");

    let start = |agent: &str| sam.run(&["--json", "agent", "start", "npm", "--agent", agent]);
    let first = start("npm-fake");
    let said = String::from_utf8_lossy(&first.stderr);
    assert_eq!(first.status.code(), Some(0), "{said}");
    assert!(said.contains("sam: installing"), "{said}");
    assert!(!said.contains("installing Node.js"), "{said}");
    let session: serde_json::Value = serde_json::from_slice(&first.stdout).expect("JSON");
    let session = session["session"]["id"].as_str().expect("id").to_owned();

    // It runs from SAM's data folder, with the Node.js chosen first on its PATH.
    let output = sam.run(&["agent", "prompt", &session, "env PATH"]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    let node = Command::new("sh")
        .args(["-c", "dirname \"$(command -v node)\""])
        .output()
        .expect("sh");
    let node = String::from_utf8_lossy(&node.stdout).trim().to_owned();
    assert!(text.contains(&format!("PATH={node}:")), "{text}");
    let installed = sam.dir.path().join("data/agents/packages");
    assert_eq!(
        std::fs::read_dir(&installed).expect("installed").count(),
        1,
        "one package installed under {}",
        installed.display()
    );

    // The second start finds it installed.
    let again = start("npm-fake");
    let said = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(0), "{said}");
    assert!(!said.contains("installing"), "{said}");

    // What npm cannot install is said, with what to do, and the workspace's log has it.
    let missing = sam.run(&["agent", "start", "npm", "--agent", "npm-missing"]);
    let said = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(3), "{said}");
    assert!(said.contains("npm has no package"), "{said}");
    let (_, log) = sam.json(&["--json", "workspace", "logs", "npm"]);
    assert!(log.to_string().contains("npm has no package"), "{log}");
}
