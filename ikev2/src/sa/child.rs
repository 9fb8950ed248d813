//! Child SA state: what was negotiated and installed, enough to delete it again and to report it.

use std::net::SocketAddr;
use std::time::Instant;

use crate::config::Mode;
use crate::consts::{EncrId, IntegId};
use crate::event::Event;
use crate::output::{Direction, KernelOp, PolicySpec};
use crate::sa::status::{ChildSaStatus, ChildStatusState};
use crate::wire::TrafficSelector;

/// One negotiated Child SA (an inbound/outbound ESP SA pair with its policies).
#[derive(Clone, Debug)]
pub struct ChildSa {
    pub name: String,
    pub unique_id: u32,
    pub reqid: u32,
    /// Changed only through [`ChildSa::transition`].
    pub(crate) state: ChildStatusState,
    pub mode: Mode,
    pub spi_in: u32,
    pub spi_out: u32,
    pub encr: EncrId,
    pub encr_keysize: u16,
    pub integ: Option<IntegId>,
    pub esn: bool,
    pub encap: bool,
    /// ESP-in-UDP Child SAs: the (inbound, outbound) SAs as installed, to re-install them with
    /// new encapsulation ports when the peer's NAT mapping changes.
    pub kernel_sas: Option<Box<(crate::output::SaSpec, crate::output::SaSpec)>>,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    pub installed_at: Instant,
    pub pending_ops: u32,
    /// Rekey and hard-lifetime deadlines; set only by the hooks in `timer`.
    pub deadlines: crate::timer::ChildDeadlines,
    /// Responder of a rekey: the outbound SA, installed once the peer deleted the old Child SA
    /// (RFC 7296 section 2.8: the responder sends on the new SA only after that).
    pub pending_out: Option<crate::output::SaSpec>,
    /// Last byte counters the driver reported (inbound, outbound SA) and when they last rose.
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub last_in: Option<Instant>,
    pub last_out: Option<Instant>,
    /// The loser of a rekey collision (RFC 7296 section 2.8.1): never takes over traffic and is
    /// deleted by whoever created it.
    pub redundant: bool,
}

/// Renders selectors the way status output and log lines show them: `10.1.0.0/24 10.1.2.0/24`.
pub fn ts_list(ts: &[TrafficSelector]) -> String {
    let v: Vec<String> = ts.iter().map(|t| t.to_string()).collect();
    v.join(" ")
}

/// Initiator check of a response: each selector the responder chose lies inside one we proposed.
pub fn is_narrowing_of(chosen: &[TrafficSelector], proposed: &[TrafficSelector]) -> bool {
    !chosen.is_empty()
        && chosen
            .iter()
            .all(|c| proposed.iter().any(|p| p.contains(c)))
}

/// How many kernel policies [`policies`] in tunnel mode comes to once the driver splits each
/// address range into prefixes (XFRM selectors are prefixes), without building them.
pub fn kernel_policy_count(local_ts: &[TrafficSelector], remote_ts: &[TrafficSelector]) -> usize {
    let prefixes = |ts: &TrafficSelector| ts.to_prefixes().len();
    let mut n: usize = 0;
    for l in local_ts {
        let pl = prefixes(l);
        for r in remote_ts.iter().filter(|r| r.is_ipv4() == l.is_ipv4()) {
            // out, in and fwd for every prefix pair
            n = n.saturating_add(pl.saturating_mul(prefixes(r)).saturating_mul(3));
        }
    }
    n
}

/// Tunnel-mode policies out/in/fwd (transport mode: out/in) for every pair of selectors.
pub fn policies(
    local: SocketAddr,
    remote: SocketAddr,
    mode: Mode,
    reqid: u32,
    local_ts: &[TrafficSelector],
    remote_ts: &[TrafficSelector],
) -> Vec<PolicySpec> {
    let mut out = Vec::new();
    for l in local_ts {
        for r in remote_ts {
            if l.is_ipv4() != r.is_ipv4() {
                continue;
            }
            out.push(PolicySpec {
                src: *l,
                dst: *r,
                direction: Direction::Out,
                reqid,
                mode,
                tmpl_src: local.ip(),
                tmpl_dst: remote.ip(),
            });
            out.push(PolicySpec {
                src: *r,
                dst: *l,
                direction: Direction::In,
                reqid,
                mode,
                tmpl_src: remote.ip(),
                tmpl_dst: local.ip(),
            });
            if mode == Mode::Tunnel {
                out.push(PolicySpec {
                    src: *r,
                    dst: *l,
                    direction: Direction::Fwd,
                    reqid,
                    mode,
                    tmpl_src: remote.ip(),
                    tmpl_dst: local.ip(),
                });
            }
        }
    }
    out
}

impl ChildSa {
    pub fn state(&self) -> ChildStatusState {
        self.state
    }

    /// The one choke point for Child SA state changes: records `old -> new` with the SPIs.
    pub fn transition(&mut self, conn: &str, new: ChildStatusState) -> Event {
        let old = self.state;
        self.state = new;
        Event::ChildStateChange {
            conn: conn.to_string(),
            child: self.name.clone(),
            spi_in: self.spi_in,
            spi_out: self.spi_out,
            old: Some(old),
            new,
        }
    }

    /// The announcement of a new Child SA in its first state.
    pub fn created_event(&self, conn: &str) -> Event {
        Event::ChildStateChange {
            conn: conn.to_string(),
            child: self.name.clone(),
            spi_in: self.spi_in,
            spi_out: self.spi_out,
            old: None,
            new: self.state,
        }
    }

    /// Kernel operations that remove everything this Child SA installed.
    pub fn teardown_ops(&self, local: SocketAddr, remote: SocketAddr) -> Vec<KernelOp> {
        let mut ops = self.sa_teardown_ops(local, remote);
        ops.extend(self.policy_teardown_ops(local, remote));
        ops
    }

    /// Deletes only the two SAs (a rekeyed Child SA whose successor keeps the policies, which
    /// the kernel matches to SAs by reqid). An outbound SA never installed is not deleted.
    pub fn sa_teardown_ops(&self, local: SocketAddr, remote: SocketAddr) -> Vec<KernelOp> {
        let mut ops = vec![KernelOp::DeleteSa {
            src: remote.ip(),
            dst: local.ip(),
            spi: self.spi_in,
        }];
        if self.pending_out.is_none() {
            ops.push(KernelOp::DeleteSa {
                src: local.ip(),
                dst: remote.ip(),
                spi: self.spi_out,
            });
        }
        ops
    }

    pub fn policy_teardown_ops(&self, local: SocketAddr, remote: SocketAddr) -> Vec<KernelOp> {
        let mut ops = Vec::new();
        for p in policies(
            local,
            remote,
            self.mode,
            self.reqid,
            &self.local_ts,
            &self.remote_ts,
        ) {
            ops.push(KernelOp::DeletePolicy {
                src: p.src,
                dst: p.dst,
                direction: p.direction,
            });
        }
        ops
    }

    pub fn status(&self) -> ChildSaStatus {
        let key = |k: u16| if k == 0 { None } else { Some(k) };
        ChildSaStatus {
            name: self.name.clone(),
            unique_id: self.unique_id,
            reqid: self.reqid,
            state: self.state,
            mode: self.mode,
            spi_in: self.spi_in,
            spi_out: self.spi_out,
            encr_alg: crate::proposal::transform_name(
                crate::consts::TransformType::ENCR,
                self.encr.0,
                0,
            ),
            encr_keysize: key(self.encr_keysize),
            integ_alg: self.integ.map(|i| i.to_string()),
            esn: self.esn,
            encap: self.encap,
            local_ts: self.local_ts.iter().map(|t| t.to_string()).collect(),
            remote_ts: self.remote_ts.iter().map(|t| t.to_string()).collect(),
            installed_at: self.installed_at,
        }
    }

    pub fn ts_text(&self) -> (String, String) {
        (ts_list(&self.local_ts), ts_list(&self.remote_ts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_count_splits_ranges_into_prefixes() {
        let t = |s: &str| s.parse::<TrafficSelector>().unwrap();
        assert_eq!(
            kernel_policy_count(&[t("10.1.0.0/24")], &[t("10.2.0.0/24")]),
            3
        );
        // 10.0.0.1-10.0.0.6 is four prefixes (/32, /31, /31, /32).
        let range = t("10.0.0.1-10.0.0.6");
        assert_eq!(kernel_policy_count(&[range], &[t("10.2.0.0/24")]), 12);
        assert_eq!(kernel_policy_count(&[range], &[range]), 48);
        // Families never pair.
        assert_eq!(
            kernel_policy_count(&[t("10.1.0.0/24")], &[t("2001:db8::/64")]),
            0
        );
    }

    #[test]
    fn tunnel_has_fwd_transport_does_not() {
        let l: SocketAddr = "192.0.2.1:500".parse().unwrap();
        let r: SocketAddr = "192.0.2.2:500".parse().unwrap();
        let lt = [TrafficSelector::from_cidr("10.1.0.0".parse().unwrap(), 24).unwrap()];
        let rt = [TrafficSelector::from_cidr("10.2.0.0".parse().unwrap(), 24).unwrap()];
        let t = policies(l, r, Mode::Tunnel, 7, &lt, &rt);
        assert_eq!(t.len(), 3);
        let out = t.iter().find(|p| p.direction == Direction::Out).unwrap();
        assert_eq!((out.src, out.dst), (lt[0], rt[0]));
        assert_eq!((out.tmpl_src, out.tmpl_dst), (l.ip(), r.ip()));
        let fwd = t.iter().find(|p| p.direction == Direction::Fwd).unwrap();
        assert_eq!((fwd.src, fwd.dst), (rt[0], lt[0]));
        assert_eq!((fwd.tmpl_src, fwd.tmpl_dst), (r.ip(), l.ip()));
        let tr = policies(l, r, Mode::Transport, 7, &lt, &rt);
        assert_eq!(tr.len(), 2);
        assert!(tr.iter().all(|p| p.direction != Direction::Fwd));
    }
}
