#!/usr/bin/env bash
# Traffic arrives through the tunnel but the answers have no way back: with the route to
# west's LAN removed on east, `rswanctl diagnose` on east sees dec rising and enc flat and points
# at the return route, and its routing line shows the remote subnet without a route; west sees
# the mirror image (enc rising, dec flat).
# vm-timeout: 180
. "$RSWAN_VM_LIB"

D=$RSWAN_BIN/rswand
C=$RSWAN_BIN/rswanctl
[ -x "$D" ] && [ -x "$C" ] || fail "rswand/rswanctl missing in $RSWAN_BIN (cargo build --release -p rswan)"

topo_two_gateways
EX=$RSWAN_REPO/examples/site-to-site
install -m 600 "$EX/west.yaml" "$WORK/west.yaml"
install -m 600 "$EX/east.yaml" "$WORK/east.yaml"
rswand_pair

out=$(ctl west up west-east --timeout 30) || fail "up failed: $out"
assert_ping_ok west
ip -n east route del "$WEST_LAN"
spawn_in west "$WORK/ping.log" ping -n -I "$WEST_LAN_IP" -c 16 -i 0.2 -W 1 "$EAST_LAN_IP"
ping=$SPAWNED_PID
sleep 0.3
east=$(ctl east diagnose west-east --sample 2)
west=$(ctl west diagnose west-east --sample 0.5)
wait "$ping" || true
printf '%s\n' "$east" "$west"
[ "$(head -n1 <<<"$east")" = "west-east: Phase 2 up, traffic arrives but none goes back: dec rising, enc flat ('lan-lan') — check the return route on this side's LAN" ] ||
	fail "east: unexpected verdict"
grep -qF "10.1.0.0/24: no route" <<<"$east" || fail "east: routing line does not show the missing route"
head -n1 <<<"$west" | grep -qF "enc rising, dec flat" || fail "west: unexpected verdict"
pass
