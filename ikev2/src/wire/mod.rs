//! IKEv2 message and payload codec (RFC 7296 section 3, RFC 7383 for SKF).
//!
//! Decoding validates every length before use and never panics; encoding is its exact inverse for
//! every message that decodes with zero RESERVED fields (all real peers; RESERVED bits are ignored on
//! receipt as RFC 7296 requires and sent as zero, except the ID payload's, which AUTH covers).
//! SK/SKF bodies stay opaque here: `crypto::sk` protects and unprotects them on the encoded bytes,
//! then [`decode_inner`] / [`encode_inner`] handle the payloads inside.

pub mod auth;
pub mod cert;
pub mod cp;
pub use rswan_ike::der::dn;
pub mod delete;
mod encode;
pub mod error;
pub mod header;
pub mod id;
pub mod ke;
pub mod message;
pub mod natt;
pub mod notify;
pub mod payload;
mod reader;
pub mod sa;
pub mod sk;
pub mod ts;

pub use auth::AuthPayload;
pub use cert::{CertPayload, CertReqPayload};
pub use cp::{CfgAttr, CpPayload};
pub use delete::DeletePayload;
pub use error::DecodeError;
pub use header::{Flags, Header, RawHeader, HEADER_LEN};
pub use id::{IdPayload, Identity, IdentityParseError};
pub use ke::KePayload;
pub use message::Message;
pub use natt::{classify_natt, with_non_esp_marker, NattDatagram, NON_ESP_MARKER};
pub use notify::Notify;
pub use payload::{decode_inner, encode_inner, InnerPayload, Payload, UnknownPayload};
pub use sa::{AttrValue, Attribute, Proposal, SaPayload, Transform};
pub use sk::{SkPayload, SkfPayload};
pub use ts::{narrow, TrafficSelector, TsEntry, TsError, TsPayload};
