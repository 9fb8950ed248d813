#!/usr/bin/env bash
# Dead peer detection on a real kernel: west's rswand (dpd_delay 2s, retransmit_timeout 1s,
# retransmit_base 1.0, retransmit_tries 2: a probe after 2 s of silence, given up 3 s later)
# must notice within DPD_BUDGET (10 s) that east's rswand was killed with SIGKILL, and log
# `peer 192.0.2.2 lost after 2 retransmits (DPD)`. No traffic runs meanwhile: east's kernel still
# holds its SAs and would answer pings, which on-demand DPD rightly counts as life.
#   clear: dpd_action clear: afterwards west has no SA and no policy left.
#   trap:  start_action trap + dpd_action trap: the tunnel came up from an ACQUIRE; after DPD,
#          west has no SA but the trap policy is back, and once east is restarted (its stale
#          kernel state flushed, as after a reboot) the next ping negotiates the tunnel again
#          within RETRAP_BUDGET (see sub_trap), and no larval (spi 0) state is left in west.
#   dpdtrap: start_action none + dpd_action trap: the tunnel came from `rswanctl up`; after DPD,
#          west installs the trap policy (logged) and the next ping after east's restart
#          negotiates the tunnel from it.
# vm-timeout: 300
# shellcheck source=../lib.sh
. "$RSWAN_VM_LIB"

D=$RSWAN_BIN/rswand
C=$RSWAN_BIN/rswanctl
[ -x "$D" ] && [ -x "$C" ] || fail "rswand/rswanctl missing in $RSWAN_BIN (cargo build --release -p rswan)"
DPD_BUDGET=10
RETRAP_BUDGET=15

on_exit save_logs

# gw_conf <ns> <dir> <start_action> <dpd_action>: DPD every 2 s, two retransmits 1 s apart.
gw_conf() {
	rswan_yaml "$1" file="$2/$1.yaml" settings.retransmit_timeout=1s settings.retransmit_base=1.0 \
		settings.retransmit_tries=2 conn.dpd_delay=2s child.start_action="$3" child.dpd_action="$4"
}

start() { # <ns> <dir>
	spawn_in "$1" "$2/$1.log" "$D" --config "$2/$1.yaml" --socket "$2/$1.sock"
	echo "$SPAWNED_PID" >"$2/$1.pid"
	wait_for 20 "rswand in $1 to open its control socket" test -S "$2/$1.sock"
}

# kill_east_and_detect <dir>: SIGKILL east's rswand, then time west's DPD verdict.
kill_east_and_detect() {
	local W=$1 t0 t1 ms line
	kill -9 "$(cat "$W/east.pid")"
	t0=$EPOCHREALTIME
	wait_for 30 "west to declare east dead" grep -q 'lost after .* retransmits (DPD)' "$W/west.log"
	t1=$EPOCHREALTIME
	ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", (b - a) * 1000 }')
	line=$(grep -m1 'lost after .* retransmits (DPD)' "$W/west.log")
	log "DPD: detected ${ms} ms after SIGKILL (budget ${DPD_BUDGET}s): $line"
	grep -q "peer 192.0.2.2 lost after 2 retransmits (DPD)" <<<"$line" || fail "unexpected DPD line: $line"
	[ "$ms" -le $((DPD_BUDGET * 1000)) ] || fail "DPD took ${ms} ms, budget ${DPD_BUDGET}s"
}

# IPsec policies (socket bypass policies of the IKE sockets have no `dir`).
policies() { in_ns "$1" ip xfrm policy list | grep -cE '^[[:space:]]+dir (in|out|fwd) ' || true; }
# SAs other than the kernel's larval ACQUIRE states (spi 0).
real_sas() { in_ns "$1" ip xfrm state list | grep -c 'proto esp spi 0x[0-9a-f]*[1-9a-f][0-9a-f]* ' || true; }

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

sub_clear() {
	local W=$WORK/clear out
	mkdir -p "$W"
	topo_two_gateways
	gw_conf west "$W" none clear
	gw_conf east "$W" none clear
	start east "$W"
	start west "$W"
	out=$(in_ns west "$C" --socket "$W/west.sock" up gw --timeout 60 2>&1) || fail "rswanctl up failed: $out"
	assert_ping_ok west
	kill_east_and_detect "$W"
	nothing() { [ "$(xfrm_state_count west)" = 0 ] && [ "$(policies west)" = 0 ]; }
	poll 5 "west to remove its SAs and policies (dpd_action clear)" nothing
	out=$(in_ns west "$C" --socket "$W/west.sock" status 2>&1)
	printf '%s\n' "$out"
	log "clear: west has $(xfrm_state_count west) SAs and $(policies west) policies"
}

sub_trap() {
	local W=$WORK/trap out
	mkdir -p "$W"
	topo_two_gateways
	gw_conf west "$W" trap trap
	gw_conf east "$W" none clear
	start east "$W"
	start west "$W"
	trap_policy() {
		local p
		p=$(in_ns west ip xfrm policy list src "$WEST_LAN" dst "$EAST_LAN" dir out)
		grep -q "tmpl src $WEST_IP dst $EAST_IP" <<<"$p"
	}
	wait_for 10 "the trap policy in west" trap_policy
	assert_ping_ok west
	grep -q 'needs the tunnel: initiating' "$W/west.log" || fail "the tunnel did not come from the trap"
	kill_east_and_detect "$W"
	trap_back() { [ "$(real_sas west)" = 0 ] && trap_policy; }
	poll 5 "west to drop its SAs and keep the trap policy (dpd_action trap)" trap_back
	in_ns west ip xfrm policy list dir out
	log "trap: west has $(real_sas west) SAs ($(xfrm_state_count west) states in all), trap policy present"
	in_ns east ip xfrm state flush
	in_ns east ip xfrm policy flush
	start east "$W"
	t0=$EPOCHSECONDS
	# The Child SA took the trap's reqid, so the kernel replaced the first ACQUIRE's larval state
	# with it: the first ping after the restart raises a new ACQUIRE at once. (When the larval
	# state lingered for xfrm_acq_expires, 30 s, this took 22-24 s.)
	[ "$(xfrm_state_count west)" = 0 ] || { in_ns west ip xfrm state; fail "west: a larval state outlived the tunnel"; }
	wait_for "$RETRAP_BUDGET" "a ping through the re-trapped tunnel" in_ns west ping -n -c 1 -W 1 -I "$WEST_LAN_IP" "$EAST_LAN_IP"
	log "trap: first ping answered $((EPOCHSECONDS - t0)) s after east's restart"
	assert_ping_ok west
	[ "$(grep -c 'needs the tunnel: initiating' "$W/west.log")" -ge 2 ] || fail "the second tunnel did not come from the trap"
	[ "$(real_sas west)" = 2 ] || { in_ns west ip xfrm state; fail "west: expected the 2 SAs of the new tunnel"; }
}

sub_dpdtrap() {
	local W=$WORK/dpdtrap out
	mkdir -p "$W"
	topo_two_gateways
	gw_conf west "$W" none trap
	gw_conf east "$W" none clear
	start east "$W"
	start west "$W"
	out=$(in_ns west "$C" --socket "$W/west.sock" up gw --timeout 60 2>&1) || fail "rswanctl up failed: $out"
	assert_ping_ok west
	[ "$(policies west)" = 3 ] || fail "west: expected the 3 policies of the Child SA"
	kill_east_and_detect "$W"
	trap_policy() {
		local p
		p=$(in_ns west ip xfrm policy list src "$WEST_LAN" dst "$EAST_LAN" dir out)
		grep -q "tmpl src $WEST_IP dst $EAST_IP" <<<"$p"
	}
	trap_only() { [ "$(xfrm_state_count west)" = 0 ] && [ "$(policies west)" = 1 ] && trap_policy; }
	poll 5 "west to hold only the trap policy (dpd_action trap)" trap_only
	grep -q 'gw/lan closed by the peer or lost: installing its trap policies' "$W/west.log" || fail "west did not log the trap"
	in_ns east ip xfrm state flush
	in_ns east ip xfrm policy flush
	start east "$W"
	t0=$EPOCHSECONDS
	wait_for "$RETRAP_BUDGET" "a ping through the trapped tunnel" in_ns west ping -n -c 1 -W 1 -I "$WEST_LAN_IP" "$EAST_LAN_IP"
	log "dpdtrap: first ping answered $((EPOCHSECONDS - t0)) s after east's restart"
	grep -q 'needs the tunnel: initiating' "$W/west.log" || fail "the new tunnel did not come from the trap"
	assert_ping_ok west
	[ "$(real_sas west)" = 2 ] || { in_ns west ip xfrm state; fail "west: expected the 2 SAs of the new tunnel"; }
}


failed=()
run_sub clear
run_sub trap
run_sub dpdtrap
[ ${#failed[@]} = 0 ] || fail "sub-cases failed: ${failed[*]} (see log)"
pass
