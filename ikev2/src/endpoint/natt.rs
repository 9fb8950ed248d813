//! NAT traversal over time (RFC 3948, RFC 7296 section 2.23): when we last sent on each path (for
//! the keepalives `timeouts.rs` sends from the side behind a NAT), and following the peer when its
//! NAT changes the mapping (learned from an authenticated IKE message or from the kernel's
//! XFRM_MSG_MAPPING). Detection and floating to the NAT-T
//! port happen in the exchanges; the non-ESP marker is the driver's (it owns the sockets).

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::event::LogLevel;
use crate::exchange;
use crate::rng::Rng;

use super::Endpoint;

/// RFC 3948 section 2.3: a NAT-keepalive is one octet 0xFF.
pub const NAT_KEEPALIVE: [u8; 1] = [0xff];

impl<R: Rng> Endpoint<R> {
    /// Records when we last sent on each path, from the datagrams queued since the last call
    /// (every `handle_*` ends with it).
    pub(super) fn stamp_sends(&mut self, now: Instant) {
        for path in std::mem::take(&mut self.cx.sent) {
            self.sas.stamp_sent(path, now);
        }
    }

    /// The kernel saw ESP-in-UDP for our inbound SA `dst`/`spi` come from `new` instead of
    /// `old`: the peer's NAT re-mapped it. Moves the IKE SA there and re-installs the SAs.
    pub(super) fn on_mapping(&mut self, dst: IpAddr, spi: u32, old: SocketAddr, new: SocketAddr) {
        let key = self.sas.iter().find_map(|(k, sa)| {
            (sa.local.ip() == dst && sa.children.iter().any(|c| c.spi_in == spi)).then_some(*k)
        });
        let Some(key) = key else {
            return;
        };
        let Some(sa) = self.sas.get_mut(&key) else {
            return;
        };
        let before = sa.remote;
        let local = sa.local;
        let conn = sa.conn.clone();
        if !sa.follow_peer(local, new) {
            let why = if before == new {
                "already known".to_string()
            } else {
                format!(
                    "not following a new IP address without a NAT in front of the peer ({before})"
                )
            };
            return self.log(
                LogLevel::Debug,
                Some(&conn),
                format!(
                    "kernel reports NAT mapping change {old} -> {new} for SPI {spi:08x}: {why}"
                ),
            );
        }
        self.peer_moved(key, before);
    }

    /// The peer of SA `key` now sits at `sa.remote` instead of `old`.
    pub(super) fn peer_moved(&mut self, key: u64, old: SocketAddr) {
        let Some(sa) = self.sas.get_mut(&key) else {
            return;
        };
        let (new, conn) = (sa.remote, sa.conn.clone());
        let encap = sa.children.iter().any(|c| c.kernel_sas.is_some());
        if encap {
            exchange::reissue_encap_children(&mut self.cx, sa, old);
        }
        // Port changes while floating to 4500 during IKE_AUTH are routine; a later move is news.
        if sa.is_established() {
            self.log(
                LogLevel::Info,
                Some(&conn),
                format!(
                    "peer's NAT mapping changed: {old} -> {new}{}",
                    if encap {
                        ", ESP-in-UDP SAs updated"
                    } else {
                        ""
                    }
                ),
            );
        }
    }
}
