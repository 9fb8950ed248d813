//! The typed details of [`FailureReason`](super::FailureReason)'s exchange failures. Each variant
//! renders exactly the sentence the handlers used to format, so log lines, status and diagnose text
//! read as before while the control plane can match on what went wrong.

use core::fmt;

use crate::crypto::CryptoError;

use crate::consts::{ExchangeType, KeGroup, NotifyType, PayloadType};
use crate::proposal::ResponseError;
use crate::wire::ts::TrafficSelector;

/// Payload types as alternatives, the way the payload table names them: "SA, KE or Nonce".
fn write_alternatives(f: &mut fmt::Formatter<'_>, types: &[PayloadType]) -> fmt::Result {
    match types.split_last() {
        None => f.write_str("nothing"),
        Some((last, [])) => write!(f, "{last}"),
        Some((last, rest)) => {
            let rest: Vec<String> = rest.iter().map(|t| t.to_string()).collect();
            write!(f, "{} or {last}", rest.join(", "))
        }
    }
}

/// The exchange a refusal names first, if any: "IKE_AUTH response lacks IDr or AUTH".
fn write_exchange(f: &mut fmt::Formatter<'_>, exchange: Option<ExchangeType>) -> fmt::Result {
    match exchange {
        Some(x) => write!(f, "{x} "),
        None => Ok(()),
    }
}

fn write_selectors(f: &mut fmt::Formatter<'_>, ts: &[TrafficSelector]) -> fmt::Result {
    let v: Vec<String> = ts.iter().map(|t| t.to_string()).collect();
    f.write_str(&v.join(" "))
}

/// Which kind of SPI had the wrong length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpiKind {
    /// The ESP SPI in a CREATE_CHILD_SA / IKE_AUTH response.
    Esp,
    /// The ESP SPI a responder's selection hands back to us.
    PeerEsp,
    /// The new IKE SPI of an IKE rekey response.
    Ike,
}

/// What was wrong with a peer's message (a response to our request, or a malformed IKE_AUTH
/// request) or with what it left us to finish the exchange with.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Required payloads absent, named as alternatives; `exchange` prefixes the sentence when
    /// the message is not obvious from context ("IKE_AUTH response lacks IDr or AUTH").
    Lacks {
        exchange: Option<ExchangeType>,
        payloads: Vec<PayloadType>,
    },
    /// A second payload of a type that may appear once.
    Duplicate {
        exchange: Option<ExchangeType>,
        payload: PayloadType,
    },
    /// A known payload the exchange does not carry.
    NotAllowed {
        exchange: Option<ExchangeType>,
        payload: PayloadType,
    },
    /// A Nonce outside 16..=256 octets.
    NonceLength {
        exchange: Option<ExchangeType>,
        len: usize,
    },
    /// The response has no usable Nonce.
    NoValidNonce,
    /// A CREATE_CHILD_SA response without the KE payload its PFS group needs.
    LacksKe,
    /// The decoder could not read the message. `detail` stays a String: it is the wire decoder's
    /// own sentence (the same text [`DropReason::Malformed`](super::DropReason) carries).
    Malformed {
        exchange: ExchangeType,
        request: bool,
        detail: String,
    },
    /// RFC 6023 section 3: IKE_AUTH without a Child SA, but the responder did not announce
    /// support for childless IKE SAs.
    ChildlessUnsupported,
    /// The responder answered every retry with another COOKIE.
    CookieLoop,
    /// IKE_SA_INIT response with a zero responder SPI.
    ZeroSpiR,
    /// IKE_SA_INIT: the responder chose `0` proposals (or several) instead of one.
    ProposalCount(usize),
    /// CREATE_CHILD_SA / IKE_AUTH: not exactly one proposal in the answer.
    NotOneProposal,
    /// The chosen proposal is of the wrong protocol for what we asked.
    IkeForChild,
    EspForIkeRekey,
    /// Our own ESP selection produced IKE algorithms.
    EspSelectionIke,
    /// The chosen proposal is not one of ours.
    Proposal(ResponseError),
    /// An SPI of the wrong length.
    SpiLength(SpiKind),
    /// IKE_SA_INIT: the KE payload's group differs from the chosen one or from ours.
    KeMismatch {
        chosen: KeGroup,
        sent: KeGroup,
        ours: KeGroup,
    },
    /// CREATE_CHILD_SA: a KE payload of another group than the chosen one.
    KeGroup {
        sent: KeGroup,
        chosen: KeGroup,
    },
    /// CREATE_CHILD_SA: we hold no key exchange of the chosen group.
    NoKeyExchange,
    /// The responder narrowed to selectors outside what we proposed (boxed: four lists would
    /// make every [`FailureReason`](super::FailureReason) larger).
    TsOutside(Box<TsOutside>),
    /// Key derivation or the shared secret failed on the peer's values.
    Crypto(CryptoError),
    /// One Child SA's part of the answer was wrong.
    Child {
        child: String,
        fault: Box<Fault>,
    },
    /// Our own state did not allow finishing the exchange.
    Internal(Internal),
    /// Installing the negotiated Child SA failed.
    Install(Box<super::FailureReason>),
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Lacks { exchange, payloads } => {
                write_exchange(f, *exchange)?;
                f.write_str("response lacks ")?;
                write_alternatives(f, payloads)
            }
            Fault::Duplicate { exchange, payload } => {
                write_exchange(f, *exchange)?;
                write!(f, "more than one {payload} payload")
            }
            Fault::NotAllowed { exchange, payload } => {
                write_exchange(f, *exchange)?;
                write!(f, "{payload} payload not allowed in this exchange")
            }
            Fault::NonceLength { exchange, len } => {
                write_exchange(f, *exchange)?;
                write!(f, "nonce of {len} octets")
            }
            Fault::NoValidNonce => f.write_str("response lacks a valid nonce"),
            Fault::LacksKe => f.write_str("response lacks the KE payload"),
            Fault::Malformed {
                exchange,
                request,
                detail,
            } => {
                let what = if *request { "request" } else { "response" };
                write!(f, "malformed {exchange} {what}: {detail}")
            }
            Fault::ChildlessUnsupported => f.write_str(
                "connection has no children and the peer does not support childless IKE SAs",
            ),
            Fault::CookieLoop => f.write_str("responder keeps demanding a COOKIE"),
            Fault::ZeroSpiR => f.write_str("IKE_SA_INIT response with zero SPIr"),
            Fault::ProposalCount(n) => {
                write!(f, "responder returned {n} proposals, expected one")
            }
            Fault::NotOneProposal => f.write_str("not exactly one proposal"),
            Fault::IkeForChild => f.write_str("IKE proposal for a Child SA"),
            Fault::EspForIkeRekey => f.write_str("ESP proposal for an IKE rekey"),
            Fault::EspSelectionIke => f.write_str("ESP selection returned IKE algorithms"),
            Fault::Proposal(e) => write!(f, "{e}"),
            Fault::SpiLength(SpiKind::Esp) => f.write_str("ESP SPI not 4 octets"),
            Fault::SpiLength(SpiKind::PeerEsp) => f.write_str("peer's ESP SPI is not 4 octets"),
            Fault::SpiLength(SpiKind::Ike) => f.write_str("IKE SPI not 8 octets"),
            Fault::KeMismatch { chosen, sent, ours } => write!(
                f,
                "responder chose {chosen} but sent KE for {sent} (we sent {ours})"
            ),
            Fault::KeGroup { sent, chosen } => {
                write!(f, "KE payload of group {sent} for chosen group {chosen}")
            }
            Fault::NoKeyExchange => f.write_str("no key exchange of the chosen group"),
            Fault::TsOutside(t) => write!(f, "{t}"),
            Fault::Crypto(e) => write!(f, "{e}"),
            Fault::Child { child, fault } => write!(f, "child '{child}': {fault}"),
            Fault::Internal(i) => write!(f, "{i}"),
            Fault::Install(r) => write!(f, "{r}"),
        }
    }
}

/// The selectors a responder chose (`tsi`, `tsr`) against the ones we proposed.
#[derive(Clone, Debug, PartialEq)]
pub struct TsOutside {
    pub tsi: Vec<TrafficSelector>,
    pub tsr: Vec<TrafficSelector>,
    pub local: Vec<TrafficSelector>,
    pub remote: Vec<TrafficSelector>,
}

impl fmt::Display for TsOutside {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("responder chose TS ")?;
        write_selectors(f, &self.tsi)?;
        f.write_str(" === ")?;
        write_selectors(f, &self.tsr)?;
        f.write_str(" outside our ")?;
        write_selectors(f, &self.local)?;
        f.write_str(" === ")?;
        write_selectors(f, &self.remote)
    }
}

impl From<CryptoError> for Fault {
    fn from(e: CryptoError) -> Self {
        Fault::Crypto(e)
    }
}

impl From<Internal> for Fault {
    fn from(i: Internal) -> Self {
        Fault::Internal(i)
    }
}

/// A failure of our own: state that should exist does not, or the crypto backend refused.
#[derive(Clone, Debug, PartialEq)]
pub enum Internal {
    /// The connection of an IKE SA was removed from the configuration meanwhile.
    ConnectionVanished(String),
    /// IKE_AUTH to build without IKE keys.
    AuthWithoutKeys,
    /// A Child SA to install without IKE keys.
    ChildBeforeKeys,
    /// An IKE rekey of an SA without keys.
    OldSaWithoutKeys,
    /// A CREATE_CHILD_SA answer for a child we have no record of proposing.
    NoPendingChild,
    /// A request built for a purpose that is not a CREATE_CHILD_SA.
    NotCreatePurpose,
    /// The configured IKE proposals name no KE group.
    NoKeGroup,
    /// IKE_SA_INIT response without our offer recorded.
    NoOfferedProposals,
    /// IKE_SA_INIT response without our key exchange recorded.
    NoKeyExchangeState,
    /// The IKE proposal check answered with Child SA algorithms.
    ChildAlgorithmsForIke,
    /// The crypto backend failed.
    Crypto(CryptoError),
}

impl fmt::Display for Internal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Internal::ConnectionVanished(c) => write!(f, "connection '{c}' vanished"),
            Internal::AuthWithoutKeys => f.write_str("IKE_AUTH without keys"),
            Internal::ChildBeforeKeys => f.write_str("Child SA before IKE keys"),
            Internal::OldSaWithoutKeys => f.write_str("old IKE SA has no keys"),
            Internal::NoPendingChild => f.write_str("no pending child"),
            Internal::NotCreatePurpose => f.write_str("not a CREATE_CHILD_SA purpose"),
            Internal::NoKeGroup => f.write_str("IKE proposals contain no KE group"),
            Internal::NoOfferedProposals => f.write_str("no offered proposals"),
            Internal::NoKeyExchangeState => f.write_str("no key exchange state"),
            Internal::ChildAlgorithmsForIke => {
                f.write_str("IKE proposal check returned Child algorithms")
            }
            Internal::Crypto(e) => write!(f, "{e}"),
        }
    }
}

impl From<CryptoError> for Internal {
    fn from(e: CryptoError) -> Self {
        Internal::Crypto(e)
    }
}

/// Why a CREATE_CHILD_SA (rekey or additional Child SA) failed.
#[derive(Clone, Debug, PartialEq)]
pub enum CreateFailure {
    /// The Child SA to rekey is gone.
    NoChildWithSpi(u32),
    /// The IKE SA's connection was removed from the configuration.
    ConnectionGone,
    /// The IKE proposals of an IKE rekey name no KE group.
    NoKeGroup,
    /// The child to create is no longer configured.
    ChildGone,
    /// The child being rekeyed (as the responder) is no longer configured.
    RekeyedChildGone,
    /// The peer answered with an error notify.
    PeerAnswered(NotifyType),
    /// The peer answered TEMPORARY_FAILURE this many times in a row.
    TemporaryFailures(u32),
    /// The peer wants a KE group we do not offer.
    KeGroupRefused(Vec<KeGroup>),
    /// The peer's answer (or request, for a rekey we respond to) was not usable.
    Fault(Fault),
}

impl fmt::Display for CreateFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CreateFailure::NoChildWithSpi(spi) => write!(f, "no Child SA with SPI {spi:08x}"),
            CreateFailure::ConnectionGone => f.write_str("connection no longer configured"),
            CreateFailure::NoKeGroup => f.write_str("no KE group in the IKE proposals"),
            CreateFailure::ChildGone => f.write_str("child no longer configured"),
            CreateFailure::RekeyedChildGone => {
                f.write_str("the child being rekeyed is no longer configured")
            }
            CreateFailure::PeerAnswered(n) => write!(f, "peer answered {n}"),
            CreateFailure::TemporaryFailures(n) => {
                write!(f, "peer kept answering TEMPORARY_FAILURE ({n} times)")
            }
            CreateFailure::KeGroupRefused(groups) => write!(
                f,
                "peer requires KE group {}, which we do not offer",
                super::group_names(groups)
            ),
            CreateFailure::Fault(x) => write!(f, "{x}"),
        }
    }
}

impl From<Fault> for CreateFailure {
    fn from(x: Fault) -> Self {
        CreateFailure::Fault(x)
    }
}

#[cfg(test)]
mod tests {
    use super::super::FailureReason;
    use super::*;

    /// The sentences the handlers formatted by hand before these types existed: log lines, status
    /// `last failure:` and diagnose text show them, so they must not drift.
    #[test]
    fn details_render_the_old_sentences() {
        let cases: Vec<(FailureReason, &str)> = vec![
            (
                FailureReason::InvalidResponse {
                    fault: Fault::Lacks {
                        exchange: Some(ExchangeType::IKE_SA_INIT),
                        payloads: vec![PayloadType::SA, PayloadType::KE, PayloadType::NONCE],
                    },
                },
                "invalid response: IKE_SA_INIT response lacks SA, KE or Nonce",
            ),
            (
                FailureReason::InvalidResponse {
                    fault: Fault::Child {
                        child: "net".into(),
                        fault: Box::new(Fault::Lacks {
                            exchange: None,
                            payloads: vec![PayloadType::TSI, PayloadType::TSR],
                        }),
                    },
                },
                "invalid response: child 'net': response lacks TSi or TSr",
            ),
            (
                FailureReason::InvalidResponse {
                    fault: Fault::Malformed {
                        exchange: ExchangeType::IKE_AUTH,
                        request: true,
                        detail: "x".into(),
                    },
                },
                "invalid response: malformed IKE_AUTH request: x",
            ),
            (
                FailureReason::InvalidResponse {
                    fault: Fault::NonceLength {
                        exchange: None,
                        len: 4,
                    },
                },
                "invalid response: nonce of 4 octets",
            ),
            (
                FailureReason::Internal {
                    why: Internal::ConnectionVanished("c".into()),
                },
                "internal error: connection 'c' vanished",
            ),
            (
                FailureReason::RekeyFailed {
                    child: None,
                    why: CreateFailure::NoChildWithSpi(0xab),
                },
                "IKE SA rekey failed: no Child SA with SPI 000000ab",
            ),
            (
                FailureReason::RekeyFailed {
                    child: Some("net".into()),
                    why: CreateFailure::PeerAnswered(NotifyType::NO_PROPOSAL_CHOSEN),
                },
                "Child SA rekey failed: child 'net': peer answered NO_PROPOSAL_CHOSEN",
            ),
            (
                FailureReason::ChildCreateFailed {
                    child: "net".into(),
                    why: CreateFailure::TemporaryFailures(3),
                },
                "creating child 'net' failed: peer kept answering TEMPORARY_FAILURE (3 times)",
            ),
            (
                FailureReason::Kernel {
                    child: "net".into(),
                    error: rswan_ike::kernel::KernelError::new(
                        rswan_ike::kernel::KernelErrorKind::Exists,
                        "EEXIST",
                    ),
                },
                "kernel: child 'net': EEXIST",
            ),
        ];
        for (reason, text) in cases {
            assert_eq!(reason.to_string(), text);
        }
    }
}
