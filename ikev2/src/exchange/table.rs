//! The IKEv2 protocol on one screen: which message the endpoint accepts in which state, what it
//! must and may carry, which handler runs, and where the IKE SA goes (in the spirit of
//! libreswan's v2 state transition tables). The endpoint decodes a message once, looks up its
//! row here and builds a [`Digest`] against it: duplicates of single payloads, known payloads the
//! exchange does not carry, missing required payloads and out-of-range nonces are refused before
//! any handler runs (RFC 7296 sections 2.21 and 3.2-3.16). Unknown payloads without the critical
//! bit are skipped (section 3.2); the decoder already refused critical ones.

use core::fmt;

use crate::consts::{ExchangeType as X, NotifyType, PayloadType};
use crate::event::{Fault, IkeState};
use crate::sa::Purpose;
use crate::wire::{
    AuthPayload, CertPayload, CertReqPayload, CpPayload, DeletePayload, IdPayload, InnerPayload,
    KePayload, Notify, Payload, SaPayload, TsPayload,
};

/// A set of payload types (RFC 7296 section 3.2 numbers 33..=53, one bit each).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Set(u32);

const fn bit(t: PayloadType) -> u32 {
    1 << (t.0 - 32)
}

impl Set {
    pub const NONE: Set = Set(0);
    pub const SA: Set = Set(bit(PayloadType::SA));
    pub const KE: Set = Set(bit(PayloadType::KE));
    pub const IDI: Set = Set(bit(PayloadType::IDI));
    pub const IDR: Set = Set(bit(PayloadType::IDR));
    pub const CERT: Set = Set(bit(PayloadType::CERT));
    pub const CERTREQ: Set = Set(bit(PayloadType::CERTREQ));
    pub const AUTH: Set = Set(bit(PayloadType::AUTH));
    pub const NONCE: Set = Set(bit(PayloadType::NONCE));
    pub const N: Set = Set(bit(PayloadType::NOTIFY));
    pub const D: Set = Set(bit(PayloadType::DELETE));
    pub const V: Set = Set(bit(PayloadType::VENDOR_ID));
    pub const TSI: Set = Set(bit(PayloadType::TSI));
    pub const TSR: Set = Set(bit(PayloadType::TSR));
    pub const CP: Set = Set(bit(PayloadType::CP));
    pub const EAP: Set = Set(bit(PayloadType::EAP));
    /// Payloads that may appear more than once in a message; every other one at most once.
    pub const REPEATABLE: Set = Set::N.or(Set::CERT).or(Set::CERTREQ).or(Set::V).or(Set::D);

    pub const fn or(self, o: Set) -> Set {
        Set(self.0 | o.0)
    }

    pub fn contains(self, t: PayloadType) -> bool {
        Self::of(t).is_some_and(|b| self.0 & b.0 == b.0 && b.0 != 0)
    }

    fn of(t: PayloadType) -> Option<Set> {
        (PayloadType::SA.0..=PayloadType::SKF.0)
            .contains(&t.0)
            .then(|| Set(bit(t)))
    }

    fn minus(self, o: Set) -> Set {
        Set(self.0 & !o.0)
    }

    fn types(self) -> impl Iterator<Item = PayloadType> {
        (PayloadType::SA.0..=PayloadType::SKF.0)
            .map(PayloadType)
            .filter(move |t| self.0 & bit(*t) != 0)
    }
}

/// "SA, KE or Nonce".
impl fmt::Display for Set {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.types().map(|t| t.to_string()).collect();
        match names.split_last() {
            None => f.write_str("nothing"),
            Some((last, [])) => f.write_str(last),
            Some((last, rest)) => write!(f, "{} or {last}", rest.join(", ")),
        }
    }
}

/// Whose message a row handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// The peer's request, which we answer.
    Request,
    /// The answer to our outstanding request.
    Response,
}

/// Where the IKE SA must be for a row: a state for requests, our request's purpose for responses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FromState {
    /// No IKE SA yet (IKE_SA_INIT with SPIr 0).
    NoSa,
    /// Responder, IKE_SA_INIT answered.
    HalfOpen,
    Established,
    Deleting,
    /// Our request of this kind is outstanding.
    Sent(Sent),
}

/// The kinds of request we send, as far as the table tells them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sent {
    IkeSaInit,
    IkeAuth,
    Child,
    RekeyIke,
    Informational,
}

impl Sent {
    fn of(p: &Purpose) -> Sent {
        match p {
            Purpose::IkeSaInit => Sent::IkeSaInit,
            Purpose::IkeAuth => Sent::IkeAuth,
            Purpose::CreateChild { .. } | Purpose::RekeyChild { .. } => Sent::Child,
            Purpose::RekeyIke => Sent::RekeyIke,
            _ => Sent::Informational,
        }
    }
}

/// The handler a row calls (the endpoint maps each to its function).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Handler {
    /// `ike_sa_init::respond_ike_sa_init`
    RespondInit,
    /// `ike_auth::authenticate_ike_auth` then `ike_auth::complete_ike_auth`
    RespondAuth,
    /// `create_child_sa::respond_create_child_sa`
    RespondCreate,
    /// TEMPORARY_FAILURE: we are deleting this IKE SA (RFC 7296 section 2.25).
    RefuseCreate,
    /// `informational::respond_informational`
    RespondInformational,
    /// `ike_sa_init::handle_response_i`
    InitResponse,
    /// `ike_auth::handle_response_i`
    AuthResponse,
    /// `create_child_sa::handle_response_i`
    CreateResponse,
    /// `informational::handle_response_i`
    InformationalResponse,
}

/// Where the IKE SA goes when the handler succeeds (failures destroy it or leave it as it was).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    To(IkeState),
    /// Unchanged, or as the payloads say (a Delete).
    Same,
    /// IKE rekey: a new IKE SA takes over; this one goes to DELETING.
    Successor,
}

/// One transition.
#[derive(Debug)]
pub(crate) struct Row {
    pub exchange: X,
    pub role: Role,
    pub from: FromState,
    pub required: Set,
    pub optional: Set,
    pub handler: Handler,
    /// Stated for the reader (the handler makes the transition); the endpoint tests hold the
    /// handshake handlers to it.
    #[allow(dead_code)]
    pub next: Next,
}

/// Payloads any message may carry besides its own: status and error notifies, vendor IDs.
const ANY: Set = Set::N.or(Set::V);
const CHILD: Set = Set::SA.or(Set::TSI).or(Set::TSR);
const CREATE: Set = Set::KE.or(Set::TSI).or(Set::TSR).or(Set::CP).or(ANY);

#[rustfmt::skip]
pub(crate) const TABLE: &[Row] = &[
    // RFC 7296 section 1.2: HDR, SAi1, KEi, Ni  -->  <-- HDR, SAr1, KEr, Nr, [CERTREQ]
    Row { exchange: X::IKE_SA_INIT, role: Role::Request, from: FromState::NoSa,
          required: Set::SA.or(Set::KE).or(Set::NONCE), optional: Set::CERTREQ.or(ANY),
          handler: Handler::RespondInit, next: Next::To(IkeState::HalfOpen) },
    Row { exchange: X::IKE_SA_INIT, role: Role::Response, from: FromState::Sent(Sent::IkeSaInit),
          required: Set::SA.or(Set::KE).or(Set::NONCE), optional: Set::CERTREQ.or(ANY),
          handler: Handler::InitResponse, next: Next::To(IkeState::AuthSent) },
    // HDR, SK {IDi, [CERT+], [N(INITIAL_CONTACT)], [CERTREQ+], [IDr], AUTH, [CP],
    //          [N(USE_TRANSPORT_MODE)], [SAi2, TSi, TSr]}  (no SA: childless, RFC 6023).
    // EAP is not supported: tolerated, so that an EAP client hears its AUTH is missing.
    Row { exchange: X::IKE_AUTH, role: Role::Request, from: FromState::HalfOpen,
          required: Set::IDI.or(Set::AUTH),
          optional: Set::CERT.or(Set::CERTREQ).or(Set::IDR).or(Set::CP).or(Set::EAP).or(CHILD)
              .or(ANY),
          handler: Handler::RespondAuth, next: Next::To(IkeState::Established) },
    // <-- HDR, SK {IDr, [CERT+], AUTH, [CP], [N(USE_TRANSPORT_MODE)], [SAr2, TSi, TSr]}
    Row { exchange: X::IKE_AUTH, role: Role::Response, from: FromState::Sent(Sent::IkeAuth),
          required: Set::IDR.or(Set::AUTH),
          optional: Set::CERT.or(Set::CERTREQ).or(Set::CP).or(CHILD).or(ANY),
          handler: Handler::AuthResponse, next: Next::To(IkeState::Established) },
    // Section 1.3: HDR, SK {[N(REKEY_SA)], SA, Ni, [KEi], [TSi, TSr]}  (IKE rekey: SA, Ni, KEi)
    Row { exchange: X::CREATE_CHILD_SA, role: Role::Request, from: FromState::Established,
          required: Set::SA.or(Set::NONCE), optional: CREATE,
          handler: Handler::RespondCreate, next: Next::Same },
    Row { exchange: X::CREATE_CHILD_SA, role: Role::Request, from: FromState::Deleting,
          required: Set::NONE, optional: Set::SA.or(Set::NONCE).or(CREATE),
          handler: Handler::RefuseCreate, next: Next::Same },
    // <-- HDR, SK {SA, Nr, [KEr], TSi, TSr}
    Row { exchange: X::CREATE_CHILD_SA, role: Role::Response, from: FromState::Sent(Sent::Child),
          required: Set::SA.or(Set::NONCE).or(Set::TSI).or(Set::TSR), optional: CREATE,
          handler: Handler::CreateResponse, next: Next::Same },
    // <-- HDR, SK {SA, Nr, KEr}
    Row { exchange: X::CREATE_CHILD_SA, role: Role::Response, from: FromState::Sent(Sent::RekeyIke),
          required: Set::SA.or(Set::NONCE).or(Set::KE), optional: ANY,
          handler: Handler::CreateResponse, next: Next::Successor },
    // Section 1.4: HDR, SK {[N,] [D,] [CP,] ...} both ways.
    Row { exchange: X::INFORMATIONAL, role: Role::Request, from: FromState::Established,
          required: Set::NONE, optional: Set::D.or(Set::CP).or(ANY),
          handler: Handler::RespondInformational, next: Next::Same },
    Row { exchange: X::INFORMATIONAL, role: Role::Request, from: FromState::Deleting,
          required: Set::NONE, optional: Set::D.or(Set::CP).or(ANY),
          handler: Handler::RespondInformational, next: Next::Same },
    Row { exchange: X::INFORMATIONAL, role: Role::Response, from: FromState::Sent(Sent::Informational),
          required: Set::NONE, optional: Set::D.or(Set::CP).or(ANY),
          handler: Handler::InformationalResponse, next: Next::Same },
];

/// The row for the peer's request `exchange` on an IKE SA in `state` (`we_responded`: we are
/// the original responder), if the protocol has one.
pub(crate) fn request_row(
    exchange: X,
    state: IkeState,
    we_responded: bool,
) -> Option<&'static Row> {
    let from = match state {
        IkeState::HalfOpen if we_responded => FromState::HalfOpen,
        IkeState::Established => FromState::Established,
        IkeState::Deleting => FromState::Deleting,
        _ => return None,
    };
    find(exchange, Role::Request, from)
}

/// The row for the answer to our request of `purpose`.
pub(crate) fn response_row(exchange: X, purpose: &Purpose) -> Option<&'static Row> {
    find(exchange, Role::Response, FromState::Sent(Sent::of(purpose)))
}

/// The row for a new IKE_SA_INIT request.
pub(crate) fn init_request_row() -> Option<&'static Row> {
    find(X::IKE_SA_INIT, Role::Request, FromState::NoSa)
}

fn find(exchange: X, role: Role, from: FromState) -> Option<&'static Row> {
    TABLE
        .iter()
        .find(|r| r.exchange == exchange && r.role == role && r.from == from)
}

/// Nonce length we send (RFC 7296 section 2.10: at least half the key size of any PRF we offer
/// and at least 128 bits; 32 octets cover PRF_HMAC_SHA2_512).
pub const NONCE_LEN: usize = 32;

/// Nonce length we accept (RFC 7296 section 2.10: 16..=256 octets).
pub(crate) fn nonce_ok(n: &[u8]) -> bool {
    (16..=256).contains(&n.len())
}

/// Why a message does not fit its row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A second payload of a type that may appear once.
    Duplicate(PayloadType),
    /// A known payload this exchange does not carry.
    NotAllowed(PayloadType),
    /// Required payloads that are absent.
    Missing(Set),
    /// A Nonce outside 16..=256 octets.
    Nonce(usize),
}

impl Refusal {
    /// The refusal as the failure detail of the exchange it ends, the exchange named first when
    /// given.
    pub fn fault(&self, exchange: Option<X>) -> Fault {
        match self {
            Refusal::Duplicate(payload) => Fault::Duplicate {
                exchange,
                payload: *payload,
            },
            Refusal::NotAllowed(payload) => Fault::NotAllowed {
                exchange,
                payload: *payload,
            },
            Refusal::Missing(s) => Fault::Lacks {
                exchange,
                payloads: s.types().collect(),
            },
            Refusal::Nonce(len) => Fault::NonceLength {
                exchange,
                len: *len,
            },
        }
    }

    /// Malformed (answered INVALID_SYNTAX like an undecodable message) rather than incomplete
    /// (whose answer each exchange has always chosen itself).
    pub fn is_malformed(&self) -> bool {
        matches!(self, Refusal::Duplicate(_) | Refusal::NotAllowed(_))
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Duplicate(t) => write!(f, "more than one {t} payload"),
            Refusal::NotAllowed(t) => write!(f, "{t} payload not allowed in this exchange"),
            Refusal::Missing(s) => write!(f, "lacks {s}"),
            Refusal::Nonce(n) => write!(f, "nonce of {n} octets"),
        }
    }
}

/// A message's payloads indexed by type, checked against its row.
#[derive(Debug, Default)]
pub(crate) struct Digest {
    pub sa: Option<SaPayload>,
    pub ke: Option<KePayload>,
    /// 16..=256 octets when present.
    pub nonce: Option<Vec<u8>>,
    pub idi: Option<IdPayload>,
    pub idr: Option<IdPayload>,
    pub auth: Option<AuthPayload>,
    pub tsi: Option<TsPayload>,
    pub tsr: Option<TsPayload>,
    pub cp: Option<CpPayload>,
    pub certs: Vec<CertPayload>,
    pub certreqs: Vec<CertReqPayload>,
    pub deletes: Vec<DeletePayload>,
    /// In message order.
    pub notifies: Vec<Notify>,
    /// The first payload of the message was `notifies[0]` (where a COOKIE must be).
    pub notify_first: bool,
    present: Set,
}

impl Digest {
    pub fn notify(&self, ntype: NotifyType) -> Option<&Notify> {
        self.notifies.iter().find(|n| n.ntype == ntype)
    }

    pub fn has_notify(&self, ntype: NotifyType) -> bool {
        self.notify(ntype).is_some()
    }

    /// The first error notify, if any.
    pub fn first_error(&self) -> Option<NotifyType> {
        self.notifies.iter().find(|n| n.is_error()).map(|n| n.ntype)
    }

    /// The data of a COOKIE notify that came first, as RFC 7296 section 2.6 requires.
    pub fn leading_cookie(&self) -> Option<&[u8]> {
        match self.notifies.first() {
            Some(n) if self.notify_first && n.ntype == NotifyType::COOKIE => Some(&n.data),
            _ => None,
        }
    }

    /// Records one payload of type `t`, refusing a second single one or one the row lacks.
    fn admit(&mut self, allowed: Set, t: PayloadType) -> Result<(), Refusal> {
        let Some(b) = Set::of(t) else {
            return Err(Refusal::NotAllowed(t));
        };
        if !allowed.contains(t) {
            return Err(Refusal::NotAllowed(t));
        }
        if self.present.contains(t) && !Set::REPEATABLE.contains(t) {
            return Err(Refusal::Duplicate(t));
        }
        self.present = self.present.or(b);
        Ok(())
    }

    fn put(&mut self, allowed: Set, p: InnerPayload) -> Result<(), Refusal> {
        if let InnerPayload::Unknown(_) = p {
            // RFC 7296 section 3.2: skipped (a critical one never got past the decoder).
            return Ok(());
        }
        self.admit(allowed, p.ptype())?;
        match p {
            InnerPayload::Sa(x) => self.sa = Some(x),
            InnerPayload::Ke(x) => self.ke = Some(x),
            InnerPayload::Nonce(x) => self.nonce = Some(x),
            InnerPayload::IdI(x) => self.idi = Some(x),
            InnerPayload::IdR(x) => self.idr = Some(x),
            InnerPayload::Auth(x) => self.auth = Some(x),
            InnerPayload::TsI(x) => self.tsi = Some(x),
            InnerPayload::TsR(x) => self.tsr = Some(x),
            InnerPayload::Cp(x) => self.cp = Some(x),
            InnerPayload::Cert(x) => self.certs.push(x),
            InnerPayload::CertReq(x) => self.certreqs.push(x),
            InnerPayload::Delete(x) => self.deletes.push(x),
            InnerPayload::Notify(x) => self.notifies.push(x),
            InnerPayload::VendorId(_) | InnerPayload::Eap(_) | InnerPayload::Unknown(_) => {}
        }
        Ok(())
    }

    /// Required payloads and nonce length. A response that refuses our request (an error
    /// notify, or a COOKIE) carries only its notifies, so nothing is required of it.
    fn finish(self, row: &Row) -> Result<Digest, Refusal> {
        let refusing = self.first_error().is_some() || self.has_notify(NotifyType::COOKIE);
        let missing = row.required.minus(self.present);
        if missing != Set::NONE && !(row.role == Role::Response && refusing) {
            return Err(Refusal::Missing(missing));
        }
        if let Some(n) = self.nonce.as_ref().filter(|n| !nonce_ok(n)) {
            return Err(Refusal::Nonce(n.len()));
        }
        Ok(self)
    }
}

impl Row {
    pub fn allowed(&self) -> Set {
        self.required.or(self.optional)
    }

    /// Digests the decrypted payloads of a protected message.
    pub fn digest(&self, payloads: Vec<InnerPayload>) -> Result<Digest, Refusal> {
        let mut d = Digest {
            notify_first: matches!(payloads.first(), Some(InnerPayload::Notify(_))),
            ..Digest::default()
        };
        for p in payloads {
            d.put(self.allowed(), p)?;
        }
        d.finish(self)
    }

    /// Digests the cleartext payloads of IKE_SA_INIT.
    pub fn digest_cleartext(&self, payloads: Vec<Payload>) -> Result<Digest, Refusal> {
        let mut d = Digest {
            notify_first: matches!(payloads.first(), Some(Payload::Notify(_))),
            ..Digest::default()
        };
        for p in payloads {
            let inner = match p {
                Payload::Sa(x) => InnerPayload::Sa(x),
                Payload::Ke(x) => InnerPayload::Ke(x),
                Payload::Nonce(x) => InnerPayload::Nonce(x),
                Payload::Notify(x) => InnerPayload::Notify(x),
                Payload::VendorId(x) => InnerPayload::VendorId(x),
                Payload::CertReq(x) => InnerPayload::CertReq(x),
                Payload::Unknown(x) => InnerPayload::Unknown(x),
                p @ (Payload::Sk(_) | Payload::Skf(_)) => {
                    return Err(Refusal::NotAllowed(p.ptype()))
                }
            };
            d.put(self.allowed(), inner)?;
        }
        d.finish(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::UnknownPayload;

    fn row(x: X, role: Role, from: FromState) -> &'static Row {
        find(x, role, from).unwrap()
    }

    #[test]
    fn one_row_per_exchange_role_and_state() {
        for (i, a) in TABLE.iter().enumerate() {
            for b in TABLE.iter().skip(i + 1) {
                assert!(
                    (a.exchange, a.role, a.from) != (b.exchange, b.role, b.from),
                    "{a:?} and {b:?} overlap"
                );
            }
            assert_eq!(a.required.minus(a.allowed()), Set::NONE);
            assert!(!a.optional.contains(PayloadType::SKF));
        }
    }

    #[test]
    fn missing_payloads_read_as_a_list() {
        assert_eq!(
            Set::SA.or(Set::KE).or(Set::NONCE).to_string(),
            "SA, KE or Nonce"
        );
        assert_eq!(Set::IDR.or(Set::AUTH).to_string(), "IDr or AUTH");
        assert_eq!(Set::SA.to_string(), "SA");
    }

    #[test]
    fn duplicates_unexpected_and_unknown_payloads() {
        let init = row(X::IKE_SA_INIT, Role::Request, FromState::NoSa);
        let sa = Payload::Sa(SaPayload { proposals: vec![] });
        let two = vec![sa.clone(), sa.clone()];
        assert_eq!(
            init.digest_cleartext(two).unwrap_err(),
            Refusal::Duplicate(PayloadType::SA)
        );
        let info = row(X::INFORMATIONAL, Role::Request, FromState::Established);
        let ts = TsPayload::new(std::iter::empty()).unwrap();
        assert_eq!(
            info.digest(vec![InnerPayload::TsI(ts)]).unwrap_err(),
            Refusal::NotAllowed(PayloadType::TSI)
        );
        let unknown = InnerPayload::Unknown(UnknownPayload {
            ptype: PayloadType(200),
            critical: false,
            body: vec![1],
        });
        let n = InnerPayload::Notify(Notify::new(NotifyType::INITIAL_CONTACT));
        let d = info.digest(vec![unknown, n.clone(), n]).unwrap();
        assert_eq!(d.notifies.len(), 2);
        assert!(!d.notify_first);
    }

    #[test]
    fn required_payloads_and_nonce_length() {
        let create = row(X::CREATE_CHILD_SA, Role::Request, FromState::Established);
        let sa = InnerPayload::Sa(SaPayload { proposals: vec![] });
        assert_eq!(
            create.digest(vec![sa.clone()]).unwrap_err(),
            Refusal::Missing(Set::NONCE)
        );
        let short = InnerPayload::Nonce(vec![0; 15]);
        assert_eq!(
            create.digest(vec![sa.clone(), short]).unwrap_err(),
            Refusal::Nonce(15)
        );
        assert!(create
            .digest(vec![sa, InnerPayload::Nonce(vec![0; 16])])
            .is_ok());
        // An error answer carries only its notify.
        let resp = row(
            X::CREATE_CHILD_SA,
            Role::Response,
            FromState::Sent(Sent::Child),
        );
        let err = InnerPayload::Notify(Notify::new(NotifyType::NO_PROPOSAL_CHOSEN));
        assert!(resp.digest(vec![err]).is_ok());
    }
}
