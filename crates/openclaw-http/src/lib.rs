//! The one place a `reqwest` client builder is made.
//!
//! reqwest is built without a TLS provider of its own (`rustls-no-provider`,
//! so the C build of aws-lc is not needed; see ARCHITECTURE.md,
//! "Dependencies") and panics on `build()` unless one is installed. Every
//! crate that speaks HTTP gets its builder here, which installs rustls'
//! `ring` provider once per process; `clippy.toml` forbids
//! `reqwest::Client::builder` / `new` everywhere else.

/// A `reqwest` client builder with the ring TLS provider installed.
pub fn client_builder() -> reqwest::ClientBuilder {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        // Err only means another provider is already installed: fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    #[allow(clippy::disallowed_methods)] // the one sanctioned call
    reqwest::Client::builder()
}

#[cfg(test)]
mod tests {
    #[test]
    fn http_client_builds_with_the_ring_provider() {
        // reqwest has no provider of its own: without the install this panics.
        super::client_builder().build().expect("client");
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
        // A second call (provider already installed) builds too.
        super::client_builder().build().expect("client");
    }
}
