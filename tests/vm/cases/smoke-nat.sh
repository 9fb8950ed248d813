#!/usr/bin/env bash
# Harness check for topo_nat: two strongSwan charons, west behind the masquerading `nat`
# namespace, bring up a PSK tunnel; the SAs must use UDP encapsulation (NAT-T) and LAN-to-LAN
# ping must pass through them with the guard in place.
# vm-build: none
# vm-timeout: 180
# shellcheck source=../lib.sh
. "$RSWAN_VM_LIB"

topo_nat

# East does not know west's address behind the NAT: it accepts from anywhere.
charon_psk_pair "%any"
charon_psk_up

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
