//! Opt-in key export for packet-capture decryption (ARCHITECTURE.md: secrets are never logged
//! "except in an explicit, opt-in key export"). The core never writes keys anywhere; the driver
//! asks for them only when the operator enabled the export or requested it, and turns them into
//! Wireshark's `ikev2_decryption_table`. ESP keys need nothing from here: they leave the core in
//! every `KernelOp::AddSa`.

use core::fmt;

use zeroize::Zeroizing;

use super::Endpoint;
use crate::consts::{EncrId, IntegId};
use crate::rng::Rng;

/// The keys that protect one IKE SA's SK payloads, with its SPIs and transforms.
pub struct IkeSaKeys {
    pub conn: String,
    /// SPIs as they appear in the IKE header (initiator's first).
    pub spi_i: u64,
    pub spi_r: u64,
    pub encr: EncrId,
    /// Cipher key size in bits, without the AEAD salt.
    pub encr_key_bits: u16,
    /// `None` for AEAD ciphers (SK_ai/SK_ar are then empty).
    pub integ: Option<IntegId>,
    /// SK_ei/SK_er include the 4-octet salt for AEAD ciphers (RFC 5282 section 7.1).
    pub sk_ei: Zeroizing<Vec<u8>>,
    pub sk_er: Zeroizing<Vec<u8>>,
    pub sk_ai: Zeroizing<Vec<u8>>,
    pub sk_ar: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for IkeSaKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IkeSaKeys")
            .field("conn", &self.conn)
            .field("spi_i", &format_args!("{:016x}", self.spi_i))
            .field("spi_r", &format_args!("{:016x}", self.spi_r))
            .field("encr", &self.encr)
            .field("encr_key_bits", &self.encr_key_bits)
            .field("integ", &self.integ)
            .finish_non_exhaustive()
    }
}

impl<R: Rng> Endpoint<R> {
    /// The keys of every IKE SA that has them (IKE_SA_INIT completed), for which `want(spi_i,
    /// spi_r)` is true; the filter lets a caller that already exported an SA skip copying its
    /// keys again. Only for the opt-in key export: the caller writes secrets to disk.
    pub fn ike_sa_keys(&self, mut want: impl FnMut(u64, u64) -> bool) -> Vec<IkeSaKeys> {
        self.sas
            .values()
            .filter(|sa| sa.spi_r != 0 && want(sa.spi_i, sa.spi_r))
            .filter_map(|sa| {
                let c = sa.crypto.as_ref()?;
                let copy = |s: &crate::crypto::Secret| Zeroizing::new(s.as_bytes().to_vec());
                Some(IkeSaKeys {
                    conn: sa.conn.clone(),
                    spi_i: sa.spi_i,
                    spi_r: sa.spi_r,
                    encr: c.cipher.encr().id(),
                    encr_key_bits: c.cipher.encr().key_bits(),
                    integ: c.cipher.integ().map(|i| i.id()),
                    sk_ei: copy(&c.keys.sk_ei),
                    sk_er: copy(&c.keys.sk_er),
                    sk_ai: copy(&c.keys.sk_ai),
                    sk_ar: copy(&c.keys.sk_ar),
                })
            })
            .collect()
    }
}
