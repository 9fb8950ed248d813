//! The responder's choice of Child SA and traffic selectors for a peer's TSi/TSr, shared by
//! IKE_AUTH and CREATE_CHILD_SA. An authenticated peer's selectors are intersected with ours and
//! every resulting pair becomes kernel policies, so both the selectors and the policies they
//! would install are held to the configured limits (`max_ts`, `max_policies`) before anything
//! is built; past them the answer is TS_UNACCEPTABLE with a reason naming the setting.

use std::net::IpAddr;

use crate::config::{resolve_ts, ChildConfig, Limits};
use crate::event::{FailureReason, LimitHit};
use crate::sa::child::{kernel_policy_count, ts_list};
use crate::wire::ts::{narrow_capped, MAX_TS_PER_PAYLOAD};
use crate::wire::TrafficSelector;

/// The child picked for a request and the narrowed selectors (ours: local, the peer's: remote).
pub(crate) struct Picked<'c> {
    pub child: &'c ChildConfig,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
}

/// Selectors per TS payload we accept and send.
fn ts_cap(limits: &Limits) -> usize {
    limits.ts_per_payload.min(MAX_TS_PER_PAYLOAD)
}

/// The first of `children` whose selectors overlap the peer's `tsi`/`tsr` within the limits.
pub(crate) fn pick_child<'c>(
    limits: &Limits,
    children: &'c [ChildConfig],
    tsi: &[TrafficSelector],
    tsr: &[TrafficSelector],
    local_ip: IpAddr,
    remote_ip: IpAddr,
) -> Result<Picked<'c>, FailureReason> {
    let cap = ts_cap(limits);
    if tsi.len() > cap || tsr.len() > cap {
        return Err(FailureReason::LimitExceeded {
            child: None,
            limit: LimitHit::TsProposed {
                tsi: tsi.len(),
                tsr: tsr.len(),
                cap,
            },
        });
    }
    let mut over_limit = None;
    for child in children {
        let ours_local = resolve_ts(&child.local_ts, local_ip);
        let ours_remote = resolve_ts(&child.remote_ts, remote_ip);
        let narrowed = narrow_capped(tsr, &ours_local, cap)
            .and_then(|l| narrow_capped(tsi, &ours_remote, cap).map(|r| (l, r)));
        let (local_ts, remote_ts) = match narrowed {
            Some((l, r)) if l.is_empty() || r.is_empty() => continue,
            Some(lr) => lr,
            None => {
                over_limit.get_or_insert(FailureReason::LimitExceeded {
                    child: Some(child.name.clone()),
                    limit: LimitHit::TsNarrowed { cap },
                });
                continue;
            }
        };
        if let Err(reason) = check_policies(limits, &child.name, &local_ts, &remote_ts) {
            over_limit.get_or_insert(reason);
            continue;
        }
        return Ok(Picked {
            child,
            local_ts,
            remote_ts,
        });
    }
    Err(over_limit.unwrap_or_else(|| {
        let (ours_local, ours_remote, child) = match children.first() {
            Some(c) => (
                ts_list(&resolve_ts(&c.local_ts, local_ip)),
                ts_list(&resolve_ts(&c.remote_ts, remote_ip)),
                c.name.clone(),
            ),
            None => ("nothing".into(), "nothing".into(), "-".into()),
        };
        FailureReason::TsUnacceptable {
            child,
            ours_local,
            ours_remote,
            theirs_i: ts_list(tsi),
            theirs_r: ts_list(tsr),
        }
    }))
}

/// Whether the kernel policies for these selectors stay within `max_policies` (counted for
/// tunnel mode, the larger of the two).
pub(crate) fn check_policies(
    limits: &Limits,
    child: &str,
    local_ts: &[TrafficSelector],
    remote_ts: &[TrafficSelector],
) -> Result<(), FailureReason> {
    let n = kernel_policy_count(local_ts, remote_ts);
    if n > limits.policies_per_child {
        return Err(FailureReason::LimitExceeded {
            child: Some(child.into()),
            limit: LimitHit::Policies {
                need: n,
                max: limits.policies_per_child,
            },
        });
    }
    Ok(())
}
