//! Operator commands: initiate, terminate, liveness check, shutdown.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use crate::config::{resolve_ts, ChildConfig, ConnConfig};
use crate::consts::ExchangeType;
use crate::event::{DownReason, Event, FailureReason, IkeState, LogLevel, NoConnection};
use crate::exchange::{self, ike_sa_init, informational};
use crate::output::Command;
use crate::rng::Rng;
use crate::sa::status::ChildStatusState;
use crate::sa::{PendingChild, Purpose};
use crate::timer;

use super::Endpoint;

fn unspecified(v4: bool) -> IpAddr {
    if v4 {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    }
}

impl<R: Rng> Endpoint<R> {
    pub fn handle_command(&mut self, now: Instant, cmd: Command) {
        self.command(now, cmd);
        self.finish_turn(now);
    }

    fn command(&mut self, now: Instant, cmd: Command) {
        match cmd {
            Command::Initiate { conn, child } => self.initiate(now, &conn, child.as_deref()),
            Command::TerminateIke { conn } => self.terminate_ike(now, &conn),
            Command::TerminateChild { conn, child } => self.terminate_child(now, &conn, &child),
            Command::Liveness { conn } => {
                for key in self.keys_of(&conn) {
                    if let Some(sa) = self.sas.get_mut(&key) {
                        if sa.is_established() {
                            sa.queue.push_back(Purpose::Liveness);
                        }
                    }
                    self.pump(now, key);
                }
            }
            Command::Shutdown => {
                let keys: Vec<u64> = self.sas.keys().copied().collect();
                for key in keys {
                    self.delete_now(key);
                }
            }
        }
    }

    pub(super) fn keys_of(&self, conn: &str) -> Vec<u64> {
        self.sas
            .iter()
            .filter(|(_, sa)| sa.conn == conn)
            .map(|(k, _)| *k)
            .collect()
    }

    pub(super) fn log(&mut self, level: LogLevel, conn: Option<&str>, message: String) {
        self.cx.emit(Event::Log {
            level,
            conn: conn.map(str::to_string),
            message,
        });
    }

    pub(super) fn initiate(&mut self, now: Instant, name: &str, child: Option<&str>) {
        let Some(conn) = self.cx.config.connection(name).cloned() else {
            return self.log(
                LogLevel::Error,
                None,
                format!("initiate: no connection named '{name}'"),
            );
        };
        let child_cfg = match child {
            Some(c) => match conn.child(c) {
                Some(cc) => Some(cc.clone()),
                None => {
                    return self.log(
                        LogLevel::Error,
                        Some(name),
                        format!("initiate: connection '{name}' has no child '{c}'"),
                    )
                }
            },
            None => conn.children.first().cloned(),
        };
        let existing = self
            .sas
            .iter()
            .find(|(_, sa)| {
                sa.conn == name
                    && !matches!(sa.state(), IkeState::Deleting | IkeState::Destroyed)
                    && sa.rekeyed_to.is_none()
            })
            .map(|(k, sa)| (*k, sa.is_established()));
        match existing {
            Some((key, established)) => self.add_child(now, name, key, established, child_cfg),
            None => self.start_ike_sa(now, &conn, child_cfg),
        }
    }

    /// RFC 7296 section 1.3.1: a further Child SA under the IKE SA that is there.
    fn add_child(
        &mut self,
        now: Instant,
        name: &str,
        key: u64,
        established: bool,
        child_cfg: Option<ChildConfig>,
    ) {
        let Some(cc) = child_cfg else {
            return self.log(
                LogLevel::Warn,
                Some(name),
                format!("initiate: '{name}' is up and has no child to add"),
            );
        };
        if !established {
            return self.log(
                LogLevel::Warn,
                Some(name),
                format!("initiate: the IKE SA of '{name}' is still being set up"),
            );
        }
        if let Some(sa) = self.sas.get_mut(&key) {
            sa.queue.push_back(Purpose::CreateChild { child: cc.name });
        }
        self.pump(now, key);
    }

    /// A new IKE SA for `conn` from its single local to its single remote address, carrying
    /// `child_cfg` in IKE_AUTH.
    fn start_ike_sa(&mut self, now: Instant, conn: &ConnConfig, child_cfg: Option<ChildConfig>) {
        let name = conn.name.as_str();
        let (Some(rip), Some(lip)) = (conn.initiate_to(), conn.initiate_from()) else {
            let peer = SocketAddr::new(
                conn.initiate_to().unwrap_or(unspecified(true)),
                conn.remote_port,
            );
            let reason = FailureReason::NoMatchingConnection {
                why: NoConnection::NoSingleAddress {
                    conn: name.to_string(),
                },
            };
            return self.cx.fail(now, Some(name.to_string()), peer, reason);
        };
        // A peer configured on another port than 500 (e.g. 4500) is reached from our NAT-T
        // socket right away, with the non-ESP marker (RFC 7296 section 2.23).
        let local_port =
            if conn.remote_port != timer::IKE_PORT && conn.local_port == timer::IKE_PORT {
                self.cx.config.settings.natt.port
            } else {
                conn.local_port
            };
        let local = SocketAddr::new(lip, local_port);
        let remote = SocketAddr::new(rip, conn.remote_port);
        let spi_i = self.unused_spi();
        let initial_contact = !self.sas.values().any(|sa| sa.remote.ip() == rip);
        let mut sa = match ike_sa_init::initiate(&mut self.cx, now, conn, local, remote, spi_i) {
            Ok(sa) => sa,
            Err(reason) => return self.cx.fail(now, Some(name.to_string()), remote, reason),
        };
        sa.initial_contact = initial_contact;
        if let Some(cc) = child_cfg {
            let spi_in = self.cx.alloc_esp_spi();
            sa.pending_child = Some(PendingChild {
                name: cc.name.clone(),
                spi_in,
                mode: cc.mode,
                proposals: cc.esp_proposals.without_ke(),
                local_ts: resolve_ts(&cc.local_ts, lip),
                remote_ts: resolve_ts(&cc.remote_ts, rip),
            });
        }
        self.sas.insert(spi_i, sa);
    }

    pub(super) fn terminate_ike(&mut self, now: Instant, conn: &str) {
        for key in self.keys_of(conn) {
            let Some(sa) = self.sas.get_mut(&key) else {
                continue;
            };
            match sa.state() {
                IkeState::Established => {
                    let ev = sa.transition(IkeState::Deleting);
                    self.cx.emit(ev);
                    // Pending requests are moot; the Delete goes next.
                    sa.queue.clear();
                    sa.queue.push_back(Purpose::DeleteIke);
                    self.pump(now, key);
                }
                IkeState::Deleting | IkeState::Destroyed => {}
                _ => self.destroy(key, DownReason::LocalDelete),
            }
        }
    }

    pub(super) fn terminate_child(&mut self, now: Instant, conn: &str, child: &str) {
        for key in self.keys_of(conn) {
            let Some(sa) = self.sas.get_mut(&key) else {
                continue;
            };
            if !sa.is_established() {
                continue;
            }
            let mut spis = Vec::new();
            for c in sa.children.iter_mut().filter(|c| c.name == child) {
                if c.state() != ChildStatusState::Deleting {
                    let ev = c.transition(&sa.conn, ChildStatusState::Deleting);
                    self.cx.emit(ev);
                    spis.push(c.spi_in);
                }
            }
            if !spis.is_empty() {
                sa.queue.push_back(Purpose::DeleteChild { spis_in: spis });
            }
            self.pump(now, key);
        }
    }

    /// Shutdown: one Delete for an established SA, sent without waiting, then local teardown.
    pub(super) fn delete_now(&mut self, key: u64) {
        if let Some(sa) = self.sas.get_mut(&key) {
            if matches!(sa.state(), IkeState::Established | IkeState::Deleting) {
                let msg_id = sa.requests.next_id();
                let payloads = informational::request_payloads(&Purpose::DeleteIke);
                if let Ok(bytes) = exchange::seal(
                    self.cx.rng_dyn(),
                    sa,
                    ExchangeType::INFORMATIONAL,
                    false,
                    msg_id,
                    &payloads,
                ) {
                    let (l, r) = (sa.local, sa.remote);
                    self.cx.send(l, r, bytes);
                }
            }
        }
        self.destroy(key, DownReason::LocalDelete);
    }
}
