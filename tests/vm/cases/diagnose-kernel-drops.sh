#!/usr/bin/env bash
# Kernel drops become the verdict: with the tunnel up, east's inbound SA is deleted behind the
# daemon's back (as after a reboot of the kernel state), west keeps sending ESP for that SPI, and
# `rswanctl diagnose` on east reads the rise of XfrmInNoStates in its namespace's
# /proc/net/xfrm_stat and says "ESP arrived for an SPI we do not have".
# vm-timeout: 180
. "$RSWAN_VM_LIB"

D=$RSWAN_BIN/rswand
C=$RSWAN_BIN/rswanctl
[ -x "$D" ] && [ -x "$C" ] || fail "rswand/rswanctl missing in $RSWAN_BIN (cargo build --release -p rswan)"

topo_two_gateways
EX=$RSWAN_REPO/examples/site-to-site
install -m 600 "$EX/west.yaml" "$WORK/west.yaml"
install -m 600 "$EX/east.yaml" "$WORK/east.yaml"
rswand_pair

out=$(ctl west up west-east --timeout 30) || fail "up failed: $out"
assert_ping_ok west
ctl east diagnose west-east --json --sample 0 >"$WORK/east.json"
spi=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["phase2"][0]["spi_in"])' "$WORK/east.json")
log "deleting east's inbound SA 0x$spi"
in_ns east ip xfrm state delete src "$WEST_IP" dst "$EAST_IP" proto esp spi "0x$spi"
spawn_in west "$WORK/ping.log" ping -n -I "$WEST_LAN_IP" -c 16 -i 0.2 -W 1 "$EAST_LAN_IP"
ping=$SPAWNED_PID
sleep 0.3
out=$(ctl east diagnose west-east --sample 2)
wait "$ping" || true
printf '%s\n' "$out"
[ "$(head -n1 <<<"$out")" = "west-east: packets dropped by the kernel: ESP arrived for an SPI we do not have (XfrmInNoStates) — the peer uses a stale SA: restart the connection on the peer" ] ||
	fail "east: unexpected verdict"
grep -qE "XfrmInNoStates [0-9]+ \(\+[1-9]" <<<"$out" || fail "kernel line lacks the XfrmInNoStates rise"
pass
