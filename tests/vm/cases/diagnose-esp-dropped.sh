#!/usr/bin/env bash
# IKE passes but ESP is dropped on the path (nftables on east drops protocol ESP): the tunnel
# is up, `rswanctl diagnose` on west samples the counters twice while LAN traffic flows, sees enc
# rising and dec flat, and suggests forcing UDP encapsulation; with `encap: yes` on west the
# same path carries the traffic (ESP in UDP 4500 is not dropped) and the verdict says so.
# vm-timeout: 240
. "$RSWAN_VM_LIB"

D=$RSWAN_BIN/rswand
C=$RSWAN_BIN/rswanctl
[ -x "$D" ] && [ -x "$C" ] || fail "rswand/rswanctl missing in $RSWAN_BIN (cargo build --release -p rswan)"

topo_two_gateways
EX=$RSWAN_REPO/examples/site-to-site
install -m 600 "$EX/west.yaml" "$WORK/west.yaml"
install -m 600 "$EX/east.yaml" "$WORK/east.yaml"
rswand_pair
# diagnose_with_traffic: west's diagnosis (2 s sample) while its LAN pings east's LAN.
diagnose_with_traffic() {
	spawn_in west "$WORK/ping.log" ping -n -I "$WEST_LAN_IP" -c 16 -i 0.2 -W 1 "$EAST_LAN_IP"
	local ping=$SPAWNED_PID
	sleep 0.3
	out=$(ctl west diagnose west-east --sample 2)
	wait "$ping" || true
	printf '%s\n' "$out"
}

printf '%s\n' 'table inet block {' ' chain in {' '  type filter hook input priority 0; policy accept;' \
	'  meta l4proto esp counter drop' ' }' '}' >"$WORK/block.nft"
in_ns east nft -f "$WORK/block.nft"
out=$(ctl west up west-east --timeout 30) || fail "up failed: $out"
diagnose_with_traffic
want="west-east: Phase 2 up but ESP does not come back: enc rising, dec flat ('lan-lan') — ESP may be dropped on the path; try \`encap: yes\` to force UDP encapsulation"
[ "$(head -n1 <<<"$out")" = "$want" ] || fail "unexpected verdict with ESP dropped"
drops=$(in_ns east nft list chain inet block in)
grep -q 'packets [1-9]' <<<"$drops" || fail "the ESP drop rule saw nothing: $drops"

# Follow the advice: force UDP encapsulation on west.
sed 's/^    dpd_delay: 30s/    dpd_delay: 30s\n    encap: yes/' "$EX/west.yaml" >"$WORK/west.yaml"
grep -q 'encap: yes' "$WORK/west.yaml" || fail "west.yaml edit did not apply"
ctl west reload >/dev/null || fail "reload of west failed"
out=$(ctl west up west-east --timeout 30) || fail "up with encap failed: $out"
diagnose_with_traffic
[ "$(head -n1 <<<"$out")" = "west-east: tunnel up ('lan-lan'): traffic flows both ways" ] ||
	fail "unexpected verdict with ESP in UDP"
grep -q "ESP in UDP" <<<"$out" || fail "phase 2 line does not say ESP in UDP"
assert_ping_ok west
pass
