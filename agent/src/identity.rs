//! The agent's own identity and enrollment state, kept in its state folder:
//! - `tls-key.pem` / `tls-cert.der`: the self-signed certificate the desktop pins, generated at
//!   first start and kept across restarts;
//! - `ssh-host-key`: the SSH server's ed25519 host key (OpenSSH format), generated at first
//!   start; the desktop learns its public half at enrollment and pins it in SAM's known-hosts;
//! - `enrolled`: the mark that the one-time enrollment secret has been used. Once it exists the
//!   agent refuses to enroll again, whatever its configuration says.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

const KEY_FILE: &str = "tls-key.pem";
const CERT_FILE: &str = "tls-cert.der";
const ENROLLED_FILE: &str = "enrolled";
const SSH_HOST_KEY_FILE: &str = "ssh-host-key";

/// Why the identity could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Reading or writing the state folder failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The stored key or certificate is unusable.
    #[error("TLS identity: {0}")]
    Tls(String),
    /// The SSH host key is unusable.
    #[error("SSH host key: {0}")]
    Ssh(String),
}

/// The agent's TLS identity.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The certificate, DER.
    pub cert: CertificateDer<'static>,
    key_pkcs8: Vec<u8>,
    ssh_host_key: russh::keys::PrivateKey,
    state_dir: PathBuf,
}

impl Identity {
    /// Loads the identity from `state_dir`, creating it on first start.
    pub fn load_or_create(state_dir: &Path) -> Result<Self, IdentityError> {
        let key_path = state_dir.join(KEY_FILE);
        let cert_path = state_dir.join(CERT_FILE);
        let ssh_host_key = ssh_host_key(&state_dir.join(SSH_HOST_KEY_FILE))?;
        if key_path.exists() && cert_path.exists() {
            let pem = read(&key_path)?;
            let key = rcgen::KeyPair::from_pem(&String::from_utf8_lossy(&pem))
                .map_err(|err| IdentityError::Tls(format!("{}: {err}", key_path.display())))?;
            return Ok(Self {
                cert: CertificateDer::from(read(&cert_path)?),
                key_pkcs8: key.serialize_der(),
                ssh_host_key,
                state_dir: state_dir.to_path_buf(),
            });
        }
        let key = rcgen::KeyPair::generate().map_err(|err| IdentityError::Tls(err.to_string()))?;
        let params = rcgen::CertificateParams::new(vec!["sam-agent".to_owned()])
            .map_err(|err| IdentityError::Tls(err.to_string()))?;
        let cert = params
            .self_signed(&key)
            .map_err(|err| IdentityError::Tls(err.to_string()))?;
        // Key first: a crash between the two writes leaves no certificate, so the next start
        // makes a fresh pair instead of pairing an old certificate with a new key.
        write_atomically(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
        write_atomically(&cert_path, cert.der(), 0o644)?;
        tracing::info!("generated a new TLS identity");
        Ok(Self {
            cert: cert.der().clone(),
            key_pkcs8: key.serialize_der(),
            ssh_host_key,
            state_dir: state_dir.to_path_buf(),
        })
    }

    /// The SSH server's host key.
    pub fn ssh_host_key(&self) -> &russh::keys::PrivateKey {
        &self.ssh_host_key
    }

    /// The host key's public half as OpenSSH writes it: `ssh-ed25519 AAAA…`.
    pub fn ssh_public_key(&self) -> String {
        self.ssh_host_key
            .public_key()
            .to_openssh()
            .unwrap_or_default()
    }

    /// The SHA-256 fingerprint the desktop pins.
    pub fn fingerprint(&self) -> String {
        sam_protocol::enroll::certificate_fingerprint(&self.cert)
    }

    /// A TLS 1.3-only server configuration presenting this identity.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, IdentityError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_pkcs8.clone()));
        let config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|err| IdentityError::Tls(err.to_string()))?
            .with_no_client_auth()
            .with_single_cert(vec![self.cert.clone()], key)
            .map_err(|err| IdentityError::Tls(err.to_string()))?;
        Ok(Arc::new(config))
    }

    /// Whether the enrollment secret has been used.
    pub fn is_enrolled(&self) -> bool {
        self.state_dir.join(ENROLLED_FILE).exists()
    }

    /// Burns the enrollment secret: from now on enrollment is refused.
    pub fn mark_enrolled(&self) -> Result<(), IdentityError> {
        let stamp = format!(
            "{}\n",
            httpdate::fmt_http_date(std::time::SystemTime::now())
        );
        write_atomically(&self.state_dir.join(ENROLLED_FILE), stamp.as_bytes(), 0o600)
    }
}

/// Loads the SSH host key at `path`, creating an ed25519 key there when there is none.
fn ssh_host_key(path: &Path) -> Result<russh::keys::PrivateKey, IdentityError> {
    use russh::keys::ssh_key::LineEnding;
    use russh::keys::ssh_key::private::Ed25519Keypair;
    let unusable =
        |err: &dyn std::fmt::Display| IdentityError::Ssh(format!("{}: {err}", path.display()));
    if path.exists() {
        let pem = read(path)?;
        return russh::keys::PrivateKey::from_openssh(&pem).map_err(|err| unusable(&err));
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|err| unusable(&err))?;
    let key = russh::keys::PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    let pem = key
        .to_openssh(LineEnding::LF)
        .map_err(|err| unusable(&err))?;
    write_atomically(path, pem.as_bytes(), 0o600)?;
    tracing::info!("generated a new SSH host key");
    Ok(key)
}

fn read(path: &Path) -> Result<Vec<u8>, IdentityError> {
    std::fs::read(path).map_err(|source| IdentityError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `bytes` to a temporary file, syncs it, and renames it over `path`.
fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<(), IdentityError> {
    let io = |source| IdentityError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_survives_a_restart_and_the_mark_persists() {
        let dir = tempfile::tempdir().expect("dir");
        let first = Identity::load_or_create(dir.path()).expect("created");
        let again = Identity::load_or_create(dir.path()).expect("loaded");
        assert_eq!(first.fingerprint(), again.fingerprint());
        assert!(again.server_config().is_ok());
        assert!(!again.is_enrolled());
        first.mark_enrolled().expect("marked");
        assert!(
            Identity::load_or_create(dir.path())
                .expect("loaded")
                .is_enrolled()
        );

        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn the_ssh_host_key_is_made_once_and_kept_private() {
        let dir = tempfile::tempdir().expect("dir");
        let first = Identity::load_or_create(dir.path()).expect("created");
        let again = Identity::load_or_create(dir.path()).expect("loaded");
        assert!(first.ssh_public_key().starts_with("ssh-ed25519 AAAA"));
        assert_eq!(first.ssh_public_key(), again.ssh_public_key());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(SSH_HOST_KEY_FILE))
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(dir.path().join(SSH_HOST_KEY_FILE), "garbage").expect("write");
        assert!(matches!(
            Identity::load_or_create(dir.path()),
            Err(IdentityError::Ssh(_))
        ));
    }

    #[test]
    fn a_corrupt_key_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("dir");
        Identity::load_or_create(dir.path()).expect("created");
        std::fs::write(dir.path().join(KEY_FILE), "garbage").expect("write");
        assert!(matches!(
            Identity::load_or_create(dir.path()),
            Err(IdentityError::Tls(_))
        ));
    }
}
