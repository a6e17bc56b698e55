//! The one TLS stack every connection uses (HTTP, SMTP, PostgreSQL): rustls on ring. ring, not
//! aws-lc-rs: aws-lc seeds its random generator on first use, about 35 ms of CPU that every post
//! with a TLS channel would pay before its first handshake.
//!
//! HTTPS verifies with the system's verifier, as reqwest would make it, but made on first use:
//! loading the system's root certificates (a bundle and a folder of a hundred and fifty files)
//! takes 3 to 5 ms, which a post used to wait for before recording and sending. Now it is made
//! on a thread of its own meanwhile ([`warm`]) and only the first certificate check waits for
//! it, a round trip or two after the first connection started.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// Installs the crypto provider the clients share; idempotent.
pub(crate) fn provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The TLS settings of the HTTP client: rustls' safe defaults, HTTP/1.1, and the system's
/// verifier made when first needed.
pub(crate) fn http_config() -> anyhow::Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        // Not a weaker check: every call goes to the platform verifier.
        .with_custom_certificate_verifier(Arc::new(Deferred { provider }))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Makes the system's verifier now, so that the first handshake does not wait for it.
pub(crate) fn warm() {
    let _ = system(&Arc::new(rustls::crypto::ring::default_provider()));
}

/// Whether there are root certificates to read, checked before anything is recorded: a machine
/// without them (a container without the `ca-certificates` package, a mistyped `SSL_CERT_FILE`)
/// gets one clear error, not a failed delivery on every HTTPS channel. The same places as the
/// verifier reads: `SSL_CERT_FILE` and `SSL_CERT_DIR` when either is set, else where OpenSSL
/// looks. A read that failed already (a file of no certificates) is reported too.
pub(crate) fn check_roots() -> anyhow::Result<()> {
    const FIX: &str = "install the ca-certificates package, or name a file of root certificates \
                       in SSL_CERT_FILE";
    let file = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
    let dirs: Vec<PathBuf> = std::env::var_os("SSL_CERT_DIR")
        .map(|dirs| std::env::split_paths(&dirs).collect())
        .unwrap_or_default();
    let named = file.is_some() || !dirs.is_empty();
    let (file, dirs) = if named {
        (file, dirs)
    } else {
        let probe = openssl_probe::probe();
        (probe.cert_file, probe.cert_dir)
    };
    let places: Vec<PathBuf> = file.into_iter().chain(dirs).collect();
    if places.iter().any(|place| place.exists()) {
        return match SYSTEM.get() {
            Some(Err(err)) => Err(anyhow::anyhow!(
                "cannot read the system's root certificates for HTTPS ({err}); {FIX}"
            )),
            _ => Ok(()),
        };
    }
    if named {
        let names: Vec<String> = places.iter().map(|p| p.display().to_string()).collect();
        anyhow::bail!(
            "no root certificates for HTTPS: SSL_CERT_FILE/SSL_CERT_DIR name {}, which does not \
             exist; {FIX}",
            names.join(", ")
        );
    }
    anyhow::bail!("no root certificates for HTTPS were found where OpenSSL looks; {FIX}")
}

static SYSTEM: OnceLock<Result<rustls_platform_verifier::Verifier, rustls::Error>> =
    OnceLock::new();

fn system(
    provider: &Arc<CryptoProvider>,
) -> Result<&'static rustls_platform_verifier::Verifier, rustls::Error> {
    SYSTEM
        .get_or_init(|| rustls_platform_verifier::Verifier::new(provider.clone()))
        .as_ref()
        .map_err(Clone::clone)
}

/// The platform verifier, made on its first use.
#[derive(Debug)]
struct Deferred {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Deferred {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        system(&self.provider)?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        system(&self.provider)?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        system(&self.provider)?.verify_tls13_signature(message, cert, dss)
    }

    /// What the platform verifier says too (its WebPKI verifier answers from the provider),
    /// without making it: rustls asks before the handshake starts.
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// rustls asks which schemes are supported before any certificate arrives: the deferred
    /// verifier must answer as the platform verifier would.
    #[test]
    fn deferred_verifier_offers_the_platform_verifiers_schemes() {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let platform = rustls_platform_verifier::Verifier::new(provider.clone()).unwrap();
        let deferred = Deferred { provider };
        assert_eq!(
            deferred.supported_verify_schemes(),
            platform.supported_verify_schemes()
        );
    }
}
