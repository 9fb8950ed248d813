#!/usr/bin/env bash
# rswan in one command: two gateways (network namespaces "west" and "east", LANs 10.1.0.0/24 and
# 10.2.0.0/24) run rswand with examples/site-to-site/{west,east}.yaml; `rswanctl up` brings the
# tunnel up, a LAN-to-LAN ping goes through ESP (a firewall rule drops anything that did not come
# through IPsec), and both status tables are printed.
#
#   sudo examples/demo.sh
#
# Needs root (namespaces, XFRM). ESP itself needs kernel support: when this kernel lacks it, the
# demo says so and runs inside a small VM with Debian's stock kernel (tests/vm/run.sh; prepare
# that once with `sudo tests/vm/setup-host.sh`).
# vm-timeout: 180
set -euo pipefail

demo_body() {
	local bin=$1 ns
	for ns in west east; do
		install -m 600 "$RSWAN_REPO/examples/site-to-site/$ns.yaml" "$WORK/$ns.yaml"
		ip netns exec "$ns" "$bin/rswand" --config "$WORK/$ns.yaml" --socket "$WORK/$ns.sock" >"$WORK/$ns.log" 2>&1 &
		echo $! >"$WORK/$ns.pid"
	done
	for ns in west east; do
		wait_for 20 "rswand in $ns" test -S "$WORK/$ns.sock"
	done
	echo
	echo "\$ rswanctl up west-east        # in west"
	ip netns exec west "$bin/rswanctl" --socket "$WORK/west.sock" up west-east ||
		fail "rswanctl up failed (log: $WORK/west.log)"
	echo
	echo "\$ ping -I 10.1.0.1 10.2.0.1    # west LAN -> east LAN, through ESP"
	ip netns exec west ping -n -c 3 -i 0.3 -I 10.1.0.1 10.2.0.1 || fail "ping through the tunnel failed"
	for ns in west east; do
		echo
		echo "\$ rswanctl status              # in $ns"
		ip netns exec "$ns" "$bin/rswanctl" --socket "$WORK/$ns.sock" status
	done
	for ns in west east; do
		kill -TERM "$(cat "$WORK/$ns.pid")"
	done
	for ns in west east; do
		wait_for 10 "rswand in $ns to stop" sh -c "! kill -0 $(cat "$WORK/$ns.pid") 2>/dev/null"
	done
	echo
	echo "Both daemons stopped; SAs left in west: $(xfrm_state_count west), in east: $(xfrm_state_count east)."
}

# Inside the VM, run.sh runs this file as a test case.
if [ -n "${RSWAN_VM_LIB:-}" ]; then
	# shellcheck source=/dev/null
	. "$RSWAN_VM_LIB"
	topo_two_gateways
	demo_body "$RSWAN_BIN"
	pass
fi

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
say() { printf 'demo: %s\n' "$*"; }

[ "$(id -u)" = 0 ] || {
	say "needs root (network namespaces and the kernel's IPsec tables): sudo $0"
	exit 1
}

# Can this kernel do ESP? Try to add an AES-GCM SA in a scratch namespace.
kernel_has_esp() {
	local ns=rswan-demo-probe$$ ok=1
	ip netns add "$ns" 2>/dev/null || return 1
	if ip -n "$ns" xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x1000 mode tunnel \
		aead 'rfc4106(gcm(aes))' 0x0101010101010101010101010101010101010101 128 2>/dev/null; then
		ok=0
	fi
	ip netns del "$ns" 2>/dev/null || true
	return $ok
}

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
say "building rswand and rswanctl (cargo build --release -p rswan)"
(cd "$REPO" && cargo build --release -q -p rswan)
BIN=$CARGO_TARGET_DIR/release

if kernel_has_esp; then
	say "this kernel ($(uname -r)) supports ESP: running here"
	RESULTS=$(mktemp -d)
	CASE=demo
	RSWAN_REPO=$REPO
	export RESULTS CASE RSWAN_REPO
	# shellcheck source=/dev/null
	. "$REPO/tests/vm/lib.sh"
	topo_two_gateways
	demo_body "$BIN"
	pass
fi

say "this kernel ($(uname -r)) cannot run ESP (adding an AES-GCM ESP SA fails: no esp4/gcm support),"
say "so the demo runs inside a VM with Debian's stock kernel (tests/vm/run.sh, about 2 minutes)."
if [ ! -r "${RSWAN_VM_HOME:-/opt/rswan-vm}/env.sh" ]; then
	say "the VM harness is not set up yet: running tests/vm/setup-host.sh once (installs QEMU and a kernel)"
	"$REPO/tests/vm/setup-host.sh"
fi
RES=$(mktemp -d)
if RSWAN_VM_RESULTS=$RES "$REPO/tests/vm/run.sh" --no-build "$HERE/demo.sh" >"$RES.run.log" 2>&1; then
	grep -v '^\[[0-9.]*\] ' "$RES/cases/demo/log"
	say "done (inside the VM)"
else
	cat "$RES.run.log"
	say "the demo failed inside the VM; full output above, results in $RES"
	exit 1
fi
