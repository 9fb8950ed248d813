//! IKEv2 cryptography: prf+, SKEYSEED and KEYMAT derivation, PSK AUTH, NAT-D and cookie hashes,
//! and SK/SKF payload protection. The primitives below them (transforms, KE groups, secrets) are
//! version-neutral and come from rswan-ike's `crypto`, re-exported here so `crate::crypto::Prf` and
//! friends keep their paths.

mod auth;
mod cookie;
mod kdf;
mod natd;
pub mod sk;

pub use auth::{psk_auth, signed_octets, verify_psk_auth, AuthInput};
pub use cookie::{CookieJar, COOKIE_LEN};
pub use kdf::{
    derive_child_keys, derive_ike_keys, ike_keys_from_skeyseed, prf, prf_plus, rekey_skeyseed,
    skeyseed, ChildKeys, IkeKeys, Skeyseed,
};
pub use natd::natd_hash;
pub use rswan_ike::crypto::*;
