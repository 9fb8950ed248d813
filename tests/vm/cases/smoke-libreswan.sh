#!/usr/bin/env bash
# Harness check: libreswan's pluto (west, run by path from the unpacked tree) brings up a PSK
# tunnel with strongSwan's charon (east); LAN-to-LAN ping passes through it with the guard in
# place. Proves the pluto recipe that libreswan interop cases build on.
# vm-build: none
# vm-timeout: 180
# shellcheck source=../lib.sh
. "$RSWAN_VM_LIB"

topo_two_gateways

W=$WORK/west E=$WORK/east
mkdir -p "$W" "$E"
# ipsec.conf needs indented keys: spaces, since <<- strips tabs.
cat >"$W/ipsec.conf" <<-EOT
	config setup
	    plutodebug=none
	conn net
	    ikev2=yes
	    authby=secret
	    left=$WEST_IP
	    leftid=@west
	    leftsubnet=$WEST_LAN
	    leftupdown=%disabled
	    right=$EAST_IP
	    rightid=@east
	    rightsubnet=$EAST_LAN
	    ike=aes_gcm256-sha2_256;dh19
	    esp=aes_gcm256
	    auto=add
EOT
echo '@west @east : PSK "plain-ascii-smoke-psk"' >"$W/ipsec.secrets"
cat >"$E/swanctl.conf" <<-EOT
	connections {
		net {
			version = 2
			local_addrs = $EAST_IP
			remote_addrs = $WEST_IP
			proposals = aes256gcm16-prfsha256-ecp256
			local { auth = psk
				id = east }
			remote { auth = psk
				id = west }
			children {
				net {
					local_ts = $EAST_LAN
					remote_ts = $WEST_LAN
					esp_proposals = aes256gcm16
				}
			}
		}
	}
	secrets {
		ike-1 { id-1 = west
			id-2 = east
			secret = "plain-ascii-smoke-psk" }
	}
EOT

pluto_start west "$W"
charon_start east "$E"
wait_for 20 "pluto to load connection net" sh -c "ip netns exec west '$LIBRESWAN/usr/libexec/ipsec/whack' --ctlsocket '$W/run/pluto.ctl' --status | grep -q '\"net\"'"

assert_ping_fails west
[ "$(guard_drops east)" -gt 0 ] || fail "guard in east dropped nothing before the tunnel existed"

t0=$EPOCHREALTIME
must whack_in west "$W" --name net --initiate
log "initiate took $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')s"

sas=$(swanctl_in east "$E" --list-sas)
printf '%s\n' "$sas"
grep -q 'ESTABLISHED' <<<"$sas" || fail "east (charon) lists no ESTABLISHED IKE SA with pluto"
grep -q 'INSTALLED, TUNNEL' <<<"$sas" || fail "east (charon) lists no INSTALLED Child SA with pluto"

drops_before=$(guard_drops east)
assert_ping_ok west
assert_ping_ok east
[ "$(guard_drops east)" = "$drops_before" ] || fail "guard in east dropped packets although the tunnel is up"
assert_sa_traffic west 2
assert_sa_traffic east 2
pass
