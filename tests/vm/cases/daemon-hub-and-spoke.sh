#!/usr/bin/env bash
# The hub-and-spoke example (examples/hub-and-spoke/) on a real kernel: three rswand (hub,
# spoke1, spoke2) on one L2 segment. The spokes bring their tunnels up by themselves
# (start_action=start); a ping from spoke1's LAN to spoke2's LAN goes through the hub: ESP to the
# hub, decrypted, forwarded, and ESP again to spoke2. Guards in the spokes drop anything between
# the LANs that did not come through IPsec. The mesh example's trap connections are exercised in
# daemon-mesh.sh.
# vm-timeout: 240
. "$RSWAN_VM_LIB"

D=$RSWAN_BIN/rswand
C=$RSWAN_BIN/rswanctl
[ -x "$D" ] && [ -x "$C" ] || fail "rswand/rswanctl missing in $RSWAN_BIN (cargo build --release -p rswan)"
PY=/usr/bin/python3

NODES="hub spoke1 spoke2"
on_exit "for n in $NODES; do ip netns del \$n 2>/dev/null; done"

# hub: br0 192.0.2.10/24 with the spokes' veths enslaved; LAN 10.10.0.1/24; forwards.
# spokeN: eth0 192.0.2.1N/24, LAN 10.1N.0.1/24; hub LAN and the other spoke's LAN via the hub.
for n in $NODES; do ip netns add "$n"; done
ip -n hub -batch - <<-EOF
	link set lo up
	link add br0 type bridge
	link set br0 up
	addr add 192.0.2.10/24 dev br0
	link add lan0 type dummy
	link set lan0 up
	addr add 10.10.0.1/24 dev lan0
	route add 10.11.0.0/24 via 192.0.2.11
	route add 10.12.0.0/24 via 192.0.2.12
EOF
in_ns hub sysctl -q -w net.ipv4.ip_forward=1
for i in 1 2; do
	o=$((3 - i))
	ip link add "s$i" netns hub type veth peer name eth0 netns "spoke$i"
	ip -n hub link set "s$i" master br0 up
	ip -n "spoke$i" -batch - <<-EOF
		link set lo up
		link set eth0 up
		addr add 192.0.2.1$i/24 dev eth0
		link add lan0 type dummy
		link set lan0 up
		addr add 10.1$i.0.1/24 dev lan0
		route add 10.10.0.0/24 via 192.0.2.10
		route add 10.1$o.0.0/24 via 192.0.2.10
	EOF
	guard_install "spoke$i" "10.1$o.0.0/24" "10.1$i.0.0/24"
done

# Without tunnels the hub would happily route spoke to spoke in plain text: the guard drops it.
in_ns spoke1 ping -n -c 2 -i 0.2 -W 1 -I 10.11.0.1 10.12.0.1 >/dev/null 2>&1 && fail "plain-text spoke-to-spoke ping got through"
[ "$(guard_drops spoke2)" -gt 0 ] || fail "guard in spoke2 dropped nothing before the tunnels existed"

for n in $NODES; do
	install -m 600 "$RSWAN_REPO/examples/hub-and-spoke/$n.yaml" "$WORK/$n.yaml"
	ip netns exec "$n" "$D" --config "$WORK/$n.yaml" --socket "$WORK/$n.sock" >"$WORK/$n.log" 2>&1 &
	echo $! >"$WORK/$n.pid"
	on_exit "cp '$WORK/$n.log' '$RESULTS/rswand-$n.log' 2>/dev/null"
	wait_for 20 "rswand in $n" test -S "$WORK/$n.sock"
done

child_installed() {
	in_ns "$1" "$C" --socket "$WORK/$1.sock" status --json >"$WORK/st-$1.json" 2>/dev/null || return 1
	"$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if all(c["children_up"] == c["children_total"] for c in j["connections"]) else 1)' "$WORK/st-$1.json"
}
# The spokes start by themselves; a spoke that came up before the hub listened retries on
# retransmission.
wait_for 90 "spoke1's tunnel (start_action=start)" child_installed spoke1
wait_for 90 "spoke2's tunnel (start_action=start)" child_installed spoke2
wait_for 30 "both children at the hub" child_installed hub
in_ns hub "$C" --socket "$WORK/hub.sock" status

drops=$(guard_drops spoke2)
out=$(in_ns spoke1 ping -n -c 3 -i 0.3 -w 15 -I 10.11.0.1 10.12.0.1 2>&1) || {
	printf '%s\n' "$out"
	fail "spoke1 LAN -> spoke2 LAN through the hub: no reply"
}
log "spoke1 LAN -> spoke2 LAN through the hub: ok"
[ "$(guard_drops spoke2)" = "$drops" ] || fail "guard in spoke2 dropped packets although the tunnels are up"
assert_ping_ok spoke2 10.10.0.1 10.12.0.1
# Four SAs at the hub (two per spoke), all with traffic: the spoke-to-spoke packets crossed both.
assert_sa_traffic hub 4
assert_sa_traffic spoke1 2
assert_sa_traffic spoke2 2

# SIGTERM on spoke1 alone: it must DELETE its IKE SA at the hub (the hub logs "deleted by peer"
# and drops spoke1's two SAs), not just vanish.
kill -TERM "$(cat "$WORK/spoke1.pid")"
hub_sas_2() { [ "$(xfrm_state_count hub)" = 2 ]; }
wait_for 15 "the hub to drop spoke1's SAs after its DELETE" hub_sas_2
grep -q "<hub-spoke1> IKE_SA with 192.0.2.11 closed .*deleted by peer" "$WORK/hub.log" ||
	fail "the hub did not log spoke1's DELETE"
log "spoke1's SIGTERM sent DELETE: the hub closed hub-spoke1 (deleted by peer)"

for n in hub spoke2; do kill -TERM "$(cat "$WORK/$n.pid")"; done
for n in $NODES; do
	wait_for 10 "rswand in $n to exit" sh -c "! kill -0 $(cat "$WORK/$n.pid") 2>/dev/null"
	sas=$(xfrm_state_count "$n")
	pols=$(in_ns "$n" ip xfrm policy list | grep -c '^src ' || true)
	[ "$sas" = 0 ] && [ "$pols" = 0 ] || fail "$n: $sas SAs and $pols policies left after SIGTERM"
done
log "all three namespaces clean after SIGTERM (no rswanctl down first)"
pass
