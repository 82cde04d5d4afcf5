//! Enrollment: the agent proves it knows the workspace's one-time secret, bound to one TLS
//! session, so the desktop can pin its self-signed certificate without trusting the network.
//!
//! Both ends compute the TLS exporter value (RFC 8446 §7.5) of their TLS session with label
//! [`EXPORTER_LABEL`], no context, [`EXPORTER_LEN`] bytes. A machine in the middle terminates two
//! different TLS sessions, so its two exporter values differ and it cannot relay a valid proof.
//! The proof is `HMAC-SHA256(key = SHA-256(secret), "sam-enroll-v1\0" ‖ exporter)`.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The TLS exporter label.
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-sam-enroll-v1";

/// The length of the exporter value.
pub const EXPORTER_LEN: usize = 32;

const PROOF_DOMAIN: &[u8] = b"sam-enroll-v1\0";

/// The key derived from an enrollment secret. The agent may be configured with the secret or
/// with this key (its SHA-256), as lowercase hex.
#[derive(Clone, PartialEq, Eq)]
pub struct EnrollmentKey([u8; 32]);

impl std::fmt::Debug for EnrollmentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnrollmentKey([redacted])")
    }
}

impl EnrollmentKey {
    /// The key for `secret`.
    pub fn from_secret(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    /// A key given as 64 hex digits (the secret's SHA-256).
    pub fn from_hex(hex: &str) -> Result<Self, String> {
        let hex = hex.trim();
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("expected 64 hexadecimal digits (a SHA-256)".to_owned());
        }
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                .map_err(|err| format!("bad hex: {err}"))?;
        }
        Ok(Self(key))
    }

    /// The key as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The proof for one TLS session's exporter value.
    pub fn proof(&self, exporter: &[u8]) -> [u8; 32] {
        // HMAC accepts keys of any length.
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!());
        mac.update(PROOF_DOMAIN);
        mac.update(exporter);
        mac.finalize().into_bytes().into()
    }

    /// Whether `proof` is right for `exporter`, in constant time.
    pub fn verify(&self, exporter: &[u8], proof: &[u8]) -> bool {
        proof.len() == 32 && bool::from(self.proof(exporter).ct_eq(proof))
    }
}

/// The SHA-256 of a certificate's DER bytes, as 64 lowercase hex digits: what the desktop pins.
pub fn certificate_fingerprint(der: &[u8]) -> String {
    sha256_hex(der)
}

/// The SHA-256 of `bytes` as 64 lowercase hex digits, as `sha256sum` prints it (what user_data
/// pins for an agent binary).
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_are_lower_case_hex_as_sha256sum_prints_them() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_proof_depends_on_secret_and_session() {
        let key = EnrollmentKey::from_secret("one-time-secret");
        let proof = key.proof(&[1; 32]);
        assert!(key.verify(&[1; 32], &proof));
        assert!(!key.verify(&[2; 32], &proof), "another TLS session");
        assert!(
            !EnrollmentKey::from_secret("other").verify(&[1; 32], &proof),
            "another secret"
        );
        assert!(!key.verify(&[1; 32], &proof[..31]), "truncated");
    }

    #[test]
    fn the_key_can_be_configured_as_hex() {
        let key = EnrollmentKey::from_secret("s");
        assert_eq!(EnrollmentKey::from_hex(&key.to_hex()), Ok(key.clone()));
        assert!(EnrollmentKey::from_hex("abc").is_err());
        assert!(EnrollmentKey::from_hex(&"zz".repeat(32)).is_err());
        assert_eq!(format!("{key:?}"), "EnrollmentKey([redacted])");
    }
}
