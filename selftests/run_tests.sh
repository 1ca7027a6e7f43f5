#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Run every *_test binary in this script's directory (or in $1), kselftest
# style: a TAP plan over the binaries, each binary's own TAP output
# indented with "# ", then "ok"/"not ok" for the binary.
#
# A binary that exits 0 passed, 4 (KSFT_SKIP) was skipped; anything else
# failed, and makes this script exit 1. POSIX sh: runs under busybox.

KSFT_SKIP=4

cd "${1:-$(dirname "$0")}" || exit 1

n=0
for t in ./*_test; do
	[ -f "$t" ] && [ -x "$t" ] && n=$((n + 1))
done
if [ "$n" -eq 0 ]; then
	echo "no *_test binaries in $(pwd)" >&2
	exit 1
fi

echo "TAP version 13"
echo "1..$n"

i=0
failed=0
exec 3>&1
for t in ./*_test; do
	[ -f "$t" ] && [ -x "$t" ] || continue
	i=$((i + 1))
	name=${t#./}
	echo "# selftests: snapshot: $name"
	# The binary's exit status comes out on fd 4, its output on fd 3.
	rc=$({ { "$t" 2>&1; echo $? >&4; } | sed 's/^/# /' >&3; } 4>&1)
	case $rc in
	0)
		echo "ok $i selftests: snapshot: $name"
		;;
	"$KSFT_SKIP")
		echo "ok $i selftests: snapshot: $name # SKIP"
		;;
	*)
		echo "not ok $i selftests: snapshot: $name # exit=$rc"
		failed=1
		;;
	esac
done
exec 3>&-

exit $failed
