//! HTTP clients for internet services (Hetzner, GitHub): one way to make them.

/// A `reqwest` client builder with SAM's user agent, on rustls with ring (reqwest's rustls uses
/// the process's crypto provider; SAM uses ring everywhere).
pub fn builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().user_agent(concat!("sam-desktop/", env!("CARGO_PKG_VERSION")))
}
