//! prf+, SKEYSEED and key material for IKE SAs (RFC 7296 sections 2.13, 2.14, 2.18) and Child SAs
//! (section 2.17).

use zeroize::Zeroize;

use super::MAX_MAC_LEN;
use super::{CryptoError, Prf, Secret, SkCipher};

/// SKEYSEED of an IKE SA. Kept only as long as the caller needs it (the key export for packet
/// capture decryption logs it; nothing else does).
pub type Skeyseed = Secret;

/// prf(key, data) (RFC 7296 section 2.13).
pub fn prf(prf: Prf, key: &[u8], data: &[u8]) -> Secret {
    prf.compute(key, &[data])
}

/// prf+(key, seed) truncated to `len` octets, where the seed is seed[0] | seed[1] | ...:
/// T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n), at most 255 iterations.
pub fn prf_plus(prf: Prf, key: &[u8], seed: &[&[u8]], len: usize) -> Result<Secret, CryptoError> {
    let hlen = prf.output_len();
    let max = 255 * hlen;
    if len > max {
        return Err(CryptoError::PrfPlusTooLong {
            requested: len,
            max,
        });
    }
    let keyed = prf.keyed(key);
    let mut out = Secret::zeroed(len);
    let mut prev = [0u8; MAX_MAC_LEN];
    let mut prev_len = 0;
    for (i, chunk) in out.as_mut_bytes().chunks_mut(hlen).enumerate() {
        // i < 255 by the length check above.
        let counter = [(i + 1) as u8];
        let mut t = [0u8; MAX_MAC_LEN];
        let mut parts: Vec<&[u8]> = Vec::with_capacity(seed.len() + 2);
        parts.push(&prev[..prev_len]);
        parts.extend_from_slice(seed);
        parts.push(&counter);
        let n = keyed.sign_into(&parts, &mut t);
        drop(parts);
        chunk.copy_from_slice(&t[..chunk.len()]);
        prev = t;
        prev_len = n;
        t.zeroize();
    }
    prev.zeroize();
    Ok(out)
}

/// The seven IKE SA keys (RFC 7296 section 2.14). SK_ai/SK_ar are empty for AEAD ciphers.
#[derive(Debug, Clone)]
pub struct IkeKeys {
    pub sk_d: Secret,
    pub sk_ai: Secret,
    pub sk_ar: Secret,
    pub sk_ei: Secret,
    pub sk_er: Secret,
    pub sk_pi: Secret,
    pub sk_pr: Secret,
}

/// SKEYSEED = prf(Ni | Nr, g^ir) for a new IKE SA from IKE_SA_INIT.
pub fn skeyseed(prf: Prf, ni: &[u8], nr: &[u8], g_ir: &[u8]) -> Skeyseed {
    let mut key = Vec::with_capacity(ni.len() + nr.len());
    key.extend_from_slice(ni);
    key.extend_from_slice(nr);
    let out = prf.compute(&key, &[g_ir]);
    key.zeroize();
    out
}

/// SKEYSEED of an IKE SA created by rekeying (RFC 7296 section 2.18):
/// prf(SK_d (old), g^ir (new) | Ni | Nr), using the *old* IKE SA's PRF, since the rekey exchange
/// belongs to the old SA. Ni/Nr are the CREATE_CHILD_SA nonces.
pub fn rekey_skeyseed(
    old_prf: Prf,
    old_sk_d: &[u8],
    g_ir_new: &[u8],
    ni: &[u8],
    nr: &[u8],
) -> Skeyseed {
    old_prf.compute(old_sk_d, &[g_ir_new, ni, nr])
}

/// {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr).
pub fn ike_keys_from_skeyseed(
    prf: Prf,
    cipher: &SkCipher,
    skeyseed: &[u8],
    ni: &[u8],
    nr: &[u8],
    spi_i: &[u8; 8],
    spi_r: &[u8; 8],
) -> Result<IkeKeys, CryptoError> {
    let pk = prf.key_len();
    let ak = cipher.integ_key_len();
    let ek = cipher.encr_key_len();
    let lens = [pk, ak, ak, ek, ek, pk, pk];
    let total = lens.iter().sum();
    let km = prf_plus(prf, skeyseed, &[ni, nr, spi_i, spi_r], total)?;
    let mut parts = split(km.as_bytes(), &lens).into_iter();
    let mut next = || parts.next().unwrap_or_default();
    Ok(IkeKeys {
        sk_d: next(),
        sk_ai: next(),
        sk_ar: next(),
        sk_ei: next(),
        sk_er: next(),
        sk_pi: next(),
        sk_pr: next(),
    })
}

/// SKEYSEED and the IKE SA keys after IKE_SA_INIT.
pub fn derive_ike_keys(
    prf: Prf,
    cipher: &SkCipher,
    g_ir: &[u8],
    ni: &[u8],
    nr: &[u8],
    spi_i: &[u8; 8],
    spi_r: &[u8; 8],
) -> Result<(Skeyseed, IkeKeys), CryptoError> {
    let seed = skeyseed(prf, ni, nr, g_ir);
    let keys = ike_keys_from_skeyseed(prf, cipher, seed.as_bytes(), ni, nr, spi_i, spi_r)?;
    Ok((seed, keys))
}

/// Child SA keys. "i" keys protect traffic from the initiator of the exchange that created the
/// Child SA to its responder (RFC 7296 section 2.17). For AEAD, encr_* include the 4-octet salt
/// and integ_* are empty.
#[derive(Debug, Clone)]
pub struct ChildKeys {
    pub encr_i: Secret,
    pub integ_i: Secret,
    pub encr_r: Secret,
    pub integ_r: Secret,
}

/// KEYMAT = prf+(SK_d, Ni | Nr), or prf+(SK_d, g^ir (new) | Ni | Nr) with a PFS key exchange;
/// taken in the order encr_i | integ_i | encr_r | integ_r.
pub fn derive_child_keys(
    prf: Prf,
    sk_d: &[u8],
    pfs_shared: Option<&[u8]>,
    ni: &[u8],
    nr: &[u8],
    encr_key_len: usize,
    integ_key_len: usize,
) -> Result<ChildKeys, CryptoError> {
    let lens = [encr_key_len, integ_key_len, encr_key_len, integ_key_len];
    let total = 2 * (encr_key_len + integ_key_len);
    let km = match pfs_shared {
        Some(g_ir) => prf_plus(prf, sk_d, &[g_ir, ni, nr], total)?,
        None => prf_plus(prf, sk_d, &[ni, nr], total)?,
    };
    let mut parts = split(km.as_bytes(), &lens).into_iter();
    let mut next = || parts.next().unwrap_or_default();
    Ok(ChildKeys {
        encr_i: next(),
        integ_i: next(),
        encr_r: next(),
        integ_r: next(),
    })
}

fn split(km: &[u8], lens: &[usize]) -> Vec<Secret> {
    let mut out = Vec::with_capacity(lens.len());
    let mut rest = km;
    for &l in lens {
        let (a, b) = rest.split_at(l.min(rest.len()));
        out.push(Secret::from_slice(a));
        rest = b;
    }
    out
}
