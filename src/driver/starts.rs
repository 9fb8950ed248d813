//! Children the daemon negotiates on its own (start_action=start, close_action=start), with
//! swanctl's `keyingtries`: when the peer does not answer, the negotiation is started again, up
//! to `keyingtries` attempts in all (0 = until it succeeds). Errors other than an unanswered
//! peer (authentication, proposals) end the attempts, as in strongSwan.
//!
//! A connection's children are issued one at a time while its IKE SA is being set up: the core
//! refuses a second initiation while the first IKE SA is still connecting, and once it is
//! established the remaining children follow as CREATE_CHILD_SA exchanges.

use std::time::Instant;

use rswan_ikev2::event::{Event, FailureReason};
use rswan_ikev2::output::Command;
use rswan_ikev2::sa::status::IkeStatusState;

use super::Daemon;

#[derive(Debug, Default)]
pub(super) struct Starts {
    pending: Vec<Pending>,
}

#[derive(Debug)]
struct Pending {
    conn: String,
    /// `None`: the connection has no children (a childless IKE SA).
    child: Option<String>,
    /// Attempts started so far.
    tries: u32,
    /// keyingtries of the connection; 0 = no limit.
    limit: u32,
    /// An attempt is under way.
    issued: bool,
}

impl Starts {
    /// Stops retrying `conn` (rswanctl down, reload).
    pub fn forget(&mut self, conn: &str) {
        self.pending.retain(|p| p.conn != conn);
    }

    /// Follows the core's events: a child that came up is done; an unanswered peer means another
    /// attempt (or giving up after `keyingtries`); any other failure ends the attempts.
    pub fn observe(&mut self, ev: &Event) {
        match ev {
            Event::ChildSaUp { conn, child, .. } => self
                .pending
                .retain(|p| !(p.conn == *conn && p.child.as_ref().is_none_or(|c| c == child))),
            Event::IkeSaUp { conn, .. } => self
                .pending
                .retain(|p| !(p.conn == *conn && p.child.is_none())),
            Event::NegotiationFailed {
                conn: Some(conn),
                reason,
                ..
            } => {
                let lost = matches!(
                    reason,
                    FailureReason::PeerLost { .. } | FailureReason::DpdTimeout { .. }
                );
                self.pending.retain_mut(|p| {
                    if p.conn != *conn || !p.issued {
                        return true;
                    }
                    let what = match &p.child {
                        Some(c) => format!("{conn}/{c}"),
                        None => conn.clone(),
                    };
                    if !lost {
                        tracing::info!(conn = %conn, "{what}: not retried after: {reason}");
                        return false;
                    }
                    if p.limit != 0 && p.tries >= p.limit {
                        tracing::warn!(conn = %conn, "{what}: giving up after {} keying tries, peer not responding", p.tries);
                        return false;
                    }
                    p.issued = false;
                    true
                });
            }
            _ => {}
        }
    }
}

impl Daemon {
    /// Queues `conn`/`child` for negotiation (once; a queued one keeps its count).
    pub(super) fn queue_start(&mut self, conn: &str, child: Option<String>) {
        let Some(c) = self.config.connection(conn) else {
            return;
        };
        let child = child.or_else(|| c.children.first().map(|ch| ch.name.clone()));
        if self
            .starts
            .pending
            .iter()
            .any(|p| p.conn == conn && p.child == child)
        {
            return;
        }
        self.starts.pending.push(Pending {
            conn: conn.to_owned(),
            child,
            tries: 0,
            limit: c.keyingtries,
            issued: false,
        });
    }

    /// Starts the queued negotiations that can go now. Returns whether any did.
    pub(super) fn issue_starts(&mut self, now: Instant) -> bool {
        if self.starts.pending.iter().all(|p| p.issued) {
            return false;
        }
        let status = self.ep.status();
        let mut commands = Vec::new();
        let mut conns_busy: Vec<String> = Vec::new();
        for p in self.starts.pending.iter_mut().filter(|p| !p.issued) {
            if conns_busy.contains(&p.conn) {
                continue;
            }
            let ike: Vec<IkeStatusState> = status
                .connections
                .iter()
                .filter(|c| c.name == p.conn)
                .flat_map(|c| &c.ike_sas)
                .map(|s| s.state)
                .collect();
            if ike.contains(&IkeStatusState::Connecting) {
                continue;
            }
            if !ike.contains(&IkeStatusState::Established) {
                // This one sets up the IKE SA; the connection's others wait for it.
                conns_busy.push(p.conn.clone());
            }
            p.tries += 1;
            p.issued = true;
            let what = match &p.child {
                Some(c) => format!("{}/{c}", p.conn),
                None => p.conn.clone(),
            };
            match (p.tries, p.limit) {
                (1, _) => tracing::info!(conn = %p.conn, "initiating {what}"),
                (n, 0) => {
                    tracing::info!(conn = %p.conn, "{what}: peer not responding, trying again ({n}/unlimited)")
                }
                (n, l) => {
                    tracing::info!(conn = %p.conn, "{what}: peer not responding, trying again ({n}/{l})")
                }
            }
            commands.push(Command::Initiate {
                conn: p.conn.clone(),
                child: p.child.clone(),
            });
        }
        let any = !commands.is_empty();
        for c in commands {
            self.ep.handle_command(now, c);
        }
        any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rswan_ikev2::config::Mode;

    fn pending(child: &str, limit: u32) -> Pending {
        Pending {
            conn: "gw".into(),
            child: Some(child.into()),
            tries: 1,
            limit,
            issued: true,
        }
    }

    fn failed(reason: FailureReason) -> Event {
        Event::NegotiationFailed {
            conn: Some("gw".into()),
            peer: "192.0.2.2:500".parse().unwrap(),
            reason,
        }
    }

    fn lost() -> Event {
        failed(FailureReason::PeerLost { retransmits: 1 })
    }

    /// Plays the driver: every attempt that is not under way is started again.
    fn reissue(s: &mut Starts) {
        for p in s.pending.iter_mut().filter(|p| !p.issued) {
            p.tries += 1;
            p.issued = true;
        }
    }

    #[test]
    fn unanswered_peer_is_retried_up_to_keyingtries() {
        let mut s = Starts {
            pending: vec![pending("lan", 3)],
        };
        s.observe(&lost());
        assert!(!s.pending[0].issued, "attempt 2 is due");
        reissue(&mut s);
        s.observe(&lost());
        reissue(&mut s);
        assert_eq!(s.pending[0].tries, 3);
        s.observe(&lost());
        assert!(s.pending.is_empty(), "gave up after 3 attempts");
    }

    #[test]
    fn zero_keyingtries_retries_forever_until_the_child_is_up() {
        let mut s = Starts {
            pending: vec![pending("lan", 0)],
        };
        for _ in 0..50 {
            s.observe(&lost());
            reissue(&mut s);
        }
        assert_eq!(s.pending[0].tries, 51);
        s.observe(&Event::ChildSaUp {
            conn: "gw".into(),
            child: "lan".into(),
            reqid: 1,
            spi_in: 0x1000,
            spi_out: 0x2000,
            mode: Mode::Tunnel,
            local_ts: String::new(),
            remote_ts: String::new(),
        });
        assert!(s.pending.is_empty());
    }

    #[test]
    fn other_failures_and_other_connections() {
        let mut s = Starts {
            pending: vec![pending("lan", 0), {
                let mut p = pending("dmz", 0);
                p.conn = "other".into();
                p
            }],
        };
        // Authentication errors are permanent: no retry, as in strongSwan.
        s.observe(&failed(FailureReason::PeerRejectedAuthentication));
        assert_eq!(s.pending.len(), 1);
        assert_eq!(
            s.pending[0].conn, "other",
            "another connection is not touched"
        );
        s.forget("other");
        assert!(s.pending.is_empty());
    }
}
