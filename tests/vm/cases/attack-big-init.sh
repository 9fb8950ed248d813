#!/usr/bin/env bash
# IKE_SA_INIT requests padded to 60,000 octets (tests/vm/ikeattack.py big-init) from 300 source
# ports at an rswand responder with max_packet 10000: none is answered, they show up as drops in
# the (debug) log, and RSS stays bounded. A request of ordinary size is answered, so the drops
# are about size.
# vm-timeout: 150
. "$RSWAN_VM_LIB"
. "${BASH_SOURCE[0]%/*}/../attack.sh"

COUNT=300
RSS_BOUND_KB=$((8 * 1024))

topo_two_gateways
attack_configs "  max_packet: 10000
  half_open_limit: 1000
  block_threshold: 20"
start_east RUST_LOG=debug
attack west big-init --target 192.0.2.2 --bind 192.0.2.1 --size 1500 --count 1 --seconds 10
small=$(json_field "$ATTACK_OUT" 'sum(j["answers"].values())')
[ "$small" = 1 ] || fail "a 1,500-octet IKE_SA_INIT was not answered: $ATTACK_OUT"

rss0=$(rss_kb "$EAST_PID")
t0=$EPOCHREALTIME
attack west big-init --target 192.0.2.2 --bind 192.0.2.1 --size 60000 --count "$COUNT" --seconds 60
secs=$(elapsed "$t0")
rss1=$(rss_kb "$EAST_PID")
alive "$EAST_PID"
answered=$(json_field "$ATTACK_OUT" 'sum(j["answers"].values())')
ho=$(half_open east)
drops=$(grep -c "dropped" "$WORK/east.log" || true)

report big_sent "$(json_field "$ATTACK_OUT" 'j["sent"]')"
report big_answered "$answered"
report half_open_after "$ho"
report drop_log_lines "$drops"
report rss_before_kb "$rss0"
report rss_after_kb "$rss1"
report rss_growth_kb "$((rss1 - rss0))"
report elapsed_seconds "$secs"
grep "dropped" "$WORK/east.log" | head -10 || true

[ "$answered" = 0 ] || fail "$answered of the 60,000-octet IKE_SA_INITs were answered"
[ "$ho" -le 1 ] || fail "$ho half-open SAs after oversized requests"
[ "$drops" -ge 1 ] || fail "no drop in east's log"
[ "$drops" -le 20 ] || fail "$drops drop lines for $COUNT datagrams: not summarised"
[ "$((rss1 - rss0))" -le "$RSS_BOUND_KB" ] || fail "RSS grew by $((rss1 - rss0)) KiB (bound $RSS_BOUND_KB KiB)"
pass
