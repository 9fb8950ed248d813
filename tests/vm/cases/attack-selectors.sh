#!/usr/bin/env bash
# An authenticated peer asking for too much: west's child "explode" proposes 255 single-host
# TSr selectors against east's two local_ts (udp and tcp of the same /24), which narrowing turns
# into 510 (this used to panic the responder: the TS payload holds at most 255), and its child
# "wide" asks for 100 x 100 host selectors (30,000 kernel policies). East stays alive, refuses
# them with TS_UNACCEPTABLE naming the setting (max_ts, max_policies), installs no policy for
# them, keeps the IKE SA and passes traffic through the ordinary child "lan"; with
# max_child_sas: 2 a third Child SA gets NO_ADDITIONAL_SAS.
# vm-timeout: 150
. "$RSWAN_VM_LIB"
. "${BASH_SOURCE[0]%/*}/../attack.sh"

topo_two_gateways

hosts=$(for i in $(seq 0 254); do printf '10.2.0.%s/32, ' "$i"; done)
west_nets=$(for i in $(seq 0 99); do printf '10.1.%s.0/32, ' "$i"; done)
east_nets=$(for i in $(seq 128 227); do printf '10.2.%s.0/32, ' "$i"; done)
cat >"$WORK/west.yaml" <<YAML
connections:
  west-east:
    local_addrs: [192.0.2.1]
    remote_addrs: [192.0.2.2]
    proposals: [aes256gcm16-prfsha256-x25519]
    local: { auth: psk, id: west.example.org }
    remote: { auth: psk, id: east.example.org }
    children:
      lan:
        local_ts: [10.1.0.0/24]
        remote_ts: [10.2.0.0/24]
        esp_proposals: [aes256gcm16]
      explode:
        local_ts: [10.1.0.0/24]
        remote_ts: [${hosts%, }]
        esp_proposals: [aes256gcm16]
      wide:
        local_ts: [${west_nets%, }]
        remote_ts: [${east_nets%, }]
        esp_proposals: [aes256gcm16]
      third:
        local_ts: [10.1.1.0/24]
        remote_ts: [10.2.1.0/24]
        esp_proposals: [aes256gcm16]
      fourth:
        local_ts: [10.1.2.0/24]
        remote_ts: [10.2.2.0/24]
        esp_proposals: [aes256gcm16]
secrets:
  ike-west-east:
    id: [west.example.org, east.example.org]
    secret: "correct horse battery staple, west and east"
YAML
cat >"$WORK/east.yaml" <<YAML
settings:
  max_ts: 255
  max_child_sas: 2
connections:
  west-east:
    local_addrs: [192.0.2.2]
    remote_addrs: [192.0.2.1]
    proposals: [aes256gcm16-prfsha256-x25519]
    local: { auth: psk, id: east.example.org }
    remote: { auth: psk, id: west.example.org }
    children:
      lan:
        local_ts: ["10.2.0.0/24[udp]", "10.2.0.0/24[tcp]", "10.2.0.0/24[icmp]"]
        remote_ts: [10.1.0.0/16]
        esp_proposals: [aes256gcm16]
      more:
        local_ts: [10.2.1.0/24, 10.2.2.0/24]
        remote_ts: [10.1.0.0/16]
        esp_proposals: [aes256gcm16]
      wide:
        local_ts: [10.2.128.0/17]
        remote_ts: [10.1.0.0/16]
        esp_proposals: [aes256gcm16]
secrets:
  ike-west-east:
    id: [west.example.org, east.example.org]
    secret: "correct horse battery staple, west and east"
YAML
chmod 600 "$WORK/west.yaml" "$WORK/east.yaml"
for f in west east; do
	out=$("$D" --check --config "$WORK/$f.yaml" 2>&1) || fail "$f.yaml refused: $out"
done
rswand_pair
EAST_PID=$(json_field "$(ctl east status --json)" 'j["daemon"]["pid"]')
rss0=$(rss_kb "$EAST_PID")

# IKE SA with the ordinary child first.
ctl west up west-east/lan --timeout 30 || fail "west-east/lan did not come up"
pol_lan=$(in_ns east ip xfrm policy list | grep -c '^src ' || true)

t0=$EPOCHREALTIME
ctl west up west-east/explode --timeout 20 && fail "the 510-selector child came up"
alive "$EAST_PID"
grep -q "settings.max_ts" "$WORK/east.log" || fail "east did not name max_ts: $(tail -5 "$WORK/east.log")"
ctl west up west-east/wide --timeout 20 && fail "the 100 x 100 child came up"
alive "$EAST_PID"
grep -q "settings.max_policies" "$WORK/east.log" || fail "east did not name max_policies: $(tail -5 "$WORK/east.log")"
pol_after=$(in_ns east ip xfrm policy list | grep -c '^src ' || true)
[ "$pol_after" = "$pol_lan" ] || fail "east has $pol_after policies, $pol_lan before the refused children"

# The IKE SA survived the refusals, and the first child still carries traffic.
est=$(json_field "$(ctl east status --json)" 'sum(1 for c in j["connections"] for s in c["ike_sas"] if s["state"] == "established")')
[ "$est" = 1 ] || fail "east has $est established IKE SAs after the refusals"
assert_ping_ok west

# max_child_sas: 2: lan and third fit, fourth does not.
ctl west up west-east/third --timeout 20 || fail "the second Child SA was refused"
ctl west up west-east/fourth --timeout 20 && fail "a third Child SA came up despite max_child_sas: 2"
grep -q "settings.max_child_sas" "$WORK/east.log" || fail "east did not name max_child_sas"
alive "$EAST_PID"
secs=$(elapsed "$t0")
rss1=$(rss_kb "$EAST_PID")
report policies_for_lan "$pol_lan"
report policies_after_refusals "$pol_after"
report rss_growth_kb "$((rss1 - rss0))"
report elapsed_seconds "$secs"
grep -E "max_ts|max_policies|max_child_sas" "$WORK/east.log" | head -5 || true
pass
