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

conf() { # <file> <local ip> <remote ip> <local id> <remote id> <local lan> <remote lan> <start_action> <keyingtries>
	(
		umask 077
		cat >"$1" <<-EOT
			settings:
			  retransmit_timeout: 1s
			  retransmit_base: 1.0
			  retransmit_tries: 1
			connections:
			  gw:
			    local_addrs: [$2]
			    remote_addrs: [$3]
			    proposals: [aes256gcm16-prfsha256-x25519]
			    keyingtries: $9
			    local: {auth: psk, id: $4}
			    remote: {auth: psk, id: $5}
			    children:
			      lan:
			        local_ts: [$6]
			        remote_ts: [$7]
			        esp_proposals: [aes256gcm16]
			        start_action: $8
			secrets:
			  ike-gw:
			    id: [$4, $5]
			    secret: "keying tries, west and east"
		EOT
	)
}

start() { # <ns> <dir>
	spawn_in "$1" "$2/$1.log" "$D" --config "$2/$1.yaml" --socket "$2/$1.sock"
	wait_for 20 "rswand in $1 to open its control socket" test -S "$2/$1.sock"
}

sub_retry() {
	local W=$WORK/retry t0 tries
	mkdir -p "$W"
	topo_two_gateways
	conf "$W/west.yaml" "$WEST_IP" "$EAST_IP" west.example.org east.example.org "$WEST_LAN" "$EAST_LAN" start 0
	conf "$W/east.yaml" "$EAST_IP" "$WEST_IP" east.example.org west.example.org "$EAST_LAN" "$WEST_LAN" none 1
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
	conf "$W/west.yaml" "$WEST_IP" "$EAST_IP" west.example.org east.example.org "$WEST_LAN" "$EAST_LAN" start 3
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
