//! Web addresses on this workspace's own loopback in a terminal's output — `http://localhost:3000`,
//! `https://127.0.0.1:8443/`, `http://0.0.0.0:5173`, `http://[::1]:4000` — which a dev server or
//! a coding agent prints when it starts listening: the desktop offers to forward their ports.
//!
//! The scan runs on every output chunk, so it looks only at each `://` (a `memmem` search) and
//! reads a few bytes around it; an address split between two chunks is missed, and that is fine:
//! the Ports panel also offers every port that listens.

use memchr::memmem;

/// The hosts that mean "this machine".
const LOCAL_HOSTS: [&[u8]; 5] = [b"localhost", b"127.0.0.1", b"0.0.0.0", b"[::1]", b"[::]"];

/// The ports of local web addresses in `bytes`, in order of appearance (repeats included).
pub fn local_ports(bytes: &[u8]) -> Vec<u16> {
    memmem::find_iter(bytes, b"://")
        .filter_map(|at| {
            let before = &bytes[..at];
            let scheme_ok = before.ends_with(b"http") || before.ends_with(b"https");
            if !scheme_ok {
                return None;
            }
            let after = &bytes[at + 3..];
            let host = LOCAL_HOSTS
                .iter()
                .find(|host| after.len() > host.len() && after.starts_with(host))?;
            let rest = &after[host.len()..];
            let digits = rest.strip_prefix(b":")?;
            let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
            // A port is 1 to 5 digits, and what follows it ends the address's authority.
            if len == 0 || len > 5 {
                return None;
            }
            if digits
                .get(len)
                .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'.')
            {
                return None;
            }
            std::str::from_utf8(&digits[..len])
                .ok()?
                .parse::<u16>()
                .ok()
                .filter(|port| *port != 0)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn what_dev_servers_print() {
        let printed = b"\x1b[32m  VITE v5  ready\x1b[0m\r\n  Local:   http://localhost:5173/\r\n\
            Listening on http://0.0.0.0:8000 (Press CTRL+C)\r\n\
            Serving HTTP on :: port 8080 (http://[::]:8080/) ...\r\n\
            server at https://127.0.0.1:8443/api and http://[::1]:4000";
        assert_eq!(local_ports(printed), vec![5173, 8000, 8080, 8443, 4000]);
    }

    #[test]
    fn other_addresses_are_not_offered() {
        for text in [
            "http://example.com:3000/",
            "http://localhost/",
            "http://localhost.example.com:3000",
            "ftp://localhost:21",
            "http://localhost:0",
            "http://localhost:65536",
            "http://localhost:123456",
            "http://localhost:3000x",
            "http://127.0.0.10:3000",
            "localhost:3000",
            "http://",
            "http://localhost:",
        ] {
            assert!(local_ports(text.as_bytes()).is_empty(), "{text}");
        }
    }

    proptest! {
        #[test]
        fn any_bytes_are_scanned_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = local_ports(&bytes);
        }

        #[test]
        fn every_local_port_is_found_wherever_it_is(prefix in "[ -~]{0,40}", port in 1u16..) {
            let text = format!("{prefix} http://localhost:{port}/ ");
            let found = local_ports(text.as_bytes());
            prop_assert_eq!(found.last().copied(), Some(port));
        }
    }
}
