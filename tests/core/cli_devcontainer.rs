//! `sam devcontainer check`: a repository's configurations read as SAM reads them, in text and
//! JSON, with the exit code saying whether SAM refuses any.

use super::cli::Sam;

fn write(dir: &std::path::Path, path: &str, text: &str) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().expect("a folder")).expect("folder");
    std::fs::write(path, text).expect("written");
}

#[test]
fn configurations_are_described_and_the_refused_one_says_why() {
    let sam = Sam::new();
    let repo = sam.dir.path().join("repo");
    write(
        &repo,
        ".devcontainer/devcontainer.json",
        r#"// the default
        {
            "name": "web",
            "image": "debian:12",
            "postCreateCommand": "npm ci",
            "remoteUser": "node",
            "forwardPorts": [3000],
            "hostRequirements": { "cpus": 4 },
        }"#,
    );
    write(
        &repo,
        ".devcontainer/python/devcontainer.json",
        r#"{ "build": { "dockerfile": "Dockerfile" }, "features": { "./tools": {} } }"#,
    );
    write(
        &repo,
        ".devcontainer/unsafe/devcontainer.json",
        r#"{ "image": "x", "runArgs": ["-v", "/:/host"] }"#,
    );
    let repo_arg = repo.to_str().expect("UTF-8");

    let out = sam.run(&["devcontainer", "check", repo_arg]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "one is refused: {text}");
    assert_eq!(
        text,
        ".devcontainer/devcontainer.json: web\n  image: debian:12\n  runs: postCreateCommand\n  \
         as user: node\n  forwards ports: 3000\n  not carried out by SAM: hostRequirements\n\
         .devcontainer/python/devcontainer.json\n  built from Dockerfile (context .)\n  \
         features: ./tools\n\
         .devcontainer/unsafe/devcontainer.json: refused: runArgs asks for -v, which SAM does \
         not pass to the container engine: it could give the container this machine, or it is \
         SAM's to set (see docs/devcontainers.md)\n"
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("SAM refuses 1 of the 3 configurations"),
        "{said}"
    );

    // JSON: a line with every configuration, then the error's line.
    let out = sam.run(&["--json", "devcontainer", "check", repo_arg]);
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    let json: serde_json::Value = serde_json::from_str(lines[0]).expect("JSON");
    let error: serde_json::Value = serde_json::from_str(lines[1]).expect("JSON");
    assert_eq!(error["category"], "invalid-input", "{error}");
    let configs = json["configs"].as_array().expect("a list");
    assert_eq!(configs.len(), 3, "{json}");
    assert_eq!(configs[0]["config"]["source"]["image"], "debian:12");
    assert_eq!(configs[0]["config"]["forward_ports"][0], 3000);
    assert_eq!(
        configs[1]["config"]["source"]["dockerfile"]["dockerfile"],
        "Dockerfile"
    );
    assert!(configs[2]["error"].as_str().expect("why").contains("-v"));

    // Without the unsafe one, all is well; without any, nothing to check is an error.
    std::fs::remove_dir_all(repo.join(".devcontainer/unsafe")).expect("removed");
    assert_eq!(
        sam.run(&["devcontainer", "check", repo_arg]).status.code(),
        Some(0)
    );
    let empty = sam.dir.path().join("empty");
    std::fs::create_dir_all(&empty).expect("folder");
    let out = sam.run(&["devcontainer", "check", empty.to_str().expect("UTF-8")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no dev container configuration"));
}
