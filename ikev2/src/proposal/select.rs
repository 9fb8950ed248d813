//! Responder-side selection: our configured order wins (strongSwan's
//! `prefer_configured_proposals = yes`).

use crate::consts::{EncrId, EsnId, IntegId, KeGroup, PrfId, ProtocolId, TransformType};
use crate::wire::sa::{Proposal, Transform};

use super::mismatch::Mismatch;
use super::set::{transform, ProposalSet, ProposalSpec};
use rswan_ike::alg::{transform_name, EncrAlg};
use rswan_ike::alg::{Algorithms, ChildAlgorithms, IkeAlgorithms};

/// The outcome of a successful selection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selected {
    /// The peer's proposal reduced to one transform per type, with the peer's proposal number
    /// and SPI.
    pub proposal: Proposal,
    pub algorithms: Algorithms,
}

impl Selected {
    /// The proposal to put in our response: the selected one carrying our own SPI (RFC 7296
    /// section 3.3.1: the responder's SA payload names the responder's SPI).
    pub fn response_proposal(&self, our_spi: &[u8]) -> Proposal {
        Proposal {
            spi: our_spi.to_vec(),
            ..self.proposal.clone()
        }
    }
}

pub(crate) fn valid_types(protocol: ProtocolId) -> &'static [TransformType] {
    if protocol == ProtocolId::IKE {
        &[
            TransformType::ENCR,
            TransformType::INTEG,
            TransformType::PRF,
            TransformType::KE,
        ]
    } else {
        &[
            TransformType::ENCR,
            TransformType::INTEG,
            TransformType::KE,
            TransformType::ESN,
        ]
    }
}

/// A peer proposal sorted by transform type. Transforms we could never accept (attributes we do
/// not understand, a Key Length where none belongs) are left out rather than failing the proposal.
pub(crate) struct PeerView {
    encr: Vec<EncrAlg>,
    integ: Vec<u16>,
    prf: Vec<u16>,
    ke: Vec<u16>,
    esn: Vec<u16>,
    /// The proposal requires a transform type we do not negotiate (e.g. an RFC 9370 additional
    /// key exchange without NONE), so it can never be selected.
    unusable: bool,
}

impl PeerView {
    pub(crate) fn new(protocol: ProtocolId, p: &Proposal) -> Self {
        let mut v = PeerView {
            encr: Vec::new(),
            integ: Vec::new(),
            prf: Vec::new(),
            ke: Vec::new(),
            esn: Vec::new(),
            unusable: false,
        };
        for t in &p.transforms {
            if !valid_types(protocol).contains(&t.ttype) {
                if t.id != 0 {
                    v.unusable = true;
                }
                continue;
            }
            if !t.other_attrs.is_empty() {
                continue;
            }
            if t.ttype == TransformType::ENCR {
                v.encr
                    .push(EncrAlg::new(EncrId(t.id), t.key_length.unwrap_or(0)));
                continue;
            }
            if t.key_length.is_some() {
                continue;
            }
            match t.ttype {
                TransformType::INTEG => v.integ.push(t.id),
                TransformType::PRF => v.prf.push(t.id),
                TransformType::KE => v.ke.push(t.id),
                _ => v.esn.push(t.id),
            }
        }
        v
    }

    fn allows_no_ke(&self) -> bool {
        self.ke.is_empty() || self.ke.contains(&0)
    }
}

fn pick_encr(o: &ProposalSpec, pv: &PeerView) -> Option<EncrAlg> {
    o.encr.iter().copied().find(|e| pv.encr.contains(e))
}

fn pick_integ(o: &ProposalSpec, pv: &PeerView) -> Option<IntegId> {
    o.integ
        .iter()
        .copied()
        .find(|i| *i != IntegId::NONE && pv.integ.contains(&i.0))
}

fn pick_prf(o: &ProposalSpec, pv: &PeerView) -> Option<PrfId> {
    o.prf.iter().copied().find(|p| pv.prf.contains(&p.0))
}

/// `Ok(None)` means "no key exchange" (only possible for ESP).
fn pick_ke(set: &ProposalSet, o: &ProposalSpec, pv: &PeerView) -> Result<Option<KeGroup>, ()> {
    if set.protocol() == ProtocolId::IKE {
        return o
            .ke
            .iter()
            .copied()
            .find(|g| *g != KeGroup::NONE && pv.ke.contains(&g.0))
            .map(Some)
            .ok_or(());
    }
    if set.ke_ignored() {
        return Ok(None);
    }
    if o.ke.is_empty() {
        return if pv.allows_no_ke() { Ok(None) } else { Err(()) };
    }
    // Our order decides, including where NONE sits in it.
    for g in &o.ke {
        if *g == KeGroup::NONE {
            if pv.allows_no_ke() {
                return Ok(None);
            }
        } else if pv.ke.contains(&g.0) {
            return Ok(Some(*g));
        }
    }
    Err(())
}

fn pick_esn(o: &ProposalSpec, pv: &PeerView) -> Option<EsnId> {
    o.esn.iter().copied().find(|e| pv.esn.contains(&e.0))
}

fn match_pair(set: &ProposalSet, o: &ProposalSpec, pv: &PeerView) -> Option<Algorithms> {
    if pv.unusable {
        return None;
    }
    let encr = pick_encr(o, pv)?;
    let integ = if encr.is_aead() {
        None
    } else {
        Some(pick_integ(o, pv)?)
    };
    if set.protocol() == ProtocolId::IKE {
        let prf = pick_prf(o, pv)?;
        let ke = pick_ke(set, o, pv).ok().flatten()?;
        Some(Algorithms::Ike(IkeAlgorithms {
            encr,
            integ,
            prf,
            ke,
        }))
    } else {
        let ke = pick_ke(set, o, pv).ok()?;
        let esn = pick_esn(o, pv)?;
        Some(Algorithms::Child(ChildAlgorithms {
            encr,
            integ,
            ke,
            esn,
        }))
    }
}

pub(crate) fn algorithms_to_transforms(algs: &Algorithms) -> Vec<Transform> {
    let mut out = Vec::new();
    let (encr, integ) = match algs {
        Algorithms::Ike(a) => (a.encr, a.integ),
        Algorithms::Child(a) => (a.encr, a.integ),
    };
    out.push(transform(TransformType::ENCR, encr.id.0, encr.key_bits));
    if let Some(i) = integ {
        out.push(transform(TransformType::INTEG, i.0, 0));
    }
    match algs {
        Algorithms::Ike(a) => {
            out.push(transform(TransformType::PRF, a.prf.0, 0));
            out.push(transform(TransformType::KE, a.ke.0, 0));
        }
        Algorithms::Child(a) => {
            if let Some(g) = a.ke {
                out.push(transform(TransformType::KE, g.0, 0));
            }
            out.push(transform(TransformType::ESN, a.esn.0, 0));
        }
    }
    out
}

/// Responder selection: for each of our proposals in our order, the first peer proposal (of our
/// protocol) that offers an acceptable transform of every required type. Peer proposals of other
/// protocols and transform ids we do not know are skipped, never an error.
pub fn select(ours: &ProposalSet, theirs: &[Proposal]) -> Result<Selected, Mismatch> {
    let peer: Vec<(&Proposal, PeerView)> = theirs
        .iter()
        .filter(|p| p.protocol == ours.protocol())
        .map(|p| (p, PeerView::new(ours.protocol(), p)))
        .collect();
    for o in ours.proposals() {
        for (p, pv) in &peer {
            if let Some(algorithms) = match_pair(ours, o, pv) {
                let proposal = Proposal {
                    num: p.num,
                    protocol: p.protocol,
                    spi: p.spi.clone(),
                    transforms: algorithms_to_transforms(&algorithms),
                };
                return Ok(Selected {
                    proposal,
                    algorithms,
                });
            }
        }
    }
    Err(mismatch(ours, &peer))
}

fn type_overlaps(ours: &ProposalSet, t: TransformType, o: &ProposalSpec, pv: &PeerView) -> bool {
    match t {
        TransformType::ENCR => pick_encr(o, pv).is_some(),
        // An AEAD proposal needs no integrity algorithm, provided the peer offers AEAD too.
        TransformType::INTEG => {
            if o.is_aead() {
                pv.encr.iter().any(|e| e.is_aead())
            } else {
                pick_integ(o, pv).is_some()
            }
        }
        TransformType::PRF => pick_prf(o, pv).is_some(),
        TransformType::KE => pick_ke(ours, o, pv).is_ok(),
        _ => pick_esn(o, pv).is_some(),
    }
}

fn push_unique(v: &mut Vec<String>, s: String) {
    if !v.contains(&s) {
        v.push(s);
    }
}

fn our_values(ours: &ProposalSet, t: TransformType) -> Vec<String> {
    let esp = ours.protocol() == ProtocolId::ESP;
    let mut out = Vec::new();
    for o in ours.proposals() {
        match t {
            TransformType::ENCR => o
                .encr
                .iter()
                .for_each(|e| push_unique(&mut out, e.to_string())),
            TransformType::INTEG => o
                .integ
                .iter()
                .for_each(|i| push_unique(&mut out, transform_name(t, i.0, 0))),
            TransformType::PRF => o
                .prf
                .iter()
                .for_each(|p| push_unique(&mut out, transform_name(t, p.0, 0))),
            TransformType::KE => {
                if esp && o.ke.is_empty() {
                    push_unique(&mut out, transform_name(t, 0, 0));
                }
                o.ke.iter()
                    .for_each(|g| push_unique(&mut out, transform_name(t, g.0, 0)));
            }
            _ => o
                .esn
                .iter()
                .for_each(|e| push_unique(&mut out, transform_name(t, e.0, 0))),
        }
    }
    out
}

fn their_values(
    protocol: ProtocolId,
    peer: &[(&Proposal, PeerView)],
    t: TransformType,
) -> Vec<String> {
    let mut out = Vec::new();
    for (p, _) in peer {
        let mut any = false;
        for tr in p.transforms.iter().filter(|tr| tr.ttype == t) {
            any = true;
            push_unique(
                &mut out,
                transform_name(t, tr.id, tr.key_length.unwrap_or(0)),
            );
        }
        // A Child SA proposal without KE transforms means "no PFS".
        if !any && t == TransformType::KE && protocol == ProtocolId::ESP {
            push_unique(&mut out, transform_name(t, 0, 0));
        }
    }
    out
}

/// Renders a wire proposal the way strongSwan prints proposals.
pub(crate) fn wire_proposal_name(p: &Proposal) -> String {
    p.transforms
        .iter()
        .map(|t| transform_name(t.ttype, t.id, t.key_length.unwrap_or(0)))
        .collect::<Vec<_>>()
        .join("/")
}

fn mismatch(ours: &ProposalSet, peer: &[(&Proposal, PeerView)]) -> Mismatch {
    let protocol = ours.protocol();
    for &t in valid_types(protocol) {
        let overlap = ours
            .proposals()
            .iter()
            .any(|o| peer.iter().any(|(_, pv)| type_overlaps(ours, t, o, pv)));
        if !overlap {
            return Mismatch {
                protocol,
                first_failing: Some(t),
                ours: our_values(ours, t),
                theirs: their_values(protocol, peer, t),
            };
        }
    }
    Mismatch {
        protocol,
        first_failing: None,
        ours: ours.proposals().iter().map(|o| o.to_string()).collect(),
        theirs: peer.iter().map(|(p, _)| wire_proposal_name(p)).collect(),
    }
}
