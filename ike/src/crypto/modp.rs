//! Finite-field Diffie-Hellman over the MODP groups of RFC 2409 / RFC 3526, with constant-time
//! Montgomery exponentiation (crypto-bigint), so the private exponent does not leak through timing.

use std::sync::OnceLock;

use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
use crypto_bigint::{BoxedUint, Odd};
use zeroize::Zeroize;

use crate::alg::KeGroup;
use crate::rng::Rng;

use super::modp_primes as primes;
use super::{CryptoError, Secret};

pub(crate) struct ModpGroup {
    group: KeGroup,
    bits: u32,
    /// Private exponent size: about twice the group's security strength (RFC 3526 section 8),
    /// rounded up to whole 64-bit limbs. Full-size exponents would cost 4-8x more for no gain.
    exp_bits: u32,
    p: Vec<u8>,
    p_minus_1: Vec<u8>,
    params: BoxedMontyParams,
}

impl ModpGroup {
    pub(crate) fn len(&self) -> usize {
        self.p.len()
    }
}

fn build(group: KeGroup, hex: &str, bits: u32, exp_bits: u32) -> Option<ModpGroup> {
    let p = decode_hex(hex)?;
    if p.len() * 8 != bits as usize {
        return None;
    }
    let modulus = Odd::new(BoxedUint::from_be_slice(&p, bits).ok()?).into_option()?;
    let params = BoxedMontyParams::new_vartime(modulus);
    let mut p_minus_1 = p.clone();
    // p is odd, so p - 1 only clears the lowest bit.
    if let Some(last) = p_minus_1.last_mut() {
        *last &= 0xfe;
    }
    Some(ModpGroup {
        group,
        bits,
        exp_bits,
        p,
        p_minus_1,
        params,
    })
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| (c as char).to_digit(16);
    let bytes = hex.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8))
        .collect()
}

pub(crate) fn group(g: KeGroup) -> Option<&'static ModpGroup> {
    static G2: OnceLock<Option<ModpGroup>> = OnceLock::new();
    static G5: OnceLock<Option<ModpGroup>> = OnceLock::new();
    static G14: OnceLock<Option<ModpGroup>> = OnceLock::new();
    static G15: OnceLock<Option<ModpGroup>> = OnceLock::new();
    static G16: OnceLock<Option<ModpGroup>> = OnceLock::new();
    static G17: OnceLock<Option<ModpGroup>> = OnceLock::new();
    static G18: OnceLock<Option<ModpGroup>> = OnceLock::new();
    let (cell, hex, bits, exp_bits) = match g {
        KeGroup::MODP_1024 => (&G2, primes::MODP_1024, 1024, 256),
        KeGroup::MODP_1536 => (&G5, primes::MODP_1536, 1536, 256),
        KeGroup::MODP_2048 => (&G14, primes::MODP_2048, 2048, 320),
        KeGroup::MODP_3072 => (&G15, primes::MODP_3072, 3072, 448),
        KeGroup::MODP_4096 => (&G16, primes::MODP_4096, 4096, 512),
        KeGroup::MODP_6144 => (&G17, primes::MODP_6144, 6144, 576),
        KeGroup::MODP_8192 => (&G18, primes::MODP_8192, 8192, 640),
        _ => return None,
    };
    cell.get_or_init(|| build(g, hex, bits, exp_bits)).as_ref()
}

/// A MODP private exponent x with its public value g^x mod p.
pub(crate) struct ModpPrivate {
    group: &'static ModpGroup,
    x: BoxedUint,
}

impl Drop for ModpPrivate {
    fn drop(&mut self) {
        self.x.zeroize();
    }
}

impl ModpPrivate {
    pub(crate) fn generate(group: &'static ModpGroup, rng: &mut dyn Rng) -> (ModpPrivate, Vec<u8>) {
        let mut bytes = vec![0u8; (group.exp_bits / 8) as usize];
        rng.fill(&mut bytes);
        // Top bit set: the exponent has exactly exp_bits bits, never 0 or 1.
        bytes[0] |= 0x80;
        let x = BoxedUint::from_be_slice_truncated(&bytes, group.exp_bits);
        bytes.zeroize();
        let g = BoxedMontyForm::new(
            BoxedUint::from_be_slice_truncated(&[2], group.bits),
            &group.params,
        );
        let public = g
            .pow_bounded_exp(&x, group.exp_bits)
            .retrieve()
            .to_be_bytes()
            .into_vec();
        (ModpPrivate { group, x }, public)
    }

    /// g^xy mod p, as many octets as the modulus (leading zeros kept, RFC 7296 section 2.14).
    pub(crate) fn shared_secret(&self, peer: &[u8]) -> Result<Secret, CryptoError> {
        let g = self.group;
        let invalid = |reason| {
            Err(CryptoError::InvalidPublicValue {
                group: g.group,
                reason,
            })
        };
        if peer.len() != g.len() {
            return invalid("length differs from the modulus length");
        }
        // Equal-length big-endian strings compare like the integers they encode.
        let mut one = vec![0u8; g.len()];
        if let Some(last) = one.last_mut() {
            *last = 1;
        }
        if peer <= one.as_slice() {
            return invalid("y <= 1");
        }
        if peer >= g.p_minus_1.as_slice() {
            return invalid("y >= p-1");
        }
        let y = BoxedMontyForm::new(BoxedUint::from_be_slice_truncated(peer, g.bits), &g.params);
        let mut zm = y.pow_bounded_exp(&self.x, g.exp_bits);
        let mut z = zm.retrieve();
        let out = Secret::from(z.to_be_bytes().into_vec());
        z.zeroize();
        zm.zeroize();
        Ok(out)
    }
}
