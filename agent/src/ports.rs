//! Which TCP ports are listening in the workspace, from the kernel's socket tables
//! (`/proc/net/tcp` and `/proc/net/tcp6`): the part of port forwarding that notices a dev server
//! starting, so the desktop can offer to forward it (the SSH and ports issue).
//!
//! Each table line is `sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt
//! uid timeout inode …`, addresses as hex `ADDR:PORT` with the address in the kernel's byte
//! order. A listening socket has state `0A`. Lines that do not parse are skipped (the tables are
//! the kernel's, but a parser is no place for a panic).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// One listening socket.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Listener {
    /// The port.
    pub port: u16,
    /// The address it listens on (`0.0.0.0` or `::` for every address).
    pub addr: IpAddr,
    /// The user that owns it.
    pub uid: u32,
}

/// The kernel's state number for a listening socket.
const LISTEN: &str = "0A";

/// Listening TCP sockets in `proc_root` (`/proc` on a machine) owned by `uid`, or by anyone when
/// `uid` is `None`, by port and address, without repeats.
pub fn listening(proc_root: &Path, uid: Option<u32>) -> Vec<Listener> {
    let mut found = Vec::new();
    for table in ["net/tcp", "net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(proc_root.join(table)) {
            found.extend(parse_table(&text));
        }
    }
    found.retain(|l| uid.is_none_or(|uid| l.uid == uid));
    found.sort();
    found.dedup();
    found
}

/// The listening sockets in one table's text.
pub fn parse_table(text: &str) -> Vec<Listener> {
    text.lines().skip(1).filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Listener> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (local, state, uid) = (fields.get(1)?, fields.get(3)?, fields.get(7)?);
    if *state != LISTEN {
        return None;
    }
    let (addr, port) = local.split_once(':')?;
    Some(Listener {
        port: u16::from_str_radix(port, 16).ok()?,
        addr: parse_addr(addr)?,
        uid: uid.parse().ok()?,
    })
}

/// A table address: 8 hex digits (IPv4) or 32 (IPv6, four 32-bit words), each 32-bit word in
/// the machine's byte order, as the kernel prints them.
fn parse_addr(hex: &str) -> Option<IpAddr> {
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let word = |i: usize| -> Option<[u8; 4]> {
        let value = u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16).ok()?;
        Some(value.to_ne_bytes())
    };
    match hex.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(word(0)?))),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            Some(IpAddr::V6(Ipv6Addr::from(bytes)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Lines as a little-endian machine prints them: a listener on 127.0.0.1:3000 (uid 1000),
    /// an established connection, a listener on every address port 22 (root), and IPv6
    /// listeners on ::1 port 8080 and on :: port 5173.
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 23456 1 0000000000000000 100 0 0 10 0
   1: 0100007F:0BB8 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 23457 1 0000000000000000 20 4 30 10 -1
   2: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234 1 0000000000000000 100 0 0 10 0
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 3456 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000000000000:1435 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 3457 1 0000000000000000 100 0 0 10 0
";

    #[test]
    #[cfg(target_endian = "little")]
    fn listeners_are_read_with_their_addresses_and_owners() {
        let v4 = parse_table(TCP);
        assert_eq!(
            v4,
            [
                Listener {
                    port: 3000,
                    addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
                    uid: 1000
                },
                Listener {
                    port: 22,
                    addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    uid: 0
                },
            ]
        );
        let v6 = parse_table(TCP6);
        assert_eq!(v6[0].addr, IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(v6[0].port, 8080);
        assert_eq!(v6[1].addr, IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        assert_eq!(v6[1].port, 5173);

        let dir = tempfile::tempdir().expect("dir");
        std::fs::create_dir_all(dir.path().join("net")).expect("mkdir");
        std::fs::write(dir.path().join("net/tcp"), TCP).expect("write");
        std::fs::write(dir.path().join("net/tcp6"), TCP6).expect("write");
        let ports: Vec<u16> = listening(dir.path(), Some(1000))
            .iter()
            .map(|l| l.port)
            .collect();
        assert_eq!(ports, [3000, 5173, 8080]);
    }

    #[test]
    fn a_socket_this_process_listens_on_is_seen_in_the_real_tables() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let uid = nix::unistd::Uid::current().as_raw();
        let seen = listening(Path::new("/proc"), Some(uid));
        assert!(
            seen.iter()
                .any(|l| l.port == port && l.addr == IpAddr::V4(Ipv4Addr::LOCALHOST)),
            "{port} in {seen:?}"
        );
        // Another user's sockets are not the workspace's.
        assert!(
            !listening(Path::new("/proc"), Some(uid.wrapping_add(12_345)))
                .iter()
                .any(|l| l.port == port)
        );
        drop(listener);
    }

    proptest! {
        #[test]
        fn any_table_text_parses_without_panicking(text in "\\PC{0,400}") {
            let _ = parse_table(&text);
        }

        #[test]
        fn lines_made_of_table_like_fields_never_panic(
            fields in prop::collection::vec("[0-9A-Fa-f:]{0,40}", 0..12),
        ) {
            let line = fields.join(" ");
            let _ = parse_table(&format!("header\n{line}\n"));
        }
    }
}
