//! Trust anchors, our credentials, CERTREQ key hashes, and validating the peer's certificate chain
//! and AUTH.

use core::time::Duration;
use std::path::Path;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, TrustAnchor, UnixTime};
use webpki::{
    ExtendedKeyUsageValidator, KeyPurposeId, KeyPurposeIdIter, KeyUsage, RequiredEkuNotFoundContext,
};

use super::error::AuthError;
use super::keys::{PrivateKey, PublicKey};
use super::method::AuthMethod;
use super::scheme::SignatureScheme;
use super::verify::verify_signature;
use super::x509::{name_string, same_dn, CertInfo, SanEntry};
use crate::identity::Identity;

/// SHA-1 of a certificate's DER SubjectPublicKeyInfo: the CA identifier in CERTREQ (RFC 7296 3.7).
pub fn spki_sha1(cert_der: &[u8]) -> Option<[u8; 20]> {
    let info = CertInfo::parse(cert_der)?;
    let d = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, info.spki);
    d.as_ref().try_into().ok()
}

fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, AuthError> {
    let err = |reason: String| AuthError::CertFile {
        path: path.display().to_string(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let certs: Vec<_> = if bytes.first() == Some(&0x30) {
        vec![CertificateDer::from(bytes)]
    } else {
        CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<_, _>>()
            .map_err(|e| err(format!("{e:?}")))?
    };
    if certs.is_empty() {
        return Err(err("no certificate in file".into()));
    }
    Ok(certs)
}

/// The CAs we trust for peers' certificates.
#[derive(Debug, Default)]
pub struct TrustAnchors {
    certs: Vec<CertificateDer<'static>>,
    anchors: Vec<TrustAnchor<'static>>,
    key_ids: Vec<[u8; 20]>,
}

impl TrustAnchors {
    /// From DER CA certificates.
    pub fn from_der(certs: Vec<Vec<u8>>) -> Result<Self, AuthError> {
        let mut out = TrustAnchors::default();
        for der in certs {
            let key_id = spki_sha1(&der).ok_or(AuthError::BadCertificate { what: "CA" })?;
            let cert = CertificateDer::from(der);
            let anchor = webpki::anchor_from_trusted_cert(&cert)
                .map_err(|_| AuthError::BadCertificate { what: "CA" })?
                .to_owned();
            out.anchors.push(anchor);
            out.key_ids.push(key_id);
            out.certs.push(cert);
        }
        Ok(out)
    }

    /// From PEM (or single DER) files, each holding one or more CA certificates.
    pub fn from_pem_files<P: AsRef<Path>>(paths: &[P]) -> Result<Self, AuthError> {
        let mut ders = Vec::new();
        for p in paths {
            ders.extend(read_pem_certs(p.as_ref())?.into_iter().map(|c| c.to_vec()));
        }
        Self::from_der(ders)
    }

    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }

    /// SHA-1 of each CA's SubjectPublicKeyInfo, in configuration order.
    pub fn key_ids(&self) -> &[[u8; 20]] {
        &self.key_ids
    }
}

/// Our certificate chain (end entity first, then intermediates) and its private key.
#[derive(Debug)]
pub struct Credentials {
    pub cert_chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKey,
}

impl Credentials {
    /// Pairs a chain with its key, refusing a key that is not the end-entity certificate's.
    pub fn new(
        cert_chain: Vec<CertificateDer<'static>>,
        key: PrivateKey,
    ) -> Result<Self, AuthError> {
        let ee = cert_chain
            .first()
            .and_then(|c| CertInfo::parse(c))
            .ok_or(AuthError::BadCertificate { what: "own" })?;
        if PublicKey::from_spki(ee.spki).as_ref() != Some(&key.public_key()) {
            return Err(AuthError::KeyMismatch {
                key: key.kind(),
                wanted: format!(
                    "signature for certificate '{}' (different key)",
                    name_string(ee.subject)
                ),
            });
        }
        Ok(Credentials { cert_chain, key })
    }

    /// Loads the chain from a PEM file (end entity first) and the key with [`super::load_private_key`].
    pub fn from_pem_files(
        cert_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
    ) -> Result<Self, AuthError> {
        let chain = read_pem_certs(cert_path.as_ref())?;
        Self::new(chain, super::load_private_key(key_path)?)
    }

    /// Whether a peer's certificate request names a CA of our chain by the SHA-1 of its
    /// SubjectPublicKeyInfo (IKEv2's CERTREQ form): one of our intermediates, or a CA in `our_cas`
    /// that issued the top of our chain.
    pub fn answers_ca_hashes(&self, hashes: &[&[u8]], our_cas: &TrustAnchors) -> bool {
        let mut ours: Vec<[u8; 20]> = self
            .cert_chain
            .iter()
            .skip(1)
            .filter_map(|c| spki_sha1(c))
            .collect();
        if let Some(top) = self.cert_chain.last().and_then(|c| CertInfo::parse(c)) {
            for (ca, id) in our_cas.certs.iter().zip(&our_cas.key_ids) {
                if CertInfo::parse(ca).is_some_and(|i| i.subject == top.issuer) {
                    ours.push(*id);
                }
            }
        }
        ours.iter().any(|o| hashes.contains(&&o[..]))
    }
}

/// swanctl's `send_cert`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SendCert {
    /// Send our certificate only if the peer sent a CERTREQ (strongSwan's default).
    #[default]
    IfAsked,
    Always,
    Never,
}

impl SendCert {
    pub fn should_send(self, peer_sent_certreq: bool) -> bool {
        match self {
            SendCert::IfAsked => peer_sent_certreq,
            SendCert::Always => true,
            SendCert::Never => false,
        }
    }
}

/// What a successful [`verify_peer`] established, for the log and the IKE SA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedPeer {
    pub subject: String,
    pub issuer: String,
    pub san: Vec<SanEntry>,
    pub scheme: SignatureScheme,
    pub not_after: u64,
}

static SIG_ALGS: &[&dyn SignatureVerificationAlgorithm] = &[
    webpki::ring::ECDSA_P256_SHA256,
    webpki::ring::ECDSA_P256_SHA384,
    webpki::ring::ECDSA_P384_SHA256,
    webpki::ring::ECDSA_P384_SHA384,
    webpki::ring::ED25519,
    webpki::ring::RSA_PKCS1_2048_8192_SHA256,
    webpki::ring::RSA_PKCS1_2048_8192_SHA384,
    webpki::ring::RSA_PKCS1_2048_8192_SHA512,
    webpki::ring::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
    webpki::ring::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
    webpki::ring::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
    webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
    webpki::ring::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
    webpki::ring::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
];

const EKU_SERVER_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
const EKU_CLIENT_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02];
const EKU_IPSEC_IKE: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x11];
const EKU_ANY: &[u8] = &[0x55, 0x1d, 0x25, 0x00];

/// IKE accepts a certificate without EKU, or with serverAuth, clientAuth, ipsecIKE (RFC 4945 5.1.3.12)
/// or anyExtendedKeyUsage: peers are both clients and servers, and CAs issue either.
struct IkeEku;

impl ExtendedKeyUsageValidator for IkeEku {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        let mut present = Vec::new();
        for id in iter {
            let id = id?;
            if [EKU_SERVER_AUTH, EKU_CLIENT_AUTH, EKU_IPSEC_IKE, EKU_ANY]
                .into_iter()
                .any(|ok| KeyPurposeId::new(ok) == id)
            {
                return Ok(());
            }
            present.push(id.to_decoded_oid());
        }
        if present.is_empty() {
            return Ok(());
        }
        Err(webpki::Error::RequiredEkuNotFoundContext(
            RequiredEkuNotFoundContext {
                required: KeyUsage::required_if_present(EKU_IPSEC_IKE),
                present,
            },
        ))
    }
}

/// Whether the peer's IKE identity is in its certificate: the subject DN (or a SAN directoryName)
/// for ID_DER_ASN1_DN, a SAN dNSName for ID_FQDN, rfc822Name for ID_RFC822_ADDR, iPAddress for IP IDs.
pub(crate) fn id_in_cert(id: &Identity, info: &CertInfo<'_>) -> bool {
    match id {
        Identity::DerAsn1Dn(dn) => {
            same_dn(dn, info.subject)
                || info
                    .san
                    .iter()
                    .any(|s| matches!(s, SanEntry::Dn(d) if same_dn(dn, d)))
        }
        Identity::Fqdn(name) => info
            .san
            .iter()
            .any(|s| matches!(s, SanEntry::Dns(d) if d.eq_ignore_ascii_case(name))),
        Identity::Rfc822(addr) => info
            .san
            .iter()
            .any(|s| matches!(s, SanEntry::Email(e) if e.eq_ignore_ascii_case(addr))),
        Identity::Ipv4(a) => info.san.contains(&SanEntry::Ip((*a).into())),
        Identity::Ipv6(a) => info.san.contains(&SanEntry::Ip((*a).into())),
        _ => false,
    }
}

/// Validates the peer's chain to `anchors` at `now_unix`, checks that `peer_id` is in the end-entity
/// certificate, then verifies its AUTH (`method`, `auth_data`) over `signed_octets` (the peer's
/// crypto::signed_octets).
#[allow(clippy::too_many_arguments)]
pub fn verify_peer(
    anchors: &TrustAnchors,
    end_entity: &[u8],
    intermediates: &[&[u8]],
    peer_id: &Identity,
    now_unix: u64,
    method: AuthMethod,
    auth_data: &[u8],
    signed_octets: &[u8],
) -> Result<VerifiedPeer, AuthError> {
    let info = CertInfo::parse(end_entity).ok_or(AuthError::BadCertificate { what: "peer" })?;
    let subject = name_string(info.subject);
    let inter_info: Vec<CertInfo<'_>> = intermediates
        .iter()
        .filter_map(|c| CertInfo::parse(c))
        .collect();
    let ee_der = CertificateDer::from(end_entity);
    let ee = webpki::EndEntityCert::try_from(&ee_der)
        .map_err(|_| AuthError::BadCertificate { what: "peer" })?;
    let inter: Vec<CertificateDer<'_>> = intermediates
        .iter()
        .map(|c| CertificateDer::from(*c))
        .collect();
    let now = UnixTime::since_unix_epoch(Duration::from_secs(now_unix));
    ee.verify_for_usage(SIG_ALGS, &anchors.anchors, &inter, now, IkeEku, None, None)
        .map_err(|e| chain_error(e, &info, &inter_info, now_unix))?;
    if !id_in_cert(peer_id, &info) {
        return Err(AuthError::IdNotInCertificate {
            id: peer_id.to_string(),
            subject,
            san: info.san.iter().map(ToString::to_string).collect(),
        });
    }
    let key = PublicKey::from_spki(info.spki).ok_or_else(|| AuthError::UnsupportedMethod {
        method,
        detail: format!("certificate for '{subject}' has a public key type we cannot verify"),
    })?;
    let scheme = verify_signature(&key, method, auth_data, signed_octets)?;
    Ok(VerifiedPeer {
        subject,
        issuer: name_string(info.issuer),
        san: info.san.clone(),
        scheme,
        not_after: info.not_after,
    })
}

/// Names the certificate a webpki failure is about, in operator terms.
fn chain_error(e: webpki::Error, ee: &CertInfo<'_>, inter: &[CertInfo<'_>], now: u64) -> AuthError {
    // The subject of the certificate in the chain whose validity bound equals `bound`.
    let who = |bound: u64, pick: fn(&CertInfo<'_>) -> u64| {
        std::iter::once(ee)
            .chain(inter)
            .find(|c| pick(c) == bound)
            .map_or_else(
                || format!("a CA of {}", name_string(ee.subject)),
                |c| name_string(c.subject),
            )
    };
    match e {
        webpki::Error::CertExpired { not_after, .. } => AuthError::Expired {
            subject: who(not_after.as_secs(), |c| c.not_after),
            not_after: not_after.as_secs(),
            now,
        },
        webpki::Error::CertNotValidYet { not_before, .. } => AuthError::NotYetValid {
            subject: who(not_before.as_secs(), |c| c.not_before),
            not_before: not_before.as_secs(),
            now,
        },
        webpki::Error::UnknownIssuer => {
            // Follow the chain we were given as far as it goes; name the issuer nobody vouches for.
            let mut issuer = ee.issuer;
            for _ in 0..inter.len() {
                match inter
                    .iter()
                    .find(|c| c.subject == issuer && c.issuer != c.subject)
                {
                    Some(c) => issuer = c.issuer,
                    None => break,
                }
            }
            AuthError::UnknownCa {
                subject: name_string(ee.subject),
                issuer: name_string(issuer),
            }
        }
        webpki::Error::RequiredEkuNotFoundContext(ctx) => AuthError::WrongKeyUsage {
            subject: name_string(ee.subject),
            present: ctx
                .present
                .iter()
                .map(|oid| {
                    oid.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(".")
                })
                .collect(),
        },
        webpki::Error::InvalidSignatureForPublicKey => AuthError::Chain {
            subject: name_string(ee.subject),
            reason: "bad signature in the chain (forged, or issued by another CA of the same \
                     name)"
                .into(),
        },
        webpki::Error::NameConstraintViolation => AuthError::Chain {
            subject: name_string(ee.subject),
            reason: "outside the issuing CA's name constraints".into(),
        },
        other => AuthError::Chain {
            subject: name_string(ee.subject),
            reason: format!("{other:?}"),
        },
    }
}
