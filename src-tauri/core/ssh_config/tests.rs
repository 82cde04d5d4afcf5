//! SAM's block in `~/.ssh/config`: the user's text is never touched, damaged markers are
//! refused, writes are atomic and keep modes and links.

use std::os::unix::fs::PermissionsExt;

use proptest::prelude::*;

use super::*;

const INCLUDE: &str = "/home/u/.config/sam/ssh/config";

/// A user's file with the things that must survive: comments, a `Host *` section, another
/// Include, indentation, no final newline.
const USERS: &str = "# my settings\nInclude ~/.ssh/work.conf\n\nHost *\n    ServerAliveInterval 30\n  # indented comment\nHost box\n\tHostName 192.0.2.7";

fn block(eol: &str) -> String {
    [
        BEGIN,
        "# SAM keeps its hosts in the file below; `sam ssh-config --remove` takes this out.",
        &format!("Include \"{INCLUDE}\""),
        END,
    ]
    .iter()
    .map(|line| format!("{line}{eol}"))
    .collect()
}

#[test]
fn the_block_goes_first_and_everything_else_stays_byte_for_byte() {
    let after = with_block(USERS, Path::new(INCLUDE)).expect("installed");
    assert_eq!(after, format!("{}\n{USERS}", block("\n")));
    assert_eq!(
        with_block(&after, Path::new(INCLUDE)).expect("again"),
        after
    );
    assert_eq!(without_block(&after).expect("removed"), USERS);
    // An empty file gets just the block.
    assert_eq!(
        with_block("", Path::new(INCLUDE)).expect("new"),
        block("\n")
    );
    assert_eq!(without_block(&block("\n")).expect("removed"), "");
}

#[test]
fn a_block_placed_below_a_host_line_moves_to_the_top() {
    let user = "Host *\n    User me\n";
    let misplaced = format!("{user}{}", block("\n"));
    let after = with_block(&misplaced, Path::new(INCLUDE)).expect("moved");
    assert_eq!(after, format!("{}\n{user}", block("\n")));
}

#[test]
fn crlf_files_get_a_crlf_block() {
    let user = "Host *\r\n  User me\r\n";
    let after = with_block(user, Path::new(INCLUDE)).expect("installed");
    assert_eq!(after, format!("{}\r\n{user}", block("\r\n")));
    assert_eq!(without_block(&after).expect("removed"), user);
}

#[test]
fn damaged_markers_are_refused_with_where() {
    let cases = [
        (
            format!("{BEGIN}\nInclude x\n"),
            "begin marker on line 1 has no end",
        ),
        (
            format!("Host a\n{END}\n"),
            "end marker on line 2 has no begin",
        ),
        (
            format!("{BEGIN}\n{BEGIN}\n{END}\n"),
            "second begin marker is on line 2",
        ),
        (
            format!("{}{}", block("\n"), block("\n")),
            "second begin marker is on line 5",
        ),
        (
            format!("{}{END}\n", block("\n")),
            "second end marker is on line 5",
        ),
    ];
    for (text, expected) in cases {
        let err = with_block(&text, Path::new(INCLUDE)).expect_err(&text);
        assert_eq!(err.category, ErrorCategory::InvalidInput);
        assert!(
            err.message.contains(expected),
            "{expected}: {}",
            err.message
        );
        assert!(
            without_block(&text).is_err(),
            "removing refuses too: {text}"
        );
    }
}

#[test]
fn the_diff_shows_only_sams_lines() {
    let change = Change {
        before: USERS.to_owned(),
        after: with_block(USERS, Path::new(INCLUDE)).expect("installed"),
    };
    let diff = change.diff();
    assert_eq!(diff.lines().count(), 4, "{diff}");
    assert!(diff.lines().all(|l| l.starts_with('+')), "{diff}");
    assert!(diff.contains(&format!("+Include \"{INCLUDE}\"")), "{diff}");
    let back = Change {
        before: change.after.clone(),
        after: USERS.to_owned(),
    };
    assert!(back.diff().lines().all(|l| l.starts_with('-')));
}

#[test]
fn applying_writes_atomically_keeps_the_mode_and_writes_through_links() {
    let dir = tempfile::tempdir().expect("dir");
    let real = dir.path().join("dotfiles/ssh_config");
    std::fs::create_dir_all(real.parent().expect("parent")).expect("mkdir");
    std::fs::write(&real, USERS).expect("write");
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let ssh = dir.path().join(".ssh");
    std::fs::create_dir_all(&ssh).expect("mkdir");
    let config = ssh.join("config");
    std::os::unix::fs::symlink("../dotfiles/ssh_config", &config).expect("link");

    let change = plan_install(&config, Path::new(INCLUDE)).expect("planned");
    assert_eq!(change.before, USERS);
    apply(&config, &change).expect("applied");
    assert!(
        std::fs::symlink_metadata(&config)
            .expect("meta")
            .file_type()
            .is_symlink(),
        "the link stays a link"
    );
    assert_eq!(std::fs::read_to_string(&real).expect("read"), change.after);
    let mode = std::fs::metadata(&real).expect("meta").permissions().mode();
    assert_eq!(mode & 0o777, 0o640);
    let leftovers: Vec<_> = std::fs::read_dir(real.parent().expect("parent"))
        .expect("list")
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".sam-ssh-config")
        })
        .collect();
    assert!(leftovers.is_empty(), "no temporary file left");

    // A plan made before someone else edited the file is not applied.
    let stale = plan_remove(&config).expect("planned");
    std::fs::write(&real, format!("{}# edited\n", stale.before)).expect("edit");
    let err = apply(&config, &stale).expect_err("stale");
    assert!(err.message.contains("changed while"), "{}", err.message);

    // Removing gives the user's file back exactly.
    let change = plan_remove(&config).expect("planned");
    apply(&config, &change).expect("removed");
    assert_eq!(
        std::fs::read_to_string(&real).expect("read"),
        format!("{USERS}# edited\n")
    );
}

#[test]
fn a_missing_file_and_folder_are_made_private() {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("home/.ssh/config");
    let change = plan_install(&config, Path::new(INCLUDE)).expect("planned");
    assert_eq!(change.before, "");
    apply(&config, &change).expect("applied");
    let file = std::fs::metadata(&config)
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(file & 0o777, 0o600);
    let folder = std::fs::metadata(config.parent().expect("parent"))
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(folder & 0o777, 0o700);
}

#[test]
fn a_file_that_is_not_text_is_left_alone() {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("config");
    std::fs::write(&config, [0xff, 0xfe, b'H']).expect("write");
    let err = plan_install(&config, Path::new(INCLUDE)).expect_err("binary");
    assert!(err.message.contains("not UTF-8"), "{}", err.message);
}

proptest! {
    /// Any file without SAM's markers comes back byte for byte after install and remove, and
    /// installing twice changes nothing more.
    #[test]
    fn install_then_remove_is_the_identity(
        lines in prop::collection::vec("[ -~\t]{0,40}", 0..12),
        crlf in any::<bool>(),
        final_newline in any::<bool>(),
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut text = lines.join(eol);
        if final_newline && !text.is_empty() {
            text.push_str(eol);
        }
        prop_assume!(!text.contains(BEGIN) && !text.contains(END));
        let installed = with_block(&text, Path::new(INCLUDE)).expect("installed");
        prop_assert!(installed.starts_with(BEGIN));
        prop_assert!(installed.ends_with(&text));
        prop_assert_eq!(&with_block(&installed, Path::new(INCLUDE)).expect("again"), &installed);
        prop_assert_eq!(without_block(&installed).expect("removed"), text);
    }

    /// Whatever the text, planning never panics: it is refused or changed within the rules.
    #[test]
    fn any_text_is_handled_without_panicking(
        parts in prop::collection::vec(prop_oneof![
            Just(BEGIN.to_owned()),
            Just(END.to_owned()),
            "[ -~]{0,20}",
        ], 0..8),
    ) {
        let text = parts.join("\n");
        if let Ok(installed) = with_block(&text, Path::new(INCLUDE)) {
            prop_assert_eq!(block_lines(&installed).len(), 4);
        }
    }
}

#[test]
fn openssh_resolves_a_workspace_through_the_block_and_sams_file() {
    let dir = tempfile::tempdir().expect("dir");
    let sam_file = dir.path().join("sam dir/ssh_config");
    let known = dir.path().join("sam dir/known_hosts");
    let entries = [HostEntry {
        alias: "sam-shop".to_owned(),
        key_alias: "sam-abcdefghijkm".to_owned(),
        user: "dev".to_owned(),
        proxy_command: vec![
            "/opt/my apps/sam".to_owned(),
            "ssh".to_owned(),
            "--stdio".to_owned(),
            "shop".to_owned(),
        ],
    }];
    write_atomic(
        &sam_file,
        hosts_file(&entries, &known).expect("hosts").as_bytes(),
    )
    .expect("written");
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        "Host *\n    User someone-else\n    StrictHostKeyChecking no\n",
    )
    .expect("user's config");
    apply(&config, &plan_install(&config, &sam_file).expect("planned")).expect("applied");

    let output = std::process::Command::new("ssh")
        .arg("-G")
        .arg("-F")
        .arg(&config)
        .arg("sam-shop")
        .output()
        .expect("ssh runs (Debian's openssh-client; ./scripts/test installs it)");
    assert!(output.status.success(), "{output:?}");
    let resolved = String::from_utf8_lossy(&output.stdout);
    let value = |key: &str| {
        resolved
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{key} ")))
            .unwrap_or_default()
            .to_owned()
    };
    // SAM's values win over the user's `Host *`, which comes after the block.
    assert_eq!(value("user"), "dev");
    assert_eq!(value("stricthostkeychecking"), "true");
    assert_eq!(value("hostkeyalias"), "sam-abcdefghijkm");
    assert_eq!(value("userknownhostsfile"), known.display().to_string());
    assert_eq!(value("proxycommand"), "'/opt/my apps/sam' ssh --stdio shop");
    // Another host still gets the user's settings.
    let other = std::process::Command::new("ssh")
        .arg("-G")
        .arg("-F")
        .arg(&config)
        .arg("elsewhere")
        .output()
        .expect("ssh runs");
    assert!(String::from_utf8_lossy(&other.stdout).contains("\nuser someone-else\n"));
}

#[test]
fn hosts_file_words_are_quoted_and_bad_names_refused() {
    assert_eq!(shell_word("/usr/bin/sam"), "/usr/bin/sam");
    assert_eq!(shell_word("it's"), "'it'\\''s'");
    assert_eq!(shell_word("50%"), "'50%%'");
    let entry = HostEntry {
        alias: "sam-a b".to_owned(),
        key_alias: "sam-x".to_owned(),
        user: "dev".to_owned(),
        proxy_command: vec!["sam".to_owned()],
    };
    assert!(hosts_file(&[entry], Path::new("/k")).is_err());
}
