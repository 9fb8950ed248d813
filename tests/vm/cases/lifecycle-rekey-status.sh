#!/usr/bin/env bash
# `rswanctl status` during a Child SA rekey, on a real kernel: west's rswand rekeys its Child SA
# after about 5 s (rekey_time 6s, rand_time 1s; east's never fires), and east's answers are
# held back by an nftables rule in east (IKE from UDP 500/4500 dropped) until the status was
# seen (west retransmits every second, for up to 30 s). While
# west's CREATE_CHILD_SA goes unanswered, `rswanctl status` shows the child as REKEYING and
# `status --json` as "rekeying", on the old SPIs; once the rule is gone, west's retransmission
# gets east's answer and the child is "installed" again with new SPIs, carrying pings.
# vm-timeout: 120
# shellcheck source=../lib.sh
. "$RSWAN_VM_LIB"

D=$RSWAN_BIN/rswand
C=$RSWAN_BIN/rswanctl
[ -x "$D" ] && [ -x "$C" ] || fail "rswand/rswanctl missing in $RSWAN_BIN (cargo build --release -p rswan)"

topo_two_gateways

# gw_conf <ns> <rekey_time> <life_time> <rand_time>
gw_conf() {
	rswan_yaml "$1" settings.retransmit_timeout=1s settings.retransmit_base=1.0 \
		settings.retransmit_tries=30 child.rekey_time="$2" child.life_time="$3" child.rand_time="$4"
}
gw_conf west 6s 60s 1s
gw_conf east 1h 2h 1m
for ns in west east; do
	spawn_in "$ns" "$WORK/$ns.log" "$D" --config "$WORK/$ns.yaml" --socket "$WORK/$ns.sock"
	on_exit "cp '$WORK/$ns.log' '$RESULTS/rswand-$ns.log' 2>/dev/null"
	wait_for 20 "rswand in $ns to open its control socket" test -S "$WORK/$ns.sock"
done

status() { in_ns west "$C" --socket "$WORK/west.sock" status "$@"; }
# child_line: state and SPIs of child lan in the text status ("REKEYING abcd_i ef01_o").
child_line() {
	local s
	s=$(status)
	awk '/^  child lan / { print $3, $6, $7 }' <<<"$s"
}
json_state() {
	local s
	s=$(status --json)
	python3 -c 'import json, sys
j = json.load(sys.stdin)
print(" ".join(ch["state"] for c in j["connections"] for ch in c["children"] if ch["name"] == "lan"))' <<<"$s"
}

out=$(in_ns west "$C" --socket "$WORK/west.sock" up gw --timeout 60 2>&1) || fail "rswanctl up failed: $out"
t_up=$EPOCHREALTIME
assert_ping_ok west

# East stops answering IKE before west's rekey (due 5-6 s after up) goes out.
in_ns east nft -f - <<-'EOT'
	table inet hold {
		chain out {
			type filter hook output priority 0; policy accept;
			udp sport { 500, 4500 } counter drop
		}
	}
EOT
before=$(child_line)
log "up: $before"
[ "${before%% *}" = INSTALLED ] || fail "child not installed before the rekey: $before"
rekeying() { [ "$(child_line | cut -d' ' -f1)" = REKEYING ]; }
wait_for 15 "west's status to show the child REKEYING" rekeying
t_rk=$EPOCHREALTIME
during=$(child_line)
js=$(json_state)
log "rekeying $(awk -v a="$t_up" -v b="$t_rk" 'BEGIN { printf "%.1f", b - a }') s after up: text '$during', json '$js'"
[ "$js" = rekeying ] || fail "status --json shows '$js' during the rekey, expected rekeying"
[ "${during#* }" = "${before#* }" ] || fail "SPIs changed before the rekey completed: $before -> $during"
status
# Still rekeying a little later: the state is not a flash between two polls.
sleep 1
[ "$(json_state)" = rekeying ] || fail "the child left REKEYING while east's answers were held"
held=$(in_ns east nft list table inet hold)
grep -q 'counter packets [1-9]' <<<"$held" || fail "the hold rule dropped nothing: $held"
in_ns east nft delete table inet hold
t_rel=$EPOCHREALTIME

installed() { [ "$(child_line | cut -d' ' -f1)" = INSTALLED ] && [ "$(json_state)" = installed ]; }
wait_for 15 "west's status to show the child installed again" installed
after=$(child_line)
log "installed $(awk -v a="$t_rel" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s after the hold ended: $after"
[ "${after#* }" != "${before#* }" ] || fail "the SPIs did not change: $before -> $after"
grep -q 'rekey' "$WORK/west.log" || fail "west's log has no rekey"
assert_ping_ok west
assert_sa_traffic west 2
pass
