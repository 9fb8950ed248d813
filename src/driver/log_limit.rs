//! Rate-limited, summarised logging of unauthenticated traffic.
//!
//! Anyone can send IKE_SA_INIT requests from spoofed addresses, so a line per such datagram lets a
//! flood fill the journal, and journald's own rate limit then drops the lines an operator needs.
//! Per topic (what happened and why, without per-packet details) the first few events of a window
//! are logged as usual; the rest are counted, and when the window ends one line summarises them:
//! "dropped 18,234 IKE_SA_INIT from 17,901 sources in the last 10 s: no SA for these SPIs".
//! Everything here is bounded: a fixed number of topics, a fixed number of distinct sources per
//! topic, after which the summary says "more than N".

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rswan_ikev2::consts::ProtocolId;
use rswan_ikev2::event::{DropReason, Event, FailureReason, LogLevel};

/// Distinct source addresses remembered per topic; beyond this the summary says "more than".
pub const MAX_SOURCES: usize = 1000;
/// Topics tracked at once; later topics share one catch-all bucket until a window ends.
pub const MAX_TOPICS: usize = 32;

/// What happened, without anything that differs from packet to packet, so that a flood of
/// packets falls into one topic.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Topic {
    /// "dropped", "refused", "answered", ...
    pub verb: &'static str,
    /// What was counted: "IKE_SA_INIT", "datagrams", "half-open IKE SAs".
    pub noun: String,
    pub reason: String,
}

impl Topic {
    fn new(verb: &'static str, noun: impl Into<String>, reason: impl Into<String>) -> Topic {
        Topic {
            verb,
            noun: noun.into(),
            reason: reason.into(),
        }
    }

    fn overflow() -> Topic {
        Topic::new("dropped or refused", "messages", "other reasons")
    }
}

/// The topic of an event about unauthenticated traffic, and its source; `None` for everything
/// else (SAs up and down, authentication results, rekeys, ...), which is never limited.
/// `datagram_from` is the source of the datagram being processed, for events that do not name it.
pub fn topic(ev: &Event, datagram_from: Option<SocketAddr>) -> Option<(Topic, Option<IpAddr>)> {
    let from = datagram_from.map(|a| a.ip());
    match ev {
        Event::Dropped {
            from: src,
            exchange,
            reason,
        } => {
            let noun = match exchange {
                Some(x) => x.to_string(),
                None => "datagrams".to_owned(),
            };
            Some((
                Topic::new("dropped", noun, drop_class(reason)),
                Some(src.ip()),
            ))
        }
        Event::NegotiationFailed { conn, peer, reason } => {
            let conn = conn
                .as_deref()
                .map(|c| format!("<{c}> "))
                .unwrap_or_default();
            let t = match reason {
                FailureReason::NoMatchingConnection { .. } => {
                    Topic::new("refused", "IKE_SA_INIT", "no matching connection")
                }
                FailureReason::ProposalMismatch {
                    protocol,
                    child: None,
                    ..
                } if *protocol == ProtocolId::IKE => Topic::new(
                    "refused",
                    "IKE_SA_INIT",
                    format!("{conn}no acceptable IKE proposal"),
                ),
                FailureReason::HalfOpenTimeout => Topic::new(
                    "closed",
                    "half-open IKE SAs",
                    format!("{conn}timed out before IKE_AUTH"),
                ),
                _ => return None,
            };
            Some((t, Some(peer.ip())))
        }
        // The core's reports for a responder's IKE_SA_INIT carry no peer field; the datagram
        // being processed is the one they answer. They hold no per-packet data.
        Event::KeGroupRequested { .. } => {
            Some((Topic::new("answered", "IKE_SA_INIT", ev.to_string()), from))
        }
        Event::ProposalSelected { protocol, .. } if *protocol == ProtocolId::IKE => {
            Some((Topic::new("accepted", "IKE_SA_INIT", ev.to_string()), from))
        }
        Event::CookieDemanded { from, .. } => Some((
            Topic::new(
                "answered",
                "IKE_SA_INIT",
                "demanded a COOKIE (half-open IKE SAs at cookie_threshold)",
            ),
            Some(from.ip()),
        )),
        // Reported for every half-open SA, before anything is authenticated.
        Event::NatDetected { .. } => Some((
            Topic::new("noted", "NAT detection results", ev.to_string()),
            from,
        )),
        _ => None,
    }
}

/// The drop reason without its per-packet details.
fn drop_class(r: &DropReason) -> String {
    match r {
        DropReason::Malformed(_) => "malformed message".to_owned(),
        DropReason::UnexpectedMessageId { .. } => "unexpected message ID".to_owned(),
        DropReason::UnexpectedResponse(_) => "unexpected response".to_owned(),
        DropReason::UnexpectedExchange(_) => "unexpected exchange".to_owned(),
        DropReason::UnsupportedVersion(_) => "unsupported IKE major version".to_owned(),
        DropReason::UnsupportedCritical(_) => "unsupported critical payload".to_owned(),
        other => other.to_string(),
    }
}

/// How many distinct sources a summary covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sources {
    Exactly(usize),
    MoreThan(usize),
}

/// One line for the events of a window that were not logged one by one.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub topic: Topic,
    pub level: LogLevel,
    /// Every event of the window, the ones logged individually included.
    pub count: u64,
    pub sources: Sources,
    pub window: Duration,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.topic.verb,
            thousands(self.count),
            self.topic.noun
        )?;
        match self.sources {
            Sources::Exactly(0) => {}
            Sources::Exactly(1) => f.write_str(" from 1 source")?,
            Sources::Exactly(n) => write!(f, " from {} sources", thousands(n as u64))?,
            Sources::MoreThan(n) => write!(f, " from more than {} sources", thousands(n as u64))?,
        }
        write!(
            f,
            " in the last {} s: {}",
            self.window.as_secs(),
            self.topic.reason
        )
    }
}

/// 18234 -> "18,234".
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

struct Bucket {
    started: Instant,
    level: LogLevel,
    count: u64,
    sources: HashSet<IpAddr>,
    /// A source arrived when `sources` was full.
    more_sources: bool,
}

impl Bucket {
    fn summary(self, topic: Topic, window: Duration, burst: u32) -> Option<Summary> {
        // Nothing was held back: every event already has its own line.
        if self.count <= u64::from(burst) {
            return None;
        }
        let n = self.sources.len();
        Some(Summary {
            topic,
            level: self.level,
            count: self.count,
            sources: if self.more_sources {
                Sources::MoreThan(n)
            } else {
                Sources::Exactly(n)
            },
            window,
        })
    }
}

/// The per-topic windows. Time is passed in, so tests drive it with plain `Instant`s.
pub struct LogLimiter {
    window: Duration,
    burst: u32,
    max_sources: usize,
    max_topics: usize,
    buckets: HashMap<Topic, Bucket>,
}

impl LogLimiter {
    pub fn new(window: Duration, burst: u32, max_sources: usize, max_topics: usize) -> Self {
        LogLimiter {
            window,
            burst,
            max_sources,
            max_topics: max_topics.max(2),
            buckets: HashMap::new(),
        }
    }

    /// Window and burst from `settings.log_drop_interval` / `log_drop_burst`.
    pub fn from_settings(s: &crate::config::Settings) -> Self {
        LogLimiter::new(
            s.log_drop_interval,
            s.log_drop_burst,
            MAX_SOURCES,
            MAX_TOPICS,
        )
    }

    /// A reload's window and burst, from the next event or expiry on.
    pub fn configure(&mut self, s: &crate::config::Settings) {
        self.window = s.log_drop_interval;
        self.burst = s.log_drop_burst;
    }

    /// Counts one event; true if it should still get its own line. A window of the same topic
    /// that has ended is summarised first (the summary is returned for logging).
    pub fn admit(
        &mut self,
        now: Instant,
        topic: Topic,
        source: Option<IpAddr>,
        level: LogLevel,
    ) -> (bool, Option<Summary>) {
        let mut ended = None;
        if let Some(b) = self.buckets.get(&topic) {
            if now.saturating_duration_since(b.started) >= self.window {
                if let Some(b) = self.buckets.remove(&topic) {
                    ended = b.summary(topic.clone(), self.window, self.burst);
                }
            }
        }
        // The last slot is kept for the catch-all, so it always has room.
        let topic = if self.buckets.contains_key(&topic) || self.buckets.len() + 1 < self.max_topics
        {
            topic
        } else {
            Topic::overflow()
        };
        let b = self.buckets.entry(topic).or_insert_with(|| Bucket {
            started: now,
            level,
            count: 0,
            sources: HashSet::new(),
            more_sources: false,
        });
        b.count = b.count.saturating_add(1);
        if let Some(ip) = source {
            if b.sources.len() < self.max_sources {
                b.sources.insert(ip);
            } else if !b.sources.contains(&ip) {
                b.more_sources = true;
            }
        }
        (b.count <= u64::from(self.burst), ended)
    }

    /// Summaries of the windows that have ended by `now`; their topics start afresh.
    pub fn expire(&mut self, now: Instant) -> Vec<Summary> {
        let ended: Vec<Topic> = self
            .buckets
            .iter()
            .filter(|(_, b)| now.saturating_duration_since(b.started) >= self.window)
            .map(|(t, _)| t.clone())
            .collect();
        let mut out = Vec::new();
        for t in ended {
            if let Some(b) = self.buckets.remove(&t) {
                out.extend(b.summary(t, self.window, self.burst));
            }
        }
        out
    }

    /// When the next summary is due; windows with nothing held back need no wake-up (they are
    /// cleared by the next `admit` or `expire`).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.buckets
            .values()
            .filter(|b| b.count > u64::from(self.burst))
            .map(|b| b.started + self.window)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rswan_ikev2::event::NoConnection;
    use std::net::Ipv4Addr;

    fn ip(n: u32) -> Option<IpAddr> {
        Some(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n)))
    }

    fn nomatch() -> Topic {
        Topic::new("refused", "IKE_SA_INIT", "no matching connection")
    }

    #[test]
    fn burst_then_one_summary_per_window() {
        let mut l = LogLimiter::new(Duration::from_secs(10), 3, 100, 8);
        let t0 = Instant::now();
        let mut shown = 0;
        for i in 0..1000u32 {
            let now = t0 + Duration::from_millis(u64::from(i));
            let (show, ended) = l.admit(now, nomatch(), ip(i % 50), LogLevel::Error);
            assert!(ended.is_none());
            shown += u32::from(show);
        }
        assert_eq!(shown, 3);
        assert_eq!(l.next_deadline(), Some(t0 + Duration::from_secs(10)));
        assert!(l.expire(t0 + Duration::from_secs(9)).is_empty());
        let s = l.expire(t0 + Duration::from_secs(10));
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].count, 1000);
        assert_eq!(s[0].sources, Sources::Exactly(50));
        assert_eq!(
            s[0].to_string(),
            "refused 1,000 IKE_SA_INIT from 50 sources in the last 10 s: no matching connection"
        );
        // A new window logs its first events again.
        let later = t0 + Duration::from_secs(11);
        assert!(l.admit(later, nomatch(), ip(1), LogLevel::Error).0);
        assert_eq!(l.next_deadline(), None);
    }

    #[test]
    fn no_summary_when_nothing_was_held_back() {
        let mut l = LogLimiter::new(Duration::from_secs(10), 5, 100, 8);
        let t0 = Instant::now();
        for i in 0..5 {
            assert!(l.admit(t0, nomatch(), ip(i), LogLevel::Error).0);
        }
        assert!(l.expire(t0 + Duration::from_secs(20)).is_empty());
    }

    #[test]
    fn ended_window_is_summarised_by_the_next_event_of_its_topic() {
        let mut l = LogLimiter::new(Duration::from_secs(10), 1, 100, 8);
        let t0 = Instant::now();
        l.admit(t0, nomatch(), ip(1), LogLevel::Error);
        l.admit(t0, nomatch(), ip(2), LogLevel::Error);
        let (show, ended) = l.admit(
            t0 + Duration::from_secs(12),
            nomatch(),
            ip(3),
            LogLevel::Error,
        );
        assert!(show);
        let s = ended.expect("the first window held one event back");
        assert_eq!(s.count, 2);
        assert_eq!(s.sources, Sources::Exactly(2));
    }

    #[test]
    fn sources_are_capped_and_reported_as_more_than() {
        let mut l = LogLimiter::new(Duration::from_secs(10), 5, 100, 8);
        let t0 = Instant::now();
        for i in 0..20_000 {
            l.admit(t0, nomatch(), ip(i), LogLevel::Error);
        }
        let s = l.expire(t0 + Duration::from_secs(10));
        assert_eq!(s[0].sources, Sources::MoreThan(100));
        assert_eq!(s[0].count, 20_000);
        assert!(s[0].to_string().contains("from more than 100 sources"));
    }

    #[test]
    fn topics_are_capped_with_a_catch_all() {
        let mut l = LogLimiter::new(Duration::from_secs(10), 1, 10, 4);
        let t0 = Instant::now();
        for i in 0..100u32 {
            let t = Topic::new("dropped", "IKE_SA_INIT", format!("reason {i}"));
            l.admit(t0, t.clone(), ip(i), LogLevel::Debug);
            l.admit(t0, t, ip(i), LogLevel::Debug);
        }
        assert!(l.buckets.len() <= 4);
        let s = l.expire(t0 + Duration::from_secs(10));
        let total: u64 = s.iter().map(|s| s.count).sum();
        assert_eq!(total, 200, "no event goes uncounted");
        assert!(s.iter().any(|s| s.topic == Topic::overflow()));
    }

    #[test]
    fn authenticated_events_are_not_limited() {
        let up = Event::IkeSaUp {
            conn: "gw".into(),
            spis: rswan_ikev2::event::IkeSpis {
                initiator: 1,
                responder: 2,
            },
            local: "192.0.2.1:500".parse().unwrap(),
            remote: "192.0.2.2:500".parse().unwrap(),
            local_id: "a".into(),
            remote_id: "b".into(),
            initiator: false,
        };
        assert!(topic(&up, None).is_none());
        let auth = Event::NegotiationFailed {
            conn: Some("gw".into()),
            peer: "192.0.2.2:500".parse().unwrap(),
            reason: FailureReason::AuthenticationFailed {
                peer_id: "b".into(),
                why: rswan_ikev2::event::AuthFailure::PskMismatch,
            },
        };
        assert!(topic(&auth, None).is_none());
    }

    #[test]
    fn per_packet_details_do_not_split_topics() {
        let a = Event::Dropped {
            from: "198.51.100.1:500".parse().unwrap(),
            exchange: None,
            reason: DropReason::Malformed("payload length 3".into()),
        };
        let b = Event::Dropped {
            from: "198.51.100.2:4500".parse().unwrap(),
            exchange: None,
            reason: DropReason::Malformed("payload length 9".into()),
        };
        assert_eq!(topic(&a, None).unwrap().0, topic(&b, None).unwrap().0);
        let nm = |peer: &str| Event::NegotiationFailed {
            conn: None,
            peer: peer.parse().unwrap(),
            reason: FailureReason::NoMatchingConnection {
                why: NoConnection::Addresses {
                    local: "192.0.2.1".parse().unwrap(),
                    remote: peer.parse::<std::net::SocketAddr>().unwrap().ip(),
                },
            },
        };
        let (ta, sa) = topic(&nm("203.0.113.1:500"), None).unwrap();
        let (tb, _) = topic(&nm("203.0.113.9:500"), None).unwrap();
        assert_eq!(ta, tb);
        assert_eq!(sa, Some("203.0.113.1".parse().unwrap()));
        let from: SocketAddr = "203.0.113.7:500".parse().unwrap();
        let cookie = Event::CookieDemanded {
            from,
            half_open: 31,
        };
        let (t, src) = topic(&cookie, None).unwrap();
        assert_eq!(src, Some(from.ip()));
        let other = Event::CookieDemanded {
            from: "198.51.100.1:4500".parse().unwrap(),
            half_open: 90,
        };
        assert_eq!(
            topic(&other, None).unwrap().0,
            t,
            "one topic for every COOKIE demand"
        );
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(18234), "18,234");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
