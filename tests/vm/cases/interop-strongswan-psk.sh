#!/usr/bin/env bash
# Interop with strongSwan 5.9.8 (charon + swanctl), PSK, FQDN identities, both sides on their
# default proposals (nothing configured). Two sub-cases, each on a fresh west/east topology:
#   rswan-init: rswand (west) initiates with `rswanctl up`, charon (east) responds;
#   rswan-resp: charon (west) initiates with `swanctl --initiate`, rswand (east) responds (charon
#               floats to UDP 4500 after IKE_SA_INIT because MOBIKE is on by default).
# Each proves: LAN ping fails before (guard drops it), passes both ways after without new guard
# drops, 2 SAs with traffic per side, rswanctl status --json shows the IKE SA established and the
# Child SA installed with non-zero counters, and swanctl --list-sas shows it on charon's side.
# Both sub-cases always run; the case fails if either does.
# vm-timeout: 150
# shellcheck source=../lib.sh
. "$RSWAN_VM_LIB"

D=$RSWAN_BIN/rswand
C=$RSWAN_BIN/rswanctl
[ -x "$D" ] && [ -x "$C" ] || fail "rswand/rswanctl missing in $RSWAN_BIN (cargo build --release -p rswan)"

PSK="plain-ascii interop psk, west and east"
# Empty = the daemon's default proposals (key left out of both configurations).
IKE_SW='' ESP_SW='' IKE_RS='' ESP_RS=''
# Expected algorithms in `ip xfrm state` (empty: anything).
XFRM_ALG=

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

# charon's view: established IKE SA, installed tunnel-mode child with packets in and out.
charon_sas_ok() { # <ns> <dir>
	local sas
	sas=$(swanctl_in "$1" "$2" --list-sas) || return 1
	printf '%s\n' "$sas"
	grep -q 'ESTABLISHED' <<<"$sas" || { echo "charon lists no ESTABLISHED IKE SA"; return 1; }
	grep -q 'INSTALLED, TUNNEL' <<<"$sas" || { echo "charon lists no INSTALLED tunnel-mode Child SA"; return 1; }
	grep -Eq '^ +in  .* [1-9][0-9]* packets' <<<"$sas" || { echo "charon: no inbound packets counted"; return 1; }
	grep -Eq '^ +out .* [1-9][0-9]* packets' <<<"$sas" || { echo "charon: no outbound packets counted"; return 1; }
}

# Traffic checks shared by both roles: ping fails before, passes after, guard unchanged.
traffic_ok() {
	local drops
	assert_ping_ok west
	assert_ping_ok east
	drops=$(guard_drops east)
	[ "$drops" = "$1" ] || fail "guard in east dropped LAN packets although the tunnel is up ($1 -> $drops)"
	drops=$(guard_drops west)
	[ "$drops" = "$2" ] || fail "guard in west dropped LAN packets although the tunnel is up ($2 -> $drops)"
	assert_sa_traffic west 2
	assert_sa_traffic east 2
	if [ -n "$XFRM_ALG" ]; then
		local st
		st=$(in_ns west ip xfrm state list)
		grep -q "$XFRM_ALG" <<<"$st" || { printf '%s\n' "$st"; fail "west's SAs do not use $XFRM_ALG"; }
	fi
}

# The tunnel is not there yet: plain-text LAN traffic is dropped by the guard on both sides.
before() {
	assert_ping_fails west
	assert_ping_fails east
	[ "$(guard_drops east)" -gt 0 ] || fail "guard in east dropped nothing before the tunnel existed"
	[ "$(guard_drops west)" -gt 0 ] || fail "guard in west dropped nothing before the tunnel existed"
}

sub_rswan_init() {
	local R=$WORK/rswan-init/west S=$WORK/rswan-init/east out t0 dw de
	mkdir -p "$R" "$S"
	topo_two_gateways
	rswan_conf "$R/rswan.yaml" "$WEST_IP" "$EAST_IP" west.example.org east.example.org "$WEST_LAN" "$EAST_LAN"
	swanctl_conf "$S" "$EAST_IP" "$WEST_IP" east.example.org west.example.org "$EAST_LAN" "$WEST_LAN"
	charon_start east "$S"
	rswand_start west "$R"
	before
	de=$(guard_drops east) dw=$(guard_drops west)
	t0=$EPOCHREALTIME
	out=$("$C" --socket "$R/rswan.sock" up interop --timeout 40 2>&1) || {
		printf '%s\n' "$out"
		fail "rswan-init: rswanctl up interop failed"
	}
	printf '%s\n' "$out"
	log "rswan-init: up took $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')s"
	traffic_ok "$de" "$dw"
	out=$(rswan_status_ok "$R" 2>&1) || { printf '%s\n' "$out"; fail "rswan-init: rswand status: $out"; }
	log "$out"
	out=$(charon_sas_ok east "$S") || { printf '%s\n' "$out"; fail "rswan-init: charon (east) SAs: $(tail -n1 <<<"$out")"; }
	printf '%s\n' "$out"
	log "rswan-init: ok"
}

sub_rswan_resp() {
	local S=$WORK/rswan-resp/west R=$WORK/rswan-resp/east out t0 dw de
	mkdir -p "$R" "$S"
	topo_two_gateways
	swanctl_conf "$S" "$WEST_IP" "$EAST_IP" west.example.org east.example.org "$WEST_LAN" "$EAST_LAN"
	rswan_conf "$R/rswan.yaml" "$EAST_IP" "$WEST_IP" east.example.org west.example.org "$EAST_LAN" "$WEST_LAN"
	rswand_start east "$R"
	charon_start west "$S"
	before
	de=$(guard_drops east) dw=$(guard_drops west)
	t0=$EPOCHREALTIME
	out=$(swanctl_in west "$S" --initiate --child net --timeout 40 2>&1) || {
		printf '%s\n' "$out"
		fail "rswan-resp: swanctl --initiate failed: $(grep -E 'error|failed|no proposal|peer' <<<"$out" | tail -n 3 | tr '\n' ' ' || true)"
	}
	printf '%s\n' "$out"
	log "rswan-resp: initiate took $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')s"
	traffic_ok "$de" "$dw"
	out=$(rswan_status_ok "$R" 2>&1) || { printf '%s\n' "$out"; fail "rswan-resp: rswand status: $out"; }
	log "$out"
	out=$(charon_sas_ok west "$S") || { printf '%s\n' "$out"; fail "rswan-resp: charon (west) SAs: $(tail -n1 <<<"$out")"; }
	printf '%s\n' "$out"
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
