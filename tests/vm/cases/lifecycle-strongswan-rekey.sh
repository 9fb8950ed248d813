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

D=$RSWAN_BIN/rswand
C=$RSWAN_BIN/rswanctl
[ -x "$D" ] && [ -x "$C" ] || fail "rswand/rswanctl missing in $RSWAN_BIN (cargo build --release -p rswan)"
PFS_GROUP=${PFS_GROUP:-modp2048}
PSK="plain-ascii rekey interop psk, west and east"

save_logs() {
	local f s
	for f in "$WORK"/*/*/*.log "$WORK"/*/*/*.json; do
		[ -e "$f" ] || continue
		s=${f#"$WORK"/}
		cp "$f" "$RESULTS/${s//\//-}"
	done
}
on_exit save_logs

rswan_conf() { # <file> <esp proposal> <child rekey_time> <child life_time> <rand_time>
	(
		umask 077
		cat >"$1" <<-EOT
			connections:
			  interop:
			    local_addrs: [$WEST_IP]
			    remote_addrs: [$EAST_IP]
			    local: {auth: psk, id: west.example.org}
			    remote: {auth: psk, id: east.example.org}
			    children:
			      net:
			        local_ts: [$WEST_LAN]
			        remote_ts: [$EAST_LAN]
			        esp_proposals: [$2]
			        rekey_time: $3
			        life_time: $4
			        rand_time: $5
			secrets:
			  ike-interop:
			    id: [west.example.org, east.example.org]
			    secret: "$PSK"
		EOT
	)
}

swanctl_conf() { # <dir> <esp proposal>
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

rswand_start() { # <dir>
	spawn_in west "$1/rswand.log" env RUST_LOG=debug "$D" --config "$1/rswan.yaml" --socket "$1/rswan.sock"
	wait_for 20 "rswand in west to open its control socket" test -S "$1/rswan.sock"
}

# "<ike spis> <established IKE SAs> <child spi_in> <installed Child SAs>"
rswan_brief() { # <dir>
	"$C" --socket "$1/rswan.sock" status --json >"$1/status-brief.json" || return 1
	python3 - "$1/status-brief.json" <<-'EOP'
		import json, sys
		j = json.load(open(sys.argv[1]))
		c = [x for x in j["connections"] if x["name"] == "interop"][0]
		ike = [s for s in c["ike_sas"] if s["state"] == "established"]
		ch = [s for s in c["children"] if s["state"] == "installed"]
		print(ike[0]["spi_i"] + ike[0]["spi_r"] if ike else "-", len(ike),
		      ch[0]["spi_in"] if ch else "-", len(ch))
	EOP
}

# rekeyed <dir> <old brief> <field: 1 = IKE, 3 = child>
rekeyed() {
	local b
	b=$(rswan_brief "$1") || return 1
	read -r -a now <<<"$b"
	read -r -a old <<<"$2"
	[ "${now[$(($3 - 1))]}" != "${old[$(($3 - 1))]}" ] && [ "${now[1]}" = 1 ] && [ "${now[3]}" = 1 ] &&
		[ "$(xfrm_state_count west)" = 2 ] && [ "$(xfrm_state_count east)" = 2 ]
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
	rswan_conf "$R/rswan.yaml" "aes256gcm16-$PFS_GROUP" 20s 60s 2s
	swanctl_conf "$S" "aes256gcm16-$PFS_GROUP"
	charon_start east "$S"
	rswand_start "$R"
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
	log "pfs($PFS_GROUP): after charon's IKE SA rekey: $b2"
	out=$(swanctl_in east "$S" --list-sas)
	[ "$(grep -c 'ESTABLISHED' <<<"$out")" = 1 ] || { printf '%s\n' "$out"; fail "charon does not list exactly one IKE SA after the IKE rekey"; }
	assert_ping_ok west
	assert_ping_ok east

	n0=$(grep -c 'CHILD_SA net{.*closed: rekeyed' "$R/rswand.log" || true)
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
	rswan_conf "$R/rswan.yaml" aes256gcm16 1h 2h 1m
	swanctl_conf "$S" "aes256gcm16-$PFS_GROUP"
	charon_start east "$S"
	rswand_start "$R"
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

run_sub() {
	local name=$1 rc=0
	log "=== sub-case $name"
	trap - ERR
	set +e
	(
		set -e
		trap 'fail "$name: line $LINENO: '\''$BASH_COMMAND'\'' exited with $?"' ERR
		"sub_$name"
	)
	rc=$?
	set -e
	trap '_lib_on_err $? $LINENO "$BASH_COMMAND"' ERR
	save_logs
	cleanup_topo
	[ "$rc" = 0 ] && log "=== sub-case $name: PASS" || { log "=== sub-case $name: FAIL"; failed+=("$name"); }
}

failed=()
for PFS_GROUP in ${PFS_GROUPS:-modp2048 ecp256}; do
	run_sub pfs
done
PFS_GROUP=modp2048
run_sub mismatch
[ ${#failed[@]} = 0 ] || fail "sub-cases failed: ${failed[*]} (see log)"
pass
