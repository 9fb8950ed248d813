#!/usr/bin/env bash
# rswand under systemd logs to the journal with structured fields. The guest has no journald, so
# a stand-in listens on /run/systemd/journal/socket and records the native-protocol datagrams;
# rswand runs with JOURNAL_STREAM set (as systemd does). A failed negotiation must arrive as one
# entry with PRIORITY=3, SYSLOG_IDENTIFIER=rswand, CONN and PEER; the established IKE SA as an
# entry with SPIS.
# vm-timeout: 150
. "$RSWAN_VM_LIB"

D=$RSWAN_BIN/rswand
C=$RSWAN_BIN/rswanctl
[ -x "$D" ] && [ -x "$C" ] || fail "rswand/rswanctl missing in $RSWAN_BIN (cargo build --release -p rswan)"
PY=/usr/bin/python3

topo_two_gateways

JOURNAL=$WORK/journal.bin
mkdir -p /run/systemd/journal
rm -f /run/systemd/journal/socket
"$PY" - "$JOURNAL" <<'PYEOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/run/systemd/journal/socket")
with open(sys.argv[1], "ab", buffering=0) as out:
    while True:
        out.write(s.recv(1 << 20) + b"\n\x1e\n")
PYEOF
on_exit "kill $! 2>/dev/null"
wait_for 10 "the journal stand-in" test -S /run/systemd/journal/socket

install -m 600 "$RSWAN_REPO/examples/site-to-site/west.yaml" "$WORK/west.yaml"
sed 's/aes256gcm16-prfsha256-x25519/aes128-sha256-modp2048/' "$RSWAN_REPO/examples/site-to-site/east.yaml" >"$WORK/east.yaml"
chmod 600 "$WORK/east.yaml"
JOURNAL_STREAM=8:1234 ip netns exec west "$D" --config "$WORK/west.yaml" --socket "$WORK/west.sock" >"$WORK/west.out" 2>&1 &
on_exit "kill $! 2>/dev/null"
ip netns exec east "$D" --config "$WORK/east.yaml" --socket "$WORK/east.sock" >"$WORK/east.log" 2>&1 &
on_exit "kill $! 2>/dev/null"
wait_for 20 "west" test -S "$WORK/west.sock"
wait_for 20 "east" test -S "$WORK/east.sock"

in_ns west "$C" --socket "$WORK/west.sock" up west-east --timeout 20 && fail "up succeeded despite the mismatch"
# Fix the proposals: the next up succeeds and logs the IKE SA with its SPIs.
install -m 600 "$RSWAN_REPO/examples/site-to-site/east.yaml" "$WORK/east.yaml"
in_ns east "$C" --socket "$WORK/east.sock" reload
in_ns west "$C" --socket "$WORK/west.sock" up west-east --timeout 60 || fail "up failed"
sleep 0.5

"$PY" - "$JOURNAL" <<'PYEOF' || fail "journal entries lack the expected fields"
import sys
raw = open(sys.argv[1], "rb").read()
entries = []
for chunk in raw.split(b"\n\x1e\n"):
    fields, i = {}, 0
    while i < len(chunk):
        nl = chunk.find(b"\n", i)
        if nl < 0:
            break
        line = chunk[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            fields[k.decode()] = v.decode()
            i = nl + 1
        else:  # binary-safe form: KEY\n<u64 le length><value>\n
            n = int.from_bytes(chunk[nl + 1:nl + 9], "little")
            fields[line.decode()] = chunk[nl + 9:nl + 9 + n].decode()
            i = nl + 9 + n + 1
    if fields:
        entries.append(fields)
print(f"{len(entries)} journal entries")
fail = [e for e in entries if "NO_PROPOSAL_CHOSEN" in e.get("MESSAGE", "")]
assert len(fail) == 1, fail
f = fail[0]
print("failure entry:", f)
assert f["PRIORITY"] == "3" and f["SYSLOG_IDENTIFIER"] == "rswand", f
assert f["CONN"] == "west-east" and f["PEER"] == "192.0.2.2:500", f
up = [e for e in entries if "IKE_SA west-east established" in e.get("MESSAGE", "")]
assert up and up[-1]["CONN"] == "west-east" and up[-1]["SPIS"].endswith("_r"), up
print("established entry:", up[-1])
PYEOF
[ ! -s "$WORK/west.out" ] || {
	cat "$WORK/west.out"
	fail "rswand wrote to stderr although the journal is available"
}
pass
