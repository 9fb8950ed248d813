#!/usr/bin/env bash
# close_action on a real kernel: west's rswand brings the tunnel up (rswanctl up), then east's
# rswand closes it (`rswanctl down gw/lan`: an INFORMATIONAL Delete for the Child SA, or
# `down gw` for the whole IKE SA). What west does then is its child's close_action:
#   none:      west holds no SA and no IPsec policy afterwards, and negotiates nothing.
#   trap:      west holds the trap policy and no SA; the next LAN ping negotiates the tunnel
#              again (ACQUIRE, logged) and passes through ESP.
#   start:     west negotiates the Child SA again at once (new SPIs), without traffic.
#   start_ike: as start, but east deletes the whole IKE SA: the IKE SA and the child come back.
# vm-timeout: 240
# shellcheck source=../lib.sh
. "$RSWAN_VM_LIB"

D=$RSWAN_BIN/rswand
C=$RSWAN_BIN/rswanctl
[ -x "$D" ] && [ -x "$C" ] || fail "rswand/rswanctl missing in $RSWAN_BIN (cargo build --release -p rswan)"

on_exit save_logs


# IPsec policies (the IKE sockets' bypass policies have no `dir`).
policies() {
	local p
	p=$(in_ns "$1" ip xfrm policy list)
	grep -cE '^[[:space:]]+dir (in|out|fwd) ' <<<"$p" || true
}
# poll <secs> <what> <cmd...>: like wait_for, but shows west's kernel state before failing.
poll() {
	local secs=$1 what=$2 deadline
	shift 2
	deadline=$((EPOCHSECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		if [ "$EPOCHSECONDS" -ge "$deadline" ]; then
			in_ns west ip xfrm state
			in_ns west ip xfrm policy
			fail "timed out after ${secs}s waiting for $what"
		fi
		sleep 0.1
	done
}
spis() { in_ns west "$C" --socket "$1/west.sock" status | awk '/child lan/ { print $6 }'; }
child_state() { in_ns west "$C" --socket "$1/west.sock" status | awk '/child lan/ { print $3 }'; }

# setup <dir> <close_action>: both rswands running, the tunnel up and carrying pings.
setup() {
	local W=$1 out ns
	mkdir -p "$W"
	topo_two_gateways
	rswan_yaml west file="$W/west.yaml" child.close_action="$2"
	rswan_yaml east file="$W/east.yaml" child.close_action=none
	for ns in east west; do
		spawn_in "$ns" "$W/$ns.log" "$D" --config "$W/$ns.yaml" --socket "$W/$ns.sock"
		wait_for 20 "rswand in $ns to open its control socket" test -S "$W/$ns.sock"
	done
	out=$(in_ns west "$C" --socket "$W/west.sock" up gw --timeout 60 2>&1) || fail "rswanctl up failed: $out"
	assert_ping_ok west
}

# east_closes <dir> <target>: east deletes the Child SA (gw/lan) or the IKE SA (gw).
east_closes() {
	local out
	out=$(in_ns east "$C" --socket "$1/east.sock" down "$2" 2>&1) || fail "rswanctl down $2 in east failed: $out"
	log "east: $out"
	wait_for 10 "west to see the Delete" grep -q 'deleted by peer\|IKE SA closed' "$1/west.log"
}

sub_none() {
	local W=$WORK/none
	setup "$W" none
	east_closes "$W" gw/lan
	nothing() { [ "$(xfrm_state_count west)" = 0 ] && [ "$(policies west)" = 0 ]; }
	poll 5 "west to remove its SAs and policies" nothing
	sleep 3
	nothing || fail "west installed something again with close_action none"
	! grep -q 'negotiating it again\|installing its trap' "$W/west.log" || fail "west acted on close_action none"
	log "none: west has $(xfrm_state_count west) SAs, $(policies west) policies; child $(child_state "$W")"
}

sub_trap() {
	local W=$WORK/trap drops
	setup "$W" trap
	east_closes "$W" gw/lan
	trap_only() {
		local p
		p=$(in_ns west ip xfrm policy list src "$WEST_LAN" dst "$EAST_LAN" dir out)
		grep -q "tmpl src $WEST_IP dst $EAST_IP" <<<"$p" && [ "$(xfrm_state_count west)" = 0 ] &&
			[ "$(policies west)" = 1 ]
	}
	poll 5 "west to hold only the trap policy (close_action trap)" trap_only
	in_ns west ip xfrm policy list dir out
	grep -q 'installing its trap policies' "$W/west.log" || fail "west did not log the trap"
	! grep -q 'needs the tunnel' "$W/west.log" || fail "west negotiated before any traffic"
	drops=$(guard_drops east)
	wait_for 20 "a ping through the re-trapped tunnel" in_ns west ping -n -c 1 -W 1 -I "$WEST_LAN_IP" "$EAST_LAN_IP"
	grep -q 'needs the tunnel: initiating' "$W/west.log" || fail "the tunnel did not come back from the trap"
	assert_ping_ok west
	[ "$(guard_drops east)" = "$drops" ] || fail "the guard in east dropped LAN packets: plain text passed"
	log "trap: tunnel back from the trap, child $(child_state "$W")"
}

# sub_start_with <dir> <east's down target>
sub_start_with() {
	local W=$1 before after t0
	setup "$W" start
	before=$(spis "$W")
	t0=$EPOCHREALTIME
	east_closes "$W" "$2"
	again() { [ "$(child_state "$W")" = INSTALLED ] && [ "$(spis "$W")" != "$before" ]; }
	poll 15 "west to negotiate the Child SA again (close_action start)" again
	after=$(spis "$W")
	log "start ($2): Child SA back $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s after east's down: SPIs $before -> $after"
	grep -q 'close_action=start' "$W/west.log" || fail "west did not log the close_action"
	assert_ping_ok west
	assert_sa_traffic west 2
}
sub_start() { sub_start_with "$WORK/start" gw/lan; }
sub_start_ike() { sub_start_with "$WORK/start-ike" gw; }


failed=()
for s in none trap start start_ike; do
	run_sub "$s"
done
[ ${#failed[@]} = 0 ] || fail "sub-cases failed: ${failed[*]} (see log)"
pass
