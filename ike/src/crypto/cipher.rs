//! The raw cipher operations behind SK payloads, dispatched to the fastest backend that has them:
//! ring for AES-GCM-128/256 with a 16-octet ICV and ChaCha20-Poly1305; RustCrypto for AES-CBC,
//! 3DES-CBC and the AES-GCM variants ring lacks (192-bit keys, 8/12-octet ICVs).
//!
//! ring's key schedules are not wiped on drop (ring offers no hook for it); RustCrypto's are
//! (`zeroize` feature).

use aes_gcm::aead::consts::{U12, U16, U8};
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::AesGcm;
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use ring::aead as ring_aead;

use super::transforms::EncrKind;
use super::{CryptoError, Encr};

fn check_key(encr: Encr, key: &[u8]) -> Result<(), CryptoError> {
    if key.len() != encr.key_len() {
        return Err(CryptoError::KeyLength {
            what: "encryption",
            expected: encr.key_len(),
            got: key.len(),
        });
    }
    Ok(())
}

macro_rules! cbc_run {
    ($cipher:ty, $dir:ident, $method:ident, $key:expr, $iv:expr, $buf:expr) => {{
        let mode = cbc::$dir::<$cipher>::new_from_slices($key, $iv)
            .map_err(|_| CryptoError::Malformed("CBC key or IV length"))?;
        cbc_run!(@$method mode, $buf)
    }};
    (@encrypt_padded $mode:ident, $buf:expr) => {{
        let len = $buf.len();
        $mode.encrypt_padded::<NoPadding>($buf, len).map(|_| ()).map_err(|_| CryptoError::BadPadding)
    }};
    (@decrypt_padded $mode:ident, $buf:expr) => {
        $mode.decrypt_padded::<NoPadding>($buf).map(|_| ()).map_err(|_| CryptoError::BadPadding)
    };
}

/// CBC-encrypts `buf` in place; its length must be a multiple of the block size.
pub fn cbc_encrypt(encr: Encr, key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
    check_key(encr, key)?;
    if !buf.len().is_multiple_of(encr.block_len()) || iv.len() != encr.iv_len() {
        return Err(CryptoError::Malformed("CBC input is not whole blocks"));
    }
    match (encr.kind(), encr.key_bits()) {
        (EncrKind::AesCbc, 128) => cbc_run!(aes::Aes128, Encryptor, encrypt_padded, key, iv, buf),
        (EncrKind::AesCbc, 192) => cbc_run!(aes::Aes192, Encryptor, encrypt_padded, key, iv, buf),
        (EncrKind::AesCbc, 256) => cbc_run!(aes::Aes256, Encryptor, encrypt_padded, key, iv, buf),
        (EncrKind::TripleDesCbc, _) => {
            cbc_run!(des::TdesEde3, Encryptor, encrypt_padded, key, iv, buf)
        }
        _ => Err(CryptoError::InvalidSuite("not a CBC cipher")),
    }
}

/// CBC-decrypts `buf` in place; its length must be a multiple of the block size.
pub fn cbc_decrypt(encr: Encr, key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
    check_key(encr, key)?;
    if !buf.len().is_multiple_of(encr.block_len()) || iv.len() != encr.iv_len() {
        return Err(CryptoError::Malformed("CBC ciphertext is not whole blocks"));
    }
    match (encr.kind(), encr.key_bits()) {
        (EncrKind::AesCbc, 128) => cbc_run!(aes::Aes128, Decryptor, decrypt_padded, key, iv, buf),
        (EncrKind::AesCbc, 192) => cbc_run!(aes::Aes192, Decryptor, decrypt_padded, key, iv, buf),
        (EncrKind::AesCbc, 256) => cbc_run!(aes::Aes256, Decryptor, decrypt_padded, key, iv, buf),
        (EncrKind::TripleDesCbc, _) => {
            cbc_run!(des::TdesEde3, Decryptor, decrypt_padded, key, iv, buf)
        }
        _ => Err(CryptoError::InvalidSuite("not a CBC cipher")),
    }
}

/// Nonce = salt (last 4 octets of the key material) | explicit 8-octet IV (RFC 5282 section 4,
/// RFC 7634 section 2); returns (cipher key, nonce).
fn split_aead<'k>(
    encr: Encr,
    keymat: &'k [u8],
    iv: &[u8],
) -> Result<(&'k [u8], [u8; 12]), CryptoError> {
    if !encr.is_aead() {
        return Err(CryptoError::InvalidSuite("not an AEAD cipher"));
    }
    check_key(encr, keymat)?;
    if iv.len() != 8 {
        return Err(CryptoError::Malformed("AEAD IV length"));
    }
    let (key, salt) = keymat.split_at(encr.cipher_key_len());
    let mut nonce = [0u8; 12];
    nonce[..4].copy_from_slice(salt);
    nonce[4..].copy_from_slice(iv);
    Ok((key, nonce))
}

fn ring_alg(encr: Encr) -> Option<&'static ring_aead::Algorithm> {
    match (encr.kind(), encr.key_bits(), encr.icv_len()) {
        (EncrKind::AesGcm, 128, 16) => Some(&ring_aead::AES_128_GCM),
        (EncrKind::AesGcm, 256, 16) => Some(&ring_aead::AES_256_GCM),
        (EncrKind::ChaCha20Poly1305, _, _) => Some(&ring_aead::CHACHA20_POLY1305),
        _ => None,
    }
}

macro_rules! rc_gcm {
    (seal $aes:ty, $tag:ty, $key:expr, $nonce:expr, $aad:expr, $buf:expr, $tag_out:expr) => {{
        let c = AesGcm::<$aes, U12, $tag>::new_from_slice($key)
            .map_err(|_| CryptoError::Malformed("AES-GCM key length"))?;
        let tag = c
            .encrypt_inout_detached(&$nonce.into(), $aad, $buf.into())
            .map_err(|_| CryptoError::TooLong)?;
        $tag_out.copy_from_slice(tag.as_slice());
        Ok(())
    }};
    (open $aes:ty, $tag:ty, $key:expr, $nonce:expr, $aad:expr, $buf:expr, $tag_in:expr) => {{
        let c = AesGcm::<$aes, U12, $tag>::new_from_slice($key)
            .map_err(|_| CryptoError::Malformed("AES-GCM key length"))?;
        let tag = aes_gcm::aead::Tag::<AesGcm<$aes, U12, $tag>>::try_from($tag_in)
            .map_err(|_| CryptoError::IntegrityCheckFailed)?;
        c.decrypt_inout_detached(&$nonce.into(), $aad, $buf.into(), &tag)
            .map_err(|_| CryptoError::IntegrityCheckFailed)
    }};
}

macro_rules! rc_gcm_dispatch {
    ($op:ident, $encr:expr, $key:expr, $nonce:expr, $aad:expr, $buf:expr, $tag:expr) => {
        match ($encr.key_bits(), $encr.icv_len()) {
            (128, 8) => rc_gcm!($op aes::Aes128, U8, $key, $nonce, $aad, $buf, $tag),
            (128, 12) => rc_gcm!($op aes::Aes128, U12, $key, $nonce, $aad, $buf, $tag),
            (128, 16) => rc_gcm!($op aes::Aes128, U16, $key, $nonce, $aad, $buf, $tag),
            (192, 8) => rc_gcm!($op aes::Aes192, U8, $key, $nonce, $aad, $buf, $tag),
            (192, 12) => rc_gcm!($op aes::Aes192, U12, $key, $nonce, $aad, $buf, $tag),
            (192, 16) => rc_gcm!($op aes::Aes192, U16, $key, $nonce, $aad, $buf, $tag),
            (256, 8) => rc_gcm!($op aes::Aes256, U8, $key, $nonce, $aad, $buf, $tag),
            (256, 12) => rc_gcm!($op aes::Aes256, U12, $key, $nonce, $aad, $buf, $tag),
            (256, 16) => rc_gcm!($op aes::Aes256, U16, $key, $nonce, $aad, $buf, $tag),
            _ => Err(CryptoError::InvalidSuite("not an AES-GCM variant")),
        }
    };
}

/// AEAD-encrypts `buf` in place and writes the ICV (exactly `encr.icv_len()` octets) to `tag_out`.
pub fn aead_seal(
    encr: Encr,
    keymat: &[u8],
    iv: &[u8],
    aad: &[u8],
    buf: &mut [u8],
    tag_out: &mut [u8],
) -> Result<(), CryptoError> {
    let (key, nonce) = split_aead(encr, keymat, iv)?;
    if tag_out.len() != encr.icv_len() {
        return Err(CryptoError::Malformed("ICV buffer length"));
    }
    if let Some(alg) = ring_alg(encr) {
        let k = ring_aead::UnboundKey::new(alg, key)
            .map_err(|_| CryptoError::Malformed("AEAD key length"))?;
        let tag = ring_aead::LessSafeKey::new(k)
            .seal_in_place_separate_tag(
                ring_aead::Nonce::assume_unique_for_key(nonce),
                ring_aead::Aad::from(aad),
                buf,
            )
            .map_err(|_| CryptoError::TooLong)?;
        tag_out.copy_from_slice(tag.as_ref());
        return Ok(());
    }
    rc_gcm_dispatch!(seal, encr, key, nonce, aad, buf, tag_out)
}

/// Verifies `tag` and only then decrypts `buf` in place. On failure `buf` is left as ciphertext.
pub fn aead_open(
    encr: Encr,
    keymat: &[u8],
    iv: &[u8],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8],
) -> Result<(), CryptoError> {
    let (key, nonce) = split_aead(encr, keymat, iv)?;
    if tag.len() != encr.icv_len() {
        return Err(CryptoError::IntegrityCheckFailed);
    }
    if let Some(alg) = ring_alg(encr) {
        let k = ring_aead::UnboundKey::new(alg, key)
            .map_err(|_| CryptoError::Malformed("AEAD key length"))?;
        let tag = ring_aead::Tag::try_from(tag).map_err(|_| CryptoError::IntegrityCheckFailed)?;
        ring_aead::LessSafeKey::new(k)
            .open_in_place_separate_tag(
                ring_aead::Nonce::assume_unique_for_key(nonce),
                ring_aead::Aad::from(aad),
                tag,
                buf,
                0..,
            )
            .map_err(|_| CryptoError::IntegrityCheckFailed)?;
        return Ok(());
    }
    rc_gcm_dispatch!(open, encr, key, nonce, aad, buf, tag)
}
