//! IKEv2 cryptography: transforms (ENCR, INTEG, PRF, KE), prf+, SKEYSEED and KEYMAT derivation, PSK
//! AUTH, NAT-D and cookie hashes, and SK/SKF payload protection.
//!
//! Everything here works on byte slices so that the codec and the exchanges can call it without
//! sharing types beyond the IANA ids in [`crate::consts`]. No function draws randomness of its own:
//! the caller's [`crate::rng::Rng`] is passed in wherever randomness is needed.

mod auth;
mod cipher;
mod cookie;
mod error;
mod kdf;
mod ke;
mod mac;
mod modp;
mod modp_primes;
mod natd;
mod secret;
pub mod sk;
mod transforms;

pub use auth::{psk_auth, signed_octets, verify_psk_auth, AuthInput};
pub use cipher::{aead_open, aead_seal, cbc_decrypt, cbc_encrypt};
pub use cookie::{CookieJar, COOKIE_LEN};
pub use error::CryptoError;
pub use kdf::{
    derive_child_keys, derive_ike_keys, ike_keys_from_skeyseed, prf, prf_plus, rekey_skeyseed,
    skeyseed, ChildKeys, IkeKeys, Skeyseed,
};
pub use ke::{is_legacy_group, public_value_len, KeyExchange};
pub use natd::natd_hash;
pub use secret::Secret;
pub use transforms::{Encr, Integ, Prf, SkCipher};

/// Constant-time equality of two byte strings (lengths are not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
