# Spice: process snapshot and restore in the Linux kernel.
#
#   make demo     boot the Spice kernel in QEMU, show the interface and a
#                 function started cold, restored by Spice and warm
#   make check    build everything and run every test (host and guest)
#
# See README.md for the rest.

TOP     := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BUILD   := $(TOP)/build
LINUX   := $(TOP)/linux
HEADERS := $(BUILD)/headers/include
RESULTS := $(BUILD)/results
KDEBUG  := $(BUILD)/kernel-debug/arch/x86/boot/bzImage
KBENCH  := $(BUILD)/kernel-bench/arch/x86/boot/bzImage
GUEST_TIMEOUT ?= 1800

.PHONY: all deps prepare export checkpatch check-series headers kernel \
	kernel-bench userlib selftests coldstart restore-bench rootfs check \
	check-host check-guest bench-capture bench-coldstart bench-restore \
	demo shell install clean distclean help bench-populate bench \
	bench-deps bench-disk bench-run bench-profile

all: kernel userlib selftests rootfs

help:
	@sed -n '/^# Targets/,/^$$/p' $(TOP)/README.md 2>/dev/null || true
	@echo "targets: deps prepare export checkpatch check-series headers kernel kernel-bench"
	@echo "         userlib selftests coldstart restore-bench rootfs check check-host"
	@echo "         check-guest demo shell install clean bench-populate bench-capture"
	@echo "         bench-coldstart bench-restore bench bench-run bench-deps bench-disk"
	@echo "         bench-profile"

deps:
	@$(TOP)/scripts/deps

prepare: deps
	@$(TOP)/scripts/prepare-linux

export:
	@$(TOP)/scripts/export-series

checkpatch: prepare
	@$(TOP)/scripts/checkpatch-series
	@$(TOP)/scripts/sync-selftests --check

check-series: prepare
	@$(TOP)/scripts/check-series

# The uapi headers of the prepared tree, for libspice and the selftests.
headers: prepare
	@$(MAKE) -s -C $(LINUX) O=$(BUILD)/headers ARCH=x86_64 \
		INSTALL_HDR_PATH=$(BUILD)/headers headers_install

kernel: prepare
	@$(TOP)/scripts/build-kernel debug

kernel-bench: prepare
	@$(TOP)/scripts/build-kernel bench

userlib: headers
	@$(MAKE) -s -C $(TOP)/userlib O=$(BUILD)/userlib HEADERS=$(HEADERS)

selftests: headers
	@$(MAKE) -s -C $(TOP)/selftests O=$(BUILD)/selftests HEADERS=$(HEADERS) \
		KSFT=$(LINUX)/tools/testing/selftests

# The cold-start benchmark: its driver and the functions it starts, for the
# guest (make demo, make bench-coldstart).
coldstart: userlib
	@$(MAKE) -s -C $(TOP)/bench/coldstart O=$(BUILD)/bench/coldstart \
		USERLIB=$(BUILD)/userlib

# The restore benchmark: its driver and heap64, the process it restores
# (make bench-restore).
restore-bench: userlib
	@$(MAKE) -s -C $(TOP)/bench/restore O=$(BUILD)/bench/restore \
		USERLIB=$(BUILD)/userlib

# The guest disks hold the selftests, libspice's guest tests (built here:
# userlib's guest target, in $(BUILD)/userlib/guest), the cold-start
# benchmark and python3 with its standard library (for the benchmark's
# Python function; about 40 MB, read only by the demo), the restore
# benchmark and criu (what it compares Spice with; about 10 MB).
rootfs: selftests userlib coldstart restore-bench
	@$(MAKE) -s -C $(TOP)/userlib O=$(BUILD)/userlib HEADERS=$(HEADERS) guest
	@$(TOP)/scripts/mkrootfs --selftests $(BUILD)/selftests \
		--guest-tests $(BUILD)/userlib/guest \
		--coldstart $(BUILD)/bench/coldstart --python \
		--restore-bench $(BUILD)/bench/restore --criu

install: userlib
	@$(MAKE) -s -C $(TOP)/userlib O=$(BUILD)/userlib HEADERS=$(HEADERS) install

# make check: host unit tests, then the selftests and libspice's guest
# tests in the guest (one boot), then one summary line. Everything is built
# first, so a build failure stops here.
check: userlib kernel rootfs
	@$(TOP)/scripts/run-tests

check-host: userlib
	@$(TOP)/scripts/run-tests --host-only

check-guest: kernel rootfs
	@$(TOP)/scripts/run-tests --guest-only

# The non-debug kernel: KASAN and lockdep would distort the timings.
# DEMO_ARGS go to the cold-start driver, e.g. DEMO_ARGS="--reps 3".
demo: kernel-bench rootfs
	@$(TOP)/scripts/demo $(DEMO_ARGS)

# Micro-benchmark of mmap_populate_image() against the user-space ways of
# filling memory from a file, in the guest, under the non-debug kernel,
# with the scratch disk opened by QEMU with cache=none (cold reads hit the
# disk). Table on stdout, JSON in build/bench/populate.json.
# snapshot_capture() of a 256 MiB heap against dd to the same disk.
bench-capture: kernel-bench rootfs headers
	@$(MAKE) -s -C $(TOP)/bench/capture O=$(BUILD)/bench HEADERS=$(HEADERS)
	@$(TOP)/scripts/vm-run --name bench-capture --cache none --timeout 1800 \
		--kernel $(KBENCH) -- /host/build/bench/capture_bench \
		--dir /scratch $(BENCH_ARGS)

# Time to first response of a C and a Python function: cold exec, Spice
# restore (cold and warm page cache) and a warm process; what make demo
# shows, with BENCH_ARGS for the driver. JSON in build/bench/coldstart.json.
bench-coldstart: kernel-bench rootfs
	@mkdir -p $(BUILD)/bench
	@$(TOP)/scripts/vm-run --name bench-coldstart --cache none --timeout 3600 \
		--kernel $(KBENCH) -- /usr/lib/spice/coldstart/coldstart \
		--dir /scratch --json /host/build/bench/coldstart.json $(BENCH_ARGS)

# Restore time of a process with a 64 MiB heap: Spice (and its share-cache
# mode) next to `criu restore` of the same process, cold and warm page
# cache. Table on stdout, JSON in build/bench/restore.json; BENCH_ARGS go to
# the driver (restore_bench --help).
bench-restore: kernel-bench rootfs
	@mkdir -p $(BUILD)/bench
	@$(TOP)/scripts/vm-run --name bench-restore --cache none --timeout 3600 \
		--kernel $(KBENCH) -- /usr/lib/spice/restore/restore_bench \
		--dir /scratch --json /host/build/bench/restore.json $(BENCH_ARGS)

bench-populate: kernel-bench rootfs headers
	@$(MAKE) -s -C $(TOP)/bench/populate O=$(BUILD)/bench HEADERS=$(HEADERS)
	@$(TOP)/scripts/vm-run --name bench-populate --cache none --timeout 3600 \
		--kernel $(KBENCH) -- /host/build/bench/populate_bench \
		--dir /scratch --json /host/build/bench/populate.json $(BENCH_ARGS)

# Cold-start benchmark on FunctionBench-style functions (bench/functions):
# cold exec, CRIU, Spice (copy, share-cache, warm cache), a warm process and
# the disk limit, plus density, in one boot of the benchmark kernel with a
# bench root disk of its own (build/vm/bench-root.img: python3 with pyaes,
# chameleon, Pillow, scikit-learn and pkg_resources, which chameleon and
# scikit-learn import; node; criu) so that `make check`'s disk
# stays small. QUICK=1: helloworld and json, 5 runs. Results in
# build/bench/results.json, plots in build/bench/plots/; BENCH_ARGS go to
# the driver (bench/functions/bench.py --help).
PYDIST := /usr/lib/python3/dist-packages
BENCH_STAGE := $(BUILD)/bench/functions-stage
BENCH_TIMEOUT ?= $(if $(QUICK),1800,14400)

bench-deps:
	@$(TOP)/scripts/deps --bench

bench-disk: userlib bench-deps
	@rm -rf $(BENCH_STAGE) && mkdir -p $(BENCH_STAGE)
	@cp -a $(TOP)/bench/functions/bench.py $(TOP)/bench/functions/functions $(BENCH_STAGE)/
	@cp -L $(BUILD)/userlib/libspice.so.0 $(BENCH_STAGE)/
	@$(TOP)/scripts/mkrootfs --image bench-root.img --python --criu \
		--functions $(BENCH_STAGE) --extra /usr/bin/node \
		--tree $(PYDIST)/pyaes --tree $(PYDIST)/chameleon \
		--tree $(PYDIST)/PIL --tree $(PYDIST)/numpy --tree $(PYDIST)/scipy \
		--tree $(PYDIST)/sklearn --tree $(PYDIST)/joblib \
		--tree $(PYDIST)/pkg_resources --tree $(PYDIST)/setuptools \
		--extra $(PYDIST)/threadpoolctl.py --extra /usr/bin/perf \
		--exclude tests

bench: kernel-bench
	@$(MAKE) -s bench-run

# make bench without rebuilding the benchmark kernel (it must exist).
bench-run: bench-disk
	@[ -f $(KBENCH) ] || { echo "no $(KBENCH): make kernel-bench" >&2; exit 1; }
	@mkdir -p $(BUILD)/bench
	@rm -f $(BUILD)/bench/results.json
	@$(TOP)/scripts/vm-run --name bench-functions --cache none --mem 4G \
		--timeout $(BENCH_TIMEOUT) --kernel $(KBENCH) \
		--root $(BUILD)/vm/bench-root.img -- \
		/usr/lib/spice/functions/bench.py --dir /scratch \
		--json /host/build/bench/results.json $(if $(QUICK),--quick) $(BENCH_ARGS)
	@$(TOP)/bench/functions/plot $(BUILD)/bench/results.json $(BUILD)/bench/plots

# Where the time of a cold restore goes: perf record (in the guest, every
# CPU, call graphs) around BENCH_REPS (5) cold runs of each system per
# function (default: helloworld, json, lr_serving); perf reports by program
# and library and by function in build/bench/profile/.
BENCH_PROFILE ?= helloworld json lr_serving
bench-profile: bench-disk
	@[ -f $(KBENCH) ] || { echo "no $(KBENCH): make kernel-bench" >&2; exit 1; }
	@rm -rf $(BUILD)/bench/profile && mkdir -p $(BUILD)/bench/profile
	@$(TOP)/scripts/vm-run --name bench-profile --cache none --mem 4G \
		--timeout 3600 --kernel $(KBENCH) \
		--root $(BUILD)/vm/bench-root.img -- \
		/usr/lib/spice/functions/bench.py --dir /scratch --density 0 \
		--reps $(or $(BENCH_REPS),5) --profile /host/build/bench/profile \
		$(BENCH_PROFILE)

shell: kernel rootfs
	@$(TOP)/scripts/vm-run -- /bin/sh

clean:
	rm -rf $(BUILD)

distclean: clean
	rm -rf $(LINUX)
