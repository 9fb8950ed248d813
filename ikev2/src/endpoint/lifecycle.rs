//! What follows from a lifecycle event of an established IKE SA: reauthentication, a Child SA's
//! hard lifetime, deleting an IKE SA nobody rekeyed, a lost peer with its dpd_action, a resolved
//! rekey collision's handover, the kernel's lifetime and counter reports, and which ESP counters
//! the core wants read. When deadlines are armed is `timer.rs`'s; when they fire, `timeouts.rs`.

use std::time::Instant;

use crate::config::Action;
use crate::event::{DownReason, FailureReason, IkeState, LogLevel};
use crate::exchange;
use crate::output::KernelEvent;
use crate::rng::Rng;
use crate::sa::status::ChildStatusState;
use crate::sa::{IkeSa, Purpose};
use crate::timer::{self, DpdMode};

use super::timeouts::dpd_mode;
use super::Endpoint;

pub use rswan_ike::kernel::CounterQuery;

impl<R: Rng> Endpoint<R> {
    /// The IKE SAs with DPD on, as (SA, dpd_delay, mode).
    fn dpd_sas(&self) -> impl Iterator<Item = (&IkeSa, std::time::Duration, DpdMode)> {
        self.sas
            .values()
            .filter(|sa| sa.is_established())
            .filter_map(|sa| {
                let conn = self.cx.config.connection(&sa.conn)?;
                let mode = dpd_mode(&self.cx.config, &sa.conn);
                let on = !conn.dpd_delay.is_zero() && mode != DpdMode::Disabled;
                on.then_some((sa, conn.dpd_delay, mode))
            })
    }

    /// The installed ESP SAs whose counters the core uses: inbound for DPD, outbound too for
    /// on-idle DPD and for the side behind a NAT (outbound ESP defers its keepalives).
    pub fn counter_queries(&self) -> Vec<CounterQuery> {
        let keepalive = !self.cx.config.settings.natt.keepalive.is_zero();
        let mut out = Vec::new();
        for (sa, _, mode) in self.dpd_sas() {
            let outbound = mode == DpdMode::OnIdle || (keepalive && sa.behind_nat());
            for c in &sa.children {
                out.push(CounterQuery {
                    src: sa.remote.ip(),
                    dst: sa.local.ip(),
                    spi: c.spi_in,
                });
                if outbound && c.pending_out.is_none() {
                    out.push(CounterQuery {
                        src: sa.local.ip(),
                        dst: sa.remote.ip(),
                        spi: c.spi_out,
                    });
                }
            }
        }
        out
    }

    /// How often the counters are read: half the shortest `dpd_delay` of an established IKE SA
    /// with DPD on (`None`: not needed).
    pub fn counter_interval(&self) -> Option<std::time::Duration> {
        self.dpd_sas()
            .map(|(_, delay, _)| timer::counter_poll_interval(delay))
            .min()
    }

    /// When the driver should next read ESP counters (then call [`Endpoint::counter_poll`]);
    /// `None` while no IKE SA needs them. Separate from `poll_timeout`: it is the driver's
    /// errand, and nothing in the core is due then.
    pub fn poll_counter_timeout(&self) -> Option<Instant> {
        let interval = self.counter_interval()?;
        let since = self
            .dpd_sas()
            .filter_map(|(sa, _, _)| sa.established_at)
            .min()?;
        timer::counter_poll_deadline(self.cx.counters_read, since, interval)
    }

    /// The ESP SAs whose counters the driver should read (XFRM_MSG_GETSA) and report with
    /// `KernelEvent::Counters` now; empty before [`Endpoint::poll_counter_timeout`]. Calling it
    /// when due arms the next read.
    pub fn counter_poll(&mut self, now: Instant) -> Vec<CounterQuery> {
        if self.poll_counter_timeout().is_none_or(|t| now < t) {
            return Vec::new();
        }
        self.cx.counters_read = Some(now);
        self.counter_queries()
    }

    /// Applies what a resolved IKE SA rekey collision left on SA `key` (RFC 7296 section 2.8.2):
    /// the surviving new IKE SA takes over like any successor (kernel results of its Child SAs
    /// follow it), a redundant one enters the table so that its Delete can be sent or answered,
    /// and the old SA goes if the peer already deleted it.
    pub(super) fn take_handover(&mut self, now: Instant, key: u64) {
        let Some(h) = self.sas.get_mut(&key).and_then(|sa| sa.handover.take()) else {
            return;
        };
        if let Some(new) = h.successor {
            self.adopt_successor(now, key, *new);
        }
        if let Some(r) = h.redundant {
            let k = r.local_spi();
            if !self.sas.contains_key(&k) {
                self.sas.insert(k, *r);
                self.pump(now, k);
            }
        }
        if h.destroy_old {
            self.destroy(key, DownReason::Rekeyed);
        }
    }

    /// Break-before-make reauthentication (strongSwan's `reauth_time` without make_before_break):
    /// the IKE SA is deleted (one Delete, not awaited) and the connection initiated afresh, its
    /// first Child SA in IKE_AUTH and every other one by CREATE_CHILD_SA once that is up.
    pub(super) fn reauthenticate(&mut self, now: Instant, key: u64) {
        let Some(sa) = self.sas.get(&key) else {
            return;
        };
        let conn = sa.conn.clone();
        let mut children: Vec<String> = Vec::new();
        for c in &sa.children {
            if !c.redundant && !children.contains(&c.name) {
                children.push(c.name.clone());
            }
        }
        self.log(
            LogLevel::Info,
            Some(&conn),
            format!("reauthenticating IKE SA {} (reauth_time)", sa.spis()),
        );
        self.delete_now(key);
        let mut names = children.into_iter();
        let first = names.next();
        self.initiate(now, &conn, first.as_deref());
        let rest: Vec<String> = names.collect();
        if let Some(k) = self.keys_of(&conn).into_iter().next() {
            if let Some(sa) = self.sas.get_mut(&k) {
                for child in rest {
                    sa.queue.push_back(Purpose::CreateChild { child });
                }
            }
        }
    }

    /// Hard lifetime: the Child SA goes now (the kernel drops its SAs anyway) and the peer is
    /// told.
    pub(super) fn expire_child(&mut self, key: u64, spi_in: u32) {
        let Some(sa) = self.sas.get_mut(&key) else {
            return;
        };
        exchange::remove_child(&mut self.cx, sa, spi_in, DownReason::Expired);
        // Whatever was queued for it is moot.
        sa.queue
            .retain(|p| !matches!(p, Purpose::RekeyChild { spi_in: s } if *s == spi_in));
        sa.queue.push_back(Purpose::DeleteChild {
            spis_in: vec![spi_in],
        });
    }

    /// Deletes an IKE SA with an INFORMATIONAL Delete (the `TerminateIke` path for one SA).
    pub(super) fn delete_ike_key(&mut self, now: Instant, key: u64) {
        let Some(sa) = self.sas.get_mut(&key) else {
            return;
        };
        if sa.state() == IkeState::Established {
            let ev = sa.transition(IkeState::Deleting);
            self.cx.emit(ev);
            sa.queue.clear();
            sa.queue.push_back(Purpose::DeleteIke);
            self.pump(now, key);
        }
    }

    /// The peer is gone (DPD or any other unanswered request): applies each child's
    /// `dpd_action` once the SA is destroyed.
    pub(super) fn peer_dead(&mut self, now: Instant, key: u64, reason: FailureReason) {
        let Some(sa) = self.sas.get(&key) else {
            return;
        };
        let conn_name = sa.conn.clone();
        let remote = sa.remote;
        let mut actions: Vec<(String, Action)> = Vec::new();
        if let Some(conn) = self.cx.config.connection(&conn_name) {
            for c in &sa.children {
                if let Some(cc) = conn.child(&c.name) {
                    if !actions.iter().any(|(n, _)| *n == cc.name) {
                        actions.push((cc.name.clone(), cc.dpd_action));
                    }
                }
            }
        }
        let retransmits = match reason {
            FailureReason::PeerLost { retransmits } | FailureReason::DpdTimeout { retransmits } => {
                retransmits
            }
            _ => 0,
        };
        self.cx.fail(now, Some(conn_name.clone()), remote, reason);
        self.destroy(key, DownReason::PeerLost { retransmits });
        let mut restarted = false;
        for (child, action) in actions {
            match action {
                Action::Start if !restarted => {
                    restarted = true;
                    self.log(
                        LogLevel::Info,
                        Some(&conn_name),
                        format!("dpd_action=restart: initiating '{conn_name}' again"),
                    );
                    self.initiate(now, &conn_name, Some(&child));
                }
                Action::Start => {
                    // The IKE SA is being re-established; further children follow it.
                    if let Some(k) = self.keys_of(&conn_name).into_iter().next() {
                        if let Some(sa) = self.sas.get_mut(&k) {
                            sa.queue.push_back(Purpose::CreateChild { child });
                        }
                    }
                }
                Action::Trap => self.log(
                    LogLevel::Info,
                    Some(&conn_name),
                    format!(
                        "dpd_action=trap: child '{child}' is down, its trap policies should be reinstalled"
                    ),
                ),
                Action::None => {}
            }
        }
    }

    /// Kernel notifications other than op results.
    pub(super) fn kernel_notice(&mut self, now: Instant, ev: KernelEvent) {
        match ev {
            KernelEvent::Expire { dst, spi, hard } => {
                let found = self.sas.iter().find_map(|(k, sa)| {
                    sa.children
                        .iter()
                        .find(|c| {
                            (c.spi_in == spi && dst == sa.local.ip())
                                || (c.spi_out == spi && dst == sa.remote.ip())
                        })
                        .map(|c| (*k, c.spi_in, c.state(), c.name.clone(), sa.conn.clone()))
                });
                let Some((key, spi_in, state, name, conn)) = found else {
                    return;
                };
                if hard {
                    self.log(
                        LogLevel::Info,
                        Some(&conn),
                        format!("hard lifetime of child '{name}' expired (kernel): deleting it"),
                    );
                    self.expire_child(key, spi_in);
                } else if state == ChildStatusState::Installed {
                    self.log(
                        LogLevel::Info,
                        Some(&conn),
                        format!("soft lifetime of child '{name}' expired (kernel): rekeying"),
                    );
                    if let Some(sa) = self.sas.get_mut(&key) {
                        if let Some(c) = sa.children.iter_mut().find(|c| c.spi_in == spi_in) {
                            timer::on_child_soft_expired(&mut c.deadlines);
                        }
                        sa.queue.push_back(Purpose::RekeyChild { spi_in });
                    }
                }
                self.pump(now, key);
            }
            KernelEvent::Counters {
                dst, spi, bytes, ..
            } => {
                for sa in self.sas.values_mut() {
                    let (local, remote) = (sa.local.ip(), sa.remote.ip());
                    for c in sa.children.iter_mut() {
                        if c.spi_in == spi && dst == local {
                            if bytes > c.bytes_in {
                                c.last_in = Some(now);
                            }
                            c.bytes_in = bytes;
                        } else if c.spi_out == spi && dst == remote {
                            if bytes > c.bytes_out {
                                c.last_out = Some(now);
                            }
                            c.bytes_out = bytes;
                        }
                    }
                }
            }
            KernelEvent::OpResult { .. } | KernelEvent::Mapping { .. } => {}
        }
    }
}
