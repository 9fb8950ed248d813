//! The one DER module: a minimal, length-checked TLV reader and writer for the few certificate and key
//! fields auth needs after rustls-webpki has validated the certificate itself (names, SAN, SPKI,
//! validity for messages), and the distinguished-name string form ([`dn`]) that identities and
//! certificate names are shown and configured in.

pub mod dn;

pub use dn::{encode_dn, format_dn};

pub const SEQUENCE: u8 = 0x30;
pub const OID: u8 = 0x06;
pub const INTEGER: u8 = 0x02;
pub const NULL: u8 = 0x05;
pub const BIT_STRING: u8 = 0x03;
pub const OCTET_STRING: u8 = 0x04;

/// One TLV: its tag, its content, and the whole encoding (tag and length included).
#[derive(Clone, Copy, Debug)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub content: &'a [u8],
    pub whole: &'a [u8],
}

/// A cursor over concatenated TLVs.
#[derive(Clone, Copy, Debug)]
pub struct Der<'a>(pub &'a [u8]);

impl<'a> Der<'a> {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The next TLV of any tag (single-octet tags only; DER lengths up to 4 octets).
    pub fn any(&mut self) -> Option<Tlv<'a>> {
        let b = self.0;
        let (&tag, rest) = b.split_first()?;
        if tag & 0x1f == 0x1f {
            return None;
        }
        let (&l, rest) = rest.split_first()?;
        let (len, rest) = if l < 0x80 {
            (usize::from(l), rest)
        } else {
            let n = usize::from(l & 0x7f);
            if n == 0 || n > 4 {
                return None;
            }
            let len = rest
                .get(..n)?
                .iter()
                .fold(0usize, |a, b| (a << 8) | usize::from(*b));
            (len, rest.get(n..)?)
        };
        let content = rest.get(..len)?;
        let header = b.len() - rest.len();
        let whole = b.get(..header + len)?;
        self.0 = rest.get(len..)?;
        Some(Tlv {
            tag,
            content,
            whole,
        })
    }

    /// The next TLV, which must have `tag`.
    pub fn expect(&mut self, tag: u8) -> Option<Tlv<'a>> {
        let mut probe = *self;
        let tlv = probe.any()?;
        (tlv.tag == tag).then(|| {
            *self = probe;
            tlv
        })
    }

    /// The next TLV if it has `tag`; otherwise nothing is consumed.
    pub fn optional(&mut self, tag: u8) -> Option<Tlv<'a>> {
        self.expect(tag)
    }

    /// The content of a SEQUENCE that must be all of the input.
    pub fn only_sequence(b: &'a [u8]) -> Option<Der<'a>> {
        let mut d = Der(b);
        let seq = d.expect(SEQUENCE)?;
        d.is_empty().then_some(Der(seq.content))
    }
}

/// Appends one TLV with a definite DER length.
pub fn push_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = n.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_rejects() {
        let mut v = Vec::new();
        push_tlv(&mut v, SEQUENCE, &[0u8; 200]);
        let mut d = Der(&v);
        let t = d.expect(SEQUENCE).unwrap();
        assert_eq!(t.content.len(), 200);
        assert_eq!(t.whole.len(), 203);
        assert!(d.is_empty());
        for k in 0..v.len() {
            assert!(Der(&v[..k]).any().is_none(), "truncated at {k}");
        }
        assert!(Der(&[0x30, 0x85, 1, 1, 1, 1, 1]).any().is_none());
        assert!(Der(&[0x1f, 0x01, 0x00]).any().is_none());
        assert!(Der(&v).expect(0x31).is_none());
    }
}
