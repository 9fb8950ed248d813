#!/usr/bin/env bash
# `rswanctl diagnose` names the cause of a failed negotiation on both gateways, from the
# daemon's failure memory: a wrong PSK, a KE group mismatch and an encryption mismatch (Phase 1,
# the responder names the parameter and both sides' values) and a traffic selector mismatch
# (Phase 2: IKE SA up, Child SA refused). East is reconfigured by reload between the scenarios.
# vm-timeout: 240
. "$RSWAN_VM_LIB"

D=$RSWAN_BIN/rswand
C=$RSWAN_BIN/rswanctl
[ -x "$D" ] && [ -x "$C" ] || fail "rswand/rswanctl missing in $RSWAN_BIN (cargo build --release -p rswan)"

topo_two_gateways
EX=$RSWAN_REPO/examples/site-to-site
install -m 600 "$EX/west.yaml" "$WORK/west.yaml"
install -m 600 "$EX/east.yaml" "$WORK/east.yaml"
rswand_pair
# east_config <sed expression>: east's example with one change, applied by reload.
east_config() {
	sed "$1" "$EX/east.yaml" >"$WORK/east.yaml"
	ctl east reload >/dev/null || fail "reload of east failed"
}
# expect_verdict <ns> <fixed string>: the first line of `diagnose` contains it (east answers
# asynchronously, so wait a little for its failure to be recorded).
expect_verdict() {
	local ns=$1 want=$2 out i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		out=$(ctl "$ns" diagnose west-east --sample 0)
		if head -n1 <<<"$out" | grep -qF -- "$want"; then
			printf '%s\n' "$out"
			log "$ns verdict ok: $want"
			return 0
		fi
		sleep 0.3
	done
	printf '%s\n' "$out"
	fail "$ns: diagnose verdict lacks: $want"
}
up_fails() {
	local out
	if out=$(ctl west up west-east --timeout 30 2>&1); then
		fail "up succeeded although it should fail: $out"
	fi
}

# 1. Wrong PSK.
east_config 's/correct horse battery staple, west and east/a different key/'
up_fails
expect_verdict west "west-east: Phase 1 failed: PSK mismatch (peer rejected our authentication)"
expect_verdict east "west-east: Phase 1 failed: PSK mismatch (the peer's AUTH does not match our PSK)"

# 2. KE group mismatch: east accepts only MODP-2048.
east_config 's/aes256gcm16-prfsha256-x25519/aes256gcm16-prfsha256-modp2048/'
up_fails
expect_verdict west "west-east: Phase 1 failed: IKE proposal mismatch: the peer accepted none of ours (NO_PROPOSAL_CHOSEN; we offered aes256gcm16-prfsha256-x25519)"
expect_verdict east "west-east: Phase 1 failed: IKE proposal mismatch: KE group — peer offered CURVE_25519; we accept MODP_2048"
ctl east diagnose west-east --json --sample 0 >"$WORK/east-ke.json"
grep -q '"parameter": "KE group"' "$WORK/east-ke.json" || fail "JSON lacks the parameter: $(cat "$WORK/east-ke.json")"

# 3. Encryption mismatch: east accepts only AES-CBC-128.
east_config 's/aes256gcm16-prfsha256-x25519/aes128-sha256-x25519/'
up_fails
expect_verdict west "Phase 1 failed: IKE proposal mismatch"
expect_verdict east "west-east: Phase 1 failed: IKE proposal mismatch: encryption — peer offered AES_GCM_16_256"

# 4. Selector mismatch: east expects another remote subnet; the IKE SA comes up, the Child SA not.
east_config 's#remote_ts: \[10.1.0.0/24\]#remote_ts: [10.9.0.0/24]#'
grep -q '10.9.0.0/24' "$WORK/east.yaml" || fail "east.yaml edit did not apply: $(cat "$WORK/east.yaml")"
up_fails
expect_verdict west "west-east: Phase 2 failed: traffic selector mismatch"
expect_verdict east "west-east: Phase 2 failed: traffic selector mismatch"
[ "$(xfrm_state_count west)" = 0 ] || fail "west has SAs after the failed Child SA"
pass
