//! `established_peer`: what a peer that completed IKE_SA_INIT (and usually IKE_AUTH) reaches.
//!
//! Once per process two endpoints, initiator A and responder B, establish an IKE SA; A's
//! IKE_SA_INIT and IKE_AUTH requests and B's SK keys are kept. Each input then gets a fresh B with
//! the same seed, so replaying A's IKE_SA_INIT gives the same SPIs and keys (the outcome of an
//! input never depends on the ones before it), and the input's messages are sealed with SK_ei/SK_ai
//! as A would seal them.
//!
//! Input: one setup octet, then up to [`MAX_MESSAGES`] records (see [`Record::parse`]).
//! - setup bit 0: instead of replaying A's IKE_AUTH, send an IKE_AUTH holding A's IDi and AUTH
//!   (which cover only IDi and the IKE_SA_INIT messages, so they stay valid) followed by the first
//!   record's payloads: SA, TSi, TSr, CP and notifies of an authenticated peer's IKE_AUTH.

use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rswan_ikev2::config::{
    Action, AddrSpec, AuthConfig, AuthKind, ChildConfig, Config, ConnConfig, Mode, Psk, Settings,
    TsConfig,
};
use rswan_ikev2::consts::PayloadType;
use rswan_ikev2::crypto::{sk, Encr, Integ, SkCipher};
use rswan_ikev2::endpoint::Endpoint;
use rswan_ikev2::output::{Command, KernelError, KernelErrorKind, KernelEvent, Output};
use rswan_ikev2::proposal::ProposalSet;
use rswan_ikev2::rng::TestRng;
use rswan_ikev2::sa::status::IkeStatusState;
use rswan_ikev2::wire::{decode_inner, encode_inner, Identity, InnerPayload, TrafficSelector};

pub const A_ADDR: &str = "192.0.2.1:500";
pub const B_ADDR: &str = "192.0.2.2:500";
const A_SEED: u64 = 11;
const B_SEED: u64 = 12;
/// Messages per input after the IKE_AUTH: enough for request sequences (create, rekey, delete).
pub const MAX_MESSAGES: usize = 8;
/// Payloads per message.
pub const MAX_PAYLOADS: usize = 16;
/// B's local subnets. Narrowing pairs every selector the peer proposes with each of these, so a
/// hub with this many subnets answers a TSr of N selectors with up to 8 x N.
pub const B_LOCAL_NETS: usize = 8;

/// IKE exchange types a record can choose by its low two bits (3: the type follows raw).
pub const EXCHANGES: [u8; 3] = [35, 36, 37];

fn net(a: [u8; 4], prefix: u8) -> TsConfig {
    TsConfig::Range(TrafficSelector::from_cidr(IpAddr::from(a), prefix).expect("valid prefix"))
}

fn config(
    conn: &str,
    local: SocketAddr,
    remote: SocketAddr,
    ids: (&str, &str),
    local_ts: Vec<TsConfig>,
    remote_ts: Vec<TsConfig>,
) -> Config {
    let child = ChildConfig {
        name: format!("{conn}-net"),
        local_ts,
        remote_ts,
        esp_proposals: ProposalSet::parse_esp("aes256gcm16,aes128-sha256-modp2048,aes128-sha256")
            .expect("ESP proposal"),
        mode: Mode::Tunnel,
        start_action: Action::None,
        dpd_action: Action::None,
        close_action: Action::None,
        rekey_time: Duration::from_secs(3600),
        life_time: Duration::from_secs(3960),
        rekey_bytes: 0,
        life_bytes: 0,
    };
    Config {
        settings: Settings::default(),
        connections: vec![ConnConfig {
            name: conn.into(),
            local_addrs: vec![AddrSpec::Addr(local.ip())],
            remote_addrs: vec![AddrSpec::Addr(remote.ip())],
            local_port: local.port(),
            remote_port: remote.port(),
            ike_proposals: ProposalSet::parse_ike(
                "aes256gcm16-prfsha256-x25519,aes128-sha256-prfsha256-ecp256",
            )
            .expect("IKE proposal"),
            local: AuthConfig {
                auth: AuthKind::Psk,
                id: Some(Identity::Fqdn(ids.0.into())),
            },
            remote: AuthConfig {
                auth: AuthKind::Psk,
                id: Some(Identity::Fqdn(ids.1.into())),
            },
            psk: Some(Psk::new(b"fuzz-shared-secret-0123456789".to_vec())),
            encap: false,
            dpd_delay: Duration::ZERO,
            rekey_time: Duration::from_secs(14_400),
            children: vec![child],
        }],
    }
}

fn addrs() -> (SocketAddr, SocketAddr) {
    (
        A_ADDR.parse().expect("A address"),
        B_ADDR.parse().expect("B address"),
    )
}

fn initiator() -> Endpoint<TestRng> {
    let (a, b) = addrs();
    let cfg = config(
        "a",
        a,
        b,
        ("a.example", "b.example"),
        vec![net([10, 1, 0, 0], 24)],
        vec![net([10, 2, 0, 0], 16)],
    );
    Endpoint::new(cfg, TestRng::new(A_SEED))
}

/// A fresh responder; the same one for every input.
pub fn responder() -> Endpoint<TestRng> {
    let (a, b) = addrs();
    let local = (0..B_LOCAL_NETS as u8)
        .map(|i| net([10, 2, i, 0], 24))
        .collect();
    let cfg = config(
        "b",
        b,
        a,
        ("b.example", "a.example"),
        local,
        vec![net([10, 1, 0, 0], 16)],
    );
    Endpoint::new(cfg, TestRng::new(B_SEED))
}

/// What the once-per-process handshake leaves for the inputs.
pub struct Recorded {
    pub t0: Instant,
    pub init_req: Vec<u8>,
    pub auth_req: Vec<u8>,
    pub spi_i: u64,
    pub spi_r: u64,
    cipher: SkCipher,
    sk_ei: Vec<u8>,
    sk_ai: Vec<u8>,
    /// A's IDi and AUTH payloads, encoded; the last one's Next Payload octet is at `idi_auth_last`.
    idi_auth_first: u8,
    idi_auth: Vec<u8>,
    idi_auth_last: usize,
    /// A's inbound ESP SPI: what A names in a Delete or REKEY_SA for its first Child SA.
    pub a_child_spi_in: u32,
}

/// Answers every kernel op (with an error when `fail`), drops everything else; bounded, since a
/// core that never stops producing output is a bug the fuzzer should report.
pub fn drain(ep: &mut Endpoint<TestRng>, now: Instant, fail: bool, sent: &mut Vec<Vec<u8>>) {
    for _ in 0..100_000 {
        match ep.poll_output() {
            None => return,
            Some(Output::Kernel { token, .. }) => {
                let result = if fail {
                    Err(KernelError::new(
                        KernelErrorKind::Other(0),
                        "fuzz: kernel refused",
                    ))
                } else {
                    Ok(())
                };
                ep.handle_kernel(now, KernelEvent::OpResult { token, result });
            }
            Some(Output::Send { bytes, .. }) => sent.push(bytes),
            Some(Output::Event(_)) => {}
        }
    }
    panic!("endpoint produced unbounded output");
}

fn handshake() -> Recorded {
    let (a_addr, b_addr) = addrs();
    let t0 = Instant::now();
    let mut a = initiator();
    let mut b = responder();
    a.handle_command(
        t0,
        Command::Initiate {
            conn: "a".into(),
            child: None,
        },
    );
    let mut from_a: Vec<Vec<u8>> = Vec::new();
    let mut to_a: Vec<Vec<u8>> = Vec::new();
    let mut recorded = Vec::new();
    for _ in 0..16 {
        drain(&mut a, t0, false, &mut from_a);
        if from_a.is_empty() {
            break;
        }
        for d in from_a.drain(..) {
            recorded.push(d.clone());
            b.handle_datagram(t0, b_addr, a_addr, &d);
            drain(&mut b, t0, false, &mut to_a);
        }
        for d in to_a.drain(..) {
            a.handle_datagram(t0, a_addr, b_addr, &d);
        }
    }
    let established = |ep: &Endpoint<TestRng>| {
        ep.status()
            .connections
            .iter()
            .flat_map(|c| c.ike_sas.iter())
            .any(|s| s.state == IkeStatusState::Established && !s.children.is_empty())
    };
    assert!(established(&a) && established(&b), "fuzz setup: no IKE SA");
    let [init_req, auth_req] =
        <[Vec<u8>; 2]>::try_from(recorded).expect("fuzz setup: two requests");
    let keys = b.ike_sa_keys(|_, _| true).pop().expect("fuzz setup: keys");
    let encr = Encr::new(keys.encr, Some(keys.encr_key_bits)).expect("encr");
    let integ = keys.integ.map(|i| Integ::new(i).expect("integ"));
    let cipher = SkCipher::new(encr, integ).expect("cipher");
    let (first, pt) =
        sk::open(&cipher, &keys.sk_ei, &keys.sk_ai, &auth_req).expect("open IKE_AUTH");
    let inner = decode_inner(PayloadType(first), &pt).expect("decode IKE_AUTH");
    let kept: Vec<InnerPayload> = inner
        .into_iter()
        .filter(|p| matches!(p, InnerPayload::IdI(_) | InnerPayload::Auth(_)))
        .collect();
    assert_eq!(kept.len(), 2, "fuzz setup: IDi and AUTH");
    let (t, last) = encode_inner(&kept[1..]);
    let (idi_first, mut idi_auth) = encode_inner(&kept[..1]);
    idi_auth[0] = t.0;
    let idi_auth_last = idi_auth.len();
    idi_auth.extend_from_slice(&last);
    let a_child_spi_in = a
        .status()
        .connections
        .iter()
        .flat_map(|c| c.ike_sas.iter())
        .flat_map(|s| s.children.iter())
        .map(|c| c.spi_in)
        .next()
        .expect("A's child");

    // Every input's responder must come out with the same keys, or the inputs are noise.
    let mut b2 = responder();
    b2.handle_datagram(t0, b_addr, a_addr, &init_req);
    drain(&mut b2, t0, false, &mut Vec::new());
    let k2 = b2
        .ike_sa_keys(|_, _| true)
        .pop()
        .expect("fuzz setup: keys again");
    assert!(
        k2.spi_r == keys.spi_r && *k2.sk_ei == *keys.sk_ei,
        "fuzz setup: the responder is not deterministic"
    );
    Recorded {
        t0,
        init_req,
        auth_req,
        spi_i: keys.spi_i,
        spi_r: keys.spi_r,
        cipher,
        sk_ei: keys.sk_ei.to_vec(),
        sk_ai: keys.sk_ai.to_vec(),
        idi_auth_first: idi_first.0,
        idi_auth,
        idi_auth_last,
        a_child_spi_in,
    }
}

pub fn recorded() -> &'static Recorded {
    static R: OnceLock<Recorded> = OnceLock::new();
    R.get_or_init(handshake)
}

/// One message of an input.
///
/// `ctl` octet:
/// - bits 0-1: exchange, an index into [`EXCHANGES`]; 3: the type follows as one raw octet
/// - bits 2-3: Message ID: 0 the next one B expects, 1 the previous one again (a retransmission),
///   2 one past the next, 3 a big-endian u32 follows
/// - bit 4: send it with the Response flag
/// - bit 5: B's kernel operations fail while it handles this message
/// - bit 6: afterwards, 70 s pass and B's timers fire
///
/// Then the payload count (mod [`MAX_PAYLOADS`] + 1), and per payload its type, a big-endian u16
/// body length (one past the end of the input takes the rest) and the body; the generic payload
/// headers are written here, so mutations of a body never break the chain. Types [`GEN_TSI`] and
/// [`GEN_TSR`] are generated TS payloads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    pub ctl: u8,
    pub raw_exchange: u8,
    pub msg_id: u32,
    pub payloads: Vec<(u8, Vec<u8>)>,
}

/// Pseudo payload types: a TSi / TSr generated from a count and one IPv4 selector (see
/// [`expand_ts`]), so that one mutated octet turns a handful of selectors into hundreds.
pub const GEN_TSI: u8 = 0xf1;
pub const GEN_TSR: u8 = 0xf2;

/// A TS payload body of `body[0]` selectors, the i-th being the IPv4 selector in `body[1..17]`
/// (type, protocol, length, ports, addresses as on the wire) with both ports plus i, so that
/// narrowing does not merge them. `None` when the body is too short.
pub fn expand_ts(body: &[u8]) -> Option<Vec<u8>> {
    let (&count, rest) = body.split_first()?;
    let tmpl = rest.get(..16)?;
    let port = |at: usize| u16::from_be_bytes([tmpl[at], tmpl[at + 1]]);
    let mut out = vec![count, 0, 0, 0];
    for i in 0..u16::from(count) {
        out.extend_from_slice(&tmpl[..4]);
        out.extend_from_slice(&port(4).wrapping_add(i).to_be_bytes());
        out.extend_from_slice(&port(6).wrapping_add(i).to_be_bytes());
        out.extend_from_slice(&tmpl[8..16]);
    }
    Some(out)
}

pub const CTL_RESPONSE: u8 = 0x10;
pub const CTL_KERNEL_FAILS: u8 = 0x20;
pub const CTL_TIME_PASSES: u8 = 0x40;

impl Record {
    /// Reads one record; `None` when the input is used up.
    pub fn parse(data: &mut &[u8]) -> Option<Record> {
        let ctl = take(data, 1)?[0];
        let mut r = Record {
            ctl,
            ..Record::default()
        };
        if ctl & 3 == 3 {
            r.raw_exchange = take(data, 1)?[0];
        }
        if (ctl >> 2) & 3 == 3 {
            let b = take(data, 4)?;
            r.msg_id = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        }
        let n = take(data, 1).map_or(0, |b| usize::from(b[0]) % (MAX_PAYLOADS + 1));
        for _ in 0..n {
            let Some(h) = take(data, 3) else { break };
            let len = usize::from(u16::from_be_bytes([h[1], h[2]])).min(data.len());
            let body = take(data, len).unwrap_or_default().to_vec();
            r.payloads.push((h[0], body));
        }
        Some(r)
    }

    /// The inverse of [`Record::parse`], for writing seeds. With `open_end` the last payload's
    /// length is written as 0xffff ("the rest of the input"), so that a mutation can grow that
    /// payload (add selectors to a TSr) without also having to find its length field.
    pub fn write(&self, out: &mut Vec<u8>, open_end: bool) {
        out.push(self.ctl);
        if self.ctl & 3 == 3 {
            out.push(self.raw_exchange);
        }
        if (self.ctl >> 2) & 3 == 3 {
            out.extend_from_slice(&self.msg_id.to_be_bytes());
        }
        out.push(self.payloads.len() as u8);
        for (i, (t, body)) in self.payloads.iter().enumerate() {
            out.push(*t);
            let len = if open_end && i + 1 == self.payloads.len() {
                u16::MAX
            } else {
                body.len() as u16
            };
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(body);
        }
    }

    fn exchange(&self) -> u8 {
        match EXCHANGES.get(usize::from(self.ctl & 3)) {
            Some(&x) => x,
            None => self.raw_exchange,
        }
    }

    /// The inner payloads with their generic headers, and the first one's type.
    fn inner(&self) -> (u8, Vec<u8>) {
        let mut out = Vec::new();
        let mut first = 0;
        let mut prev_next: Option<usize> = None;
        for (t, body) in &self.payloads {
            let generated = match *t {
                GEN_TSI | GEN_TSR => expand_ts(body),
                _ => None,
            };
            let (t, body) = match (&generated, *t) {
                (Some(b), GEN_TSI) => (&44, b),
                (Some(b), _) => (&45, b),
                (None, _) => (t, body),
            };
            let Ok(len) = u16::try_from(body.len() + 4) else {
                continue;
            };
            match prev_next {
                Some(at) => out[at] = *t,
                None => first = *t,
            }
            prev_next = Some(out.len());
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(body);
        }
        (first, out)
    }
}

fn take<'a>(data: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if data.len() < n {
        return None;
    }
    let (h, t) = data.split_at(n);
    *data = t;
    Some(h)
}

/// Seals `inner` as A would: I flag, SPIs of the recorded SA, SK_ei/SK_ai.
fn seal(
    rec: &Recorded,
    exchange: u8,
    response: bool,
    msg_id: u32,
    first: u8,
    inner: &[u8],
) -> Option<Vec<u8>> {
    let mut h = Vec::with_capacity(28);
    h.extend_from_slice(&rec.spi_i.to_be_bytes());
    h.extend_from_slice(&rec.spi_r.to_be_bytes());
    h.push(0);
    h.push(0x20);
    h.push(exchange);
    h.push(0x08 | if response { 0x20 } else { 0 });
    h.extend_from_slice(&msg_id.to_be_bytes());
    h.extend_from_slice(&[0; 4]);
    let mut rng = TestRng::new(u64::from(msg_id));
    sk::seal(
        &rec.cipher,
        &rec.sk_ei,
        &rec.sk_ai,
        &h,
        first,
        inner,
        &mut rng,
    )
    .ok()
}

/// Runs one input against a fresh responder; returns how many datagrams B sent in answer to the
/// input's messages (the seed test checks that the seeds are answered, i.e. sealed correctly).
pub fn run(data: &[u8]) -> usize {
    let rec = recorded();
    let (a_addr, b_addr) = addrs();
    let mut b = responder();
    let mut now = rec.t0;
    let mut sink = Vec::new();
    b.handle_datagram(now, b_addr, a_addr, &rec.init_req);
    drain(&mut b, now, false, &mut sink);

    let Some((&setup, mut data)) = data.split_first() else {
        return 0;
    };
    sink.clear();
    let mut answered = 0;
    let mut next_id: u32 = 2;
    let mut last_id: u32 = 1;
    let mut records = Vec::new();
    while records.len() < MAX_MESSAGES {
        let Some(r) = Record::parse(&mut data) else {
            break;
        };
        records.push(r);
    }
    let mut records = records.into_iter();
    if setup & 1 == 1 {
        let r = records.next().unwrap_or_default();
        let (first, payloads) = r.inner();
        let mut inner = rec.idi_auth.clone();
        inner[rec.idi_auth_last] = first;
        inner.extend_from_slice(&payloads);
        if let Some(msg) = seal(rec, 35, false, 1, rec.idi_auth_first, &inner) {
            b.handle_datagram(now, b_addr, a_addr, &msg);
        }
        drain(&mut b, now, r.ctl & CTL_KERNEL_FAILS != 0, &mut sink);
        answered += sink.len();
        sink.clear();
    } else {
        b.handle_datagram(now, b_addr, a_addr, &rec.auth_req);
        drain(&mut b, now, false, &mut sink);
    }

    for r in records {
        let msg_id = match (r.ctl >> 2) & 3 {
            0 => next_id,
            1 => last_id,
            2 => next_id.wrapping_add(1),
            _ => r.msg_id,
        };
        if msg_id == next_id {
            next_id = next_id.wrapping_add(1);
        }
        last_id = msg_id;
        let (first, inner) = r.inner();
        if let Some(msg) = seal(
            rec,
            r.exchange(),
            r.ctl & CTL_RESPONSE != 0,
            msg_id,
            first,
            &inner,
        ) {
            b.handle_datagram(now, b_addr, a_addr, &msg);
        }
        drain(&mut b, now, r.ctl & CTL_KERNEL_FAILS != 0, &mut sink);
        answered += sink.len();
        sink.clear();
        if r.ctl & CTL_TIME_PASSES != 0 {
            now += Duration::from_secs(70);
            fire_timers(&mut b, now, &mut sink);
        }
    }
    // Let what the messages armed (retransmissions, half-done exchanges, DPD) run out.
    fire_timers(&mut b, now + Duration::from_secs(600), &mut sink);
    let _ = b.status();
    answered
}

fn fire_timers(b: &mut Endpoint<TestRng>, until: Instant, sink: &mut Vec<Vec<u8>>) {
    let mut now = None;
    for _ in 0..32 {
        match b.poll_timeout() {
            Some(t) if t <= until => {
                let t = now.map_or(t, |n: Instant| n.max(t));
                now = Some(t);
                b.handle_timeout(t);
                drain(b, t, false, sink);
            }
            _ => break,
        }
    }
    sink.clear();
}
