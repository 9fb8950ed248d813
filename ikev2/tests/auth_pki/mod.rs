//! Throwaway PKIs for the certificate authentication tests, generated at test time with rcgen.
#![allow(dead_code)]

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SignatureAlgorithm,
};
use rswan_ikev2::auth::PrivateKey;
use rswan_ikev2::crypto::{signed_octets, AuthInput, Prf};

pub const RSA_KEY_1: &str = include_str!("../data/pki/test-only-rsa2048-1.key");
pub const RSA_KEY_2: &str = include_str!("../data/pki/test-only-rsa2048-2.key");

/// 2026-01-01 00:00:00 UTC: inside the default validity of every generated certificate.
pub const NOW: u64 = 1_767_225_600;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    Rsa1,
    Rsa2,
    P256,
    P384,
    Ed25519,
}

impl Alg {
    fn sig_alg(self) -> &'static SignatureAlgorithm {
        match self {
            Alg::Rsa1 | Alg::Rsa2 => &rcgen::PKCS_RSA_SHA256,
            Alg::P256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Alg::P384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            Alg::Ed25519 => &rcgen::PKCS_ED25519,
        }
    }
}

pub fn key_pair(alg: Alg) -> KeyPair {
    match alg {
        Alg::Rsa1 => KeyPair::from_pkcs8_pem_and_sign_algo(RSA_KEY_1, alg.sig_alg()).unwrap(),
        Alg::Rsa2 => KeyPair::from_pkcs8_pem_and_sign_algo(RSA_KEY_2, alg.sig_alg()).unwrap(),
        _ => KeyPair::generate_for(alg.sig_alg()).unwrap(),
    }
}

/// Our side's view of an rcgen key.
pub fn private_key(kp: &KeyPair) -> PrivateKey {
    PrivateKey::from_pem_or_der(kp.serialize_pem().as_bytes()).unwrap()
}

pub fn dn(cn: &str) -> DistinguishedName {
    let mut d = DistinguishedName::new();
    d.push(DnType::OrganizationName, "rswan test");
    d.push(DnType::CommonName, cn);
    d
}

/// A CA (root or intermediate) able to issue.
pub struct Ca {
    pub params: CertificateParams,
    pub key: KeyPair,
    pub der: Vec<u8>,
    pub pem: String,
}

impl Ca {
    pub fn root(cn: &str, alg: Alg) -> Ca {
        let key = key_pair(alg);
        let params = ca_params(cn);
        let cert = params.self_signed(&key).unwrap();
        let (der, pem) = (cert.der().to_vec(), cert.pem());
        Ca {
            params,
            key,
            der,
            pem,
        }
    }

    pub fn intermediate(&self, cn: &str, alg: Alg) -> Ca {
        let key = key_pair(alg);
        let params = ca_params(cn);
        let cert = params.signed_by(&key, &self.issuer()).unwrap();
        let (der, pem) = (cert.der().to_vec(), cert.pem());
        Ca {
            params,
            key,
            der,
            pem,
        }
    }

    pub fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }

    /// Issues an end-entity certificate for `key`, customised by `f`.
    pub fn issue(
        &self,
        key: &KeyPair,
        cn: &str,
        f: impl FnOnce(&mut CertificateParams),
    ) -> Vec<u8> {
        self.issue_cert(key, cn, f).der().to_vec()
    }

    pub fn issue_cert(
        &self,
        key: &KeyPair,
        cn: &str,
        f: impl FnOnce(&mut CertificateParams),
    ) -> rcgen::Certificate {
        let mut p = CertificateParams::default();
        p.distinguished_name = dn(cn);
        p.not_before = date_time_ymd(2025, 1, 1);
        p.not_after = date_time_ymd(2030, 1, 1);
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        f(&mut p);
        p.signed_by(key, &self.issuer()).unwrap()
    }
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = date_time_ymd(2024, 1, 1);
    p.not_after = date_time_ymd(2040, 1, 1);
    p
}

pub fn dns(name: &str) -> SanType {
    SanType::DnsName(name.try_into().unwrap())
}

pub fn email(addr: &str) -> SanType {
    SanType::Rfc822Name(addr.try_into().unwrap())
}

pub fn ipsec_ike_eku() -> ExtendedKeyUsagePurpose {
    ExtendedKeyUsagePurpose::Other(vec![1, 3, 6, 1, 5, 5, 7, 3, 17])
}

/// Realistic signed octets: built the way IKE_AUTH builds them (crypto::signed_octets).
pub fn octets(seed: u8) -> Vec<u8> {
    let message: Vec<u8> = (0..300u16).map(|i| (i as u8).wrapping_mul(seed)).collect();
    let nonce = [seed; 32];
    let sk_p = [seed ^ 0x5a; 32];
    let id_body = [2, 0, 0, 0, b'w', b'e', b's', b't'];
    let prf = Prf::new(rswan_ikev2::consts::PrfId::HMAC_SHA2_256).unwrap();
    signed_octets(
        prf,
        &AuthInput {
            real_message: &message,
            peer_nonce: &nonce,
            sk_p: &sk_p,
            id_body: &id_body,
        },
    )
}
