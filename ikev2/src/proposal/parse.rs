//! Parser for proposal strings in strongSwan's keyword syntax, with strongSwan's consistency rules
//! (`proposal.c: check_proposal`) plus two stricter ones: an AEAD proposal that also names an
//! integrity algorithm is an error instead of being silently trimmed, and keywords that make no
//! sense for the protocol (a PRF in ESP, ESN in IKE) are errors instead of being dropped.

use core::fmt;

use crate::consts::{EncrId, EsnId, IntegId, KeGroup, PrfId, ProtocolId, TransformType};

use super::capability::implemented;
use super::set::{ProposalSet, ProposalSpec};
use rswan_ike::alg::EncrAlg;
use rswan_ike::alg::{allowed_keywords, lookup, Kw};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Only IKE and ESP proposals are supported.
    UnsupportedProtocol(ProtocolId),
    /// The whole string, or one comma-separated proposal of it, is empty.
    EmptyProposal { input: String },
    /// A keyword that is not in the table.
    UnknownKeyword { keyword: String, proposal: String },
    /// `default` must stand alone as a proposal.
    DefaultNotAlone { proposal: String },
    /// A known keyword for an algorithm rswan does not implement for this protocol.
    NotImplemented {
        keyword: String,
        protocol: ProtocolId,
        proposal: String,
    },
    /// A keyword of a transform type that the protocol does not negotiate.
    NotValidFor {
        keyword: String,
        protocol: ProtocolId,
        proposal: String,
    },
    MissingEncryption {
        protocol: ProtocolId,
        proposal: String,
    },
    /// Classic and combined-mode ciphers in one proposal.
    MixedAead { proposal: String },
    /// A combined-mode cipher together with an integrity algorithm.
    AeadWithIntegrity { proposal: String },
    /// A classic cipher with no integrity algorithm.
    MissingIntegrity {
        protocol: ProtocolId,
        proposal: String,
    },
    /// IKE needs a PRF; with AEAD it cannot be derived from an integrity algorithm.
    MissingPrf { proposal: String },
    /// IKE needs a KE group.
    MissingKeGroup { proposal: String },
    /// More proposals than an SA payload can number (255).
    TooManyProposals { count: usize },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::UnsupportedProtocol(p) => {
                write!(f, "{p} proposals are not supported (only IKE and ESP)")
            }
            ParseError::EmptyProposal { input } => {
                write!(f, "empty proposal in '{input}'")
            }
            ParseError::UnknownKeyword { keyword, proposal } => {
                write!(
                    f,
                    "unknown algorithm '{keyword}' in proposal '{proposal}'; allowed: default, "
                )?;
                for (i, k) in allowed_keywords().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(k)?;
                }
                Ok(())
            }
            ParseError::NotImplemented {
                keyword,
                protocol,
                proposal,
            } => write!(
                f,
                "'{keyword}' (in proposal '{proposal}') is not implemented by rswan for {protocol}"
            ),
            ParseError::DefaultNotAlone { proposal } => write!(
                f,
                "'default' must be a proposal of its own, not part of '{proposal}'"
            ),
            ParseError::NotValidFor {
                keyword,
                protocol,
                proposal,
            } => write!(
                f,
                "'{keyword}' is not valid in {protocol} proposals (in '{proposal}')"
            ),
            ParseError::MissingEncryption { protocol, proposal } => write!(
                f,
                "{protocol} proposal '{proposal}' has no encryption algorithm"
            ),
            ParseError::MixedAead { proposal } => write!(
                f,
                "proposal '{proposal}' mixes AEAD and classic encryption algorithms; \
                 put them in separate proposals"
            ),
            ParseError::AeadWithIntegrity { proposal } => write!(
                f,
                "proposal '{proposal}' combines an AEAD algorithm with an integrity algorithm; \
                 AEAD proposals take no integrity algorithm"
            ),
            ParseError::MissingIntegrity { protocol, proposal } => write!(
                f,
                "{protocol} proposal '{proposal}' has a non-AEAD encryption algorithm but no \
                 integrity algorithm"
            ),
            ParseError::MissingPrf { proposal } => {
                write!(f, "IKE proposal '{proposal}' needs a PRF (e.g. prfsha256)")
            }
            ParseError::TooManyProposals { count } => write!(
                f,
                "{count} proposals configured; an SA payload holds at most 255"
            ),
            ParseError::MissingKeGroup { proposal } => write!(
                f,
                "IKE proposal '{proposal}' needs a key exchange group (e.g. ecp256, x25519)"
            ),
        }
    }
}

impl std::error::Error for ParseError {}

/// strongSwan derives the IKE PRF from the integrity algorithm when none is written.
fn prf_for_integ(integ: IntegId) -> Option<PrfId> {
    Some(match integ {
        IntegId::HMAC_SHA1_96 => PrfId::HMAC_SHA1,
        IntegId::HMAC_SHA2_256_128 => PrfId::HMAC_SHA2_256,
        IntegId::HMAC_SHA2_384_192 => PrfId::HMAC_SHA2_384,
        IntegId::HMAC_SHA2_512_256 => PrfId::HMAC_SHA2_512,
        IntegId::HMAC_MD5_96 => PrfId::HMAC_MD5,
        IntegId::AES_XCBC_96 => PrfId::AES128_XCBC,
        IntegId::AES_CMAC_96 => PrfId::AES128_CMAC,
        _ => return None,
    })
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

pub(crate) fn parse_set(protocol: ProtocolId, input: &str) -> Result<ProposalSet, ParseError> {
    if protocol != ProtocolId::IKE && protocol != ProtocolId::ESP {
        return Err(ParseError::UnsupportedProtocol(protocol));
    }
    let mut proposals = Vec::new();
    for item in input.split(',') {
        let item = item.trim();
        if item.is_empty() {
            return Err(ParseError::EmptyProposal {
                input: input.to_string(),
            });
        }
        if item.eq_ignore_ascii_case("default") {
            // The explicit keyword lists the classic proposal first (strongSwan's vici
            // parse_proposal), unlike the fallback used when no proposals are configured.
            proposals.extend(default_specs(protocol, false));
            continue;
        }
        proposals.push(parse_one(protocol, item)?);
    }
    if proposals.len() > usize::from(u8::MAX) {
        return Err(ParseError::TooManyProposals {
            count: proposals.len(),
        });
    }
    Ok(ProposalSet::from_specs(protocol, proposals))
}

fn parse_one(protocol: ProtocolId, text: &str) -> Result<ProposalSpec, ParseError> {
    let mut spec = ProposalSpec::empty();
    for token in text.split('-') {
        add_keyword(&mut spec, protocol, text, token.trim())?;
    }
    complete(spec, protocol, text)
}

/// One `-`-separated keyword of proposal `text` into `spec`.
fn add_keyword(
    spec: &mut ProposalSpec,
    protocol: ProtocolId,
    text: &str,
    token: &str,
) -> Result<(), ParseError> {
    let proposal = || text.to_string();
    if token.is_empty() {
        return Err(ParseError::EmptyProposal { input: proposal() });
    }
    if token.eq_ignore_ascii_case("default") {
        return Err(ParseError::DefaultNotAlone {
            proposal: proposal(),
        });
    }
    let kw = lookup(token).ok_or_else(|| ParseError::UnknownKeyword {
        keyword: token.to_string(),
        proposal: proposal(),
    })?;
    let (ttype, id, bits) = match kw {
        Kw::Encr(e) => (TransformType::ENCR, e.id.0, e.key_bits),
        Kw::Integ(i) => (TransformType::INTEG, i.0, 0),
        Kw::Prf(p) => (TransformType::PRF, p.0, 0),
        Kw::Ke(g) => (TransformType::KE, g.0, 0),
        Kw::Esn(e) => (TransformType::ESN, e.0, 0),
    };
    if !implemented(protocol, ttype, id, bits) {
        return Err(ParseError::NotImplemented {
            keyword: token.to_string(),
            protocol,
            proposal: proposal(),
        });
    }
    let not_valid = || ParseError::NotValidFor {
        keyword: token.to_string(),
        protocol,
        proposal: proposal(),
    };
    match kw {
        Kw::Encr(e) => push_unique(&mut spec.encr, e),
        Kw::Integ(i) => push_unique(&mut spec.integ, i),
        Kw::Prf(p) if protocol == ProtocolId::IKE => push_unique(&mut spec.prf, p),
        Kw::Prf(_) => return Err(not_valid()),
        Kw::Ke(g) => push_unique(&mut spec.ke, g),
        Kw::Esn(e) if protocol == ProtocolId::ESP => push_unique(&mut spec.esn, e),
        Kw::Esn(_) => return Err(not_valid()),
    }
    Ok(())
}

/// Checks that the keywords make a whole proposal and fills in the implied PRF and ESN.
fn complete(
    mut spec: ProposalSpec,
    protocol: ProtocolId,
    text: &str,
) -> Result<ProposalSpec, ParseError> {
    let proposal = || text.to_string();
    if spec.encr.is_empty() {
        return Err(ParseError::MissingEncryption {
            protocol,
            proposal: proposal(),
        });
    }
    let aead = spec.encr.iter().filter(|e| e.is_aead()).count();
    if aead != 0 && aead != spec.encr.len() {
        return Err(ParseError::MixedAead {
            proposal: proposal(),
        });
    }
    let is_aead = aead != 0;
    if is_aead && !spec.integ.is_empty() {
        return Err(ParseError::AeadWithIntegrity {
            proposal: proposal(),
        });
    }
    if !is_aead && spec.integ.is_empty() {
        return Err(ParseError::MissingIntegrity {
            protocol,
            proposal: proposal(),
        });
    }

    if protocol == ProtocolId::IKE {
        if spec.prf.is_empty() {
            for i in spec.integ.clone() {
                if let Some(p) = prf_for_integ(i) {
                    push_unique(&mut spec.prf, p);
                }
            }
        }
        if spec.prf.is_empty() {
            return Err(ParseError::MissingPrf {
                proposal: proposal(),
            });
        }
        // "none" means "PFS optional" for Child SAs; IKE always runs a key exchange.
        spec.ke.retain(|g| *g != KeGroup::NONE);
        if spec.ke.is_empty() {
            return Err(ParseError::MissingKeGroup {
                proposal: proposal(),
            });
        }
    } else if spec.esn.is_empty() {
        spec.esn.push(EsnId::NO_ESN);
    }
    Ok(spec)
}

const PRF_DEFAULT: [PrfId; 6] = [
    PrfId::HMAC_SHA2_256,
    PrfId::HMAC_SHA2_384,
    PrfId::HMAC_SHA2_512,
    PrfId::AES128_XCBC,
    PrfId::AES128_CMAC,
    PrfId::HMAC_SHA1,
];

const KE_DEFAULT: [KeGroup; 10] = [
    KeGroup::ECP_256,
    KeGroup::ECP_384,
    KeGroup::ECP_521,
    KeGroup::CURVE_25519,
    KeGroup::CURVE_448,
    KeGroup::MODP_3072,
    KeGroup::MODP_4096,
    KeGroup::MODP_6144,
    KeGroup::MODP_8192,
    KeGroup::MODP_2048,
];

fn sizes(id: EncrId) -> [EncrAlg; 3] {
    [
        EncrAlg::new(id, 128),
        EncrAlg::new(id, 192),
        EncrAlg::new(id, 256),
    ]
}

/// strongSwan 5.9.8's default proposals (`proposal_create_default` and `_default_aead`) for the
/// algorithms the registries name, without the legacy ones (3DES, MD5, MODP below 2048) that
/// strongSwan still puts in its default IKE proposal, and narrowed to what rswan implements.
///
/// `aead_first` selects the order used when a connection configures no proposals at all.
pub(crate) fn default_specs(protocol: ProtocolId, aead_first: bool) -> Vec<ProposalSpec> {
    let (classic, aead) = if protocol == ProtocolId::IKE {
        let mut classic = ProposalSpec::empty();
        classic.encr.extend(sizes(EncrId::AES_CBC));
        classic.encr.extend(sizes(EncrId::AES_CTR));
        classic.encr.extend(sizes(EncrId::CAMELLIA_CBC));
        classic.integ = vec![
            IntegId::HMAC_SHA2_256_128,
            IntegId::HMAC_SHA2_384_192,
            IntegId::HMAC_SHA2_512_256,
            IntegId::AES_XCBC_96,
            IntegId::AES_CMAC_96,
            IntegId::HMAC_SHA1_96,
        ];
        classic.prf = PRF_DEFAULT.to_vec();
        classic.ke = KE_DEFAULT.to_vec();

        let mut aead = ProposalSpec::empty();
        aead.encr.extend(sizes(EncrId::AES_GCM_16));
        aead.encr.extend(sizes(EncrId::AES_CCM_16));
        aead.encr.push(EncrAlg::new(EncrId::CHACHA20_POLY1305, 0));
        for id in [
            EncrId::AES_GCM_12,
            EncrId::AES_GCM_8,
            EncrId::AES_CCM_12,
            EncrId::AES_CCM_8,
        ] {
            aead.encr.extend(sizes(id));
        }
        aead.prf = PRF_DEFAULT.to_vec();
        aead.ke = KE_DEFAULT.to_vec();
        (classic, aead)
    } else {
        let mut classic = ProposalSpec::empty();
        classic.encr.extend(sizes(EncrId::AES_CBC));
        classic.integ = vec![
            IntegId::HMAC_SHA2_256_128,
            IntegId::HMAC_SHA2_384_192,
            IntegId::HMAC_SHA2_512_256,
            IntegId::HMAC_SHA1_96,
            IntegId::AES_XCBC_96,
        ];
        classic.esn = vec![EsnId::NO_ESN];

        let mut aead = ProposalSpec::empty();
        aead.encr.extend(sizes(EncrId::AES_GCM_16));
        aead.esn = vec![EsnId::NO_ESN];
        (classic, aead)
    };
    let specs = if aead_first {
        vec![aead, classic]
    } else {
        vec![classic, aead]
    };
    // Like strongSwan's default, which lists only what the loaded plugins provide.
    let ok = |t: TransformType, id: u16, bits: u16| implemented(protocol, t, id, bits);
    specs
        .into_iter()
        .map(|mut p| {
            p.encr
                .retain(|e| ok(TransformType::ENCR, e.id.0, e.key_bits));
            p.integ.retain(|i| ok(TransformType::INTEG, i.0, 0));
            p.prf.retain(|x| ok(TransformType::PRF, x.0, 0));
            p.ke.retain(|g| ok(TransformType::KE, g.0, 0));
            p
        })
        .filter(|p| !p.encr.is_empty())
        .collect()
}
