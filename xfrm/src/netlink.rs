//! `NetlinkKernel`: the `Kernel` trait over a blocking NETLINK_XFRM socket.
//!
//! Requests are pipelined: up to `BATCH_MSGS` messages go out in one `send` (the kernel walks
//! every message of a datagram and answers each), then the answers are matched to requests by
//! sequence number. The socket is private to one `NetlinkKernel`, so a blocking call never waits
//! behind another user; the daemon runs it on a dedicated thread or `spawn_blocking`.

use std::collections::HashSet;

use netlink_sys::{protocols::NETLINK_XFRM, Socket, SocketAddr};
use zeroize::Zeroize;

use crate::decode::{self, InstalledPolicy, SaCounters, SaState};
use crate::encode;
use crate::error::{DecodeError, Error, KernelError, Operation};
use crate::kernel::{FlushReport, Kernel, KernelOp};
use crate::model::{Mark, Policy, PolicyId, Sa, SaId, SpiRequest};
use crate::ownership::is_owned_reqid;

/// Most requests per datagram. Their answers (36-byte ACKs, or ~400-byte SA replies) must fit
/// the receive buffer together, which 256 of them do with a wide margin.
const BATCH_MSGS: usize = 256;
/// The kernel refuses datagrams larger than its send buffer (~200 KiB by default).
const BATCH_BYTES: usize = 96 * 1024;
/// Dump datagrams are at most 32 KiB; a larger buffer leaves room for future kernels.
const RECV_BUF: usize = 64 * 1024;
const SOCKET_RCVBUF: usize = 4 << 20;
const NLM_F_DUMP_INTR: u16 = 0x10;

/// A request in flight.
enum Req<'a> {
    Sa(&'a Sa, bool),
    DeleteSa(&'a SaId),
    GetSa(&'a SaId),
    AllocSpi(&'a SpiRequest),
    Policy(&'a Policy, bool),
    DeletePolicy(&'a PolicyId),
    DeletePolicyIndex {
        index: u32,
        direction: u8,
        mark: Option<Mark>,
        if_id: Option<u32>,
    },
    HashThresholds((u8, u8), (u8, u8)),
}

impl Req<'_> {
    fn op(&self) -> Operation {
        match self {
            Req::Sa(_, false) => Operation::AddSa,
            Req::Sa(_, true) => Operation::UpdateSa,
            Req::DeleteSa(_) => Operation::DeleteSa,
            Req::GetSa(_) => Operation::GetSa,
            Req::AllocSpi(_) => Operation::AllocSpi,
            Req::Policy(_, false) => Operation::AddPolicy,
            Req::Policy(_, true) => Operation::UpdatePolicy,
            Req::DeletePolicy(_) | Req::DeletePolicyIndex { .. } => Operation::DeletePolicy,
            Req::HashThresholds(..) => Operation::SetPolicyHashThresholds,
        }
    }

    fn encode(&self, buf: &mut Vec<u8>, seq: u32) {
        match self {
            Req::Sa(sa, update) => encode::sa(buf, seq, sa, *update),
            Req::DeleteSa(id) => encode::delete_sa(buf, seq, id),
            Req::GetSa(id) => encode::get_sa(buf, seq, id),
            Req::AllocSpi(r) => encode::alloc_spi(buf, seq, r),
            Req::Policy(p, update) => encode::policy(buf, seq, p, *update),
            Req::DeletePolicy(id) => encode::delete_policy(buf, seq, id),
            Req::DeletePolicyIndex {
                index,
                direction,
                mark,
                if_id,
            } => encode::delete_policy_by_index(buf, seq, *index, *direction, mark, *if_id),
            Req::HashThresholds(v4, v6) => encode::spd_hash_thresholds(buf, seq, *v4, *v6),
        }
    }
}

/// What one request got back.
enum Answer {
    Ack,
    Sa(Box<SaState>),
}

/// The real kernel, through NETLINK_XFRM.
pub struct NetlinkKernel {
    sock: Socket,
    seq: u32,
    send_buf: Vec<u8>,
    recv_buf: Vec<u8>,
    /// Template-less policies added through this instance (they carry no reqid to own them by).
    shunts: HashSet<PolicyId>,
}

impl NetlinkKernel {
    /// Opens a NETLINK_XFRM socket in the current network namespace.
    pub fn open() -> Result<NetlinkKernel, Error> {
        let mut sock = Socket::new(NETLINK_XFRM)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        // Extended ACKs carry the kernel's own sentence ("Requested AEAD algorithm not found");
        // capped ACKs keep error answers from echoing whole requests (and their keys) back.
        // Kernels without these options still work, with less detail, so failures are ignored.
        let _ = sock.set_ext_ack(true);
        let _ = sock.set_cap_ack(true);
        sock.set_rx_buf_sz(SOCKET_RCVBUF)?;
        Ok(NetlinkKernel {
            sock,
            seq: 1,
            send_buf: Vec::with_capacity(BATCH_BYTES + 4096),
            recv_buf: Vec::with_capacity(RECV_BUF),
            shunts: HashSet::new(),
        })
    }

    /// Receives one datagram into `recv_buf`, returning its length.
    fn recv(&mut self) -> Result<usize, Error> {
        self.recv_buf.clear();
        let cap = self.recv_buf.capacity();
        let n = self.sock.recv(&mut self.recv_buf, 0)?;
        if n > cap {
            self.recv_buf.zeroize();
            return Err(Error::Protocol(format!(
                "netlink datagram of {n} bytes exceeds the {cap}-byte receive buffer"
            )));
        }
        Ok(n)
    }

    /// Sends `reqs` in pipelined batches; one outcome per request, in order.
    fn transact(&mut self, reqs: &[Req<'_>]) -> Vec<Result<Answer, Error>> {
        let mut out = Vec::with_capacity(reqs.len());
        let mut start = 0;
        while start < reqs.len() {
            let mut end = start;
            let base = self.seq;
            self.send_buf.clear();
            while let Some(req) = reqs.get(end) {
                if end - start >= BATCH_MSGS || self.send_buf.len() >= BATCH_BYTES {
                    break;
                }
                req.encode(&mut self.send_buf, base.wrapping_add((end - start) as u32));
                end += 1;
            }
            self.seq = base.wrapping_add((end - start) as u32);
            let sent = self.sock.send(&self.send_buf, 0);
            // The buffer held keys.
            self.send_buf.zeroize();
            let batch = reqs.get(start..end).unwrap_or(&[]);
            match sent {
                Ok(_) => out.extend(self.collect(base, batch)),
                Err(e) => {
                    let kind = e.kind();
                    let text = e.to_string();
                    out.extend(
                        batch
                            .iter()
                            .map(|_| Err(Error::Io(std::io::Error::new(kind, text.clone())))),
                    );
                }
            }
            start = end;
        }
        out
    }

    /// Reads answers until every request of a batch has one.
    fn collect(&mut self, base: u32, batch: &[Req<'_>]) -> Vec<Result<Answer, Error>> {
        let mut results: Vec<Option<Result<Answer, Error>>> = batch.iter().map(|_| None).collect();
        let mut pending = batch.len();
        while pending > 0 {
            let n = match self.recv() {
                Ok(n) => n,
                Err(e) => {
                    let text = e.to_string();
                    for r in results.iter_mut().filter(|r| r.is_none()) {
                        *r = Some(Err(Error::Protocol(text.clone())));
                    }
                    break;
                }
            };
            let mut failure: Option<DecodeError> = None;
            for msg in decode::messages(self.recv_buf.get(..n).unwrap_or(&[])) {
                let msg = match msg {
                    Ok(m) => m,
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                };
                let idx = msg.seq.wrapping_sub(base) as usize;
                let Some(slot) = results.get_mut(idx) else {
                    continue; // an answer to an earlier, abandoned request
                };
                if slot.is_some() {
                    continue;
                }
                let op = batch.get(idx).map(Req::op).unwrap_or(Operation::GetSa);
                let answer = match msg.msg_type {
                    decode::NLMSG_ERROR => match decode::ack(&msg) {
                        Ok(a) if a.errno == 0 => Ok(Answer::Ack),
                        Ok(a) => Err(Error::Kernel(KernelError {
                            op,
                            errno: a.errno,
                            kernel_message: a.message,
                        })),
                        Err(e) => Err(Error::Decode(e)),
                    },
                    encode::XFRM_MSG_NEWSA => decode::split_fixed(
                        msg.payload,
                        decode::USERSA_INFO_LEN,
                        "xfrm_usersa_info",
                    )
                    .and_then(|(info, attrs)| decode::sa_state(info, attrs))
                    .map(|s| Answer::Sa(Box::new(s)))
                    .map_err(Error::Decode),
                    other => Err(Error::Protocol(format!(
                        "message type {other} in answer to {op}"
                    ))),
                };
                *slot = Some(answer);
                pending -= 1;
            }
            // SA replies carry keys.
            if let Some(b) = self.recv_buf.get_mut(..n) {
                b.zeroize();
            }
            if let Some(e) = failure {
                for r in results.iter_mut().filter(|r| r.is_none()) {
                    *r = Some(Err(Error::Decode(e.clone())));
                }
                break;
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::Protocol("no answer".into()))))
            .collect()
    }

    fn one(&mut self, req: Req<'_>) -> Result<Answer, Error> {
        self.transact(std::slice::from_ref(&req))
            .pop()
            .unwrap_or_else(|| Err(Error::Protocol("no answer".into())))
    }

    fn ack(&mut self, req: Req<'_>) -> Result<(), Error> {
        match self.one(req)? {
            Answer::Ack => Ok(()),
            Answer::Sa(_) => Err(Error::Protocol("SA where an ACK was expected".into())),
        }
    }

    fn sa_answer(&mut self, req: Req<'_>) -> Result<SaState, Error> {
        match self.one(req)? {
            Answer::Sa(s) => Ok(*s),
            Answer::Ack => Err(Error::Protocol("ACK where an SA was expected".into())),
        }
    }

    /// Runs a dump and hands each data message to `each`.
    fn dump(
        &mut self,
        msg_type: u16,
        op: Operation,
        mut each: impl FnMut(&decode::RawMessage<'_>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        self.send_buf.clear();
        encode::dump(&mut self.send_buf, seq, msg_type);
        self.sock.send(&self.send_buf, 0)?;
        let mut result = Ok(());
        loop {
            let n = self.recv()?;
            let mut done = false;
            for msg in decode::messages(self.recv_buf.get(..n).unwrap_or(&[])) {
                let msg = match msg {
                    Ok(m) => m,
                    Err(e) => {
                        result = Err(Error::Decode(e));
                        done = true;
                        break;
                    }
                };
                if msg.seq != seq {
                    continue;
                }
                match msg.msg_type {
                    decode::NLMSG_DONE => {
                        done = true;
                        break;
                    }
                    decode::NLMSG_ERROR => {
                        match decode::ack(&msg) {
                            Ok(a) if a.errno == 0 => {}
                            Ok(a) => {
                                result = Err(Error::Kernel(KernelError {
                                    op,
                                    errno: a.errno,
                                    kernel_message: a.message,
                                }))
                            }
                            Err(e) => result = Err(Error::Decode(e)),
                        }
                        done = true;
                        break;
                    }
                    _ => {
                        if msg.flags & NLM_F_DUMP_INTR != 0 && result.is_ok() {
                            result = Err(Error::Protocol(
                                "dump interrupted by a concurrent change; retry".into(),
                            ));
                        }
                        if result.is_ok() {
                            result = each(&msg);
                        }
                    }
                }
            }
            if let Some(b) = self.recv_buf.get_mut(..n) {
                b.zeroize();
            }
            if done {
                return result;
            }
        }
    }

    fn apply_reqs(&mut self, reqs: &[Req<'_>]) -> Vec<Result<(), Error>> {
        self.transact(reqs)
            .into_iter()
            .map(|r| match r? {
                Answer::Ack => Ok(()),
                Answer::Sa(_) => Err(Error::Protocol("SA where an ACK was expected".into())),
            })
            .collect()
    }

    /// Sets the prefix lengths from which policies are kept in the kernel's exact-match hash
    /// tables instead of its inexact (ordered list) structure, for IPv4 and IPv6 as
    /// (local bits, remote bits). The default is (32, 32) and (128, 128): only host-to-host
    /// selectors are hashed, and inserting a subnet policy walks every other subnet policy of
    /// the same direction, which makes thousands of tunnels quadratic to install. rswan's
    /// daemon sets this once at start-up for the narrowest subnets it expects (e.g. 24/24);
    /// it is a per-network-namespace setting, like strongSwan's `spdh_thresh`.
    pub fn set_policy_hash_thresholds(&mut self, v4: (u8, u8), v6: (u8, u8)) -> Result<(), Error> {
        for (bits, max) in [(v4.0, 32), (v4.1, 32), (v6.0, 128), (v6.1, 128)] {
            if bits > max {
                return Err(Error::Invalid(crate::error::Invalid::HashThreshold {
                    bits,
                    max,
                }));
            }
        }
        self.ack(Req::HashThresholds(v4, v6))
    }

    fn note_policy(&mut self, p: &Policy) {
        if p.templates.is_empty() {
            self.shunts.insert(p.id());
        }
    }
}

impl Kernel for NetlinkKernel {
    fn alloc_spi(&mut self, req: &SpiRequest) -> Result<u32, Error> {
        req.validate()?;
        Ok(self.sa_answer(Req::AllocSpi(req))?.spi)
    }

    fn add_sa(&mut self, sa: &Sa) -> Result<(), Error> {
        sa.validate()?;
        self.ack(Req::Sa(sa, false))
    }

    fn update_sa(&mut self, sa: &Sa) -> Result<(), Error> {
        sa.validate()?;
        self.ack(Req::Sa(sa, true))
    }

    fn delete_sa(&mut self, id: &SaId) -> Result<(), Error> {
        self.ack(Req::DeleteSa(id))
    }

    fn get_sa_counters(&mut self, id: &SaId) -> Result<SaCounters, Error> {
        Ok(self.sa_answer(Req::GetSa(id))?.counters)
    }

    fn list_sas(&mut self) -> Result<Vec<SaState>, Error> {
        let mut out = Vec::new();
        self.dump(encode::XFRM_MSG_GETSA, Operation::ListSas, |m| {
            if m.msg_type == encode::XFRM_MSG_NEWSA {
                let (info, attrs) =
                    decode::split_fixed(m.payload, decode::USERSA_INFO_LEN, "xfrm_usersa_info")?;
                out.push(decode::sa_state(info, attrs)?);
            }
            Ok(())
        })?;
        Ok(out)
    }

    fn add_policy(&mut self, policy: &Policy) -> Result<(), Error> {
        policy.validate()?;
        self.ack(Req::Policy(policy, false))?;
        self.note_policy(policy);
        Ok(())
    }

    fn update_policy(&mut self, policy: &Policy) -> Result<(), Error> {
        policy.validate()?;
        self.ack(Req::Policy(policy, true))?;
        self.note_policy(policy);
        Ok(())
    }

    fn delete_policy(&mut self, id: &PolicyId) -> Result<(), Error> {
        self.ack(Req::DeletePolicy(id))?;
        self.shunts.remove(id);
        Ok(())
    }

    fn list_policies(&mut self) -> Result<Vec<InstalledPolicy>, Error> {
        let mut out = Vec::new();
        self.dump(encode::XFRM_MSG_GETPOLICY, Operation::ListPolicies, |m| {
            if m.msg_type == encode::XFRM_MSG_NEWPOLICY {
                let (info, attrs) = decode::split_fixed(
                    m.payload,
                    decode::USERPOLICY_INFO_LEN,
                    "xfrm_userpolicy_info",
                )?;
                if !decode::is_socket_policy(info) {
                    out.push(decode::policy(info, attrs)?);
                }
            }
            Ok(())
        })?;
        Ok(out)
    }

    fn flush_owned(&mut self) -> Result<FlushReport, Error> {
        let policies: Vec<InstalledPolicy> = self
            .list_policies()?
            .into_iter()
            .filter(|p| {
                p.policy.templates.iter().any(|t| is_owned_reqid(t.reqid))
                    || (p.policy.templates.is_empty() && self.shunts.contains(&p.policy.id()))
            })
            .collect();
        let reqs: Vec<Req<'_>> = policies
            .iter()
            .map(|p| Req::DeletePolicyIndex {
                index: p.index,
                direction: p.policy.direction.to_kernel(),
                mark: p.policy.mark,
                if_id: p.policy.if_id,
            })
            .collect();
        let mut report = FlushReport::default();
        for r in self.apply_reqs(&reqs) {
            match r {
                Ok(()) => report.policies += 1,
                // Gone in the meantime (e.g. a concurrent delete): that is what we wanted.
                Err(Error::Kernel(k)) if k.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        for p in &policies {
            self.shunts.remove(&p.policy.id());
        }

        let ids: Vec<SaId> = self
            .list_sas()?
            .into_iter()
            .filter(|s| is_owned_reqid(s.reqid) && s.proto == 50)
            .map(|s| SaId {
                dst: s.dst,
                spi: s.spi,
                mark: s.mark,
            })
            .collect();
        let reqs: Vec<Req<'_>> = ids.iter().map(Req::DeleteSa).collect();
        for r in self.apply_reqs(&reqs) {
            match r {
                Ok(()) => report.sas += 1,
                Err(Error::Kernel(k)) if k.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    fn apply(&mut self, ops: &[KernelOp]) -> Vec<Result<(), Error>> {
        // Validation failures are answered locally; only valid requests are sent.
        let mut results: Vec<Option<Result<(), Error>>> = Vec::with_capacity(ops.len());
        let mut reqs = Vec::with_capacity(ops.len());
        let mut slots = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            let checked = match op {
                KernelOp::AddSa(sa) => sa.validate().map(|_| Req::Sa(sa, false)),
                KernelOp::UpdateSa(sa) => sa.validate().map(|_| Req::Sa(sa, true)),
                KernelOp::DeleteSa(id) => Ok(Req::DeleteSa(id)),
                KernelOp::AddPolicy(p) => p.validate().map(|_| Req::Policy(p, false)),
                KernelOp::UpdatePolicy(p) => p.validate().map(|_| Req::Policy(p, true)),
                KernelOp::DeletePolicy(id) => Ok(Req::DeletePolicy(id)),
            };
            match checked {
                Ok(r) => {
                    reqs.push(r);
                    slots.push(i);
                    results.push(None);
                }
                Err(e) => results.push(Some(Err(Error::Invalid(e)))),
            }
        }
        let answers = self.apply_reqs(&reqs);
        for (slot, answer) in slots.into_iter().zip(answers) {
            if answer.is_ok() {
                match ops.get(slot) {
                    Some(KernelOp::AddPolicy(p) | KernelOp::UpdatePolicy(p))
                        if p.templates.is_empty() =>
                    {
                        self.shunts.insert(p.id());
                    }
                    Some(KernelOp::DeletePolicy(id)) => {
                        self.shunts.remove(id);
                    }
                    _ => {}
                }
            }
            if let Some(r) = results.get_mut(slot) {
                *r = Some(answer);
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::Protocol("no answer".into()))))
            .collect()
    }
}
