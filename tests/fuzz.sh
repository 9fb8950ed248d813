#!/usr/bin/env bash
# Runs each cargo-fuzz target of ikev2/fuzz for a short time; each target counts as one test.
#
#   tests/fuzz.sh [target ...]        (default: every target in ikev2/fuzz/Cargo.toml)
#
# RSWAN_FUZZ_SECONDS (default 25) is the time per target. Runs without a sanitizer (`-s none`),
# which the stable toolchain builds as is. A target passes when libFuzzer ran it for the whole
# time without a crash, a leak, a timeout or running out of memory; a failing input is left in
# ikev2/fuzz/artifacts/<target>/ and printed in base64, so a CI log is enough to reproduce it.
# New corpus entries go to a temporary directory: the committed seeds are never changed.
# Needs cargo-fuzz (CI installs it in .ci/run): cargo install cargo-fuzz --locked --version 0.13.2
# Ends with `fuzz: N passed, N failed`.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FUZZ=$(cd "$HERE/../ikev2/fuzz" && pwd)
secs=${RSWAN_FUZZ_SECONDS:-25}

case ${1:-} in
-h | --help)
	sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
esac

if ! cargo fuzz --version >/dev/null 2>&1; then
	echo "fuzz: cargo-fuzz is missing: cargo install cargo-fuzz --locked --version 0.13.2" >&2
	exit 2
fi

cd "$FUZZ"
if [ $# -gt 0 ]; then
	targets=("$@")
else
	mapfile -t targets < <(cargo fuzz list)
fi

pass=0 fail=0
t0=$EPOCHSECONDS
echo "fuzz: building ${#targets[@]} targets (release, no sanitizer)"
if ! cargo fuzz build -s none; then
	echo "fuzz: build failed"
	echo "fuzz: 0 passed, ${#targets[@]} failed"
	exit 1
fi
echo "fuzz: built in $((EPOCHSECONDS - t0))s; ${secs}s per target"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
results=()
for t in "${targets[@]}"; do
	mkdir -p "$work/$t" "artifacts/$t"
	log=$work/$t.log
	seeds=()
	[ -d "corpus/$t" ] && seeds=("corpus/$t")
	extra=()
	# Its findings need long inputs (hundreds of selectors): allow them from the start rather than
	# letting libFuzzer grow the length limit slowly from the longest seed.
	[ "$t" = established_peer ] && extra=(-max_len=16384 -len_control=0)
	set +e
	# -rss_limit_mb: a leak or unbounded growth fails the target instead of the machine.
	cargo fuzz run -s none "$t" "$work/$t" "${seeds[@]}" -- \
		-max_total_time="$secs" -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 "${extra[@]}" >"$log" 2>&1
	rc=$?
	set -e
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
	if [ "$rc" = 0 ]; then
		pass=$((pass + 1))
		results+=("$(printf '%-26s ok      %10s runs in %ss' "$t" "${runs:-?}" "$secs")")
	else
		fail=$((fail + 1))
		results+=("$(printf '%-26s FAILED  (exit %s)' "$t" "$rc")")
		echo "---- fuzz: $t failed:"
		grep -m1 -A3 -E 'panicked at|ERROR: libFuzzer|==ERROR' "$log" || true
		echo "---- fuzz: the end of its log:"
		tail -n 40 "$log"
		sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | while read -r a; do
			[ -f "$a" ] || continue
			echo "---- fuzz: failing input ikev2/fuzz/${a#"$FUZZ"/} (base64):"
			base64 -w 76 "$a" | head -n 200
		done
	fi
done

echo
printf 'fuzz: %s\n' "${results[@]}"
echo "fuzz: $pass passed, $fail failed"
[ "$fail" = 0 ]
