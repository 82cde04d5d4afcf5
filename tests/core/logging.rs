//! Log files are written, and no secret reaches them.

use sam_core::logging;
use sam_core::redact::Secret;

#[test]
fn log_files_are_written_and_secrets_are_redacted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let registered = Secret::new("correct-horse-battery-staple");
    let (subscriber, guard) =
        logging::subscriber(dir.path(), "test", false, None).expect("subscriber");
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(token = %registered.expose(), "pushing credentials");
        tracing::warn!("remote said: Authorization: Bearer abcdef0123456789");
        tracing::info!(
            url = "https://user:hunter2hunter2@example.com/repo.git",
            "cloning"
        );
        tracing::info!("an ordinary line about workspace abcdefghijkm");
    });
    drop(guard); // flushes the background writer

    let files: Vec<_> = std::fs::read_dir(dir.path())
        .expect("log dir")
        .map(|entry| entry.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0]
        .file_name()
        .and_then(|n| n.to_str())
        .expect("utf-8 name");
    assert!(
        name.starts_with("test.") && name.ends_with(".log"),
        "{name}"
    );

    let text = std::fs::read_to_string(&files[0]).expect("log text");
    for secret in [
        "correct-horse-battery-staple",
        "abcdef0123456789",
        "hunter2hunter2",
    ] {
        assert!(
            !text.contains(secret),
            "{secret} leaked into the log:\n{text}"
        );
    }
    assert_eq!(text.matches("[redacted]").count(), 3, "{text}");
    assert!(
        text.contains("an ordinary line about workspace abcdefghijkm"),
        "{text}"
    );
}
