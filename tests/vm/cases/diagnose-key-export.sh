#!/usr/bin/env bash
# Key export decrypts a real capture: tcpdump in west records an rswan negotiation and a guarded
# LAN ping; both have `settings: key_export` (tables appended as the SAs appear, mode 0600), and
# east also exports on demand with `rswanctl export-keys` (which needs key_export and root). tshark (Debian's) with either side's tables
# shows the decrypted IKE_AUTH payloads (IDi with west's identity, AUTH, SA, TSi) and the ICMP
# inside ESP; without the tables it shows neither (so the assertions depend on the keys).
# vm-timeout: 300
. "$RSWAN_VM_LIB"

D=$RSWAN_BIN/rswand
C=$RSWAN_BIN/rswanctl
[ -x "$D" ] && [ -x "$C" ] || fail "rswand/rswanctl missing in $RSWAN_BIN (cargo build --release -p rswan)"
command -v tshark >/dev/null || fail "tshark missing: run tests/vm/setup-host.sh (it installs tshark)"

topo_two_gateways
EX=$RSWAN_REPO/examples/site-to-site
{
	printf 'settings:\n  key_export: %s\n' "$WORK/west-keys"
	cat "$EX/west.yaml"
} >"$WORK/west.yaml"
chmod 600 "$WORK/west.yaml"
{
	printf 'settings:\n  key_export: %s\n' "$WORK/east-auto-keys"
	cat "$EX/east.yaml"
} >"$WORK/east.yaml"
chmod 600 "$WORK/east.yaml"

spawn_in west "$WORK/tcpdump.log" tcpdump -i eth0 -n -U -w "$WORK/cap.pcap" 'udp port 500 or udp port 4500 or ip proto 50'
tcpdump_pid=$SPAWNED_PID
wait_for 30 "tcpdump listening" grep -q 'listening on' "$WORK/tcpdump.log"

rswand_pair
grep -q 'KEY EXPORT IS ON' "$WORK/west.log" || fail "west did not warn at startup that key export is on"

assert_ping_fails west
out=$(ctl west up west-east --timeout 30) || fail "up failed: $out"
assert_ping_ok west
assert_sa_traffic west 2
out=$(ctl east export-keys --dir "$WORK/east-keys") || fail "export-keys failed: $out"
log "$out"
grep -q 'keys of 1 IKE SA(s)' <<<"$out" && grep -q '2 ESP SA(s)' <<<"$out" || fail "export-keys counted wrong: $out"
sleep 0.5
kill -INT "$tcpdump_pid"
wait "$tcpdump_pid" || true
cp "$WORK/cap.pcap" "$RESULTS/capture.pcap"

for d in west-keys east-keys; do
	[ "$(stat -c %a "$WORK/$d/ikev2_decryption_table")" = 600 ] || fail "$d/ikev2_decryption_table is not mode 0600"
	[ "$(stat -c %a "$WORK/$d/esp_sa")" = 600 ] || fail "$d/esp_sa is not mode 0600"
	[ "$(grep -c . "$WORK/$d/ikev2_decryption_table")" = 1 ] || fail "$d: expected 1 IKE SA record"
	[ "$(grep -c . "$WORK/$d/esp_sa")" = 2 ] || fail "$d: expected 2 ESP SA records"
done
[ "$(stat -c %a "$WORK/west-keys")" = 700 ] || fail "key_export folder is not mode 0700"

# decode <profile dir|none>: tshark's verbose decode of the capture with these key tables.
decode() {
	local home=$WORK/home-$1
	mkdir -p "$home/.config/wireshark"
	if [ "$1" != none ]; then
		cp "$WORK/$1/ikev2_decryption_table" "$WORK/$1/esp_sa" "$home/.config/wireshark/"
	fi
	HOME=$home tshark -r "$WORK/cap.pcap" -n -o esp.enable_encryption_decode:TRUE -V 2>"$WORK/tshark-$1.err"
}
plain=$(decode none)
grep -q 'west.example.org' <<<"$plain" && fail "IDi visible without keys: the capture is not encrypted?"
grep -q 'Echo (ping) request' <<<"$plain" && fail "ICMP visible without keys: the ping was not in ESP"
for keys in west-keys east-keys; do
	v=$(decode "$keys")
	printf '%s\n' "$v" >"$RESULTS/tshark-$keys.txt"
	for want in 'Payload: Identification - Initiator (35)' 'Identification Data:west.example.org' \
		'Payload: Authentication (39)' 'Payload: Security Association (33)' \
		'Payload: Traffic Selector - Initiator (44)' 'Echo (ping) request' 'Echo (ping) reply'; do
		grep -qF "$want" <<<"$v" || fail "tshark with $keys: no '$want' in the decode (see tshark-$keys.txt)"
	done
	n=$(grep -c 'Echo (ping) request' <<<"$v" || true)
	[ "$n" -ge 3 ] || fail "tshark with $keys: $n decrypted echo requests, expected 3"
	log "$keys: IKE_AUTH and $n ESP-protected echo requests decrypted"
done
pass
