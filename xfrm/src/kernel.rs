//! The `Kernel` trait: everything rswan asks of the XFRM stack.

use crate::decode::{InstalledPolicy, SaCounters, SaState};
use crate::error::Error;
use crate::model::{Policy, PolicyId, Sa, SaId, SpiRequest};

/// One change to kernel state, for [`Kernel::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelOp {
    AddSa(Sa),
    UpdateSa(Sa),
    DeleteSa(SaId),
    AddPolicy(Policy),
    UpdatePolicy(Policy),
    DeletePolicy(PolicyId),
}

/// What `flush_owned` removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlushReport {
    pub sas: usize,
    pub policies: usize,
}

/// Access to the kernel's SA and policy databases.
///
/// All requests are validated before anything is sent; a validation failure is
/// `Error::Invalid` and the kernel never sees the request.
pub trait Kernel {
    /// Reserves a fresh SPI for an inbound SA. The kernel holds a larval SA under it, so the
    /// real SA must then be installed with [`Kernel::update_sa`], not `add_sa`.
    fn alloc_spi(&mut self, req: &SpiRequest) -> Result<u32, Error>;
    /// Installs a new SA; fails if one with the same id exists.
    fn add_sa(&mut self, sa: &Sa) -> Result<(), Error>;
    /// Replaces an SA (or a larval SA from `alloc_spi`).
    fn update_sa(&mut self, sa: &Sa) -> Result<(), Error>;
    fn delete_sa(&mut self, id: &SaId) -> Result<(), Error>;
    /// Byte/packet counters and use times of one SA.
    fn get_sa_counters(&mut self, id: &SaId) -> Result<SaCounters, Error>;
    /// Every SA in the kernel (rswan's and others'), without keys.
    fn list_sas(&mut self) -> Result<Vec<SaState>, Error>;
    fn add_policy(&mut self, policy: &Policy) -> Result<(), Error>;
    fn update_policy(&mut self, policy: &Policy) -> Result<(), Error>;
    fn delete_policy(&mut self, id: &PolicyId) -> Result<(), Error>;
    /// Every policy in the kernel's main SPD (rswan's and others'); per-socket policies are
    /// left out.
    fn list_policies(&mut self) -> Result<Vec<InstalledPolicy>, Error>;
    /// Deletes rswan's SAs and policies and nothing else (see [`crate::ownership`]).
    fn flush_owned(&mut self) -> Result<FlushReport, Error>;

    /// Applies many changes; one result per op, in order. A failed op does not stop the others.
    /// The netlink implementation pipelines them (many requests per system call).
    fn apply(&mut self, ops: &[KernelOp]) -> Vec<Result<(), Error>> {
        ops.iter()
            .map(|op| match op {
                KernelOp::AddSa(sa) => self.add_sa(sa),
                KernelOp::UpdateSa(sa) => self.update_sa(sa),
                KernelOp::DeleteSa(id) => self.delete_sa(id),
                KernelOp::AddPolicy(p) => self.add_policy(p),
                KernelOp::UpdatePolicy(p) => self.update_policy(p),
                KernelOp::DeletePolicy(id) => self.delete_policy(id),
            })
            .collect()
    }
}
