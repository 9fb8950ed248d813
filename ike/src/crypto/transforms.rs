//! Algorithm descriptors built from the negotiated transform ids: what the key derivation and the
//! SK payload code need to know about lengths, and which backend runs each one.

use crate::alg::{EncrId, IntegId, PrfId};

use super::mac::{HashAlg, HmacKey, MAX_MAC_LEN};
use super::{ct_eq, CryptoError, Secret};

/// A pseudorandom function (transform type 2). All supported PRFs are HMACs.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Prf {
    id: PrfId,
    hash: HashAlg,
}

impl Prf {
    pub fn new(id: PrfId) -> Result<Prf, CryptoError> {
        let hash = match id {
            PrfId::HMAC_MD5 => HashAlg::Md5,
            PrfId::HMAC_SHA1 => HashAlg::Sha1,
            PrfId::HMAC_SHA2_256 => HashAlg::Sha256,
            PrfId::HMAC_SHA2_384 => HashAlg::Sha384,
            PrfId::HMAC_SHA2_512 => HashAlg::Sha512,
            _ => return Err(CryptoError::UnsupportedPrf(id)),
        };
        Ok(Prf { id, hash })
    }

    pub fn id(self) -> PrfId {
        self.id
    }

    /// Output length in octets.
    pub fn output_len(self) -> usize {
        self.hash.output_len()
    }

    /// Length of SK_d, SK_pi and SK_pr: the PRF's preferred key length, which for HMAC is its
    /// output length (RFC 7296 section 2.14).
    pub fn key_len(self) -> usize {
        self.hash.output_len()
    }

    /// HMAC-MD5 is only for interoperating with old peers and is off unless configured.
    pub fn is_legacy(self) -> bool {
        self.hash == HashAlg::Md5
    }

    /// `prf(key, data[0] | data[1] | ...)`: the parts are fed in order without being concatenated.
    pub fn compute(self, key: &[u8], data: &[&[u8]]) -> Secret {
        let mut buf = [0u8; MAX_MAC_LEN];
        let n = self.keyed(key).sign_into(data, &mut buf);
        let out = Secret::from_slice(&buf[..n]);
        zeroize::Zeroize::zeroize(&mut buf);
        out
    }

    /// The PRF keyed once, for protocols that apply it many times under one key (prf+, IKEv1's
    /// key expansion) without redoing the HMAC key schedule each time.
    pub fn keyed(self, key: &[u8]) -> PrfKey {
        PrfKey(HmacKey::new(self.hash, key))
    }
}

/// A [`Prf`] with its key schedule done (see [`Prf::keyed`]).
pub struct PrfKey(HmacKey);

impl PrfKey {
    /// The PRF over the concatenation of `parts`; returns the output length written into `out`.
    pub fn sign_into(&self, parts: &[&[u8]], out: &mut [u8; MAX_MAC_LEN]) -> usize {
        self.0.sign_into(parts, out)
    }
}

/// An integrity transform (transform type 3): truncated HMAC.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Integ {
    id: IntegId,
    hash: HashAlg,
    icv_len: usize,
}

impl Integ {
    pub fn new(id: IntegId) -> Result<Integ, CryptoError> {
        let (hash, icv_len) = match id {
            IntegId::HMAC_MD5_96 => (HashAlg::Md5, 12),
            IntegId::HMAC_SHA1_96 => (HashAlg::Sha1, 12),
            IntegId::HMAC_SHA2_256_128 => (HashAlg::Sha256, 16),
            IntegId::HMAC_SHA2_384_192 => (HashAlg::Sha384, 24),
            IntegId::HMAC_SHA2_512_256 => (HashAlg::Sha512, 32),
            _ => return Err(CryptoError::UnsupportedInteg(id)),
        };
        Ok(Integ { id, hash, icv_len })
    }

    pub fn id(self) -> IntegId {
        self.id
    }

    /// Key length in octets (the full hash output, RFC 2404 / RFC 4868).
    pub fn key_len(self) -> usize {
        self.hash.output_len()
    }

    /// Length of the truncated ICV in octets.
    pub fn icv_len(self) -> usize {
        self.icv_len
    }

    /// HMAC-MD5-96 is only for interoperating with old peers and is off unless configured.
    pub fn is_legacy(self) -> bool {
        self.hash == HashAlg::Md5
    }

    /// Writes the truncated ICV over `data[0] | data[1] | ...` into `icv` (exactly `icv_len` octets).
    pub fn compute(self, key: &[u8], data: &[&[u8]], icv: &mut [u8]) -> Result<(), CryptoError> {
        self.check_key(key)?;
        if icv.len() != self.icv_len {
            return Err(CryptoError::Malformed("ICV buffer length"));
        }
        let mut buf = [0u8; MAX_MAC_LEN];
        HmacKey::new(self.hash, key).sign_into(data, &mut buf);
        icv.copy_from_slice(&buf[..self.icv_len]);
        Ok(())
    }

    /// Recomputes the ICV and compares it in constant time.
    pub fn verify(self, key: &[u8], data: &[&[u8]], icv: &[u8]) -> Result<(), CryptoError> {
        self.check_key(key)?;
        let mut buf = [0u8; MAX_MAC_LEN];
        HmacKey::new(self.hash, key).sign_into(data, &mut buf);
        if icv.len() == self.icv_len && ct_eq(&buf[..self.icv_len], icv) {
            Ok(())
        } else {
            Err(CryptoError::IntegrityCheckFailed)
        }
    }

    fn check_key(self, key: &[u8]) -> Result<(), CryptoError> {
        if key.len() != self.key_len() {
            return Err(CryptoError::KeyLength {
                what: "integrity",
                expected: self.key_len(),
                got: key.len(),
            });
        }
        Ok(())
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum EncrKind {
    AesCbc,
    TripleDesCbc,
    AesGcm,
    ChaCha20Poly1305,
}

/// An encryption transform (transform type 1) with its key size.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Encr {
    id: EncrId,
    key_bits: u16,
    kind: EncrKind,
    icv_len: u8,
}

impl Encr {
    /// `key_bits` is the Key Length attribute: required for AES, absent (or the fixed size) for
    /// 3DES (192) and ChaCha20-Poly1305 (256, RFC 7634 forbids the attribute, accepted if equal).
    pub fn new(id: EncrId, key_bits: Option<u16>) -> Result<Encr, CryptoError> {
        let unsupported = Err(CryptoError::UnsupportedEncr { id, key_bits });
        let aes_bits = match key_bits {
            Some(b @ (128 | 192 | 256)) => Some(b),
            _ => None,
        };
        let (kind, bits, icv_len) = match id {
            EncrId::AES_CBC => match aes_bits {
                Some(b) => (EncrKind::AesCbc, b, 0),
                None => return unsupported,
            },
            EncrId::AES_GCM_8 | EncrId::AES_GCM_12 | EncrId::AES_GCM_16 => {
                let icv = match id {
                    EncrId::AES_GCM_8 => 8,
                    EncrId::AES_GCM_12 => 12,
                    _ => 16,
                };
                match aes_bits {
                    Some(b) => (EncrKind::AesGcm, b, icv),
                    None => return unsupported,
                }
            }
            EncrId::TRIPLE_DES => match key_bits {
                None | Some(192) => (EncrKind::TripleDesCbc, 192, 0),
                _ => return unsupported,
            },
            EncrId::CHACHA20_POLY1305 => match key_bits {
                None | Some(256) => (EncrKind::ChaCha20Poly1305, 256, 16),
                _ => return unsupported,
            },
            _ => return unsupported,
        };
        Ok(Encr {
            id,
            key_bits: bits,
            kind,
            icv_len,
        })
    }

    pub fn id(self) -> EncrId {
        self.id
    }

    /// Cipher key size in bits (without the AEAD salt).
    pub fn key_bits(self) -> u16 {
        self.key_bits
    }

    /// Octets of keying material taken from prf+ for this transform: the cipher key plus, for
    /// AEAD, the 4-octet salt (RFC 5282 section 7.1, RFC 7634 section 2).
    pub fn key_len(self) -> usize {
        self.cipher_key_len() + self.salt_len()
    }

    /// Cipher key alone, in octets.
    pub fn cipher_key_len(self) -> usize {
        usize::from(self.key_bits / 8)
    }

    /// Implicit nonce salt carried at the end of the AEAD key material (0 for CBC).
    pub fn salt_len(self) -> usize {
        if self.is_aead() {
            4
        } else {
            0
        }
    }

    /// Length of the explicit IV sent in every SK payload.
    pub fn iv_len(self) -> usize {
        match self.kind {
            EncrKind::AesCbc => 16,
            EncrKind::TripleDesCbc | EncrKind::AesGcm | EncrKind::ChaCha20Poly1305 => 8,
        }
    }

    /// Block size of the cipher (1 for the ChaCha20 stream cipher).
    pub fn block_len(self) -> usize {
        match self.kind {
            EncrKind::AesCbc | EncrKind::AesGcm => 16,
            EncrKind::TripleDesCbc => 8,
            EncrKind::ChaCha20Poly1305 => 1,
        }
    }

    /// The plaintext (incl. pad length octet) must be a multiple of this. AEAD modes need no
    /// padding (RFC 5282 section 3, RFC 7634 section 3).
    pub fn pad_to(self) -> usize {
        if self.is_aead() {
            1
        } else {
            self.block_len()
        }
    }

    /// AEAD tag length (0 for CBC, where the integrity transform supplies the ICV).
    pub fn icv_len(self) -> usize {
        usize::from(self.icv_len)
    }

    pub fn is_aead(self) -> bool {
        matches!(self.kind, EncrKind::AesGcm | EncrKind::ChaCha20Poly1305)
    }

    /// 3DES is only for interoperating with old peers and is off unless configured.
    pub fn is_legacy(self) -> bool {
        self.kind == EncrKind::TripleDesCbc
    }

    pub(crate) fn kind(self) -> EncrKind {
        self.kind
    }
}

/// What protects SK payloads: an AEAD cipher alone, or a CBC cipher with an integrity transform.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct SkCipher {
    encr: Encr,
    integ: Option<Integ>,
}

impl SkCipher {
    pub fn new(encr: Encr, integ: Option<Integ>) -> Result<SkCipher, CryptoError> {
        match (encr.is_aead(), integ.is_some()) {
            (true, true) => Err(CryptoError::InvalidSuite(
                "AEAD cipher with an integrity transform",
            )),
            (false, false) => Err(CryptoError::InvalidSuite(
                "non-AEAD cipher without integrity",
            )),
            _ => Ok(SkCipher { encr, integ }),
        }
    }

    pub fn encr(&self) -> Encr {
        self.encr
    }

    pub fn integ(&self) -> Option<Integ> {
        self.integ
    }

    /// SK_e* length (cipher key + AEAD salt).
    pub fn encr_key_len(&self) -> usize {
        self.encr.key_len()
    }

    /// SK_a* length (0 for AEAD).
    pub fn integ_key_len(&self) -> usize {
        self.integ.map_or(0, Integ::key_len)
    }

    /// ICV length at the end of every SK payload.
    pub fn icv_len(&self) -> usize {
        match self.integ {
            Some(i) => i.icv_len(),
            None => self.encr.icv_len(),
        }
    }

    /// Bytes an SK payload adds beyond the inner payloads, at most (header, IV, max padding, ICV):
    /// what fragmentation needs to size fragments.
    pub fn overhead_max(&self) -> usize {
        4 + self.encr.iv_len() + self.encr.pad_to() + self.icv_len()
    }
}
