//! The non-ESP marker that precedes IKE messages on UDP port 4500 (RFC 3948 section 2.2,
//! RFC 7296 section 2.23).

/// Four zero octets where an ESP packet would have its (never zero) SPI.
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];

/// What a datagram received on port 4500 holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NattDatagram<'a> {
    /// An IKE message, marker removed.
    Ike(&'a [u8]),
    /// A NAT-keepalive (a single 0xff octet, RFC 3948 section 2.3).
    Keepalive,
    /// ESP-in-UDP (starts with a non-zero SPI); normally consumed by the kernel before userspace.
    Esp(&'a [u8]),
    /// Too short to be any of them.
    Invalid,
}

/// Classifies a datagram received on port 4500.
pub fn classify_natt(datagram: &[u8]) -> NattDatagram<'_> {
    match datagram {
        [0xff] => NattDatagram::Keepalive,
        [0, 0, 0, 0, ike @ ..] => NattDatagram::Ike(ike),
        [_, _, _, _, ..] => NattDatagram::Esp(datagram),
        _ => NattDatagram::Invalid,
    }
}

/// An IKE message as sent on port 4500: marker first.
pub fn with_non_esp_marker(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(NON_ESP_MARKER.len() + message.len());
    out.extend_from_slice(&NON_ESP_MARKER);
    out.extend_from_slice(message);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify() {
        assert_eq!(classify_natt(&[0xff]), NattDatagram::Keepalive);
        assert_eq!(
            classify_natt(&[0, 0, 0, 0, 9, 9]),
            NattDatagram::Ike(&[9, 9])
        );
        assert_eq!(
            classify_natt(&[0xb4, 0x1f, 0x4d, 0xf8, 0, 0, 0, 1]),
            NattDatagram::Esp(&[0xb4, 0x1f, 0x4d, 0xf8, 0, 0, 0, 1])
        );
        assert_eq!(classify_natt(&[0, 0]), NattDatagram::Invalid);
        assert_eq!(classify_natt(&[]), NattDatagram::Invalid);
        assert_eq!(with_non_esp_marker(&[9, 9]), [0, 0, 0, 0, 9, 9]);
    }
}
