#!/usr/bin/env bash
# Benchmark: 10,000 tunnels (2 SAs + 3 policies each, /24 selectors, AES-GCM) installed through
# rswan-xfrm and through `ip -batch` with the same set, in the same run, printed side by side.
# Fails if rswan-xfrm is slower than iproute2. Set XFRM_BENCH_TUNNELS to change the size. The
# IPv4 policy hash thresholds are set to 24/24 first (both contenders share the netns); with the
# kernel default (32/32) every /24 policy goes to the inexact list and installs get quadratic.
# vm-timeout: 2700
. "$RSWAN_VM_LIB"

T=$RSWAN_BIN/xfrm-vmtest
[ -x "$T" ] || fail "$T missing (cargo build --release -p rswan-xfrm --bins)"
n=${XFRM_BENCH_TUNNELS:-10000}

ip netns add bench
on_exit "ip netns del bench 2>/dev/null"
# One program generates the batch file and times both installs (forks are slow in the guest).
if ! in_ns bench "$T" bench --tunnels "$n" --work "$WORK" 2>&1 | tee "$WORK/bench.out"; then
	fail "xfrm-vmtest bench: $(tail -n1 "$WORK/bench.out")"
fi
grep '^bench:' "$WORK/bench.out" >"$RESULTS/bench.txt"
pass
