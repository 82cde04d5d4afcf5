//! What differs between the systems SAM is built for: starting a process apart from SAM's own
//! (so a Ctrl-C to SAM does not reach it), ending one, and this computer's user name. SAM runs
//! workspaces on this computer only on Linux; elsewhere these do what the system allows.

use std::process::Command;

/// Starts `command` in a process group of its own.
pub fn detach(command: &mut Command) {
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(command, 0);
    #[cfg(windows)]
    {
        /// `CREATE_NEW_PROCESS_GROUP`: console control events of SAM's do not reach it.
        const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
        std::os::windows::process::CommandExt::creation_flags(command, CREATE_NEW_PROCESS_GROUP);
    }
}

/// Asks process `pid` to end (SIGTERM), or ends it at once when `now` (SIGKILL); whether the
/// request could be sent.
pub fn end_process(pid: i32, now: bool) -> bool {
    #[cfg(unix)]
    {
        use nix::sys::signal::{Signal, kill};
        let signal = if now {
            Signal::SIGKILL
        } else {
            Signal::SIGTERM
        };
        kill(nix::unistd::Pid::from_raw(pid), signal).is_ok()
    }
    #[cfg(not(unix))]
    {
        let _ = (pid, now);
        false
    }
}

/// The name of the user SAM runs as.
pub fn user_name() -> Option<String> {
    #[cfg(unix)]
    {
        nix::unistd::User::from_uid(nix::unistd::getuid())
            .ok()
            .flatten()
            .map(|user| user.name)
    }
    #[cfg(not(unix))]
    {
        std::env::var("USERNAME").ok()
    }
}
