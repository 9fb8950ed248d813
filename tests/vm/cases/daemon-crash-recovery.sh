#!/usr/bin/env bash
# rswand after a crash: west and east (site-to-site example) bring a tunnel up, east's rswand is
# SIGKILLed with its SAs and policies still in the kernel, and a new rswand in east starts. It must
# report and remove what the dead one left (no "already exists"), bring the tunnel back with ESP
# traffic both ways, and a clean stop of both must then leave zero SAs and zero policies in both
# namespaces (the per-socket IKE bypass policies are not in the policy table `ip xfrm policy` lists).
# vm-timeout: 240
. "$RSWAN_VM_LIB"

D=$RSWAN_BIN/rswand
C=$RSWAN_BIN/rswanctl
[ -x "$D" ] && [ -x "$C" ] || fail "rswand/rswanctl missing in $RSWAN_BIN (cargo build --release -p rswan)"

topo_two_gateways
for ns in west east; do
	install -m 600 "$RSWAN_REPO/examples/site-to-site/$ns.yaml" "$WORK/$ns.yaml"
done
rswand_pair
west_pid=$(pgrep -f -- "--socket $WORK/west.sock" | head -n1)
east_pid=$(pgrep -f -- "--socket $WORK/east.sock" | head -n1)
[ -n "$west_pid" ] && [ -n "$east_pid" ] || fail "cannot find the rswand pids"
# Policies in the SPD; the per-socket IKE bypass policies `ip xfrm policy` also lists (a
# "socket in/out" line) belong to open sockets and are not counted.
policy_count() {
	in_ns "$1" ip xfrm policy list | awk '/^src / { n++ } /^[[:space:]]+socket (in|out) / { s++ } END { print n - s }'
}

out=$(ctl west up west-east --timeout 60) || fail "rswanctl up failed: $out"
assert_ping_ok west

kill -KILL "$east_pid"
wait_for 10 "the killed rswand in east to go" sh -c "! kill -0 $east_pid 2>/dev/null"
left_sas=$(xfrm_state_count east)
left_pols=$(policy_count east)
log "east after SIGKILL: $left_sas SAs and $left_pols policies left in the kernel"
[ "$left_sas" -gt 0 ] && [ "$left_pols" -gt 0 ] || fail "SIGKILL left nothing behind: the case proves nothing"

spawn_in east "$WORK/east2.log" "$D" --config "$WORK/east.yaml" --socket "$WORK/east.sock"
east_pid=$SPAWNED_PID
on_exit "kill $east_pid 2>/dev/null; cp '$WORK/east2.log' '$RESULTS/rswand-east-restarted.log' 2>/dev/null"
wait_for 20 "the restarted rswand in east to open its control socket" \
	sh -c "grep -q 'started' '$WORK/east2.log' && test -S '$WORK/east.sock'"
grep -q "found $left_sas SAs and $left_pols policies of an earlier rswand" "$WORK/east2.log" || {
	cat "$WORK/east2.log"
	fail "the restarted rswand did not report the $left_sas SAs and $left_pols policies it found"
}
[ "$(xfrm_state_count east)" = 0 ] && [ "$(policy_count east)" = 0 ] || {
	in_ns east ip xfrm state
	in_ns east ip xfrm policy
	cat "$WORK/east2.log"
	fail "east still holds SAs or policies of the killed rswand after the restart"
}

# The restarted side initiates (INITIAL_CONTACT makes west drop its stale IKE SA).
out=$(ctl east up west-east --timeout 60) || fail "rswanctl up after the restart failed: $out"
printf '%s\n' "$out"
assert_ping_ok east
assert_ping_ok west
assert_sa_traffic east 2
if grep -qi "already exists\|errno 17" "$WORK/east2.log" "$WORK/west.log"; then
	grep -i "already exists\|errno 17" "$WORK/east2.log" "$WORK/west.log"
	fail "a policy or SA install failed with EEXIST"
fi

kill -TERM "$west_pid" "$east_pid"
for pid in "$west_pid" "$east_pid"; do
	wait_for 15 "rswand $pid to exit" sh -c "! kill -0 $pid 2>/dev/null"
done
for ns in west east; do
	sas=$(xfrm_state_count "$ns")
	pols=$(policy_count "$ns")
	log "$ns after the clean stop: $sas SAs, $pols policies"
	[ "$sas" = 0 ] && [ "$pols" = 0 ] || {
		in_ns "$ns" ip xfrm state
		in_ns "$ns" ip xfrm policy
		fail "$ns: $sas SAs and $pols policies left after a clean stop"
	}
done
pass
