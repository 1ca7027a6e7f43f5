#!/bin/sh
# Run the image fuzzer for a bounded time and report it as one TAP test.
#
#   run-fuzz.sh FUZZER SEEDS WORKDIR SECONDS
#
# FUZZER is the libFuzzer binary, or a name that does not exist when clang's
# libFuzzer is not available (then the test is skipped, saying so). SEEDS is
# the committed seed corpus, which is only read; new inputs go to
# WORKDIR/corpus, crashes to WORKDIR/artifacts, the log to WORKDIR/fuzz.log.
set -u
fuzzer=$1 seeds=$2 work=$3 seconds=$4

if [ ! -x "$fuzzer" ]; then
	echo "ok 1 - fuzz_image # SKIP clang with libFuzzer not available (apt-get install clang libclang-rt-14-dev)"
	echo "1..1"
	exit 0
fi
rm -rf "$work/artifacts"
mkdir -p "$work/corpus" "$work/artifacts"
ASAN_OPTIONS=abort_on_error=0:detect_leaks=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix="$work/artifacts/" \
	"$work/corpus" "$seeds" >"$work/fuzz.log" 2>&1
rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log" | tail -n 1)
secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$work/fuzz.log" | tail -n 1)
crashes=$(ls "$work/artifacts" 2>/dev/null | wc -l)
if [ "$rc" -eq 0 ] && [ "$crashes" -eq 0 ] && [ -n "$runs" ]; then
	echo "ok 1 - fuzz_image: ${runs} runs in ${secs:-?} s, no crash (seeds: $(ls "$seeds" | wc -l))"
else
	echo "not ok 1 - fuzz_image: exit status $rc, $crashes artifact(s) in $work/artifacts, log $work/fuzz.log"
	grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz_image:|.*runtime error)' "$work/fuzz.log" | head -5 | sed 's/^/# /'
fi
echo "1..1"
[ "$rc" -eq 0 ] && [ "$crashes" -eq 0 ]
