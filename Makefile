# Spice: process snapshot and restore in the Linux kernel.
#
#   make demo     boot the Spice kernel in QEMU and show the interface
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
	kernel-bench userlib selftests rootfs check check-host check-guest \
	bench-capture \
	demo shell install clean distclean help bench-populate

all: kernel userlib selftests rootfs

help:
	@sed -n '/^# Targets/,/^$$/p' $(TOP)/README.md 2>/dev/null || true
	@echo "targets: deps prepare export checkpatch check-series headers kernel kernel-bench"
	@echo "         userlib selftests rootfs check check-host check-guest demo shell install clean"

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

# The guest disks hold the selftests and libspice's guest tests (built
# here: userlib's guest target, in $(BUILD)/userlib/guest).
rootfs: selftests userlib
	@$(MAKE) -s -C $(TOP)/userlib O=$(BUILD)/userlib HEADERS=$(HEADERS) guest
	@$(TOP)/scripts/mkrootfs --selftests $(BUILD)/selftests \
		--guest-tests $(BUILD)/userlib/guest

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

demo: kernel rootfs
	@$(TOP)/scripts/demo

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

bench-populate: kernel-bench rootfs headers
	@$(MAKE) -s -C $(TOP)/bench/populate O=$(BUILD)/bench HEADERS=$(HEADERS)
	@$(TOP)/scripts/vm-run --name bench-populate --cache none --timeout 3600 \
		--kernel $(KBENCH) -- /host/build/bench/populate_bench \
		--dir /scratch --json /host/build/bench/populate.json $(BENCH_ARGS)

shell: kernel rootfs
	@$(TOP)/scripts/vm-run -- /bin/sh

clean:
	rm -rf $(BUILD)

distclean: clean
	rm -rf $(LINUX)
