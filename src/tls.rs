//! The one TLS stack every connection uses (HTTP, SMTP, PostgreSQL): rustls on ring. ring, not
//! aws-lc-rs: aws-lc seeds its random generator on first use, about 35 ms of CPU that every post
//! with a TLS channel would pay before its first handshake.
//!
//! HTTPS verifies with the system's verifier, as reqwest would make it (rustls-platform-verifier:
//! WebPKI over every root certificate the system has, OpenSSL's bundle file and its folder), but
//! in two steps, and made on a thread of its own while a post plans and records ([`warm`]), so
//! that only the first certificate check may wait. A chain is checked first against the bundle
//! alone: one file, read in about a millisecond. Only a chain the bundle does not vouch for is
//! checked against every root, the folder's hundred and fifty files too (3 to 5 ms more to
//! read). More roots can only let more chains through, so the answer is the one all of them give.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rustls::client::WebPkiServerVerifier;
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
    let verifier = Arc::new(Deferred {
        provider: provider.clone(),
    });
    http_config_with(provider, verifier)
}

/// rustls' safe defaults and HTTP/1.1, checking servers with `verifier`.
fn http_config_with(
    provider: Arc<CryptoProvider>,
    verifier: Arc<dyn ServerCertVerifier>,
) -> anyhow::Result<rustls::ClientConfig> {
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        // Not a weaker check: the verifiers are WebPKI's and the platform's.
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The TLS settings of an HTTP client that trusts the CA certificates of the PEM file at `path`
/// alone (a channel's `ca_file`: a receiver inside the company, with a CA of its own).
pub(crate) fn http_config_trusting(path: &std::path::Path) -> anyhow::Result<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let pem = crate::limits::read_text(path, crate::limits::CA_FILE, "ca_file")?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|err| anyhow::anyhow!("ca_file {} is not PEM: {err}", path.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let Some(verifier) = webpki(certs, &provider) else {
        anyhow::bail!(
            "ca_file {} holds no CA certificate (a PEM file with -----BEGIN CERTIFICATE----- \
             blocks)",
            path.display()
        );
    };
    http_config_with(provider, verifier)
}

/// Reads the bundle's roots now, so that the first handshake does not wait for them.
pub(crate) fn warm() {
    let _ = bundle(&Arc::new(rustls::crypto::ring::default_provider()));
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
        // A bundle read already that held no certificate, and no folder to read them from.
        let none_read = matches!(BUNDLE.get(), Some(None)) && !places.iter().any(|p| p.is_dir());
        return match SYSTEM.get() {
            Some(Err(err)) => Err(anyhow::anyhow!(
                "cannot read the system's root certificates for HTTPS ({err}); {FIX}"
            )),
            _ if none_read => Err(anyhow::anyhow!(
                "cannot read the system's root certificates for HTTPS (no certificate in {}); \
                 {FIX}",
                places[0].display()
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

static BUNDLE: OnceLock<Option<Arc<WebPkiServerVerifier>>> = OnceLock::new();

/// The file of root certificates the system verifier reads with the others: `SSL_CERT_FILE`,
/// or, when neither variable is set, the bundle where OpenSSL looks. None when only
/// `SSL_CERT_DIR` is set.
fn bundle_file() -> Option<PathBuf> {
    match (
        std::env::var_os("SSL_CERT_FILE"),
        std::env::var_os("SSL_CERT_DIR"),
    ) {
        (Some(file), _) => Some(PathBuf::from(file)),
        (None, Some(_)) => None,
        (None, None) => openssl_probe::probe().cert_file,
    }
}

/// A verifier over the bundle's roots alone, read once; none when there is no bundle or it
/// holds no certificate (then every check goes to [`system`]).
fn bundle(provider: &Arc<CryptoProvider>) -> Option<&'static Arc<WebPkiServerVerifier>> {
    BUNDLE
        .get_or_init(|| {
            let file = bundle_file()?;
            let read = rustls_native_certs::load_certs_from_paths(Some(&file), None);
            webpki(read.certs, provider)
        })
        .as_ref()
}

/// A WebPKI verifier over `roots`; none when not one of them can be used.
fn webpki(
    roots: impl IntoIterator<Item = CertificateDer<'static>>,
    provider: &Arc<CryptoProvider>,
) -> Option<Arc<WebPkiServerVerifier>> {
    let mut store = rustls::RootCertStore::empty();
    store.add_parsable_certificates(roots);
    if store.is_empty() {
        return None;
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
        .build()
        .ok()
}

/// The two steps: `first`'s yes, or else what `all` says. `first` must trust no root `all`
/// does not, so that the answer is always `all`'s.
fn first_then_all<'a>(
    first: Option<&'a dyn ServerCertVerifier>,
    all: impl FnOnce() -> Result<&'a dyn ServerCertVerifier, rustls::Error>,
    verify: impl Fn(&dyn ServerCertVerifier) -> Result<ServerCertVerified, rustls::Error>,
) -> Result<ServerCertVerified, rustls::Error> {
    match first.map(&verify) {
        Some(Ok(verified)) => Ok(verified),
        _ => verify(all()?),
    }
}

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
        first_then_all(
            bundle(&self.provider).map(|b| b.as_ref() as &dyn ServerCertVerifier),
            || system(&self.provider).map(|v| v as &dyn ServerCertVerifier),
            |verifier| {
                verifier.verify_server_cert(
                    end_entity,
                    intermediates,
                    server_name,
                    ocsp_response,
                    now,
                )
            },
        )
    }

    /// As WebPKI checks it (the platform verifier's too): the provider's algorithms, whatever
    /// the roots.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
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
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
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

    /// Four CAs by four names, and a server certificate for example.com signed by each.
    fn fixtures() -> &'static [(CertificateDer<'static>, CertificateDer<'static>); 4] {
        static FIXTURES: OnceLock<[(CertificateDer<'static>, CertificateDer<'static>); 4]> =
            OnceLock::new();
        FIXTURES.get_or_init(|| {
            std::array::from_fn(|n| {
                let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
                params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
                params
                    .distinguished_name
                    .push(rcgen::DnType::CommonName, format!("CA {n}"));
                let ca = rcgen::CertifiedIssuer::self_signed(
                    params,
                    rcgen::KeyPair::generate().unwrap(),
                )
                .unwrap();
                let key = rcgen::KeyPair::generate().unwrap();
                let server = rcgen::CertificateParams::new(vec!["example.com".to_owned()])
                    .unwrap()
                    .signed_by(&key, &ca)
                    .unwrap();
                (ca.der().clone(), server.der().clone())
            })
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// Checked against the bundle first and then against every root, a server certificate
        /// is trusted exactly when every root together trusts it: when its CA is in the bundle
        /// or the folder, and never when it is in neither.
        #[test]
        fn the_bundle_first_answers_as_every_root_does(
            in_bundle in proptest::collection::vec(proptest::bool::ANY, 3),
            in_folder in proptest::collection::vec(proptest::bool::ANY, 3),
            signer in 0..4usize,
        ) {
            let fixtures = fixtures();
            let pick = |chosen: &dyn Fn(usize) -> bool| -> Vec<CertificateDer<'static>> {
                (0..3).filter(|n| chosen(*n)).map(|n| fixtures[n].0.clone()).collect()
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let bundle = webpki(pick(&|n| in_bundle[n]), &provider);
            let every = webpki(pick(&|n| in_bundle[n] || in_folder[n]), &provider);
            let name = ServerName::try_from("example.com").unwrap();
            let server = &fixtures[signer].1;
            let now = UnixTime::now();
            let every = every.as_deref().map(|v| v as &dyn ServerCertVerifier);
            let check = |verifier: &dyn ServerCertVerifier| {
                verifier.verify_server_cert(server, &[], &name, &[], now)
            };
            let two_steps = first_then_all(
                bundle.as_deref().map(|b| b as &dyn ServerCertVerifier),
                || every.ok_or_else(|| rustls::Error::General("no roots".into())),
                check,
            );
            let by_every = || every.map(check).is_some_and(|verified| verified.is_ok());
            let trusted = signer < 3 && (in_bundle[signer] || in_folder[signer]);
            proptest::prop_assert_eq!(two_steps.is_ok(), trusted);
            proptest::prop_assert_eq!(two_steps.is_ok(), by_every());
        }
    }

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
