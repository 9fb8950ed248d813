//! Predicting a PFS failure on rekey from what the peer offered in IKE_AUTH.

use core::fmt;

use crate::consts::{KeGroup, TransformType};
use crate::wire::sa::Proposal;

use super::set::ProposalSet;
use rswan_ike::alg::transform_name;

/// A Child SA rekey that will certainly fail because of PFS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PfsMismatch {
    pub child: String,
    /// Every group the peer listed; each of its proposals needs one of them.
    pub peer_requires: Vec<KeGroup>,
    /// Our PFS groups for this child (empty: no PFS).
    pub ours: Vec<KeGroup>,
}

fn names(groups: &[KeGroup]) -> String {
    groups
        .iter()
        .map(|g| transform_name(TransformType::KE, g.0, 0))
        .collect::<Vec<_>>()
        .join(", ")
}

/// e.g. "peer requires MODP_2048, child 'net' has no PFS group".
impl fmt::Display for PfsMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "peer requires {}, child '{}' ",
            names(&self.peer_requires),
            self.child
        )?;
        if self.ours.is_empty() {
            f.write_str("has no PFS group")
        } else {
            write!(f, "accepts only {}", names(&self.ours))
        }
    }
}

/// Looks at the peer's Child SA proposals from IKE_AUTH (`peer_offered`) and our full ESP set for
/// the child (`ours`, not `without_ke`). Returns a report when every peer proposal of our
/// protocol demands a KE group (none offers NONE or omits KE) and we accept none of those groups,
/// so the first CREATE_CHILD_SA rekey cannot succeed. Peers that leave KE out of IKE_AUTH (as
/// RFC 7296 asks) give no evidence, so this returns `None` for them.
pub fn predict_pfs_mismatch(
    child: &str,
    ours: &ProposalSet,
    peer_offered: &[Proposal],
) -> Option<PfsMismatch> {
    let mut peer_requires: Vec<KeGroup> = Vec::new();
    let mut any = false;
    for p in peer_offered
        .iter()
        .filter(|p| p.protocol == ours.protocol())
    {
        any = true;
        let groups: Vec<u16> = p
            .transforms
            .iter()
            .filter(|t| t.ttype == TransformType::KE)
            .map(|t| t.id)
            .collect();
        if groups.is_empty() || groups.contains(&KeGroup::NONE.0) {
            return None;
        }
        for g in groups {
            if !peer_requires.contains(&KeGroup(g)) {
                peer_requires.push(KeGroup(g));
            }
        }
    }
    if !any {
        return None;
    }
    let our_groups = ours.pfs_groups();
    if peer_requires.iter().any(|g| our_groups.contains(g)) {
        return None;
    }
    Some(PfsMismatch {
        child: child.to_string(),
        peer_requires,
        ours: our_groups,
    })
}
