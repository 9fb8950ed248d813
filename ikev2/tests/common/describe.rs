//! Renders decoded payloads in the notation of the capture JSON files, so tests can compare the
//! codec's view of a message with what strongSwan logged for the same frame.

use rswan_ikev2::consts::{EsnId, PayloadType, TransformType};
use rswan_ikev2::wire::{Proposal, Transform};

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The JSON's payload type names.
pub fn json_type_name(t: PayloadType) -> String {
    match t {
        PayloadType::NOTIFY => "N".into(),
        PayloadType::DELETE => "D".into(),
        PayloadType::NONCE => "Nonce".into(),
        t => t.to_string(),
    }
}

fn transform_name(t: &Transform) -> String {
    let base = match t.ttype {
        TransformType::ENCR => format!("ENCR_{}", rswan_ikev2::consts::EncrId(t.id)),
        TransformType::INTEG => format!("AUTH_{}", rswan_ikev2::consts::IntegId(t.id)),
        TransformType::PRF => rswan_ikev2::consts::PrfId(t.id).to_string(),
        TransformType::KE => rswan_ikev2::consts::KeGroup(t.id).to_string(),
        TransformType::ESN => match EsnId(t.id) {
            EsnId::NO_ESN => "NO_ESN".into(),
            EsnId::ESN => "ESN".into(),
            other => other.to_string(),
        },
        other => format!("{other}:{}", t.id),
    };
    match t.key_length {
        Some(bits) => format!("{base}_{bits}"),
        None => base,
    }
}

/// "IKE #1: ENCR_AES_GCM_16_256/PRF_HMAC_SHA2_256/ECP_256", "ESP #1 SPI af56b71c: ...".
pub fn proposal_string(p: &Proposal) -> String {
    let spi = if p.spi.is_empty() {
        String::new()
    } else {
        format!(" SPI {}", hex(&p.spi))
    };
    let ts: Vec<String> = p.transforms.iter().map(transform_name).collect();
    format!("{} #{}{}: {}", p.protocol, p.num, spi, ts.join("/"))
}
