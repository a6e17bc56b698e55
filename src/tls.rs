//! The one TLS stack every connection uses (HTTP, SMTP, PostgreSQL): rustls on ring. ring, not
//! aws-lc-rs: aws-lc seeds its random generator on first use, about 35 ms of CPU that every post
//! with a TLS channel would pay before its first handshake.

/// Installs the crypto provider the clients share; idempotent.
pub(crate) fn provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
