//! Keyed HMAC over the hash functions IKE uses. ring does HMAC-SHA1/SHA2; HMAC-MD5 (legacy
//! HMAC-MD5-96 only) is RFC 2104 built here over the `md-5` digest, which ring does not have.

use md5::{Digest, Md5};
use ring::hmac;
use zeroize::Zeroize;

/// Largest HMAC output (SHA-512).
pub const MAX_MAC_LEN: usize = 64;

const MD5_BLOCK: usize = 64;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum HashAlg {
    Md5,
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlg {
    pub(crate) fn output_len(self) -> usize {
        match self {
            HashAlg::Md5 => 16,
            HashAlg::Sha1 => 20,
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }
}

/// An HMAC key with its inner/outer pad state computed once, so prf+ and repeated ICVs under one
/// key do not redo the key schedule.
pub(crate) enum HmacKey {
    Ring(hmac::Key),
    Md5(Md5Key),
}

pub(crate) struct Md5Key {
    /// K0 from RFC 2104: the key hashed if longer than a block, zero-padded to the block size.
    k0: [u8; MD5_BLOCK],
}

impl Drop for Md5Key {
    fn drop(&mut self) {
        self.k0.zeroize();
    }
}

impl HmacKey {
    pub(crate) fn new(alg: HashAlg, key: &[u8]) -> HmacKey {
        let ring_alg = match alg {
            HashAlg::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            HashAlg::Sha256 => hmac::HMAC_SHA256,
            HashAlg::Sha384 => hmac::HMAC_SHA384,
            HashAlg::Sha512 => hmac::HMAC_SHA512,
            HashAlg::Md5 => {
                let mut k0 = [0u8; MD5_BLOCK];
                if key.len() > MD5_BLOCK {
                    let mut h = Md5::digest(key);
                    k0[..h.len()].copy_from_slice(&h);
                    h.as_mut_slice().zeroize();
                } else {
                    k0[..key.len()].copy_from_slice(key);
                }
                return HmacKey::Md5(Md5Key { k0 });
            }
        };
        HmacKey::Ring(hmac::Key::new(ring_alg, key))
    }

    /// HMAC over the concatenation of `parts`; returns the output length written into `out`.
    pub(crate) fn sign_into(&self, parts: &[&[u8]], out: &mut [u8; MAX_MAC_LEN]) -> usize {
        match self {
            HmacKey::Ring(key) => {
                let mut ctx = hmac::Context::with_key(key);
                for p in parts {
                    ctx.update(p);
                }
                let tag = ctx.sign();
                let t = tag.as_ref();
                out[..t.len()].copy_from_slice(t);
                t.len()
            }
            HmacKey::Md5(key) => {
                let mut pad = [0u8; MD5_BLOCK];
                for (p, k) in pad.iter_mut().zip(key.k0.iter()) {
                    *p = k ^ 0x36;
                }
                let mut inner = Md5::new();
                inner.update(pad);
                for p in parts {
                    inner.update(p);
                }
                let mut inner_hash = inner.finalize();
                for (p, k) in pad.iter_mut().zip(key.k0.iter()) {
                    *p = k ^ 0x5c;
                }
                let mut outer = Md5::new();
                outer.update(pad);
                outer.update(inner_hash.as_slice());
                let h = outer.finalize();
                pad.zeroize();
                inner_hash.as_mut_slice().zeroize();
                out[..h.len()].copy_from_slice(&h);
                h.len()
            }
        }
    }
}
