//! Translates the core's kernel operations (its own SA/policy specs) into rswan-xfrm calls, and
//! remembers what it installed so that shutdown removes exactly that and nothing else (another
//! rswand, or an operator's `ip xfrm` entries, in the same namespace stay untouched).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use rswan_ikev2::config::Mode as CoreMode;
use rswan_ikev2::consts::{EncrId, IntegId};
use rswan_ikev2::output::{
    Direction as CoreDir, KernelError as CoreError, KernelErrorKind, KernelOp as CoreOp, Lifetime,
    PolicySpec, SaSpec,
};
use rswan_ikev2::wire::TrafficSelector;
use rswan_xfrm::{
    ownership, AeadAlg, AuthAlg, Crypto, Direction, EncAlg, Kernel, Key, Lifetimes, Limits, Mode,
    NetlinkKernel, Policy, PolicyId, Prefix, Sa, SaCounters, SaId, Selector, Template, UdpEncap,
};

/// The kernel plus the record of what this daemon put into it.
pub struct KernelBridge<K: Kernel> {
    kernel: K,
    sas: HashSet<SaId>,
    /// Core policy (src, dst, dir) -> the kernel policies it became (one per prefix pair).
    policies: HashMap<(TrafficSelector, TrafficSelector, Direction), Vec<PolicyId>>,
    /// Trap policies (start_action=trap): outbound policies whose template has no SA yet, so
    /// the kernel sends ACQUIRE on first traffic. When the negotiated Child SA installs a policy
    /// with the same selector, it replaces the trap in place; when that policy is deleted, the
    /// trap comes back.
    traps: HashMap<PolicyId, Trap>,
    /// Core reqid -> kernel reqid, for Child SAs of trapped children: they take the trap's reqid,
    /// so that the kernel replaces the larval (ACQUIRE) state with the new outbound SA at once
    /// (xfrm_state_add finds it by reqid, mode and addresses) and the negotiated policies carry
    /// the trap's reqid as strongSwan's do.
    aliases: HashMap<u32, u32>,
    /// Kernel reqid -> sequence number of the last ACQUIRE for it, until the outbound SA that
    /// answers it goes in with that seq (the kernel's other way of finding the larval state).
    acquires: HashMap<u32, u32>,
}

struct Trap {
    policy: Policy,
    /// A negotiated policy currently occupies the trap's selector.
    superseded: bool,
}

/// What `remove_all` did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Cleanup {
    pub sas: usize,
    pub policies: usize,
    pub failures: usize,
}

/// The core numbers Child SA slots from 1; the kernel side uses rswan-xfrm's owned reqid range so
/// that ownership is visible in `ip xfrm` and nothing foreign is ever touched.
pub fn kernel_reqid(core: u32) -> u32 {
    if ownership::is_owned_reqid(core) {
        core
    } else {
        ownership::reqid((core & 0xffff) as u16)
    }
}

/// Sets the network namespace's policy hash thresholds (settings `spdh_thresh_v4/v6`), so that
/// subnet policies from those prefix lengths on are hashed instead of kept in the kernel's
/// inexact list. A failure is logged, not fatal: lookups stay correct, only slower to insert.
pub fn set_hash_thresholds(k: &mut NetlinkKernel, v4: (u8, u8), v6: (u8, u8)) {
    match k.set_policy_hash_thresholds(v4, v6) {
        Ok(()) => tracing::info!(
            "policy hash thresholds: IPv4 {}/{}, IPv6 {}/{} (settings spdh_thresh_v4/v6)",
            v4.0,
            v4.1,
            v6.0,
            v6.1
        ),
        Err(e) => tracing::warn!("cannot set the policy hash thresholds: {e}"),
    }
}

impl<K: Kernel> KernelBridge<K> {
    pub fn new(kernel: K) -> Self {
        KernelBridge {
            kernel,
            sas: HashSet::new(),
            policies: HashMap::new(),
            traps: HashMap::new(),
            aliases: HashMap::new(),
            acquires: HashMap::new(),
        }
    }

    /// Installs the SAs and policies of core reqid `core` under `kernel` instead of its own
    /// owned reqid (a trapped child takes its trap's reqid).
    pub fn alias_reqid(&mut self, core: u32, kernel: u32) {
        self.aliases.insert(core, kernel);
    }

    /// Core reqids given to [`KernelBridge::alias_reqid`], for pruning the retired ones.
    pub fn aliased_reqids(&self) -> Vec<u32> {
        self.aliases.keys().copied().collect()
    }

    pub fn unalias_reqid(&mut self, core: u32) {
        self.aliases.remove(&core);
    }

    /// The kernel sent ACQUIRE `seq` for the trap with kernel reqid `reqid`: the next outbound SA
    /// with that reqid carries the seq, so the kernel replaces the larval state it holds.
    pub fn note_acquire(&mut self, reqid: u32, seq: u32) {
        self.acquires.insert(reqid, seq);
    }

    /// The kernel reqid the core's `core` reqid is installed under.
    pub fn reqid(&self, core: u32) -> u32 {
        self.aliases
            .get(&core)
            .copied()
            .unwrap_or_else(|| kernel_reqid(core))
    }

    pub fn kernel_mut(&mut self) -> &mut K {
        &mut self.kernel
    }

    /// Number of SAs and kernel policies currently installed by us (traps included).
    pub fn installed(&self) -> (usize, usize) {
        let live_traps = self.traps.values().filter(|t| !t.superseded).count();
        (
            self.sas.len(),
            self.policies.values().map(Vec::len).sum::<usize>() + live_traps,
        )
    }

    /// Makes the installed trap policies exactly `wanted` (outbound policy specs whose reqid
    /// names the trap). Returns the errors of traps that could not be installed.
    pub fn set_traps(&mut self, wanted: &[PolicySpec]) -> Vec<String> {
        let mut errors = Vec::new();
        let mut want: HashMap<PolicyId, Policy> = HashMap::new();
        for spec in wanted {
            match policies_from_spec(spec, kernel_reqid(spec.reqid)) {
                Ok(ps) => want.extend(ps.into_iter().map(|p| (p.id(), p))),
                Err(e) => errors.push(e),
            }
        }
        let stale: Vec<PolicyId> = self
            .traps
            .iter()
            .filter(|(id, t)| want.get(*id) != Some(&t.policy))
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            if let Some(t) = self.traps.remove(&id) {
                if !t.superseded {
                    if let Err(e) = self.kernel.delete_policy(&id) {
                        errors.push(format!("removing trap {:?}: {e}", id.selector));
                    }
                }
            }
        }
        for (id, policy) in want {
            if self.traps.contains_key(&id) {
                continue;
            }
            let occupied = self.policies.values().flatten().any(|p| *p == id);
            if !occupied {
                if let Err(e) = self.add_or_adopt_policy(&policy) {
                    errors.push(format!(
                        "trap {}->{}: {e}",
                        policy.selector.src, policy.selector.dst
                    ));
                    continue;
                }
            }
            self.traps.insert(
                id,
                Trap {
                    policy,
                    superseded: occupied,
                },
            );
        }
        errors
    }

    /// Adds `policy`; if the kernel already holds a policy with the same selector that is ours
    /// (an owned reqid: left behind by a killed rswand, or by a failed removal), replaces it in
    /// place instead of failing with EEXIST. A foreign policy on the selector still fails the
    /// add, so another daemon's or an operator's policy is never overwritten.
    fn add_or_adopt_policy(&mut self, policy: &Policy) -> Result<(), rswan_xfrm::Error> {
        match self.kernel.add_policy(policy) {
            Err(rswan_xfrm::Error::Kernel(k)) if k.is_exists() => {
                let id = policy.id();
                let ours = self.kernel.list_policies()?.iter().any(|p| {
                    p.policy.id() == id
                        && p.policy
                            .templates
                            .iter()
                            .any(|t| ownership::is_owned_reqid(t.reqid))
                });
                if !ours {
                    return Err(rswan_xfrm::Error::Kernel(k));
                }
                tracing::info!(
                    "policy {} -> {} ({:?}) left from an earlier run: replaced",
                    policy.selector.src,
                    policy.selector.dst,
                    policy.direction
                );
                self.kernel.update_policy(policy)
            }
            r => r,
        }
    }

    /// Removes every SA and policy of rswan's in the kernel (its reqid range), whoever of us
    /// installed it: at start, what a killed rswand left behind would otherwise block its own
    /// policies (EEXIST) and outlive a later clean stop.
    pub fn recover(&mut self) -> Result<rswan_xfrm::FlushReport, rswan_xfrm::Error> {
        self.kernel.flush_owned()
    }

    /// Performs one core operation; the typed error goes back to the core as the op's result.
    pub fn apply(&mut self, op: &CoreOp) -> Result<(), CoreError> {
        match op {
            CoreOp::AddSa(spec) => {
                let mut sa = sa_from_spec(spec, self.reqid(spec.reqid)).map_err(refused)?;
                if spec.direction == CoreDir::Out {
                    sa.acquire_seq = self.acquires.remove(&sa.reqid);
                }
                self.kernel.add_sa(&sa).map_err(core_error)?;
                self.sas.insert(sa.id());
                Ok(())
            }
            CoreOp::DeleteSa { dst, spi, .. } => {
                let id = SaId {
                    dst: *dst,
                    spi: *spi,
                    mark: None,
                };
                let r = self.kernel.delete_sa(&id).map_err(core_error);
                self.sas.remove(&id);
                r
            }
            CoreOp::AddPolicy(p) => {
                let policies = policies_from_spec(p, self.reqid(p.reqid)).map_err(refused)?;
                let mut ids = Vec::new();
                for pol in &policies {
                    let trap = self.traps.get_mut(&pol.id()).filter(|t| !t.superseded);
                    let r = match trap {
                        Some(t) => {
                            t.superseded = true;
                            self.kernel.update_policy(pol)
                        }
                        None => self.add_or_adopt_policy(pol),
                    };
                    if let Err(e) = r {
                        // Roll back the part that went in: a half-installed policy set would
                        // tunnel some of the traffic selectors and leak the rest.
                        for id in &ids {
                            let _ = self.kernel.delete_policy(id);
                        }
                        return Err(core_error(e));
                    }
                    ids.push(pol.id());
                }
                self.policies
                    .insert((p.src, p.dst, direction(p.direction)), ids);
                Ok(())
            }
            CoreOp::DeletePolicy {
                src,
                dst,
                direction,
            } => {
                let key = (*src, *dst, self::direction(*direction));
                let ids = match self.policies.remove(&key) {
                    Some(ids) => ids,
                    None => policy_ids(src, dst, *direction).map_err(refused)?,
                };
                let mut first_err = None;
                for id in &ids {
                    let r = match self.traps.get_mut(id) {
                        Some(t) if t.superseded => {
                            t.superseded = false;
                            self.kernel.update_policy(&t.policy)
                        }
                        _ => self.kernel.delete_policy(id),
                    };
                    if let Err(e) = r {
                        first_err.get_or_insert(core_error(e));
                    }
                }
                first_err.map_or(Ok(()), Err)
            }
        }
    }

    /// Whether the SA `dst`/`spi` is one of ours (kernel notifications cover every SA).
    pub fn owns_sa(&self, dst: IpAddr, spi: u32) -> bool {
        self.sas.contains(&SaId {
            dst,
            spi,
            mark: None,
        })
    }

    /// Counters of one installed SA.
    pub fn counters(&mut self, dst: IpAddr, spi: u32) -> Option<SaCounters> {
        self.kernel
            .get_sa_counters(&SaId {
                dst,
                spi,
                mark: None,
            })
            .ok()
    }

    /// Removes every SA and policy this bridge installed (shutdown, after the DELETEs went out).
    pub fn remove_all(&mut self) -> Cleanup {
        let mut c = Cleanup::default();
        for (_, ids) in self.policies.drain() {
            for id in ids {
                match self.kernel.delete_policy(&id) {
                    Ok(()) => c.policies += 1,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not remove policy {:?}", id.selector);
                        c.failures += 1
                    }
                }
            }
        }
        for (id, t) in self.traps.drain() {
            if t.superseded {
                continue; // removed above as the negotiated policy that replaced it
            }
            match self.kernel.delete_policy(&id) {
                Ok(()) => c.policies += 1,
                Err(e) => {
                    tracing::warn!(error = %e, "could not remove trap policy {:?}", id.selector);
                    c.failures += 1
                }
            }
        }
        for id in self.sas.drain() {
            match self.kernel.delete_sa(&id) {
                Ok(()) => c.sas += 1,
                Err(e) => {
                    tracing::warn!(error = %e, spi = format_args!("{:08x}", id.spi), "could not remove SA");
                    c.failures += 1
                }
            }
        }
        c
    }
}

fn mode(m: CoreMode) -> Mode {
    match m {
        CoreMode::Tunnel => Mode::Tunnel,
        CoreMode::Transport => Mode::Transport,
    }
}

fn direction(d: CoreDir) -> Direction {
    match d {
        CoreDir::In => Direction::In,
        CoreDir::Out => Direction::Out,
        CoreDir::Fwd => Direction::Fwd,
    }
}

fn limits(time: std::time::Duration, bytes: u64) -> Limits {
    Limits {
        seconds: (!time.is_zero()).then(|| time.as_secs().max(1)),
        bytes: (bytes != 0).then_some(bytes),
        packets: None,
    }
}

fn lifetimes(l: &Lifetime) -> Lifetimes {
    Lifetimes {
        soft: limits(l.soft_time, l.soft_bytes),
        hard: limits(l.hard_time, l.hard_bytes),
    }
}

fn crypto(spec: &SaSpec) -> Result<Crypto, String> {
    let e = &spec.encr;
    let aead = match e.alg {
        EncrId::AES_GCM_16 | EncrId::AES_GCM_12 | EncrId::AES_GCM_8 => Some(AeadAlg::AesGcm),
        EncrId::AES_CCM_16 | EncrId::AES_CCM_12 | EncrId::AES_CCM_8 => Some(AeadAlg::AesCcm),
        EncrId::CHACHA20_POLY1305 => Some(AeadAlg::ChaCha20Poly1305),
        _ => None,
    };
    if let Some(alg) = aead {
        let icv_bits = match (e.icv_bits, e.alg) {
            (Some(b), _) => u32::from(b),
            (None, EncrId::AES_GCM_8 | EncrId::AES_CCM_8) => 64,
            (None, EncrId::AES_GCM_12 | EncrId::AES_CCM_12) => 96,
            (None, _) => 128,
        };
        return Ok(Crypto::Aead {
            alg,
            key: Key::from_slice(&e.key),
            icv_bits,
        });
    }
    let enc = match e.alg {
        EncrId::AES_CBC => EncAlg::AesCbc,
        EncrId::AES_CTR => EncAlg::AesCtr,
        EncrId::NULL => EncAlg::Null,
        other => {
            return Err(format!(
                "encryption {other} cannot be installed in the kernel"
            ))
        }
    };
    let integ = spec
        .integ
        .as_ref()
        .ok_or_else(|| format!("{} without integrity algorithm", e.alg))?;
    let auth = match integ.alg {
        IntegId::HMAC_SHA1_96 => AuthAlg::HmacSha1,
        IntegId::HMAC_SHA2_256_128 => AuthAlg::HmacSha256,
        IntegId::HMAC_SHA2_384_192 => AuthAlg::HmacSha384,
        IntegId::HMAC_SHA2_512_256 => AuthAlg::HmacSha512,
        IntegId::AES_XCBC_96 => AuthAlg::AesXcbc,
        other => {
            return Err(format!(
                "integrity {other} cannot be installed in the kernel"
            ))
        }
    };
    Ok(Crypto::EncAuth {
        enc,
        enc_key: Key::from_slice(&e.key),
        auth,
        auth_key: Key::from_slice(&integ.key),
    })
}

/// rswan-xfrm's error as the core's typed kernel error: the errno class for the core and diagnose,
/// xfrm's full sentence for people. The conversion lives here, in the one place that knows both
/// crates: rswan-ike stays free of netlink, and rswan-xfrm needs no knowledge of the protocol
/// cores for the sake of one function.
fn core_error(e: rswan_xfrm::Error) -> CoreError {
    let kind = match &e {
        rswan_xfrm::Error::Kernel(k) => errno_kind(k.errno, sa_op(k.op)),
        rswan_xfrm::Error::Invalid(_) => KernelErrorKind::Invalid,
        rswan_xfrm::Error::Io(io) => io
            .raw_os_error()
            .map_or(KernelErrorKind::Other(0), |n| errno_kind(n, false)),
        rswan_xfrm::Error::Decode(_) | rswan_xfrm::Error::Protocol(_) => KernelErrorKind::Other(0),
    };
    CoreError::new(kind, e.to_string())
}

fn sa_op(op: rswan_xfrm::Operation) -> bool {
    use rswan_xfrm::Operation;
    matches!(
        op,
        Operation::AddSa | Operation::UpdateSa | Operation::AllocSpi
    )
}

/// ENOENT adding an SA means the kernel could not load an algorithm's crypto module; elsewhere it
/// means no such SA or policy.
fn errno_kind(errno: i32, sa_op: bool) -> KernelErrorKind {
    match errno {
        libc::EPROTONOSUPPORT | libc::ENOSYS | libc::EAFNOSUPPORT => KernelErrorKind::NotSupported,
        libc::ENOENT if sa_op => KernelErrorKind::NotSupported,
        libc::ENOENT | libc::ESRCH => KernelErrorKind::NotFound,
        libc::EEXIST => KernelErrorKind::Exists,
        libc::ENOBUFS | libc::ENOMEM => KernelErrorKind::NoBuffer,
        libc::EPERM | libc::EACCES => KernelErrorKind::Permission,
        libc::EINVAL => KernelErrorKind::Invalid,
        n => KernelErrorKind::Other(n),
    }
}

/// A core spec this bridge cannot express as XFRM state: refused before the kernel.
fn refused(why: String) -> CoreError {
    CoreError::new(KernelErrorKind::Invalid, why)
}

fn sa_from_spec(spec: &SaSpec, reqid: u32) -> Result<Sa, String> {
    let selector = match &spec.selector {
        Some((s, d)) => {
            let sels = selectors(s, d)?;
            match sels.as_slice() {
                [one] => Some(*one),
                _ => {
                    return Err(format!(
                        "SA selector {s} === {d} is not a single prefix pair"
                    ))
                }
            }
        }
        None => None,
    };
    Ok(Sa {
        src: spec.src,
        dst: spec.dst,
        spi: spec.spi,
        reqid,
        mode: mode(spec.mode),
        crypto: crypto(spec)?,
        replay_window: spec.replay_window,
        esn: spec.esn,
        encap: spec.encap.map(|e| UdpEncap {
            src_port: e.sport,
            dst_port: e.dport,
            original_address: None,
        }),
        lifetimes: lifetimes(&spec.lifetime),
        if_id: None,
        mark: None,
        selector,
        acquire_seq: None,
    })
}

/// A traffic-selector pair as kernel selectors: the kernel matches prefixes and single ports, so a
/// range becomes several prefixes; a port range other than one port or all ports is refused.
fn selectors(src: &TrafficSelector, dst: &TrafficSelector) -> Result<Vec<Selector>, String> {
    if src.ip_proto() != dst.ip_proto() && src.ip_proto() != 0 && dst.ip_proto() != 0 {
        return Err(format!(
            "selectors {src} and {dst} name different protocols"
        ));
    }
    let proto = match src.ip_proto().max(dst.ip_proto()) {
        0 => None,
        p => Some(p),
    };
    let port = |ts: &TrafficSelector| match (ts.start_port(), ts.end_port()) {
        (0, u16::MAX) => Ok(None),
        (a, b) if a == b => Ok(Some(a)),
        (a, b) => Err(format!(
            "port range {a}-{b} in {ts} cannot be expressed as a kernel policy"
        )),
    };
    let (sp, dp) = (port(src)?, port(dst)?);
    let mut out = Vec::new();
    for (sa, sl) in src.to_prefixes() {
        for (da, dl) in dst.to_prefixes() {
            out.push(Selector {
                src: Prefix::new(sa, sl),
                dst: Prefix::new(da, dl),
                proto,
                src_port: sp,
                dst_port: dp,
            });
        }
    }
    Ok(out)
}

/// Lower value wins in the kernel: more specific selectors must take precedence.
fn priority(sel: &Selector) -> u32 {
    let specificity = u32::from(sel.src.len) + u32::from(sel.dst.len);
    let extras = u32::from(sel.proto.is_some())
        + u32::from(sel.src_port.is_some())
        + u32::from(sel.dst_port.is_some());
    200_000 - specificity * 8 - extras
}

fn policies_from_spec(p: &PolicySpec, reqid: u32) -> Result<Vec<Policy>, String> {
    let tmpl = Template {
        mode: mode(p.mode),
        endpoints: match p.mode {
            CoreMode::Tunnel => Some((p.tmpl_src, p.tmpl_dst)),
            CoreMode::Transport => None,
        },
        reqid,
        optional: false,
    };
    Ok(selectors(&p.src, &p.dst)?
        .into_iter()
        .map(|selector| Policy {
            selector,
            direction: direction(p.direction),
            priority: priority(&selector),
            action: rswan_xfrm::Action::Allow,
            templates: vec![tmpl],
            if_id: None,
            mark: None,
        })
        .collect())
}

fn policy_ids(
    src: &TrafficSelector,
    dst: &TrafficSelector,
    d: CoreDir,
) -> Result<Vec<PolicyId>, String> {
    Ok(selectors(src, dst)?
        .into_iter()
        .map(|selector| PolicyId {
            selector,
            direction: direction(d),
            mark: None,
            if_id: None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rswan_ikev2::output::{EncrSpec, UdpEncap as CoreEncap};
    use rswan_xfrm::Recorder;
    use std::time::Duration;
    use zeroize::Zeroizing;

    fn ts(cidr: &str) -> TrafficSelector {
        let (a, p) = cidr.split_once('/').unwrap();
        TrafficSelector::from_cidr(a.parse().unwrap(), p.parse().unwrap()).unwrap()
    }

    fn gcm_sa(spi: u32) -> SaSpec {
        SaSpec {
            src: "192.0.2.1".parse().unwrap(),
            dst: "192.0.2.2".parse().unwrap(),
            spi,
            reqid: 1,
            direction: CoreDir::Out,
            mode: CoreMode::Tunnel,
            encr: EncrSpec {
                alg: EncrId::AES_GCM_16,
                key_bits: 256,
                icv_bits: Some(128),
                key: Zeroizing::new(vec![7; 36]),
            },
            integ: None,
            esn: false,
            replay_window: 32,
            encap: Some(CoreEncap {
                sport: 4500,
                dport: 4500,
            }),
            lifetime: Lifetime {
                soft_time: Duration::from_secs(3600),
                hard_time: Duration::from_secs(3960),
                soft_bytes: 0,
                hard_bytes: 0,
            },
            selector: None,
        }
    }

    fn policy(dir: CoreDir) -> PolicySpec {
        PolicySpec {
            src: ts("10.1.0.0/24"),
            dst: ts("10.2.0.0/24"),
            direction: dir,
            reqid: 1,
            mode: CoreMode::Tunnel,
            tmpl_src: "192.0.2.1".parse().unwrap(),
            tmpl_dst: "192.0.2.2".parse().unwrap(),
        }
    }

    #[test]
    fn gcm_sa_is_installed_with_owned_reqid_encap_and_lifetimes() {
        let mut b = KernelBridge::new(Recorder::new());
        b.apply(&CoreOp::AddSa(gcm_sa(0xc000_0001))).unwrap();
        let id = SaId {
            dst: "192.0.2.2".parse().unwrap(),
            spi: 0xc000_0001,
            mark: None,
        };
        let sa = b.kernel_mut().sa(&id).expect("SA in kernel").clone();
        assert!(ownership::is_owned_reqid(sa.reqid));
        assert_eq!(sa.reqid, kernel_reqid(1));
        assert!(matches!(
            sa.crypto,
            Crypto::Aead {
                alg: AeadAlg::AesGcm,
                icv_bits: 128,
                ..
            }
        ));
        assert_eq!(
            sa.encap.map(|e| (e.src_port, e.dst_port)),
            Some((4500, 4500))
        );
        assert_eq!(sa.lifetimes.soft.seconds, Some(3600));
        assert_eq!(sa.lifetimes.hard.seconds, Some(3960));
        assert_eq!(sa.lifetimes.hard.bytes, None, "0 means unlimited");
    }

    #[test]
    fn cbc_needs_and_maps_integrity() {
        let mut spec = gcm_sa(0x1234);
        spec.encr = EncrSpec {
            alg: EncrId::AES_CBC,
            key_bits: 128,
            icv_bits: None,
            key: Zeroizing::new(vec![1; 16]),
        };
        assert!(sa_from_spec(&spec, kernel_reqid(spec.reqid))
            .unwrap_err()
            .contains("without integrity"));
        spec.integ = Some(rswan_ikev2::output::IntegSpec {
            alg: IntegId::HMAC_SHA2_256_128,
            key: Zeroizing::new(vec![2; 32]),
        });
        let sa = sa_from_spec(&spec, kernel_reqid(spec.reqid)).unwrap();
        assert!(matches!(
            sa.crypto,
            Crypto::EncAuth {
                enc: EncAlg::AesCbc,
                auth: AuthAlg::HmacSha256,
                ..
            }
        ));
    }

    #[test]
    fn shutdown_removes_exactly_what_was_installed() {
        let mut b = KernelBridge::new(Recorder::new());
        // Something that is not ours, already in the kernel.
        let foreign = policies_from_spec(
            &PolicySpec {
                src: ts("10.9.0.0/24"),
                ..policy(CoreDir::Out)
            },
            kernel_reqid(1),
        )
        .unwrap();
        b.kernel_mut().add_policy(&foreign[0]).unwrap();
        for d in [CoreDir::Out, CoreDir::In, CoreDir::Fwd] {
            b.apply(&CoreOp::AddPolicy(policy(d))).unwrap();
        }
        b.apply(&CoreOp::AddSa(gcm_sa(0x1001))).unwrap();
        b.apply(&CoreOp::AddSa(gcm_sa(0x1002))).unwrap();
        b.apply(&CoreOp::DeleteSa {
            src: "192.0.2.1".parse().unwrap(),
            dst: "192.0.2.2".parse().unwrap(),
            spi: 0x1002,
        })
        .unwrap();
        assert_eq!(b.installed(), (1, 3));
        assert_eq!(b.kernel_mut().policy_count(), 4);
        let c = b.remove_all();
        assert_eq!(
            c,
            Cleanup {
                sas: 1,
                policies: 3,
                failures: 0
            }
        );
        assert_eq!(b.kernel_mut().sa_count(), 0);
        assert_eq!(b.kernel_mut().policy_count(), 1, "the foreign policy stays");
        assert_eq!(b.installed(), (0, 0));
    }

    #[test]
    fn trap_is_replaced_by_the_negotiated_policy_and_comes_back() {
        let mut b = KernelBridge::new(Recorder::new());
        let trap = PolicySpec {
            reqid: 0xf000,
            ..policy(CoreDir::Out)
        };
        assert!(b.set_traps(std::slice::from_ref(&trap)).is_empty());
        let id = policy_ids(&trap.src, &trap.dst, CoreDir::Out).unwrap()[0];
        let reqid_now =
            |b: &mut KernelBridge<Recorder>| b.kernel_mut().policy(&id).unwrap().templates[0].reqid;
        assert_eq!(reqid_now(&mut b), kernel_reqid(0xf000));
        // The negotiated Child SA's outbound policy takes the trap's place (no EEXIST) ...
        b.apply(&CoreOp::AddPolicy(policy(CoreDir::Out))).unwrap();
        assert_eq!(reqid_now(&mut b), kernel_reqid(1));
        assert_eq!(b.kernel_mut().policy_count(), 1);
        // ... and when it is deleted, the trap is back.
        b.apply(&CoreOp::DeletePolicy {
            src: trap.src,
            dst: trap.dst,
            direction: CoreDir::Out,
        })
        .unwrap();
        assert_eq!(reqid_now(&mut b), kernel_reqid(0xf000));
        // Reload without the trap removes it; shutdown leaves nothing.
        assert!(b.set_traps(&[]).is_empty());
        assert_eq!(b.kernel_mut().policy_count(), 0);
        b.set_traps(&[trap]);
        b.apply(&CoreOp::AddPolicy(policy(CoreDir::Out))).unwrap();
        assert_eq!(
            b.remove_all(),
            Cleanup {
                sas: 0,
                policies: 1,
                failures: 0
            }
        );
        assert_eq!(b.kernel_mut().policy_count(), 0);
    }

    #[test]
    fn trap_added_under_a_live_child_takes_over_when_its_policies_go() {
        // close_action=trap: the trap is installed while the Child SA's policies are still in,
        // so that deleting them puts the trap in place without a gap.
        let mut b = KernelBridge::new(Recorder::new());
        for d in [CoreDir::Out, CoreDir::In, CoreDir::Fwd] {
            b.apply(&CoreOp::AddPolicy(policy(d))).unwrap();
        }
        let trap = PolicySpec {
            reqid: 0xf000,
            ..policy(CoreDir::Out)
        };
        assert!(b.set_traps(std::slice::from_ref(&trap)).is_empty());
        assert_eq!(
            b.kernel_mut().policy_count(),
            3,
            "no second policy for the selector"
        );
        for d in [CoreDir::Out, CoreDir::In, CoreDir::Fwd] {
            b.apply(&CoreOp::DeletePolicy {
                src: trap.src,
                dst: trap.dst,
                direction: d,
            })
            .unwrap();
        }
        assert_eq!(b.kernel_mut().policy_count(), 1);
        let id = policy_ids(&trap.src, &trap.dst, CoreDir::Out).unwrap()[0];
        let reqid = b.kernel_mut().policy(&id).unwrap().templates[0].reqid;
        assert_eq!(reqid, kernel_reqid(0xf000));
    }

    #[test]
    fn trapped_child_takes_the_trap_reqid_and_answers_the_acquire() {
        let mut b = KernelBridge::new(Recorder::new());
        let trap = PolicySpec {
            reqid: 0xf000,
            ..policy(CoreDir::Out)
        };
        b.set_traps(std::slice::from_ref(&trap));
        let trap_reqid = kernel_reqid(0xf000);
        b.note_acquire(trap_reqid, 77);
        b.alias_reqid(1, trap_reqid);
        let mut sa_in = gcm_sa(0x2001);
        sa_in.direction = CoreDir::In;
        (sa_in.src, sa_in.dst) = (sa_in.dst, sa_in.src);
        b.apply(&CoreOp::AddSa(sa_in)).unwrap();
        b.apply(&CoreOp::AddSa(gcm_sa(0x2002))).unwrap();
        b.apply(&CoreOp::AddPolicy(policy(CoreDir::Out))).unwrap();
        let get = |b: &mut KernelBridge<Recorder>, dst: &str, spi| {
            b.kernel_mut()
                .sa(&SaId {
                    dst: dst.parse().unwrap(),
                    spi,
                    mark: None,
                })
                .unwrap()
                .clone()
        };
        let (sin, sout) = (
            get(&mut b, "192.0.2.1", 0x2001),
            get(&mut b, "192.0.2.2", 0x2002),
        );
        assert_eq!((sin.reqid, sout.reqid), (trap_reqid, trap_reqid));
        assert_eq!(
            sin.acquire_seq, None,
            "only the outbound SA answers the ACQUIRE"
        );
        assert_eq!(sout.acquire_seq, Some(77));
        let id = policy_ids(&trap.src, &trap.dst, CoreDir::Out).unwrap()[0];
        let pol = b.kernel_mut().policy(&id).unwrap().clone();
        assert_eq!(pol.templates[0].reqid, trap_reqid);
        // The seq is used once: a rekeyed outbound SA carries none.
        b.apply(&CoreOp::AddSa(gcm_sa(0x2003))).unwrap();
        assert_eq!(get(&mut b, "192.0.2.2", 0x2003).acquire_seq, None);
        // Without the alias, the core's own reqid maps into the owned range as before.
        b.unalias_reqid(1);
        assert_eq!(b.reqid(1), kernel_reqid(1));
    }

    #[test]
    fn ranges_become_several_prefix_policies_and_specific_ones_win() {
        let src = TrafficSelector::new(
            0,
            (0, u16::MAX),
            "10.1.0.0".parse().unwrap(),
            "10.1.1.255".parse().unwrap(),
        )
        .unwrap();
        let p = PolicySpec {
            src,
            ..policy(CoreDir::Out)
        };
        let pols = policies_from_spec(&p, kernel_reqid(1)).unwrap();
        assert_eq!(pols.len(), 1, "10.1.0.0-10.1.1.255 is 10.1.0.0/23");
        let wide = policies_from_spec(
            &PolicySpec {
                dst: ts("0.0.0.0/0"),
                ..policy(CoreDir::Out)
            },
            kernel_reqid(1),
        )
        .unwrap();
        assert!(pols[0].priority < wide[0].priority);
        let mut b = KernelBridge::new(Recorder::new());
        b.apply(&CoreOp::AddPolicy(policy(CoreDir::Out))).unwrap();
        b.apply(&CoreOp::DeletePolicy {
            src: ts("10.1.0.0/24"),
            dst: ts("10.2.0.0/24"),
            direction: CoreDir::Out,
        })
        .unwrap();
        assert_eq!(b.kernel_mut().policy_count(), 0);
    }

    #[test]
    fn a_policy_left_by_a_killed_daemon_is_replaced_not_refused() {
        // What a SIGKILLed rswand leaves: our policy on the selector, unknown to this bridge.
        let mut b = KernelBridge::new(Recorder::new());
        let left = policies_from_spec(&policy(CoreDir::Out), kernel_reqid(7)).unwrap();
        b.kernel_mut().add_policy(&left[0]).unwrap();
        b.apply(&CoreOp::AddPolicy(policy(CoreDir::Out))).unwrap();
        let id = left[0].id();
        assert_eq!(b.kernel_mut().policy_count(), 1);
        assert_eq!(
            b.kernel_mut().policy(&id).unwrap().templates[0].reqid,
            kernel_reqid(1),
            "the leftover was replaced by the new policy"
        );
        // ...and a clean stop removes it, although this bridge never added it.
        assert_eq!(b.remove_all().policies, 1);
        assert_eq!(b.kernel_mut().policy_count(), 0);
    }

    #[test]
    fn kernel_errors_reach_the_core_with_their_errno_class() {
        use rswan_xfrm::{KernelError as XfrmError, Operation};
        let err = |op, errno| {
            core_error(rswan_xfrm::Error::Kernel(XfrmError {
                op,
                errno,
                kernel_message: None,
            }))
        };
        let no_esp = err(Operation::AddSa, libc::EPROTONOSUPPORT);
        assert_eq!(no_esp.kind, KernelErrorKind::NotSupported);
        assert!(no_esp.to_string().contains("no ESP support"), "{no_esp}");
        assert_eq!(
            err(Operation::AddSa, libc::ENOENT).kind,
            KernelErrorKind::NotSupported
        );
        assert_eq!(
            err(Operation::DeleteSa, libc::ENOENT).kind,
            KernelErrorKind::NotFound
        );
        assert_eq!(
            err(Operation::AddPolicy, libc::EEXIST).kind,
            KernelErrorKind::Exists
        );
        assert_eq!(
            err(Operation::AddSa, libc::EPERM).kind,
            KernelErrorKind::Permission
        );
        assert_eq!(
            err(Operation::AddSa, libc::EIO).kind,
            KernelErrorKind::Other(libc::EIO)
        );
    }

    #[test]
    fn a_foreign_policy_on_the_selector_still_refuses_the_add() {
        // A template-less (bypass) policy carries no reqid of ours: not ours to replace.
        let mut b = KernelBridge::new(Recorder::new());
        let mut foreign = policies_from_spec(&policy(CoreDir::Out), kernel_reqid(1)).unwrap();
        foreign[0].templates.clear();
        b.kernel_mut().add_policy(&foreign[0]).unwrap();
        let e = b
            .apply(&CoreOp::AddPolicy(policy(CoreDir::Out)))
            .unwrap_err();
        assert!(e.to_string().contains("exists"), "{e}");
        assert!(b
            .kernel_mut()
            .policy(&foreign[0].id())
            .unwrap()
            .templates
            .is_empty());
    }

    #[test]
    fn recovery_removes_what_an_earlier_run_left() {
        let mut earlier = KernelBridge::new(Recorder::new());
        for d in [CoreDir::Out, CoreDir::In, CoreDir::Fwd] {
            earlier.apply(&CoreOp::AddPolicy(policy(d))).unwrap();
        }
        earlier.apply(&CoreOp::AddSa(gcm_sa(0x3001))).unwrap();
        // The process dies: its bookkeeping is lost, the kernel state is not.
        let mut b = KernelBridge::new(std::mem::take(earlier.kernel_mut()));
        assert_eq!(b.installed(), (0, 0));
        let r = b.recover().unwrap();
        assert_eq!((r.sas, r.policies), (1, 3));
        assert_eq!(b.kernel_mut().sa_count(), 0);
        assert_eq!(b.kernel_mut().policy_count(), 0);
    }
}
