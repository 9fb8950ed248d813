//! Configured proposals: the parsed model, its wire form, and the helpers the exchanges need
//! (IKE_AUTH without KE, INVALID_KE_PAYLOAD retries, PFS groups, legacy warnings).

use core::fmt;

use crate::consts::{EsnId, IntegId, KeGroup, PrfId, ProtocolId, TransformType};
use crate::wire::sa::{Proposal, Transform};

use super::parse::{default_specs, parse_set, ParseError};
use rswan_ike::alg::{is_legacy, transform_name, EncrAlg};

/// One configured proposal: for each transform type, the acceptable algorithms in preference
/// order. Built only by the parser, so its invariants hold (encryption present; AEAD xor
/// integrity; IKE has a PRF and a KE group; ESP has an ESN list).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProposalSpec {
    pub(crate) encr: Vec<EncrAlg>,
    pub(crate) integ: Vec<IntegId>,
    pub(crate) prf: Vec<PrfId>,
    /// For ESP, `KeGroup::NONE` in the list means "no PFS is acceptable too".
    pub(crate) ke: Vec<KeGroup>,
    pub(crate) esn: Vec<EsnId>,
}

impl ProposalSpec {
    pub(crate) fn empty() -> Self {
        ProposalSpec {
            encr: Vec::new(),
            integ: Vec::new(),
            prf: Vec::new(),
            ke: Vec::new(),
            esn: Vec::new(),
        }
    }

    pub fn encr(&self) -> &[EncrAlg] {
        &self.encr
    }
    pub fn integ(&self) -> &[IntegId] {
        &self.integ
    }
    pub fn prf(&self) -> &[PrfId] {
        &self.prf
    }
    pub fn ke(&self) -> &[KeGroup] {
        &self.ke
    }
    pub fn esn(&self) -> &[EsnId] {
        &self.esn
    }

    pub fn is_aead(&self) -> bool {
        self.encr.first().is_some_and(|e| e.is_aead())
    }

    /// All transforms in wire order (ENCR, INTEG, PRF, KE, ESN, as strongSwan sends them).
    pub(crate) fn transforms(&self) -> Vec<Transform> {
        let mut out = Vec::new();
        for e in &self.encr {
            out.push(transform(TransformType::ENCR, e.id.0, e.key_bits));
        }
        for i in &self.integ {
            out.push(transform(TransformType::INTEG, i.0, 0));
        }
        for p in &self.prf {
            out.push(transform(TransformType::PRF, p.0, 0));
        }
        for g in &self.ke {
            out.push(transform(TransformType::KE, g.0, 0));
        }
        for e in &self.esn {
            out.push(transform(TransformType::ESN, e.0, 0));
        }
        out
    }
}

pub(crate) fn transform(ttype: TransformType, id: u16, key_bits: u16) -> Transform {
    Transform {
        ttype,
        id,
        key_length: (key_bits != 0).then_some(key_bits),
        other_attrs: Vec::new(),
    }
}

/// strongSwan's proposal printer: "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048".
impl fmt::Display for ProposalSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self
            .transforms()
            .iter()
            .map(|t| transform_name(t.ttype, t.id, t.key_length.unwrap_or(0)))
            .collect();
        f.write_str(&names.join("/"))
    }
}

/// An ordered list of proposals for one protocol, as configured (`proposals = ...` for IKE,
/// `esp_proposals = ...` for a child).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProposalSet {
    protocol: ProtocolId,
    proposals: Vec<ProposalSpec>,
    /// Set by `without_ke`: KE is not negotiated at all (IKE_AUTH's first Child SA), so peer KE
    /// transforms are ignored rather than treated as a PFS requirement.
    ke_ignored: bool,
}

impl ProposalSet {
    pub(crate) fn from_specs(protocol: ProtocolId, proposals: Vec<ProposalSpec>) -> Self {
        ProposalSet {
            protocol,
            proposals,
            ke_ignored: false,
        }
    }

    /// Parses comma-separated proposals in strongSwan's keyword syntax for `protocol` (IKE or
    /// ESP), e.g. `aes256gcm16-prfsha256-x25519,aes256-sha256-modp2048` or `default`.
    pub fn parse(protocol: ProtocolId, s: &str) -> Result<Self, ParseError> {
        parse_set(protocol, s)
    }

    pub fn parse_ike(s: &str) -> Result<Self, ParseError> {
        parse_set(ProtocolId::IKE, s)
    }

    pub fn parse_esp(s: &str) -> Result<Self, ParseError> {
        parse_set(ProtocolId::ESP, s)
    }

    /// The proposals of `sets`, in order, as one set: a configured list whose entries were parsed
    /// one by one (so that an error names the entry). The same bound as `parse` applies.
    pub fn concat(
        protocol: ProtocolId,
        sets: impl IntoIterator<Item = ProposalSet>,
    ) -> Result<Self, ParseError> {
        let proposals: Vec<ProposalSpec> = sets.into_iter().flat_map(|s| s.proposals).collect();
        if proposals.len() > usize::from(u8::MAX) {
            return Err(ParseError::TooManyProposals {
                count: proposals.len(),
            });
        }
        Ok(Self::from_specs(protocol, proposals))
    }

    /// What a connection uses when `proposals` is not set: the classic then the AEAD default
    /// proposal (strongSwan 5.9.8, legacy algorithms removed).
    ///
    /// Like strongSwan, which builds its default from the algorithms its loaded plugins provide,
    /// the list is narrowed to what rswan implements (see [`super::implemented`]): AES-CTR,
    /// Camellia, AES-CCM, XCBC/CMAC and Curve448 from strongSwan's list are left out.
    pub fn default_ike() -> Self {
        Self::from_specs(ProtocolId::IKE, default_specs(ProtocolId::IKE, false))
    }

    /// What a child uses when `esp_proposals` is not set: AES-GCM first, then AES-CBC with
    /// HMAC-SHA2/SHA1/XCBC; no KE group, so no PFS.
    pub fn default_esp() -> Self {
        Self::from_specs(ProtocolId::ESP, default_specs(ProtocolId::ESP, true))
    }

    pub fn protocol(&self) -> ProtocolId {
        self.protocol
    }

    pub fn proposals(&self) -> &[ProposalSpec] {
        &self.proposals
    }

    /// True when KE transforms are neither sent nor negotiated (see [`ProposalSet::without_ke`]).
    pub fn ke_ignored(&self) -> bool {
        self.ke_ignored
    }

    /// The SA payload proposals to send, numbered from 1, each carrying `spi` (empty in
    /// IKE_SA_INIT, 8 octets for an IKE rekey, 4 octets for ESP).
    pub fn to_wire(&self, spi: &[u8]) -> Vec<Proposal> {
        self.proposals
            .iter()
            .enumerate()
            .map(|(i, p)| Proposal {
                // The parser caps a set at 255 proposals, so this never saturates.
                num: u8::try_from(i + 1).unwrap_or(u8::MAX),
                protocol: self.protocol,
                spi: spi.to_vec(),
                transforms: p.transforms(),
            })
            .collect()
    }

    /// The same proposals with no KE transforms, for the Child SA created in IKE_AUTH (RFC 7296
    /// section 1.2: its SA payload carries no KE; PFS applies only to CREATE_CHILD_SA).
    pub fn without_ke(&self) -> Self {
        let mut out = self.clone();
        for p in &mut out.proposals {
            p.ke.clear();
        }
        out.ke_ignored = true;
        out
    }

    /// The group for the KE payload of a first IKE_SA_INIT request: the first group of the first
    /// proposal that has one.
    pub fn first_ke_group(&self) -> Option<KeGroup> {
        self.proposals
            .iter()
            .flat_map(|p| p.ke.iter())
            .copied()
            .find(|g| *g != KeGroup::NONE)
    }

    /// Whether any proposal lists `group` (e.g. to check the group an INVALID_KE_PAYLOAD asks for).
    pub fn accepts_group(&self, group: KeGroup) -> bool {
        group != KeGroup::NONE && self.proposals.iter().any(|p| p.ke.contains(&group))
    }

    /// The proposals reordered for a retry after INVALID_KE_PAYLOAD, as strongSwan does: in each
    /// proposal that lists `group` it moves to the front, and proposals without it move behind
    /// those with it. `None` if no proposal lists `group` (the request must not be retried).
    pub fn with_group_first(&self, group: KeGroup) -> Option<Self> {
        if !self.accepts_group(group) {
            return None;
        }
        let mut with = Vec::new();
        let mut without = Vec::new();
        for p in &self.proposals {
            if p.ke.contains(&group) {
                let mut p = p.clone();
                p.ke.retain(|g| *g != group);
                p.ke.insert(0, group);
                with.push(p);
            } else {
                without.push(p.clone());
            }
        }
        with.extend(without);
        Some(ProposalSet {
            protocol: self.protocol,
            proposals: with,
            ke_ignored: self.ke_ignored,
        })
    }

    /// The PFS groups of an ESP set (every group listed, in order, without NONE); empty means the
    /// child does no PFS on rekey.
    pub fn pfs_groups(&self) -> Vec<KeGroup> {
        let mut out = Vec::new();
        for g in self.proposals.iter().flat_map(|p| p.ke.iter()) {
            if *g != KeGroup::NONE && !out.contains(g) {
                out.push(*g);
            }
        }
        out
    }

    /// Names of the legacy algorithms (3DES, HMAC-MD5, PRF-HMAC-MD5, MODP_768/1024/1536) these
    /// proposals use, so the daemon can warn that the configuration opted into them.
    pub fn legacy_algorithms(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for p in &self.proposals {
            for t in p.transforms() {
                if is_legacy(t.ttype, t.id) {
                    let n = transform_name(t.ttype, t.id, t.key_length.unwrap_or(0));
                    if !out.contains(&n) {
                        out.push(n);
                    }
                }
            }
        }
        out
    }

    pub fn uses_legacy(&self) -> bool {
        !self.legacy_algorithms().is_empty()
    }

    /// Names of the algorithms in these proposals that `supported(type, id, key_bits)` rejects,
    /// for a configuration error that says which keyword cannot be honoured ("CAMELLIA_CBC_128").
    /// KE NONE is not an algorithm and is never reported.
    pub fn unsupported_algorithms(
        &self,
        supported: impl Fn(TransformType, u16, u16) -> bool,
    ) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for p in &self.proposals {
            for t in p.transforms() {
                if t.ttype == TransformType::KE && t.id == KeGroup::NONE.0 {
                    continue;
                }
                let bits = t.key_length.unwrap_or(0);
                if !supported(t.ttype, t.id, bits) {
                    let n = transform_name(t.ttype, t.id, bits);
                    if !out.contains(&n) {
                        out.push(n);
                    }
                }
            }
        }
        out
    }

    /// Keeps only the algorithms `keep(type, id, key_bits)` accepts (e.g. what the crypto module
    /// implements) and drops proposals left without a required transform type. Returns `None`
    /// if no proposal survives.
    pub fn retain_algorithms(
        &self,
        keep: impl Fn(TransformType, u16, u16) -> bool,
    ) -> Option<Self> {
        let ike = self.protocol == ProtocolId::IKE;
        let mut proposals = Vec::new();
        for orig in &self.proposals {
            let mut p = orig.clone();
            p.encr
                .retain(|e| keep(TransformType::ENCR, e.id.0, e.key_bits));
            p.integ.retain(|i| keep(TransformType::INTEG, i.0, 0));
            p.prf.retain(|x| keep(TransformType::PRF, x.0, 0));
            // NONE is not an algorithm, so `keep` is not asked about it.
            p.ke.retain(|g| *g == KeGroup::NONE || keep(TransformType::KE, g.0, 0));
            p.esn.retain(|e| keep(TransformType::ESN, e.0, 0));
            // A proposal that required a KE group and lost all of them must be dropped, not
            // turned into one without PFS.
            let ke_ok = orig.ke.is_empty() || !p.ke.is_empty();
            let usable = !p.encr.is_empty()
                && (p.is_aead() || !p.integ.is_empty())
                && ke_ok
                && if ike {
                    !p.prf.is_empty()
                } else {
                    !p.esn.is_empty()
                };
            if usable {
                proposals.push(p);
            }
        }
        if proposals.is_empty() {
            return None;
        }
        Some(ProposalSet {
            protocol: self.protocol,
            proposals,
            ke_ignored: self.ke_ignored,
        })
    }
}

/// strongSwan's "configured proposals" form: "IKE:AES_CBC_256/.../MODP_2048, IKE:...".
impl fmt::Display for ProposalSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.proposals.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}:{}", self.protocol, p)?;
        }
        Ok(())
    }
}
