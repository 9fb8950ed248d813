#!/usr/bin/env bash
# Rekey interop with strongSwan 5.9.8, with PFS. rswand (west) initiates to charon (east); both
# offer ESP aes256gcm16-$PFS_GROUP (the pfs sub-case runs with modp2048, then ecp256), so every
# Child SA rekey carries a KE.
#   pfs:      charon rekeys the Child SA (`swanctl --rekey --child`), then the IKE SA
#             (`--rekey --ike`); then rswand's own timer (child rekey_time 20s, rand_time 2s)
#             rekeys the Child SA towards charon. After each: new SPIs in rswand (exactly one
#             IKE SA / one Child SA), 2 SAs per kernel, charon lists the Child SA with the DH
#             group (proof of PFS) and LAN ping passes both ways.
#   mismatch: charon's child demands PFS, rswand's has no group (fine for IKE_AUTH, which never
#             does KE); charon's rekey must make rswand log the named diagnosis
#             "Child SA rekey failed: PFS mismatch: peer requires MODP_2048, child 'net' has no PFS group".
# vm-timeout: 300
# shellcheck source=../lib.sh
. "$RSWAN_VM_LIB"

# interop.sh brings save_logs, rswand_start, rswan_brief, rekeyed and run_sub; the
# configurations below are this case's own (child rekey timers, PFS group per sub-case).
PEER=strongswan
# shellcheck source=../interop.sh
. "${BASH_SOURCE[0]%/*}/../interop.sh"
PFS_GROUP=${PFS_GROUP:-modp2048}

rekey_rswan_conf() { # <file> <esp proposal> <child rekey_time> <child life_time> <rand_time>
	rswan_yaml west file="$1" name=interop child=net secret="$PSK" conn.proposals= \
		child.esp_proposals="[$2]" child.rekey_time="$3" child.life_time="$4" child.rand_time="$5"
}

rekey_swanctl_conf() { # <dir> <esp proposal>
	mkdir -p "$1"
	cat >"$1/swanctl.conf" <<-EOT
		connections {
			interop {
				version = 2
				local_addrs = $EAST_IP
				remote_addrs = $WEST_IP
				local { auth = psk
					id = east.example.org }
				remote { auth = psk
					id = west.example.org }
				children {
					net {
						local_ts = $EAST_LAN
						remote_ts = $WEST_LAN
						esp_proposals = $2
						mode = tunnel
					}
				}
			}
		}
		secrets {
			ike-1 { id-1 = east.example.org
				id-2 = west.example.org
				secret = "$PSK" }
		}
	EOT
}

# charon_pfs <dir>: charon lists one installed Child SA whose algorithms name the DH group.
charon_pfs() {
	local out grp
	grp=$(tr '[:lower:]' '[:upper:]' <<<"${PFS_GROUP/modp/MODP_}")
	grp=${grp/ECP/ECP_}
	out=$(swanctl_in east "$1" --list-sas) || return 1
	printf '%s\n' "$out" >"$1/list-sas.log"
	grep 'INSTALLED' <<<"$out" | grep -q "/$grp"
}

sub_pfs() {
	local R=$WORK/pfs-$PFS_GROUP/west S=$WORK/pfs-$PFS_GROUP/east out b0 b1 b2 n0
	mkdir -p "$R" "$S"
	topo_two_gateways
	rekey_rswan_conf "$R/rswan.yaml" "aes256gcm16-$PFS_GROUP" 20s 60s 2s
	rekey_swanctl_conf "$S" "aes256gcm16-$PFS_GROUP"
	charon_start east "$S"
	rswand_start west "$R"
	out=$("$C" --socket "$R/rswan.sock" up interop --timeout 40 2>&1) || { printf '%s\n' "$out"; fail "pfs: rswanctl up failed"; }
	assert_ping_ok west
	b0=$(rswan_brief "$R")
	log "pfs($PFS_GROUP): up (ike spis, #ike, child spi_in, #children): $b0"

	must swanctl_in east "$S" --rekey --child net
	wait_for 20 "rswand to replace the Child SA after charon's rekey" rekeyed "$R" "$b0" 3
	b1=$(rswan_brief "$R")
	log "pfs($PFS_GROUP): after charon's Child SA rekey: $b1"
	wait_for 10 "charon to list the rekeyed Child SA with its DH group" charon_pfs "$S"
	grep INSTALLED "$S/list-sas.log"
	assert_ping_ok west
	assert_ping_ok east

	must swanctl_in east "$S" --rekey --ike interop
	wait_for 20 "rswand to replace the IKE SA after charon's rekey" rekeyed "$R" "$b1" 1
	b2=$(rswan_brief "$R")
	# Counted with b2: under load, rswand's own rekey may come before the checks below are done.
	n0=$(grep -c 'CHILD_SA net{.*closed: rekeyed' "$R/rswand.log" || true)
	log "pfs($PFS_GROUP): after charon's IKE SA rekey: $b2"
	out=$(swanctl_in east "$S" --list-sas)
	[ "$(grep -c 'ESTABLISHED' <<<"$out")" = 1 ] || { printf '%s\n' "$out"; fail "charon does not list exactly one IKE SA after the IKE rekey"; }
	assert_ping_ok west
	assert_ping_ok east

	wait_for 40 "rswand's own Child SA rekey (rekey_time 20s)" rekeyed "$R" "$b2" 3
	log "pfs($PFS_GROUP): after rswand's own Child SA rekey: $(rswan_brief "$R")"
	[ "$(grep -c 'CHILD_SA net{.*closed: rekeyed' "$R/rswand.log")" -gt "$n0" ] || fail "rswand did not log its own rekey"
	wait_for 10 "charon to list rswand's rekeyed Child SA with its DH group" charon_pfs "$S"
	grep INSTALLED "$S/list-sas.log"
	assert_ping_ok west
	assert_ping_ok east
	assert_sa_traffic west 2
	assert_sa_traffic east 2
	log "pfs($PFS_GROUP): ok"
}

sub_mismatch() {
	local R=$WORK/mismatch/west S=$WORK/mismatch/east out line
	mkdir -p "$R" "$S"
	topo_two_gateways
	rekey_rswan_conf "$R/rswan.yaml" aes256gcm16 1h 2h 1m
	rekey_swanctl_conf "$S" "aes256gcm16-$PFS_GROUP"
	charon_start east "$S"
	rswand_start west "$R"
	out=$("$C" --socket "$R/rswan.sock" up interop --timeout 40 2>&1) || { printf '%s\n' "$out"; fail "mismatch: rswanctl up failed"; }
	assert_ping_ok west
	swanctl_in east "$S" --rekey --child net || true
	wait_for 20 "rswand to name the PFS mismatch" grep -q 'PFS mismatch' "$R/rswand.log"
	line=$(grep -m1 'Child SA rekey failed: PFS mismatch' "$R/rswand.log") || fail "no 'Child SA rekey failed: PFS mismatch' line: $(grep -m3 'PFS' "$R/rswand.log")"
	log "mismatch: rswand logged: $line"
	grep -q "peer requires ${PFS_GROUP/modp/MODP_}, child 'net' has no PFS group" <<<"$line" || fail "the diagnosis does not name the group and the child: $line"
	# The existing Child SA survives the failed rekey.
	assert_ping_ok west
	log "mismatch: ok"
}

failed=()
for PFS_GROUP in ${PFS_GROUPS:-modp2048 ecp256}; do
	run_sub pfs
done
PFS_GROUP=modp2048
run_sub mismatch
[ ${#failed[@]} = 0 ] || fail "sub-cases failed: ${failed[*]} (see log)"
pass
