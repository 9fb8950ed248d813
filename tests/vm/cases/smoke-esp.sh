#!/usr/bin/env bash
# Harness check: manual AES-GCM tunnel-mode SAs with `ip xfrm` between west and east. Proves the
# guest kernel does ESP, the guard drops plain-text LAN traffic, and the SA counters move.
# vm-build: none
# vm-timeout: 120
# shellcheck source=../lib.sh
. "$RSWAN_VM_LIB"

topo_two_gateways

# No SA yet: LAN-to-LAN packets arrive in plain text and the guard must drop them.
assert_ping_fails west
drops=$(guard_drops east)
[ "$drops" -gt 0 ] || fail "guard in east dropped nothing while no SA existed"
log "guard in east dropped $drops packets before the SAs existed"

# Same keys and SPIs on both sides; one SA per direction.
K_WE=0x0101010101010101010101010101010101010101010101010101010101010101aabbccdd
K_EW=0x0202020202020202020202020202020202020202020202020202020202020202eeff0011
for ns in west east; do
	in_ns "$ns" ip -batch - <<-EOT
		xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x1000 reqid 1 mode tunnel aead 'rfc4106(gcm(aes))' $K_WE 128
		xfrm state add src 192.0.2.2 dst 192.0.2.1 proto esp spi 0x2000 reqid 1 mode tunnel aead 'rfc4106(gcm(aes))' $K_EW 128
	EOT
done
in_ns west ip -batch - <<-EOT
	xfrm policy add src $WEST_LAN dst $EAST_LAN dir out tmpl src 192.0.2.1 dst 192.0.2.2 proto esp reqid 1 mode tunnel
	xfrm policy add src $EAST_LAN dst $WEST_LAN dir in tmpl src 192.0.2.2 dst 192.0.2.1 proto esp reqid 1 mode tunnel
	xfrm policy add src $EAST_LAN dst $WEST_LAN dir fwd tmpl src 192.0.2.2 dst 192.0.2.1 proto esp reqid 1 mode tunnel
EOT
in_ns east ip -batch - <<-EOT
	xfrm policy add src $EAST_LAN dst $WEST_LAN dir out tmpl src 192.0.2.2 dst 192.0.2.1 proto esp reqid 1 mode tunnel
	xfrm policy add src $WEST_LAN dst $EAST_LAN dir in tmpl src 192.0.2.1 dst 192.0.2.2 proto esp reqid 1 mode tunnel
	xfrm policy add src $WEST_LAN dst $EAST_LAN dir fwd tmpl src 192.0.2.1 dst 192.0.2.2 proto esp reqid 1 mode tunnel
EOT

drops_before=$(guard_drops east)
assert_ping_ok west
assert_ping_ok east
[ "$(guard_drops east)" = "$drops_before" ] || fail "guard in east dropped packets although SAs exist"
assert_sa_traffic west 2
assert_sa_traffic east 2

# The same over IPv6 (outer and inner): proves esp6 and the topology's IPv6 half.
assert_ping_fails west "$EAST_LAN6_IP" "$WEST_LAN6_IP"
for ns in west east; do
	in_ns "$ns" ip -batch - <<-EOT
		xfrm state add src $WEST_IP6 dst $EAST_IP6 proto esp spi 0x3000 reqid 2 mode tunnel aead 'rfc4106(gcm(aes))' $K_WE 128
		xfrm state add src $EAST_IP6 dst $WEST_IP6 proto esp spi 0x4000 reqid 2 mode tunnel aead 'rfc4106(gcm(aes))' $K_EW 128
	EOT
done
in_ns west ip -batch - <<-EOT
	xfrm policy add src $WEST_LAN6 dst $EAST_LAN6 dir out tmpl src $WEST_IP6 dst $EAST_IP6 proto esp reqid 2 mode tunnel
	xfrm policy add src $EAST_LAN6 dst $WEST_LAN6 dir in tmpl src $EAST_IP6 dst $WEST_IP6 proto esp reqid 2 mode tunnel
EOT
in_ns east ip -batch - <<-EOT
	xfrm policy add src $EAST_LAN6 dst $WEST_LAN6 dir out tmpl src $EAST_IP6 dst $WEST_IP6 proto esp reqid 2 mode tunnel
	xfrm policy add src $WEST_LAN6 dst $EAST_LAN6 dir in tmpl src $WEST_IP6 dst $EAST_IP6 proto esp reqid 2 mode tunnel
EOT
assert_ping_ok west "$EAST_LAN6_IP" "$WEST_LAN6_IP"
assert_ping_ok east "$WEST_LAN6_IP" "$EAST_LAN6_IP"
assert_sa_traffic west 4
assert_sa_traffic east 4
pass
