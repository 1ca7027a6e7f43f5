#!/bin/sh
# libspice's tests in the test guest: guest_test (the library against the
# images the kernel writes) and guest_cli.sh (the spice command). POSIX sh
# (busybox ash).
#
#   run_tests.sh [--keep DIR]
#
# --keep DIR: where guest_test copies an image the reader rejected.
#
# Each part writes its TAP to a file of its own; they are then merged into
# one TAP stream on stdout, the tests numbered from 1, diagnostics kept, the
# plan last. A part whose plan is missing or does not match the tests it
# ran (a crash, say) counts as one more failed test. Exits 0 when every test
# passed or was skipped, 1 otherwise.
here=$(cd "$(dirname "$0")" && pwd)
keep=
case ${1:-} in
--keep) keep=${2:?--keep needs a directory} ;;
"") ;;
*) echo "usage: $0 [--keep DIR]" >&2; exit 2 ;;
esac

base=/tmp
[ -d /scratch ] && [ -w /scratch ] && base=/scratch
work=$base/spice-guest-tests.$$
parts=$work/parts
mkdir -p "$parts" || exit 1
rc=0

# A part's exit status: 0 passed, 4 (KSFT_SKIP) skipped, else failed.
status() {
	case $1 in
	0|4) ;;
	*) echo "# $2 exited with status $1" >>"$3"; rc=1 ;;
	esac
}

out=$parts/1-guest_test.tap
if [ -n "$keep" ]; then
	"$here/guest_test" --dir "$work" --keep "$keep" >"$out" 2>&1
else
	"$here/guest_test" --dir "$work" >"$out" 2>&1
fi
status $? guest_test "$out"

out=$parts/2-guest_cli.tap
sh "$here/guest_cli.sh" "$here/spice" "$work/cli" >"$out" 2>&1
status $? guest_cli.sh "$out"

for f in "$parts"/*.tap; do
	[ -s "$f" ] || echo "# no output" >"$f"
done

echo "TAP version 13"
awk '
function end_part() {
	if (plan == "" || plan != ran) {
		n++
		failed++
		print "not ok " n " - " part ": planned " \
			(plan == "" ? "no" : plan) " tests, ran " ran
	}
}
FNR == 1 {
	if (NR > 1)
		end_part()
	part = FILENAME
	sub(/.*\//, "", part)
	sub(/\.tap$/, "", part)
	sub(/^[0-9]+-/, "", part)
	ran = 0
	plan = ""
}
/^TAP version/ { next }
/^1\.\.[0-9]+/ {
	if (plan == "")
		plan = substr($1, 4) + 0
	next
}
/^(ok|not ok) [0-9]+/ {
	n++
	ran++
	verdict = "ok"
	if ($0 ~ /^not ok/) {
		verdict = "not ok"
		failed++
	}
	sub(/^(ok|not ok) [0-9]+/, verdict " " n)
	print
	next
}
/^#/ { print; next }
{ print "# " $0 }
END {
	end_part()
	print "1.." n
	exit failed ? 1 : 0
}' "$parts"/*.tap || rc=1
rm -rf "$work"
exit $rc
