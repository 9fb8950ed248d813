//! ESP algorithms the kernel knows, with the key and ICV sizes that make sense for each.
//!
//! Key lengths are the bytes of keying material the kernel expects (RFC 4106/4309/7634/3686 add
//! a salt or nonce after the cipher key, and the kernel wants it appended), so a length mismatch
//! is caught here with a sentence instead of an EINVAL from the kernel.

use std::fmt;

/// Combined-mode (AEAD) ciphers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AeadAlg {
    /// AES-GCM (RFC 4106): key 16/24/32 bytes plus 4 bytes salt; ICV 8, 12 or 16 bytes.
    AesGcm,
    /// AES-CCM (RFC 4309): key 16/24/32 bytes plus 3 bytes salt; ICV 8, 12 or 16 bytes.
    AesCcm,
    /// ChaCha20-Poly1305 (RFC 7634): key 32 bytes plus 4 bytes salt; ICV 16 bytes.
    ChaCha20Poly1305,
}

impl AeadAlg {
    /// The kernel crypto API name used in `xfrm_algo_aead.alg_name`.
    pub fn kernel_name(self) -> &'static str {
        match self {
            AeadAlg::AesGcm => "rfc4106(gcm(aes))",
            AeadAlg::AesCcm => "rfc4309(ccm(aes))",
            AeadAlg::ChaCha20Poly1305 => "rfc7539esp(chacha20,poly1305)",
        }
    }

    /// Accepted key lengths in bytes, salt included.
    pub fn key_lengths(self) -> &'static [usize] {
        match self {
            AeadAlg::AesGcm => &[20, 28, 36],
            AeadAlg::AesCcm => &[19, 27, 35],
            AeadAlg::ChaCha20Poly1305 => &[36],
        }
    }

    /// Accepted ICV lengths in bits.
    pub fn icv_bits(self) -> &'static [u32] {
        match self {
            AeadAlg::AesGcm | AeadAlg::AesCcm => &[64, 96, 128],
            AeadAlg::ChaCha20Poly1305 => &[128],
        }
    }

    pub fn from_kernel_name(name: &str) -> Option<Self> {
        [AeadAlg::AesGcm, AeadAlg::AesCcm, AeadAlg::ChaCha20Poly1305]
            .into_iter()
            .find(|a| a.kernel_name() == name)
    }
}

/// Encryption-only ciphers, used together with an [`AuthAlg`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncAlg {
    /// AES-CBC: key 16/24/32 bytes.
    AesCbc,
    /// AES-CTR (RFC 3686): key 16/24/32 bytes plus 4 bytes nonce.
    AesCtr,
    /// ESP with NULL encryption (RFC 2410): integrity only, no key.
    Null,
}

impl EncAlg {
    pub fn kernel_name(self) -> &'static str {
        match self {
            EncAlg::AesCbc => "cbc(aes)",
            EncAlg::AesCtr => "rfc3686(ctr(aes))",
            EncAlg::Null => "ecb(cipher_null)",
        }
    }

    pub fn key_lengths(self) -> &'static [usize] {
        match self {
            EncAlg::AesCbc => &[16, 24, 32],
            EncAlg::AesCtr => &[20, 28, 36],
            EncAlg::Null => &[0],
        }
    }

    pub fn from_kernel_name(name: &str) -> Option<Self> {
        [EncAlg::AesCbc, EncAlg::AesCtr, EncAlg::Null]
            .into_iter()
            .find(|a| a.kernel_name() == name)
    }
}

/// Integrity algorithms with the truncation that ESP uses for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthAlg {
    /// HMAC-SHA1-96 (RFC 2404): key 20 bytes.
    HmacSha1,
    /// HMAC-SHA2-256-128 (RFC 4868): key 32 bytes.
    HmacSha256,
    /// HMAC-SHA2-384-192 (RFC 4868): key 48 bytes.
    HmacSha384,
    /// HMAC-SHA2-512-256 (RFC 4868): key 64 bytes.
    HmacSha512,
    /// AES-XCBC-MAC-96 (RFC 3566): key 16 bytes.
    AesXcbc,
}

impl AuthAlg {
    pub fn kernel_name(self) -> &'static str {
        match self {
            AuthAlg::HmacSha1 => "hmac(sha1)",
            AuthAlg::HmacSha256 => "hmac(sha256)",
            AuthAlg::HmacSha384 => "hmac(sha384)",
            AuthAlg::HmacSha512 => "hmac(sha512)",
            AuthAlg::AesXcbc => "xcbc(aes)",
        }
    }

    /// Accepted key lengths in bytes (the HMAC output size, as RFC 4868 requires).
    pub fn key_lengths(self) -> &'static [usize] {
        match self {
            AuthAlg::HmacSha1 => &[20],
            AuthAlg::HmacSha256 => &[32],
            AuthAlg::HmacSha384 => &[48],
            AuthAlg::HmacSha512 => &[64],
            AuthAlg::AesXcbc => &[16],
        }
    }

    /// The ICV length ESP uses (bits), per the RFC that defines the transform for IPsec.
    pub fn trunc_bits(self) -> u32 {
        match self {
            AuthAlg::HmacSha1 | AuthAlg::AesXcbc => 96,
            AuthAlg::HmacSha256 => 128,
            AuthAlg::HmacSha384 => 192,
            AuthAlg::HmacSha512 => 256,
        }
    }

    pub fn from_kernel_name(name: &str) -> Option<Self> {
        [
            AuthAlg::HmacSha1,
            AuthAlg::HmacSha256,
            AuthAlg::HmacSha384,
            AuthAlg::HmacSha512,
            AuthAlg::AesXcbc,
        ]
        .into_iter()
        .find(|a| a.kernel_name() == name)
    }
}

impl fmt::Display for AeadAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kernel_name())
    }
}
impl fmt::Display for EncAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kernel_name())
    }
}
impl fmt::Display for AuthAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kernel_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_names_round_trip() {
        for a in [AeadAlg::AesGcm, AeadAlg::AesCcm, AeadAlg::ChaCha20Poly1305] {
            assert_eq!(AeadAlg::from_kernel_name(a.kernel_name()), Some(a));
        }
        for e in [EncAlg::AesCbc, EncAlg::AesCtr, EncAlg::Null] {
            assert_eq!(EncAlg::from_kernel_name(e.kernel_name()), Some(e));
        }
        assert_eq!(
            AuthAlg::from_kernel_name("hmac(sha256)"),
            Some(AuthAlg::HmacSha256)
        );
        assert_eq!(AuthAlg::from_kernel_name("hmac(md5)"), None);
    }
}
