#![allow(dead_code)] // shared by several test binaries, each using a subset
//! An in-memory model of one peer's kernel (SAD and SPD) that applies the core's `KernelOp`s with
//! XFRM's semantics (duplicate add is EEXIST, deleting what is not there is ESRCH/ENOENT), so tests
//! can assert on what would really be installed rather than on what the core says it did.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Instant;

use rswan_ikev2::output::{Direction, KernelError, KernelErrorKind, KernelOp, PolicySpec, SaSpec};
use rswan_ikev2::wire::ts::TrafficSelector;

/// XFRM identifies an SA by destination, SPI and protocol (always ESP here).
pub type SaKey = (IpAddr, u32);

/// XFRM identifies a policy by its selector and direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PolicyKey {
    pub src: TrafficSelector,
    pub dst: TrafficSelector,
    pub dir: Direction,
}

#[derive(Default)]
pub struct KernelModel {
    pub sas: BTreeMap<SaKey, SaSpec>,
    pub policies: Vec<PolicySpec>,
    /// Every operation received, in order, with the result we answered.
    pub log: Vec<(KernelOp, Result<(), String>)>,
    /// When set, the next `AddSa` fails with this error (a kernel refusing an SA).
    pub fail_next_add_sa: Option<String>,
    /// Pending lifetime expiries (when, SA, hard), as the kernel would raise XFRM_MSG_EXPIRE.
    expiries: Vec<(Instant, SaKey, bool)>,
    /// SAs the kernel removed because their hard lifetime ran out (traffic interrupted).
    pub hard_expired: u32,
}

/// A lifetime expiry the kernel raises: soft asks for a rekey, hard means the SA is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expiry {
    pub dst: IpAddr,
    pub spi: u32,
    pub hard: bool,
}

fn policy_key(p: &PolicySpec) -> PolicyKey {
    PolicyKey {
        src: p.src,
        dst: p.dst,
        dir: p.direction,
    }
}

impl KernelModel {
    /// Applies `op` at virtual time `now` (which starts the SA's lifetimes).
    pub fn apply(&mut self, now: Instant, op: &KernelOp) -> Result<(), String> {
        let r = self.apply_inner(op);
        if let (Ok(()), KernelOp::AddSa(sa)) = (&r, op) {
            let key = (sa.dst, sa.spi);
            for (t, hard) in [
                (sa.lifetime.soft_time, false),
                (sa.lifetime.hard_time, true),
            ] {
                // Zero means no limit, as in XFRM.
                if !t.is_zero() {
                    self.expiries.push((now + t, key, hard));
                }
            }
        }
        self.log.push((op.clone(), r.clone()));
        r
    }

    fn apply_inner(&mut self, op: &KernelOp) -> Result<(), String> {
        match op {
            KernelOp::AddSa(sa) => {
                if let Some(e) = self.fail_next_add_sa.take() {
                    return Err(e);
                }
                let key = (sa.dst, sa.spi);
                if self.sas.contains_key(&key) {
                    return Err(format!("EEXIST: SA {} spi {:08x}", sa.dst, sa.spi));
                }
                self.sas.insert(key, sa.clone());
                Ok(())
            }
            KernelOp::DeleteSa { dst, spi, .. } => match self.sas.remove(&(*dst, *spi)) {
                Some(_) => Ok(()),
                None => Err(format!("ESRCH: no SA {dst} spi {spi:08x}")),
            },
            KernelOp::AddPolicy(p) => {
                let k = policy_key(p);
                if self.policies.iter().any(|q| policy_key(q) == k) {
                    return Err(format!(
                        "EEXIST: policy {} -> {} {:?}",
                        p.src, p.dst, p.direction
                    ));
                }
                self.policies.push(p.clone());
                Ok(())
            }
            KernelOp::DeletePolicy {
                src,
                dst,
                direction,
            } => {
                let k = PolicyKey {
                    src: *src,
                    dst: *dst,
                    dir: *direction,
                };
                match self.policies.iter().position(|q| policy_key(q) == k) {
                    Some(i) => {
                        self.policies.remove(i);
                        Ok(())
                    }
                    None => Err(format!("ENOENT: no policy {src} -> {dst} {direction:?}")),
                }
            }
        }
    }

    /// The earliest pending expiry of an SA that still exists.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.expiries
            .iter()
            .filter(|(_, k, _)| self.sas.contains_key(k))
            .map(|(t, _, _)| *t)
            .min()
    }

    /// Takes the expiries due at `now` for SAs that still exist, in time order. A hard expiry
    /// removes the SA, as the kernel does.
    pub fn take_due_expiries(&mut self, now: Instant) -> Vec<Expiry> {
        let sas = &self.sas;
        self.expiries.retain(|(_, k, _)| sas.contains_key(k));
        self.expiries.sort_by_key(|(t, _, hard)| (*t, *hard));
        let due: Vec<_> = self
            .expiries
            .iter()
            .take_while(|(t, _, _)| *t <= now)
            .copied()
            .collect();
        self.expiries.drain(..due.len());
        let mut out = Vec::new();
        for (_, key, hard) in due {
            if !self.sas.contains_key(&key) {
                continue;
            }
            if hard {
                self.sas.remove(&key);
                self.hard_expired += 1;
            }
            out.push(Expiry {
                dst: key.0,
                spi: key.1,
                hard,
            });
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.sas.is_empty() && self.policies.is_empty()
    }

    /// Operations that the kernel refused.
    pub fn errors(&self) -> Vec<String> {
        self.log
            .iter()
            .filter_map(|(_, r)| r.clone().err())
            .collect()
    }

    pub fn sas_dir(&self, dir: Direction) -> Vec<&SaSpec> {
        self.sas.values().filter(|s| s.direction == dir).collect()
    }

    pub fn policy(
        &self,
        src: &TrafficSelector,
        dst: &TrafficSelector,
        dir: Direction,
    ) -> Option<&PolicySpec> {
        self.policies
            .iter()
            .find(|p| p.src == *src && p.dst == *dst && p.direction == dir)
    }
}

/// Asserts that `a` and `b` hold the two halves of the same Child SAs: every SA one side installed
/// is installed on the other with the same addresses, SPI, mode, algorithms and identical keys, and
/// every policy has its mirror (out on one side <-> in, and fwd in tunnel mode, on the other).
/// Returns the number of SAs on each side.
pub fn assert_mirrored(a: &KernelModel, b: &KernelModel) -> usize {
    assert_eq!(
        a.sas.keys().collect::<Vec<_>>(),
        b.sas.keys().collect::<Vec<_>>(),
        "the two kernels hold different SAs"
    );
    for (k, sa) in &a.sas {
        let peer = &b.sas[k];
        assert_eq!((sa.src, sa.dst, sa.spi), (peer.src, peer.dst, peer.spi));
        let mirrored_dir = match sa.direction {
            Direction::In => Direction::Out,
            Direction::Out => Direction::In,
            Direction::Fwd => panic!("an SA has no fwd direction: {sa:?}"),
        };
        assert_eq!(
            peer.direction, mirrored_dir,
            "SA {k:?}: both sides see it as {:?}",
            sa.direction
        );
        assert_eq!(sa.mode, peer.mode, "SA {k:?}: modes differ");
        assert_eq!(sa.encr.alg, peer.encr.alg, "SA {k:?}: encryption differs");
        assert_eq!(
            sa.encr.key_bits, peer.encr.key_bits,
            "SA {k:?}: key size differs"
        );
        assert_eq!(
            sa.encr.icv_bits, peer.encr.icv_bits,
            "SA {k:?}: ICV differs"
        );
        assert_eq!(
            *sa.encr.key, *peer.encr.key,
            "SA {k:?}: encryption keys differ"
        );
        assert!(!sa.encr.key.is_empty() || sa.encr.alg == rswan_ikev2::consts::EncrId::NULL);
        assert_eq!(
            sa.integ.as_ref().map(|i| (i.alg, i.key.to_vec())),
            peer.integ.as_ref().map(|i| (i.alg, i.key.to_vec())),
            "SA {k:?}: integrity algorithm or key differs"
        );
        assert_eq!(sa.esn, peer.esn, "SA {k:?}: ESN differs");
    }
    for p in &a.policies {
        let mirrors: Vec<Direction> = match (p.direction, p.mode) {
            // Tunnel mode: what one side sends out, the other both accepts and forwards.
            (Direction::Out, rswan_ikev2::config::Mode::Tunnel) => {
                vec![Direction::In, Direction::Fwd]
            }
            (Direction::Out, rswan_ikev2::config::Mode::Transport) => vec![Direction::In],
            (Direction::In | Direction::Fwd, _) => vec![Direction::Out],
        };
        for d in mirrors {
            let q = b.policy(&p.src, &p.dst, d).unwrap_or_else(|| {
                panic!(
                    "policy {} -> {} {:?} has no {:?} mirror on the peer",
                    p.src, p.dst, p.direction, d
                )
            });
            assert_eq!(p.mode, q.mode);
            assert_eq!(
                (p.tmpl_src, p.tmpl_dst),
                (q.tmpl_src, q.tmpl_dst),
                "tunnel endpoints differ"
            );
        }
    }
    for p in &b.policies {
        let d = if p.direction == Direction::Out {
            Direction::In
        } else {
            Direction::Out
        };
        assert!(
            a.policy(&p.src, &p.dst, d).is_some(),
            "peer policy {p:?} has no mirror"
        );
    }
    a.sas.len()
}

/// The model's error text as the typed error the driver would hand the core: the errno name it
/// starts with gives the class, as rswan-xfrm's errno does in the daemon.
pub fn typed_error(e: String) -> KernelError {
    let kind = if e.starts_with("EEXIST") {
        KernelErrorKind::Exists
    } else if e.starts_with("ESRCH") || e.starts_with("ENOENT") {
        KernelErrorKind::NotFound
    } else {
        KernelErrorKind::Other(0)
    };
    KernelError::new(kind, e)
}
