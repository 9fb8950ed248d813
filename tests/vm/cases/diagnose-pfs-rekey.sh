#!/usr/bin/env bash
# PFS mismatch at rekey, named on both sides: two rswan gateways; west's child has a KE group in
# esp_proposals (aes256gcm16-x25519) and rekeys after 8 s, east's has none (aes256gcm16).
# IKE_AUTH carries no KE, so the tunnel comes up and passes traffic; the first CREATE_CHILD_SA
# rekey fails (east refuses with NO_PROPOSAL_CHOSEN). `rswanctl diagnose` then says "PFS
# mismatch" on both sides, each with its own view of who requires what, while the old Child SA
# still carries the guarded ping.
# vm-timeout: 200
. "$RSWAN_VM_LIB"

D=$RSWAN_BIN/rswand
C=$RSWAN_BIN/rswanctl
[ -x "$D" ] && [ -x "$C" ] || fail "rswand/rswanctl missing in $RSWAN_BIN (cargo build --release -p rswan)"

topo_two_gateways
EX=$RSWAN_REPO/examples/site-to-site
sed -e 's/^        esp_proposals: \[aes256gcm16\]$/        esp_proposals: [aes256gcm16-x25519]/' \
	-e 's/^        rekey_time: 1h$/        rekey_time: 8s\n        life_time: 120s\n        rand_time: 1s/' \
	"$EX/west.yaml" >"$WORK/west.yaml"
grep -q 'rekey_time: 8s' "$WORK/west.yaml" && grep -q 'aes256gcm16-x25519' "$WORK/west.yaml" ||
	fail "west.yaml edit did not apply"
chmod 600 "$WORK/west.yaml"
install -m 600 "$EX/east.yaml" "$WORK/east.yaml"
rswand_pair

out=$(ctl west up west-east --timeout 30) || fail "up failed: $out"
assert_ping_ok west
out=$(ctl west diagnose west-east --sample 0)
grep -q 'PFS mismatch' <<<"$out" && fail "PFS mismatch named before any rekey: $out"
wait_for 40 "west's rekey to fail on PFS" grep -q 'Child SA rekey failed: PFS mismatch' "$WORK/west.log"
wait_for 10 "east to log the PFS mismatch" grep -q 'Child SA rekey failed: PFS mismatch' "$WORK/east.log"

for ns in west east; do
	out=$(ctl "$ns" diagnose west-east --sample 0)
	printf '%s\n' "$out"
	printf '%s\n' "$out" >"$RESULTS/diagnose-$ns.txt"
	case $ns in
	west) want="west-east: Phase 2 rekey failed: PFS mismatch: child 'lan-lan' requires CURVE_25519, peer has no matching PFS group (NO_PROPOSAL_CHOSEN); the current Child SA ('lan-lan') works only until its lifetime ends" ;;
	east) want="west-east: Phase 2 rekey failed: PFS mismatch: peer requires CURVE_25519, child 'lan-lan' has no PFS group; the current Child SA ('lan-lan') works only until its lifetime ends" ;;
	esac
	[[ $(head -n1 <<<"$out") == "$want"* ]] || fail "$ns: unexpected verdict (want '$want...')"
	grep -q 'same KE group in esp_proposals' <<<"$out" || fail "$ns: no advice"
	grep -q 'parameter: PFS (KE group in esp_proposals):' <<<"$out" || fail "$ns: the failure line does not name PFS as the parameter"
	json=$(ctl "$ns" diagnose west-east --sample 0 --json)
	cause=$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["cause"])' <<<"$json")
	[ "$cause" = pfs-mismatch ] || fail "$ns: JSON cause is '$cause'"
done
# The old Child SA still carries traffic (the guard drops anything outside it).
assert_ping_ok west
pass
