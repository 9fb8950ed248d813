//! NAT traversal (RFC 7296 section 2.23, RFC 3948) between two cores: a NAT in front of the
//! initiator rewrites its source address and port, the initiator floats IKE to port 4500, both
//! kernels get ESP-in-UDP SAs with the NAT-mapped ports, the side behind the NAT sends keepalives,
//! and a changed NAT mapping (kernel MAPPING event or an IKE message from the new port) moves the
//! SAs. The driver's part is played here too: the non-ESP marker on port 4500 is added on send
//! and stripped on receive, keepalives are recognised and not handed to the core.

mod harness;

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rswan_ikev2::config::Config;
use rswan_ikev2::consts::ExchangeType;
use rswan_ikev2::endpoint::Endpoint;
use rswan_ikev2::event::Event;
use rswan_ikev2::output::{Command, Direction, KernelEvent, Output, SaSpec, UdpEncap};
use rswan_ikev2::rng::TestRng;
use rswan_ikev2::sa::status::{ChildStatusState, IkeStatusState};
use rswan_ikev2::wire::{classify_natt, with_non_esp_marker, NattDatagram};

use harness::clock::Clock;
use harness::kernel::KernelModel;
use harness::setup::{self, Pair, A_CHILD, A_CONN, A_ID, B_CHILD, B_CONN, B_ID};

const NATT: u16 = 4500;
const DELAY: Duration = Duration::from_millis(10);

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A datagram as it is on the wire (marker included on 4500).
#[derive(Clone, Debug)]
struct Wire {
    from: SocketAddr,
    to: SocketAddr,
    bytes: Vec<u8>,
}

/// A port-restricted NAT in front of one host: each inside port gets its own public port.
struct Nat {
    inside: IpAddr,
    public: IpAddr,
    map: BTreeMap<u16, u16>,
    next_port: u16,
}

impl Nat {
    fn new(inside: IpAddr, public: IpAddr) -> Nat {
        Nat {
            inside,
            public,
            map: BTreeMap::new(),
            next_port: 40001,
        }
    }

    fn outbound(&mut self, from: SocketAddr) -> SocketAddr {
        let next = &mut self.next_port;
        let p = *self.map.entry(from.port()).or_insert_with(|| {
            *next += 1;
            *next - 1
        });
        SocketAddr::new(self.public, p)
    }

    fn inbound(&self, to: SocketAddr) -> Option<SocketAddr> {
        self.map
            .iter()
            .find(|(_, p)| **p == to.port())
            .map(|(inside, _)| SocketAddr::new(self.inside, *inside))
    }

    /// The NAT forgets the mapping of `inside_port` and gives it a fresh public port.
    fn remap(&mut self, inside_port: u16) -> u16 {
        self.map.remove(&inside_port);
        self.outbound(SocketAddr::new(self.inside, inside_port))
            .port()
    }
}

struct Node {
    addr: IpAddr,
    ep: Endpoint<TestRng>,
    kernel: KernelModel,
    events: Vec<(Duration, Event)>,
    /// What this node put on the wire (before any NAT), with the send time.
    wire: Vec<(Duration, Wire)>,
    keepalives_received: u32,
}

impl Node {
    fn new(addr: IpAddr, cfg: Config, seed: u64) -> Node {
        Node {
            addr,
            ep: Endpoint::new(cfg, TestRng::new(seed)),
            kernel: KernelModel::default(),
            events: Vec::new(),
            wire: Vec::new(),
            keepalives_received: 0,
        }
    }

    fn ike(&self) -> rswan_ikev2::sa::status::IkeSaStatus {
        let st = self.ep.status();
        let ike: Vec<_> = st
            .connections
            .into_iter()
            .flat_map(|c| c.ike_sas)
            .filter(|s| s.state == IkeStatusState::Established)
            .collect();
        assert_eq!(ike.len(), 1, "one established IKE SA");
        ike.into_iter().next().unwrap()
    }

    fn up(&self) -> bool {
        self.ep.status().connections.iter().any(|c| {
            c.ike_sas.iter().any(|s| {
                s.state == IkeStatusState::Established
                    && s.children.len() == 1
                    && s.children[0].state == ChildStatusState::Installed
            })
        })
    }

    fn sa(&self, dir: Direction) -> SaSpec {
        let v = self.kernel.sas_dir(dir);
        assert_eq!(v.len(), 1, "{dir:?} SAs: {v:?}");
        v[0].clone()
    }

    fn nat_detected(&self) -> Vec<(bool, bool)> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::NatDetected {
                    local_behind_nat,
                    remote_behind_nat,
                    ..
                } => Some((*local_behind_nat, *remote_behind_nat)),
                _ => None,
            })
            .collect()
    }

    fn failures(&self) -> Vec<&Event> {
        self.events
            .iter()
            .map(|(_, e)| e)
            .filter(|e| matches!(e, Event::NegotiationFailed { .. } | Event::Dropped { .. }))
            .collect()
    }

    /// Keepalives this node sent: (time, from, to).
    fn keepalives(&self) -> Vec<(Duration, SocketAddr, SocketAddr)> {
        self.wire
            .iter()
            .filter(|(_, w)| w.bytes == [0xff])
            .map(|(t, w)| (*t, w.from, w.to))
            .collect()
    }
}

/// Host `a` (optionally behind `nat`) and host `b`, a fixed-delay FIFO link, a virtual clock.
struct NatWorld {
    clock: Clock,
    a: Node,
    b: Node,
    nat: Option<Nat>,
    link: VecDeque<(Instant, Wire)>,
}

impl NatWorld {
    /// A at `a_local` behind a NAT with public address `public`; B at `b_addr`. A initiates to
    /// `b_dst` (B's address, on port 500 or 4500).
    fn new(
        a_local: SocketAddr,
        public: Option<IpAddr>,
        b_addr: SocketAddr,
        b_dst: SocketAddr,
    ) -> NatWorld {
        let pair = Pair::default();
        let settings = rswan_ikev2::config::Settings::default();
        let ca = setup::config(
            &pair.a, &settings, A_CONN, A_CHILD, a_local, b_dst, A_ID, B_ID,
        );
        let a_seen = SocketAddr::new(public.unwrap_or(a_local.ip()), 500);
        let cb = setup::config(
            &pair.b, &settings, B_CONN, B_CHILD, b_addr, a_seen, B_ID, A_ID,
        );
        NatWorld {
            clock: Clock::new(),
            a: Node::new(a_local.ip(), ca, 11),
            b: Node::new(b_addr.ip(), cb, 12),
            nat: public.map(|p| Nat::new(a_local.ip(), p)),
            link: VecDeque::new(),
        }
    }

    /// A at `a_addr`; B at `b_local` behind a NAT at `public` that forwards ports 500 and 4500
    /// to it (a responder behind a port forward). A initiates to the public address.
    fn responder_behind_nat(a_addr: SocketAddr, b_local: SocketAddr, public: IpAddr) -> NatWorld {
        let pair = Pair::default();
        let settings = rswan_ikev2::config::Settings::default();
        let b_public = SocketAddr::new(public, 500);
        let ca = setup::config(
            &pair.a, &settings, A_CONN, A_CHILD, a_addr, b_public, A_ID, B_ID,
        );
        let cb = setup::config(
            &pair.b, &settings, B_CONN, B_CHILD, b_local, a_addr, B_ID, A_ID,
        );
        let mut nat = Nat::new(b_local.ip(), public);
        nat.map.insert(500, 500);
        nat.map.insert(NATT, NATT);
        NatWorld {
            clock: Clock::new(),
            a: Node::new(a_addr.ip(), ca, 13),
            b: Node::new(b_local.ip(), cb, 14),
            nat: Some(nat),
            link: VecDeque::new(),
        }
    }

    fn now(&self) -> Instant {
        self.clock.now()
    }

    /// The driver's send path: marker on the NAT-T socket except for a keepalive, then the NAT.
    fn pump(&mut self) {
        let (now, t) = (self.clock.now(), self.clock.elapsed());
        for from_a in [true, false] {
            let node = if from_a { &mut self.a } else { &mut self.b };
            while let Some(out) = node.ep.poll_output() {
                match out {
                    Output::Send { from, to, bytes } => {
                        assert_eq!(from.ip(), node.addr, "sends from a foreign address");
                        let on_natt = from.port() == NATT;
                        let wire = if on_natt && bytes != [0xff] {
                            with_non_esp_marker(&bytes)
                        } else {
                            assert!(bytes != [0xff] || on_natt, "keepalive not on 4500");
                            bytes
                        };
                        let w = Wire {
                            from,
                            to,
                            bytes: wire,
                        };
                        node.wire.push((t, w.clone()));
                        self.link.push_back((now + DELAY, w));
                    }
                    Output::Kernel { token, op } => {
                        let result = node
                            .kernel
                            .apply(now, &op)
                            .map_err(harness::kernel::typed_error);
                        node.ep
                            .handle_kernel(now, KernelEvent::OpResult { token, result });
                    }
                    Output::Event(e) => {
                        eprintln!("[{t:?}] {} {e}", if from_a { "A" } else { "B" });
                        node.events.push((t, e));
                    }
                }
            }
        }
    }

    /// The NAT, then the receiving driver: strip the marker on 4500, swallow keepalives.
    fn deliver(&mut self, mut w: Wire) {
        if let Some(nat) = self.nat.as_mut() {
            if w.from.ip() == nat.inside {
                w.from = nat.outbound(w.from);
            } else if w.to.ip() == nat.public {
                match nat.inbound(w.to) {
                    Some(inside) => w.to = inside,
                    None => return, // no mapping: the NAT drops it
                }
            }
        }
        let to_b = w.to.ip() == self.b.addr;
        let now = self.now();
        let node = if to_b { &mut self.b } else { &mut self.a };
        assert_eq!(w.to.ip(), node.addr, "datagram for nobody: {w:?}");
        if w.to.port() == NATT {
            match classify_natt(&w.bytes) {
                NattDatagram::Ike(ike) => node.ep.handle_datagram(now, w.to, w.from, ike),
                NattDatagram::Keepalive => node.keepalives_received += 1,
                other => panic!("unexpected datagram on 4500: {other:?}"),
            }
        } else {
            assert_ne!(
                w.bytes.get(..4),
                Some(&[0u8; 4][..]),
                "non-ESP marker on port {}",
                w.to.port()
            );
            node.ep.handle_datagram(now, w.to, w.from, &w.bytes);
        }
        self.pump();
    }

    fn run_until(&mut self, max: Duration, done: impl Fn(&NatWorld) -> bool) -> bool {
        let limit = self.now() + max;
        for _ in 0..100_000 {
            self.pump();
            let now = self.now();
            while self.link.front().is_some_and(|(t, _)| *t <= now) {
                let (_, w) = self.link.pop_front().unwrap();
                self.deliver(w);
            }
            for from_a in [true, false] {
                let node = if from_a { &mut self.a } else { &mut self.b };
                if node.ep.poll_timeout().is_some_and(|t| t <= now) {
                    node.ep.handle_timeout(now);
                }
                self.pump();
            }
            if done(self) {
                return true;
            }
            let next = [
                self.link.front().map(|(t, _)| *t),
                self.a.ep.poll_timeout(),
                self.b.ep.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(t) if t <= limit => self.clock.advance_to(t),
                _ => {
                    self.clock.advance_to(limit);
                    return false;
                }
            }
        }
        panic!("step limit");
    }

    fn run_for(&mut self, d: Duration) {
        self.run_until(d, |_| false);
    }

    fn establish(&mut self) {
        let now = self.now();
        self.a.ep.handle_command(
            now,
            Command::Initiate {
                conn: A_CONN.into(),
                child: None,
            },
        );
        assert!(
            self.run_until(Duration::from_secs(60), |w| w.a.up() && w.b.up()),
            "no establishment; A: {:?} B: {:?}",
            self.a.failures(),
            self.b.failures()
        );
        assert!(self.a.failures().is_empty(), "{:?}", self.a.failures());
        assert!(self.b.failures().is_empty(), "{:?}", self.b.failures());
    }

    fn public_port(&self, inside: u16) -> u16 {
        self.nat.as_ref().unwrap().map[&inside]
    }
}

fn encap(sport: u16, dport: u16) -> Option<UdpEncap> {
    Some(UdpEncap { sport, dport })
}

fn exchange_of(ike: &[u8]) -> ExchangeType {
    rswan_ikev2::wire::Header::peek(ike)
        .unwrap()
        .header
        .exchange
}

fn behind_nat() -> NatWorld {
    let mut w = NatWorld::new(
        sa("10.0.0.1:500"),
        Some(ip("203.0.113.5")),
        sa("192.0.2.2:500"),
        sa("192.0.2.2:500"),
    );
    w.establish();
    w
}

#[test]
fn nat_in_front_of_the_initiator_is_detected_and_ike_floats_to_4500() {
    let w = behind_nat();
    // Each side names the right one as being behind the NAT, in events and in status.
    assert_eq!(w.a.nat_detected(), vec![(true, false)]);
    assert_eq!(w.b.nat_detected(), vec![(false, true)]);
    let (ia, ib) = (w.a.ike(), w.b.ike());
    assert_eq!((ia.nat_local, ia.nat_remote), (Some(true), Some(false)));
    assert_eq!((ib.nat_local, ib.nat_remote), (Some(false), Some(true)));
    // IKE_SA_INIT on 500 without marker, IKE_AUTH on 4500 -> 4500 with the marker.
    let a_ike: Vec<&Wire> = w.a.wire.iter().map(|(_, x)| x).collect();
    assert_eq!(
        (a_ike[0].from, a_ike[0].to),
        (sa("10.0.0.1:500"), sa("192.0.2.2:500"))
    );
    assert_eq!(exchange_of(&a_ike[0].bytes), ExchangeType::IKE_SA_INIT);
    let auth = a_ike
        .iter()
        .find(|x| x.to.port() == NATT)
        .expect("IKE_AUTH on 4500");
    assert_eq!(auth.from, sa("10.0.0.1:4500"));
    assert_eq!(auth.bytes[..4], [0, 0, 0, 0], "non-ESP marker");
    assert_eq!(exchange_of(&auth.bytes[4..]), ExchangeType::IKE_AUTH);
    // B answered IKE_AUTH from its 4500 to the NAT's mapping of A's 4500, marker included.
    let mapped = w.public_port(NATT);
    let b_auth =
        w.b.wire
            .iter()
            .map(|(_, x)| x)
            .find(|x| x.from.port() == NATT)
            .unwrap();
    assert_eq!(b_auth.to, SocketAddr::new(ip("203.0.113.5"), mapped));
    assert_eq!(b_auth.bytes[..4], [0, 0, 0, 0]);
    assert_eq!(
        (ia.local, ia.remote),
        (sa("10.0.0.1:4500"), sa("192.0.2.2:4500"))
    );
    assert_eq!(
        (ib.local, ib.remote),
        (
            sa("192.0.2.2:4500"),
            SocketAddr::new(ip("203.0.113.5"), mapped)
        )
    );
}

#[test]
fn both_kernels_get_esp_in_udp_with_the_nat_mapped_ports() {
    let w = behind_nat();
    let mapped = w.public_port(NATT);
    let (a_in, a_out) = (w.a.sa(Direction::In), w.a.sa(Direction::Out));
    let (b_in, b_out) = (w.b.sa(Direction::In), w.b.sa(Direction::Out));
    // A only knows its private address; B only the NAT's public one.
    assert_eq!(
        (a_in.src, a_in.dst, a_in.encap),
        (ip("192.0.2.2"), ip("10.0.0.1"), encap(NATT, NATT))
    );
    assert_eq!(
        (a_out.src, a_out.dst, a_out.encap),
        (ip("10.0.0.1"), ip("192.0.2.2"), encap(NATT, NATT))
    );
    assert_eq!(
        (b_in.src, b_in.dst, b_in.encap),
        (ip("203.0.113.5"), ip("192.0.2.2"), encap(mapped, NATT))
    );
    assert_eq!(
        (b_out.src, b_out.dst, b_out.encap),
        (ip("192.0.2.2"), ip("203.0.113.5"), encap(NATT, mapped))
    );
    assert_eq!((a_in.spi, a_out.spi), (b_out.spi, b_in.spi));
    assert_eq!(*a_in.encr.key, *b_out.encr.key);
    // Tunnel endpoints of the policies are the addresses each side sees.
    assert!(w
        .a
        .kernel
        .policies
        .iter()
        .all(|p| [p.tmpl_src, p.tmpl_dst].contains(&ip("10.0.0.1"))));
    assert!(w
        .b
        .kernel
        .policies
        .iter()
        .all(|p| [p.tmpl_src, p.tmpl_dst].contains(&ip("203.0.113.5"))));
    assert!(w.a.ike().children[0].encap && w.b.ike().children[0].encap);
}

#[test]
fn only_the_side_behind_the_nat_sends_keepalives_every_20_s_of_silence() {
    let mut w = behind_nat();
    let start = w.clock.elapsed();
    w.run_for(Duration::from_secs(70));
    let ka = w.a.keepalives();
    assert_eq!(ka.len(), 3, "{ka:?}");
    for (_, from, to) in &ka {
        assert_eq!((*from, *to), (sa("10.0.0.1:4500"), sa("192.0.2.2:4500")));
    }
    // 20 s after the last IKE message A sent (its IKE_AUTH), then every 20 s.
    let last_ike =
        w.a.wire
            .iter()
            .filter(|(_, x)| x.bytes != [0xff])
            .map(|(t, _)| *t)
            .max()
            .unwrap();
    assert!(last_ike <= start);
    assert_eq!(ka[0].0, last_ike + Duration::from_secs(20));
    assert_eq!(ka[1].0 - ka[0].0, Duration::from_secs(20));
    assert_eq!(ka[2].0 - ka[1].0, Duration::from_secs(20));
    assert!(w.b.keepalives().is_empty(), "B is not behind a NAT");
    assert_eq!(
        w.b.keepalives_received, 3,
        "through the NAT, swallowed by B's driver"
    );
    // Any other datagram to the peer postpones the next keepalive.
    let now = w.now();
    w.a.ep.handle_command(
        now,
        Command::Liveness {
            conn: A_CONN.into(),
        },
    );
    let t_live = w.clock.elapsed();
    w.run_for(Duration::from_secs(25));
    let ka = w.a.keepalives();
    assert_eq!(ka.len(), 4);
    assert_eq!(ka[3].0, t_live + Duration::from_secs(20));
    assert!(w.a.failures().is_empty() && w.b.failures().is_empty());
}

#[test]
fn a_kernel_mapping_event_moves_the_esp_in_udp_sas_to_the_new_nat_port() {
    let mut w = behind_nat();
    let old_port = w.public_port(NATT);
    let new_port = w.nat.as_mut().unwrap().remap(NATT);
    assert_ne!(old_port, new_port);
    let b_in = w.b.sa(Direction::In);
    let (old, new) = (
        SocketAddr::new(ip("203.0.113.5"), old_port),
        SocketAddr::new(ip("203.0.113.5"), new_port),
    );
    let now = w.now();
    w.b.ep.handle_kernel(
        now,
        KernelEvent::Mapping {
            dst: b_in.dst,
            spi: b_in.spi,
            old,
            new,
        },
    );
    w.pump();
    let (b_in2, b_out2) = (w.b.sa(Direction::In), w.b.sa(Direction::Out));
    assert_eq!((b_in2.spi, b_in2.encap), (b_in.spi, encap(new_port, NATT)));
    assert_eq!(b_out2.encap, encap(NATT, new_port));
    assert!(w.b.kernel.errors().is_empty(), "{:?}", w.b.kernel.errors());
    assert_eq!(w.b.ike().remote, new);
    assert_eq!(w.b.ike().children[0].state, ChildStatusState::Installed);
    // IKE follows too: B's liveness check reaches A through the new mapping and is answered.
    let now = w.now();
    w.b.ep.handle_command(
        now,
        Command::Liveness {
            conn: B_CONN.into(),
        },
    );
    let before = w.b.ike().last_peer_message;
    w.run_for(Duration::from_secs(5));
    assert_eq!(w.b.wire.last().unwrap().1.to, new);
    assert!(w.b.ike().last_peer_message > before, "answer received");
    assert!(w.a.failures().is_empty() && w.b.failures().is_empty());
    // An unknown SPI is ignored.
    let now = w.now();
    w.b.ep.handle_kernel(
        now,
        KernelEvent::Mapping {
            dst: b_in.dst,
            spi: 0x1234,
            old: new,
            new: old,
        },
    );
    w.pump();
    assert_eq!(w.b.ike().remote, new);
}

#[test]
fn an_ike_request_from_a_new_nat_port_moves_the_responder_and_its_sas() {
    let mut w = behind_nat();
    let new_port = w.nat.as_mut().unwrap().remap(NATT);
    let now = w.now();
    w.a.ep.handle_command(
        now,
        Command::Liveness {
            conn: A_CONN.into(),
        },
    );
    w.run_for(Duration::from_secs(5));
    let new = SocketAddr::new(ip("203.0.113.5"), new_port);
    assert_eq!(w.b.ike().remote, new);
    assert_eq!(w.b.sa(Direction::Out).encap, encap(NATT, new_port));
    assert_eq!(w.b.sa(Direction::In).encap, encap(new_port, NATT));
    assert!(w.b.kernel.errors().is_empty(), "{:?}", w.b.kernel.errors());
    assert!(w
        .b
        .events
        .iter()
        .any(|(_, e)| e.to_string().contains("NAT mapping changed")));
    assert!(w.a.failures().is_empty() && w.b.failures().is_empty());
}

#[test]
fn initiating_to_port_4500_uses_the_nat_t_socket_from_the_first_message() {
    let mut w = NatWorld::new(
        sa("10.0.0.1:500"),
        Some(ip("203.0.113.5")),
        sa("192.0.2.2:500"),
        sa("192.0.2.2:4500"),
    );
    w.establish();
    for (_, x) in w.a.wire.iter().chain(w.b.wire.iter()) {
        assert_eq!(
            (
                x.from.port(),
                x.to.port() == NATT || x.to.ip() == ip("203.0.113.5")
            ),
            (NATT, true),
            "{x:?}"
        );
        if x.bytes != [0xff] {
            assert_eq!(x.bytes[..4], [0, 0, 0, 0], "marker on every IKE message");
        }
    }
    assert_eq!(
        exchange_of(&w.a.wire[0].1.bytes[4..]),
        ExchangeType::IKE_SA_INIT
    );
    assert_eq!(w.a.nat_detected(), vec![(true, false)]);
    let mapped = w.public_port(NATT);
    assert_eq!(w.b.sa(Direction::Out).encap, encap(NATT, mapped));
    assert_eq!(w.a.sa(Direction::Out).encap, encap(NATT, NATT));
}

#[test]
fn a_responder_behind_a_port_forward_detects_its_nat_and_sends_the_keepalives() {
    let mut w =
        NatWorld::responder_behind_nat(sa("192.0.2.1:500"), sa("10.0.0.2:500"), ip("203.0.113.9"));
    w.establish();
    assert_eq!(w.a.nat_detected(), vec![(false, true)]);
    assert_eq!(w.b.nat_detected(), vec![(true, false)]);
    // A floats because the peer is behind a NAT; B follows on its forwarded 4500.
    assert_eq!(
        (w.a.ike().local, w.a.ike().remote),
        (sa("192.0.2.1:4500"), sa("203.0.113.9:4500"))
    );
    assert_eq!(
        (w.b.ike().local, w.b.ike().remote),
        (sa("10.0.0.2:4500"), sa("192.0.2.1:4500"))
    );
    let (a_out, b_out) = (w.a.sa(Direction::Out), w.b.sa(Direction::Out));
    assert_eq!(
        (a_out.dst, a_out.encap),
        (ip("203.0.113.9"), encap(NATT, NATT))
    );
    assert_eq!(
        (b_out.src, b_out.encap),
        (ip("10.0.0.2"), encap(NATT, NATT))
    );
    w.run_for(Duration::from_secs(45));
    let ka = w.b.keepalives();
    assert_eq!(ka.len(), 2, "{ka:?}");
    assert!(ka
        .iter()
        .all(|(_, f, t)| (*f, *t) == (sa("10.0.0.2:4500"), sa("192.0.2.1:4500"))));
    assert!(w.a.keepalives().is_empty());
    assert_eq!(w.a.keepalives_received, 2);
    assert!(w.a.failures().is_empty() && w.b.failures().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Without a NAT, on the standard harness world
// ---------------------------------------------------------------------------------------------

use harness::{establish, Side, World};

fn one_byte_sends(w: &World, s: Side) -> usize {
    let p = if s == Side::A { &w.a } else { &w.b };
    p.sent.iter().filter(|(_, d)| d.bytes.len() == 1).count()
}

#[test]
fn encap_yes_forces_udp_encapsulation_without_a_nat() {
    let mut w = Pair::default().build(7);
    w.a.config.connections[0].encap = true;
    w.a.ep = Endpoint::new(w.a.config.clone(), TestRng::new(99));
    establish(&mut w);
    // B was made to believe A is behind a NAT (faked NAT_DETECTION_SOURCE_IP); A sees none.
    let nat = |p: &harness::Peer| {
        p.events()
            .filter_map(|e| match e {
                Event::NatDetected {
                    local_behind_nat,
                    remote_behind_nat,
                    ..
                } => Some((*local_behind_nat, *remote_behind_nat)),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(nat(&w.a), vec![(false, false)]);
    assert_eq!(nat(&w.b), vec![(false, true)]);
    for p in [&w.a, &w.b] {
        for s in p.kernel.sas.values() {
            assert_eq!(s.encap, encap(NATT, NATT), "{}: {s:?}", p.name);
        }
    }
    let auth =
        w.a.sent
            .iter()
            .map(|(_, d)| d)
            .find(|d| exchange_of(&d.bytes) == ExchangeType::IKE_AUTH)
            .unwrap();
    assert_eq!((auth.from.port(), auth.to.port()), (NATT, NATT));
    // Nobody is really behind a NAT: no keepalives.
    w.run_for(Duration::from_secs(60));
    assert_eq!(
        (one_byte_sends(&w, Side::A), one_byte_sends(&w, Side::B)),
        (0, 0)
    );
}

#[test]
fn without_a_nat_nothing_is_encapsulated_and_ike_stays_on_500() {
    let mut w = Pair::default().build(8);
    establish(&mut w);
    for p in [&w.a, &w.b] {
        assert!(
            p.kernel.sas.values().all(|s| s.encap.is_none()),
            "{}",
            p.name
        );
        assert!(p
            .sent
            .iter()
            .all(|(_, d)| d.from.port() == 500 && d.to.port() == 500));
        let ike = harness::established_ike(p);
        assert_eq!(
            (ike[0].nat_local, ike[0].nat_remote),
            (Some(false), Some(false))
        );
        assert!(!ike[0].children[0].encap);
    }
    w.run_for(Duration::from_secs(60));
    assert_eq!(
        (one_byte_sends(&w, Side::A), one_byte_sends(&w, Side::B)),
        (0, 0)
    );
}
