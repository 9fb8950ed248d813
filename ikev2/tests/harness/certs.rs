#![allow(dead_code)] // shared by several test binaries, each using a subset
//! Certificate rounds for the two-peer harness: the `auth = pubkey` configuration a daemon would
//! build from swanctl's `certs`, `cacerts`, `send_cert` and `send_certreq`, from DER certificates
//! and a key the test generated.

use std::sync::Arc;

use rswan_ikev2::auth::{Credentials, PrivateKey, SendCert, TrustAnchors};
use rswan_ikev2::config::{AuthKind, PubkeyConfig};
use rustls_pki_types::CertificateDer;

use super::setup::Side;

/// A local pubkey round: our chain (end entity first) and key.
pub fn local_pubkey(chain: &[Vec<u8>], key: PrivateKey, send_cert: SendCert) -> AuthKind {
    local_pubkey_with(chain, key, send_cert, true)
}

pub fn local_pubkey_with(
    chain: &[Vec<u8>],
    key: PrivateKey,
    send_cert: SendCert,
    send_certreq: bool,
) -> AuthKind {
    let chain = chain
        .iter()
        .map(|c| CertificateDer::from(c.clone()))
        .collect();
    AuthKind::Pubkey(Arc::new(PubkeyConfig {
        credentials: Some(Credentials::new(chain, key).expect("key matches certificate")),
        send_cert,
        send_certreq,
        ..PubkeyConfig::default()
    }))
}

/// A remote pubkey round trusting these CA certificates.
pub fn remote_pubkey(cas: &[Vec<u8>]) -> AuthKind {
    AuthKind::Pubkey(Arc::new(PubkeyConfig {
        cacerts: TrustAnchors::from_der(cas.to_vec()).expect("CA certificates"),
        ..PubkeyConfig::default()
    }))
}

/// Sets both rounds of `side` to certificates.
pub fn use_certs(side: &mut Side, local: AuthKind, remote: AuthKind) {
    side.local_auth = local;
    side.remote_auth = remote;
}
