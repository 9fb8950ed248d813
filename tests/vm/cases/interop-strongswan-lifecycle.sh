#!/usr/bin/env bash
# Interop with strongSwan 5.9.8 beyond the first handshake: rekeying and deletion (PSK, FQDN
# identities, default proposals). Two sub-cases, each on a fresh west/east topology:
#   rswan-init: rswand (west) initiates; charon (east) rekeys the Child SA (CREATE_CHILD_SA
#               with REKEY_SA), then the IKE SA; `rswanctl down` then deletes everything.
#   rswan-resp: charon (west) initiates; charon rekeys the Child SA, then the IKE SA;
#               `swanctl --terminate --ike` then deletes everything.
# After each rekey: rswand shows new SPIs with exactly one IKE SA / one installed Child SA, the
# kernel holds exactly 2 SAs per side (the old ones deleted) and LAN ping passes through the new
# ones. After the delete: no SAs in either kernel, charon/rswand list no IKE SA, and the guard
# drops LAN ping again.
# vm-timeout: 150
# shellcheck source=../lib.sh
. "$RSWAN_VM_LIB"

D=$RSWAN_BIN/rswand
C=$RSWAN_BIN/rswanctl
[ -x "$D" ] && [ -x "$C" ] || fail "rswand/rswanctl missing in $RSWAN_BIN (cargo build --release -p rswan)"

PSK="plain-ascii interop psk, west and east"
# Empty = the daemon's default proposals (key left out of both configurations).
IKE_SW='' ESP_SW='' IKE_RS='' ESP_RS=''

# All daemon logs end up in $RESULTS, named by sub-case: after each sub-case (a case killed by
# its timeout runs no exit actions) and at exit (on_exit inside a sub-case's subshell is lost).
save_logs() {
	local f s
	for f in "$WORK"/*/*/*.log "$WORK"/*/*/*.out "$WORK"/*/*/*.json; do
		[ -e "$f" ] || continue
		s=${f#"$WORK"/}
		cp "$f" "$RESULTS/${s//\//-}"
	done
}
on_exit save_logs

rswan_conf() { # <file> <local ip> <remote ip> <local id> <remote id> <local ts> <remote ts>
	(
		umask 077
		cat >"$1" <<-EOT
			connections:
			  interop:
			    version: 2
			    local_addrs: [$2]
			    remote_addrs: [$3]
			    ${IKE_RS:+proposals: [$IKE_RS]}
			    local: {auth: psk, id: $4}
			    remote: {auth: psk, id: $5}
			    children:
			      net:
			        local_ts: [$6]
			        remote_ts: [$7]
			        ${ESP_RS:+esp_proposals: [$ESP_RS]}
			        mode: tunnel
			        start_action: none
			secrets:
			  ike-interop:
			    id: [$4, $5]
			    secret: "$PSK"
		EOT
	)
}

swanctl_conf() { # <dir> <local ip> <remote ip> <local id> <remote id> <local ts> <remote ts>
	mkdir -p "$1"
	cat >"$1/swanctl.conf" <<-EOT
		connections {
			interop {
				version = 2
				local_addrs = $2
				remote_addrs = $3
				${IKE_SW:+proposals = $IKE_SW}
				local { auth = psk
					id = $4 }
				remote { auth = psk
					id = $5 }
				children {
					net {
						local_ts = $6
						remote_ts = $7
						${ESP_SW:+esp_proposals = $ESP_SW}
						mode = tunnel
					}
				}
			}
		}
		secrets {
			ike-1 { id-1 = $4
				id-2 = $5
				secret = "$PSK" }
		}
	EOT
}

rswand_start() { # <ns> <dir>
	spawn_in "$1" "$2/rswand.log" env RUST_LOG=debug "$D" --config "$2/rswan.yaml" --socket "$2/rswan.sock"
	wait_for 20 "rswand in $1 to open its control socket" test -S "$2/rswan.sock"
}

# Checks rswand's own view: IKE SA established, Child SA installed, all four counters non-zero.
# Prints one summary line; exits non-zero with the reason otherwise.
rswan_status_ok() { # <dir>
	"$C" --socket "$1/rswan.sock" status --json >"$1/status.json" || return 1
	python3 - "$1/status.json" <<-'EOP'
		import json, sys
		j = json.load(open(sys.argv[1]))
		c = [x for x in j["connections"] if x["name"] == "interop"]
		if not c: sys.exit("no connection 'interop' in status")
		c = c[0]
		ike = [s for s in c["ike_sas"] if s["state"] == "established"]
		if not ike: sys.exit("no established IKE SA: %s" % [s["state"] for s in c["ike_sas"]])
		ch = [s for s in c["children"] if s["state"] == "installed"]
		if not ch: sys.exit("no installed Child SA: %s" % [s["state"] for s in c["children"]])
		k = ch[0].get("counters") or {}
		vals = [k.get(n, 0) for n in ("enc_packets", "enc_bytes", "dec_packets", "dec_bytes")]
		if 0 in vals: sys.exit("zero Child SA counter (enc pkts, enc bytes, dec pkts, dec bytes): %s" % vals)
		print("rswan: IKE %s %s<->%s ids %s<->%s algs %s; child %s spi in/out %s/%s algs %s counters %s" % (
			"initiator" if ike[0]["initiator"] else "responder", ike[0]["local"], ike[0]["remote"],
			ike[0]["local_id"], ike[0]["remote_id"], ike[0]["algorithms"], ch[0]["name"],
			ch[0]["spi_in"], ch[0]["spi_out"], ch[0]["algorithms"], vals))
	EOP
}

# One line about rswand's view: "<ike spis> <established IKE SAs> <child spi_in> <installed
# Child SAs>" (spis "-" when there is none).
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

# rekeyed <dir> <old brief> <field: 1 = IKE, 3 = child>: true once that SPI changed and there is
# exactly one IKE SA and one Child SA again, and each kernel holds exactly 2 SAs.
rekeyed() {
	local b
	b=$(rswan_brief "$1") || return 1
	read -r -a now <<<"$b"
	read -r -a old <<<"$2"
	[ "${now[$(($3 - 1))]}" != "${old[$(($3 - 1))]}" ] && [ "${now[1]}" = 1 ] && [ "${now[3]}" = 1 ] &&
		[ "$(xfrm_state_count west)" = 2 ] && [ "$(xfrm_state_count east)" = 2 ]
}

all_gone() { # <rswan dir> <charon ns> <charon dir>
	local b sas
	[ "$(xfrm_state_count west)" = 0 ] && [ "$(xfrm_state_count east)" = 0 ] || return 1
	b=$(rswan_brief "$1") || return 1
	[ "$(cut -d' ' -f2 <<<"$b")" = 0 ] || return 1
	sas=$(swanctl_in "$2" "$3" --list-sas) || return 1
	! grep -q 'ESTABLISHED' <<<"$sas"
}

# rekeys <charon ns> <charon dir> <rswan dir>: charon rekeys the Child SA, then the IKE SA.
rekeys() {
	local ns=$1 S=$2 R=$3 b0 b1 out
	b0=$(rswan_brief "$R")
	log "before rekeys (ike spis, #ike, child spi_in, #children): $b0"
	must swanctl_in "$ns" "$S" --rekey --child net
	wait_for 20 "rswand to replace the Child SA after charon's rekey" rekeyed "$R" "$b0" 3
	b1=$(rswan_brief "$R")
	log "after Child SA rekey: $b1"
	assert_ping_ok west
	assert_ping_ok east
	assert_sa_traffic west 2
	assert_sa_traffic east 2
	must swanctl_in "$ns" "$S" --rekey --ike interop
	wait_for 20 "rswand to replace the IKE SA after charon's rekey" rekeyed "$R" "$b1" 1
	log "after IKE SA rekey: $(rswan_brief "$R")"
	out=$(swanctl_in "$ns" "$S" --list-sas)
	printf '%s\n' "$out"
	[ "$(grep -c 'ESTABLISHED' <<<"$out")" = 1 ] || fail "charon does not list exactly one ESTABLISHED IKE SA after the rekey"
	assert_ping_ok west
	assert_ping_ok east
	# The Child SA must now live under the new IKE SA: check rswand's full view again.
	out=$(rswan_status_ok "$R" 2>&1) || fail "rswand status after the rekeys: $out"
	log "$out"
}

sub_rswan_init() {
	local R=$WORK/rswan-init/west S=$WORK/rswan-init/east out
	mkdir -p "$R" "$S"
	topo_two_gateways
	rswan_conf "$R/rswan.yaml" "$WEST_IP" "$EAST_IP" west.example.org east.example.org "$WEST_LAN" "$EAST_LAN"
	swanctl_conf "$S" "$EAST_IP" "$WEST_IP" east.example.org west.example.org "$EAST_LAN" "$WEST_LAN"
	charon_start east "$S"
	rswand_start west "$R"
	out=$("$C" --socket "$R/rswan.sock" up interop --timeout 40 2>&1) || {
		printf '%s\n' "$out"
		fail "rswan-init: rswanctl up interop failed"
	}
	assert_ping_ok west
	rekeys east "$S" "$R"
	out=$("$C" --socket "$R/rswan.sock" down interop 2>&1) || { printf '%s\n' "$out"; fail "rswan-init: rswanctl down failed"; }
	printf '%s\n' "$out"
	wait_for 15 "SAs to be gone on both sides after rswanctl down" all_gone "$R" east "$S"
	assert_ping_fails west
	log "rswan-init: ok"
}

sub_rswan_resp() {
	local S=$WORK/rswan-resp/west R=$WORK/rswan-resp/east out
	mkdir -p "$R" "$S"
	topo_two_gateways
	swanctl_conf "$S" "$WEST_IP" "$EAST_IP" west.example.org east.example.org "$WEST_LAN" "$EAST_LAN"
	rswan_conf "$R/rswan.yaml" "$EAST_IP" "$WEST_IP" east.example.org west.example.org "$EAST_LAN" "$WEST_LAN"
	rswand_start east "$R"
	charon_start west "$S"
	must swanctl_in west "$S" --initiate --child net --timeout 40
	assert_ping_ok west
	rekeys west "$S" "$R"
	must swanctl_in west "$S" --terminate --ike interop --timeout 20
	wait_for 15 "SAs to be gone on both sides after swanctl --terminate" all_gone "$R" west "$S"
	assert_ping_fails west
	log "rswan-resp: ok"
}

# Each sub-case in its own subshell so that a failure in the first still lets the second run;
# `fail` inside records the first failure as the case's verdict. The ERR trap is re-armed because
# lib.sh's only turns failures of the case's main shell into verdicts.
run_sub() {
	local name=$1 rc=0
	log "=== sub-case $name"
	# Not `( ... ) || rc=$?`: inside a tested command, bash ignores set -e and the ERR trap.
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
run_sub rswan_init
run_sub rswan_resp
[ ${#failed[@]} = 0 ] || fail "sub-cases failed: ${failed[*]} (see log)"
pass
