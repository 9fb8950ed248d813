#!/usr/bin/env bash
# NAT traversal through rswan-xfrm: west (198.51.100.2) sits behind a masquerading NAT and is
# seen by east as 192.0.2.254. AES-GCM SAs with UDP encapsulation (4500/4500) and policies are
# installed only through rswan-xfrm; both 4500 sockets get UDP_ENCAP_ESPINUDP and the IKE bypass
# through rswan_xfrm::sockets. LAN pings pass the guard in both directions, rswan-xfrm reads
# non-zero counters on all four SAs, and flush_owned leaves nothing behind.
# vm-timeout: 180
. "$RSWAN_VM_LIB"

T=$RSWAN_BIN/xfrm-vmtest
[ -x "$T" ] || fail "$T missing (cargo build --release -p rswan-xfrm --bins)"

topo_nat
assert_ping_fails west

pids=()
for ns in west east; do
	# Directly, not through in_ns: $! must be the process itself (ip netns exec execs).
	ip netns exec "$ns" "$T" encap-socket --port 4500 >"$WORK/encap-$ns.out" 2>&1 &
	pids+=($!)
	on_exit "kill $! 2>/dev/null"
done
for ns in west east; do
	wait_for 10 "encap socket in $ns" grep -q ready "$WORK/encap-$ns.out"
done

must in_ns west "$T" install --profile udp --side west --local "$WEST_IP" --remote "$EAST_IP"
must in_ns east "$T" install --profile udp --side east --local "$EAST_IP" --remote "$WEST_IP_SEEN"

drops_e=$(guard_drops east)
# west first: its packets create the NAT mapping that east's answers come back through.
assert_ping_ok west
assert_ping_ok east
[ "$(guard_drops east)" = "$drops_e" ] || fail "guard in east dropped LAN packets although SAs exist"

for ns in west east; do
	if [ "$ns" = west ]; then
		args=(--local "$WEST_IP" --remote "$EAST_IP")
	else
		args=(--local "$EAST_IP" --remote "$WEST_IP_SEEN")
	fi
	out=$(in_ns "$ns" "$T" counters --side "$ns" "${args[@]}" --require-nonzero 2>&1) || {
		printf '%s\n' "$out"
		fail "$ns: rswan-xfrm counters: $out"
	}
	printf '%s: %s\n' "$ns" "$out" | sed 's/^/    /'
	[ "$(printf '%s\n' "$out" | grep -c 'encap=espinudp:4500->4500')" = 2 ] ||
		fail "$ns: SAs are not UDP-encapsulated 4500->4500: $out"
done
# east talks to the NAT's outside address, as a NAT-T responder does.
in_ns east ip xfrm state | grep -q "src $WEST_IP_SEEN dst $EAST_IP" ||
	fail "east's inbound SA is not from the NAT's address $WEST_IP_SEEN"

for pid in "${pids[@]}"; do
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
done
for ns in west east; do
	must in_ns "$ns" "$T" flush
	[ "$(in_ns "$ns" "$T" count)" = "sas=0 policies=0" ] || fail "$ns after flush holds $(in_ns "$ns" "$T" count)"
done
assert_ping_fails west
pass
