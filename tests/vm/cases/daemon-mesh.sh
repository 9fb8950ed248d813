#!/usr/bin/env bash
# The full-mesh example (examples/mesh/) on a real kernel: three sites a, b, c on one L2 segment,
# each pair with its own tunnel. The lower-numbered site of each pair starts the tunnel, the other
# keeps a trap policy (start_action=trap). All three LAN pairs ping through ESP. Then c closes its
# tunnel to b (`rswanctl down b-c`); its trap policy comes back, and traffic from c's LAN to b's
# LAN makes the kernel send ACQUIRE, on which c negotiates the tunnel again by itself.
# vm-timeout: 300
. "$RSWAN_VM_LIB"

D=$RSWAN_BIN/rswand
C=$RSWAN_BIN/rswanctl
[ -x "$D" ] && [ -x "$C" ] || fail "rswand/rswanctl missing in $RSWAN_BIN (cargo build --release -p rswan)"
PY=/usr/bin/python3

NODES="a b c"
on_exit "for n in sw $NODES; do ip netns del \$n 2>/dev/null; done"
ip netns add sw
ip -n sw link add br0 type bridge
ip -n sw link set br0 up
i=0
for n in $NODES; do
	i=$((i + 1))
	ip netns add "$n"
	ip link add "p$n" netns sw type veth peer name eth0 netns "$n"
	ip -n sw link set "p$n" master br0 up
	ip -n "$n" -batch - <<-EOF
		link set lo up
		link set eth0 up
		addr add 192.0.2.$i/24 dev eth0
		link add lan0 type dummy
		link set lan0 up
		addr add 10.$i.0.1/24 dev lan0
	EOF
	for j in 1 2 3; do
		[ "$j" = "$i" ] || ip -n "$n" route add "10.$j.0.0/24" via "192.0.2.$j"
	done
	others=$(for j in 1 2 3; do [ "$j" = "$i" ] || printf '10.%s.0.0/24, ' "$j"; done)
	in_ns "$n" nft -f - <<-EOF
		table inet guard {
			chain in {
				type filter hook prerouting priority -150; policy accept;
				ip saddr { ${others%, } } ip daddr 10.$i.0.0/24 meta secpath missing counter drop
			}
		}
	EOF
done

for n in $NODES; do
	install -m 600 "$RSWAN_REPO/examples/mesh/$n.yaml" "$WORK/$n.yaml"
	ip netns exec "$n" "$D" --config "$WORK/$n.yaml" --socket "$WORK/$n.sock" >"$WORK/$n.log" 2>&1 &
	echo $! >"$WORK/$n.pid"
	on_exit "cp '$WORK/$n.log' '$RESULTS/rswand-$n.log' 2>/dev/null"
	wait_for 20 "rswand in $n" test -S "$WORK/$n.sock"
done
ctl() {
	local n=$1
	shift
	in_ns "$n" "$C" --socket "$WORK/$n.sock" "$@"
}
all_up() {
	ctl "$1" status --json >"$WORK/st-$1.json" 2>/dev/null || return 1
	"$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if all(c["children_up"] == c["children_total"] for c in j["connections"]) else 1)' "$WORK/st-$1.json"
}
for n in $NODES; do wait_for 120 "both tunnels of $n" all_up "$n"; done
ctl c status

ping_lan() { in_ns "$1" ping -n -c 2 -i 0.3 -w 10 -I "10.$2.0.1" "10.$3.0.1" >/dev/null 2>&1; }
for pair in "a 1 2" "a 1 3" "b 2 3" "c 3 1"; do
	# shellcheck disable=SC2086
	set -- $pair
	ping_lan "$1" "$2" "$3" || fail "ping 10.$2.0.1 -> 10.$3.0.1 from $1 failed"
	log "ping 10.$2.0.1 -> 10.$3.0.1 ok"
done
for n in $NODES; do assert_sa_traffic "$n" 4; done

# c closes b-c; its trap policy must take the tunnel's place again.
ctl c down b-c || fail "down b-c failed"
in_ns c ip xfrm policy list dir out
no_b_c_child() { ! ctl c status --json | "$PY" -c 'import json,sys; j=json.load(sys.stdin); c=[c for c in j["connections"] if c["name"]=="b-c"][0]; sys.exit(0 if c["children_up"] else 1)'; }
wait_for 10 "b-c to be down in c" no_b_c_child
# Traffic from c's LAN to b's LAN: ACQUIRE, negotiation, then replies.
wait_for 60 "the trap in c to bring b-c back on traffic" ping_lan c 3 2
grep -q "traffic from .* needs the tunnel: initiating" "$WORK/c.log" || fail "c's log does not show the acquire-driven initiation"
log "trap: c negotiated b-c again on traffic"

for n in $NODES; do kill -TERM "$(cat "$WORK/$n.pid")"; done
for n in $NODES; do
	wait_for 10 "rswand in $n to exit" sh -c "! kill -0 $(cat "$WORK/$n.pid") 2>/dev/null"
	pols=$(in_ns "$n" ip xfrm policy list | grep -c '^src ' || true)
	[ "$pols" = 0 ] || {
		in_ns "$n" ip xfrm policy
		fail "$n: $pols policies (traps included) left after SIGTERM"
	}
done
pass
