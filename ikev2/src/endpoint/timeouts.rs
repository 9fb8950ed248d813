//! Everything that happens when a deadline comes, in one place: half-open and fragment
//! timeouts, retransmission and giving up, IKE and Child SA rekey, lifetimes, reauthentication,
//! retries after TEMPORARY_FAILURE, DPD probes and NAT keepalives; and each SA's earliest
//! deadline for the SA table. When each deadline is armed is `timer.rs`'s (its hooks); this file
//! acts on them.

use std::net::SocketAddr;
use std::time::Instant;

use crate::config::Config;
use crate::event::{DownReason, Event, FailureReason, LogLevel};
use crate::rng::Rng;
use crate::sa::status::ChildStatusState;
use crate::sa::{IkeSa, Purpose};
use crate::timer::{self, DpdMode};

use super::natt::NAT_KEEPALIVE;
use super::Endpoint;

/// The earliest timer of `sa`: retransmission, half-open and fragment timeouts, lifecycle
/// (rekey, lifetimes, DPD) and NAT keepalive (`path_sent`: when we last sent on its path).
pub(super) fn sa_deadline(cfg: &Config, sa: &IkeSa, path_sent: Option<Instant>) -> Option<Instant> {
    [
        sa.requests.deadline(),
        sa.deadlines.half_open,
        sa.reassembly
            .as_ref()
            .map(|r| r.deadline(cfg.settings.limits.fragment_timeout)),
        lifecycle_deadline(cfg, sa),
        keepalive_deadline(cfg, sa, path_sent),
    ]
    .into_iter()
    .flatten()
    .min()
}

/// The instant from which DPD counts silence for `mode`.
fn last_activity(sa: &IkeSa, mode: DpdMode) -> Option<Instant> {
    let mut t = [sa.established_at, sa.last_peer_message]
        .into_iter()
        .flatten()
        .max()?;
    for c in &sa.children {
        t = t.max(c.last_in.unwrap_or(t));
        if mode == DpdMode::OnIdle {
            t = t.max(c.last_out.unwrap_or(t));
        }
    }
    if mode == DpdMode::OnIdle {
        t = t.max(sa.last_request_sent.unwrap_or(t));
    }
    Some(t)
}

pub(super) fn dpd_mode(cfg: &Config, conn: &str) -> DpdMode {
    cfg.settings
        .conn_timers
        .get(conn)
        .map(|t| t.dpd_mode)
        .unwrap_or_default()
}

/// When DPD wants to probe `sa` next. Only while the SA is idle on our side: an outstanding
/// request is itself a liveness check, and its retransmit timer runs instead.
fn dpd_deadline(cfg: &Config, sa: &IkeSa) -> Option<Instant> {
    if !sa.is_established()
        || sa.rekeyed_to.is_some()
        || !sa.requests.is_free()
        || !sa.queue.is_empty()
    {
        return None;
    }
    let conn = cfg.connection(&sa.conn)?;
    let mode = dpd_mode(cfg, &sa.conn);
    timer::dpd_deadline(mode, conn.dpd_delay, last_activity(sa, mode)?)
}

/// Every lifecycle deadline of `sa` (rekeys, lifetimes, deferred retries, DPD).
fn lifecycle_deadline(cfg: &Config, sa: &IkeSa) -> Option<Instant> {
    let d = &sa.deadlines;
    if sa.rekeyed_to.is_some() {
        return d.retire;
    }
    if !sa.is_established() {
        return None;
    }
    let busy = sa.create.is_some();
    let mut ds: Vec<Instant> = Vec::new();
    if !busy {
        ds.extend(d.rekey);
    }
    ds.extend(d.reauth);
    ds.extend(d.rekey_overdue);
    ds.extend(sa.deferred.iter().map(|(t, _)| *t));
    for c in &sa.children {
        if c.state() == ChildStatusState::Installed {
            ds.extend(c.deadlines.rekey);
        }
        if c.state() != ChildStatusState::Deleting {
            ds.extend(c.deadlines.hard_expire);
        }
    }
    ds.extend(dpd_deadline(cfg, sa));
    ds.into_iter().min()
}

/// When `sa` sends its next NAT keepalive: `keepalive` after we last sent anything to the peer
/// (`path_sent`: IKE on the SA's path or, as the driver reports through counters, outbound ESP),
/// only when we are behind the NAT.
fn keepalive_deadline(cfg: &Config, sa: &IkeSa, path_sent: Option<Instant>) -> Option<Instant> {
    if !sa.is_established() || sa.rekeyed_to.is_some() {
        return None;
    }
    let last = sa
        .children
        .iter()
        .filter_map(|c| c.last_out)
        .chain(path_sent)
        .max();
    timer::keepalive_deadline(sa.behind_nat(), cfg.settings.natt.keepalive, last)
}

impl<R: Rng> Endpoint<R> {
    pub fn handle_timeout(&mut self, now: Instant) {
        // Only the SAs whose deadline has come: the cost does not grow with the number of SAs.
        let due = self.sas.due(now);
        self.timeout(now, &due);
        self.finish_turn(now);
        self.keepalive_timeout(now, &due);
        self.finish_turn(now);
    }

    fn timeout(&mut self, now: Instant, due: &[u64]) {
        for &key in due {
            let Some(sa) = self.sas.get_mut(&key) else {
                continue;
            };
            let frag_timeout = self.cx.config.settings.limits.fragment_timeout;
            if sa
                .reassembly
                .as_ref()
                .is_some_and(|r| now >= r.deadline(frag_timeout))
            {
                sa.reassembly = None;
            }
            if sa.is_half_open() && timer::take_due(&mut sa.deadlines.half_open, now) {
                let (conn, remote) = (Some(sa.conn.clone()), sa.remote);
                self.cx
                    .fail(now, conn, remote, FailureReason::HalfOpenTimeout);
                self.destroy(key, DownReason::Failed(FailureReason::HalfOpenTimeout));
                continue;
            }
            let policy = self.cx.config.settings.retransmit.clone();
            match sa.requests.on_timeout(now, &policy) {
                None => {}
                Some(Ok(datagrams)) => {
                    let msg_id = sa.requests.outstanding().map(|o| o.msg_id).unwrap_or(0);
                    let n = sa
                        .requests
                        .outstanding()
                        .map(|o| o.timer.retransmits())
                        .unwrap_or(0);
                    let (l, r, conn) = (sa.local, sa.remote, sa.conn.clone());
                    self.cx.emit(Event::Log {
                        level: LogLevel::Info,
                        conn: Some(conn),
                        message: format!("retransmit {n} of request with message ID {msg_id}"),
                    });
                    for b in datagrams {
                        self.cx.send(l, r, b);
                    }
                }
                Some(Err(retransmits)) => {
                    let purpose = sa.requests.outstanding().map(|o| o.purpose.clone());
                    match purpose {
                        // Our Delete went unanswered: the SA is gone on our side regardless.
                        Some(Purpose::DeleteIke) => {
                            let reason = if sa.rekeyed_to.is_some() {
                                DownReason::Rekeyed
                            } else {
                                DownReason::LocalDelete
                            };
                            self.destroy(key, reason);
                        }
                        Some(Purpose::Dpd) => {
                            self.peer_dead(now, key, FailureReason::DpdTimeout { retransmits })
                        }
                        _ if sa.is_established() => {
                            self.peer_dead(now, key, FailureReason::PeerLost { retransmits })
                        }
                        _ => {
                            let (conn, remote) = (Some(sa.conn.clone()), sa.remote);
                            self.cx.fail(
                                now,
                                conn,
                                remote,
                                FailureReason::PeerLost { retransmits },
                            );
                            self.destroy(key, DownReason::PeerLost { retransmits });
                        }
                    }
                    continue;
                }
            }
            self.lifecycle_timeout(now, key);
        }
    }

    /// Runs the lifecycle timers of SA `key` at `now`.
    fn lifecycle_timeout(&mut self, now: Instant, key: u64) {
        let dpd_due = self
            .sas
            .get(&key)
            .and_then(|sa| dpd_deadline(&self.cx.config, sa))
            .is_some_and(|d| now >= d);
        let Some(sa) = self.sas.get_mut(&key) else {
            return;
        };
        if sa.rekeyed_to.is_some() {
            if timer::take_due(&mut sa.deadlines.retire, now) {
                self.destroy(key, DownReason::Rekeyed);
            }
            return;
        }
        if !sa.is_established() {
            return;
        }
        if timer::take_due(&mut sa.deadlines.rekey_overdue, now) {
            let conn = sa.conn.clone();
            self.log(
                LogLevel::Warn,
                Some(&conn),
                "IKE SA not rekeyed within rekey_time + over_time: deleting it".into(),
            );
            return self.delete_ike_key(now, key);
        }
        if timer::take_due(&mut sa.deadlines.reauth, now) {
            return self.reauthenticate(now, key);
        }
        let mut due = Vec::new();
        sa.deferred.retain(|(t, p)| {
            if now >= *t {
                due.push(p.clone());
                false
            } else {
                true
            }
        });
        for p in due {
            sa.queue.push_back(p);
        }
        if sa.create.is_none() && timer::take_due(&mut sa.deadlines.rekey, now) {
            sa.queue.push_back(Purpose::RekeyIke);
        }
        let mut expired = Vec::new();
        for c in sa.children.iter_mut() {
            if c.state() != ChildStatusState::Deleting
                && timer::take_due(&mut c.deadlines.hard_expire, now)
            {
                expired.push(c.spi_in);
            } else if c.state() == ChildStatusState::Installed
                && timer::take_due(&mut c.deadlines.rekey, now)
            {
                sa.queue.push_back(Purpose::RekeyChild { spi_in: c.spi_in });
            }
        }
        for spi in expired {
            self.expire_child(key, spi);
        }
        if dpd_due {
            if let Some(sa) = self.sas.get_mut(&key) {
                sa.queue.push_back(Purpose::Dpd);
            }
        }
        self.pump(now, key);
    }

    /// Sends a NAT keepalive for each of `due` whose keepalive time has come.
    fn keepalive_timeout(&mut self, now: Instant, due: &[u64]) {
        let mut paths: Vec<(SocketAddr, SocketAddr)> = Vec::new();
        for key in due {
            let Some(sa) = self.sas.get(key) else {
                continue;
            };
            let sent = self.sas.last_sent(sa);
            if keepalive_deadline(&self.cx.config, sa, sent).is_some_and(|d| now >= d)
                && !paths.contains(&(sa.local, sa.remote))
            {
                paths.push((sa.local, sa.remote));
                self.sas.touch(*key);
            }
        }
        for (local, remote) in paths {
            self.cx.send(local, remote, NAT_KEEPALIVE.to_vec());
        }
    }
}
