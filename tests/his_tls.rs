//! `HttpHis` over real TLS: a TLS front (rustls, as a hospital's gateway
//! would have) in front of the HIS simulator, a private CA from config, and
//! a client certificate the front requires (mutual TLS).

mod common;

use common::*;
use kiosk::his::{HisErrorKind, HisGateway, HttpHis, HttpHisConfig};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::rustls;

struct Pki {
    ca_pem: String,
    server_cert: CertificateDer<'static>,
    server_key: Vec<u8>,
    ca_der: CertificateDer<'static>,
    client_pem: String,
    stranger_pem: String,
}

fn leaf(
    issuer: &Issuer<'_, KeyPair>,
    name: &str,
    usage: ExtendedKeyUsagePurpose,
) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec![name.to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![usage];
    (params.signed_by(&key, issuer).unwrap(), key)
}

fn ca(name: &str) -> (rcgen::Certificate, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = params.self_signed(&key).unwrap();
    (cert, Issuer::new(params, key))
}

fn pki() -> Pki {
    let (ca_cert, issuer) = ca("Test Hospital CA");
    let (server, server_key) = leaf(&issuer, "127.0.0.1", ExtendedKeyUsagePurpose::ServerAuth);
    let (client, client_key) = leaf(&issuer, "kiosk-K01", ExtendedKeyUsagePurpose::ClientAuth);
    let (_, other_issuer) = ca("Somebody Else CA");
    let (stranger, stranger_key) = leaf(
        &other_issuer,
        "kiosk-X",
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    Pki {
        ca_pem: ca_cert.pem(),
        ca_der: ca_cert.der().clone(),
        server_cert: server.der().clone(),
        server_key: server_key.serialize_der(),
        client_pem: format!("{}{}", client.pem(), client_key.serialize_pem()),
        stranger_pem: format!("{}{}", stranger.pem(), stranger_key.serialize_pem()),
    }
}

/// Terminate TLS (requiring a client certificate from `pki`'s CA) and pass
/// the plain bytes on to `backend`.
async fn tls_front(pki: &Pki, backend: std::net::SocketAddr) -> std::net::SocketAddr {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der.clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![pki.server_cert.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server_key.clone())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    addr
}

fn client(
    front: std::net::SocketAddr,
    ca: Option<&std::path::Path>,
    identity: Option<&std::path::Path>,
) -> HttpHis {
    let url = url::Url::parse(&format!("https://127.0.0.1:{}/", front.port())).unwrap();
    let mut cfg = HttpHisConfig::simple(url, TOKEN, HOSPITAL, "K01", Duration::from_secs(3));
    cfg.max_attempts = 1;
    cfg.ca_file = ca.map(Into::into);
    cfg.client_identity_file = identity.map(Into::into);
    HttpHis::new(cfg).unwrap()
}

#[tokio::test]
async fn mutual_tls_with_the_hospital_ca() {
    let sim = Sim::start().await;
    let pki = pki();
    let front = tls_front(&pki, sim.handle.addr).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let id = dir.path().join("kiosk.pem");
    let stranger = dir.path().join("stranger.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    std::fs::write(&id, &pki.client_pem).unwrap();
    std::fs::write(&stranger, &pki.stranger_pem).unwrap();

    // The configured CA and the kiosk's certificate: it works end to end.
    let his = client(front, Some(&ca), Some(&id));
    assert_eq!(his.ping().await.unwrap().hospital_id, HOSPITAL);
    assert!(his.departments().await.unwrap().len() >= 12);

    // The gateway's certificate is not trusted without the hospital CA.
    let e = client(front, None, Some(&id)).ping().await.unwrap_err();
    assert_eq!(e.kind, HisErrorKind::Unreachable, "{e:?}");

    // No client certificate, or one from another CA: the gateway refuses.
    for who in [None, Some(stranger.as_path())] {
        let e = client(front, Some(&ca), who).ping().await.unwrap_err();
        assert!(
            matches!(
                e.kind,
                HisErrorKind::Unreachable | HisErrorKind::ConnectionLost
            ),
            "{who:?}: {e:?}"
        );
        assert!(e.patient_message().1.contains("cannot be reached"));
    }
}

#[test]
fn a_broken_ca_file_is_a_setup_error() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(
        &ca,
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let mut cfg = HttpHisConfig::simple(
        url::Url::parse("https://localhost/").unwrap(),
        "t",
        "H",
        "K",
        Duration::from_secs(1),
    );
    cfg.ca_file = Some(ca);
    assert!(HttpHis::new(cfg).is_err());
}
