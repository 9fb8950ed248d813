//! Kernel notifications: ACQUIRE, soft/hard EXPIRE, MAPPING and policy changes, as typed events.
//!
//! A separate socket joined to the multicast groups, so events never interleave with the
//! answers of `NetlinkKernel`. If the kernel drops events because the socket buffer filled up,
//! the next read fails with ENOBUFS (`Error::Io`): the caller must then re-read state with
//! `list_sas`/`list_policies` instead of trusting that it saw every event.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

use netlink_sys::{protocols::NETLINK_XFRM, Socket};
use zeroize::Zeroize;

use crate::decode::{self, event, InstalledPolicy};
use crate::error::{DecodeError, Error};
use crate::model::{Direction, SaId, Selector};

const XFRM_MSG_NEWPOLICY: u16 = 0x13;
const XFRM_MSG_DELPOLICY: u16 = 0x14;
const XFRM_MSG_ACQUIRE: u16 = 0x17;
const XFRM_MSG_EXPIRE: u16 = 0x18;
const XFRM_MSG_UPDPOLICY: u16 = 0x19;
const XFRM_MSG_POLEXPIRE: u16 = 0x1b;
const XFRM_MSG_FLUSHPOLICY: u16 = 0x1d;
const XFRM_MSG_MAPPING: u16 = 0x26;

const XFRMNLGRP_ACQUIRE: u32 = 1;
const XFRMNLGRP_EXPIRE: u32 = 2;
const XFRMNLGRP_POLICY: u32 = 4;
const XFRMNLGRP_MAPPING: u32 = 8;

const RECV_BUF: usize = 64 * 1024;
const SOCKET_RCVBUF: usize = 4 << 20;

/// Something the kernel told us on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelEvent {
    /// Traffic hit a policy whose template has no SA: negotiate one (trap / on-demand).
    Acquire {
        /// Tunnel endpoints the SA needs (from the policy template).
        src: IpAddr,
        dst: IpAddr,
        /// The packet's flow, narrowed as the kernel saw it.
        selector: Option<Selector>,
        /// Reqid of the first template of the policy, which names rswan's Child SA slot.
        reqid: Option<u32>,
        policy_index: u32,
        direction: Option<Direction>,
        /// Kernel sequence number of the acquire (strongSwan echoes it in the new SA's seq).
        seq: u32,
    },
    /// An SA reached its soft (rekey now) or hard (it is gone) lifetime.
    Expire {
        id: SaId,
        src: IpAddr,
        reqid: u32,
        hard: bool,
    },
    /// The NAT in front of a peer changed its port (or address) for a UDP-encapsulated SA.
    Mapping {
        id: SaId,
        reqid: u32,
        old: SocketAddr,
        new: SocketAddr,
    },
    /// A policy's own lifetime expired.
    PolicyExpire {
        policy: InstalledPolicy,
        hard: bool,
    },
    PolicyAdded(InstalledPolicy),
    PolicyUpdated(InstalledPolicy),
    /// `policy` is present when the kernel included it (it does for deletes by selector and index).
    PolicyDeleted {
        index: u32,
        direction: Option<Direction>,
        policy: Option<InstalledPolicy>,
    },
    PoliciesFlushed,
    /// A message type on these groups that rswan does not interpret.
    Other {
        msg_type: u16,
    },
}

/// Decodes every event in one datagram. Never panics; a malformed message becomes an error item.
pub fn decode_events(datagram: &[u8]) -> Vec<Result<KernelEvent, DecodeError>> {
    decode::messages(datagram)
        .map(|m| m.and_then(|m| decode_event(m.msg_type, m.payload)))
        .collect()
}

fn decode_event(msg_type: u16, payload: &[u8]) -> Result<KernelEvent, DecodeError> {
    Ok(match msg_type {
        XFRM_MSG_ACQUIRE => {
            let a = event::acquire(payload)?;
            KernelEvent::Acquire {
                src: a.src,
                dst: a.dst,
                selector: a.selector,
                reqid: a.templates.first().map(|t| t.reqid),
                policy_index: a.policy_index,
                direction: Direction::from_kernel(a.direction),
                seq: a.seq,
            }
        }
        XFRM_MSG_EXPIRE => {
            let (s, hard) = event::expire(payload)?;
            KernelEvent::Expire {
                id: SaId {
                    dst: s.dst,
                    spi: s.spi,
                    mark: s.mark,
                },
                src: s.src,
                reqid: s.reqid,
                hard,
            }
        }
        XFRM_MSG_MAPPING => {
            let m = event::mapping(payload)?;
            KernelEvent::Mapping {
                id: SaId {
                    dst: m.dst,
                    spi: m.spi,
                    mark: None,
                },
                reqid: m.reqid,
                old: SocketAddr::new(m.old_src, m.old_port),
                new: SocketAddr::new(m.new_src, m.new_port),
            }
        }
        XFRM_MSG_POLEXPIRE => {
            let (policy, hard) = event::polexpire(payload)?;
            KernelEvent::PolicyExpire { policy, hard }
        }
        XFRM_MSG_NEWPOLICY | XFRM_MSG_UPDPOLICY => {
            let (info, attrs) =
                decode::split_fixed(payload, decode::USERPOLICY_INFO_LEN, "xfrm_userpolicy_info")?;
            let p = decode::policy(info, attrs)?;
            if msg_type == XFRM_MSG_NEWPOLICY {
                KernelEvent::PolicyAdded(p)
            } else {
                KernelEvent::PolicyUpdated(p)
            }
        }
        XFRM_MSG_DELPOLICY => {
            let (index, dir, policy) = event::deleted_policy(payload)?;
            KernelEvent::PolicyDeleted {
                index,
                direction: Direction::from_kernel(dir),
                policy,
            }
        }
        XFRM_MSG_FLUSHPOLICY => KernelEvent::PoliciesFlushed,
        other => KernelEvent::Other { msg_type: other },
    })
}

/// Blocking event source. Iterate it, or call [`Monitor::next_event`].
pub struct Monitor {
    sock: Socket,
    buf: Vec<u8>,
    queue: VecDeque<Result<KernelEvent, DecodeError>>,
}

impl Monitor {
    /// Opens a socket joined to the ACQUIRE, EXPIRE, MAPPING and POLICY groups of the current
    /// network namespace.
    pub fn open() -> Result<Monitor, Error> {
        let mut sock = Socket::new(NETLINK_XFRM)?;
        sock.bind_auto()?;
        sock.set_rx_buf_sz(SOCKET_RCVBUF)?;
        for group in [
            XFRMNLGRP_ACQUIRE,
            XFRMNLGRP_EXPIRE,
            XFRMNLGRP_MAPPING,
            XFRMNLGRP_POLICY,
        ] {
            sock.add_membership(group)?;
        }
        Ok(Monitor {
            sock,
            buf: Vec::with_capacity(RECV_BUF),
            queue: VecDeque::new(),
        })
    }

    /// Reads one datagram and queues its events.
    fn fill(&mut self) -> Result<(), Error> {
        self.buf.clear();
        let cap = self.buf.capacity();
        let n = self.sock.recv(&mut self.buf, 0)?;
        if n > cap {
            return Err(Error::Protocol(format!(
                "event datagram of {n} bytes exceeds the {cap}-byte buffer"
            )));
        }
        let events = decode_events(self.buf.get(..n).unwrap_or(&[]));
        // Expire events carry the SA, keys included.
        self.buf.zeroize();
        self.queue.extend(events);
        Ok(())
    }

    /// Blocks until the next event.
    pub fn next_event(&mut self) -> Result<KernelEvent, Error> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return e.map_err(Error::Decode);
            }
            self.fill()?;
        }
    }

    /// Returns a queued or immediately readable event without blocking (socket must be
    /// non-blocking, see [`Monitor::set_non_blocking`]).
    pub fn try_next_event(&mut self) -> Result<Option<KernelEvent>, Error> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return e.map(Some).map_err(Error::Decode);
            }
            match self.fill() {
                Ok(()) => {}
                Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    pub fn set_non_blocking(&self, non_blocking: bool) -> Result<(), Error> {
        Ok(self.sock.set_non_blocking(non_blocking)?)
    }
}

impl Iterator for Monitor {
    type Item = Result<KernelEvent, Error>;
    fn next(&mut self) -> Option<Self::Item> {
        Some(self.next_event())
    }
}

impl std::os::fd::AsRawFd for Monitor {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.sock.as_raw_fd()
    }
}

#[cfg(feature = "tokio")]
mod async_monitor {
    use super::*;
    use tokio::io::unix::AsyncFd;

    /// Tokio wrapper: `next().await` yields events as they arrive.
    pub struct AsyncMonitor {
        inner: AsyncFd<Monitor>,
    }

    impl AsyncMonitor {
        pub fn new(monitor: Monitor) -> Result<AsyncMonitor, Error> {
            monitor.set_non_blocking(true)?;
            // `AsyncFd::new` is deprecated because a `T: AsRawFd` could close its descriptor
            // while registered. `Monitor` owns its socket and is moved into the `AsyncFd`, so the
            // descriptor lives exactly as long as the registration; the replacement
            // (`register`) would need an unsafe block for the same guarantee.
            #[allow(deprecated)]
            let inner = AsyncFd::new(monitor)?;
            Ok(AsyncMonitor { inner })
        }

        pub async fn next(&mut self) -> Result<KernelEvent, Error> {
            loop {
                if let Some(e) = self.inner.get_mut().try_next_event()? {
                    return Ok(e);
                }
                let mut guard = self.inner.readable_mut().await?;
                match guard.get_inner_mut().try_next_event() {
                    Ok(Some(e)) => return Ok(e),
                    Ok(None) => guard.clear_ready(),
                    Err(e) => return Err(e),
                }
            }
        }
    }
}

#[cfg(feature = "tokio")]
pub use async_monitor::AsyncMonitor;
