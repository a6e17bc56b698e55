//! A certificate authority made for one test, and a TLS front for the HTTP emulator: what a
//! real service's HTTPS looks like to a client, with a root no system trusts.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use super::emulator::runtime;

/// A CA and a server certificate it signed for one name.
pub struct Authority {
    /// The CA's certificate, PEM.
    pub ca_pem: String,
    /// The server's certificate and key, PEM (for a server the test starts itself).
    pub cert_pem: String,
    pub key_pem: String,
    pub acceptor: TlsAcceptor,
}

impl Authority {
    pub fn new() -> Authority {
        Authority::for_name("127.0.0.1")
    }

    pub fn for_name(name: &str) -> Authority {
        let ca = ca();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        Authority::of(ca.pem(), cert, key)
    }

    /// A server certificate that signs itself (not a CA), as a server set up in a hurry has:
    /// `ca_pem` is the certificate itself.
    pub fn self_signed(name: &str) -> Authority {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        Authority::of(cert.pem(), cert, key)
    }

    fn of(ca_pem: String, cert: rcgen::Certificate, key: rcgen::KeyPair) -> Authority {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        Authority {
            ca_pem,
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            acceptor: TlsAcceptor::from(Arc::new(config)),
        }
    }
}

/// A CA of its own, trusted by nobody.
pub fn ca() -> rcgen::CertifiedIssuer<'static, rcgen::KeyPair> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap()).unwrap()
}

/// Serves HTTPS with `authority`'s certificate on a port of its own and passes each connection,
/// decrypted, to `base` (`http://127.0.0.1:PORT`). Returns the `https://` base, the
/// authority's CA, and the accepting task (aborted, the front stops listening).
pub fn front(base: &str, authority: Authority) -> (String, String, tokio::task::AbortHandle) {
    let target = base.trim_start_matches("http://").to_owned();
    let listener = runtime()
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let https = format!("https://{}", listener.local_addr().unwrap());
    let acceptor = authority.acceptor.clone();
    let accepting = runtime().spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, target) = (acceptor.clone(), target.clone());
            tokio::spawn(async move {
                // A client that refuses the certificate ends here.
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                if let Ok(mut plain) = tokio::net::TcpStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                }
            });
        }
    });
    (https, authority.ca_pem, accepting.abort_handle())
}
