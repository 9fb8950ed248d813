//! Initiator-side check of the responder's choice.

use core::fmt;

use crate::consts::{EncrId, EsnId, IntegId, KeGroup, PrfId, ProtocolId, TransformType};
use crate::wire::sa::{Proposal, Transform};

use super::select::valid_types;
use super::set::ProposalSet;
use rswan_ike::alg::{transform_name, EncrAlg};
use rswan_ike::alg::{Algorithms, ChildAlgorithms, IkeAlgorithms};

/// Why a responder's SA payload is not an acceptable answer to what we offered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponseError {
    WrongProtocol {
        expected: ProtocolId,
        got: ProtocolId,
    },
    /// The chosen proposal number is not one we sent.
    UnknownProposalNumber(u8),
    WrongSpiSize {
        expected: usize,
        got: usize,
    },
    /// More than one transform of a type (RFC 7296 section 3.3: exactly one per type).
    DuplicateTransform(TransformType),
    MissingTransform(TransformType),
    /// A transform of a type that must not be there (integrity with AEAD, KE where none was
    /// offered, or a type the protocol does not use).
    UnexpectedTransform(TransformType),
    /// A transform that was not in the proposal we sent under that number.
    NotOffered {
        ttype: TransformType,
        name: String,
    },
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResponseError::WrongProtocol { expected, got } => {
                write!(f, "responder chose a {got} proposal, expected {expected}")
            }
            ResponseError::UnknownProposalNumber(n) => {
                write!(f, "responder chose proposal #{n}, which we did not offer")
            }
            ResponseError::WrongSpiSize { expected, got } => write!(
                f,
                "responder's proposal has a {got}-octet SPI, expected {expected} octets"
            ),
            ResponseError::DuplicateTransform(t) => write!(
                f,
                "responder chose more than one {t} transform, expected exactly one"
            ),
            ResponseError::MissingTransform(t) => {
                write!(f, "responder chose no {t} transform, expected one")
            }
            ResponseError::UnexpectedTransform(t) => {
                write!(f, "responder chose a {t} transform where none belongs")
            }
            ResponseError::NotOffered { ttype, name } => write!(
                f,
                "responder chose {ttype} {name}, which we did not offer in that proposal"
            ),
        }
    }
}

impl std::error::Error for ResponseError {}

fn offered_contains(offered: &Proposal, t: &Transform) -> bool {
    offered
        .transforms
        .iter()
        .any(|o| o.ttype == t.ttype && o.id == t.id && o.key_length == t.key_length)
}

/// Verifies the responder's `chosen` proposal against the proposals we `offered` (as produced by
/// `ours.to_wire`): right protocol, a proposal number we sent, exactly one transform per required
/// type, each taken from the proposal with that number. Returns the negotiated algorithms.
pub fn check_response(
    ours: &ProposalSet,
    offered: &[Proposal],
    chosen: &Proposal,
) -> Result<Algorithms, ResponseError> {
    let protocol = ours.protocol();
    let sent = sent_proposal(protocol, offered, chosen)?;
    let one = one_per_type(protocol, chosen)?;
    let get = |t: TransformType| one.get(usize::from(t.0).wrapping_sub(1)).copied().flatten();
    let check_offered = |t: &Transform| {
        if offered_contains(sent, t) && t.other_attrs.is_empty() {
            Ok(())
        } else {
            Err(ResponseError::NotOffered {
                ttype: t.ttype,
                name: transform_name(t.ttype, t.id, t.key_length.unwrap_or(0)),
            })
        }
    };

    let e = get(TransformType::ENCR).ok_or(ResponseError::MissingTransform(TransformType::ENCR))?;
    check_offered(e)?;
    let encr = EncrAlg::new(EncrId(e.id), e.key_length.unwrap_or(0));

    let integ = match get(TransformType::INTEG) {
        // RFC 7296 section 3.3 lets an AEAD answer carry integrity NONE.
        Some(t) if encr.is_aead() && t.id == IntegId::NONE.0 => None,
        Some(_) if encr.is_aead() => {
            return Err(ResponseError::UnexpectedTransform(TransformType::INTEG))
        }
        Some(t) => {
            check_offered(t)?;
            Some(IntegId(t.id))
        }
        None if encr.is_aead() => None,
        None => return Err(ResponseError::MissingTransform(TransformType::INTEG)),
    };

    let ke = chosen_ke(protocol, sent, get(TransformType::KE), &check_offered)?;

    if protocol == ProtocolId::IKE {
        let p =
            get(TransformType::PRF).ok_or(ResponseError::MissingTransform(TransformType::PRF))?;
        check_offered(p)?;
        let ke = ke.ok_or(ResponseError::MissingTransform(TransformType::KE))?;
        Ok(Algorithms::Ike(IkeAlgorithms {
            encr,
            integ,
            prf: PrfId(p.id),
            ke,
        }))
    } else {
        let s =
            get(TransformType::ESN).ok_or(ResponseError::MissingTransform(TransformType::ESN))?;
        check_offered(s)?;
        Ok(Algorithms::Child(ChildAlgorithms {
            encr,
            integ,
            ke,
            esn: EsnId(s.id),
        }))
    }
}

/// The proposal of ours `chosen` answers (same number and protocol, an SPI of the right size).
fn sent_proposal<'a>(
    protocol: ProtocolId,
    offered: &'a [Proposal],
    chosen: &Proposal,
) -> Result<&'a Proposal, ResponseError> {
    if chosen.protocol != protocol {
        return Err(ResponseError::WrongProtocol {
            expected: protocol,
            got: chosen.protocol,
        });
    }
    let sent = offered
        .iter()
        .find(|p| p.num == chosen.num && p.protocol == protocol)
        .ok_or(ResponseError::UnknownProposalNumber(chosen.num))?;
    let expected_spi = if protocol == ProtocolId::ESP {
        4
    } else {
        sent.spi.len()
    };
    if chosen.spi.len() != expected_spi {
        return Err(ResponseError::WrongSpiSize {
            expected: expected_spi,
            got: chosen.spi.len(),
        });
    }
    Ok(sent)
}

/// `chosen`'s transforms by type, each type at most once and only the types `protocol` has.
fn one_per_type(
    protocol: ProtocolId,
    chosen: &Proposal,
) -> Result<[Option<&Transform>; 5], ResponseError> {
    // One slot per transform type 1..=5 (ENCR, PRF, INTEG, KE, ESN).
    let mut one: [Option<&Transform>; 5] = [None; 5];
    for t in &chosen.transforms {
        let slot = valid_types(protocol)
            .contains(&t.ttype)
            .then(|| one.get_mut(usize::from(t.ttype.0).wrapping_sub(1)))
            .flatten()
            .ok_or(ResponseError::UnexpectedTransform(t.ttype))?;
        if slot.is_some() {
            return Err(ResponseError::DuplicateTransform(t.ttype));
        }
        *slot = Some(t);
    }
    Ok(one)
}

/// The KE group answered, `None` where no key exchange is acceptable (ESP without PFS).
fn chosen_ke(
    protocol: ProtocolId,
    sent: &Proposal,
    chosen: Option<&Transform>,
    check_offered: &dyn Fn(&Transform) -> Result<(), ResponseError>,
) -> Result<Option<KeGroup>, ResponseError> {
    let sent_ke: Vec<u16> = sent
        .transforms
        .iter()
        .filter(|t| t.ttype == TransformType::KE)
        .map(|t| t.id)
        .collect();
    // For ESP, offering no KE or offering NONE lets the responder answer without KE.
    let no_ke_ok = protocol == ProtocolId::ESP && (sent_ke.is_empty() || sent_ke.contains(&0));
    Ok(match chosen {
        Some(t) if t.id == KeGroup::NONE.0 && no_ke_ok => None,
        // We offered no KE at all (e.g. IKE_AUTH), so any group is out of place.
        Some(_) if sent_ke.is_empty() => {
            return Err(ResponseError::UnexpectedTransform(TransformType::KE))
        }
        Some(t) => {
            check_offered(t)?;
            Some(KeGroup(t.id))
        }
        None if no_ke_ok => None,
        None => return Err(ResponseError::MissingTransform(TransformType::KE)),
    })
}
