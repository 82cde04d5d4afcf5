//! Servers that boot: when a server powers on, the fake reads its user_data the way cloud-init
//! would (SAM's user_data is `#cloud-config` and one JSON document), takes the agent's config
//! file out of it, and starts the real `sam-agent` on the server's loopback address and the
//! agent's real port, with the server's volume folder as the workspace disk. user_data that is
//! not ours boots a server without an agent.

#![allow(unsafe_code)]

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// Where SAM's user_data writes the agent's config file.
pub const AGENT_CONFIG_PATH: &str = "/etc/sam-agent/config.json";

/// The boot log a fake server shows: the phases of SAM's boot script, all fine.
pub const SIMULATED_BOOT_LOG: &str = "sam-boot: read-config: ok\n\
sam-boot: users: ok\n\
sam-boot: install-agent: ok: simulated by fake-hetzner\n\
sam-boot: start-agent: ok\n\
sam-boot: done: ok\n";

/// A running server: its agent (servers as processes) or its virtual machine (`--vm`); killed
/// with its process group when dropped.
#[derive(Debug)]
pub struct Machine {
    child: Child,
    vm: Option<VirtualMachine>,
}

/// What only a virtual machine has.
#[derive(Debug)]
struct VirtualMachine {
    /// Its folder, with its QMP and console sockets.
    dir: PathBuf,
    /// Its metadata server.
    metadata: tokio::task::JoinHandle<()>,
}

impl Machine {
    /// A virtual machine (see [`crate::vm`]) run by `child`, with its metadata server.
    pub fn virtual_machine(
        child: Child,
        dir: PathBuf,
        metadata: tokio::task::JoinHandle<()>,
    ) -> Self {
        Self {
            child,
            vm: Some(VirtualMachine { dir, metadata }),
        }
    }

    /// Whether a virtual machine powered itself off. (An agent that died leaves its server
    /// running, as on a real server.)
    pub fn powered_off(&mut self) -> bool {
        self.vm.is_some() && !matches!(self.child.try_wait(), Ok(None))
    }

    /// Presses the power button (ACPI): whether the machine can be asked (an agent-only server
    /// cannot; the caller then switches it off).
    pub fn press_power_button(&self) -> bool {
        self.vm
            .as_ref()
            .is_some_and(|vm| crate::vm::qmp(&vm.dir, "system_powerdown").is_ok())
    }

    /// Resets the machine as the reset button does; whether it could (see
    /// [`Machine::press_power_button`]).
    pub fn reset(&self) -> bool {
        self.vm
            .as_ref()
            .is_some_and(|vm| crate::vm::qmp(&vm.dir, "system_reset").is_ok())
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.child.wait();
        if let Some(vm) = &self.vm {
            vm.metadata.abort();
        }
    }
}

/// Starts `command` in a process group of its own that dies with the fake, even when the fake
/// is killed.
pub fn spawn_owned(command: &mut Command) -> std::io::Result<Child> {
    command.process_group(0);
    // SAFETY: `prctl(PR_SET_PDEATHSIG)` is async-signal-safe and touches no memory of the
    // parent.
    unsafe {
        command.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)
        });
    }
    command.spawn()
}

/// A loopback address `127.0.0.N` held for one server: no other server of any fake, in this
/// process or another, gets it while this lives (an advisory lock on a file per address; the
/// kernel drops it when the fake dies).
#[derive(Debug)]
pub struct Address {
    /// The address.
    pub ip: String,
    _lock: nix::fcntl::Flock<std::fs::File>,
}

/// Reserves a loopback address whose `port` nobody listens on (probed by binding it).
pub fn reserve_address(port: u16) -> Option<Address> {
    let dir = std::env::temp_dir().join("fake-hetzner-addresses");
    std::fs::create_dir_all(&dir).ok()?;
    (2..=254u8).find_map(|n| {
        let ip = Ipv4Addr::new(127, 0, 0, n);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(ip.to_string()))
            .ok()?;
        let lock =
            nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).ok()?;
        TcpListener::bind(SocketAddr::from((ip, port)))
            .ok()
            .map(|_| Address {
                ip: ip.to_string(),
                _lock: lock,
            })
    })
}

/// The agent config inside SAM's user_data, if it is SAM's.
pub fn agent_config(user_data: &str) -> Option<serde_json::Map<String, Value>> {
    let body = user_data.strip_prefix("#cloud-config\n")?;
    let document: Value = serde_json::from_str(body).ok()?;
    let entry = document["write_files"]
        .as_array()?
        .iter()
        .find(|file| file["path"] == AGENT_CONFIG_PATH)?;
    match serde_json::from_str(entry["content"].as_str()?).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// How to boot one server.
#[derive(Debug)]
pub struct Boot<'a> {
    /// The agent binary.
    pub agent_bin: &'a Path,
    /// The server's address.
    pub ip: &'a str,
    /// The agent's port.
    pub port: u16,
    /// The server's folder.
    pub dir: &'a Path,
    /// The workspace disk (the attached volume's folder), if any.
    pub disk: Option<&'a Path>,
    /// The boot log's last phase fails.
    pub failed_phase: Option<&'a str>,
}

/// Starts the agent SAM's `user_data` describes; `Ok(None)` for user_data that is not SAM's.
pub fn boot(user_data: &str, boot: &Boot<'_>) -> std::io::Result<Option<Machine>> {
    let Some(mut config) = agent_config(user_data) else {
        return Ok(None);
    };
    let workspace = boot
        .disk
        .map_or_else(|| boot.dir.join("workspace"), Path::to_path_buf);
    let state = boot.dir.join("agent-state");
    for dir in [&workspace, &state] {
        std::fs::create_dir_all(dir)?;
    }
    // What the VM's image provides differently here: the address, the folders, and no
    // separate workspace user or real power-off.
    let set = |config: &mut serde_json::Map<String, Value>, key: &str, value: String| {
        config.insert(key.to_owned(), Value::String(value));
    };
    set(&mut config, "listen", format!("{}:{}", boot.ip, boot.port));
    set(&mut config, "workspace_root", path_text(&workspace));
    set(&mut config, "state_dir", path_text(&state));
    let poweroff = boot.dir.join("poweroff-requested");
    set(
        &mut config,
        "poweroff_command",
        format!("touch {}", path_text(&poweroff)),
    );
    config.remove("run_as");
    config.remove("postpone_command");
    // What SAM's boot script would have logged by the time it starts the agent.
    let boot_log = boot.dir.join("sam-boot.log");
    let log = match boot.failed_phase {
        None => SIMULATED_BOOT_LOG.to_owned(),
        Some(phase) => format!(
            "sam-boot: read-config: ok\nsam-boot: start-agent: ok\nsam-boot: {phase}: FAILED: simulated by fake-hetzner\n"
        ),
    };
    std::fs::write(&boot_log, log)?;
    set(&mut config, "boot_log", path_text(&boot_log));
    let config_path = boot.dir.join("agent-config.json");
    std::fs::write(&config_path, Value::Object(config).to_string())?;
    let log = std::fs::File::create(boot.dir.join("agent.log"))?;
    let mut command = Command::new(boot.agent_bin);
    command
        .arg(format!("--config={}", path_text(&config_path)))
        .current_dir(&workspace)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    Ok(Some(Machine {
        child: spawn_owned(&mut command)?,
        vm: None,
    }))
}

/// Whether the agent on this server asked to power it off (its backstop).
pub fn poweroff_requested(dir: &Path) -> bool {
    dir.join("poweroff-requested").exists()
}

fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// The agent binary: `--agent-bin`, else `sam-agent` next to the running executable (or one
/// folder up, where cargo puts binaries relative to test executables).
pub fn default_agent_bin() -> PathBuf {
    sibling_binary("sam-agent")
}

/// The program `name` next to the running executable, or one folder up (where cargo puts
/// binaries relative to test executables), else `name` on PATH.
pub fn sibling_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    [dir.join(name), dir.join("..").join(name)]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sam_user_data_yields_an_agent_config() {
        let ours = format!(
            "#cloud-config\n{}",
            serde_json::json!({"write_files": [
                {"path": "/etc/other", "content": "x"},
                {"path": AGENT_CONFIG_PATH, "content": "{\"workspace_id\":\"abc\"}"},
            ]})
        );
        let config = agent_config(&ours).expect("ours");
        assert_eq!(config["workspace_id"], "abc");
        for other in [
            "",
            "#!/bin/sh\necho hi",
            "#cloud-config\nusers: []\n",
            "#cloud-config\n{}",
        ] {
            assert!(agent_config(other).is_none(), "{other:?}");
        }
    }
}
