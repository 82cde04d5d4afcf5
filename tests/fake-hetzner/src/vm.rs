//! Servers as virtual machines (`--vm IMAGE`): each server is a QEMU machine (software
//! emulation) booting the Debian 12 image `scripts/lib/vm-image.sh` builds, from a copy-on-write
//! disk of its own, as Hetzner's servers boot:
//!
//! - It says it is a Hetzner server in SMBIOS (manufacturer `Hetzner`, serial = the server's id),
//!   so the image's real cloud-init picks its Hetzner datasource, which asks the metadata
//!   service at `169.254.169.254` for the server's metadata and SAM's user_data. QEMU's user
//!   network is `169.254.169.0/24`, so that address is inside it, and a guest forward relays
//!   each connection to it to a small HTTP server of this server's own on the host's loopback
//!   (through `fake-hetzner --relay`, one process per connection).
//! - Its public address is the loopback address the fake reserved for it: port 443 there is
//!   forwarded to port 443 of the machine.
//! - Each attached Volume is a file (sparse, of the Volume's size) attached as a SCSI disk with
//!   Hetzner's vendor and product (`HC`, `Volume`) and the Volume's id as its serial, so udev
//!   names it `/dev/disk/by-id/scsi-0HC_Volume_<id>`, the `linux_device` the API reports.
//! - The host is `169.254.169.2` from inside (QEMU's user network), where the fake's own API
//!   port serves the agent release.
//! - A virtio port carries the test image's root console (`Machine::root`), which no real
//!   server has.
//!
//! Power actions act on the machine (ACPI power button, reset, kill), and a machine that powered
//! itself off is `off` in the API.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::machines::{self, Machine};

/// The host's address as the machines see it.
pub const HOST_FROM_GUEST: &str = "169.254.169.2";
/// The metadata service's address, as on Hetzner.
pub const METADATA_ADDRESS: &str = "169.254.169.254";
/// The name of the virtio port that carries the test image's root console.
const ROOT_PORT: &str = "org.sam.test.root";
/// What the root console prints after a command's output.
const EXIT_MARK: &str = "@@sam-exit ";

/// How servers boot as virtual machines.
#[derive(Debug, Clone)]
pub struct VmOptions {
    /// The image folder (`disk.img`, `vmlinuz`, `initrd.img`), as `vm-image.sh` prints it.
    pub image: PathBuf,
    /// The `fake-hetzner` binary, whose `--relay` mode connects a guest to the metadata server.
    pub relay: PathBuf,
    /// Memory per machine, in MiB.
    pub memory_mib: u32,
    /// Virtual CPUs per machine.
    pub cpus: u32,
}

impl VmOptions {
    /// Machines of 1 GiB and 2 CPUs from `image`, relayed by the `fake-hetzner` next to this
    /// executable.
    pub fn new(image: PathBuf) -> Self {
        Self {
            image,
            relay: machines::sibling_binary("fake-hetzner"),
            memory_mib: 1024,
            cpus: 2,
        }
    }
}

/// One server to boot.
#[derive(Debug)]
pub struct VmBoot<'a> {
    /// The server's id (its SMBIOS serial and cloud-init instance id).
    pub id: i64,
    /// Its name (its host name).
    pub name: &'a str,
    /// Its public address (a reserved loopback address).
    pub ip: &'a str,
    /// The host port forwarded to the machine's port 443.
    pub agent_port: u16,
    /// Its folder: disk overlay, console log, sockets.
    pub dir: &'a Path,
    /// Attached Volumes: `(id, disk file)`.
    pub volumes: Vec<(i64, PathBuf)>,
    /// Its user_data.
    pub user_data: Option<&'a str>,
    /// Where it is (`fsn1`), for its metadata.
    pub location: &'a str,
}

/// The disk file of a Volume folder in VM mode.
pub fn volume_disk(dir: &Path) -> PathBuf {
    dir.join("disk.img")
}

/// Makes a Volume's disk: a sparse file of `size_gb` GB.
pub fn create_volume_disk(dir: &Path, size_gb: u32) -> std::io::Result<()> {
    let file = std::fs::File::create(volume_disk(dir))?;
    file.set_len(u64::from(size_gb) * 1_000_000_000)
}

/// Boots a server's machine: its metadata server, its disk (made at the first boot), QEMU.
pub fn boot(options: &VmOptions, boot: &VmBoot<'_>) -> std::io::Result<Machine> {
    let disk = boot.dir.join("disk.qcow2");
    if !disk.exists() {
        let base = options.image.join("disk.img");
        let status = Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
            .arg(&base)
            .arg(&disk)
            .status()?;
        if !status.success() {
            return Err(std::io::Error::other(format!(
                "qemu-img could not make a disk over {}",
                base.display()
            )));
        }
    }
    let metadata = serve_metadata(boot)?;
    let network = format!(
        "user,id=n0,net=169.254.169.0/24,host={HOST_FROM_GUEST},\
         hostfwd=tcp:{ip}:{port}-:443,\
         guestfwd=tcp:{METADATA_ADDRESS}:80-cmd:{relay} --relay 127.0.0.1:{metadata_port}",
        ip = boot.ip,
        port = boot.agent_port,
        relay = comma_escaped(&options.relay.to_string_lossy()),
        metadata_port = metadata.port,
    );
    let mut command = Command::new("qemu-system-x86_64");
    command
        .args(["-accel", "tcg,thread=multi", "-cpu", "max"])
        .args(["-m", &options.memory_mib.to_string()])
        .args(["-smp", &options.cpus.to_string()])
        .args(["-display", "none", "-monitor", "none"])
        .arg("-serial")
        .arg(format!(
            "file:{}",
            comma_escaped(&boot.dir.join("console.log").to_string_lossy())
        ))
        .arg("-qmp")
        .arg(format!(
            "unix:{},server=on,wait=off",
            comma_escaped(&qmp_socket(boot.dir).to_string_lossy())
        ))
        .arg("-smbios")
        .arg(format!(
            "type=1,manufacturer=Hetzner,product=vServer,serial={}",
            boot.id
        ))
        .arg("-kernel")
        .arg(options.image.join("vmlinuz"))
        .arg("-initrd")
        .arg(options.image.join("initrd.img"))
        .args([
            "-append",
            "console=ttyS0 root=/dev/vda rw net.ifnames=0 systemd.show_status=false",
        ])
        .arg("-drive")
        .arg(format!(
            "file={},if=virtio,format=qcow2",
            comma_escaped(&disk.to_string_lossy())
        ))
        .args(["-netdev", &network])
        .args([
            "-device",
            &format!("virtio-net-pci,netdev=n0,mac={}", mac(boot.id)),
        ]);
    if !boot.volumes.is_empty() {
        command.args(["-device", "virtio-scsi-pci,id=scsi0"]);
    }
    for (n, (id, file)) in boot.volumes.iter().enumerate() {
        command
            .arg("-drive")
            .arg(format!(
                "file={},if=none,id=volume{n},format=raw,discard=unmap",
                comma_escaped(&file.to_string_lossy())
            ))
            .arg("-device")
            .arg(format!(
                "scsi-hd,bus=scsi0.0,drive=volume{n},vendor=HC,product=Volume,serial={id}"
            ));
    }
    command
        .args(["-device", "virtio-serial-pci"])
        .arg("-chardev")
        .arg(format!(
            "socket,id=root,path={},server=on,wait=off",
            comma_escaped(&root_socket(boot.dir).to_string_lossy())
        ))
        .args([
            "-device",
            &format!("virtserialport,chardev=root,name={ROOT_PORT}"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(boot.dir.join("qemu.log"))?);
    let child = machines::spawn_owned(&mut command)?;
    Ok(Machine::virtual_machine(
        child,
        boot.dir.to_path_buf(),
        metadata.task,
    ))
}

/// QEMU option values separate their parts with commas; a comma in a value is written twice.
fn comma_escaped(text: &str) -> String {
    text.replace(',', ",,")
}

/// A stable, locally administered MAC address for a server (Hetzner's start with `96:00`).
fn mac(id: i64) -> String {
    let bytes = id.to_be_bytes();
    format!(
        "96:00:{:02x}:{:02x}:{:02x}:{:02x}",
        bytes[4], bytes[5], bytes[6], bytes[7]
    )
}

fn qmp_socket(dir: &Path) -> PathBuf {
    dir.join("qmp.sock")
}

fn root_socket(dir: &Path) -> PathBuf {
    dir.join("root.sock")
}

struct Metadata {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

/// Serves one server's metadata on a free loopback port, the way Hetzner's metadata service
/// answers (`/hetzner/v1/metadata`, its keys one by one, `/hetzner/v1/userdata`).
fn serve_metadata(boot: &VmBoot<'_>) -> std::io::Result<Metadata> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let port = listener.local_addr()?.port();
    let metadata = json!({
        "hostname": boot.name,
        "instance-id": boot.id,
        "public-ipv4": boot.ip,
        "region": "eu-central",
        "availability-zone": format!("{}-dc1", boot.location),
        "public-keys": [],
        "vendor_data": null,
        "network-config": {
            "version": 1,
            "config": [{
                "type": "physical",
                "name": "eth0",
                "mac_address": mac(boot.id),
                "subnets": [{"type": "dhcp", "ipv4": true}],
            }],
        },
    });
    let user_data = boot.user_data.unwrap_or_default().to_owned();
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|err| std::io::Error::other(format!("no tokio runtime: {err}")))?;
    let _guard = runtime.enter();
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let answer = metadata_answer(uri.path(), &metadata, &user_data);
        async move { answer }
    });
    let task = runtime.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Metadata { port, task })
}

fn metadata_answer(
    path: &str,
    metadata: &Value,
    user_data: &str,
) -> (axum::http::StatusCode, String) {
    use axum::http::StatusCode;
    match path.trim_end_matches('/') {
        "/hetzner/v1/metadata" => (StatusCode::OK, metadata.to_string()),
        "/hetzner/v1/userdata" => (StatusCode::OK, user_data.to_owned()),
        other => match other
            .strip_prefix("/hetzner/v1/metadata/")
            .and_then(|key| metadata.get(key))
        {
            Some(Value::String(text)) => (StatusCode::OK, text.clone()),
            Some(value) => (StatusCode::OK, value.to_string()),
            None => (StatusCode::NOT_FOUND, "not found".to_owned()),
        },
    }
}

/// Sends `command` to a machine's QMP socket (after the capabilities handshake).
pub fn qmp(dir: &Path, command: &str) -> std::io::Result<()> {
    let stream = UnixStream::connect(qmp_socket(dir))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?; // the greeting
    for execute in ["qmp_capabilities", command] {
        writeln!(writer, "{}", json!({"execute": execute}))?;
        line.clear();
        reader.read_line(&mut line)?;
        if line.contains("\"error\"") {
            return Err(std::io::Error::other(format!("QMP {execute}: {line}")));
        }
    }
    Ok(())
}

/// What a command run as root on a machine's console printed, and its exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootOutput {
    /// Standard output and error, interleaved.
    pub output: String,
    /// The exit status.
    pub status: i32,
}

/// Runs `command` (one line of `sh`) as root on the machine in `dir` through the test image's
/// console; waits at most `timeout` for it.
///
/// The console may still be starting, or writing what an earlier caller left before reading
/// it all; so it is first asked to answer a marker (again, until it does), and only then is
/// `command` sent, once.
pub fn root_command(dir: &Path, command: &str, timeout: Duration) -> std::io::Result<RootOutput> {
    if command.contains('\n') {
        return Err(std::io::Error::other("one line only"));
    }
    let deadline = std::time::Instant::now() + timeout;
    let nonce = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    );
    let mut stream = UnixStream::connect(root_socket(dir))?;
    let mut seen = Vec::new();
    let ready = format!("@@sam-ready-{nonce}\n");
    loop {
        writeln!(stream, "echo {}", ready.trim_end())?;
        let until = (std::time::Instant::now() + Duration::from_secs(3)).min(deadline);
        if read_until(&mut stream, &mut seen, until, |text| text.contains(&ready))? {
            break;
        }
        if std::time::Instant::now() >= deadline {
            return Err(std::io::Error::other(format!(
                "the root console did not answer within {timeout:?}; it sent: {:?}",
                String::from_utf8_lossy(&seen)
            )));
        }
    }
    let begin = format!("@@sam-run-{nonce}\n");
    writeln!(stream, "echo {}; {command}", begin.trim_end())?;
    let finished = |text: &str| {
        text.split_once(begin.as_str())
            .and_then(|(_, after)| after.split_once(EXIT_MARK))
            .is_some_and(|(_, rest)| rest.contains('\n'))
    };
    if !read_until(&mut stream, &mut seen, deadline, finished)? {
        return Err(std::io::Error::other(format!(
            "the command did not finish within {timeout:?}; so far: {}",
            String::from_utf8_lossy(&seen)
        )));
    }
    let text = String::from_utf8_lossy(&seen);
    let after = text
        .split_once(begin.as_str())
        .map_or("", |(_, after)| after);
    let (output, rest) = after.split_once(EXIT_MARK).unwrap_or((after, ""));
    Ok(RootOutput {
        output: output.to_owned(),
        status: rest
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .parse()
            .unwrap_or(-1),
    })
}

/// Reads from `stream` into `seen` until `done` holds for what was seen (true) or `until`
/// passes (false).
fn read_until(
    stream: &mut UnixStream,
    seen: &mut Vec<u8>,
    until: std::time::Instant,
    done: impl Fn(&str) -> bool,
) -> std::io::Result<bool> {
    let mut buf = [0u8; 4096];
    loop {
        if done(&String::from_utf8_lossy(seen)) {
            return Ok(true);
        }
        let left = until.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buf) {
            Ok(0) => return Err(std::io::Error::other("the root console closed")),
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(err) => return Err(err),
        }
    }
}

/// `fake-hetzner --relay ADDR`: connects standard input and output to `addr` (QEMU runs it for
/// each guest connection to the metadata address); returns when either side closes. (A guest
/// that only half-closes its side loses the answer: HTTP clients do not do that, and the
/// metadata server would drop such a request anyway.)
pub fn relay(addr: &str) -> std::io::Result<()> {
    let stream = TcpStream::connect(addr)?;
    let mut upstream = stream.try_clone()?;
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut upstream);
        // The guest closed: nothing more to relay.
        std::process::exit(0);
    });
    // Each piece is passed on at once: standard output buffers by line, and an answer's body
    // need not end in one.
    let mut downstream = stream;
    let mut stdout = std::io::stdout().lock();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = downstream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        stdout.write_all(&buf[..n])?;
        stdout.flush()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_answers_like_hetzner() {
        let metadata = json!({"instance-id": 42, "hostname": "sam-x", "public-keys": []});
        assert_eq!(
            metadata_answer("/hetzner/v1/metadata/instance-id", &metadata, "").1,
            "42"
        );
        assert_eq!(
            metadata_answer("/hetzner/v1/metadata/hostname", &metadata, "").1,
            "sam-x"
        );
        assert_eq!(
            metadata_answer("/hetzner/v1/userdata", &metadata, "#cloud-config\n{}").1,
            "#cloud-config\n{}"
        );
        assert_eq!(
            metadata_answer("/latest/meta-data", &metadata, "").0,
            axum::http::StatusCode::NOT_FOUND
        );
    }

    /// A console like the test image's that does not hear the first `lost` lines (as when the
    /// guest reopens its port at that moment).
    fn console(dir: &Path, lost: usize) -> std::thread::JoinHandle<()> {
        let listener = std::os::unix::net::UnixListener::bind(root_socket(dir)).expect("bind");
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let mut writer = stream.try_clone().expect("clone");
            for line in BufReader::new(stream)
                .lines()
                .map_while(Result::ok)
                .skip(lost)
            {
                let output = Command::new("sh").args(["-c", &line]).output().expect("sh");
                writer.write_all(&output.stdout).expect("write");
                let status = output.status.code().unwrap_or(-1);
                writeln!(writer, "{EXIT_MARK}{status}").expect("write");
            }
        })
    }

    #[test]
    fn root_commands_wait_for_the_console_and_run_once() {
        let dir = tempfile::tempdir().expect("dir");
        let _console = console(dir.path(), 1);
        let counter = dir.path().join("runs");
        let command = format!("echo run >> {0}; wc -l < {0}; exit 3", counter.display());
        let answer = root_command(dir.path(), &command, Duration::from_secs(20)).expect("answered");
        assert_eq!(answer.output.trim(), "1", "ran once: {answer:?}");
        assert_eq!(answer.status, 3);
    }

    #[test]
    fn option_values_escape_commas_and_macs_are_hetzners() {
        assert_eq!(comma_escaped("/tmp/a,b"), "/tmp/a,,b");
        assert_eq!(mac(3_000_000_001), "96:00:b2:d0:5e:01");
    }
}
