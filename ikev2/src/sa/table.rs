//! All IKE SAs of an endpoint, with the indexes that keep the cost of one event independent of
//! how many SAs there are: a deadline index (the earliest timer is the first entry, and only the
//! SAs whose timer is due are visited), counts of responder half-open SAs in total and per source
//! address, and the SAs on each (local, remote) path.
//!
//! Any mutable access marks the SA dirty; `settle` re-derives its index entries. Because every
//! change goes through `get_mut`/`insert`/`remove`, an index cannot silently go stale: the worst
//! case is an SA settled later than it changed, and the endpoint settles at the end of every call.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::IkeSa;

/// What the indexes hold for one SA, as of its last `settle`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Indexed {
    deadline: Option<Instant>,
    /// `Some(address)` while the SA is a responder half-open SA counted under that address.
    half_open: Option<IpAddr>,
    path: (SocketAddr, SocketAddr),
}

#[derive(Default)]
pub(crate) struct SaTable {
    map: BTreeMap<u64, IkeSa>,
    indexed: HashMap<u64, Indexed>,
    dirty: Vec<u64>,
    deadlines: BTreeSet<(Instant, u64)>,
    half_open: usize,
    half_open_by_ip: HashMap<IpAddr, usize>,
    by_path: HashMap<(SocketAddr, SocketAddr), PathEntry>,
}

/// The SAs on one (local, remote) path, and when we last sent anything on it (a NAT keepalive is
/// due only after a silence on the path, whichever SA spoke last).
#[derive(Debug, Default)]
struct PathEntry {
    keys: BTreeSet<u64>,
    last_sent: Option<Instant>,
}

impl SaTable {
    pub fn get(&self, key: &u64) -> Option<&IkeSa> {
        self.map.get(key)
    }

    pub fn get_mut(&mut self, key: &u64) -> Option<&mut IkeSa> {
        let sa = self.map.get_mut(key)?;
        self.dirty.push(*key);
        Some(sa)
    }

    pub fn contains_key(&self, key: &u64) -> bool {
        self.map.contains_key(key)
    }

    /// Inserts (or replaces) the SA under `key`; it is indexed at the next `settle`.
    pub fn insert(&mut self, key: u64, sa: IkeSa) {
        self.map.insert(key, sa);
        self.dirty.push(key);
    }

    pub fn remove(&mut self, key: &u64) -> Option<IkeSa> {
        let sa = self.map.remove(key)?;
        self.unindex(*key);
        Some(sa)
    }

    pub fn keys(&self) -> impl Iterator<Item = &u64> {
        self.map.keys()
    }

    pub fn values(&self) -> impl Iterator<Item = &IkeSa> {
        self.map.values()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&u64, &IkeSa)> {
        self.map.iter()
    }

    /// Every SA, mutably: all are re-indexed at the next `settle` (for rare, whole-table work
    /// such as a reload, never per packet).
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut IkeSa> {
        self.dirty.extend(self.map.keys().copied());
        self.map.values_mut()
    }

    /// Responder SAs that have not completed IKE_AUTH.
    pub fn half_open(&self) -> usize {
        self.half_open
    }

    /// Responder half-open SAs whose IKE_SA_INIT came from `ip`.
    pub fn half_open_from(&self, ip: IpAddr) -> usize {
        self.half_open_by_ip.get(&ip).copied().unwrap_or(0)
    }

    /// Records that we sent on `path` at `now`. Only paths that carry an SA are remembered, so
    /// answers to unauthenticated senders leave nothing behind. A later send only moves the SAs'
    /// keepalive deadlines later, so their index entries may be early until they are next
    /// settled (an early wake-up that finds nothing due, never a late one); the first send on a
    /// path can create a deadline, so then its SAs are re-indexed.
    pub fn stamp_sent(&mut self, path: (SocketAddr, SocketAddr), now: Instant) {
        if let Some(p) = self.by_path.get_mut(&path) {
            if p.last_sent.replace(now).is_none() {
                self.dirty.extend(p.keys.iter().copied());
            }
        }
    }

    /// When we last sent on the path of `sa`.
    pub fn last_sent(&self, sa: &IkeSa) -> Option<Instant> {
        self.by_path.get(&(sa.local, sa.remote))?.last_sent
    }

    /// Marks every SA for re-indexing (after a configuration change moved their deadlines).
    pub fn touch_all(&mut self) {
        self.dirty.extend(self.map.keys().copied());
    }

    /// Marks `key` for re-indexing at the next `settle` without touching it.
    pub fn touch(&mut self, key: u64) {
        self.dirty.push(key);
    }

    /// The earliest deadline of any SA, as of the last `settle`.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(t, _)| *t)
    }

    /// The SAs whose deadline is at or before `now`, earliest first.
    pub fn due(&self, now: Instant) -> Vec<u64> {
        self.deadlines
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|(_, k)| *k)
            .collect()
    }

    /// Re-derives the index entries of every SA touched since the last call; `deadline` is the
    /// SA's earliest timer.
    pub fn settle(&mut self, deadline: impl Fn(&IkeSa, Option<Instant>) -> Option<Instant>) {
        if self.dirty.is_empty() {
            return;
        }
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        for key in dirty {
            let Some(sa) = self.map.get(&key) else {
                continue;
            };
            let sent = self
                .by_path
                .get(&(sa.local, sa.remote))
                .and_then(|p| p.last_sent);
            let now = Indexed {
                deadline: deadline(sa, sent),
                half_open: sa
                    .is_half_open()
                    .then(|| sa.init_from.unwrap_or(sa.remote.ip())),
                path: (sa.local, sa.remote),
            };
            if self.indexed.get(&key) == Some(&now) {
                continue;
            }
            // An SA that moves (NAT-T float, a new NAT mapping) keeps the silence it had: what
            // we sent on its old path still counts for its keepalives.
            let carried = self
                .indexed
                .get(&key)
                .and_then(|old| self.by_path.get(&old.path))
                .and_then(|p| p.last_sent);
            self.unindex(key);
            if let Some(t) = now.deadline {
                self.deadlines.insert((t, key));
            }
            if let Some(ip) = now.half_open {
                self.half_open = self.half_open.saturating_add(1);
                let n = self.half_open_by_ip.entry(ip).or_insert(0);
                *n = n.saturating_add(1);
            }
            let entry = self.by_path.entry(now.path).or_default();
            entry.keys.insert(key);
            entry.last_sent = entry.last_sent.max(carried);
            self.indexed.insert(key, now);
        }
    }

    fn unindex(&mut self, key: u64) {
        let Some(old) = self.indexed.remove(&key) else {
            return;
        };
        if let Some(t) = old.deadline {
            self.deadlines.remove(&(t, key));
        }
        if let Some(ip) = old.half_open {
            self.half_open = self.half_open.saturating_sub(1);
            if let Some(n) = self.half_open_by_ip.get_mut(&ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.half_open_by_ip.remove(&ip);
                }
            }
        }
        if let Some(p) = self.by_path.get_mut(&old.path) {
            p.keys.remove(&key);
            if p.keys.is_empty() {
                self.by_path.remove(&old.path);
            }
        }
    }
}
