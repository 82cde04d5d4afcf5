//! What a prompt carries besides its text, from the `sam` command line on a Local workspace with
//! the scripted `fake-acp` (which reports the content blocks it got): files mentioned with `@`
//! and images.

use super::cli::Sam;
use super::cli_agents::{chunks, json_lines, last_prompt, started};

#[test]
fn files_mentioned_with_an_at_sign_go_to_the_agent_as_links() {
    let sam = Sam::new();
    let session = started(&sam);
    let workspaces = sam.data_dir().join("workspaces");
    let only = std::fs::read_dir(&workspaces)
        .expect("workspaces")
        .next()
        .expect("one")
        .expect("readable")
        .path();
    let repo = only.join("repo").canonicalize().expect("repo");
    std::fs::create_dir_all(repo.join("src")).expect("mkdir");
    std::fs::write(repo.join("src/lib.rs"), "pub fn f() {}\n").expect("write");

    let output = sam.run(&[
        "--json",
        "agent",
        "prompt",
        &session,
        "mentions @src/lib.rs, @missing.rs @src @../etc/passwd and @src/lib.rs",
    ]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let lines = json_lines(&output);
    // Only files that exist in the repository, once each.
    assert_eq!(
        chunks(&lines),
        format!(
            "mentions: src/lib.rs=file://{}/src/lib.rs\n",
            repo.display()
        )
    );
    let prompt = last_prompt(&sam, &session);
    assert_eq!(prompt.body["files"], serde_json::json!(["src/lib.rs"]));
}

#[test]
fn images_go_to_an_agent_that_takes_them_and_the_transcript_keeps_what_they_were() {
    let sam = Sam::new();
    let session = started(&sam);
    let png = sam.data_dir().join("shot.png");
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend_from_slice(&[7u8; 293]);
    std::fs::write(&png, &bytes).expect("write");
    let text = sam.data_dir().join("notes.txt");
    std::fs::write(&text, "not an image").expect("write");

    let refused = sam.run(&[
        "agent",
        "prompt",
        &session,
        "mentions",
        "--image",
        &text.to_string_lossy(),
    ]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("is not a PNG, JPEG, GIF or WebP"));

    let output = sam.run(&[
        "--json",
        "agent",
        "prompt",
        &session,
        "mentions",
        "--image",
        &png.to_string_lossy(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let lines = json_lines(&output);
    // 301 bytes are 404 base64 characters.
    assert_eq!(
        chunks(&lines),
        "mentions: image image/png of 404 base64 characters\n"
    );
    let prompt = last_prompt(&sam, &session);
    assert_eq!(
        prompt.body["images"],
        serde_json::json!([{"mimeType": "image/png", "bytes": 301}])
    );
}
