//! `Recorder`: an in-memory `Kernel` for unit tests of callers.
//!
//! It keeps SAs and policies the way the kernel keys them, answers duplicates and misses with
//! the same errnos, validates exactly like `NetlinkKernel`, and logs every call.

use std::collections::BTreeMap;
use std::collections::HashMap;

use crate::decode::{InstalledPolicy, SaCounters, SaState};
use crate::error::{Error, KernelError, Operation};
use crate::kernel::{FlushReport, Kernel};
use crate::model::{Policy, PolicyId, Sa, SaId, SpiRequest};
use crate::ownership::is_owned_reqid;

/// One call made on the recorder, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    AllocSpi(SpiRequest),
    AddSa(SaId),
    UpdateSa(SaId),
    DeleteSa(SaId),
    GetSaCounters(SaId),
    ListSas,
    AddPolicy(PolicyId),
    UpdatePolicy(PolicyId),
    DeletePolicy(PolicyId),
    ListPolicies,
    FlushOwned,
}

/// An SA slot: a full SA, or a larval one reserved by `alloc_spi`.
#[derive(Debug, Clone)]
enum Slot {
    Larval { src: std::net::IpAddr, reqid: u32 },
    Full(Box<Sa>),
}

#[derive(Debug, Default)]
pub struct Recorder {
    pub calls: Vec<Call>,
    sas: BTreeMap<(String, u32), (SaId, Slot, SaCounters)>,
    policies: HashMap<PolicyId, (Policy, u32)>,
    next_spi: u32,
    next_index: u32,
    /// Errors to return instead of performing the next matching operation (errno by op).
    fail_next: Vec<(Operation, i32)>,
}

fn key(id: &SaId) -> (String, u32) {
    (format!("{}|{:?}", id.dst, id.mark), id.spi)
}

fn kernel_err(op: Operation, errno: i32) -> Error {
    Error::Kernel(KernelError {
        op,
        errno,
        kernel_message: None,
    })
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            next_spi: 0xc000_0000,
            next_index: 8,
            ..Recorder::default()
        }
    }

    /// Makes the next call of `op` fail with `errno` (as the kernel would).
    pub fn fail_next(&mut self, op: Operation, errno: i32) {
        self.fail_next.push((op, errno));
    }

    /// Sets the counters `get_sa_counters` reports for an SA.
    pub fn set_counters(&mut self, id: &SaId, counters: SaCounters) -> bool {
        match self.sas.get_mut(&key(id)) {
            Some(entry) => {
                entry.2 = counters;
                true
            }
            None => false,
        }
    }

    /// The full SA installed under `id`, if any (larval SAs are not returned).
    pub fn sa(&self, id: &SaId) -> Option<&Sa> {
        match self.sas.get(&key(id)) {
            Some((_, Slot::Full(sa), _)) => Some(sa),
            _ => None,
        }
    }

    pub fn policy(&self, id: &PolicyId) -> Option<&Policy> {
        self.policies.get(id).map(|(p, _)| p)
    }

    pub fn sa_count(&self) -> usize {
        self.sas.len()
    }

    pub fn policy_count(&self) -> usize {
        self.policies.len()
    }

    fn injected(&mut self, op: Operation) -> Result<(), Error> {
        if let Some(pos) = self.fail_next.iter().position(|(o, _)| *o == op) {
            let (_, errno) = self.fail_next.remove(pos);
            return Err(kernel_err(op, errno));
        }
        Ok(())
    }

    fn put_sa(&mut self, sa: &Sa, update: bool) -> Result<(), Error> {
        let op = if update {
            Operation::UpdateSa
        } else {
            Operation::AddSa
        };
        sa.validate()?;
        self.injected(op)?;
        let id = sa.id();
        let k = key(&id);
        let exists = self.sas.contains_key(&k);
        if !update && exists {
            return Err(kernel_err(op, libc::EEXIST));
        }
        if update && !exists {
            return Err(kernel_err(op, libc::ESRCH));
        }
        self.sas.insert(
            k,
            (id, Slot::Full(Box::new(sa.clone())), SaCounters::default()),
        );
        Ok(())
    }

    fn put_policy(&mut self, p: &Policy, update: bool) -> Result<(), Error> {
        let op = if update {
            Operation::UpdatePolicy
        } else {
            Operation::AddPolicy
        };
        p.validate()?;
        self.injected(op)?;
        let id = p.id();
        let index = match self.policies.get(&id) {
            Some(_) if !update => return Err(kernel_err(op, libc::EEXIST)),
            Some((_, index)) => *index,
            None => {
                self.next_index += 8;
                self.next_index
            }
        };
        self.policies.insert(id, (p.clone(), index));
        Ok(())
    }
}

impl Kernel for Recorder {
    fn alloc_spi(&mut self, req: &SpiRequest) -> Result<u32, Error> {
        self.calls.push(Call::AllocSpi(*req));
        req.validate()?;
        self.injected(Operation::AllocSpi)?;
        let (lo, hi) = req.range.unwrap_or((256, u32::MAX));
        let spi = self.next_spi.clamp(lo, hi);
        self.next_spi = self.next_spi.wrapping_add(1);
        let id = SaId {
            dst: req.dst,
            spi,
            mark: req.mark,
        };
        self.sas.insert(
            key(&id),
            (
                id,
                Slot::Larval {
                    src: req.src,
                    reqid: req.reqid,
                },
                SaCounters::default(),
            ),
        );
        Ok(spi)
    }

    fn add_sa(&mut self, sa: &Sa) -> Result<(), Error> {
        self.calls.push(Call::AddSa(sa.id()));
        self.put_sa(sa, false)
    }

    fn update_sa(&mut self, sa: &Sa) -> Result<(), Error> {
        self.calls.push(Call::UpdateSa(sa.id()));
        self.put_sa(sa, true)
    }

    fn delete_sa(&mut self, id: &SaId) -> Result<(), Error> {
        self.calls.push(Call::DeleteSa(*id));
        self.injected(Operation::DeleteSa)?;
        match self.sas.remove(&key(id)) {
            Some(_) => Ok(()),
            None => Err(kernel_err(Operation::DeleteSa, libc::ESRCH)),
        }
    }

    fn get_sa_counters(&mut self, id: &SaId) -> Result<SaCounters, Error> {
        self.calls.push(Call::GetSaCounters(*id));
        self.injected(Operation::GetSa)?;
        match self.sas.get(&key(id)) {
            Some((_, _, c)) => Ok(*c),
            None => Err(kernel_err(Operation::GetSa, libc::ESRCH)),
        }
    }

    fn list_sas(&mut self) -> Result<Vec<SaState>, Error> {
        self.calls.push(Call::ListSas);
        self.injected(Operation::ListSas)?;
        Ok(self
            .sas
            .values()
            .map(|(id, slot, counters)| {
                let (src, reqid, mode, encap, if_id, selector) = match slot {
                    Slot::Larval { src, reqid } => (*src, *reqid, None, None, None, None),
                    Slot::Full(sa) => (
                        sa.src,
                        sa.reqid,
                        Some(sa.mode),
                        sa.encap,
                        sa.if_id,
                        sa.selector,
                    ),
                };
                SaState {
                    src,
                    dst: id.dst,
                    spi: id.spi,
                    proto: 50,
                    reqid,
                    mode,
                    selector,
                    encap,
                    mark: id.mark,
                    if_id,
                    algorithms: Vec::new(),
                    counters: *counters,
                }
            })
            .collect())
    }

    fn add_policy(&mut self, policy: &Policy) -> Result<(), Error> {
        self.calls.push(Call::AddPolicy(policy.id()));
        self.put_policy(policy, false)
    }

    fn update_policy(&mut self, policy: &Policy) -> Result<(), Error> {
        self.calls.push(Call::UpdatePolicy(policy.id()));
        self.put_policy(policy, true)
    }

    fn delete_policy(&mut self, id: &PolicyId) -> Result<(), Error> {
        self.calls.push(Call::DeletePolicy(*id));
        self.injected(Operation::DeletePolicy)?;
        match self.policies.remove(id) {
            Some(_) => Ok(()),
            None => Err(kernel_err(Operation::DeletePolicy, libc::ENOENT)),
        }
    }

    fn list_policies(&mut self) -> Result<Vec<InstalledPolicy>, Error> {
        self.calls.push(Call::ListPolicies);
        self.injected(Operation::ListPolicies)?;
        Ok(self
            .policies
            .values()
            .map(|(p, index)| InstalledPolicy {
                policy: p.clone(),
                index: *index,
                template_protos: p.templates.iter().map(|_| 50).collect(),
                last_used: None,
            })
            .collect())
    }

    fn flush_owned(&mut self) -> Result<FlushReport, Error> {
        self.calls.push(Call::FlushOwned);
        // Everything a Recorder holds went through validation, so all of it carries an owned
        // reqid or is a shunt added through this instance: all of it is rswan's.
        let before_sas = self.sas.len();
        self.sas.retain(|_, (_, slot, _)| match slot {
            Slot::Larval { reqid, .. } => !is_owned_reqid(*reqid),
            Slot::Full(sa) => !is_owned_reqid(sa.reqid),
        });
        let before_policies = self.policies.len();
        self.policies.clear();
        Ok(FlushReport {
            sas: before_sas - self.sas.len(),
            policies: before_policies,
        })
    }
}
