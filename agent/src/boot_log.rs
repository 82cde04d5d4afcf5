//! Follows the machine's boot log (`boot_log` in the configuration: on a cloud server, the one
//! SAM's boot script writes) into the agent's event log, one `boot: <line>` event per line, so
//! the desktop sees how the boot went as soon as the agent answers. It starts from the
//! beginning of the file, waits for the file to appear, and stops after the script's last word:
//! a `sam-boot: done: …` line or a `… FAILED: …` one.

use std::io::SeekFrom;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::agent::Agent;

/// How often the file is looked at.
const POLL: Duration = Duration::from_millis(250);
/// The longest line passed on; longer ones are cut (a boot log is short lines).
const MAX_LINE: usize = 4096;

/// Follows `path` into `agent`'s event log.
pub async fn follow(agent: Arc<Agent>, path: PathBuf) {
    follow_into(path, |line| agent.event(&format!("boot: {line}"))).await;
}

/// Follows `path`, handing each complete line to `emit`, until the boot script's last line.
pub async fn follow_into(path: PathBuf, mut emit: impl FnMut(&str)) {
    let mut offset = 0u64;
    let mut pending: Vec<u8> = Vec::new();
    loop {
        if let Ok(mut file) = tokio::fs::File::open(&path).await {
            // A file that shrank was replaced: start over.
            let length = file.metadata().await.map(|m| m.len()).unwrap_or(0);
            if length < offset {
                offset = 0;
                pending.clear();
            }
            let mut fresh = Vec::new();
            if file.seek(SeekFrom::Start(offset)).await.is_ok()
                && let Ok(read) = file.read_to_end(&mut fresh).await
            {
                offset += read as u64;
                pending.extend_from_slice(&fresh);
                while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    let text = String::from_utf8_lossy(&line[..line.len() - 1]);
                    let text: String = text.trim_end().chars().take(MAX_LINE).collect();
                    emit(&text);
                    if is_last(&text) {
                        return;
                    }
                }
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The boot script ends with `sam-boot: done: ok`, or stops at a phase's `FAILED` line.
pub fn is_last(line: &str) -> bool {
    line.starts_with("sam-boot: done:")
        || (line.starts_with("sam-boot: ") && line.contains(": FAILED"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_s_last_words_end_the_follow() {
        assert!(is_last("sam-boot: done: ok"));
        assert!(is_last(
            "sam-boot: verify-agent: FAILED: checksum mismatch (expected a, got b)"
        ));
        assert!(!is_last("sam-boot: mount-volume: ok"));
        assert!(!is_last("some program said: FAILED"));
    }

    #[tokio::test]
    async fn lines_are_passed_on_as_they_are_written_until_the_last_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sam-boot.log");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let follower = tokio::spawn(follow_into(path.clone(), move |line| {
            let _ = tx.send(line.to_owned());
        }));
        // Not there yet: the follower waits for it.
        tokio::time::sleep(POLL * 2).await;
        std::fs::write(&path, "sam-boot: read-config: ok\nsam-boot: users: o").expect("write");
        assert_eq!(
            rx.recv().await.as_deref(),
            Some("sam-boot: read-config: ok")
        );
        // The half-written line is passed on once it is complete.
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        std::io::Write::write_all(&mut file, b"k\nsam-boot: done: ok\nafterwards\n")
            .expect("append");
        assert_eq!(rx.recv().await.as_deref(), Some("sam-boot: users: ok"));
        assert_eq!(rx.recv().await.as_deref(), Some("sam-boot: done: ok"));
        follower
            .await
            .expect("the follower ends after the last line");
        assert_eq!(rx.recv().await, None, "nothing after the last line");
    }
}
