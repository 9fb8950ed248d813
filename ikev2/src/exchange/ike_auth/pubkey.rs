//! Signature (certificate) authentication inside IKE_AUTH (RFC 7296 sections 2.15, 3.6 and 3.7,
//! RFC 7427): what IKE_SA_INIT told us about the peer, our identity, CERT and AUTH payloads, the
//! CERTREQ we send, and the check of the peer's certificate and signature. The cryptography and
//! path validation live in `crate::auth`; this is the glue to the exchange.

use std::net::IpAddr;

use crate::auth::{self, AuthError, CredentialsExt, SignChoice, VerifiedPeer};
use crate::config::{ConnConfig, PubkeyConfig};
use crate::consts::CertEncoding;
use crate::rng::Rng;
use crate::sa::pending_auth::SigState;
use crate::wire::{AuthPayload, CertPayload, CertReqPayload, Identity};

/// Our identity for `conn`: the configured `local.id`; for a pubkey round without one, our
/// certificate's subject as ID_DER_ASN1_DN (as strongSwan does); otherwise our IP address.
pub(crate) fn local_identity(conn: &ConnConfig, local_ip: IpAddr) -> Identity {
    if let Some(id) = &conn.local.id {
        return id.clone();
    }
    conn.local
        .auth
        .pubkey()
        .and_then(|p| p.credentials.as_ref())
        .and_then(|c| c.cert_chain.first())
        .and_then(|c| auth::CertInfo::parse(c))
        .map(|info| Identity::DerAsn1Dn(info.subject.to_vec()))
        .unwrap_or_else(|| super::ip_identity(local_ip))
}

/// The CERTREQ naming the CAs of the remote rounds of `conns` (deduplicated, in order), for those
/// that want to send one (`send_certreq`, on by default, read from both rounds so that a PSK
/// local round with a pubkey remote round honours it too). `None` when no connection has a pubkey remote round with CAs.
///
/// The responder calls this in IKE_SA_INIT with every connection the addresses allow, since the
/// connection is only decided by the identities in IKE_AUTH (strongSwan likewise asks for all
/// its CAs then); the initiator calls it with its one connection for the IKE_AUTH request.
pub(crate) fn certreq<'a>(
    conns: impl IntoIterator<Item = &'a ConnConfig>,
) -> Option<CertReqPayload> {
    let mut ids: Vec<[u8; 20]> = Vec::new();
    for c in conns {
        if !c.local.auth.pubkey().is_none_or(|p| p.send_certreq) {
            continue;
        }
        let Some(remote) = c.remote.auth.pubkey() else {
            continue;
        };
        if !remote.send_certreq {
            continue;
        }
        for id in remote.cacerts.key_ids() {
            if !ids.contains(id) {
                ids.push(*id);
            }
        }
    }
    (!ids.is_empty()).then(|| CertReqPayload {
        encoding: CertEncoding::X509_SIGNATURE,
        authorities: ids.concat(),
    })
}

/// Our signature for a pubkey local round.
pub(crate) struct OwnSignature {
    /// CERT payloads to send before AUTH (empty when `send_cert` says not to).
    pub certs: Vec<CertPayload>,
    pub auth: AuthPayload,
    pub choice: SignChoice,
}

/// Signs `signed_octets` with our key: AUTH method 14 when the peer announced the hash our key
/// needs, else the RFC 7296 / RFC 4754 method the key dictates.
pub(crate) fn sign(
    cfg: &PubkeyConfig,
    sig: &SigState,
    rsa_pss: bool,
    signed_octets: &[u8],
    rng: &mut dyn Rng,
) -> Result<OwnSignature, AuthError> {
    let creds = cfg.credentials.as_ref().ok_or(AuthError::NoCredentials)?;
    let choice = auth::choose_scheme(&creds.key, sig.peer_hashes.as_deref(), rsa_pss)?;
    let auth = auth::sign(&creds.key, choice, signed_octets, rng)?;
    let certs = if cfg.send_cert.should_send(sig.peer_certreq) {
        creds.cert_payloads()
    } else {
        Vec::new()
    };
    Ok(OwnSignature {
        certs,
        auth,
        choice,
    })
}

/// Checks the peer's certificate chain against our `cacerts` at `now` (Unix seconds), that
/// `peer_id` is in it, and its AUTH over `signed_octets`.
pub(crate) fn verify(
    cfg: &PubkeyConfig,
    certs: &[CertPayload],
    peer_id: &Identity,
    now: Option<u64>,
    auth: &AuthPayload,
    signed_octets: &[u8],
) -> Result<VerifiedPeer, AuthError> {
    let (ee, inter) =
        auth::peer_certificates(certs).ok_or_else(|| AuthError::NoPeerCertificate {
            id: peer_id.to_string(),
        })?;
    let now = now.ok_or(AuthError::NoWallClock)?;
    auth::verify_peer(
        &cfg.cacerts,
        ee,
        &inter,
        peer_id,
        now,
        auth.method,
        &auth.data,
        signed_octets,
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::auth::TrustAnchors;
    use crate::config::{AuthConfig, AuthKind};
    use crate::proposal::ProposalSet;

    fn ca(cn: &str) -> Vec<u8> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, cn);
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.self_signed(&key).unwrap().der().to_vec()
    }

    fn conn(remote: AuthKind, send_certreq: bool) -> ConnConfig {
        ConnConfig {
            name: "c".into(),
            local_addrs: Vec::new(),
            remote_addrs: Vec::new(),
            local_port: 500,
            remote_port: 500,
            ike_proposals: ProposalSet::parse_ike("aes256gcm16-prfsha256-x25519").unwrap(),
            local: AuthConfig {
                auth: AuthKind::Pubkey(Arc::new(PubkeyConfig {
                    send_certreq,
                    ..PubkeyConfig::default()
                })),
                id: None,
            },
            remote: AuthConfig {
                auth: remote,
                id: None,
            },
            psk: None,
            encap: false,
            dpd_delay: Duration::ZERO,
            rekey_time: Duration::ZERO,
            children: Vec::new(),
        }
    }

    fn trusting(cas: &[&Vec<u8>]) -> AuthKind {
        AuthKind::Pubkey(Arc::new(PubkeyConfig {
            cacerts: TrustAnchors::from_der(cas.iter().map(|c| (*c).clone()).collect()).unwrap(),
            ..PubkeyConfig::default()
        }))
    }

    #[test]
    fn certreq_unites_the_candidates_cas_once_each() {
        let (a, b, c) = (ca("A"), ca("B"), ca("C"));
        let id = |der: &Vec<u8>| auth::spki_sha1(der).unwrap();
        let conns = [
            conn(trusting(&[&a, &b]), true),
            conn(AuthKind::Psk, true),
            conn(trusting(&[&b]), true),
            // Asks for nothing: its CA stays out.
            conn(trusting(&[&c]), false),
        ];
        let req = certreq(&conns).unwrap();
        assert_eq!(req.encoding, CertEncoding::X509_SIGNATURE);
        assert_eq!(req.authorities, [id(&a), id(&b)].concat());
        assert!(certreq(&conns[1..2]).is_none());
        assert!(certreq(&conns[3..]).is_none());
        // A PSK local round has no flag of its own: the remote round's `send_certreq: no` counts.
        let mut psk_local = conn(trusting_without_certreq(&[&a]), true);
        psk_local.local.auth = AuthKind::Psk;
        assert!(certreq([&psk_local]).is_none());
        psk_local.remote.auth = trusting(&[&a]);
        assert_eq!(certreq([&psk_local]).unwrap().authorities, id(&a));
    }

    fn trusting_without_certreq(cas: &[&Vec<u8>]) -> AuthKind {
        AuthKind::Pubkey(Arc::new(PubkeyConfig {
            cacerts: TrustAnchors::from_der(cas.iter().map(|c| (*c).clone()).collect()).unwrap(),
            send_certreq: false,
            ..PubkeyConfig::default()
        }))
    }
}
