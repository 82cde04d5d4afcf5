use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use sam_protocol::message::ErrorCode;

use super::{FOLDER, Journals, KEEP, mask, prune};

const EPOCH: &str = "0123456789abcdef";

fn journals() -> (tempfile::TempDir, Journals) {
    let dir = tempfile::tempdir().expect("temp dir");
    let journals = Journals::new(dir.path(), None);
    (dir, journals)
}

fn read_all(journals: &Journals, stream: u32) -> Vec<u8> {
    let (bytes, eof) = journals.read(EPOCH, stream, 0, u64::MAX).expect("read");
    assert!(eof);
    bytes
}

#[test]
fn a_journal_holds_the_streams_bytes_at_their_offsets() {
    let (_dir, journals) = journals();
    let mut writer = journals.create(EPOCH, 3, Vec::new()).expect("created");
    writer.append(b"{\"a\":1}\n{\"b\"");
    writer.append(b":2}\n");
    writer.finish();
    assert_eq!(read_all(&journals, 3), b"{\"a\":1}\n{\"b\":2}\n");
    let (tail, eof) = journals.read(EPOCH, 3, 8, 4).expect("read");
    assert_eq!((tail.as_slice(), eof), (&b"{\"b\""[..], false));
    let (past, eof) = journals.read(EPOCH, 3, 1000, 4).expect("read");
    assert!(past.is_empty() && eof);
}

#[test]
fn secrets_are_masked_even_split_across_chunks() {
    let (_dir, journals) = journals();
    let mut writer = journals
        .create(EPOCH, 1, vec!["sk-secret-42".to_owned(), String::new()])
        .expect("created");
    writer.append(b"key=sk-se");
    writer.append(b"cret-42 and sk-secret-42\n");
    writer.finish();
    assert_eq!(
        read_all(&journals, 1),
        b"key=************ and ************\n"
    );
}

#[test]
fn reads_and_removals_name_a_journal_that_exists() {
    let (dir, journals) = journals();
    let missing = journals.read(EPOCH, 9, 0, 10).expect_err("none yet");
    assert_eq!(missing.code, ErrorCode::NotFound);
    let bad = journals
        .read("../../etc", 1, 0, 10)
        .expect_err("not an epoch");
    assert_eq!(bad.code, ErrorCode::InvalidArgument);
    journals.create(EPOCH, 9, Vec::new()).expect("created");
    journals.remove(EPOCH, 9).expect("removed");
    assert_eq!(
        journals.remove(EPOCH, 9).expect_err("gone").code,
        ErrorCode::NotFound
    );
    // The folder is the agent's alone; `.sam` is kept out of git.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join(FOLDER))
        .expect("folder")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
}

#[test]
fn the_folder_is_kept_out_of_git_once() {
    let (dir, journals) = journals();
    std::fs::create_dir_all(dir.path().join(".git/info")).expect("git");
    std::fs::write(dir.path().join(".git/info/exclude"), "*.log").expect("exclude");
    journals.create(EPOCH, 1, Vec::new()).expect("created");
    let again = Journals::new(dir.path(), None);
    again.create(EPOCH, 2, Vec::new()).expect("created");
    let exclude = std::fs::read_to_string(dir.path().join(".git/info/exclude")).expect("read");
    assert_eq!(exclude, "*.log\n/.sam/\n");
}

#[test]
fn old_journals_are_pruned() {
    let (dir, journals) = journals();
    let mut writer = journals.create(EPOCH, 1, Vec::new()).expect("created");
    writer.append(b"x\n");
    writer.finish();
    let folder = dir.path().join(FOLDER);
    prune(&folder, SystemTime::now() + KEEP - Duration::from_secs(60));
    assert_eq!(read_all(&journals, 1), b"x\n");
    prune(&folder, SystemTime::now() + KEEP + Duration::from_secs(60));
    assert_eq!(
        journals.read(EPOCH, 1, 0, 1).expect_err("pruned").code,
        ErrorCode::NotFound
    );
}

proptest! {
    /// However the output is cut into chunks, the journal is the output with every secret
    /// masked, and nothing else changed.
    #[test]
    fn chunking_never_changes_what_is_written(
        text in "[a-z=\\n]{0,200}",
        cuts in proptest::collection::vec(0usize..200, 0..8),
    ) {
        let secret = "abcab".to_owned();
        let mut expected = text.clone().into_bytes();
        mask(&mut expected, &[secret.clone().into_bytes()]);

        let (_dir, journals) = journals();
        let mut writer = journals.create(EPOCH, 1, vec![secret]).expect("created");
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(text.len())).collect();
        cuts.sort_unstable();
        let mut from = 0;
        for cut in cuts.into_iter().chain([text.len()]) {
            writer.append(&text.as_bytes()[from..cut]);
            from = cut;
        }
        writer.finish();
        prop_assert_eq!(read_all(&journals, 1), expected);
    }
}
