#!/usr/bin/env bash
# start_action: trap on a real kernel: after rswand starts, west holds the trap policy
# (10.1.0.0/24 -> 10.2.0.0/24, outbound, with a template) and no SA, and nothing is negotiated.
# The first LAN ping makes the kernel send an ACQUIRE; rswand initiates (logged), the Child SA
# comes up, and the following pings pass through ESP (SA packet counters rise, the guard drops
# nothing in east). The kernel's larval (spi 0) state of the ACQUIRE is replaced by the new
# outbound SA at once: none is left when rswand logs the Child SA.
# vm-timeout: 120
# shellcheck source=../lib.sh
. "$RSWAN_VM_LIB"

D=$RSWAN_BIN/rswand
C=$RSWAN_BIN/rswanctl
[ -x "$D" ] && [ -x "$C" ] || fail "rswand/rswanctl missing in $RSWAN_BIN (cargo build --release -p rswan)"

topo_two_gateways

rswan_yaml west child.start_action=trap
rswan_yaml east child.start_action=none
for ns in east west; do
	spawn_in "$ns" "$WORK/$ns.log" "$D" --config "$WORK/$ns.yaml" --socket "$WORK/$ns.sock"
	on_exit "cp '$WORK/$ns.log' '$RESULTS/rswand-$ns.log' 2>/dev/null"
	wait_for 20 "rswand in $ns to open its control socket" test -S "$WORK/$ns.sock"
done

trap_policy() {
	local p
	p=$(in_ns west ip xfrm policy list src "$WEST_LAN" dst "$EAST_LAN" dir out)
	grep -q "tmpl src $WEST_IP dst $EAST_IP" <<<"$p"
}
wait_for 10 "the trap policy in west" trap_policy
sleep 2
[ "$(xfrm_state_count west)" = 0 ] && [ "$(xfrm_state_count east)" = 0 ] || fail "SAs exist before any traffic"
! grep -q 'needs the tunnel' "$WORK/west.log" || fail "west negotiated before any traffic"
in_ns west ip xfrm policy list dir out

drops=$(guard_drops east)
t0=$(date +%s.%N)
spawn_in west "$WORK/ping.out" ping -n -c 20 -i 0.2 -W 2 -I "$WEST_LAN_IP" "$EAST_LAN_IP"
pinger=$SPAWNED_PID
# The kernel's larval state for the ACQUIRE (spi 0, state ACQ) must be gone as soon as the
# Child SA is in: rswand installs a trapped child's SAs with the trap's reqid (and the ACQUIRE's
# seq in the outbound SA), so the kernel replaces the larval state with the new SA. Before that,
# it stayed until net.core.xfrm_acq_expires (30 s) and blocked the next ACQUIRE meanwhile.
# rswand logs the Child SA after installing its SAs: the larval state must be gone by then.
wait_for 20 "west's Child SA" grep -q 'CHILD_SA lan{[0-9]*} established' "$WORK/west.log"
states=$(in_ns west ip xfrm state list)
t_up=$EPOCHREALTIME
if grep -q 'spi 0x00000000' <<<"$states"; then
	printf '%s\n' "$states"
	fail "west still holds the larval (spi 0) state once the Child SA is installed"
fi
acq=$(grep -m1 -o '^[0-9T:.-]*Z.*needs the tunnel' "$WORK/west.log" | cut -d' ' -f1)
log "larval state gone when the Child SA was logged, $(awk -v a="$(date -d "$acq" +%s.%N)" -v b="$t_up" 'BEGIN { printf "%.1f", b - a }') s after the ACQUIRE (before: 30 s, net.core.xfrm_acq_expires)"
wait "$pinger" || true
out=$(cat "$WORK/ping.out")
grep -q 'needs the tunnel: initiating' "$WORK/west.log" || fail "no ACQUIRE-triggered initiation in west's log"
first=$(awk '/icmp_seq=/ { for (i = 1; i <= NF; i++) if ($i ~ /^icmp_seq=/) { print substr($i, 10); exit } }' <<<"$out")
got=$(grep -c 'icmp_seq=' <<<"$out" || true)
log "trap: first answered ping seq ${first:-none}, $got of 20 answered (pings every 0.2 s from $t0)"
[ "$got" -ge 10 ] || fail "only $got of 20 pings answered after the trap fired"
assert_ping_ok west
assert_ping_ok east
[ "$(guard_drops east)" = "$drops" ] || fail "the guard in east dropped LAN packets: plain text passed"
# Nothing larval came back meanwhile.
states=$(in_ns west ip xfrm state list)
! grep -q 'spi 0x00000000' <<<"$states" || fail "west holds a larval (spi 0) state after the pings"
real=$(xfrm_state_packets west | awk '$3 !~ /^0x00000000/')
printf '%s\n' "$real"
[ "$(wc -l <<<"$real")" = 2 ] || fail "west: expected 2 SAs: $real"
awk '$4 == 0 { exit 1 }' <<<"$real" || fail "west: an SA without packets: $real"
assert_sa_traffic east 2
pass
