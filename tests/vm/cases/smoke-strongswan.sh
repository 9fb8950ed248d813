#!/usr/bin/env bash
# Harness check: two strongSwan charon instances (west, east) bring up a PSK tunnel with
# swanctl; LAN-to-LAN ping passes through it with the guard in place. Proves the peer recipe
# that the interop cases build on.
# vm-build: none
# vm-timeout: 180
# shellcheck source=../lib.sh
. "$RSWAN_VM_LIB"

topo_two_gateways

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
						mode = tunnel
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
conf "$WORK/west" "$WEST_IP" "$EAST_IP" west east "$WEST_LAN" "$EAST_LAN"
conf "$WORK/east" "$EAST_IP" "$WEST_IP" east west "$EAST_LAN" "$WEST_LAN"

charon_start west "$WORK/west"
charon_start east "$WORK/east"

assert_ping_fails west
[ "$(guard_drops east)" -gt 0 ] || fail "guard in east dropped nothing before the tunnel existed"

t0=$EPOCHREALTIME
must swanctl_in west "$WORK/west" --initiate --child net --timeout 60
log "initiate took $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')s"

sas=$(swanctl_in east "$WORK/east" --list-sas)
printf '%s\n' "$sas"
grep -q 'ESTABLISHED' <<<"$sas" || fail "east lists no ESTABLISHED IKE SA"
grep -q 'INSTALLED, TUNNEL' <<<"$sas" || fail "east lists no INSTALLED tunnel-mode Child SA"

drops_before=$(guard_drops east)
assert_ping_ok west
assert_ping_ok east
[ "$(guard_drops east)" = "$drops_before" ] || fail "guard in east dropped packets although the tunnel is up"
assert_sa_traffic west 2
assert_sa_traffic east 2
# Not `ip ... | grep -q`: grep's early exit would fail the pipeline (pipefail) with SIGPIPE.
states=$(in_ns west ip xfrm state list)
grep -q 'aead rfc4106(gcm(aes))' <<<"$states" || fail "west's SAs do not use AES-GCM"
pass
