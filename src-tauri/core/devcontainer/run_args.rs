//! A configuration's `runArgs` — options it asks the container engine to start the container
//! with — checked before anything runs. A repository is someone else's input: an option that
//! gives the container the machine (`--privileged`, the host's process or network namespace, a
//! host folder or device, a capability that amounts to root) would let its code out of the
//! container onto this computer or the workspace's server, where SAM's agent keeps its keys. So
//! only options known to stay inside the container pass; anything else is refused by name.
//! Networking and the repository's mount are SAM's to decide, not the configuration's.

/// Checks an option's value; the error says why it is refused.
type ValueCheck = fn(&str) -> Result<(), String>;

/// Options taking a value (as `--opt=value` or `--opt value`) that are passed on, with a check
/// of the value.
const WITH_VALUE: [(&str, ValueCheck); 13] = [
    ("--cap-add", capability),
    ("--security-opt", security_option),
    ("--env", any),
    ("-e", any),
    ("--label", any),
    ("-l", any),
    ("--add-host", any),
    ("--shm-size", any),
    ("--ulimit", any),
    ("--memory", any),
    ("-m", any),
    ("--cpus", any),
    ("--hostname", any),
];

/// Options without a value that are passed on.
const ALONE: [&str; 2] = ["--init", "--tty"];

/// Capabilities that amount to control of the machine from inside a container.
const MACHINE_CAPABILITIES: [&str; 13] = [
    "ALL",
    "SYS_ADMIN",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_BOOT",
    "SYS_TIME",
    "DAC_READ_SEARCH",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "NET_ADMIN",
    "BPF",
    "PERFMON",
    "SYSLOG",
];

/// Checks every option; the error names the first one refused and why.
pub fn check(args: &[String]) -> Result<(), String> {
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with('-') => (name, Some(value)),
            _ => (arg.as_str(), None),
        };
        if ALONE.contains(&name) && inline.is_none() {
            continue;
        }
        let Some((_, value_ok)) = WITH_VALUE.iter().find(|(known, _)| *known == name) else {
            return Err(refused(arg));
        };
        let value = match inline {
            Some(value) => value,
            None => args
                .next()
                .ok_or_else(|| format!("runArgs ends with {name}, which needs a value"))?,
        };
        value_ok(value).map_err(|why| format!("runArgs asks for {name} {value}: {why}"))?;
    }
    Ok(())
}

fn refused(arg: &str) -> String {
    format!(
        "runArgs asks for {arg}, which SAM does not pass to the container engine: it could give \
         the container this machine, or it is SAM's to set (see docs/devcontainers.md)"
    )
}

fn any(_: &str) -> Result<(), String> {
    Ok(())
}

fn capability(value: &str) -> Result<(), String> {
    let name = value.trim().to_ascii_uppercase();
    let name = name.strip_prefix("CAP_").unwrap_or(&name);
    if MACHINE_CAPABILITIES.contains(&name) {
        Err("that capability amounts to control of the machine".to_owned())
    } else {
        Ok(())
    }
}

/// Only switching off the system call filter, which debuggers need, passes.
fn security_option(value: &str) -> Result<(), String> {
    if value == "seccomp=unconfined" || value == "seccomp:unconfined" {
        Ok(())
    } else {
        Err("only seccomp=unconfined (for debuggers) is passed on".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn what_debuggers_and_tools_ask_for_passes() {
        for list in [
            &[
                "--cap-add=SYS_PTRACE",
                "--security-opt",
                "seccomp=unconfined",
            ][..],
            &[
                "--init",
                "-e",
                "A=1",
                "--env=B=2",
                "--label",
                "x=y",
                "--shm-size=1g",
            ],
            &[
                "--ulimit",
                "nofile=1024:4096",
                "--cpus",
                "2",
                "-m",
                "4g",
                "--hostname=dev",
            ],
            &["--add-host=db:127.0.0.1", "--cap-add", "cap_net_raw"],
            &[],
        ] {
            assert_eq!(check(&args(list)), Ok(()), "{list:?}");
        }
    }

    #[test]
    fn what_gives_the_container_the_machine_is_refused_by_name() {
        for (list, says) in [
            (&["--privileged"][..], "--privileged"),
            (&["--pid=host"], "--pid=host"),
            (&["--network", "host"], "--network"),
            (&["--net=bridge"], "--net=bridge"),
            (&["-v", "/:/host"], "-v"),
            (&["--volume=/var/run/docker.sock:/s"], "--volume"),
            (&["--mount", "type=bind,src=/,dst=/h"], "--mount"),
            (&["--device=/dev/sda"], "--device"),
            (&["--userns=host"], "--userns"),
            (&["--cap-add=SYS_ADMIN"], "SYS_ADMIN"),
            (&["--cap-add", "all"], "all"),
            (&["--cap-add", "CAP_SYS_MODULE"], "CAP_SYS_MODULE"),
            (&["--security-opt=apparmor=unconfined"], "apparmor"),
            (&["--cap-add"], "needs a value"),
            (&["--init=yes"], "--init=yes"),
            (&["--gpus", "all"], "--gpus"),
        ] {
            let err = check(&args(list)).expect_err(&format!("{list:?}"));
            assert!(err.contains(says), "{list:?}: {err}");
        }
    }

    proptest! {
        #[test]
        fn any_arguments_are_checked_without_panicking(list in proptest::collection::vec("\\PC{0,20}", 0..6)) {
            let _ = check(&list);
        }
    }
}
