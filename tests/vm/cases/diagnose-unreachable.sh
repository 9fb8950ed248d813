#!/usr/bin/env bash
# `rswanctl diagnose` says the peer is unreachable when no IKE reply comes back: first with no
# daemon on east (peer down), then with rswand running on east but UDP 500 dropped by nftables.
# The verdict names the peer address and port and the number of retransmits; once the drop rule
# is removed the same connection comes up.
# vm-timeout: 180
. "$RSWAN_VM_LIB"

D=$RSWAN_BIN/rswand
C=$RSWAN_BIN/rswanctl
[ -x "$D" ] && [ -x "$C" ] || fail "rswand/rswanctl missing in $RSWAN_BIN (cargo build --release -p rswan)"

topo_two_gateways
EX=$RSWAN_REPO/examples/site-to-site
# Short retransmissions so that the attempt gives up within seconds.
{
	printf 'settings:\n  retransmit_timeout: 1s\n  retransmit_base: 1.0\n  retransmit_tries: 3\n'
	cat "$EX/west.yaml"
} >"$WORK/west.yaml"
chmod 600 "$WORK/west.yaml"
install -m 600 "$EX/east.yaml" "$WORK/east.yaml"
spawn_in west "$WORK/west.log" "$D" --config "$WORK/west.yaml" --socket "$WORK/west.sock"
on_exit "kill $SPAWNED_PID 2>/dev/null; cp '$WORK/west.log' '$RESULTS/rswand-west.log' 2>/dev/null"
wait_for 20 "west control socket" test -S "$WORK/west.sock"
ctl() {
	local ns=$1
	shift
	in_ns "$ns" "$C" --socket "$WORK/$ns.sock" "$@"
}
want="west-east: peer unreachable: no IKE reply from 192.0.2.2:500 after 3 retransmits (UDP 500 blocked or peer down)"

# 1. Peer down: nothing listens on east.
if out=$(ctl west up west-east --timeout 30 2>&1); then fail "up succeeded with the peer down: $out"; fi
out=$(ctl west diagnose west-east --sample 0)
printf '%s\n' "$out"
[ "$(head -n1 <<<"$out")" = "$want" ] || fail "peer down: unexpected verdict"
grep -q "reachability: peer 192.0.2.2:500; no IKE reply seen" <<<"$out" || fail "reachability line"

# 2. East runs, but its firewall drops UDP 500.
printf '%s\n' 'table inet block {' ' chain in {' '  type filter hook input priority 0; policy accept;' \
	'  udp dport 500 counter drop' ' }' '}' >"$WORK/block.nft"
in_ns east nft -f "$WORK/block.nft"
spawn_in east "$WORK/east.log" "$D" --config "$WORK/east.yaml" --socket "$WORK/east.sock"
on_exit "kill $SPAWNED_PID 2>/dev/null; cp '$WORK/east.log' '$RESULTS/rswand-east.log' 2>/dev/null"
wait_for 20 "east control socket" test -S "$WORK/east.sock"
if out=$(ctl west up west-east --timeout 30 2>&1); then fail "up succeeded with UDP 500 blocked: $out"; fi
out=$(ctl west diagnose west-east --sample 0)
printf '%s\n' "$out"
[ "$(head -n1 <<<"$out")" = "$want" ] || fail "UDP 500 blocked: unexpected verdict"
drops=$(in_ns east nft list chain inet block in)
grep -q 'packets [1-9]' <<<"$drops" || fail "the drop rule on east saw nothing: $drops"
# Without the rule the same connection comes up: the verdict was about the path.
in_ns east nft delete table inet block
out=$(ctl west up west-east --timeout 30) || fail "up failed without the block: $out"
out=$(ctl west diagnose west-east --sample 0)
printf '%s\n' "$out"
head -n1 <<<"$out" | grep -q "tunnel up\|Phase 2 up" || fail "verdict after unblocking"
pass
