//! An incomplete fragmented message (RFC 7383) held on its IKE SA; `exchange::fragment` fills it.

use std::collections::BTreeMap;
use std::time::Instant;

/// The fragments of one message received so far. Only the decrypted shares are kept, and only
/// up to `max_packet` octets in all: a peer that never sends the last fragment holds at most that
/// much, for at most `fragment_timeout`.
#[derive(Debug)]
pub(crate) struct Reassembly {
    pub message_id: u32,
    pub response: bool,
    /// When the first fragment arrived; the whole is dropped `fragment_timeout` later.
    pub started: Instant,
    pub total: u16,
    pub first_inner: u8,
    /// Octets held in `parts`.
    pub held: usize,
    /// Fragment number -> decrypted share.
    pub parts: BTreeMap<u16, Vec<u8>>,
}

impl Reassembly {
    /// Decrypted octets held.
    pub fn held(&self) -> usize {
        self.held
    }

    /// When this incomplete message is given up.
    pub fn deadline(&self, timeout: std::time::Duration) -> Instant {
        crate::timer::reassembly_deadline(self.started, timeout)
    }
}
