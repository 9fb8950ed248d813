#!/usr/bin/env bash
# One valid COOKIE replayed from 3,000 source ports (tests/vm/ikeattack.py cookie-replay) at an
# rswand responder that demands cookies for every IKE_SA_INIT (cookie_threshold 0): the cookie is
# bound to the source port and good for one SA, so at most a handful of half-open SAs may
# result, and RSS stays bounded.
# vm-timeout: 150
. "$RSWAN_VM_LIB"
. "${BASH_SOURCE[0]%/*}/../attack.sh"

PORTS=3000
MAX_HALF_OPEN=5
RSS_BOUND_KB=$((8 * 1024))

topo_two_gateways
attack_configs "  cookie_threshold: 0
  half_open_limit: 1000
  block_threshold: 20"
# west's rswand would answer nothing here; only the responder runs.
start_east
rss0=$(rss_kb "$EAST_PID")
t0=$EPOCHREALTIME
attack west cookie-replay --target 192.0.2.2 --bind 192.0.2.1 --ports "$PORTS" --seconds 90
secs=$(elapsed "$t0")
rss1=$(rss_kb "$EAST_PID")
alive "$EAST_PID"
ho=$(half_open east)
created=$(json_field "$ATTACK_OUT" 'j["answers"].get("created", 0)')

report replays_sent "$(json_field "$ATTACK_OUT" 'j["sent"]')"
report answers "$(json_field "$ATTACK_OUT" 'j["answers"]')"
report half_open_after "$ho"
report rss_before_kb "$rss0"
report rss_after_kb "$rss1"
report rss_growth_kb "$((rss1 - rss0))"
report elapsed_seconds "$secs"

[ "$created" -le "$MAX_HALF_OPEN" ] || fail "the replayed cookie created $created IKE SAs (at most $MAX_HALF_OPEN)"
[ "$ho" -le "$MAX_HALF_OPEN" ] || fail "$ho half-open SAs after the replay (at most $MAX_HALF_OPEN)"
[ "$((rss1 - rss0))" -le "$RSS_BOUND_KB" ] || fail "RSS grew by $((rss1 - rss0)) KiB (bound $RSS_BOUND_KB KiB)"
pass
