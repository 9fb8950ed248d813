#!/usr/bin/env bash
# Make-before-break on a real kernel: rswand (west) rekeys its Child SA every few seconds
# (rekey_time 4s, rand_time 1s; $REKEY_TIME) while west pings east's LAN every 50 ms through the
# tunnel; east (rswand) never rekeys by itself, so every rekey is west's. The case needs
# $REKEYS Child SA rekeys (default 20, about 80 s; the -slow variant runs 100) with distinct
# SPIs each time, counted from both rswand logs, and **zero** lost pings: a sequence number
# below the last answered one without a reply is a loss (pings still in flight when ping is
# stopped are not). The guard must not drop anything (no plain-text leak between SAs), and at
# the end each kernel holds exactly the 2 SAs of the current Child SA (old ones deleted).
# vm-timeout: 200
# shellcheck source=../lib.sh
. "$RSWAN_VM_LIB"

REKEYS=${REKEYS:-20}
REKEY_TIME=${REKEY_TIME:-4}

D=$RSWAN_BIN/rswand
C=$RSWAN_BIN/rswanctl
[ -x "$D" ] && [ -x "$C" ] || fail "rswand/rswanctl missing in $RSWAN_BIN (cargo build --release -p rswan)"

topo_two_gateways

# gw_conf <ns> <rekey_time> <life_time> <rand_time>
gw_conf() {
	rswan_yaml "$1" child.rekey_time="$2" child.life_time="$3" child.rand_time="$4"
}
gw_conf west "${REKEY_TIME}s" "$((REKEY_TIME * 3))s" 1s
# East's own timer never fires during the case: all rekeys are west's (no collisions here).
gw_conf east 1h 2h 1m

for ns in west east; do
	spawn_in "$ns" "$WORK/$ns.log" "$D" --config "$WORK/$ns.yaml" --socket "$WORK/$ns.sock"
	on_exit "cp '$WORK/$ns.log' '$RESULTS/rswand-$ns.log' 2>/dev/null"
	wait_for 20 "rswand in $ns to open its control socket" test -S "$WORK/$ns.sock"
done
on_exit "cp '$WORK/ping.out' '$RESULTS/ping.out' 2>/dev/null"

out=$(in_ns west "$C" --socket "$WORK/west.sock" up gw --timeout 60 2>&1) || fail "rswanctl up failed: $out"
assert_ping_ok west

rekeys() { grep -c 'CHILD_SA lan{.*closed: rekeyed' "$WORK/$1.log" || true; }
base_w=$(rekeys west)
base_e=$(rekeys east)
drops=$(guard_drops east)
drops_w=$(guard_drops west)
t0=$EPOCHSECONDS
spawn_in west "$WORK/ping.out" ping -n -i 0.05 -I "$WEST_LAN_IP" "$EAST_LAN_IP"
ping_pid=$SPAWNED_PID
enough() { [ $(($(rekeys west) - base_w)) -ge "$REKEYS" ] && [ $(($(rekeys east) - base_e)) -ge "$REKEYS" ]; }
wait_for $((REKEYS * (REKEY_TIME + 2) + 20)) "$REKEYS Child SA rekeys under traffic" enough
# One more round trip after the last rekey, so that the last sequence numbers are settled.
sleep 1
kill -INT "$ping_pid"
wait_for 10 "ping to print its summary" grep -q 'packets transmitted' "$WORK/ping.out"
secs=$((EPOCHSECONDS - t0))

n_w=$(($(rekeys west) - base_w))
n_e=$(($(rekeys east) - base_e))
spis=$(grep -o 'CHILD_SA lan{[0-9]*} established with SPIs [0-9a-f]*_i' "$WORK/west.log" | awk '{print $NF}' | sort -u | wc -l)
read -r sent answered last lost < <(awk '
	/packets transmitted/ { sent = $1 }
	/icmp_seq=/ { for (i = 1; i <= NF; i++) if ($i ~ /^icmp_seq=/) { s = substr($i, 10) + 0; got[s] = 1; n++; if (s > last) last = s } }
	END { lost = 0; for (s = 1; s <= last; s++) if (!(s in got)) lost++; print sent + 0, n + 0, last + 0, lost }' "$WORK/ping.out")
log "measured: ${secs}s of pings every 50 ms: $sent sent, $answered answered, last answered seq $last, $lost lost below it; rekeys west $n_w, east $n_e; $spis distinct inbound SPIs in west"
grep 'packets transmitted' "$WORK/ping.out"

[ "$spis" -ge $((REKEYS + 1)) ] || fail "only $spis distinct inbound SPIs for $((REKEYS + 1)) Child SAs"
[ "$answered" -gt $((REKEYS * REKEY_TIME * 10)) ] || fail "only $answered pings answered: ping did not run through the rekeys"
[ "$(guard_drops east)" = "$drops" ] && [ "$(guard_drops west)" = "$drops_w" ] ||
	fail "the guard dropped LAN packets during the rekeys (plain text between SAs)"
if [ "$lost" != 0 ]; then
	awk '/icmp_seq=/ { for (i = 1; i <= NF; i++) if ($i ~ /^icmp_seq=/) s = substr($i, 10) + 0; if (p && s != p + 1) print "gap after seq " p " to " s; p = s }' "$WORK/ping.out" | head -20
	fail "$lost pings lost across $n_w rekeys"
fi
# Rekeys go on after ping stopped: between two of them each kernel holds just the current pair.
two() { [ "$(xfrm_state_count west)" = 2 ] && [ "$(xfrm_state_count east)" = 2 ]; }
wait_for 10 "each kernel to hold exactly the current 2 SAs" two
assert_ping_ok west
pass
