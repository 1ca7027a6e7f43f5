#!/bin/sh
# The spice command against the real kernel, in the test guest: TAP on
# stdout. POSIX sh (busybox ash).
#
#   guest_cli.sh [SPICE [DIR]]
#
# SPICE is the command (default: the spice next to this script), DIR a
# directory of this test's own for the images (default: a new one under
# /scratch, or under /tmp when /scratch is not writable). The processes
# captured are busybox's sleep, a static binary, and ready_prog (next to
# this script), which spice run starts, captures at its ready point and
# spice restore brings back.
#
# Exits 0 when every test passed, 4 (KSFT_SKIP) when the kernel lacks the
# interface (every test is skipped and the command is not run), 1 otherwise.
set -u
here=$(cd "$(dirname "$0")" && pwd)
spice=${1:-$here/spice}
if [ $# -ge 2 ]; then
	tmp=$2
else
	base=/tmp
	[ -d /scratch ] && [ -w /scratch ] && base=/scratch
	tmp=$base/guest_cli.$$
fi

PLAN=23
n=0 failed=0
pids=

ascii() {
	printf '%s' "$1" | LC_ALL=C tr -c ' -~' '?'
}

ok() {	# ok DESCRIPTION: the last check passed
	n=$((n + 1))
	printf 'ok %d - guest_cli: %s\n' "$n" "$(ascii "$1")"
}

not_ok() {	# not_ok DESCRIPTION WHY
	n=$((n + 1)) failed=$((failed + 1))
	printf 'not ok %d - guest_cli: %s\n' "$n" "$(ascii "$1")"
	printf '%s\n' "$2" | LC_ALL=C tr -c ' -~\n' '?' | sed 's/^/# /'
}

skip() {	# skip DESCRIPTION WHY
	n=$((n + 1))
	printf 'ok %d - guest_cli: %s # SKIP %s\n' "$n" "$(ascii "$1")" "$(ascii "$2")"
}

# run ARGS...: run the command; status in $rc, output in $tmp/out, $tmp/err.
run() {
	"$spice" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
}

# expect DESCRIPTION STATUS [GREP-PATTERN [FILE]]: the last run exited with
# STATUS and, if given, a line of FILE (out, err) matches the pattern.
expect() {
	desc=$1 want=$2
	if [ "$rc" -ne "$want" ]; then
		not_ok "$desc" "exit status $rc, want $want; stderr: $(head -c 500 "$tmp/err")"
		return 1
	fi
	if [ $# -ge 3 ] && ! grep -q -e "$3" "$tmp/${4:-out}"; then
		not_ok "$desc" "no line matches '$3' in ${4:-out}: $(head -c 2000 "$tmp/${4:-out}")"
		return 1
	fi
	return 0
}

# The state letter of /proc/PID/stat (R, S, T, ...), or nothing.
state_of() {
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*") "}
	printf '%s' "${st%% *}"
}

# wait_state PID STATE: wait up to 10 s for the process to be in STATE.
wait_state() {
	i=0
	while [ $i -lt 200 ]; do
		[ "$(state_of "$1")" = "$2" ] && return 0
		sleep 0.05
		i=$((i + 1))
	done
	return 1
}

# A sleep in the background, holding no descriptor but 0-2; its pid in $pid.
# By its path: busybox ash runs an applet named without one in the forked
# shell itself, comm "sh", with the shell's descriptors.
start_sleep() {
	# shellcheck disable=SC2217 # stdin too: no descriptor of ours
	/bin/sleep 1000 </dev/null >/dev/null 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
	pid=$!
	pids="$pids $pid"
}

cleanup() {
	for p in $pids; do
		kill -9 "$p" 2>/dev/null
	done
}
trap cleanup EXIT

# A structural check of JSON: one value -- objects, arrays, strings with
# their escapes, numbers, true, false, null -- and nothing after it.
json_check() {
	awk '
	{ s = s $0 "\n" }
	function skip_ws() {
		while (i <= n && index(" \t\r\n", substr(s, i, 1)))
			i++
	}
	function str(   c) {
		if (substr(s, i, 1) != "\"")
			return 0
		i++
		while (i <= n) {
			c = substr(s, i, 1)
			if (c == "\"") {
				i++
				return 1
			}
			if (c == "\\") {
				c = substr(s, i + 1, 1)
				if (c != "" && index("\"\\/bfnrt", c)) {
					i += 2
					continue
				}
				if (c == "u" && substr(s, i + 2, 4) ~ /^[0-9a-fA-F][0-9a-fA-F][0-9a-fA-F][0-9a-fA-F]$/) {
					i += 6
					continue
				}
				return 0
			}
			if (c < " ")
				return 0
			i++
		}
		return 0
	}
	function num(   m) {
		m = substr(s, i, 64)
		if (!match(m, /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/))
			return 0
		i += RLENGTH
		return 1
	}
	function obj(   c) {
		i++
		skip_ws()
		if (substr(s, i, 1) == "}") {
			i++
			return 1
		}
		while (1) {
			skip_ws()
			if (!str())
				return 0
			skip_ws()
			if (substr(s, i, 1) != ":")
				return 0
			i++
			if (!value())
				return 0
			skip_ws()
			c = substr(s, i, 1)
			i++
			if (c == "}")
				return 1
			if (c != ",")
				return 0
		}
	}
	function arr(   c) {
		i++
		skip_ws()
		if (substr(s, i, 1) == "]") {
			i++
			return 1
		}
		while (1) {
			if (!value())
				return 0
			skip_ws()
			c = substr(s, i, 1)
			i++
			if (c == "]")
				return 1
			if (c != ",")
				return 0
		}
	}
	function value(   c) {
		skip_ws()
		c = substr(s, i, 1)
		if (c == "{")
			return obj()
		if (c == "[")
			return arr()
		if (c == "\"")
			return str()
		if (substr(s, i, 4) == "true" || substr(s, i, 4) == "null") {
			i += 4
			return 1
		}
		if (substr(s, i, 5) == "false") {
			i += 5
			return 1
		}
		return num()
	}
	END {
		n = length(s)
		i = 1
		if (!value()) {
			printf "not JSON at byte %d: %s\n", i, substr(s, i, 60)
			exit 1
		}
		skip_ws()
		if (i <= n) {
			printf "data after the JSON value at byte %d: %s\n", i, substr(s, i, 60)
			exit 1
		}
	}' "$1"
}

echo "TAP version 13"
echo "1..$PLAN"

if [ ! -r /sys/kernel/snapshot/version ]; then
	i=0
	while [ $i -lt $PLAN ]; do
		i=$((i + 1))
		echo "ok $i - guest_cli: test $i # SKIP the kernel lacks the Spice snapshot interface"
	done
	exit 4
fi
if ! mkdir -p "$tmp"; then
	echo "Bail out! cannot make $tmp"
	exit 1
fi
echo "# images in $tmp"

# ---- a stopped process ----
img=$tmp/sleep.img
start_sleep
target=$pid
d="capture --pid of a stopped sleep exits 0 and writes the image"
kill -STOP "$target"
if ! wait_state "$target" T; then
	not_ok "$d" "sleep $target did not stop (state '$(state_of "$target")')"
else
	run capture --pid "$target" -o "$img"
	if expect "$d" 0; then
		if [ -s "$img" ]; then ok "$d"; else not_ok "$d" "$img is missing or empty"; fi
	fi
fi

d="info of the image exits 0 and names the process: its comm"
comm=$(cat "/proc/$target/comm")
run info "$img"
expect "$d" 0 "^  comm: *$comm\$" && ok "$d"
cp "$tmp/out" "$tmp/info.txt"

d="info shows the stack: an anonymous growsdown VMA labelled [stack]"
if grep -q '\[stack\]  (anon: .*growsdown' "$tmp/info.txt"; then
	ok "$d"
else
	not_ok "$d" "no [stack] line in: $(grep -A 30 '^vmas:' "$tmp/info.txt" | head -c 3000)"
fi

d="info --json exits 0 and prints well-formed JSON"
run info --json "$img"
cp "$tmp/out" "$tmp/info.json"
if expect "$d" 0; then
	if why=$(json_check "$tmp/info.json"); then
		ok "$d"
	else
		not_ok "$d" "$why"
	fi
fi

d="info and info --json agree: the number of VMAs, not self-captured"
text_vmas=$(sed -n 's/^vmas: \([0-9][0-9]*\)$/\1/p' "$tmp/info.txt")
json_vmas=$(grep -c '^    {"start": ' "$tmp/info.json")
if [ -z "$text_vmas" ] || [ "$text_vmas" -eq 0 ]; then
	not_ok "$d" "no 'vmas: N' line, or N is 0: '$text_vmas'"
elif [ "$text_vmas" -ne "$json_vmas" ]; then
	not_ok "$d" "text says $text_vmas VMAs, the JSON lists $json_vmas"
elif ! grep -q '"self": false' "$tmp/info.json" ||
	! grep -q '^flags: *none$' "$tmp/info.txt"; then
	not_ok "$d" "the image is not flagged as a capture of another process: $(grep '^flags' "$tmp/info.txt")"
else
	ok "$d"
fi

d="capture --working-set writes an image flagged working-set"
run capture --pid "$target" -o "$tmp/sleep-ws.img" --working-set
if expect "$d" 0; then
	run info "$tmp/sleep-ws.img"
	expect "$d" 0 '^flags: *working-set$' && ok "$d"
fi

d="the captured process runs on after SIGCONT"
kill -CONT "$target"
if wait_state "$target" S; then
	ok "$d"
else
	not_ok "$d" "sleep $target is in state '$(state_of "$target")', not S"
fi

# ---- captures that fail ----
d="capture of a process that is not stopped: exit 1, busy, no image left"
start_sleep
running=$pid
if ! wait_state "$running" S; then
	not_ok "$d" "sleep $running is in state '$(state_of "$running")', not S"
else
	run capture --pid "$running" -o "$tmp/running.img"
	if expect "$d" 1 '[Bb]usy' err; then
		if [ -e "$tmp/running.img" ]; then
			not_ok "$d" "$tmp/running.img was left behind"
		else
			ok "$d"
		fi
	fi
fi

d="capture of a process that is gone: exit 1, no such process, no image"
kill -9 "$running"
wait "$running" 2>/dev/null
run capture --pid "$running" -o "$tmp/gone.img"
if expect "$d" 1 'No such process' err; then
	if [ -e "$tmp/gone.img" ]; then
		not_ok "$d" "$tmp/gone.img was left behind"
	else
		ok "$d"
	fi
fi

# ---- images that are not right ----
size=$(wc -c <"$img")
head -c $((size / 2)) "$img" >"$tmp/truncated.img"
d="info of a truncated image: exit 1 with a message"
run info "$tmp/truncated.img"
expect "$d" 1 "^spice: $tmp/truncated.img: ." err && ok "$d"

printf 'hello, world\n' >"$tmp/text.img"
d="info of a file that is not an image: exit 1, not a snapshot image"
run info "$tmp/text.img"
expect "$d" 1 'not a snapshot image' err && ok "$d"

cp "$img" "$tmp/damaged.img"
# time_ns, at offset 80 of the header: only the checksum can tell.
printf 'XXXXXXXX' | dd of="$tmp/damaged.img" bs=1 seek=80 count=8 conv=notrunc 2>/dev/null
d="info of an image whose header was changed: exit 1, checksum"
run info "$tmp/damaged.img"
expect "$d" 1 'checksum' err && ok "$d"

: >"$tmp/empty.img"
d="info of an empty file: exit 1 with a message"
run info "$tmp/empty.img"
expect "$d" 1 "^spice: $tmp/empty.img: ." err && ok "$d"

# ---- run and restore ----
# ready_prog writes "ready: WORD", stops itself, and when it goes on writes
# "resumed: WORD" and exits with 42; with a LOG, to the log as descriptor 3
# too.
prog=$here/ready_prog
log=$tmp/ready.log
rimg=$tmp/ready.img
rm -f "$log"

d="run -o IMAGE -- PROG: exit 0, PROG's output up to its ready point, the image"
run run -v -o "$rimg" -- "$prog" hello "$log"
if expect "$d" 0 '^ready: hello$'; then
	if grep -q '^resumed' "$tmp/out"; then
		not_ok "$d" "the program went on: $(cat "$tmp/out")"
	elif [ ! -s "$rimg" ]; then
		not_ok "$d" "$rimg is missing or empty"
	elif ! grep -q "^spice run: captured $prog (pid [0-9]*) into $rimg: [0-9]* bytes in [0-9.]* ms, ready after [0-9.]* ms\$" "$tmp/err"; then
		not_ok "$d" "-v printed: $(cat "$tmp/err")"
	else
		ok "$d"
	fi
fi

d="info of the image: the program's comm, descriptor 3 on its log"
run info "$rimg"
expect "$d" 0 '^  comm: *ready_prog$' &&
	expect "$d" 0 "^  3   file [0-9]* $log  flags " && ok "$d"

d="restore --fd 3=5: PROG goes on from its ready point, its log on our fd 5, exit 42"
"$spice" restore --fd 3=5 "$rimg" >"$tmp/out" 2>"$tmp/err" 5>"$tmp/other.log"
rc=$?
if expect "$d" 42 '^resumed: hello$'; then
	if grep -q '^ready' "$tmp/out"; then
		not_ok "$d" "it started over: $(cat "$tmp/out")"
	elif [ "$(cat "$tmp/other.log")" != "resumed: hello" ]; then
		not_ok "$d" "descriptor 5 got '$(cat "$tmp/other.log")'"
	elif [ "$(cat "$log")" != "ready: hello" ]; then
		not_ok "$d" "the log changed: $(cat "$log")"
	else
		ok "$d"
	fi
fi

d="restore: PROG goes on from its ready point, writes to its own log, exit 42"
run restore "$rimg"
if expect "$d" 42 '^resumed: hello$'; then
	if grep -q '^ready' "$tmp/out"; then
		not_ok "$d" "it started over: $(cat "$tmp/out")"
	elif [ "$(cat "$log")" != "$(printf 'ready: hello\nresumed: hello')" ]; then
		not_ok "$d" "the log holds: $(cat "$log")"
	else
		ok "$d"
	fi
fi

d="restore once the log changed: exit 1, a file the image refers to has changed (ESTALE)"
run restore "$rimg"
expect "$d" 1 "^spice restore: $rimg: a file the image refers to has changed since the capture (ESTALE)\$" err &&
	ok "$d"

d="an image without files of its own restores twice, the same"
run run -o "$tmp/plain.img" -- "$prog" world
if expect "$d" 0 '^ready: world$'; then
	run restore "$tmp/plain.img"
	first=$rc
	cp "$tmp/out" "$tmp/out.first"
	run restore "$tmp/plain.img"
	if [ "$first" -ne 42 ] || [ "$rc" -ne 42 ]; then
		not_ok "$d" "exit statuses $first and $rc, want 42; stderr: $(cat "$tmp/err")"
	elif [ "$(cat "$tmp/out.first")" != "resumed: world" ] ||
	     [ "$(cat "$tmp/out")" != "resumed: world" ]; then
		not_ok "$d" "output '$(cat "$tmp/out.first")', then '$(cat "$tmp/out")'"
	else
		ok "$d"
	fi
fi

for flag in --share-cache --lazy; do
	d="restore $flag: PROG goes on from its ready point, exit 42"
	run restore "$flag" "$tmp/plain.img"
	if [ "$rc" -eq 1 ] && grep -q '(EOPNOTSUPP)$' "$tmp/err"; then
		skip "$d" "$flag is not implemented by this kernel (EOPNOTSUPP)"
	elif expect "$d" 42 '^resumed: world$'; then
		ok "$d"
	fi
done

d="run --keep: PROG goes on after the capture, spice exits with its status"
run run --keep -o "$tmp/keep.img" -- "$prog" kept
if expect "$d" 42 '^resumed: kept$'; then
	if ! grep -q '^ready: kept$' "$tmp/out"; then
		not_ok "$d" "output: $(cat "$tmp/out")"
	elif [ ! -s "$tmp/keep.img" ]; then
		not_ok "$d" "$tmp/keep.img is missing or empty"
	else
		ok "$d"
	fi
fi

d="run of a program that exits before it is ready: exit 1, no image"
run run -o "$tmp/never.img" -- /bin/false
if expect "$d" 1 '^spice run: /bin/false exited with status 1 before it was ready' err; then
	if [ -e "$tmp/never.img" ]; then
		not_ok "$d" "$tmp/never.img was left behind"
	else
		ok "$d"
	fi
fi

if [ "$n" -ne "$PLAN" ]; then
	echo "# ran $n tests, planned $PLAN"
	exit 1
fi
[ "$failed" -eq 0 ]
