//! Trapped children: the ones with a trap policy in the kernel (start_action=trap, or a trap put
//! back by close_action=trap / dpd_action=trap), and what happens to a Child SA when the peer
//! closes it or is lost (close_action, dpd_action=trap).
//!
//! A trapped child's Child SAs and policies are installed with the trap's reqid, as strongSwan
//! does. That is what lets the kernel retire its larval state: traffic hitting the trap makes it
//! hold a state with SPI 0 (ACQ) and send no further ACQUIRE while it exists; `xfrm_state_add`
//! replaces that state with a new SA of the same reqid, mode and addresses (or whose seq is the
//! ACQUIRE's, which the outbound SA carries too). Under another reqid it lingers for
//! `net.core.xfrm_acq_expires` (30 s), which delayed the next on-demand tunnel by as much.

use std::collections::HashSet;

use rswan_ikev2::event::{DownReason, Event};
use rswan_ikev2::output::{KernelOp, Output};
use rswan_ikev2::sa::status::ChildStatusState;

use super::{kernel, Action, Daemon, TRAP_REQID_BASE};

/// What the peer's Delete or loss of a child asks for, once the batch that reports it is done.
#[derive(Debug, Default)]
pub(super) struct AfterBatch {
    /// close_action=start: negotiate these again.
    pub restart: Vec<(String, String)>,
    /// Core reqids whose Child SAs went down: their reqid alias is dropped once none is left.
    pub retired: Vec<u32>,
}

impl Daemon {
    /// Core-side trap reqid of `conn`/`child`: every configured child has a slot above
    /// TRAP_REQID_BASE, whether its trap is installed or not.
    pub(super) fn trap_slot(&self, conn: &str, child: &str) -> Option<u32> {
        let mut n = TRAP_REQID_BASE;
        for c in &self.config.connections {
            for ch in &c.children {
                if c.name == conn && ch.name == child {
                    return Some(n);
                }
                n += 1;
            }
        }
        None
    }

    /// Whether `conn`/`child` has a trap policy (installed or superseded by its Child SA).
    pub(super) fn is_trapped(&self, conn: &str, child: &str) -> bool {
        self.traps().iter().any(|t| t.1 == conn && t.2 == child)
    }

    /// Looks at a batch of core outputs before it is performed:
    /// - a new Child SA (announced together with its policies) of a trapped child gets the
    ///   trap's reqid; a rekey keeps whatever its predecessor had (its reqid is unchanged);
    /// - a child closed by the peer (or lost, for dpd_action) whose close_action (dpd_action) is
    ///   trap gets its trap policy now, so that the Delete's policy removal puts the trap in
    ///   place instead of leaving the traffic without a policy for a moment.
    ///
    /// Returns what to do once the batch is performed.
    pub(super) fn before_batch(&mut self, batch: &[Output]) -> AfterBatch {
        let mut after = AfterBatch::default();
        let new_policy_reqids: HashSet<u32> = batch
            .iter()
            .filter_map(|o| match o {
                Output::Kernel {
                    op: KernelOp::AddPolicy(p),
                    ..
                } => Some(p.reqid),
                _ => None,
            })
            .collect();
        // The IKE SA is reported down after its children, in the same batch.
        let ike_down: Vec<(&str, &DownReason)> = batch
            .iter()
            .filter_map(|o| match o {
                Output::Event(Event::IkeSaDown { conn, reason, .. }) => {
                    Some((conn.as_str(), reason))
                }
                _ => None,
            })
            .collect();
        let mut new_traps = Vec::new();
        for o in batch {
            let Output::Event(ev) = o else { continue };
            match ev {
                Event::ChildSaUp {
                    conn, child, reqid, ..
                } if new_policy_reqids.contains(reqid) && self.is_trapped(conn, child) => {
                    if let Some(slot) = self.trap_slot(conn, child) {
                        self.kernel.alias_reqid(*reqid, kernel::kernel_reqid(slot));
                    }
                }
                Event::ChildSaDown {
                    conn,
                    child,
                    reqid,
                    reason,
                    ..
                } => {
                    after.retired.push(*reqid);
                    let why = match reason {
                        DownReason::PeerDelete => Some(&DownReason::PeerDelete),
                        DownReason::IkeSaGone => {
                            ike_down.iter().find(|(c, _)| c == conn).map(|(_, r)| *r)
                        }
                        _ => None,
                    };
                    let Some(cfg) = self.config.connection(conn).and_then(|c| c.child(child))
                    else {
                        continue;
                    };
                    let action = match why {
                        Some(DownReason::PeerDelete) => cfg.close_action,
                        // dpd_action=start is the core's (it re-initiates itself).
                        Some(DownReason::PeerLost { .. }) if cfg.dpd_action == Action::Trap => {
                            Action::Trap
                        }
                        _ => Action::None,
                    };
                    match action {
                        Action::Trap if !self.is_trapped(conn, child) => {
                            new_traps.push((conn.clone(), child.clone()))
                        }
                        Action::Start => after.restart.push((conn.clone(), child.clone())),
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        if !new_traps.is_empty() {
            for (conn, child) in new_traps {
                tracing::info!(conn = %conn, child = %child, "{conn}/{child} closed by the peer or lost: installing its trap policies");
                self.extra_traps.insert((conn, child));
            }
            self.sync_traps();
        }
        after
    }

    /// After the batch: close_action=start children are queued for negotiation, and the reqid
    /// aliases of Child SAs that are gone for good are dropped.
    pub(super) fn after_batch(&mut self, after: AfterBatch) {
        for (conn, child) in after.restart {
            tracing::info!(conn = %conn, child = %child, "close_action=start: {conn}/{child} was closed by the peer, negotiating it again");
            self.queue_start(&conn, Some(child));
        }
        let aliased = self.kernel.aliased_reqids();
        if after.retired.iter().any(|r| aliased.contains(r)) {
            let live: HashSet<u32> = self
                .ep
                .status()
                .connections
                .iter()
                .flat_map(|c| &c.ike_sas)
                .flat_map(|s| &s.children)
                .map(|c| c.reqid)
                .collect();
            for r in after.retired {
                if !live.contains(&r) {
                    self.kernel.unalias_reqid(r);
                }
            }
        }
    }

    /// Whether `conn`/`child` already has a Child SA up or coming up (an ACQUIRE for it is then
    /// stale: the kernel raced with the negotiation).
    pub(super) fn child_active(&self, conn: &str, child: &str) -> bool {
        self.ep
            .status()
            .connections
            .iter()
            .filter(|c| c.name == conn)
            .flat_map(|c| &c.ike_sas)
            .flat_map(|s| &s.children)
            .any(|c| {
                c.name == child
                    && matches!(
                        c.state,
                        ChildStatusState::Installing
                            | ChildStatusState::Installed
                            | ChildStatusState::Rekeying
                    )
            })
    }
}
