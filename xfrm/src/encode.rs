//! Request encoding. Kernel structs are laid out by netlink-packet-xfrm; netlink headers are
//! written here so that many requests can be packed into one send buffer.
//!
//! Every function here assumes its input passed `validate()`.

use std::net::IpAddr;

use netlink_packet_core::Emitable;
use netlink_packet_xfrm::{
    Address, AlgAead, AlgAuth, EncapTmpl, Id, LifetimeConfig, Mark as NlMark, ReplayEsn,
    Selector as NlSelector, UserPolicyId, UserPolicyInfo, UserSaId, UserSaInfo, UserSpiInfo,
    UserTemplate, XfrmAttrs,
};
use zeroize::Zeroize;

use crate::model::{
    Action, Crypto, Family, Limits, Mark, Mode, Policy, PolicyId, Sa, SaId, Selector, SpiRequest,
};

pub(crate) const NLMSG_HDRLEN: usize = 16;
pub(crate) const NLM_F_REQUEST: u16 = 0x1;
pub(crate) const NLM_F_ACK: u16 = 0x4;
pub(crate) const NLM_F_DUMP: u16 = 0x300;
pub(crate) const NLM_F_CREATE: u16 = 0x400;
pub(crate) const NLM_F_EXCL: u16 = 0x200;

pub(crate) const XFRM_MSG_NEWSA: u16 = 0x10;
pub(crate) const XFRM_MSG_DELSA: u16 = 0x11;
pub(crate) const XFRM_MSG_GETSA: u16 = 0x12;
pub(crate) const XFRM_MSG_NEWPOLICY: u16 = 0x13;
pub(crate) const XFRM_MSG_DELPOLICY: u16 = 0x14;
pub(crate) const XFRM_MSG_GETPOLICY: u16 = 0x15;
pub(crate) const XFRM_MSG_ALLOCSPI: u16 = 0x16;
pub(crate) const XFRM_MSG_UPDPOLICY: u16 = 0x19;
pub(crate) const XFRM_MSG_UPDSA: u16 = 0x1a;
pub(crate) const XFRM_MSG_NEWSPDINFO: u16 = 0x24;
const XFRMA_SPD_IPV4_HTHRESH: u16 = 3;
const XFRMA_SPD_IPV6_HTHRESH: u16 = 4;

/// "No limit" for byte and packet lifetimes (XFRM_INF); 0 would mean "expire at once".
const XFRM_INF: u64 = u64::MAX;
const IPPROTO_ESP: u8 = 50;
const UDP_ENCAP_ESPINUDP: u16 = 2;
const XFRM_STATE_ESN: u8 = 128;
/// Largest window that fits the legacy `xfrm_replay_state` bitmap; larger ones (and ESN) need
/// XFRMA_REPLAY_ESN_VAL.
const LEGACY_REPLAY_MAX: u32 = 32;

fn addr(a: &IpAddr) -> Address {
    let mut out = [0u8; 16];
    match a {
        IpAddr::V4(v4) => out[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => out.copy_from_slice(&v6.octets()),
    }
    Address { addr: out }
}

fn name64(s: &str) -> [u8; 64] {
    let mut out = [0u8; 64];
    // Names are our own constants, all far shorter than 64 bytes; the copy keeps a NUL.
    let n = s.len().min(63);
    out[..n].copy_from_slice(&s.as_bytes()[..n]);
    out
}

fn selector(sel: &Selector) -> NlSelector {
    NlSelector {
        daddr: addr(&sel.dst.addr),
        saddr: addr(&sel.src.addr),
        dport: sel.dst_port.unwrap_or(0),
        dport_mask: if sel.dst_port.is_some() { 0xffff } else { 0 },
        sport: sel.src_port.unwrap_or(0),
        sport_mask: if sel.src_port.is_some() { 0xffff } else { 0 },
        family: sel.family().af(),
        prefixlen_d: sel.dst.len,
        prefixlen_s: sel.src.len,
        proto: sel.proto.unwrap_or(0),
        ifindex: 0,
        user: 0,
    }
}

/// Selector matching everything of one family (tunnel-mode SAs without a narrower selector).
fn any_selector(family: Family) -> NlSelector {
    NlSelector {
        family: family.af(),
        ..NlSelector::default()
    }
}

fn lifetime(soft: &Limits, hard: &Limits) -> LifetimeConfig {
    LifetimeConfig {
        soft_byte_limit: soft.bytes.unwrap_or(XFRM_INF),
        hard_byte_limit: hard.bytes.unwrap_or(XFRM_INF),
        soft_packet_limit: soft.packets.unwrap_or(XFRM_INF),
        hard_packet_limit: hard.packets.unwrap_or(XFRM_INF),
        soft_add_expires_seconds: soft.seconds.unwrap_or(0),
        hard_add_expires_seconds: hard.seconds.unwrap_or(0),
        soft_use_expires_seconds: 0,
        hard_use_expires_seconds: 0,
    }
}

fn mark_attrs(nlas: &mut Vec<XfrmAttrs>, mark: &Option<Mark>, if_id: Option<u32>) {
    if let Some(m) = mark {
        nlas.push(XfrmAttrs::Mark(NlMark {
            value: m.value,
            mask: m.mask,
        }));
    }
    if let Some(id) = if_id {
        nlas.push(XfrmAttrs::IfId(id));
    }
}

/// Appends one netlink message (header + fixed struct + attributes) to `buf`.
fn push_message<T: Emitable>(
    buf: &mut Vec<u8>,
    msg_type: u16,
    flags: u16,
    seq: u32,
    fixed: &T,
    nlas: &[XfrmAttrs],
) {
    let fixed_len = fixed.buffer_len();
    let attrs_len = nlas.buffer_len();
    let total = NLMSG_HDRLEN + fixed_len + attrs_len;
    let start = buf.len();
    buf.resize(start + total, 0);
    let hdr = &mut buf[start..start + NLMSG_HDRLEN];
    hdr[0..4].copy_from_slice(&(total as u32).to_ne_bytes());
    hdr[4..6].copy_from_slice(&msg_type.to_ne_bytes());
    hdr[6..8].copy_from_slice(&flags.to_ne_bytes());
    hdr[8..12].copy_from_slice(&seq.to_ne_bytes());
    // Port id 0: addressed to the kernel.
    hdr[12..16].copy_from_slice(&0u32.to_ne_bytes());
    let body = start + NLMSG_HDRLEN;
    fixed.emit(&mut buf[body..body + fixed_len]);
    nlas.emit(&mut buf[body + fixed_len..start + total]);
}

/// Wipes key copies held in netlink-packet-xfrm's algorithm structs (plain `Vec<u8>` there).
fn wipe_keys(nlas: &mut [XfrmAttrs]) {
    for a in nlas {
        match a {
            XfrmAttrs::EncryptionAlgAead(x) => x.alg_key.zeroize(),
            XfrmAttrs::EncryptionAlg(x) | XfrmAttrs::AuthenticationAlg(x) => x.alg_key.zeroize(),
            XfrmAttrs::AuthenticationAlgTrunc(x) => x.alg_key.zeroize(),
            _ => {}
        }
    }
}

/// XFRM_MSG_NEWSA (`update == false`) or XFRM_MSG_UPDSA.
pub(crate) fn sa(buf: &mut Vec<u8>, seq: u32, sa: &Sa, update: bool) {
    let family = sa.family();
    let use_esn_attr = sa.esn || sa.replay_window > LEGACY_REPLAY_MAX;
    let info = sa_info(sa, family, use_esn_attr);
    let mut nlas = Vec::with_capacity(6);
    crypto_attrs(&mut nlas, &sa.crypto);
    if use_esn_attr {
        let words = sa.replay_window.div_ceil(32);
        nlas.push(XfrmAttrs::ReplayStateEsn(ReplayEsn {
            bmp_len: words,
            oseq: 0,
            seq: 0,
            oseq_hi: 0,
            seq_hi: 0,
            replay_window: sa.replay_window,
            bmp: vec![0; words as usize],
        }));
    }
    if let Some(e) = &sa.encap {
        nlas.push(XfrmAttrs::EncapsulationTemplate(EncapTmpl {
            encap_type: UDP_ENCAP_ESPINUDP,
            encap_sport: e.src_port,
            encap_dport: e.dst_port,
            encap_oa: e.original_address.as_ref().map(addr).unwrap_or_default(),
        }));
    }
    mark_attrs(&mut nlas, &sa.mark, sa.if_id);
    let (ty, flags) = if update {
        (XFRM_MSG_UPDSA, NLM_F_REQUEST | NLM_F_ACK)
    } else {
        (
            XFRM_MSG_NEWSA,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        )
    };
    push_message(buf, ty, flags, seq, &info, &nlas);
    wipe_keys(&mut nlas);
}

/// The fixed part of an SA message; `use_esn_attr` moves the replay window to
/// XFRMA_REPLAY_ESN_VAL.
fn sa_info(sa: &Sa, family: Family, use_esn_attr: bool) -> UserSaInfo {
    UserSaInfo {
        selector: sa
            .selector
            .as_ref()
            .map(selector)
            .unwrap_or_else(|| any_selector(family)),
        id: Id {
            daddr: addr(&sa.dst),
            spi: sa.spi,
            proto: IPPROTO_ESP,
        },
        saddr: addr(&sa.src),
        lifetime_cfg: lifetime(&sa.lifetimes.soft, &sa.lifetimes.hard),
        reqid: sa.reqid,
        family: family.af(),
        mode: sa.mode.to_kernel(),
        // The kernel refuses a legacy window together with XFRMA_REPLAY_ESN_VAL.
        replay_window: if use_esn_attr {
            0
        } else {
            sa.replay_window as u8
        },
        flags: if sa.esn { XFRM_STATE_ESN } else { 0 },
        seq: sa.acquire_seq.unwrap_or(0),
        ..UserSaInfo::default()
    }
}

/// The algorithm attributes: one AEAD, or authentication and encryption.
fn crypto_attrs(nlas: &mut Vec<XfrmAttrs>, crypto: &Crypto) {
    match crypto {
        Crypto::Aead { alg, key, icv_bits } => nlas.push(XfrmAttrs::EncryptionAlgAead(AlgAead {
            alg_name: name64(alg.kernel_name()),
            alg_key_len: (key.len() * 8) as u32,
            alg_icv_len: *icv_bits,
            alg_key: key.as_bytes().to_vec(),
        })),
        Crypto::EncAuth {
            enc,
            enc_key,
            auth,
            auth_key,
        } => {
            nlas.push(XfrmAttrs::AuthenticationAlgTrunc(AlgAuth {
                alg_name: name64(auth.kernel_name()),
                alg_key_len: (auth_key.len() * 8) as u32,
                alg_trunc_len: auth.trunc_bits(),
                alg_key: auth_key.as_bytes().to_vec(),
            }));
            nlas.push(XfrmAttrs::EncryptionAlg(netlink_packet_xfrm::Alg {
                alg_name: name64(enc.kernel_name()),
                alg_key_len: (enc_key.len() * 8) as u32,
                alg_key: enc_key.as_bytes().to_vec(),
            }));
        }
    }
}

fn sa_id(id: &SaId) -> (UserSaId, Vec<XfrmAttrs>) {
    let fixed = UserSaId {
        daddr: addr(&id.dst),
        spi: id.spi,
        family: Family::of(&id.dst).af(),
        proto: IPPROTO_ESP,
    };
    let mut nlas = Vec::new();
    mark_attrs(&mut nlas, &id.mark, None);
    (fixed, nlas)
}

/// XFRM_MSG_DELSA.
pub(crate) fn delete_sa(buf: &mut Vec<u8>, seq: u32, id: &SaId) {
    let (fixed, nlas) = sa_id(id);
    push_message(
        buf,
        XFRM_MSG_DELSA,
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
        &fixed,
        &nlas,
    );
}

/// XFRM_MSG_GETSA for one SA; the kernel answers with XFRM_MSG_NEWSA.
pub(crate) fn get_sa(buf: &mut Vec<u8>, seq: u32, id: &SaId) {
    let (fixed, nlas) = sa_id(id);
    push_message(buf, XFRM_MSG_GETSA, NLM_F_REQUEST, seq, &fixed, &nlas);
}

/// XFRM_MSG_ALLOCSPI; the kernel answers with XFRM_MSG_NEWSA holding a larval SA.
pub(crate) fn alloc_spi(buf: &mut Vec<u8>, seq: u32, req: &SpiRequest) {
    let family = Family::of(&req.dst);
    let (min, max) = req.range.unwrap_or((256, u32::MAX));
    let fixed = UserSpiInfo {
        info: UserSaInfo {
            selector: any_selector(family),
            id: Id {
                daddr: addr(&req.dst),
                spi: 0,
                proto: IPPROTO_ESP,
            },
            saddr: addr(&req.src),
            reqid: req.reqid,
            family: family.af(),
            mode: req.mode.to_kernel(),
            ..UserSaInfo::default()
        },
        min,
        max,
    };
    let mut nlas = Vec::new();
    mark_attrs(&mut nlas, &req.mark, req.if_id);
    push_message(buf, XFRM_MSG_ALLOCSPI, NLM_F_REQUEST, seq, &fixed, &nlas);
}

fn template(t: &crate::model::Template, family: Family) -> UserTemplate {
    let (src, dst, fam) = match t.endpoints {
        Some((s, d)) => (addr(&s), addr(&d), Family::of(&d)),
        None => (Address::default(), Address::default(), family),
    };
    UserTemplate {
        id: Id {
            daddr: dst,
            spi: 0,
            proto: IPPROTO_ESP,
        },
        family: fam.af(),
        saddr: src,
        reqid: t.reqid,
        mode: match t.mode {
            Mode::Transport => 0,
            Mode::Tunnel => 1,
        },
        optional: u8::from(t.optional),
        ..UserTemplate::default()
    }
}

/// XFRM_MSG_NEWPOLICY (`update == false`) or XFRM_MSG_UPDPOLICY.
pub(crate) fn policy(buf: &mut Vec<u8>, seq: u32, p: &Policy, update: bool) {
    let info = UserPolicyInfo {
        selector: selector(&p.selector),
        lifetime_cfg: lifetime(&Limits::default(), &Limits::default()),
        priority: p.priority,
        direction: p.direction.to_kernel(),
        action: match p.action {
            Action::Allow => 0,
            Action::Block => 1,
        },
        ..UserPolicyInfo::default()
    };
    let mut nlas = Vec::new();
    if !p.templates.is_empty() {
        let fam = p.selector.family();
        nlas.push(XfrmAttrs::Template(
            p.templates.iter().map(|t| template(t, fam)).collect(),
        ));
    }
    mark_attrs(&mut nlas, &p.mark, p.if_id);
    let (ty, flags) = if update {
        (XFRM_MSG_UPDPOLICY, NLM_F_REQUEST | NLM_F_ACK)
    } else {
        (
            XFRM_MSG_NEWPOLICY,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        )
    };
    push_message(buf, ty, flags, seq, &info, &nlas);
}

/// XFRM_MSG_DELPOLICY by selector and direction.
pub(crate) fn delete_policy(buf: &mut Vec<u8>, seq: u32, id: &PolicyId) {
    let fixed = UserPolicyId {
        selector: selector(&id.selector),
        index: 0,
        direction: id.direction.to_kernel(),
    };
    let mut nlas = Vec::new();
    mark_attrs(&mut nlas, &id.mark, id.if_id);
    push_message(
        buf,
        XFRM_MSG_DELPOLICY,
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
        &fixed,
        &nlas,
    );
}

/// XFRM_MSG_DELPOLICY by the kernel's policy index (used by flush for entries read back).
pub(crate) fn delete_policy_by_index(
    buf: &mut Vec<u8>,
    seq: u32,
    index: u32,
    direction: u8,
    mark: &Option<Mark>,
    if_id: Option<u32>,
) {
    let fixed = UserPolicyId {
        selector: NlSelector::default(),
        index,
        direction,
    };
    let mut nlas = Vec::new();
    mark_attrs(&mut nlas, mark, if_id);
    push_message(
        buf,
        XFRM_MSG_DELPOLICY,
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
        &fixed,
        &nlas,
    );
}

/// Empty-bodied dump request (GETSA or GETPOLICY with NLM_F_DUMP); the kernel ignores the body.
pub(crate) fn dump(buf: &mut Vec<u8>, seq: u32, msg_type: u16) {
    struct Empty;
    impl Emitable for Empty {
        fn buffer_len(&self) -> usize {
            0
        }
        fn emit(&self, _: &mut [u8]) {}
    }
    push_message(buf, msg_type, NLM_F_REQUEST | NLM_F_DUMP, seq, &Empty, &[]);
}

/// XFRM_MSG_NEWSPDINFO setting the policy hash thresholds (`struct xfrmu_spdhthresh`).
/// netlink-packet-xfrm has no emitter for the SPD info attributes, so they are written here.
pub(crate) fn spd_hash_thresholds(buf: &mut Vec<u8>, seq: u32, v4: (u8, u8), v6: (u8, u8)) {
    let total: u32 = (NLMSG_HDRLEN + 4 + 8 + 8) as u32;
    buf.extend_from_slice(&total.to_ne_bytes());
    buf.extend_from_slice(&XFRM_MSG_NEWSPDINFO.to_ne_bytes());
    buf.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes());
    // Fixed header: a u32 of flags, unused.
    buf.extend_from_slice(&0u32.to_ne_bytes());
    for (ty, (lbits, rbits)) in [(XFRMA_SPD_IPV4_HTHRESH, v4), (XFRMA_SPD_IPV6_HTHRESH, v6)] {
        buf.extend_from_slice(&6u16.to_ne_bytes()); // header + 2 bytes
        buf.extend_from_slice(&ty.to_ne_bytes());
        buf.extend_from_slice(&[lbits, rbits, 0, 0]); // value + padding to 4
    }
}
