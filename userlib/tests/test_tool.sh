#!/bin/sh
# Tests of the spice command, as TAP on stdout.
#
#   test_tool.sh SPICE SPICE_RELEASE IMAGES TMPDIR
#
# SPICE is the command built with the sanitizers, SPICE_RELEASE the one
# that is installed, IMAGES the directory gen_images filled, TMPDIR a
# scratch directory of this test's own.
set -u
spice=$1 release=$2 images=$3 tmp=$4
n=0 failed=0

# TAP lines are printable ASCII: printf, not echo (which may interpret
# backslashes), and anything else as '?'.
ascii() {
	printf '%s' "$1" | LC_ALL=C tr -c ' -~' '?'
}

ok() {	# ok DESCRIPTION: the last check passed
	n=$((n + 1))
	printf 'ok %d - spice: %s\n' "$n" "$(ascii "$1")"
}

not_ok() {	# not_ok DESCRIPTION WHY
	n=$((n + 1)) failed=$((failed + 1))
	printf 'not ok %d - spice: %s\n' "$n" "$(ascii "$1")"
	printf '%s\n' "$2" | LC_ALL=C tr -c ' -~\n' '?' | sed 's/^/# /'
}

skip() {
	n=$((n + 1))
	printf 'ok %d - spice: %s # SKIP %s\n' "$n" "$(ascii "$1")" "$(ascii "$2")"
}

# run ARGS...: run the sanitized command; status in $rc, output in files.
run() {
	"$spice" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
}

# expect DESCRIPTION STATUS [GREP-PATTERN [FILE]]
expect() {
	desc=$1 want=$2
	if [ "$rc" -ne "$want" ]; then
		not_ok "$desc" "exit status $rc, want $want; stderr: $(head -c 500 "$tmp/err")"
		return
	fi
	if [ $# -ge 3 ] && ! grep -q -e "$3" "$tmp/${4:-out}"; then
		not_ok "$desc" "no line matches '$3' in ${4:-out}: $(head -c 2000 "$tmp/${4:-out}")"
		return
	fi
	ok "$desc"
}

mkdir -p "$tmp"

# ---- usage ----
run --help
expect "--help prints the usage and exits 0" 0 '^usage: spice info'
run
expect "no command is a usage error" 2 '^usage:' err
run frobnicate
expect "an unknown command is a usage error" 2 'unknown command frobnicate' err
run info
expect "info without an image is a usage error" 2 'expects one IMAGE' err
run info "$images/valid-default.img" extra
expect "info with two images is a usage error" 2 'expects one IMAGE' err
run info --bogus "$images/valid-default.img"
expect "info with an unknown option is a usage error" 2 'usage:' err
run capture -o "$tmp/x.img"
expect "capture without --pid is a usage error" 2 'pid is required' err
run capture --pid 1
expect "capture without -o is a usage error" 2 '-o IMAGE is required' err
for bad in abc 0 -5 12x 99999999999; do
	run capture --pid "$bad" -o "$tmp/x.img"
	expect "capture --pid $bad is a usage error" 2 "bad PID" err
done
[ ! -e "$tmp/x.img" ] && ok "usage errors create no file" ||
	not_ok "usage errors create no file" "$tmp/x.img exists"

# ---- info, text ----
img=$images/valid-default.img
run info "$img"
expect "info on a valid image" 0 '^version: *1 '
for pat in \
	'^  comm: *sleeper$' \
	'^  cwd: *\/home\/user$' \
	'^  exe: *\/usr\/bin\/sleeper$' \
	'^flags: *working-set$' \
	'^captured: *2026-01-01T00:00:00\.000000042Z$' \
	'^sections: 12$' \
	'^  0   task  *1 - ' \
	'^  11  strings  *12 - ' \
	'^vmas: 7$' \
	'^00400000-00402000 r-xp 00000000 08:01 1000  *\/usr\/bin\/sleeper  (file)$' \
	'^00402000-00404000 rw-p 00002000 08:01 1000  *\/usr\/bin\/sleeper  (file: maywrite)$' \
	'^00600000-00640000 rw-p 00000000 00:00 0  *\[heap\]  (anon: maywrite)$' \
	'^7f0000000000-7f0000004000 rw-s 00000000 00:00 0  *\[shmem\]  (shmem: shared,maywrite)$' \
	'^7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0  *\[stack\]  (anon: growsdown,maywrite)$' \
	'^7ffd00100000-7ffd00102000 r--p 00000000 00:00 0  *\[vvar\]  (vvar)$' \
	'^extents: 5, 24576 bytes stored, 16384 in the working set$' \
	'^files: 3$' \
	'^  2   \/tmp\/log "quoted"\\134 \\011\\001 é \\377\.txt  dev 8:3 ino 1002 ' \
	'^fds: 4$' \
	'^  0   stdio$' \
	'^  3   file 2 \/tmp\/log .* flags 02001 pos 42 cloexec$' \
	'^  start_brk: *0x600000$'
do
	if grep -q -e "$pat" "$tmp/out"; then
		ok "info prints /$pat/"
	else
		not_ok "info prints /$pat/" "output: $(cat "$tmp/out")"
	fi
done

# The installed build prints the same.
"$release" info "$img" >"$tmp/out.release" 2>&1
if [ $? -eq 0 ] && [ -s "$tmp/out" ] && cmp -s "$tmp/out" "$tmp/out.release"; then
	ok "the release build prints the same as the sanitized one"
else
	not_ok "the release build prints the same as the sanitized one" \
		"$(diff "$tmp/out" "$tmp/out.release" | head -20)"
fi

for f in "$images"/valid-*.img; do
	run info "$f"
	expect "info on ${f##*/}" 0 '^extents: '
done

# ---- info --json ----
if command -v python3 >/dev/null 2>&1; then
	for f in "$images"/valid-*.img; do
		run info --json "$f"
		if [ "$rc" -ne 0 ]; then
			not_ok "--json on ${f##*/} is valid JSON" "exit status $rc: $(cat "$tmp/err")"
		elif python3 -m json.tool "$tmp/out" >/dev/null 2>"$tmp/json.err"; then
			ok "--json on ${f##*/} is valid JSON"
		else
			not_ok "--json on ${f##*/} is valid JSON" "$(cat "$tmp/json.err")"
		fi
	done
	run info "$img" --json
	python3 - "$tmp/out" >"$tmp/py.out" 2>&1 <<'PY'
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
def eq(got, want, what):
    if got != want:
        raise SystemExit("%s: got %r, want %r" % (what, got, want))
eq(d["header"]["version"], 1, "version")
eq(d["header"]["working_set"], True, "working_set")
eq(d["header"]["time_ns"], 1767225600000000042, "time_ns")
eq(len(d["sections"]), 12, "sections")
eq([s["name"] for s in d["sections"]][:3], ["task", "mm", "vmas"], "names")
eq(d["task"]["comm"], "sleeper", "comm")
eq(d["task"]["cwd"], "/home/user", "cwd")
eq(d["task"]["exe"], "/usr/bin/sleeper", "exe")
eq(d["task"]["umask"], 0o22, "umask")
eq(d["mm"]["brk"], 0x640000, "brk")
eq(len(d["vmas"]), 7, "vmas")
eq(d["vmas"][0], {"start": 0x400000, "end": 0x402000, "perms": "r-xp",
    "prot": 5, "kind": "file", "pgoff": 0, "flags": [], "file": 0,
    "path": "/usr/bin/sleeper"}, "vma 0")
eq(d["vmas"][5]["flags"], ["growsdown", "maywrite"], "vma 5 flags")
eq(d["vmas"][6]["path"], None, "vma 6 path")
eq(d["extents"], {"count": 5, "stored_bytes": 24576,
    "working_set_bytes": 16384}, "extents")
eq(len(d["files"]), 3, "files")
# Escapes, control characters, UTF-8 kept, a stray byte as U+FFFD.
eq(d["files"][2]["path"], '/tmp/log "quoted"\\ \t\x01 \u00e9 \ufffd.txt', "path")
eq((d["files"][2]["major"], d["files"][2]["minor"]), (8, 3), "dev")
eq(d["fds"][3], {"fd": 3, "kind": "file", "cloexec": True, "file": 2,
    "path": d["files"][2]["path"], "flags": 0o2001, "pos": 42}, "fd 3")
eq(d["fds"][0], {"fd": 0, "kind": "stdio", "cloexec": False}, "fd 0")
PY
	if [ $? -eq 0 ]; then
		ok "--json holds the image's values, strings escaped"
	else
		not_ok "--json holds the image's values, strings escaped" "$(cat "$tmp/py.out")"
	fi
	run info --json "$images/valid-self.img"
	if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(not (d["task"]["exe"] is None and d["header"]["self"] and d["header"]["ws_size"] == 0))' "$tmp/out" 2>"$tmp/py.err"; then
		ok "--json: no exe is null, self flag"
	else
		not_ok "--json: no exe is null, self flag" "$(cat "$tmp/out" "$tmp/py.err")"
	fi
else
	skip "--json output is valid JSON" "python3 not found"
fi

# ---- malformed images ----
check_bad() {	# check_bad IMAGE MESSAGE
	run info "$images/$1"
	if [ "$rc" -eq 1 ] && [ ! -s "$tmp/out" ] &&
	   [ "$(cat "$tmp/err")" = "spice: $images/$1: $2" ]; then
		ok "info on $1 fails: $2"
	else
		not_ok "info on $1 fails: $2" "exit status $rc, stderr: $(cat "$tmp/err")"
	fi
	run info --json "$images/$1"
	if [ "$rc" -eq 1 ] && [ ! -s "$tmp/out" ]; then
		ok "info --json on $1 fails, prints nothing"
	else
		not_ok "info --json on $1 fails, prints nothing" "exit status $rc"
	fi
}
check_bad bad-magic.img "not a snapshot image (magic 0x474d4950414e533f)"
check_bad bad-version.img "header: version 2 not supported (this reader knows 1)"
check_bad bad-extent-overlap.img "extent 2: overlaps extent 1"
check_bad bad-truncated.img "header: image_size 32768 but the file has 1000 bytes"
check_bad bad-required.img "section 12 (type 100): unknown section type marked required"
run info "$images/bad-csum.img"
expect "info on bad-csum.img fails" 1 "^spice: $images/bad-csum.img: section 2 (vmas): checksum 0x[0-9a-f]*, computed 0x[0-9a-f]*$" err
run info "$tmp/does-not-exist.img"
expect "info on a missing file fails" 1 "^spice: $tmp/does-not-exist.img: open: No such file or directory$" err

# ---- capture ----
# The error paths only: capturing needs the Spice kernel (selftests do it).
run capture --pid 1 -o "$tmp/no/such/dir/x.img"
expect "capture to an impossible path fails" 1 "^spice: $tmp/no/such/dir/x.img: No such file or directory$" err
if [ -e /sys/kernel/snapshot ]; then
	skip "capture without the kernel interface fails and removes the file" \
		"this kernel has /sys/kernel/snapshot"
else
	run capture --pid $$ -o "$tmp/c.img" --working-set
	if [ "$rc" -eq 1 ] && [ ! -e "$tmp/c.img" ] &&
	   grep -q "^spice: capture of process $$ failed: Function not implemented (this kernel lacks the Spice snapshot interface)$" "$tmp/err"; then
		ok "capture without the kernel interface fails and removes the file"
	else
		not_ok "capture without the kernel interface fails and removes the file" \
			"exit status $rc, stderr: $(cat "$tmp/err"), $(ls -l "$tmp/c.img" 2>&1)"
	fi
fi

# ---- restore ----
# The error paths that need no Spice kernel: the usage, the image checked
# by the reader first, and the kernel without the interface.
run restore --help
expect "restore --help prints the usage" 0 '^       spice restore \[--share-cache\] \[--lazy\] \[--fd IMAGE_FD=CALLER_FD\]\.\.\. IMAGE$'
run restore
expect "restore without an image is a usage error" 2 'restore: expects one IMAGE' err
run restore "$img" "$img"
expect "restore with two images is a usage error" 2 'restore: expects one IMAGE' err
run restore --bogus "$img"
expect "restore with an unknown option is a usage error" 2 'restore: bad option' err
for bad in 3 =4 3= a=4 3=b -1=4 3=-1 3=4x ' 3=4' 3=+4 2147483648=1 3=4=5; do
	run restore --fd "$bad" "$img"
	expect "restore --fd '$bad' is a usage error" 2 "^spice: restore: bad --fd $bad: expects IMAGE_FD=CALLER_FD$" err
done
run restore --fd 3=0 --fd 4=1 --fd 3=2 "$img"
expect "restore --fd with an IMAGE_FD twice is a usage error" 2 '^spice: restore: --fd 3=2: that IMAGE_FD is given twice$' err
run restore --fd 5=77 "$img"
expect "restore --fd of a descriptor that is not open fails" 1 '^spice restore: --fd 5=77: descriptor 77 is not open$' err
run restore "$tmp/does-not-exist.img"
expect "restore of a missing file fails" 1 "^spice restore: $tmp/does-not-exist.img: No such file or directory (ENOENT)\$" err
i=0
while [ $i -lt 200 ]; do
	echo "this is a text file, not a snapshot image"
	i=$((i + 1))
done >"$tmp/text.img"
run restore "$tmp/text.img"
expect "restore of a file that is not an image fails: not a snapshot image" 1 "^spice restore: $tmp/text.img: not a snapshot image (magic 0x[0-9a-f]*) (ENOEXEC)\$" err
run restore "$images/bad-csum.img"
expect "restore of an image with a bad checksum fails: checksum" 1 "^spice restore: $images/bad-csum.img: section 2 (vmas): checksum 0x[0-9a-f]*, computed 0x[0-9a-f]* (EBADMSG)\$" err
run restore "$images/bad-truncated.img"
expect "restore of a truncated image fails" 1 "^spice restore: $images/bad-truncated.img: header: image_size 32768 but the file has 1000 bytes (EINVAL)\$" err
run restore "$images/bad-version.img"
expect "restore of an image of another version fails" 1 "^spice restore: $images/bad-version.img: header: version 2 not supported (this reader knows 1) (EOPNOTSUPP)\$" err
: >"$tmp/empty.img"
run restore "$tmp/empty.img"
expect "restore of an empty file fails" 1 "^spice restore: $tmp/empty.img: .* (EINVAL)\$" err
if [ -e /sys/kernel/snapshot ]; then
	skip "restore without the kernel interface fails: ENOSYS" \
		"this kernel has /sys/kernel/snapshot"
else
	run restore "$img"
	expect "restore without the kernel interface fails: ENOSYS" 1 "^spice restore: $img: this kernel lacks the Spice snapshot interface (ENOSYS)\$" err
	run restore --share-cache --lazy --fd 3=1 --fd 0=0 "$img"
	expect "restore with every option, without the kernel interface: ENOSYS" 1 "^spice restore: $img: this kernel lacks the Spice snapshot interface (ENOSYS)\$" err
fi

# ---- run ----
# Without a Spice kernel only up to the capture, which fails.
run run --help
expect "run --help prints the usage" 0 '^       spice run \[--working-set\] \[--keep\] \[-v\] -o IMAGE \[--\] PROG \[ARG\.\.\.\]$'
run run
expect "run without PROG is a usage error" 2 'run: expects a PROG to run' err
run run -o "$tmp/r.img"
expect "run -o without PROG is a usage error" 2 'run: expects a PROG to run' err
run run -- true
expect "run without -o is a usage error" 2 'run: -o IMAGE is required' err
run run --bogus -o "$tmp/r.img" -- true
expect "run with an unknown option is a usage error" 2 'run: bad option' err
# PROG's options are its own: no -- needed.
run run -o "$tmp/r.img" sh -c 'exit 3'
expect "run of a program that exits fails: it was not ready" 1 '^spice run: sh exited with status 3 before it was ready (stopped itself with SIGSTOP)$' err
[ ! -e "$tmp/r.img" ] && ok "run of a program that exits leaves no image" ||
	not_ok "run of a program that exits leaves no image" "$(ls -l "$tmp/r.img" 2>&1)"
# shellcheck disable=SC2016 # $$ is the program's
run run -o "$tmp/r.img" -- sh -c 'kill -KILL $$'
expect "run of a program killed by a signal fails: it was not ready" 1 '^spice run: sh was killed by SIGKILL before it was ready (stopped itself with SIGSTOP)$' err
run run -o "$tmp/r.img" -- "$tmp/no-such-program"
expect "run of a program that does not exist fails" 1 "^spice run: cannot run $tmp/no-such-program: No such file or directory\$" err
# shellcheck disable=SC2016 # $0 is the program's
run run -o "$tmp/no/such/dir/r.img" -- sh -c 'echo ran >"$0"' "$tmp/ran"
expect "run to an impossible path fails" 1 "^spice run: $tmp/no/such/dir/r.img: No such file or directory\$" err
[ ! -e "$tmp/ran" ] && ok "run to an impossible path does not start the program" ||
	not_ok "run to an impossible path does not start the program" "$tmp/ran exists"
# PROG gets descriptors 0-2, and no other: here, not 7.
# shellcheck disable=SC2016 # $$ is the program's
"$spice" run -o "$tmp/r.img" -- sh -c '[ -e /proc/$$/fd/7 ] && exit 7; exit 5' \
	7<"$img" >"$tmp/out" 2>"$tmp/err"
rc=$?
expect "run gives the program no descriptor but 0-2" 1 '^spice run: sh exited with status 5 before' err
if [ -e /sys/kernel/snapshot ]; then
	skip "run of a program that stops: the capture fails without the interface, the program is killed" \
		"this kernel has /sys/kernel/snapshot"
else
	for keep in "" --keep; do
		d="run ${keep:+$keep }of a program that stops: the capture fails without the interface, the program is killed"
		rm -f "$tmp/r.pid" "$tmp/r.marker"
		# shellcheck disable=SC2016,SC2086 # $$ is the program's; no --keep: no word
		run run $keep -v -o "$tmp/r.img" -- \
			sh -c 'echo $$ >"$0"; kill -STOP $$; echo continued >"$1"' \
			"$tmp/r.pid" "$tmp/r.marker"
		pid=$(cat "$tmp/r.pid" 2>/dev/null)
		sleep 0.2
		if [ "$rc" -ne 1 ]; then
			not_ok "$d" "exit status $rc, want 1; stderr: $(cat "$tmp/err")"
		elif [ "$(cat "$tmp/err")" != "spice run: capture of sh (pid $pid) failed: Function not implemented (this kernel lacks the Spice snapshot interface)" ]; then
			not_ok "$d" "stderr: $(cat "$tmp/err"), pid '$pid'"
		elif [ -z "$pid" ] || kill -0 "$pid" 2>/dev/null; then
			not_ok "$d" "the program (pid '$pid') is still there: $(cat "/proc/$pid/stat" 2>&1)"
		elif [ -e "$tmp/r.marker" ]; then
			not_ok "$d" "the program was let go on: $tmp/r.marker exists"
		elif [ -e "$tmp/r.img" ]; then
			not_ok "$d" "$tmp/r.img was left behind"
		else
			ok "$d"
		fi
	done
fi

echo "1..$n"
[ "$failed" -eq 0 ]
