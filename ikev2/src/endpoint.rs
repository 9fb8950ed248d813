//! The protocol core's one entry point: datagrams, kernel events, commands and time go in through
//! `handle_*`; datagrams to send, kernel operations and events come out of `poll_output`.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::config::Config;
use crate::consts::{ExchangeType, NotifyType};
use crate::crypto::CookieJar;
use crate::event::{DownReason, DropReason, Event, FailureReason, Fault, IkeState, LogLevel};
use crate::exchange::ike_sa_init::{self, InitRequest, InitRequestResult, InitResult};
use crate::exchange::table::{self, Handler};
use crate::exchange::{self, create_child_sa, ike_auth, informational, After, OpenError, Reply};
use crate::output::{KernelEvent, Output};
use crate::rng::Rng;
use crate::sa::msgid::{RequestVerdict, ResponseMismatch};
use crate::sa::status::{ChildStatusState, ConnStatus, Status};
use crate::sa::table::SaTable;
use crate::sa::{self, Purpose};
use crate::wire::{Flags, Header, InnerPayload, Message, Notify, Payload};

mod commands;
mod daemon;
pub mod keylog;
mod lifecycle;
mod natt;
mod timeouts;

use crate::context::Core;
pub use lifecycle::CounterQuery;

/// The sans-IO IKEv2 endpoint: all IKE SAs of one daemon.
pub struct Endpoint<R: Rng> {
    cx: Core<R>,
    /// IKE SAs keyed by our own SPI (SPIi if we initiated, SPIr otherwise).
    sas: SaTable,
    /// Responder SAs by (peer IP, SPIi), to recognise retransmitted IKE_SA_INIT requests. Not
    /// keyed by port: the same request (and its COOKIE) from other ports of the address finds
    /// the SA it already opened instead of opening more.
    init_index: HashMap<(IpAddr, u64), u64>,
}

impl<R: Rng> Endpoint<R> {
    pub fn new(config: Config, mut rng: R) -> Self {
        let cookies = CookieJar::new(&mut rng);
        Endpoint {
            cx: Core {
                config,
                rng,
                out: VecDeque::new(),
                next_uid: 0,
                next_reqid: 0,
                next_token: 0,
                tokens: HashMap::new(),
                cookies,
                cookie_rotated: None,
                failures: HashMap::new(),
                unmatched: Vec::new(),
                sent: Vec::new(),
                wall_clock: None,
                counters_read: None,
            },
            sas: SaTable::default(),
            init_index: HashMap::new(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.cx.config
    }

    /// Tells the core the current wall-clock time (seconds since the Unix epoch). The core never
    /// reads a clock; the driver calls this before each `handle_*` so that certificate validity
    /// (notBefore/notAfter) is judged against real time. Until it is called, a peer certificate
    /// cannot be validated and certificate authentication fails with a named reason.
    pub fn set_wall_clock(&mut self, unix_secs: u64) {
        self.cx.wall_clock = Some(unix_secs);
    }

    /// Replaces the configuration. IKE SAs of connections that no longer exist are deleted; all
    /// others keep running (changed parameters apply to the next negotiation).
    pub fn reload(&mut self, now: Instant, config: Config) {
        self.cx.config = config;
        // Deadlines derive from the configuration (DPD delays, keepalive interval).
        self.sas.touch_all();
        let gone: Vec<String> = self
            .sas
            .values()
            .filter(|sa| self.cx.config.connection(&sa.conn).is_none())
            .map(|sa| sa.conn.clone())
            .collect();
        for conn in gone {
            self.terminate_ike(now, &conn);
        }
        self.finish_turn(now);
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.cx.out.pop_front()
    }

    /// The earliest instant at which `handle_timeout` has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sas.next_deadline()
    }

    fn half_open_count(&self) -> usize {
        self.sas.half_open()
    }

    /// Ends every `handle_*`: brings the SA indexes up to date with what the call changed, then
    /// records the paths we sent on (for NAT keepalives).
    fn finish_turn(&mut self, now: Instant) {
        self.settle();
        self.stamp_sends(now);
        self.settle();
    }

    fn settle(&mut self) {
        let cfg = &self.cx.config;
        self.sas
            .settle(|sa, sent| timeouts::sa_deadline(cfg, sa, sent));
    }

    fn unused_spi(&mut self) -> u64 {
        let sas = &self.sas;
        exchange::random_ike_spi(&mut self.cx, |spi| sas.contains_key(&spi))
    }

    // -----------------------------------------------------------------------------------------
    // Datagrams
    // -----------------------------------------------------------------------------------------

    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        bytes: &[u8],
    ) {
        self.datagram(now, local, remote, bytes);
        self.finish_turn(now);
    }

    fn datagram(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, bytes: &[u8]) {
        let max = self.cx.config.settings.limits.max_packet;
        if bytes.len() > max {
            let exchange = Header::peek(bytes).ok().map(|r| r.header.exchange);
            let reason = DropReason::TooLarge {
                len: bytes.len(),
                max,
            };
            return self.drop_msg(remote, exchange, reason);
        }
        let raw = match Header::peek(bytes) {
            Ok(r) => r,
            Err(e) => return self.drop_msg(remote, None, DropReason::Malformed(e.to_string())),
        };
        let h = raw.header;
        if raw.major_version != 2 {
            // RFC 7296 section 2.5: drop, and answer a request with INVALID_MAJOR_VERSION naming
            // the version we speak. Never answer a response (no ping-pong).
            if !h.flags.is_response() && raw.major_version > 2 {
                let reply = Message {
                    header: Header {
                        flags: Flags::new(!h.flags.is_initiator(), true),
                        ..h
                    },
                    payloads: vec![Payload::Notify(Notify::new(
                        NotifyType::INVALID_MAJOR_VERSION,
                    ))],
                }
                .encode();
                self.cx.send(local, remote, reply);
            }
            return self.drop_msg(
                remote,
                Some(h.exchange),
                DropReason::UnsupportedVersion(raw.major_version),
            );
        }
        let is_response = h.flags.is_response();
        if h.exchange == ExchangeType::IKE_SA_INIT
            && !is_response
            && h.flags.is_initiator()
            && h.spi_r == 0
        {
            return self.on_init_request(now, local, remote, bytes, &h);
        }
        // The I flag says who sent it: from the original initiator means we are its responder.
        let we_initiated = !h.flags.is_initiator();
        let key = if we_initiated { h.spi_i } else { h.spi_r };
        let Some(sa) = self.sas.get(&key) else {
            return self.drop_msg(remote, Some(h.exchange), DropReason::UnknownSpi);
        };
        let peer_spi_ok = if we_initiated {
            // The IKE_SA_INIT response is where we learn SPIr (errors carry 0).
            h.spi_r == sa.spi_r
                || (sa.state() == IkeState::InitSent && h.exchange == ExchangeType::IKE_SA_INIT)
        } else {
            h.spi_i == sa.spi_i
        };
        if sa.initiator != we_initiated || !peer_spi_ok {
            return self.drop_msg(remote, Some(h.exchange), DropReason::UnknownSpi);
        }
        if raw.next_payload == crate::consts::PayloadType::SKF {
            return self.on_fragment(now, key, (local, remote), bytes, &h);
        }
        if is_response {
            self.on_response(now, key, remote, bytes, &h);
        } else {
            self.on_request(now, key, (local, remote), bytes, &h);
        }
    }

    fn drop_msg(&mut self, from: SocketAddr, exchange: Option<ExchangeType>, reason: DropReason) {
        self.cx.emit(Event::Dropped {
            from,
            exchange,
            reason,
        });
    }

    fn on_init_request(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        bytes: &[u8],
        h: &Header,
    ) {
        if let Some(&key) = self.init_index.get(&(remote.ip(), h.spi_i)) {
            if let Some(sa) = self.sas.get(&key) {
                match sa.responses.classify(h.message_id, bytes) {
                    RequestVerdict::Retransmit(resp) => {
                        let resp = resp.to_vec();
                        let (l, r) = (sa.local, sa.remote);
                        for b in resp {
                            self.cx.send(l, r, b);
                        }
                    }
                    RequestVerdict::New | RequestVerdict::Drop { .. } => self.drop_msg(
                        remote,
                        Some(h.exchange),
                        DropReason::UnexpectedExchange("IKE_SA_INIT for an existing IKE SA".into()),
                    ),
                }
                return;
            }
        }
        let Some(row) = table::init_request_row() else {
            return;
        };
        let (header, digest) = match ike_sa_init::read(row, bytes) {
            Ok(x) => x,
            Err(e) => {
                match ike_sa_init::unreadable_request(&mut self.cx, local, remote, bytes, e) {
                    InitRequestResult::Dropped(reason) => {
                        self.drop_msg(remote, Some(h.exchange), reason)
                    }
                    InitRequestResult::Answered | InitRequestResult::Created(_) => {}
                }
                return;
            }
        };
        let half_open = self.half_open_count();
        let half_open_from_ip = self.sas.half_open_from(remote.ip());
        let spi_r = self.unused_spi();
        let req = InitRequest {
            local,
            remote,
            bytes,
            header,
            digest,
            half_open,
            half_open_from_ip,
            spi_r,
        };
        match ike_sa_init::respond_ike_sa_init(&mut self.cx, now, req) {
            InitRequestResult::Created(mut sa) => {
                sa.init_from = Some(remote.ip());
                self.init_index.insert((remote.ip(), sa.spi_i), sa.spi_r);
                self.sas.insert(sa.spi_r, *sa);
                // Counted at once, so that the next request sees it (`block_threshold`).
                self.finish_turn(now);
            }
            InitRequestResult::Answered => {}
            InitRequestResult::Dropped(reason) => self.drop_msg(remote, Some(h.exchange), reason),
        }
    }

    /// `path` is (our address, peer address) of the datagram; the response goes back on it
    /// (RFC 7296 section 2.11), which is also how a peer floating to port 4500 is followed.
    fn on_request(
        &mut self,
        now: Instant,
        key: u64,
        path: (SocketAddr, SocketAddr),
        bytes: &[u8],
        h: &Header,
    ) {
        let remote = path.1;
        let Some(sa) = self.sas.get_mut(&key) else {
            return;
        };
        match sa.responses.classify(h.message_id, bytes) {
            RequestVerdict::New => {}
            RequestVerdict::Retransmit(resp) => {
                let resp = resp.to_vec();
                for b in resp {
                    self.cx.send(path.0, path.1, b);
                }
                return;
            }
            RequestVerdict::Drop { expected, got } => {
                return self.drop_msg(
                    remote,
                    Some(h.exchange),
                    DropReason::UnexpectedMessageId { expected, got },
                );
            }
        }
        let payloads = match exchange::open(sa, bytes) {
            Ok(p) => p,
            Err(OpenError::Inner(e)) => {
                // Authenticated but malformed: answer with the error (RFC 7296 section 2.21.2 / 2.5).
                let mut n = Notify::new(e.notify_type());
                if let crate::wire::DecodeError::UnsupportedCritical(t) = e {
                    n.data = vec![t.0];
                }
                sa.follow_peer(path.0, path.1);
                return self.answer_malformed(now, key, (h, bytes), path, e.to_string(), n);
            }
            Err(OpenError::Crypto) => {
                return self.drop_msg(remote, Some(h.exchange), DropReason::IntegrityCheckFailed);
            }
            Err(OpenError::Structure(e)) => {
                return self.drop_msg(
                    remote,
                    Some(h.exchange),
                    DropReason::Malformed(e.to_string()),
                );
            }
            Err(OpenError::NoSk) | Err(OpenError::NoKeys) => {
                return self.drop_msg(
                    remote,
                    Some(h.exchange),
                    DropReason::Malformed("request without SK payload".into()),
                );
            }
        };
        self.on_request_payloads(now, key, path, bytes, h, payloads);
    }

    /// The authenticated, decrypted request `h` (whole, or reassembled from fragments whose
    /// concatenation is `bytes`).
    fn on_request_payloads(
        &mut self,
        now: Instant,
        key: u64,
        path: (SocketAddr, SocketAddr),
        bytes: &[u8],
        h: &Header,
        payloads: Vec<InnerPayload>,
    ) {
        let remote = path.1;
        let Some(sa) = self.sas.get_mut(&key) else {
            return;
        };
        sa.last_peer_message = Some(now);
        let old_remote = sa.remote;
        if sa.follow_peer(path.0, path.1) {
            self.peer_moved(key, old_remote);
        }
        let Some(sa) = self.sas.get_mut(&key) else {
            return;
        };
        let state = sa.state();
        let Some(row) = table::request_row(h.exchange, state, !sa.initiator) else {
            let x = h.exchange;
            return self.drop_msg(
                remote,
                Some(x),
                DropReason::UnexpectedExchange(format!("{x} request in state {state}")),
            );
        };
        let d = match row.digest(payloads) {
            Ok(d) => d,
            Err(r) => return self.refuse_request(now, key, (h, bytes), path, r),
        };
        let reply = match row.handler {
            Handler::RespondAuth => match self.respond_auth(now, key, &d) {
                Some(reply) => reply,
                None => return,
            },
            Handler::RespondInformational => {
                informational::respond_informational(&mut self.cx, sa, now, &d)
            }
            Handler::RespondCreate => {
                let new_spi = self.unused_spi();
                let Some(sa) = self.sas.get_mut(&key) else {
                    return;
                };
                let (reply, new) =
                    create_child_sa::respond_create_child_sa(&mut self.cx, sa, now, &d, new_spi);
                self.reply(now, key, h, bytes, reply, path);
                if let Some(new) = new {
                    self.adopt_successor(now, key, new);
                }
                return;
            }
            // RFC 7296 section 2.25: we are deleting this IKE SA; the peer will see our Delete.
            Handler::RefuseCreate => {
                exchange::Reply::keep(vec![exchange::notify(NotifyType::TEMPORARY_FAILURE)])
            }
            Handler::RespondInit
            | Handler::InitResponse
            | Handler::AuthResponse
            | Handler::CreateResponse
            | Handler::InformationalResponse => return,
        };
        self.reply(now, key, h, bytes, reply, path);
    }

    /// IKE_AUTH as the responder: authenticate, retire older SAs on INITIAL_CONTACT, then
    /// complete; `None` when the SA is gone meanwhile.
    fn respond_auth(
        &mut self,
        now: Instant,
        key: u64,
        d: &table::Digest,
    ) -> Option<exchange::Reply> {
        let sa = self.sas.get_mut(&key)?;
        match ike_auth::authenticate_ike_auth(&mut self.cx, sa, now, d) {
            ike_auth::AuthVerdict::Reject(r) => Some(r),
            ike_auth::AuthVerdict::Accept {
                conn,
                initial_contact,
            } => {
                if initial_contact {
                    // Before the new Child SA's kernel state, so old policies are gone.
                    self.replace_older(key);
                }
                let sa = self.sas.get_mut(&key)?;
                Some(ike_auth::complete_ike_auth(&mut self.cx, sa, now, &conn, d))
            }
        }
    }

    /// An authenticated request the decoder or its table row refused: the error notify `n`
    /// answers it; a broken IKE_AUTH ends the half-open SA (RFC 7296 section 2.21.2).
    fn answer_malformed(
        &mut self,
        now: Instant,
        key: u64,
        (h, bytes): (&Header, &[u8]),
        path: (SocketAddr, SocketAddr),
        detail: String,
        n: Notify,
    ) {
        let after = if h.exchange == ExchangeType::IKE_AUTH {
            After::Destroy(DownReason::Failed(FailureReason::InvalidResponse {
                fault: Fault::Malformed {
                    exchange: h.exchange,
                    request: true,
                    detail: detail.clone(),
                },
            }))
        } else {
            After::Keep
        };
        let reply = Reply {
            payloads: vec![InnerPayload::Notify(n)],
            after,
        };
        self.drop_msg(path.1, Some(h.exchange), DropReason::Malformed(detail));
        self.reply(now, key, h, bytes, reply, path)
    }

    /// A request that does not fit its table row. Duplicate and unexpected payloads are malformed
    /// (INVALID_SYNTAX, RFC 7296 section 3.10.1); a missing payload or a bad nonce is answered as
    /// each exchange always has: IKE_AUTH as a failed authentication, CREATE_CHILD_SA with
    /// INVALID_SYNTAX alone.
    fn refuse_request(
        &mut self,
        now: Instant,
        key: u64,
        (h, bytes): (&Header, &[u8]),
        path: (SocketAddr, SocketAddr),
        r: table::Refusal,
    ) {
        let invalid = Notify::new(NotifyType::INVALID_SYNTAX);
        if r.is_malformed() {
            return self.answer_malformed(now, key, (h, bytes), path, r.to_string(), invalid);
        }
        let Some(sa) = self.sas.get_mut(&key) else {
            return;
        };
        let after = if h.exchange == ExchangeType::IKE_AUTH {
            let reason = FailureReason::AuthenticationFailed {
                peer_id: sa.remote.ip().to_string(),
                why: crate::event::AuthFailure::MissingPayload,
            };
            let (conn, remote) = (Some(sa.conn.clone()), sa.remote);
            self.cx.fail(now, conn, remote, reason.clone());
            After::Destroy(DownReason::Failed(reason))
        } else {
            After::Keep
        };
        let reply = Reply {
            payloads: vec![InnerPayload::Notify(invalid)],
            after,
        };
        self.reply(now, key, h, bytes, reply, path)
    }

    /// One SKF fragment (RFC 7383) of a request or response on SA `key`: checked against the
    /// message-ID windows, authenticated, kept; the complete message goes on like a whole one.
    fn on_fragment(
        &mut self,
        now: Instant,
        key: u64,
        path: (SocketAddr, SocketAddr),
        bytes: &[u8],
        h: &Header,
    ) {
        let remote = path.1;
        let response = h.flags.is_response();
        let Some(sa) = self.sas.get_mut(&key) else {
            return;
        };
        if response {
            if sa
                .requests
                .check_response(h.message_id, h.exchange)
                .is_err()
            {
                return self.drop_msg(
                    remote,
                    Some(h.exchange),
                    DropReason::UnexpectedResponse("fragment of no outstanding request".into()),
                );
            }
        } else if h.message_id != sa.responses.expected() {
            // A fragment of the request we answered last: the peer lost our response. Answer
            // once per retransmission (on its first fragment), not once per fragment.
            if let Some(resp) = sa.responses.cached_for(h.message_id) {
                if exchange::fragment::fragment_number(bytes) == Some(1) {
                    let resp = resp.to_vec();
                    for b in resp {
                        self.cx.send(path.0, path.1, b);
                    }
                }
                return;
            }
            let expected = sa.responses.expected();
            return self.drop_msg(
                remote,
                Some(h.exchange),
                DropReason::UnexpectedMessageId {
                    expected,
                    got: h.message_id,
                },
            );
        }
        let limits = &self.cx.config.settings.limits;
        match exchange::fragment::receive(sa, now, limits, h.message_id, response, bytes) {
            exchange::fragment::FragmentVerdict::Pending => {}
            exchange::fragment::FragmentVerdict::Rejected(reason) => {
                self.drop_msg(remote, Some(h.exchange), reason.into());
            }
            exchange::fragment::FragmentVerdict::Malformed(e) => {
                self.drop_msg(remote, Some(h.exchange), DropReason::Malformed(e));
            }
            exchange::fragment::FragmentVerdict::Complete { payloads } => {
                if response {
                    self.on_response_payloads(now, key, remote, h.exchange, payloads);
                } else {
                    // A retransmission of a fragmented request is recognised by its fragments
                    // (`cached_for` above), so the cache keys it by the datagram that completed it.
                    self.on_request_payloads(now, key, path, bytes, h, payloads);
                }
            }
        }
    }

    /// Protects and sends the response to request `h`, caches it, then applies `after`.
    fn reply(
        &mut self,
        now: Instant,
        key: u64,
        h: &Header,
        request: &[u8],
        reply: Reply,
        path: (SocketAddr, SocketAddr),
    ) {
        let Some(sa) = self.sas.get_mut(&key) else {
            return;
        };
        let limit = exchange::fragment::limit_for(&self.cx.config.settings, sa);
        match exchange::fragment::seal_datagrams(
            self.cx.rng_dyn(),
            sa,
            h.exchange,
            true,
            h.message_id,
            &reply.payloads,
            limit,
        ) {
            Ok(datagrams) => {
                sa.responses
                    .answered(h.message_id, request, datagrams.clone());
                for bytes in datagrams {
                    self.cx.send(path.0, path.1, bytes);
                }
            }
            Err(e) => self.cx.emit(Event::Log {
                level: LogLevel::Error,
                conn: Some(sa.conn.clone()),
                message: format!("cannot protect {} response: {e}", h.exchange),
            }),
        }
        match reply.after {
            After::Keep => self.pump(now, key),
            After::Destroy(reason) => self.destroy(key, reason),
        }
    }

    fn on_response(
        &mut self,
        now: Instant,
        key: u64,
        remote: SocketAddr,
        bytes: &[u8],
        h: &Header,
    ) {
        let Some(sa) = self.sas.get_mut(&key) else {
            return;
        };
        if let Err(e) = sa.requests.check_response(h.message_id, h.exchange) {
            let reason = match e {
                ResponseMismatch::WrongMessageId { expected, got } => {
                    DropReason::UnexpectedMessageId { expected, got }
                }
                ResponseMismatch::NothingOutstanding => {
                    DropReason::UnexpectedResponse("no request outstanding".into())
                }
                ResponseMismatch::WrongExchange { expected, got } => {
                    DropReason::UnexpectedResponse(format!(
                        "{got} response to a {expected} request"
                    ))
                }
            };
            return self.drop_msg(remote, Some(h.exchange), reason);
        }
        if h.exchange == ExchangeType::IKE_SA_INIT {
            return self.on_init_response(now, key, remote, bytes, h);
        }
        let payloads = match exchange::open(sa, bytes) {
            Ok(p) => p,
            Err(OpenError::Inner(e)) => {
                sa.requests.complete();
                return self.response_malformed(now, key, h.exchange, e.to_string());
            }
            Err(OpenError::Crypto) => {
                return self.drop_msg(remote, Some(h.exchange), DropReason::IntegrityCheckFailed);
            }
            Err(e) => {
                return self.drop_msg(
                    remote,
                    Some(h.exchange),
                    DropReason::Malformed(e.to_string()),
                );
            }
        };
        self.on_response_payloads(now, key, remote, h.exchange, payloads);
    }

    /// The (unprotected) IKE_SA_INIT response to ours: keys, then IKE_AUTH; or a restart.
    fn on_init_response(
        &mut self,
        now: Instant,
        key: u64,
        remote: SocketAddr,
        bytes: &[u8],
        h: &Header,
    ) {
        let Some(sa) = self.sas.get_mut(&key) else {
            return;
        };
        let read = match table::response_row(h.exchange, &Purpose::IkeSaInit) {
            Some(row) => ike_sa_init::read(row, bytes),
            None => return,
        };
        let result = match read {
            Ok((hdr, d)) => ike_sa_init::handle_response_i(&mut self.cx, sa, now, &hdr, &d, bytes),
            Err(e) => ike_sa_init::unreadable_response(e),
        };
        match result {
            InitResult::Done => {
                sa.last_peer_message = Some(now);
                sa.requests.complete();
                let (l, r) = (sa.local, sa.remote);
                if sa.float_to_natt(self.cx.config.settings.natt.port) {
                    let msg = format!(
                        "switching to NAT-T ports: {l} -> {r} now {} -> {}",
                        sa.local, sa.remote
                    );
                    let conn = sa.conn.clone();
                    self.log(LogLevel::Info, Some(&conn), msg);
                }
                let Some(sa) = self.sas.get_mut(&key) else {
                    return;
                };
                if let Err(reason) = ike_auth::initiate_ike_auth(&mut self.cx, sa, now) {
                    let conn = Some(sa.conn.clone());
                    self.cx.fail(now, conn, remote, reason.clone());
                    self.destroy(key, DownReason::Failed(reason));
                }
            }
            InitResult::Restarted => {}
            InitResult::Ignore(reason) => self.drop_msg(remote, Some(h.exchange), reason),
            InitResult::Failed(reason) => {
                let conn = Some(sa.conn.clone());
                self.cx.fail(now, conn, remote, reason.clone());
                self.destroy(key, DownReason::Failed(reason));
            }
        }
    }

    /// Authenticated but unparsable: the exchange failed (RFC 7296 section 2.21.2).
    fn response_malformed(&mut self, now: Instant, key: u64, exchange: ExchangeType, e: String) {
        let Some(sa) = self.sas.get_mut(&key) else {
            return;
        };
        let reason = FailureReason::InvalidResponse {
            fault: Fault::Malformed {
                exchange,
                request: false,
                detail: e,
            },
        };
        let (conn, remote) = (Some(sa.conn.clone()), sa.remote);
        self.cx.fail(now, conn, remote, reason.clone());
        self.destroy(key, DownReason::Failed(reason));
    }

    /// The authenticated, decrypted response to our outstanding request.
    fn on_response_payloads(
        &mut self,
        now: Instant,
        key: u64,
        remote: SocketAddr,
        exchange: ExchangeType,
        payloads: Vec<InnerPayload>,
    ) {
        let Some(sa) = self.sas.get_mut(&key) else {
            return;
        };
        sa.last_peer_message = Some(now);
        // RFC 7296 section 2.23: an authenticated message from a peer behind a NAT tells us
        // its current mapping (responses included).
        let old_remote = sa.remote;
        if sa.nat_remote == Some(true) && sa.follow_peer(sa.local, remote) {
            self.peer_moved(key, old_remote);
        }
        let Some(sa) = self.sas.get_mut(&key) else {
            return;
        };
        let Some(done) = sa.requests.complete() else {
            return;
        };
        let Some(row) = table::response_row(exchange, &done.purpose) else {
            return self.pump(now, key);
        };
        let d = match row.digest(payloads) {
            Ok(d) => d,
            Err(r) if r.is_malformed() => {
                return self.response_malformed(now, key, exchange, r.to_string())
            }
            Err(r) => return self.refuse_response(now, key, row, done.purpose, r),
        };
        let after = match row.handler {
            Handler::AuthResponse => ike_auth::handle_response_i(&mut self.cx, sa, now, &d),
            Handler::CreateResponse => {
                match create_child_sa::handle_response_i(&mut self.cx, sa, now, done.purpose, &d) {
                    create_child_sa::CreateOutcome::Keep => After::Keep,
                    create_child_sa::CreateOutcome::NewIke(new) => {
                        self.adopt_successor(now, key, *new);
                        // The old SA, now childless, is deleted (RFC 7296 section 2.18).
                        if let Some(old) = self.sas.get_mut(&key) {
                            let ev = old.transition(IkeState::Deleting);
                            self.cx.emit(ev);
                            old.queue.clear();
                            old.queue.push_back(Purpose::DeleteIke);
                        }
                        After::Keep
                    }
                }
            }
            Handler::InformationalResponse => {
                informational::handle_response_i(&mut self.cx, sa, done.purpose)
            }
            Handler::RespondInit
            | Handler::RespondAuth
            | Handler::RespondCreate
            | Handler::RefuseCreate
            | Handler::RespondInformational
            | Handler::InitResponse => After::Keep,
        };
        self.apply(now, key, after);
    }

    /// A response without what its table row requires (or with a bad nonce): our exchange
    /// failed, as it did when each handler checked for itself.
    fn refuse_response(
        &mut self,
        now: Instant,
        key: u64,
        row: &table::Row,
        purpose: Purpose,
        r: table::Refusal,
    ) {
        let Some(sa) = self.sas.get_mut(&key) else {
            return;
        };
        let after = match row.handler {
            Handler::CreateResponse => {
                create_child_sa::refused_response(&mut self.cx, sa, now, purpose, r.fault(None));
                After::Keep
            }
            _ => {
                let reason = FailureReason::InvalidResponse {
                    fault: r.fault(Some(row.exchange)),
                };
                let (conn, remote) = (Some(sa.conn.clone()), sa.remote);
                self.cx.fail(now, conn, remote, reason.clone());
                After::Destroy(DownReason::Failed(reason))
            }
        };
        self.apply(now, key, after);
    }

    fn apply(&mut self, now: Instant, key: u64, after: After) {
        match after {
            After::Keep => self.pump(now, key),
            After::Destroy(reason) => self.destroy(key, reason),
        }
    }

    /// Inserts the IKE SA that replaces `old_key` after a rekey; kernel results still due for
    /// the moved Child SAs follow them.
    fn adopt_successor(&mut self, now: Instant, old_key: u64, new: sa::IkeSa) {
        let new_key = new.local_spi();
        if self.sas.contains_key(&new_key) {
            self.log(
                LogLevel::Error,
                Some(&new.conn),
                format!("IKE rekey: SPI {new_key:016x} already in use"),
            );
            return;
        }
        for v in self.cx.tokens.values_mut() {
            if v.0 == old_key {
                v.0 = new_key;
            }
        }
        self.sas.insert(new_key, new);
        self.pump(now, new_key);
    }

    /// Sends queued requests on SA `key` while its window is free.
    fn pump(&mut self, now: Instant, key: u64) {
        self.take_handover(now, key);
        if let Some(sa) = self.sas.get_mut(&key) {
            if sa.crypto.is_some()
                && sa.state() != IkeState::AuthSent
                && sa.state() != IkeState::InitSent
            {
                informational::pump(&mut self.cx, sa, now);
            }
        }
    }

    /// RFC 7296 section 2.4: after an authenticated INITIAL_CONTACT, every other IKE SA with the
    /// same peer identity is stale; it is removed locally, without a Delete the peer cannot read.
    fn replace_older(&mut self, key: u64) {
        let Some(id) = self.sas.get(&key).and_then(|sa| sa.remote_id.clone()) else {
            return;
        };
        let stale: Vec<u64> = self
            .sas
            .iter()
            .filter(|(k, sa)| **k != key && sa.remote_id.as_ref() == Some(&id))
            .map(|(k, _)| *k)
            .collect();
        for k in stale {
            self.destroy(k, DownReason::Replaced);
        }
    }

    /// Removes an IKE SA with everything it installed, reporting each step.
    fn destroy(&mut self, key: u64, reason: DownReason) {
        let Some(mut sa) = self.sas.remove(&key) else {
            return;
        };
        // Keyed by the address IKE_SA_INIT came from, which the SA may have moved away from.
        if let Some(ip) = sa.init_from {
            if self.init_index.get(&(ip, sa.spi_i)) == Some(&key) {
                self.init_index.remove(&(ip, sa.spi_i));
            }
        }
        let spis: Vec<u32> = sa.children.iter().map(|c| c.spi_in).collect();
        for spi in spis {
            exchange::remove_child(&mut self.cx, &mut sa, spi, DownReason::IkeSaGone);
        }
        self.cx.tokens.retain(|_, (k, _)| *k != key);
        let was_up = matches!(sa.state(), IkeState::Established | IkeState::Deleting);
        let ev = sa.transition(IkeState::Destroyed);
        self.cx.emit(ev);
        if was_up {
            self.cx.emit(Event::IkeSaDown {
                conn: sa.conn.clone(),
                spis: sa.spis(),
                remote: sa.remote,
                reason,
            });
        }
    }

    // -----------------------------------------------------------------------------------------
    // Kernel
    // -----------------------------------------------------------------------------------------

    pub fn handle_kernel(&mut self, now: Instant, ev: KernelEvent) {
        self.kernel(now, ev);
        self.finish_turn(now);
    }

    fn kernel(&mut self, now: Instant, ev: KernelEvent) {
        match ev {
            KernelEvent::Expire { .. } | KernelEvent::Counters { .. } => {
                self.kernel_notice(now, ev)
            }
            KernelEvent::Mapping { dst, spi, old, new } => self.on_mapping(dst, spi, old, new),
            KernelEvent::OpResult { token, result } => {
                let Some((key, spi_in)) = self.cx.tokens.remove(&token) else {
                    return;
                };
                let Some(sa) = self.sas.get_mut(&key) else {
                    return;
                };
                let Some(child) = sa.children.iter_mut().find(|c| c.spi_in == spi_in) else {
                    return;
                };
                match result {
                    Ok(()) => {
                        child.pending_ops = child.pending_ops.saturating_sub(1);
                        if child.pending_ops == 0 && child.state() == ChildStatusState::Installing {
                            let ev = child.transition(&sa.conn, ChildStatusState::Installed);
                            self.cx.emit(ev);
                        }
                    }
                    Err(err) => {
                        let name = child.name.clone();
                        let reason = FailureReason::Kernel {
                            child: name,
                            error: err,
                        };
                        // Further results for this child are moot.
                        self.cx.tokens.retain(|_, o| *o != (key, spi_in));
                        let (conn, remote) = (Some(sa.conn.clone()), sa.remote);
                        self.cx.fail(now, conn, remote, reason.clone());
                        exchange::remove_child(
                            &mut self.cx,
                            sa,
                            spi_in,
                            DownReason::Failed(reason),
                        );
                        if sa.is_established() {
                            sa.queue.push_back(Purpose::DeleteChild {
                                spis_in: vec![spi_in],
                            });
                        }
                        self.pump(now, key);
                    }
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Status
    // -----------------------------------------------------------------------------------------

    pub fn status(&self) -> Status {
        let mut connections: Vec<ConnStatus> = self
            .cx
            .config
            .connections
            .iter()
            .map(|c| ConnStatus {
                name: c.name.clone(),
                ike_sas: Vec::new(),
                last_failure: self.cx.failures.get(&c.name).cloned(),
            })
            .collect();
        for sa in self.sas.values() {
            let st = sa.status();
            match connections.iter_mut().find(|c| c.name == sa.conn) {
                Some(c) => c.ike_sas.push(st),
                // An SA of a connection removed by reload, still being deleted.
                None => connections.push(ConnStatus {
                    name: sa.conn.clone(),
                    ike_sas: vec![st],
                    last_failure: self.cx.failures.get(&sa.conn).cloned(),
                }),
            }
        }
        Status {
            connections,
            unmatched_failures: self.cx.unmatched.clone(),
            half_open: self.half_open_count(),
            reassembly_bytes: self
                .sas
                .values()
                .filter_map(|sa| sa.reassembly.as_ref())
                .map(|r| r.held())
                .sum(),
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod capture_tests;
