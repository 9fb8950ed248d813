#!/usr/bin/env bash
# rswand end to end with the shipped site-to-site PSK example: one rswand per namespace (west,
# east), each with its own control socket. `rswanctl up` on west brings up the tunnel; LAN-to-LAN
# pings pass while the guard proves they came through ESP; `rswanctl status --json` on both sides
# shows the IKE SA established and the Child SA installed with non-zero enc and dec counters; an
# unchanged reload keeps the same SPIs; `rswanctl down` and then SIGTERM leave zero SAs and zero
# policies in both namespaces.
# vm-timeout: 240
. "$RSWAN_VM_LIB"

D=$RSWAN_BIN/rswand
C=$RSWAN_BIN/rswanctl
[ -x "$D" ] && [ -x "$C" ] || fail "rswand/rswanctl missing in $RSWAN_BIN (cargo build --release -p rswan)"
PY=/usr/bin/python3

topo_two_gateways

start_daemon() {
	local ns=$1
	install -m 600 "$RSWAN_REPO/examples/site-to-site/$ns.yaml" "$WORK/$ns.yaml"
	# Not through in_ns: $! must be rswand itself (ip netns exec execs it), not a subshell.
	ip netns exec "$ns" "$D" --config "$WORK/$ns.yaml" --socket "$WORK/$ns.sock" >"$WORK/$ns.log" 2>&1 &
	echo $! >"$WORK/$ns.pid"
	on_exit "cp '$WORK/$ns.log' '$RESULTS/rswand-$ns.log' 2>/dev/null"
	wait_for 20 "rswand in $ns to open its control socket" test -S "$WORK/$ns.sock"
}
ctl() {
	local ns=$1
	shift
	in_ns "$ns" "$C" --socket "$WORK/$ns.sock" "$@"
}
# json_get <file> <python expression over j>: prints the value.
json_get() { "$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

start_daemon west
start_daemon east

# Nothing negotiated yet: plain-text LAN traffic is dropped by the guard.
assert_ping_fails west

out=$(ctl west up west-east --timeout 60) || fail "rswanctl up failed: $out"
printf '%s\n' "$out"
printf '%s\n' "$out" | grep -q "west-east/lan-lan: Child SA installed" || fail "up did not report the installed Child SA"
out=$(ctl west up west-east) || fail "second up failed: $out"
[ "$out" = "west-east/lan-lan is already installed" ] || fail "second up did not say it is already installed: $out"

drops=$(guard_drops east)
assert_ping_ok west
assert_ping_ok east
[ "$(guard_drops east)" = "$drops" ] || fail "guard in east dropped LAN packets although the tunnel is up"
assert_sa_traffic west 2
assert_sa_traffic east 2

for ns in west east; do
	ctl "$ns" status --json >"$WORK/status-$ns.json" || fail "status --json in $ns failed"
	ctl "$ns" status
	st=$(json_get "$WORK/status-$ns.json" 'j["connections"][0]["ike_sas"][0]["state"]')
	[ "$st" = established ] || fail "$ns: IKE SA state is '$st', expected established"
	cs=$(json_get "$WORK/status-$ns.json" 'j["connections"][0]["children"][0]["state"]')
	[ "$cs" = installed ] || fail "$ns: Child SA state is '$cs', expected installed"
	up=$(json_get "$WORK/status-$ns.json" '"%d/%d" % (j["connections"][0]["children_up"], j["connections"][0]["children_total"])')
	[ "$up" = 1/1 ] || fail "$ns: children up $up, expected 1/1"
	counters=$(json_get "$WORK/status-$ns.json" '" ".join(str(j["connections"][0]["children"][0]["counters"][k]) for k in ("enc_packets","enc_bytes","dec_packets","dec_bytes"))')
	log "$ns counters (enc packets, enc bytes, dec packets, dec bytes): $counters"
	for n in $counters; do
		[ "$n" -gt 0 ] || fail "$ns: a Child SA counter is zero: $counters"
	done
	alg=$(json_get "$WORK/status-$ns.json" 'j["connections"][0]["ike_sas"][0]["algorithms"]["encr"]')
	[ "$alg" = AES_GCM_16_256 ] || fail "$ns: IKE encryption '$alg', expected AES_GCM_16_256"
done

# A reload with an unchanged configuration must not touch the tunnel.
spi_before=$(json_get "$WORK/status-east.json" 'j["connections"][0]["children"][0]["spi_in"]')
ctl east reload || fail "reload failed"
ctl east status --json >"$WORK/status-east2.json"
spi_after=$(json_get "$WORK/status-east2.json" 'j["connections"][0]["children"][0]["spi_in"]')
[ "$spi_before" = "$spi_after" ] || fail "unchanged reload replaced the Child SA ($spi_before -> $spi_after)"
assert_ping_ok west

out=$(ctl west down west-east) || fail "rswanctl down failed: $out"
printf '%s\n' "$out"
no_sas() { [ "$(xfrm_state_count "$1")" = 0 ]; }
wait_for 10 "SAs in west to go" no_sas west
wait_for 10 "SAs in east to go" no_sas east

for ns in west east; do
	kill -TERM "$(cat "$WORK/$ns.pid")"
done
for ns in west east; do
	wait_for 10 "rswand in $ns to exit" sh -c "! kill -0 $(cat "$WORK/$ns.pid") 2>/dev/null"
	grep -q "removed .* SAs and .* policies installed by this rswand" "$WORK/$ns.log" || fail "$ns: no shutdown report in the log"
	sas=$(xfrm_state_count "$ns")
	pols=$(in_ns "$ns" ip xfrm policy list | grep -c '^src ' || true)
	log "$ns after SIGTERM: $sas SAs, $pols policies"
	[ "$sas" = 0 ] && [ "$pols" = 0 ] || {
		in_ns "$ns" ip xfrm state
		in_ns "$ns" ip xfrm policy
		fail "$ns: $sas SAs and $pols policies left after down and SIGTERM"
	}
	[ ! -e "$WORK/$ns.sock" ] || fail "$ns: control socket left behind"
done
pass
