#!/usr/bin/env bash
# Source NAT in front of the selector: the tunnel is up, then west gets the common firewall rule
# `oifname "eth0" masquerade`. It rewrites the LAN host's source after the IPsec policy matched;
# the kernel looks the policy up again, finds none, and the LAN ping leaves in plain text (it even
# gets answers, and no SA counts a packet). `rswanctl diagnose` on west reads the rule with nft,
# sees enc flat, and names "source NAT may be rewriting the source before the selector check".
# With the usual fix (an `ip daddr <remote LAN> accept` before the masquerade) the ping goes
# through the SAs and the verdict says traffic flows; idle afterwards (when diagnose reads the
# ruleset again) the exempted rule is not reported.
# vm-timeout: 200
. "$RSWAN_VM_LIB"

D=$RSWAN_BIN/rswand
C=$RSWAN_BIN/rswanctl
[ -x "$D" ] && [ -x "$C" ] || fail "rswand/rswanctl missing in $RSWAN_BIN (cargo build --release -p rswan)"

topo_two_gateways
EX=$RSWAN_REPO/examples/site-to-site
install -m 600 "$EX/west.yaml" "$WORK/west.yaml"
install -m 600 "$EX/east.yaml" "$WORK/east.yaml"
rswand_pair
# diagnose_with_traffic: west's diagnosis (2 s sample) while its LAN pings east's LAN.
diagnose_with_traffic() {
	spawn_in west "$WORK/ping.log" ping -n -I "$WEST_LAN_IP" -c 12 -i 0.2 -W 1 "$EAST_LAN_IP"
	local ping=$SPAWNED_PID
	sleep 0.3
	out=$(ctl west diagnose west-east --sample 2)
	wait "$ping" || true
	printf '%s\n' "$out"
}

out=$(ctl west up west-east --timeout 30) || fail "up failed: $out"
cat >"$WORK/nat.nft" <<-EOF
	table ip nat {
		chain postrouting {
			type nat hook postrouting priority 100; policy accept;
			oifname "eth0" masquerade
		}
	}
EOF
in_ns west nft -f "$WORK/nat.nft"

diagnose_with_traffic
printf '%s\n' "$out" >"$RESULTS/diagnose-nat.txt"
grep -q ' 0% packet loss\| [1-9][0-9]* received' "$WORK/ping.log" || log "ping got no answer (fine: the leak is what matters)"
leaked=$(xfrm_state_packets west | awk '$4 > 0')
[ -z "$leaked" ] || fail "SAs counted packets although the masquerade should bypass them: $leaked"
want="west-east: source NAT may be rewriting the source before the selector check: table ip nat chain postrouting: oifname eth0 masquerade"
[[ $(head -n1 <<<"$out") == "$want"* ]] || fail "unexpected verdict with the masquerade rule"
grep -q '`ip daddr 10.2.0.0/24 accept`' <<<"$out" || fail "no fix suggested"
grep -q 'source NAT on the tunnel.s traffic: table ip nat chain postrouting: oifname eth0 masquerade' <<<"$out" ||
	fail "the routing evidence does not show the rule"
json=$(ctl west diagnose west-east --sample 0 --json)
cause=$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["cause"])' <<<"$json")
[ "$cause" = source-nat ] || fail "JSON cause is '$cause'"

# The fix: exempt the remote LAN from the masquerade.
in_ns west nft insert rule ip nat postrouting ip daddr "$EAST_LAN" accept
diagnose_with_traffic
printf '%s\n' "$out" >"$RESULTS/diagnose-fixed.txt"
[ "$(head -n1 <<<"$out")" = "west-east: tunnel up ('lan-lan'): traffic flows both ways" ] ||
	fail "unexpected verdict after exempting the remote LAN"
grep -q 'source NAT' <<<"$out" && fail "source NAT still reported after the exemption"
assert_ping_ok west
assert_sa_traffic west 2
# Idle (enc flat again), so diagnose reads the ruleset once more: the exempted masquerade is not
# reported.
out=$(ctl west diagnose west-east --sample 1)
printf '%s\n' "$out" >"$RESULTS/diagnose-idle.txt"
[ "$(head -n1 <<<"$out")" = "west-east: tunnel up ('lan-lan'); no traffic during the sample" ] ||
	fail "unexpected verdict when idle with the exempted rule: $(head -n1 <<<"$out")"
pass
