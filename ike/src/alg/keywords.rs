//! strongSwan's proposal keywords (`proposal_keywords_static.txt`), limited to the algorithms the
//! catalogue names. One table for both IKE versions: a keyword names an algorithm, and each
//! version's wire number comes from [`super::ids`] (`ikev2_id()`, `ikev1_*()`).

use super::ids::{EncrId, EsnId, IntegId, KeGroup, PrfId};

use super::algorithm::EncrAlg;

/// What one keyword adds to a proposal.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Kw {
    Encr(EncrAlg),
    Integ(IntegId),
    Prf(PrfId),
    Ke(KeGroup),
    Esn(EsnId),
}

/// Keywords are matched case-insensitively: strongSwan users write them in lower case, and
/// accepting "AES256" costs nothing.
pub fn lookup(token: &str) -> Option<Kw> {
    KEYWORDS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(token))
        .map(|(_, kw)| *kw)
}

/// Every keyword the parser accepts, in table order (for error messages and documentation).
pub fn allowed_keywords() -> impl Iterator<Item = &'static str> {
    KEYWORDS.iter().map(|(name, _)| *name)
}

pub static KEYWORDS: [(&str, Kw); 92] = [
    ("3des", Kw::Encr(EncrAlg::new(EncrId::TRIPLE_DES, 0))),
    ("aes", Kw::Encr(EncrAlg::new(EncrId::AES_CBC, 128))),
    ("aes128", Kw::Encr(EncrAlg::new(EncrId::AES_CBC, 128))),
    ("aes192", Kw::Encr(EncrAlg::new(EncrId::AES_CBC, 192))),
    ("aes256", Kw::Encr(EncrAlg::new(EncrId::AES_CBC, 256))),
    ("aes128ctr", Kw::Encr(EncrAlg::new(EncrId::AES_CTR, 128))),
    ("aes192ctr", Kw::Encr(EncrAlg::new(EncrId::AES_CTR, 192))),
    ("aes256ctr", Kw::Encr(EncrAlg::new(EncrId::AES_CTR, 256))),
    ("aes128ccm8", Kw::Encr(EncrAlg::new(EncrId::AES_CCM_8, 128))),
    (
        "aes128ccm64",
        Kw::Encr(EncrAlg::new(EncrId::AES_CCM_8, 128)),
    ),
    (
        "aes128ccm12",
        Kw::Encr(EncrAlg::new(EncrId::AES_CCM_12, 128)),
    ),
    (
        "aes128ccm96",
        Kw::Encr(EncrAlg::new(EncrId::AES_CCM_12, 128)),
    ),
    (
        "aes128ccm16",
        Kw::Encr(EncrAlg::new(EncrId::AES_CCM_16, 128)),
    ),
    (
        "aes128ccm128",
        Kw::Encr(EncrAlg::new(EncrId::AES_CCM_16, 128)),
    ),
    ("aes128ccm", Kw::Encr(EncrAlg::new(EncrId::AES_CCM_16, 128))),
    ("aes192ccm8", Kw::Encr(EncrAlg::new(EncrId::AES_CCM_8, 192))),
    (
        "aes192ccm64",
        Kw::Encr(EncrAlg::new(EncrId::AES_CCM_8, 192)),
    ),
    (
        "aes192ccm12",
        Kw::Encr(EncrAlg::new(EncrId::AES_CCM_12, 192)),
    ),
    (
        "aes192ccm96",
        Kw::Encr(EncrAlg::new(EncrId::AES_CCM_12, 192)),
    ),
    (
        "aes192ccm16",
        Kw::Encr(EncrAlg::new(EncrId::AES_CCM_16, 192)),
    ),
    (
        "aes192ccm128",
        Kw::Encr(EncrAlg::new(EncrId::AES_CCM_16, 192)),
    ),
    ("aes192ccm", Kw::Encr(EncrAlg::new(EncrId::AES_CCM_16, 192))),
    ("aes256ccm8", Kw::Encr(EncrAlg::new(EncrId::AES_CCM_8, 256))),
    (
        "aes256ccm64",
        Kw::Encr(EncrAlg::new(EncrId::AES_CCM_8, 256)),
    ),
    (
        "aes256ccm12",
        Kw::Encr(EncrAlg::new(EncrId::AES_CCM_12, 256)),
    ),
    (
        "aes256ccm96",
        Kw::Encr(EncrAlg::new(EncrId::AES_CCM_12, 256)),
    ),
    (
        "aes256ccm16",
        Kw::Encr(EncrAlg::new(EncrId::AES_CCM_16, 256)),
    ),
    (
        "aes256ccm128",
        Kw::Encr(EncrAlg::new(EncrId::AES_CCM_16, 256)),
    ),
    ("aes256ccm", Kw::Encr(EncrAlg::new(EncrId::AES_CCM_16, 256))),
    ("aes128gcm8", Kw::Encr(EncrAlg::new(EncrId::AES_GCM_8, 128))),
    (
        "aes128gcm64",
        Kw::Encr(EncrAlg::new(EncrId::AES_GCM_8, 128)),
    ),
    (
        "aes128gcm12",
        Kw::Encr(EncrAlg::new(EncrId::AES_GCM_12, 128)),
    ),
    (
        "aes128gcm96",
        Kw::Encr(EncrAlg::new(EncrId::AES_GCM_12, 128)),
    ),
    (
        "aes128gcm16",
        Kw::Encr(EncrAlg::new(EncrId::AES_GCM_16, 128)),
    ),
    (
        "aes128gcm128",
        Kw::Encr(EncrAlg::new(EncrId::AES_GCM_16, 128)),
    ),
    ("aes128gcm", Kw::Encr(EncrAlg::new(EncrId::AES_GCM_16, 128))),
    ("aes192gcm8", Kw::Encr(EncrAlg::new(EncrId::AES_GCM_8, 192))),
    (
        "aes192gcm64",
        Kw::Encr(EncrAlg::new(EncrId::AES_GCM_8, 192)),
    ),
    (
        "aes192gcm12",
        Kw::Encr(EncrAlg::new(EncrId::AES_GCM_12, 192)),
    ),
    (
        "aes192gcm96",
        Kw::Encr(EncrAlg::new(EncrId::AES_GCM_12, 192)),
    ),
    (
        "aes192gcm16",
        Kw::Encr(EncrAlg::new(EncrId::AES_GCM_16, 192)),
    ),
    (
        "aes192gcm128",
        Kw::Encr(EncrAlg::new(EncrId::AES_GCM_16, 192)),
    ),
    ("aes192gcm", Kw::Encr(EncrAlg::new(EncrId::AES_GCM_16, 192))),
    ("aes256gcm8", Kw::Encr(EncrAlg::new(EncrId::AES_GCM_8, 256))),
    (
        "aes256gcm64",
        Kw::Encr(EncrAlg::new(EncrId::AES_GCM_8, 256)),
    ),
    (
        "aes256gcm12",
        Kw::Encr(EncrAlg::new(EncrId::AES_GCM_12, 256)),
    ),
    (
        "aes256gcm96",
        Kw::Encr(EncrAlg::new(EncrId::AES_GCM_12, 256)),
    ),
    (
        "aes256gcm16",
        Kw::Encr(EncrAlg::new(EncrId::AES_GCM_16, 256)),
    ),
    (
        "aes256gcm128",
        Kw::Encr(EncrAlg::new(EncrId::AES_GCM_16, 256)),
    ),
    ("aes256gcm", Kw::Encr(EncrAlg::new(EncrId::AES_GCM_16, 256))),
    (
        "chacha20poly1305",
        Kw::Encr(EncrAlg::new(EncrId::CHACHA20_POLY1305, 0)),
    ),
    (
        "camellia",
        Kw::Encr(EncrAlg::new(EncrId::CAMELLIA_CBC, 128)),
    ),
    (
        "camellia128",
        Kw::Encr(EncrAlg::new(EncrId::CAMELLIA_CBC, 128)),
    ),
    (
        "camellia192",
        Kw::Encr(EncrAlg::new(EncrId::CAMELLIA_CBC, 192)),
    ),
    (
        "camellia256",
        Kw::Encr(EncrAlg::new(EncrId::CAMELLIA_CBC, 256)),
    ),
    ("sha", Kw::Integ(IntegId::HMAC_SHA1_96)),
    ("sha1", Kw::Integ(IntegId::HMAC_SHA1_96)),
    ("sha256", Kw::Integ(IntegId::HMAC_SHA2_256_128)),
    ("sha2_256", Kw::Integ(IntegId::HMAC_SHA2_256_128)),
    ("sha384", Kw::Integ(IntegId::HMAC_SHA2_384_192)),
    ("sha2_384", Kw::Integ(IntegId::HMAC_SHA2_384_192)),
    ("sha512", Kw::Integ(IntegId::HMAC_SHA2_512_256)),
    ("sha2_512", Kw::Integ(IntegId::HMAC_SHA2_512_256)),
    ("md5", Kw::Integ(IntegId::HMAC_MD5_96)),
    ("aesxcbc", Kw::Integ(IntegId::AES_XCBC_96)),
    ("aescmac", Kw::Integ(IntegId::AES_CMAC_96)),
    ("prfsha1", Kw::Prf(PrfId::HMAC_SHA1)),
    ("prfsha256", Kw::Prf(PrfId::HMAC_SHA2_256)),
    ("prfsha384", Kw::Prf(PrfId::HMAC_SHA2_384)),
    ("prfsha512", Kw::Prf(PrfId::HMAC_SHA2_512)),
    ("prfmd5", Kw::Prf(PrfId::HMAC_MD5)),
    ("prfaesxcbc", Kw::Prf(PrfId::AES128_XCBC)),
    ("prfaescmac", Kw::Prf(PrfId::AES128_CMAC)),
    ("none", Kw::Ke(KeGroup::NONE)),
    ("modpnone", Kw::Ke(KeGroup::NONE)),
    ("modp768", Kw::Ke(KeGroup::MODP_768)),
    ("modp1024", Kw::Ke(KeGroup::MODP_1024)),
    ("modp1536", Kw::Ke(KeGroup::MODP_1536)),
    ("modp2048", Kw::Ke(KeGroup::MODP_2048)),
    ("modp3072", Kw::Ke(KeGroup::MODP_3072)),
    ("modp4096", Kw::Ke(KeGroup::MODP_4096)),
    ("modp6144", Kw::Ke(KeGroup::MODP_6144)),
    ("modp8192", Kw::Ke(KeGroup::MODP_8192)),
    ("ecp256", Kw::Ke(KeGroup::ECP_256)),
    ("ecp384", Kw::Ke(KeGroup::ECP_384)),
    ("ecp521", Kw::Ke(KeGroup::ECP_521)),
    ("curve25519", Kw::Ke(KeGroup::CURVE_25519)),
    ("x25519", Kw::Ke(KeGroup::CURVE_25519)),
    ("curve448", Kw::Ke(KeGroup::CURVE_448)),
    ("x448", Kw::Ke(KeGroup::CURVE_448)),
    ("esn", Kw::Esn(EsnId::ESN)),
    ("noesn", Kw::Esn(EsnId::NO_ESN)),
];
