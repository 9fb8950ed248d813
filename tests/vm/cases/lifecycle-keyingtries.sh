#!/usr/bin/env bash
# keyingtries on a real kernel: west's rswand has start_action start and a short retransmission
# budget (retransmit_timeout 1s, retransmit_base 1.0, retransmit_tries 1: an attempt is given
# up after about 2 s), and east's rswand is not running yet.
#   retry:   keyingtries 0 (no limit): west logs `peer not responding, trying again (n/unlimited)`
#            while east is down; east is started after west's third attempt, and the tunnel comes
#            up by itself (the attempt under way or a later one; no rswanctl up), carrying pings.
#   give-up: keyingtries 3: west logs `gw/lan: giving up after 3 keying tries, peer not
#            responding` and then stays quiet: no fourth attempt, no IKE SA.
# vm-timeout: 180
# shellcheck source=../lib.sh
. "$RSWAN_VM_LIB"

D=$RSWAN_BIN/rswand
C=$RSWAN_BIN/rswanctl
[ -x "$D" ] && [ -x "$C" ] || fail "rswand/rswanctl missing in $RSWAN_BIN (cargo build --release -p rswan)"

on_exit save_logs

# gw_conf <ns> <dir> <start_action> <keyingtries>: one retransmit 1 s after the request.
gw_conf() {
	rswan_yaml "$1" file="$2/$1.yaml" settings.retransmit_timeout=1s settings.retransmit_base=1.0 \
		settings.retransmit_tries=1 conn.keyingtries="$4" child.start_action="$3"
}

start() { # <ns> <dir>
	spawn_in "$1" "$2/$1.log" "$D" --config "$2/$1.yaml" --socket "$2/$1.sock"
	wait_for 20 "rswand in $1 to open its control socket" test -S "$2/$1.sock"
}

sub_retry() {
	local W=$WORK/retry t0 tries
	mkdir -p "$W"
	topo_two_gateways
	gw_conf west "$W" start 0
	gw_conf east "$W" none 1
	start west "$W"
	wait_for 30 "west's third attempt" grep -q 'peer not responding, trying again (3/unlimited)' "$W/west.log"
	grep 'trying again' "$W/west.log"
	[ "$(xfrm_state_count west)" = 0 ] || fail "west has SAs without a peer"
	t0=$EPOCHREALTIME
	start east "$W"
	up() {
		local s
		s=$(in_ns west "$C" --socket "$W/west.sock" status)
		grep -q 'child lan INSTALLED' <<<"$s"
	}
	wait_for 30 "the tunnel to come up on a later attempt" up
	tries=$(grep -c 'trying again' "$W/west.log" || true)
	log "retry: tunnel up $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s after east started, after $tries retries"
	assert_ping_ok west
	assert_sa_traffic west 2
	! grep -q 'giving up' "$W/west.log" || fail "west gave up with keyingtries 0"
}

sub_give_up() {
	local W=$WORK/give-up n s
	mkdir -p "$W"
	topo_two_gateways
	gw_conf west "$W" start 3
	start west "$W"
	wait_for 30 "west to give up" grep -q 'gw/lan: giving up after 3 keying tries, peer not responding' "$W/west.log"
	grep 'trying again\|giving up' "$W/west.log"
	n=$(grep -c 'trying again' "$W/west.log" || true)
	[ "$n" = 2 ] || fail "expected 2 retries before giving up, saw $n"
	sleep 4
	n=$(grep -c 'trying again' "$W/west.log" || true)
	[ "$n" = 2 ] || fail "west tried again after giving up"
	s=$(in_ns west "$C" --socket "$W/west.sock" status)
	printf '%s\n' "$s"
	! grep -q '^  IKE ' <<<"$s" || fail "west still has an IKE SA after giving up"
}


failed=()
run_sub retry
run_sub give_up
[ ${#failed[@]} = 0 ] || fail "sub-cases failed: ${failed[*]} (see log)"
pass
