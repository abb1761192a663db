//! TLS settings every adapter shares.

use std::io;
use std::sync::Arc;

/// A TLS configuration that trusts the operating system's root certificates, with no client
/// certificate: what `rediss://` uses when no configuration was given.
///
/// # Errors
///
/// When the platform has no root certificates rustls can read.
pub fn system_roots_config() -> io::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        // Skip certificates the platform store holds but rustls cannot parse.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        let reason = found
            .errors
            .first()
            .map(ToString::to_string)
            .unwrap_or_default();
        return Err(io::Error::other(format!(
            "no system root certificates found ({reason}); give a TLS config with your CA"
        )));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The configuration to dial `rediss://` with: the one given, or the system's roots.
///
/// # Errors
///
/// As [`system_roots_config`] when none was given.
pub fn config_or_system(
    given: Option<Arc<rustls::ClientConfig>>,
) -> io::Result<Arc<rustls::ClientConfig>> {
    match given {
        Some(config) => Ok(config),
        None => system_roots_config(),
    }
}

/// The server name to check the certificate against.
///
/// # Errors
///
/// `InvalidInput` when `name` is neither a DNS name nor an IP address.
pub fn server_name(name: &str) -> io::Result<rustls::pki_types::ServerName<'static>> {
    rustls::pki_types::ServerName::try_from(name.to_owned())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("TLS server name: {e}")))
}
