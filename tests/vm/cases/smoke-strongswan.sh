#!/usr/bin/env bash
# Harness check: two strongSwan charon instances (west, east) bring up a PSK tunnel with
# swanctl; LAN-to-LAN ping passes through it with the guard in place. Proves the peer recipe
# that the interop cases build on.
# vm-build: none
# vm-timeout: 180
# shellcheck source=../lib.sh
. "$RSWAN_VM_LIB"

topo_two_gateways

charon_psk_pair "$WEST_IP" "mode = tunnel"
t0=$EPOCHREALTIME
charon_psk_up
[ "$(guard_drops east)" -gt 0 ] || fail "guard in east dropped nothing before the tunnel existed"
log "initiate took $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')s"

sas=$(swanctl_in east "$WORK/east" --list-sas)
printf '%s\n' "$sas"
grep -q 'ESTABLISHED' <<<"$sas" || fail "east lists no ESTABLISHED IKE SA"
grep -q 'INSTALLED, TUNNEL' <<<"$sas" || fail "east lists no INSTALLED tunnel-mode Child SA"

drops_before=$(guard_drops east)
assert_ping_ok west
assert_ping_ok east
[ "$(guard_drops east)" = "$drops_before" ] || fail "guard in east dropped packets although the tunnel is up"
assert_sa_traffic west 2
assert_sa_traffic east 2
# Not `ip ... | grep -q`: grep's early exit would fail the pipeline (pipefail) with SIGPIPE.
states=$(in_ns west ip xfrm state list)
grep -q 'aead rfc4106(gcm(aes))' <<<"$states" || fail "west's SAs do not use AES-GCM"
pass
