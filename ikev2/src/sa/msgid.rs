//! Message-ID bookkeeping of one IKE SA (RFC 7296 section 2.1 and 2.2), window size one.
//!
//! Each direction has its own counter: [`RequestWindow`] numbers the requests we send and matches
//! the peer's responses to them; [`ResponseWindow`] accepts the peer's requests in order and keeps the
//! last response so that a retransmitted request gets the identical answer without being processed
//! twice.

use std::time::Instant;

use crate::consts::ExchangeType;
use crate::timer::{RetransmitAction, RetransmitPolicy, RetransmitTimer};

/// A request we sent and for which no response has arrived yet.
#[derive(Clone, Debug)]
pub struct Outstanding<P> {
    pub msg_id: u32,
    pub exchange: ExchangeType,
    /// The exact datagram(s) to resend on retransmission.
    pub datagrams: Vec<Vec<u8>>,
    pub timer: RetransmitTimer,
    /// What the exchange was for, so that the response handler knows what to expect.
    pub purpose: P,
}

/// Why a response does not belong to the outstanding request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseMismatch {
    /// Nothing is outstanding (a late duplicate of an already answered request).
    NothingOutstanding,
    /// The message ID is not the one outstanding.
    WrongMessageId { expected: u32, got: u32 },
    /// The exchange type differs from the outstanding request's.
    WrongExchange {
        expected: ExchangeType,
        got: ExchangeType,
    },
}

/// Our side as requester: window of one.
#[derive(Clone, Debug)]
pub struct RequestWindow<P> {
    next_id: u32,
    outstanding: Option<Outstanding<P>>,
}

impl<P> Default for RequestWindow<P> {
    fn default() -> Self {
        RequestWindow {
            next_id: 0,
            outstanding: None,
        }
    }
}

impl<P> RequestWindow<P> {
    /// The message ID the next request will carry.
    pub fn next_id(&self) -> u32 {
        self.next_id
    }

    /// Whether a new request may be sent now (window of one).
    pub fn is_free(&self) -> bool {
        self.outstanding.is_none()
    }

    pub fn outstanding(&self) -> Option<&Outstanding<P>> {
        self.outstanding.as_ref()
    }

    /// Records a request that was just sent with message ID `next_id()`. Returns `None` when the window
    /// is busy or the message-ID space is exhausted (the SA must then be rekeyed or closed).
    pub fn send(
        &mut self,
        now: Instant,
        policy: &RetransmitPolicy,
        exchange: ExchangeType,
        datagrams: Vec<Vec<u8>>,
        purpose: P,
    ) -> Option<u32> {
        if self.outstanding.is_some() {
            return None;
        }
        let msg_id = self.next_id;
        let next = msg_id.checked_add(1)?;
        self.outstanding = Some(Outstanding {
            msg_id,
            exchange,
            datagrams,
            timer: RetransmitTimer::start(policy, now),
            purpose,
        });
        self.next_id = next;
        Some(msg_id)
    }

    /// Replaces the outstanding request with a different one under the same message ID. Used only
    /// for IKE_SA_INIT, which RFC 7296 section 2.6/1.2 restarts at ID 0 after COOKIE and
    /// INVALID_KE_PAYLOAD.
    pub fn restart_same_id(
        &mut self,
        now: Instant,
        policy: &RetransmitPolicy,
        datagrams: Vec<Vec<u8>>,
        purpose: P,
    ) -> bool {
        match self.outstanding.as_mut() {
            Some(o) => {
                o.datagrams = datagrams;
                o.purpose = purpose;
                o.timer = RetransmitTimer::start(policy, now);
                true
            }
            None => false,
        }
    }

    /// Checks that a response matches the outstanding request, without consuming it.
    pub fn check_response(
        &self,
        msg_id: u32,
        exchange: ExchangeType,
    ) -> Result<&Outstanding<P>, ResponseMismatch> {
        let o = self
            .outstanding
            .as_ref()
            .ok_or(ResponseMismatch::NothingOutstanding)?;
        if o.msg_id != msg_id {
            return Err(ResponseMismatch::WrongMessageId {
                expected: o.msg_id,
                got: msg_id,
            });
        }
        if o.exchange != exchange {
            return Err(ResponseMismatch::WrongExchange {
                expected: o.exchange,
                got: exchange,
            });
        }
        Ok(o)
    }

    /// Closes the window after an authenticated response was accepted.
    pub fn complete(&mut self) -> Option<Outstanding<P>> {
        self.outstanding.take()
    }

    /// The retransmission deadline of the outstanding request.
    pub fn deadline(&self) -> Option<Instant> {
        self.outstanding.as_ref().map(|o| o.timer.deadline())
    }

    /// Runs the retransmit timer at `now`: the datagrams to resend, or the retransmit count when the
    /// budget is spent. `None` when nothing is due.
    pub fn on_timeout(
        &mut self,
        now: Instant,
        policy: &RetransmitPolicy,
    ) -> Option<Result<Vec<Vec<u8>>, u32>> {
        let o = self.outstanding.as_mut()?;
        if now < o.timer.deadline() {
            return None;
        }
        match o.timer.expire(policy, now) {
            RetransmitAction::Resend => Some(Ok(o.datagrams.clone())),
            RetransmitAction::GiveUp { retransmits } => Some(Err(retransmits)),
        }
    }
}

/// What to do with a request from the peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestVerdict<'a> {
    /// The next request in sequence: process it.
    New,
    /// A retransmission of the request answered last: send this cached response again.
    Retransmit(&'a [Vec<u8>]),
    /// A message ID we already answered but no longer have a response for, or one from the future:
    /// drop it silently (RFC 7296 section 2.3).
    Drop { expected: u32, got: u32 },
}

#[derive(Clone, Debug)]
struct CachedResponse {
    msg_id: u32,
    /// SHA-256 of the request: enough to recognise a retransmission without holding a copy of
    /// every request a peer sent (up to `max_packet` octets each).
    request: [u8; 32],
    response: Vec<Vec<u8>>,
}

fn request_digest(request: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, request).as_ref());
    out
}

/// Our side as responder: accepts the peer's requests in order, caches the last response.
#[derive(Clone, Debug, Default)]
pub struct ResponseWindow {
    expected: u32,
    cached: Option<CachedResponse>,
}

impl ResponseWindow {
    /// The message ID the peer's next new request must carry.
    pub fn expected(&self) -> u32 {
        self.expected
    }

    /// Classifies a request with `msg_id` whose raw bytes are `request`.
    pub fn classify(&self, msg_id: u32, request: &[u8]) -> RequestVerdict<'_> {
        if msg_id == self.expected {
            return RequestVerdict::New;
        }
        if let Some(c) = &self.cached {
            // A retransmission is the same message again; a different message under the old ID is
            // not one we answered and must not get our cached answer.
            if c.msg_id == msg_id && c.request == request_digest(request) {
                return RequestVerdict::Retransmit(&c.response);
            }
        }
        RequestVerdict::Drop {
            expected: self.expected,
            got: msg_id,
        }
    }

    /// The cached response datagrams if `msg_id` is the request we answered last.
    pub fn cached_for(&self, msg_id: u32) -> Option<&[Vec<u8>]> {
        self.cached
            .as_ref()
            .filter(|c| c.msg_id == msg_id)
            .map(|c| c.response.as_slice())
    }

    /// Records the response to the request `msg_id` (which must be `expected()`) and advances.
    pub fn answered(&mut self, msg_id: u32, request: &[u8], response: Vec<Vec<u8>>) {
        debug_assert_eq!(msg_id, self.expected);
        self.cached = Some(CachedResponse {
            msg_id,
            request: request_digest(request),
            response,
        });
        // At 2^32-1 the window stays put; every further request is dropped, which RFC 7296 allows
        // (the SA has to be rekeyed long before).
        if let Some(n) = self.expected.checked_add(1) {
            self.expected = n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn policy() -> RetransmitPolicy {
        RetransmitPolicy {
            timeout: Duration::from_secs(1),
            base: 2.0,
            tries: 2,
            limit: None,
        }
    }

    #[test]
    fn request_window_is_one_and_ids_increase() {
        let p = policy();
        let t0 = Instant::now();
        let mut w: RequestWindow<&str> = RequestWindow::default();
        assert_eq!(
            w.send(t0, &p, ExchangeType::IKE_SA_INIT, vec![vec![1]], "init"),
            Some(0)
        );
        assert!(!w.is_free());
        assert_eq!(
            w.send(t0, &p, ExchangeType::INFORMATIONAL, vec![vec![2]], "x"),
            None,
            "second request while one is outstanding"
        );
        assert_eq!(
            w.check_response(1, ExchangeType::IKE_SA_INIT).unwrap_err(),
            ResponseMismatch::WrongMessageId {
                expected: 0,
                got: 1
            }
        );
        assert_eq!(
            w.check_response(0, ExchangeType::IKE_AUTH).unwrap_err(),
            ResponseMismatch::WrongExchange {
                expected: ExchangeType::IKE_SA_INIT,
                got: ExchangeType::IKE_AUTH
            }
        );
        assert_eq!(
            w.check_response(0, ExchangeType::IKE_SA_INIT)
                .unwrap()
                .purpose,
            "init"
        );
        assert_eq!(w.complete().unwrap().msg_id, 0);
        assert_eq!(
            w.check_response(0, ExchangeType::IKE_SA_INIT).unwrap_err(),
            ResponseMismatch::NothingOutstanding,
            "a duplicate response after completion is stale"
        );
        assert_eq!(
            w.send(t0, &p, ExchangeType::IKE_AUTH, vec![vec![3]], "auth"),
            Some(1)
        );
    }

    #[test]
    fn retransmits_same_bytes_then_gives_up() {
        let p = policy();
        let t0 = Instant::now();
        let mut w: RequestWindow<()> = RequestWindow::default();
        w.send(t0, &p, ExchangeType::INFORMATIONAL, vec![vec![9, 9]], ());
        assert_eq!(w.on_timeout(t0 + Duration::from_millis(999), &p), None);
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(w.on_timeout(t1, &p), Some(Ok(vec![vec![9, 9]])));
        assert_eq!(w.deadline(), Some(t1 + Duration::from_secs(2)));
        let t2 = t1 + Duration::from_secs(2);
        assert_eq!(w.on_timeout(t2, &p), Some(Ok(vec![vec![9, 9]])));
        let t3 = t2 + Duration::from_secs(4);
        assert_eq!(w.on_timeout(t3, &p), Some(Err(2)));
    }

    #[test]
    fn restart_keeps_message_id_zero() {
        let p = policy();
        let t0 = Instant::now();
        let mut w: RequestWindow<u8> = RequestWindow::default();
        w.send(t0, &p, ExchangeType::IKE_SA_INIT, vec![vec![1]], 1);
        let t1 = t0 + Duration::from_millis(500);
        assert!(w.restart_same_id(t1, &p, vec![vec![2]], 2));
        let o = w.check_response(0, ExchangeType::IKE_SA_INIT).unwrap();
        assert_eq!(o.datagrams, vec![vec![2]]);
        assert_eq!(o.purpose, 2);
        assert_eq!(w.deadline(), Some(t1 + Duration::from_secs(1)));
        assert_eq!(w.next_id(), 1);
    }

    #[test]
    fn responder_caches_last_response_and_drops_others() {
        let mut w = ResponseWindow::default();
        assert_eq!(
            w.classify(1, b"r1"),
            RequestVerdict::Drop {
                expected: 0,
                got: 1
            }
        );
        assert_eq!(w.classify(0, b"r0"), RequestVerdict::New);
        w.answered(0, b"r0", vec![b"resp0".to_vec()]);
        assert_eq!(
            w.classify(0, b"r0"),
            RequestVerdict::Retransmit(&[b"resp0".to_vec()])
        );
        assert_eq!(
            w.classify(0, b"other"),
            RequestVerdict::Drop {
                expected: 1,
                got: 0
            },
            "different bytes under an answered ID are not a retransmission"
        );
        assert_eq!(w.classify(1, b"r1"), RequestVerdict::New);
        w.answered(1, b"r1", vec![b"resp1".to_vec()]);
        assert_eq!(
            w.classify(0, b"r0"),
            RequestVerdict::Drop {
                expected: 2,
                got: 0
            },
            "only the last response is kept"
        );
        assert_eq!(
            w.classify(7, b"r7"),
            RequestVerdict::Drop {
                expected: 2,
                got: 7
            }
        );
    }
}
