# shellcheck shell=bash
# Helpers for the attack-* cases, sourced after lib.sh: rswand configurations for east (the
# responder under attack) and west (a legitimate peer), the attack tool, and the measurements
# every case prints (RSS, log lines, half-open SAs, elapsed time).

D=$RSWAN_BIN/rswand
C=$RSWAN_BIN/rswanctl
PY=/usr/bin/python3
ATTACK=$RSWAN_REPO/tests/vm/ikeattack.py
[ -x "$D" ] && [ -x "$C" ] || fail "rswand/rswanctl missing in $RSWAN_BIN (cargo build --release -p rswan)"

# attack_configs "<settings lines, two-space indented>": west.yaml is the site-to-site example;
# east.yaml is its peer plus a road-warrior connection for 198.18.0.0/16 (so that spoofed
# sources from there match a connection and create half-open SAs, and 198.19.0.0/16 match
# none) and the given settings. Refuses to go on if rswand --check rejects them: the limits
# (half_open_limit, block_threshold, max_packet) come with the core's flood protection.
attack_configs() {
	install -m 600 "$RSWAN_REPO/examples/site-to-site/west.yaml" "$WORK/west.yaml"
	cat >"$WORK/east.yaml" <<-YAML
		settings:
		$1
		connections:
		  west-east:
		    local_addrs: [192.0.2.2]
		    remote_addrs: [192.0.2.1]
		    proposals: [aes256gcm16-prfsha256-x25519]
		    local: { auth: psk, id: east.example.org }
		    remote: { auth: psk, id: west.example.org }
		    children:
		      lan-lan:
		        local_ts: [10.2.0.0/24]
		        remote_ts: [10.1.0.0/24]
		        esp_proposals: [aes256gcm16]
		  rw:
		    local_addrs: [192.0.2.2]
		    remote_addrs: [198.18.0.0/16]
		    proposals: [aes256gcm16-prfsha256-x25519]
		    local: { auth: psk, id: east.example.org }
		    remote: { auth: psk, id: rw.example.org }
		    children:
		      rw:
		        local_ts: [10.2.0.0/24]
		        remote_ts: [10.9.0.0/24]
		secrets:
		  ike-west-east:
		    id: [west.example.org, east.example.org]
		    secret: "correct horse battery staple, west and east"
		  ike-rw:
		    id: [rw.example.org, east.example.org]
		    secret: "a road warrior secret that nobody sends"
	YAML
	chmod 600 "$WORK/east.yaml"
	local out
	out=$("$D" --check --config "$WORK/east.yaml" 2>&1) ||
		fail "east.yaml refused (do the core's settings half_open_limit/block_threshold/max_packet exist yet?): $out"
}

# start_east [env assignments...]: rswand in east alone; its pid in EAST_PID.
start_east() {
	spawn_in east "$WORK/east.log" env "$@" "$D" --config "$WORK/east.yaml" --socket "$WORK/east.sock"
	EAST_PID=$SPAWNED_PID
	on_exit "kill $EAST_PID 2>/dev/null; cp '$WORK/east.log' '$RESULTS/rswand-east.log' 2>/dev/null"
	wait_for 20 "east control socket" test -S "$WORK/east.sock"
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
log_lines() { wc -l <"$1"; }
alive() { kill -0 "$1" 2>/dev/null || fail "rswand (pid $1) died; its log: $(tail -20 "$WORK/east.log")"; }

# half_open <ns>: responder IKE SAs still waiting for IKE_AUTH, from `rswanctl status --json`
# (the top-level half_open count when the daemon reports one).
half_open() {
	ctl "$1" status --json >"$WORK/status-$1.json"
	"$PY" - "$WORK/status-$1.json" <<-'PY'
		import json, sys
		j = json.load(open(sys.argv[1]))
		n = j.get("half_open")
		if n is None:
		    n = sum(1 for c in j["connections"] for s in c["ike_sas"]
		            if not s["initiator"] and s["state"] != "established")
		print(n)
	PY
}

# json_field <json text> <python expression over j>
json_field() { "$PY" -c 'import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }

# attack <ns> <ikeattack args...>: runs the tool in <ns>, output (one JSON line) in ATTACK_OUT.
attack() {
	local ns=$1
	shift
	ATTACK_OUT=$(in_ns "$ns" "$PY" "$ATTACK" "$@") || fail "ikeattack $* failed: $ATTACK_OUT"
	log "ikeattack $1: $ATTACK_OUT"
}

# report <name> <value>: a measured figure, in the case log and in $RESULTS/figures.
report() {
	log "figure $1 = $2"
	echo "$1 $2" >>"$RESULTS/figures"
}
