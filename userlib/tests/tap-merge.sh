#!/bin/sh
# Merge TAP files into one, numbered from 1, with one plan.
#
#   tap-merge.sh OUT PART...
#
# A part that is missing, has no test lines or no plan, or whose plan does
# not match the tests it ran counts as one failed test of its own. Exits 1 if any test
# failed.
set -u
out=$1
shift
tmp=$out.tmp
: >"$tmp"
n=0 failed=0 skipped=0
for part in "$@"; do
	name=${part##*/}
	name=${name%.tap}
	if [ ! -s "$part" ]; then
		n=$((n + 1)) failed=$((failed + 1))
		echo "not ok $n - $name: produced no results" >>"$tmp"
		continue
	fi
	ran=0
	while IFS= read -r line; do
		case $line in
		"ok "[0-9]*|"not ok "[0-9]*)
			n=$((n + 1)) ran=$((ran + 1))
			case $line in
			"not ok"*) failed=$((failed + 1)) ;;
			*"# SKIP"*|*"# skip"*) skipped=$((skipped + 1)) ;;
			esac
			# Renumber: drop the old number, keep the rest.
			printf '%s\n' "$line" |
				sed -E "s/^(not ok|ok) [0-9]+/\\1 $n/" >>"$tmp"
			;;
		esac
	done <"$part"
	plan=$(sed -n 's/^1\.\.\([0-9][0-9]*\).*/\1/p' "$part" | head -n 1)
	if [ -z "$plan" ]; then
		n=$((n + 1)) failed=$((failed + 1))
		echo "not ok $n - $name: ended without a plan after $ran tests" >>"$tmp"
	elif [ "$ran" -eq 0 ] || [ "$plan" -ne "$ran" ]; then
		n=$((n + 1)) failed=$((failed + 1))
		echo "not ok $n - $name: planned $plan tests, ran $ran" >>"$tmp"
	fi
done
echo "1..$n" >>"$tmp"
mv "$tmp" "$out"
echo "userlib: $n tests, $((n - failed - skipped)) passed, $failed failed, $skipped skipped (TAP in $out)"
[ "$failed" -eq 0 ]
