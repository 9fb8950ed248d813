#!/usr/bin/env bash
# Runs inside the VM (started by tests/vm/run.sh through vng --exec). Argument: the results
# dir, shared read-write with the host. Reads run.env and cases.list from it, runs each case
# in turn with a timeout, and leaves per-case status/log/seconds plus a done marker there.
set -uo pipefail

RESULTS_ROOT=${1:?usage: guest.sh <results dir>}
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
say() { printf 'vm-guest: %s\n' "$*"; }

# shellcheck source=/dev/null
. "$RESULTS_ROOT/run.env"
read -r uptime _ </proc/uptime
echo "$uptime" >"$RESULTS_ROOT/guest-uptime"
date +%s.%N >"$RESULTS_ROOT/guest-started"
say "up after ${uptime}s (guest uptime); kernel $(uname -r)"

# Everything the cases need from the kernel, loaded once. The crypto modules are preloaded
# so the first SA install in a case does not pay 1-2 s of on-demand module loading.
REQUIRED_MODULES=(esp4 esp6 xfrm_user xfrm4_tunnel xfrm6_tunnel xfrm_interface veth dummy nf_tables)
OPTIONAL_MODULES=(drbg jitterentropy_rng seqiv echainiv gcm ghash_generic ghash_clmulni_intel aesni_intel
	aes_generic chacha20poly1305 chacha_generic poly1305_generic authenc authencesn cbc ctr ccm
	sha1_generic sha256_generic sha512_generic hmac cmac xcbc curve25519_generic ecdh_generic
	nft_chain_nat nft_masq nf_nat nf_conntrack udp_tunnel ip6_udp_tunnel)
setup_error=
if ! modprobe -a "${REQUIRED_MODULES[@]}"; then
	setup_error="modprobe of a required module failed (${REQUIRED_MODULES[*]})"
fi
# Best effort: some depend on CPU features that the emulated CPU may lack.
modprobe -a -q "${OPTIONAL_MODULES[@]}" 2>/dev/null || true
for m in "${REQUIRED_MODULES[@]}"; do
	[ -d "/sys/module/$m" ] || setup_error="${setup_error:+$setup_error; }module $m not loaded"
done
read -r uptime _ </proc/uptime
say "modules loaded at ${uptime}s"

if [ -n "${RSWAN_BIN:-}" ] && [ ! -d "$RSWAN_BIN" ]; then
	say "note: RSWAN_BIN=$RSWAN_BIN is not visible in the guest"
fi

# Leaves the guest as a fresh boot would for the next case: no namespaces, no processes of
# the previous case, no XFRM state, no nftables rules, no extra links.
reset_guest() {
	local sid=$1 ns pid link
	if [ -n "$sid" ]; then
		pkill -KILL -s "$sid" 2>/dev/null || true
	fi
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null || true
		done
		ip netns del "$ns" 2>/dev/null || true
	done
	ip xfrm state flush 2>/dev/null || true
	ip xfrm policy flush 2>/dev/null || true
	nft flush ruleset 2>/dev/null || true
	for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
		[ "$link" = lo ] || ip link del "$link" 2>/dev/null || true
	done
}

n=0
total=$(wc -l <"$RESULTS_ROOT/cases.list")
while IFS=$'\t' read -r name path timeout_s; do
	n=$((n + 1))
	dir=$RESULTS_ROOT/cases/$name
	mkdir -p "$dir"
	if [ -n "$setup_error" ]; then
		echo "fail: guest setup: $setup_error" >"$dir/status"
		echo 0 >"$dir/seconds"
		say "[$n/$total] $name: fail (guest setup)"
		continue
	fi
	work=/tmp/rswan-vm/$name
	rm -rf "$work"
	mkdir -p "$work"
	say "[$n/$total] $name: start (timeout ${timeout_s}s)"
	t0=${EPOCHREALTIME/./}
	# setsid: the case and everything it starts share one session, so the whole lot can be
	# killed afterwards, even daemons a hung case left behind.
	RESULTS=$dir CASE=$name WORK=$work RSWAN_VM_LIB=$RSWAN_REPO/tests/vm/lib.sh \
		timeout -k 5 "$timeout_s" setsid --wait bash "$path" </dev/null >"$dir/log" 2>&1 &
	tpid=$!
	# The session id of the case is the pid of setsid's child; find it before it may exit.
	sid=
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		sid=$(ps -o sid= --ppid "$tpid" 2>/dev/null | head -n1 | tr -d ' ')
		[ -n "$sid" ] && break
		sleep 0.05
	done
	wait "$tpid"
	rc=$?
	t1=${EPOCHREALTIME/./}
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e6 }')
	echo "$secs" >"$dir/seconds"
	echo "$rc" >"$dir/exit-code"
	if [ ! -s "$dir/status" ]; then
		if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
			echo "fail: timed out after ${timeout_s}s" >"$dir/status"
		elif [ "$rc" != 0 ]; then
			echo "fail: case exited with code $rc without calling fail" >"$dir/status"
		else
			echo "fail: case exited 0 without calling pass" >"$dir/status"
		fi
	elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		echo "fail: timed out after ${timeout_s}s" >"$dir/status"
	fi
	reset_guest "$sid"
	say "[$n/$total] $name: $(head -n1 "$dir/status") (${secs}s)"
done <"$RESULTS_ROOT/cases.list"

date +%s.%N >"$RESULTS_ROOT/done"
say "done"
