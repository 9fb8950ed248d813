#!/usr/bin/env bash
# Harness check for topo_nat: two strongSwan charons, west behind the masquerading `nat`
# namespace, bring up a PSK tunnel; the SAs must use UDP encapsulation (NAT-T) and LAN-to-LAN
# ping must pass through them with the guard in place.
# vm-build: none
# vm-timeout: 180
# shellcheck source=../lib.sh
. "$RSWAN_VM_LIB"

topo_nat

# conf <dir> <local addr> <remote addr> <local id> <remote id> <local ts> <remote ts>
conf() {
	mkdir -p "$1"
	cat >"$1/swanctl.conf" <<-EOT
		connections {
			net {
				version = 2
				local_addrs = $2
				remote_addrs = $3
				proposals = aes256gcm16-prfsha256-ecp256
				local { auth = psk
					id = $4 }
				remote { auth = psk
					id = $5 }
				children {
					net {
						local_ts = $6
						remote_ts = $7
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
}
# East does not know west's address behind the NAT: it accepts from anywhere.
conf "$WORK/west" "$WEST_IP" "$EAST_IP" west east "$WEST_LAN" "$EAST_LAN"
conf "$WORK/east" "$EAST_IP" "%any" east west "$EAST_LAN" "$WEST_LAN"

charon_start west "$WORK/west"
charon_start east "$WORK/east"

assert_ping_fails west
must swanctl_in west "$WORK/west" --initiate --child net --timeout 60

assert_ping_ok west
assert_ping_ok east
assert_sa_traffic west 2
assert_sa_traffic east 2
for ns in west east; do
	states=$(in_ns "$ns" ip xfrm state list)
	n=$(grep -c 'encap type espinudp' <<<"$states" || true)
	[ "$n" = 2 ] || {
		printf '%s\n' "$states"
		fail "$ns: expected 2 SAs with 'encap type espinudp' behind the NAT, found $n"
	}
done
# East must see west only as the NAT's outside address.
grep -q "$WEST_IP_SEEN" <<<"$(in_ns east ip xfrm state list)" || fail "east's SAs do not point at the NAT address $WEST_IP_SEEN"
pass
