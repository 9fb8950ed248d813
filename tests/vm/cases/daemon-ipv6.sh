#!/usr/bin/env bash
# rswand over IPv6: IKE on the IPv6 sockets between 2001:db8::1 (west) and 2001:db8::2 (east),
# a tunnel between the IPv6 LANs fd00:1::/64 and fd00:2::/64; ping6 LAN to LAN passes only
# through ESP (the guard drops plain-text IPv6 between the LANs), status shows the IPv6 endpoints
# and non-zero counters, SIGTERM leaves nothing behind.
# vm-timeout: 180
. "$RSWAN_VM_LIB"

D=$RSWAN_BIN/rswand
C=$RSWAN_BIN/rswanctl
[ -x "$D" ] && [ -x "$C" ] || fail "rswand/rswanctl missing in $RSWAN_BIN (cargo build --release -p rswan)"
PY=/usr/bin/python3

topo_two_gateways

for ns in west east; do
	rswan_yaml "$ns" family=6 name=v6 secret=0sdjYgdHVubmVsIGtleQ== \
		conn.proposals="[aes128gcm16-prfsha256-ecp256]" child.esp_proposals="[aes128gcm16]"
done

for ns in west east; do
	ip netns exec "$ns" "$D" --config "$WORK/$ns.yaml" --socket "$WORK/$ns.sock" >"$WORK/$ns.log" 2>&1 &
	echo $! >"$WORK/$ns.pid"
	on_exit "cp '$WORK/$ns.log' '$RESULTS/rswand-$ns.log' 2>/dev/null"
	wait_for 20 "rswand in $ns" test -S "$WORK/$ns.sock"
done

assert_ping_fails west "$EAST_LAN6_IP" "$WEST_LAN6_IP"
out=$(in_ns east "$C" --socket "$WORK/east.sock" up v6) || fail "up over IPv6 failed: $out"
printf '%s\n' "$out"
assert_ping_ok west "$EAST_LAN6_IP" "$WEST_LAN6_IP"
assert_ping_ok east "$WEST_LAN6_IP" "$EAST_LAN6_IP"
assert_sa_traffic west 2
assert_sa_traffic east 2
in_ns west "$C" --socket "$WORK/west.sock" status --json >"$WORK/st.json"
in_ns west "$C" --socket "$WORK/west.sock" status
"$PY" - "$WORK/st.json" <<-'PYEOF' || fail "west status does not show the IPv6 IKE SA with traffic"
	import json, sys
	c = json.load(open(sys.argv[1]))["connections"][0]
	ike, ch = c["ike_sas"][0], c["children"][0]
	assert ike["state"] == "established" and ike["remote"] == "[2001:db8::2]:500", ike
	assert ch["state"] == "installed" and ch["local_ts"] == ["fd00:1::/64"], ch
	assert all(ch["counters"][k] > 0 for k in ("enc_packets", "dec_packets")), ch
	PYEOF
for ns in west east; do kill -TERM "$(cat "$WORK/$ns.pid")"; done
for ns in west east; do
	wait_for 10 "rswand in $ns to exit" sh -c "! kill -0 $(cat "$WORK/$ns.pid") 2>/dev/null"
	pols=$(in_ns "$ns" ip -6 xfrm policy list | grep -c '^src ' || true)
	[ "$(xfrm_state_count "$ns")" = 0 ] && [ "$pols" = 0 ] || fail "$ns: state left after SIGTERM"
done
pass
