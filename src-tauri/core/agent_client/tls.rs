//! TLS to an agent: no certificate authorities, a pinned certificate instead.
//!
//! Before enrollment the verifier accepts any certificate (recording it) — nothing is trusted
//! until the enrollment proof binds that certificate's TLS session to the workspace's secret.
//! After enrollment only the certificate whose SHA-256 equals the pin is accepted. In both modes
//! the TLS 1.3 handshake signature is verified with the presented certificate's key, so a
//! party that copied the certificate but lacks its private key still fails.

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, SignatureScheme};
use sam_protocol::enroll::certificate_fingerprint;

/// The name the client asks for; the agent's certificate is pinned, not matched by name.
pub const SERVER_NAME: &str = "sam-agent";

/// Checks the agent's certificate against a pin (or records it, before enrollment).
#[derive(Debug)]
pub struct PinVerifier {
    pin: Option<String>,
    seen: Mutex<Option<CertificateDer<'static>>>,
    provider: Arc<CryptoProvider>,
}

impl PinVerifier {
    /// Accepts only the certificate with SHA-256 fingerprint `pin` (hex), or — with `None` —
    /// any certificate, for enrollment.
    pub fn new(pin: Option<String>) -> Arc<Self> {
        Arc::new(Self {
            pin: pin.map(|p| p.to_ascii_lowercase()),
            seen: Mutex::new(None),
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        })
    }

    /// The certificate the server presented in the last handshake.
    pub fn presented(&self) -> Option<CertificateDer<'static>> {
        self.seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// A TLS 1.3 client configuration using this verifier.
    pub fn client_config(self: &Arc<Self>) -> Result<Arc<ClientConfig>, rustls::Error> {
        let config = ClientConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .dangerous()
            .with_custom_certificate_verifier(Arc::clone(self) as Arc<dyn ServerCertVerifier>)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) =
            Some(end_entity.clone().into_owned());
        match &self.pin {
            None => Ok(ServerCertVerified::assertion()),
            Some(pin) if *pin == certificate_fingerprint(end_entity) => {
                Ok(ServerCertVerified::assertion())
            }
            Some(_) => Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
