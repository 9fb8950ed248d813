#!/usr/bin/env bash
# IKE SAs completed for real (x25519, AES-GCM; tests/vm/ikeattack.py frag-hold), each then sent
# fragments 1..63 of 64 of an IKE_AUTH that never completes: with max_packet 10000 the
# responder must not hold more than that per SA, so RSS stays bounded. Then the same from SAs
# that never announced IKEV2_FRAGMENTATION_SUPPORTED, whose fragments must be dropped. 2 x 8 SAs
# from one address stay under block_threshold (20).
# vm-timeout: 150
. "$RSWAN_VM_LIB"
. "${BASH_SOURCE[0]%/*}/../attack.sh"

SAS=8
# Eight SAs at max_packet (10,000 octets) each, plus the SAs themselves and allocator slack.
RSS_BOUND_KB=$((6 * 1024))

topo_two_gateways
attack_configs "  max_packet: 10000
  half_open_limit: 1000
  block_threshold: 20"
start_east
run_phase() {
	local name=$1 rss0 rss1 t0 secs sas
	shift
	rss0=$(rss_kb "$EAST_PID")
	t0=$EPOCHREALTIME
	attack west frag-hold --target 192.0.2.2 --bind 192.0.2.1 --sas "$SAS" --total 64 --frag-size 1000 --seconds 60 "$@"
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
}
run_phase negotiated
frag=$(json_field "$ATTACK_OUT" 'j["responder_fragmentation"]')
[ "$frag" = "$SAS" ] || fail "the responder did not announce fragmentation on every SA ($frag of $SAS)"
run_phase not-negotiated --no-frag-notify
pass
