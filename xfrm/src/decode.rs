//! Length-checked decoding of everything the kernel sends.
//!
//! netlink-packet-xfrm 0.5 slices its input without checking lengths (a truncated payload
//! panics), so none of its parsers is used here: each struct is read field by field from known
//! offsets (x86-64/aarch64 layouts, which are the same for these structs) after checking that
//! the bytes are there. Nothing in this file indexes a slice unchecked.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::DecodeError;
use crate::model::{Direction, Mark, Mode, Policy, Prefix, Selector, Template, UdpEncap};

pub(crate) const NLMSG_ERROR: u16 = 2;
pub(crate) const NLMSG_DONE: u16 = 3;
const NLMSG_HDRLEN: usize = 16;
const NLA_HDRLEN: usize = 4;

pub(crate) const XFRMA_ALG_AUTH: u16 = 1;
pub(crate) const XFRMA_ALG_CRYPT: u16 = 2;
pub(crate) const XFRMA_ENCAP: u16 = 4;
pub(crate) const XFRMA_TMPL: u16 = 5;
pub(crate) const XFRMA_POLICY: u16 = 7;
pub(crate) const XFRMA_LASTUSED: u16 = 15;
pub(crate) const XFRMA_ALG_AEAD: u16 = 18;
pub(crate) const XFRMA_ALG_AUTH_TRUNC: u16 = 20;
pub(crate) const XFRMA_MARK: u16 = 21;
pub(crate) const XFRMA_IF_ID: u16 = 31;

const NLMSGERR_ATTR_MSG: u16 = 1;
const NLM_F_CAPPED: u16 = 0x100;
const NLM_F_ACK_TLVS: u16 = 0x200;

pub(crate) const SELECTOR_LEN: usize = 56;
pub(crate) const USERSA_INFO_LEN: usize = 224;
pub(crate) const USERPOLICY_INFO_LEN: usize = 168;
pub(crate) const USERPOLICY_ID_LEN: usize = 64;
pub(crate) const USER_TMPL_LEN: usize = 64;
pub(crate) const USER_ACQUIRE_LEN: usize = 280;
pub(crate) const USER_EXPIRE_LEN: usize = 232;
pub(crate) const USER_POLEXPIRE_LEN: usize = 176;
pub(crate) const USER_MAPPING_LEN: usize = 64;

fn take<'a>(
    buf: &'a [u8],
    off: usize,
    len: usize,
    what: &'static str,
) -> Result<&'a [u8], DecodeError> {
    off.checked_add(len)
        .and_then(|end| buf.get(off..end))
        .ok_or(DecodeError::Truncated {
            what,
            need: off.saturating_add(len),
            got: buf.len(),
        })
}

fn arr<const N: usize>(buf: &[u8], off: usize, what: &'static str) -> Result<[u8; N], DecodeError> {
    let s = take(buf, off, N, what)?;
    let mut out = [0u8; N];
    out.copy_from_slice(s);
    Ok(out)
}

fn u8_at(buf: &[u8], off: usize, what: &'static str) -> Result<u8, DecodeError> {
    Ok(arr::<1>(buf, off, what)?[0])
}
fn u16_ne(buf: &[u8], off: usize, what: &'static str) -> Result<u16, DecodeError> {
    Ok(u16::from_ne_bytes(arr(buf, off, what)?))
}
fn u16_be(buf: &[u8], off: usize, what: &'static str) -> Result<u16, DecodeError> {
    Ok(u16::from_be_bytes(arr(buf, off, what)?))
}
fn u32_ne(buf: &[u8], off: usize, what: &'static str) -> Result<u32, DecodeError> {
    Ok(u32::from_ne_bytes(arr(buf, off, what)?))
}
fn u32_be(buf: &[u8], off: usize, what: &'static str) -> Result<u32, DecodeError> {
    Ok(u32::from_be_bytes(arr(buf, off, what)?))
}
fn u64_ne(buf: &[u8], off: usize, what: &'static str) -> Result<u64, DecodeError> {
    Ok(u64::from_ne_bytes(arr(buf, off, what)?))
}

fn align4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

/// One netlink message, borrowed from a receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawMessage<'a> {
    pub msg_type: u16,
    pub flags: u16,
    pub seq: u32,
    pub payload: &'a [u8],
}

/// Splits a datagram into netlink messages. Stops with an error at the first malformed header.
pub(crate) fn messages(buf: &[u8]) -> impl Iterator<Item = Result<RawMessage<'_>, DecodeError>> {
    let mut rest = buf;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || rest.is_empty() {
            return None;
        }
        let r = (|| {
            let len = u32_ne(rest, 0, "netlink header")? as usize;
            if len < NLMSG_HDRLEN || len > rest.len() {
                return Err(DecodeError::BadLength {
                    what: "netlink header",
                    len,
                });
            }
            let msg = RawMessage {
                msg_type: u16_ne(rest, 4, "netlink header")?,
                flags: u16_ne(rest, 6, "netlink header")?,
                seq: u32_ne(rest, 8, "netlink header")?,
                payload: take(rest, NLMSG_HDRLEN, len - NLMSG_HDRLEN, "netlink payload")?,
            };
            rest = rest.get(align4(len)..).unwrap_or(&[]);
            Ok(msg)
        })();
        if r.is_err() {
            failed = true;
        }
        Some(r)
    })
}

/// Splits a block of netlink attributes into (type, value) pairs.
pub(crate) fn attributes(buf: &[u8]) -> impl Iterator<Item = Result<(u16, &[u8]), DecodeError>> {
    let mut rest = buf;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || rest.len() < NLA_HDRLEN {
            return None;
        }
        let r = (|| {
            let len = u16_ne(rest, 0, "attribute header")? as usize;
            // Top bits are the nested/byte-order flags, not part of the type.
            let ty = u16_ne(rest, 2, "attribute header")? & 0x3fff;
            if len < NLA_HDRLEN || len > rest.len() {
                return Err(DecodeError::BadLength {
                    what: "attribute",
                    len,
                });
            }
            let value = take(rest, NLA_HDRLEN, len - NLA_HDRLEN, "attribute value")?;
            rest = rest.get(align4(len)..).unwrap_or(&[]);
            Ok((ty, value))
        })();
        if r.is_err() {
            failed = true;
        }
        Some(r)
    })
}

/// Contents of an NLMSG_ERROR message: errno (positive, 0 for an ACK), the sequence number of
/// the request it answers, and the kernel's extended-ack text if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ack {
    pub errno: i32,
    pub request_seq: u32,
    pub message: Option<String>,
}

pub(crate) fn ack(msg: &RawMessage<'_>) -> Result<Ack, DecodeError> {
    let p = msg.payload;
    let error = i32::from_ne_bytes(arr(p, 0, "netlink error")?);
    let echoed_len = u32_ne(p, 4, "netlink error echoed header")? as usize;
    let request_seq = u32_ne(p, 12, "netlink error echoed header")?;
    let mut message = None;
    if msg.flags & NLM_F_ACK_TLVS != 0 {
        // The echoed request is the header alone when capped, the whole request otherwise.
        let echoed = if msg.flags & NLM_F_CAPPED != 0 {
            NLMSG_HDRLEN
        } else {
            align4(echoed_len)
        };
        let attrs = p.get(4 + echoed..).unwrap_or(&[]);
        for a in attributes(attrs) {
            let (ty, v) = a?;
            if ty == NLMSGERR_ATTR_MSG {
                let text = v.split(|b| *b == 0).next().unwrap_or(&[]);
                message = Some(String::from_utf8_lossy(text).into_owned());
            }
        }
    }
    Ok(Ack {
        errno: error.checked_neg().unwrap_or(i32::MAX),
        request_seq,
        message,
    })
}

fn ip(bytes: &[u8; 16], family: u16) -> Result<IpAddr, DecodeError> {
    match i32::from(family) {
        libc::AF_INET => Ok(IpAddr::V4(Ipv4Addr::new(
            bytes[0], bytes[1], bytes[2], bytes[3],
        ))),
        libc::AF_INET6 => Ok(IpAddr::V6(Ipv6Addr::from(*bytes))),
        _ => Err(DecodeError::BadValue {
            what: "address family",
            value: u64::from(family),
        }),
    }
}

/// xfrm_selector. `None` if its family is AF_UNSPEC (the "match all" selector of some SAs).
pub(crate) fn selector(buf: &[u8]) -> Result<Option<Selector>, DecodeError> {
    take(buf, 0, SELECTOR_LEN, "xfrm_selector")?;
    let family = u16_ne(buf, 40, "xfrm_selector")?;
    if family == 0 {
        return Ok(None);
    }
    let daddr = ip(&arr(buf, 0, "xfrm_selector")?, family)?;
    let saddr = ip(&arr(buf, 16, "xfrm_selector")?, family)?;
    let dport = u16_be(buf, 32, "xfrm_selector")?;
    let dmask = u16_be(buf, 34, "xfrm_selector")?;
    let sport = u16_be(buf, 36, "xfrm_selector")?;
    let smask = u16_be(buf, 38, "xfrm_selector")?;
    let plen_d = u8_at(buf, 42, "xfrm_selector")?;
    let plen_s = u8_at(buf, 43, "xfrm_selector")?;
    let proto = u8_at(buf, 44, "xfrm_selector")?;
    Ok(Some(Selector {
        src: Prefix::new(saddr, plen_s),
        dst: Prefix::new(daddr, plen_d),
        proto: (proto != 0).then_some(proto),
        src_port: (smask != 0).then_some(sport),
        dst_port: (dmask != 0).then_some(dport),
    }))
}

/// Byte and packet counters and times of an SA, as the kernel reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SaCounters {
    pub bytes: u64,
    pub packets: u64,
    /// Seconds since the epoch when the SA was added.
    pub add_time: u64,
    /// Seconds since the epoch of the first use, 0 if never used.
    pub first_use_time: u64,
    /// Seconds since the epoch of the last packet (XFRMA_LASTUSED), if the kernel sent it.
    pub last_used: Option<u64>,
    /// Packets dropped as outside the replay window.
    pub replay_window_drops: u32,
    /// Packets dropped as replays.
    pub replay_drops: u32,
    /// Packets dropped for a bad ICV.
    pub integrity_failures: u32,
}

/// An SA as read back from the kernel (keys are never copied out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaState {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub spi: u32,
    /// IP protocol of the SA (50 for ESP).
    pub proto: u8,
    pub reqid: u32,
    /// `None` for modes rswan does not use (BEET, route optimisation).
    pub mode: Option<Mode>,
    pub selector: Option<Selector>,
    pub encap: Option<UdpEncap>,
    pub mark: Option<Mark>,
    pub if_id: Option<u32>,
    /// Kernel names of the algorithms (e.g. "rfc4106(gcm(aes))").
    pub algorithms: Vec<String>,
    pub counters: SaCounters,
}

fn alg_name(v: &[u8]) -> Result<String, DecodeError> {
    let name = take(v, 0, 64, "algorithm name")?;
    let text = name.split(|b| *b == 0).next().unwrap_or(&[]);
    Ok(String::from_utf8_lossy(text).into_owned())
}

fn mark(v: &[u8]) -> Result<Mark, DecodeError> {
    Ok(Mark {
        value: u32_ne(v, 0, "xfrm_mark")?,
        mask: u32_ne(v, 4, "xfrm_mark")?,
    })
}

/// xfrm_usersa_info followed by attributes (NEWSA replies, dumps, EXPIRE).
pub(crate) fn sa_state(info: &[u8], attrs: &[u8]) -> Result<SaState, DecodeError> {
    take(info, 0, USERSA_INFO_LEN, "xfrm_usersa_info")?;
    let family = u16_ne(info, 212, "xfrm_usersa_info")?;
    let dst = ip(&arr(info, 56, "xfrm_usersa_info")?, family)?;
    let src = ip(&arr(info, 80, "xfrm_usersa_info")?, family)?;
    let mut state = SaState {
        src,
        dst,
        spi: u32_be(info, 72, "xfrm_usersa_info")?,
        proto: u8_at(info, 76, "xfrm_usersa_info")?,
        reqid: u32_ne(info, 208, "xfrm_usersa_info")?,
        mode: Mode::from_kernel(u8_at(info, 214, "xfrm_usersa_info")?),
        selector: selector(take(info, 0, SELECTOR_LEN, "xfrm_usersa_info")?)?,
        encap: None,
        mark: None,
        if_id: None,
        algorithms: Vec::new(),
        counters: SaCounters {
            bytes: u64_ne(info, 160, "xfrm_usersa_info")?,
            packets: u64_ne(info, 168, "xfrm_usersa_info")?,
            add_time: u64_ne(info, 176, "xfrm_usersa_info")?,
            first_use_time: u64_ne(info, 184, "xfrm_usersa_info")?,
            last_used: None,
            replay_window_drops: u32_ne(info, 192, "xfrm_usersa_info")?,
            replay_drops: u32_ne(info, 196, "xfrm_usersa_info")?,
            integrity_failures: u32_ne(info, 200, "xfrm_usersa_info")?,
        },
    };
    for a in attributes(attrs) {
        let (ty, v) = a?;
        match ty {
            XFRMA_ALG_AEAD | XFRMA_ALG_CRYPT | XFRMA_ALG_AUTH | XFRMA_ALG_AUTH_TRUNC => {
                // Only the name is read; the key bytes after it stay in the buffer, which the
                // caller wipes.
                state.algorithms.push(alg_name(v)?);
            }
            XFRMA_ENCAP => {
                let oa = arr::<16>(v, 8, "xfrm_encap_tmpl")?;
                state.encap = Some(UdpEncap {
                    src_port: u16_be(v, 2, "xfrm_encap_tmpl")?,
                    dst_port: u16_be(v, 4, "xfrm_encap_tmpl")?,
                    original_address: if oa == [0u8; 16] {
                        None
                    } else {
                        Some(ip(&oa, family)?)
                    },
                });
            }
            XFRMA_LASTUSED => state.counters.last_used = Some(u64_ne(v, 0, "XFRMA_LASTUSED")?),
            XFRMA_MARK => state.mark = Some(mark(v)?),
            XFRMA_IF_ID => state.if_id = Some(u32_ne(v, 0, "XFRMA_IF_ID")?),
            _ => {}
        }
    }
    Ok(state)
}

/// A policy as read back from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledPolicy {
    pub policy: Policy,
    /// The kernel's handle for the policy.
    pub index: u32,
    /// IP protocol of each template, in order (50 for ESP), since [`Template`] assumes ESP.
    pub template_protos: Vec<u8>,
    /// Seconds since the epoch when traffic last matched the policy (the kernel updates the
    /// policy's use time on every lookup, unlike an ESP SA's, which records only the first use):
    /// the idle signal for on-demand DPD. `None` if never used.
    pub last_used: Option<u64>,
}

/// True if a policy struct is a per-socket policy (directions 3..=5, XFRM_POLICY_MAX + dir),
/// which policy dumps include on some kernels but which are not part of the SPD.
pub(crate) fn is_socket_policy(info: &[u8]) -> bool {
    matches!(u8_at(info, 160, "xfrm_userpolicy_info"), Ok(d) if d >= 3)
}

fn template(t: &[u8]) -> Result<(Template, u8), DecodeError> {
    take(t, 0, USER_TMPL_LEN, "xfrm_user_tmpl")?;
    let family = u16_ne(t, 24, "xfrm_user_tmpl")?;
    let mode = Mode::from_kernel(u8_at(t, 48, "xfrm_user_tmpl")?).ok_or(DecodeError::BadValue {
        what: "template mode",
        value: u64::from(u8_at(t, 48, "xfrm_user_tmpl")?),
    })?;
    let endpoints = match mode {
        Mode::Tunnel => Some((
            ip(&arr(t, 28, "xfrm_user_tmpl")?, family)?,
            ip(&arr(t, 0, "xfrm_user_tmpl")?, family)?,
        )),
        Mode::Transport => None,
    };
    Ok((
        Template {
            mode,
            endpoints,
            reqid: u32_ne(t, 44, "xfrm_user_tmpl")?,
            optional: u8_at(t, 50, "xfrm_user_tmpl")? != 0,
        },
        u8_at(t, 20, "xfrm_user_tmpl")?,
    ))
}

/// xfrm_userpolicy_info followed by attributes.
pub(crate) fn policy(info: &[u8], attrs: &[u8]) -> Result<InstalledPolicy, DecodeError> {
    take(info, 0, USERPOLICY_INFO_LEN, "xfrm_userpolicy_info")?;
    let selector = selector(info)?.ok_or(DecodeError::BadValue {
        what: "policy selector family",
        value: 0,
    })?;
    let dir = u8_at(info, 160, "xfrm_userpolicy_info")?;
    let direction = Direction::from_kernel(dir).ok_or(DecodeError::BadValue {
        what: "policy direction",
        value: u64::from(dir),
    })?;
    let action = match u8_at(info, 161, "xfrm_userpolicy_info")? {
        0 => crate::model::Action::Allow,
        _ => crate::model::Action::Block,
    };
    let mut out = InstalledPolicy {
        policy: Policy {
            selector,
            direction,
            priority: u32_ne(info, 152, "xfrm_userpolicy_info")?,
            action,
            templates: Vec::new(),
            if_id: None,
            mark: None,
        },
        index: u32_ne(info, 156, "xfrm_userpolicy_info")?,
        template_protos: Vec::new(),
        last_used: Some(u64_ne(info, 144, "xfrm_userpolicy_info")?).filter(|t| *t != 0),
    };
    for a in attributes(attrs) {
        let (ty, v) = a?;
        match ty {
            XFRMA_TMPL => {
                if v.len() % USER_TMPL_LEN != 0 {
                    return Err(DecodeError::BadLength {
                        what: "XFRMA_TMPL",
                        len: v.len(),
                    });
                }
                for t in v.chunks_exact(USER_TMPL_LEN) {
                    let (tmpl, proto) = template(t)?;
                    out.policy.templates.push(tmpl);
                    out.template_protos.push(proto);
                }
            }
            XFRMA_MARK => out.policy.mark = Some(mark(v)?),
            XFRMA_IF_ID => out.policy.if_id = Some(u32_ne(v, 0, "XFRMA_IF_ID")?),
            _ => {}
        }
    }
    Ok(out)
}

/// Splits a payload into its fixed part of `len` bytes and the (4-aligned) attributes after it.
pub(crate) fn split_fixed<'a>(
    payload: &'a [u8],
    len: usize,
    what: &'static str,
) -> Result<(&'a [u8], &'a [u8]), DecodeError> {
    let fixed = take(payload, 0, len, what)?;
    Ok((fixed, payload.get(align4(len)..).unwrap_or(&[])))
}

pub(crate) mod event {
    //! Fixed parts of the multicast notifications.
    use super::*;

    pub(crate) struct Acquire {
        pub dst: IpAddr,
        pub src: IpAddr,
        pub selector: Option<Selector>,
        pub policy_index: u32,
        pub direction: u8,
        pub seq: u32,
        pub templates: Vec<Template>,
    }

    pub(crate) fn acquire(payload: &[u8]) -> Result<Acquire, DecodeError> {
        let (fixed, attrs) = split_fixed(payload, USER_ACQUIRE_LEN, "xfrm_user_acquire")?;
        // The acquire's own family lives in the selector and the policy; the id has none.
        let pol = take(fixed, 96, USERPOLICY_INFO_LEN, "xfrm_user_acquire")?;
        let sel = take(fixed, 40, SELECTOR_LEN, "xfrm_user_acquire")?;
        let family = u16_ne(sel, 40, "xfrm_user_acquire")?;
        let pol_family = u16_ne(pol, 40, "xfrm_user_acquire")?;
        let fam = if family != 0 { family } else { pol_family };
        let mut templates = Vec::new();
        for a in attributes(attrs) {
            let (ty, v) = a?;
            if ty == XFRMA_TMPL {
                for t in v.chunks_exact(USER_TMPL_LEN) {
                    templates.push(template(t)?.0);
                }
            }
        }
        Ok(Acquire {
            dst: ip(&arr(fixed, 0, "xfrm_user_acquire")?, fam)?,
            src: ip(&arr(fixed, 24, "xfrm_user_acquire")?, fam)?,
            selector: selector(sel)?,
            policy_index: u32_ne(pol, 156, "xfrm_user_acquire")?,
            direction: u8_at(pol, 160, "xfrm_user_acquire")?,
            seq: u32_ne(fixed, 276, "xfrm_user_acquire")?,
            templates,
        })
    }

    pub(crate) fn expire(payload: &[u8]) -> Result<(SaState, bool), DecodeError> {
        let (fixed, attrs) = split_fixed(payload, USER_EXPIRE_LEN, "xfrm_user_expire")?;
        let state = sa_state(take(fixed, 0, USERSA_INFO_LEN, "xfrm_user_expire")?, attrs)?;
        Ok((
            state,
            u8_at(fixed, USERSA_INFO_LEN, "xfrm_user_expire")? != 0,
        ))
    }

    pub(crate) struct Mapping {
        pub dst: IpAddr,
        pub spi: u32,
        pub reqid: u32,
        pub old_src: IpAddr,
        pub old_port: u16,
        pub new_src: IpAddr,
        pub new_port: u16,
    }

    pub(crate) fn mapping(payload: &[u8]) -> Result<Mapping, DecodeError> {
        let (m, _) = split_fixed(payload, USER_MAPPING_LEN, "xfrm_user_mapping")?;
        let family = u16_ne(m, 20, "xfrm_user_mapping")?;
        Ok(Mapping {
            dst: ip(&arr(m, 0, "xfrm_user_mapping")?, family)?,
            spi: u32_be(m, 16, "xfrm_user_mapping")?,
            reqid: u32_ne(m, 24, "xfrm_user_mapping")?,
            old_src: ip(&arr(m, 28, "xfrm_user_mapping")?, family)?,
            new_src: ip(&arr(m, 44, "xfrm_user_mapping")?, family)?,
            old_port: u16_be(m, 60, "xfrm_user_mapping")?,
            new_port: u16_be(m, 62, "xfrm_user_mapping")?,
        })
    }

    pub(crate) fn polexpire(payload: &[u8]) -> Result<(InstalledPolicy, bool), DecodeError> {
        let (fixed, attrs) = split_fixed(payload, USER_POLEXPIRE_LEN, "xfrm_user_polexpire")?;
        let p = policy(
            take(fixed, 0, USERPOLICY_INFO_LEN, "xfrm_user_polexpire")?,
            attrs,
        )?;
        Ok((
            p,
            u8_at(fixed, USERPOLICY_INFO_LEN, "xfrm_user_polexpire")? != 0,
        ))
    }

    /// DELPOLICY notifications carry xfrm_userpolicy_id, with the full policy in XFRMA_POLICY.
    pub(crate) fn deleted_policy(
        payload: &[u8],
    ) -> Result<(u32, u8, Option<InstalledPolicy>), DecodeError> {
        let (id, attrs) = split_fixed(payload, USERPOLICY_ID_LEN, "xfrm_userpolicy_id")?;
        let index = u32_ne(id, 56, "xfrm_userpolicy_id")?;
        let dir = u8_at(id, 60, "xfrm_userpolicy_id")?;
        let mut full = None;
        for a in attributes(attrs) {
            let (ty, v) = a?;
            if ty == XFRMA_POLICY {
                full = Some(policy(v, &[])?);
            }
        }
        Ok((index, dir, full))
    }
}
