//! What "open in an editor" hands the system's URL opener, per editor, for a workspace reached
//! over SSH as the host alias SAM's SSH config defines (`sam-<name>`): the SSH issue's
//! `sam open --editor` and the workspace page's buttons use it.
//!
//! The URL forms are the editors' own: VS Code's and Cursor's Remote-SSH
//! (`vscode://vscode-remote/ssh-remote+HOST/PATH`), JetBrains Gateway's connect link, Zed's
//! `zed://ssh/USER@HOST/PATH`. None of these editors installs on the test machines, so the tests
//! check the exact URL.

use std::fmt;
use std::str::FromStr;

use crate::error::SamError;

/// An editor SAM can open a workspace in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Editor {
    /// Visual Studio Code with Remote-SSH.
    VsCode,
    /// Cursor (VS Code's Remote-SSH under its own scheme).
    Cursor,
    /// JetBrains Gateway.
    JetBrains,
    /// Zed.
    Zed,
}

impl Editor {
    /// Every editor, in the order they are offered.
    pub const ALL: [Editor; 4] = [Self::VsCode, Self::Cursor, Self::JetBrains, Self::Zed];

    /// The name `--editor` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::VsCode => "vscode",
            Self::Cursor => "cursor",
            Self::JetBrains => "jetbrains",
            Self::Zed => "zed",
        }
    }

    /// The URL that opens `folder` on SSH host `host` as `user` in this editor.
    pub fn url(self, host: &str, user: &str, folder: &str) -> Result<String, SamError> {
        check_name("host", host)?;
        check_name("user", user)?;
        let path = encode_path(folder)?;
        Ok(match self {
            Self::VsCode => format!("vscode://vscode-remote/ssh-remote+{host}{path}"),
            Self::Cursor => format!("cursor://vscode-remote/ssh-remote+{host}{path}"),
            Self::JetBrains => format!(
                "jetbrains-gateway://connect#host={host}&port=22&user={user}&type=ssh&deploy=false&projectPath={}",
                path.replace('/', "%2F")
            ),
            Self::Zed => format!("zed://ssh/{user}@{host}{path}"),
        })
    }
}

impl fmt::Display for Editor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Editor {
    type Err = SamError;

    fn from_str(text: &str) -> Result<Self, SamError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "vscode" | "code" => Ok(Self::VsCode),
            "cursor" => Ok(Self::Cursor),
            "jetbrains" | "gateway" => Ok(Self::JetBrains),
            "zed" => Ok(Self::Zed),
            _ => Err(SamError::invalid_input(
                format!("SAM does not know the editor {text:?}."),
                format!("Choose one of {}.", Self::ALL.map(Editor::name).join(", ")),
            )),
        }
    }
}

/// Host aliases and user names go into URLs as they are: letters, digits, `.`, `_`, `-`.
fn check_name(what: &str, value: &str) -> Result<(), SamError> {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if plain {
        Ok(())
    } else {
        Err(SamError::invalid_input(
            format!("The SSH {what} {value:?} cannot go into an editor link."),
            "Use letters, digits, dots, dashes and underscores only.",
        ))
    }
}

/// An absolute folder path with every byte outside `A-Za-z0-9-._~/` percent-encoded.
fn encode_path(folder: &str) -> Result<String, SamError> {
    if !folder.starts_with('/') || folder.chars().any(char::is_control) {
        return Err(SamError::invalid_input(
            format!("The folder {folder:?} is not an absolute path."),
            "Give the workspace's folder as it is on the server, e.g. /workspace.",
        ));
    }
    Ok(folder
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_editor_gets_its_own_link() {
        let url = |editor: Editor| editor.url("sam-shop", "dev", "/workspace").expect("url");
        assert_eq!(
            url(Editor::VsCode),
            "vscode://vscode-remote/ssh-remote+sam-shop/workspace"
        );
        assert_eq!(
            url(Editor::Cursor),
            "cursor://vscode-remote/ssh-remote+sam-shop/workspace"
        );
        assert_eq!(
            url(Editor::JetBrains),
            "jetbrains-gateway://connect#host=sam-shop&port=22&user=dev&type=ssh&deploy=false&projectPath=%2Fworkspace"
        );
        assert_eq!(url(Editor::Zed), "zed://ssh/dev@sam-shop/workspace");
    }

    #[test]
    fn folders_are_encoded_and_bad_names_refused() {
        assert_eq!(
            Editor::VsCode
                .url("sam-a", "dev", "/home/me/my repo#1")
                .expect("url"),
            "vscode://vscode-remote/ssh-remote+sam-a/home/me/my%20repo%231"
        );
        for (host, user, folder) in [
            ("sam a", "dev", "/w"),
            ("sam-a", "dev&x=1", "/w"),
            ("", "dev", "/w"),
            ("sam-a", "dev", "relative"),
            ("sam-a", "dev", "/w\nx"),
        ] {
            assert!(
                Editor::Zed.url(host, user, folder).is_err(),
                "{host:?} {user:?} {folder:?}"
            );
        }
    }

    #[test]
    fn names_parse_with_aliases_and_unknown_ones_list_the_choices() {
        assert_eq!("code".parse::<Editor>().expect("vscode"), Editor::VsCode);
        assert_eq!(
            " Gateway ".parse::<Editor>().expect("jb"),
            Editor::JetBrains
        );
        for editor in Editor::ALL {
            assert_eq!(editor.name().parse::<Editor>().expect("round trip"), editor);
        }
        let err = "emacs".parse::<Editor>().expect_err("unknown");
        assert!(
            err.next_step.contains("vscode, cursor, jetbrains, zed"),
            "{err:?}"
        );
    }
}
