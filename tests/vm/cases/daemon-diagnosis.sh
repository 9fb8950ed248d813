#!/usr/bin/env bash
# rswand failure diagnoses between two namespaces: a proposal mismatch and a wrong PSK each
# produce one log line on each side that names the connection, the peer and what did not match,
# and `rswanctl up` fails with that reason in one line; a malformed configuration is rejected at
# startup and at reload with file, line and key, and the running configuration is kept.
# vm-timeout: 180
. "$RSWAN_VM_LIB"

D=$RSWAN_BIN/rswand
C=$RSWAN_BIN/rswanctl
[ -x "$D" ] && [ -x "$C" ] || fail "rswand/rswanctl missing in $RSWAN_BIN (cargo build --release -p rswan)"

topo_two_gateways

install -m 600 "$RSWAN_REPO/examples/site-to-site/west.yaml" "$WORK/west.yaml"
# east offers only AES-CBC/SHA-256/MODP-2048 for IKE: no overlap with west's AES-GCM/X25519.
sed 's/aes256gcm16-prfsha256-x25519/aes128-sha256-modp2048/' "$RSWAN_REPO/examples/site-to-site/east.yaml" >"$WORK/east.yaml"
chmod 600 "$WORK/east.yaml"

for ns in west east; do
	ip netns exec "$ns" "$D" --config "$WORK/$ns.yaml" --socket "$WORK/$ns.sock" >"$WORK/$ns.log" 2>&1 &
	on_exit "kill $! 2>/dev/null; cp '$WORK/$ns.log' '$RESULTS/rswand-$ns.log' 2>/dev/null"
done
wait_for 20 "west control socket" test -S "$WORK/west.sock"
wait_for 20 "east control socket" test -S "$WORK/east.sock"
ctl() {
	local ns=$1
	shift
	in_ns "$ns" "$C" --socket "$WORK/$ns.sock" "$@"
}
# expect_line <ns> <what> <pattern...>: one ERROR line in <ns>'s log that matches all patterns.
expect_line() {
	local ns=$1 what=$2 line
	shift 2
	line=$(grep ' ERROR ' "$WORK/$ns.log" | grep -F "conn=west-east" | grep -F "peer=" || true)
	for p in "$@"; do
		line=$(printf '%s\n' "$line" | grep -F -- "$p" || true)
	done
	[ -n "$line" ] || {
		cat "$WORK/$ns.log"
		fail "$ns: no log line for $what matching: $*"
	}
	log "$ns: $line"
}

# 1. Proposal mismatch.
if out=$(ctl west up west-east --timeout 30 2>&1); then
	fail "up succeeded despite the proposal mismatch: $out"
fi
printf '%s\n' "$out"
printf '%s\n' "$out" | grep '^rswanctl: ' | grep 'NO_PROPOSAL_CHOSEN' | grep -q "we offered IKE aes256gcm16-prfsha256-x25519" ||
	fail "rswanctl up did not give the reason: $out"
expect_line west "proposal mismatch" "NO_PROPOSAL_CHOSEN" "we offered IKE aes256gcm16-prfsha256-x25519" "peer=192.0.2.2"
wait_for 5 "east's diagnosis" grep -q "no acceptable IKE proposal" "$WORK/east.log"
expect_line east "proposal mismatch" "no acceptable IKE proposal" "encryption" "AES_GCM_16_256" "AES_CBC_128" "peer=192.0.2.1"

# 2. Wrong PSK: east gets the right proposals but another key (reload, no restart).
sed 's/correct horse battery staple, west and east/a different key/' "$RSWAN_REPO/examples/site-to-site/east.yaml" >"$WORK/east.yaml"
ctl east reload || fail "reload of east failed"
if out=$(ctl west up west-east --timeout 30 2>&1); then
	fail "up succeeded despite the wrong PSK: $out"
fi
printf '%s\n' "$out" | grep '^rswanctl: ' | grep -q "AUTHENTICATION_FAILED" || fail "rswanctl up did not give the reason: $out"
expect_line west "wrong PSK" "peer rejected our authentication (AUTHENTICATION_FAILED)" "peer=192.0.2.2"
wait_for 5 "east's diagnosis" grep -q "PSK mismatch" "$WORK/east.log"
expect_line east "wrong PSK" "authentication of 'west.example.org' failed: PSK mismatch" "peer=192.0.2.1"
[ "$(xfrm_state_count west)" = 0 ] || fail "west has SAs after failed negotiations"

# 3. Malformed configuration: at reload (kept running) and at startup (refused).
sed 's/^    remote_addrs:/    remote_adrs:/' "$RSWAN_REPO/examples/site-to-site/east.yaml" >"$WORK/east.yaml"
if out=$(ctl east reload 2>&1); then
	fail "reload accepted a malformed configuration"
fi
printf '%s\n' "$out"
printf '%s\n' "$out" | grep -q "$WORK/east.yaml:7:5: connections.west-east: unknown field \`remote_adrs\`, expected one of" ||
	fail "reload error does not name file, line and key: $out"
ctl east list-conns >/dev/null || fail "east stopped serving after a failed reload"
if out=$(in_ns east "$D" --config "$WORK/east.yaml" --socket "$WORK/east2.sock" --port 1500 --port-nat-t 1501 2>&1); then
	fail "rswand started with a malformed configuration"
fi
printf '%s\n' "$out" | grep -q "$WORK/east.yaml:7:5: connections.west-east: unknown field" || fail "startup error lacks file/line/key: $out"
pass
