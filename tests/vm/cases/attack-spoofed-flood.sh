#!/usr/bin/env bash
# A flood of IKE_SA_INIT requests from spoofed sources (tests/vm/ikeattack.py spoof-init, 50,000
# at 1,000 a second, cut at 55 s: 198.18.0.0/16 matches a road-warrior connection, half of them with
# proposals it accepts; 198.19.0.0/16 matches none) at an rswand responder in east, while the
# legitimate rswand in west brings up its tunnel and passes ESP traffic. The responder must stay
# up, the tunnel must come up while the flood still runs, the flood must cost at most a few hundred log lines (summaries,
# not a line per packet) and a bounded amount of memory.
# vm-timeout: 180
. "$RSWAN_VM_LIB"
. "${BASH_SOURCE[0]%/*}/../attack.sh"

COUNT=50000
# Under emulation rswand handles roughly 700 IKE_SA_INIT a second; much faster, and the kernel
# drops most datagrams (the legitimate ones too) before rswand sees them, which says nothing
# about rswand. 1,000 a second still overloads it a little.
RATE=1000
MIN_SENT=20000
MAX_LOG_LINES=300
# Half-open SAs stop at cookie_threshold for spoofed sources (they cannot return a COOKIE); the
# rest is the receive queue and allocator slack.
RSS_BOUND_KB=$((24 * 1024))

topo_two_gateways
# Answers to spoofed sources leave by a default route, as on the internet (west drops them);
# without one, loose reverse-path filtering would drop the flood before rswand sees it.
ip -n east route add default via 192.0.2.1
in_ns east sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0
attack_configs "  cookie_threshold: 30
  half_open_limit: 1000
  block_threshold: 20"
rswand_pair
pid=$(json_field "$(ctl east status --json)" 'j["daemon"]["pid"]')
rss0=$(rss_kb "$pid")
lines0=$(log_lines "$WORK/east.log")
t0=$EPOCHREALTIME

spawn_in west "$WORK/flood.out" "$PY" "$ATTACK" spoof-init --target 192.0.2.2 \
	--prefix 198.18.0.0/15 --match mix --count "$COUNT" --rate "$RATE" --seconds 55
flood=$SPAWNED_PID
sleep 3
out=$(ctl west up west-east --timeout 90) || fail "rswanctl up during the flood failed: $out"
printf '%s\n' "$out"
up_secs=$(elapsed "$t0")
kill -0 "$flood" 2>/dev/null || fail "the flood had ended (${up_secs}s) before the tunnel came up: no proof"
assert_ping_ok west
assert_ping_ok east
assert_sa_traffic west 2
wait "$flood" || fail "the flood tool failed: $(cat "$WORK/flood.out")"
flood_secs=$(elapsed "$t0")
cat "$WORK/flood.out"
sent=$(json_field "$(tail -1 "$WORK/flood.out")" 'j["sent"]')
rss1=$(rss_kb "$pid")
# One window for the summaries of the flood's last seconds.
sleep 11
alive "$pid"
lines=$(($(log_lines "$WORK/east.log") - lines0))
ho=$(half_open east)
st=$(json_field "$(cat "$WORK/status-east.json")" '[s["state"] for c in j["connections"] if c["name"] == "west-east" for s in c["ike_sas"]]')

report spoofed_sent "$sent"
report flood_seconds "$flood_secs"
report tunnel_up_after_seconds "$up_secs"
report log_lines_during_flood "$lines"
report rss_before_kb "$rss0"
report rss_after_kb "$rss1"
report rss_growth_kb "$((rss1 - rss0))"
report half_open_after "$ho"
log "east log during the flood (first 40 lines):"
tail -n +"$((lines0 + 1))" "$WORK/east.log" | head -40

[ "$sent" -ge "$MIN_SENT" ] || fail "only $sent spoofed packets sent: the flood proves nothing"
[[ "$st" == *established* ]] || fail "west-east IKE SA not established in east: $st"
[ "$lines" -le "$MAX_LOG_LINES" ] || fail "$lines log lines for $sent spoofed packets (at most $MAX_LOG_LINES)"
grep -Eq "IKE_SA_INIT from (more than )?[0-9,]+ sources in the last 10 s" "$WORK/east.log" ||
	fail "no summary line for the flood in east's log"
grep -q "<west-east> IKE_SA west-east established" "$WORK/east.log" ||
	fail "the legitimate peer's IKE SA line is missing from east's log"
[ "$((rss1 - rss0))" -le "$RSS_BOUND_KB" ] || fail "RSS grew by $((rss1 - rss0)) KiB (bound $RSS_BOUND_KB KiB)"
pass
