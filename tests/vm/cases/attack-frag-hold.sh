#!/usr/bin/env bash
# IKE SAs completed for real (x25519, AES-GCM; tests/vm/ikeattack.py frag-hold), each then sent
# fragments 1..63 of 64 (8,000 octets each) of an IKE_AUTH that never completes: with
# max_packet 10000 the responder must hold at most that much per SA, so RSS stays bounded (held
# whole, the fragments are about 1 MB per SA). Then, on a fresh responder, the same from SAs
# that never announced IKEV2_FRAGMENTATION_SUPPORTED, whose fragments must be dropped.
# vm-timeout: 180
. "$RSWAN_VM_LIB"
. "${BASH_SOURCE[0]%/*}/../attack.sh"

# Under block_threshold (20 half-open SAs per address).
SAS=16
FRAG_SIZE=8000
# 16 SAs holding at most max_packet (10,000 octets) each, the SAs themselves and allocator
# slack; 63 fragments of 8,000 octets held by 16 SAs would be about 8 MB, twice that when the
# datagram is kept beside the plaintext.
RSS_BOUND_KB=$((4 * 1024))

topo_two_gateways
attack_configs "  max_packet: 10000
  half_open_limit: 1000
  block_threshold: 20"
run_phase() {
	local name=$1 rss0 rss1 t0 secs sas
	shift
	start_east
	rss0=$(rss_kb "$EAST_PID")
	t0=$EPOCHREALTIME
	attack west frag-hold --target 192.0.2.2 --bind 192.0.2.1 --sas "$SAS" --total 64 --frag-size "$FRAG_SIZE" --seconds 60 "$@"
	secs=$(elapsed "$t0")
	rss1=$(rss_kb "$EAST_PID")
	alive "$EAST_PID"
	sas=$(json_field "$ATTACK_OUT" 'j["sas"]')
	report "${name}_sas" "$sas"
	report "${name}_fragments_sent" "$(json_field "$ATTACK_OUT" 'j["fragments_sent"]')"
	report "${name}_half_open_after" "$(half_open east)"
	report "${name}_rss_before_kb" "$rss0"
	report "${name}_rss_after_kb" "$rss1"
	report "${name}_rss_growth_kb" "$((rss1 - rss0))"
	report "${name}_elapsed_seconds" "$secs"
	[ "$sas" = "$SAS" ] || fail "$name: only $sas of $SAS IKE_SA_INITs completed: $ATTACK_OUT"
	[ "$((rss1 - rss0))" -le "$RSS_BOUND_KB" ] || fail "$name: RSS grew by $((rss1 - rss0)) KiB (bound $RSS_BOUND_KB KiB)"
	kill "$EAST_PID"
	wait_for 10 "rswand in east to stop" sh -c "! kill -0 $EAST_PID 2>/dev/null"
	mv "$WORK/east.log" "$RESULTS/rswand-east-$name.log"
	rm -f "$WORK/east.sock"
}
run_phase negotiated
frag=$(json_field "$ATTACK_OUT" 'j["responder_fragmentation"]')
[ "$frag" = "$SAS" ] || fail "the responder did not announce fragmentation on every SA ($frag of $SAS)"
run_phase not-negotiated --no-frag-notify
pass
