# SPDX-License-Identifier: GPL-2.0
# tether top-level build.
#
#   make                 tether.ko for every prepared test kernel, libtether, the tests
#   make KDIR=/path      ... with tether.ko built for that kernel tree instead
#   make check           set-up, build, then the whole suite in VMs (scripts/check)
#   make check KERNELS=6.12     ... narrowed to some kernels (6.1 6.12 debug)
#   make check TESTS="handshake" ... narrowed to some test programs
#   make demo            set-up, build, then the demo in a VM
#   make bench           set-up, build, then every benchmark in one 6.12 VM (scripts/bench)
#   make mpi-bench       set-up, build, then the MPI ping-pong in a VM, tether
#                        monitor vs libfabric's defaults (scripts/mpi-pingpong)
#   make failnth         set-up, build, then the fail-nth sweep on the debug kernel
#   make checkpatch      checkpatch.pl --strict on the kernel code
#   make clean
#
# Kernel objects go to build/<kernel>/, userspace to build/{lib,selftests}/.

TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
export TETHER_BUILD ?= $(TOP)/build
export TETHER_CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/tether
B := $(TETHER_BUILD)
KSRC := $(TETHER_CACHE_DIR)/linux-source-6.12

PREPARED := $(foreach k,6.1 6.12 debug,$(if $(wildcard $(TETHER_CACHE_DIR)/kernels/$(k)/ready),$(k)))
KERNELS ?= $(PREPARED)
# what the user named (make check decides the default after set-up has run)
USER_KERNELS := $(if $(filter command line environment,$(origin KERNELS)),$(KERNELS))

# make's own default (cc) gives way to gcc; CC from the command line or the
# environment is used as given
ifeq ($(origin CC),default)
CC := gcc
endif
CFLAGS ?= -O2 -g
WFLAGS := -Wall -Wextra -Werror
CPPFLAGS_ALL := -D_GNU_SOURCE -I$(TOP)/include/uapi -I$(TOP)/libprovider

# libtether
LIB_SRCS := $(wildcard libprovider/*.c)
LIB_OBJS := $(LIB_SRCS:libprovider/%.c=$(B)/lib/%.o)
LIB_SONAME := libtether.so.1
LIB_SO := $(B)/lib/libtether.so.1.0.0
LIB_A := $(B)/lib/libtether.a
LIB_MAP := libprovider/libtether.map

# libtether-fabric: tether as libfabric's memory monitor (libprovider/fabric/)
FABRIC_SRCS := $(wildcard libprovider/fabric/*.c)
FABRIC_OBJS := $(FABRIC_SRCS:libprovider/fabric/%.c=$(B)/lib/fabric/%.o)
FABRIC_SONAME := libtether-fabric.so.1
FABRIC_SO := $(B)/lib/libtether-fabric.so.1.0.0
FABRIC_MAP := libprovider/fabric/libtether-fabric.map

# selftests: every selftests/*.c is one kselftest_harness program
TEST_SRCS := $(wildcard selftests/*.c)
TEST_BINS := $(TEST_SRCS:selftests/%.c=$(B)/selftests/%)
TEST_LIBS := -libverbs -lnuma -lpthread
# kselftest_harness.h compares through typeof() temporaries, so every
# ASSERT_EQ(0, unsigned) trips -Wsign-compare; its generated wrappers have
# unused parameters and assign a local after setjmp() (-Wclobbered). The
# harness-based tests relax those three only.
TEST_WFLAGS := $(WFLAGS) -Wno-sign-compare -Wno-unused-parameter -Wno-clobbered

# tools: every tools/*.c is one program linked with libtether
TOOL_SRCS := $(wildcard tools/*.c)
TOOL_BINS := $(TOOL_SRCS:tools/%.c=$(B)/tools/%)

# examples: the README's programs, run by selftests/examples.sh
EXAMPLE_SRCS := $(wildcard examples/*.c)
EXAMPLE_BINS := $(EXAMPLE_SRCS:examples/%.c=$(B)/examples/%)

DEMO := $(B)/demo/tether-rdma-demo
BENCH := $(B)/bench/tether-cache-bench
MONITOR_BENCH := $(B)/bench/tether-monitor-bench
NUMA_BENCH := $(B)/bench/tether-numa-bench
# the MPI ping-pong, built only where mpicc is (Open MPI, scripts/deps)
MPICC ?= mpicc
MPI_PINGPONG := $(if $(shell command -v $(MPICC) 2>/dev/null),$(B)/bench/tether-mpi-pingpong)
# its negative control: a preload importing the no-invalidation monitor
FABRIC_UNSAFE := $(B)/bench/tether-fabric-unsafe.so
HIT_BENCH := $(B)/bench/tether-hit-bench

KERNEL_SRCS := $(wildcard kmod/*.c kmod/*.h)

.PHONY: all modules lib tests tools examples demo-bin bench-bin fabtests check demo bench fuzz storm failnth checkpatch clean

all: modules lib tests tools examples demo-bin bench-bin fabtests

# libfabric's fabtests for selftests/fabtests.sh, built once into
# $(B)/fabtests (scripts/fabtests; status 3: no tarball, the test skips)
fabtests:
	@scripts/fabtests >/dev/null || [ $$? -eq 3 ]

modules:
ifdef KDIR
	+@scripts/kbuild custom $(KDIR)
else
	@[ -n "$(strip $(KERNELS))" ] || { echo "no test kernel prepared: run scripts/deps (or give KDIR=)" >&2; exit 1; }
	+@set -e; for k in $(KERNELS); do scripts/kbuild $$k; done
endif

lib: $(LIB_SO) $(LIB_A) $(FABRIC_SO)

$(B)/lib/%.o: libprovider/%.c $(wildcard libprovider/*.h) include/uapi/linux/tether.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS) $(WFLAGS) -fPIC -fvisibility=hidden -c -o $@ $<

$(LIB_SO): $(LIB_OBJS) $(LIB_MAP)
	$(CC) -shared -Wl,-soname,$(LIB_SONAME) -Wl,--version-script=$(LIB_MAP) \
		-Wl,--no-undefined -o $@ $(LIB_OBJS) -libverbs -lpthread
	ln -sfn libtether.so.1.0.0 $(B)/lib/$(LIB_SONAME)
	ln -sfn $(LIB_SONAME) $(B)/lib/libtether.so

$(B)/lib/fabric/%.o: libprovider/fabric/%.c $(wildcard libprovider/fabric/*.h libprovider/*.h) include/uapi/linux/tether.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) -Ilibprovider/fabric $(CFLAGS) $(WFLAGS) -fPIC -fvisibility=hidden -c -o $@ $<

# linked with the shared libtether (one copy of it in a process that uses both)
$(FABRIC_SO): $(FABRIC_OBJS) $(FABRIC_MAP) $(LIB_SO)
	$(CC) -shared -Wl,-soname,$(FABRIC_SONAME) -Wl,--version-script=$(FABRIC_MAP) \
		-Wl,--no-undefined -o $@ $(FABRIC_OBJS) -L$(B)/lib -ltether -lfabric -lpthread
	ln -sfn libtether-fabric.so.1.0.0 $(B)/lib/$(FABRIC_SONAME)
	ln -sfn $(FABRIC_SONAME) $(B)/lib/libtether-fabric.so

$(LIB_A): $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

# the library's tests again under AddressSanitizer and UBSan, with the
# library's sources built into them the same way
SAN_TESTS := cache fabric
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
SAN_BINS := $(SAN_TESTS:%=$(B)/selftests/%_asan)

tests: $(TEST_BINS) $(SAN_BINS)

$(B)/selftests/%_asan: selftests/%.c $(LIB_SRCS) $(wildcard selftests/*.h libprovider/*.h) include/uapi/linux/tether.h | $(KSRC)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) -I$(KSRC)/tools/testing/selftests -O1 -g $(SAN_FLAGS) $(TEST_WFLAGS) \
		-o $@ $< $(LIB_SRCS) $(TEST_LIBS)

$(B)/selftests/%: selftests/%.c $(wildcard selftests/*.h) include/uapi/linux/tether.h $(LIB_A) | $(KSRC)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) -I$(KSRC)/tools/testing/selftests $(CFLAGS) $(TEST_WFLAGS) \
		-o $@ $< $(LIB_A) $(TEST_LIBS)

# selftests/abi.c checks the tether numbers against every _IO* number of the
# installed <linux/*.h> headers, tabled here on the host (scripts/ioctl-numbers)
IOCTL_NUMBERS := $(B)/selftests/gen/ioctl_numbers.h

$(IOCTL_NUMBERS): scripts/ioctl-numbers $(wildcard /usr/include/linux/*.h)
	@mkdir -p $(@D)
	CC="$(CC)" scripts/ioctl-numbers $@

$(B)/selftests/abi: $(IOCTL_NUMBERS)
$(B)/selftests/abi: CPPFLAGS_ALL += -I$(B)/selftests/gen

# fuse_source serves a FUSE file system of its own through libfuse3
$(B)/selftests/fuse_source: TEST_LIBS += $(shell pkg-config --libs fuse3)
$(B)/selftests/fuse_source: CPPFLAGS_ALL += $(shell pkg-config --cflags fuse3)

# selftests/fabric: libfabric over verbs;ofi_rxm with the monitor, the shared
# library as installed (found through an rpath to the build, an old-style one
# that also serves its libtether.so.1), and under the
# sanitizers with the monitor's sources built in
$(B)/selftests/fabric: $(FABRIC_SO)
$(B)/selftests/fabric: TEST_LIBS += -L$(B)/lib -Wl,-rpath,$(B)/lib,--disable-new-dtags -ltether-fabric -lfabric
$(B)/selftests/fabric_asan: $(FABRIC_SRCS)
$(B)/selftests/fabric_asan: LIB_SRCS += $(FABRIC_SRCS)
$(B)/selftests/fabric_asan: TEST_LIBS += -lfabric
$(B)/selftests/fabric $(B)/selftests/fabric_asan: CPPFLAGS_ALL += -I$(TOP)/libprovider/fabric

tools: $(TOOL_BINS)
examples: $(EXAMPLE_BINS)
demo-bin: $(DEMO)
bench-bin: $(BENCH) $(HIT_BENCH) $(MONITOR_BENCH) $(NUMA_BENCH) $(MPI_PINGPONG) $(FABRIC_UNSAFE)

# every program linked with libtether: one source file each, one rule
PROGRAMS := $(TOOL_BINS) $(EXAMPLE_BINS) $(DEMO) $(BENCH) $(HIT_BENCH)
$(TOOL_BINS): $(B)/tools/%: tools/%.c
$(EXAMPLE_BINS): $(B)/examples/%: examples/%.c
$(DEMO): demo/rdma_demo.c selftests/rdma_loop.h
$(BENCH): bench/cache_bench.c
$(HIT_BENCH): bench/hit_bench.c bench/bench_stats.h
# against libfabric's MR cache (Debian's libfabric-dev)
$(HIT_BENCH): PROGRAM_LIBS := -lfabric

$(PROGRAMS): libprovider/tether.h include/uapi/linux/tether.h $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS) $(WFLAGS) -o $@ $(filter %.c,$^) $(LIB_A) -libverbs -lpthread \
		$(PROGRAM_LIBS)

# the kernel-side benchmarks talk to /dev/tether and /dev/kdreg2 directly
$(MONITOR_BENCH) $(NUMA_BENCH): $(B)/bench/tether-%-bench: bench/%_bench.c bench/bench_stats.h \
		bench/kdreg2_uapi.h include/uapi/linux/tether.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS) $(WFLAGS) -o $@ $< -lpthread

$(B)/bench/tether-mpi-pingpong: bench/mpi_pingpong.c
	@mkdir -p $(@D)
	$(MPICC) $(CFLAGS) $(WFLAGS) -o $@ $<

$(FABRIC_UNSAFE): bench/fabric_unsafe.c libprovider/fabric/tether_fabric.h $(FABRIC_SO)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) -Ilibprovider/fabric $(CFLAGS) $(WFLAGS) -fPIC -shared -Wl,--no-undefined \
		-o $@ $< -L$(B)/lib -ltether-fabric

$(KSRC):
	@echo "$(KSRC) is missing: run scripts/deps" >&2; exit 1

check:
	@scripts/deps
	@$(MAKE) --no-print-directory all
	@scripts/check $(if $(TESTS),--tests "$(TESTS)") $(USER_KERNELS)

demo:
	@scripts/deps
	@$(MAKE) --no-print-directory all
	@scripts/demo

# a long storm (selftests/storm.c): make storm SECONDS=N KERNEL=K [SEED=S]
STORM_SECONDS := $(or $(SECONDS),600)
storm:
	@scripts/deps
	@$(MAKE) --no-print-directory all
	@scripts/vm -k $(or $(KERNEL),6.12) -t $$(($(STORM_SECONDS) * 2 + 900)) \
		-o $(B)/vm/storm-$(or $(KERNEL),6.12) --append slub_debug=F -- \
		env STORM_SECONDS=$(STORM_SECONDS) $(if $(SEED),STORM_SEED=$(SEED)) \
		TETHER_TIMEOUT_SCALE=$$(($(STORM_SECONDS) / 300 + 2)) \
		selftests/run storm

bench:
	@scripts/deps
	@$(MAKE) --no-print-directory all
	@scripts/bench

# the fail-nth sweep (selftests/failnth.c) alone, on the debug kernel:
# make check runs it too, with the rest of the debug suite
failnth:
	@scripts/deps
	@$(MAKE) --no-print-directory all
	@scripts/check --tests failnth debug

# make fuzz SECONDS=N KERNEL=K [SEED=N] [THREADS=N] [PHASE=S]: a long run of
# selftests/fuzz.c in a VM of its own (README "Reliability")
FUZZ_KERNEL = $(or $(KERNEL),debug)
FUZZ_SECONDS = $(or $(SECONDS),600)
fuzz:
	@scripts/deps
	@$(MAKE) --no-print-directory all
	@scripts/vm -k $(FUZZ_KERNEL) -t $$(($(FUZZ_SECONDS) * 2 + 900)) -o $(B)/vm/fuzz-$(FUZZ_KERNEL) \
		--append slub_debug=F $(if $(filter debug,$(FUZZ_KERNEL)),--append kmemleak=on) -- \
		$(B)/selftests/fuzz --seconds $(FUZZ_SECONDS) $(if $(SEED),--seed $(SEED)) \
		$(if $(THREADS),--threads $(THREADS)) $(if $(PHASE),--phase-seconds $(PHASE))

MPI_BENCH_ARGS ?= -m 8 -M 4194304 -x 4 -i 20 -w 8 -c mmap
mpi-bench:
	@scripts/deps
	@$(MAKE) --no-print-directory all
	@scripts/vm -k $(or $(firstword $(USER_KERNELS)),6.12) -t 1800 -- scripts/mpi-pingpong --compare $(MPI_BENCH_ARGS)

checkpatch: | $(KSRC)
	perl $(KSRC)/scripts/checkpatch.pl --strict --no-tree --terse --show-types -f \
		$(KERNEL_SRCS) selftests/modules/*.c include/uapi/linux/tether.h

clean:
	rm -rf $(B)

# ---- installation (issue 12) ----------------------------------------------
#
#   make install [DESTDIR=/stage] [PREFIX=/usr] [libdir=...] ...
#   make uninstall   (same variables: removes exactly what install put there)
#
# GNU directory variables; PREFIX is an alias of prefix. The defaults put
# everything under /usr/local, where udev, modprobe and systemd-modules-load
# do not look: a node wants `make install PREFIX=/usr sysconfdir=/etc`
# (README, "Installing"). The kernel module is installed by DKMS (dkms.conf),
# not here.
TETHER_VERSION := 1.0.0
PREFIX ?= /usr/local
prefix ?= $(PREFIX)
exec_prefix ?= $(prefix)
bindir ?= $(exec_prefix)/bin
sbindir ?= $(exec_prefix)/sbin
libdir ?= $(exec_prefix)/lib
includedir ?= $(prefix)/include
datarootdir ?= $(prefix)/share
mandir ?= $(datarootdir)/man
sysconfdir ?= $(prefix)/etc
udevrulesdir ?= $(exec_prefix)/lib/udev/rules.d
modprobedir ?= $(sysconfdir)/modprobe.d
modulesloaddir ?= $(sysconfdir)/modules-load.d
INSTALL ?= install
INSTALL_DATA ?= $(INSTALL) -m 0644
INSTALL_PROGRAM ?= $(INSTALL) -m 0755

D := $(DESTDIR)
# what install puts where (uninstall removes exactly these)
INST_LIB := $(D)$(libdir)/libtether.so.1.0.0 $(D)$(libdir)/libtether.so.1 \
	$(D)$(libdir)/libtether.so $(D)$(libdir)/libtether.a \
	$(D)$(libdir)/pkgconfig/libtether.pc \
	$(D)$(libdir)/libtether-fabric.so.1.0.0 $(D)$(libdir)/$(FABRIC_SONAME) \
	$(D)$(libdir)/libtether-fabric.so
INST_HDR := $(D)$(includedir)/tether.h $(D)$(includedir)/linux/tether.h \
	$(D)$(includedir)/tether_fabric.h
INST_BIN := $(D)$(sbindir)/tether_info
dkmssrcdir ?= $(prefix)/src/tether-$(TETHER_VERSION)
INST_ETC := $(D)$(udevrulesdir)/60-tether.rules $(D)$(modprobedir)/tether.conf \
	$(D)$(modulesloaddir)/tether.conf

.PHONY: install install-lib install-headers install-tools install-etc install-man install-dkms uninstall uninstall-man uninstall-dkms

install: install-lib install-headers install-tools install-etc install-man

install-lib: $(LIB_SO) $(LIB_A) $(FABRIC_SO) libprovider/libtether.pc.in
	$(INSTALL) -d $(D)$(libdir) $(D)$(libdir)/pkgconfig
	$(INSTALL_PROGRAM) $(LIB_SO) $(D)$(libdir)/libtether.so.1.0.0
	ln -sfn libtether.so.1.0.0 $(D)$(libdir)/libtether.so.1
	ln -sfn libtether.so.1 $(D)$(libdir)/libtether.so
	$(INSTALL_PROGRAM) $(FABRIC_SO) $(D)$(libdir)/libtether-fabric.so.1.0.0
	ln -sfn libtether-fabric.so.1.0.0 $(D)$(libdir)/$(FABRIC_SONAME)
	ln -sfn $(FABRIC_SONAME) $(D)$(libdir)/libtether-fabric.so
	$(INSTALL_DATA) $(LIB_A) $(D)$(libdir)/libtether.a
	sed -e 's|@prefix@|$(prefix)|g' -e 's|@exec_prefix@|$(exec_prefix)|g' \
		-e 's|@libdir@|$(libdir)|g' -e 's|@includedir@|$(includedir)|g' \
		-e 's|@VERSION@|$(TETHER_VERSION)|g' libprovider/libtether.pc.in \
		>$(D)$(libdir)/pkgconfig/libtether.pc
	chmod 0644 $(D)$(libdir)/pkgconfig/libtether.pc

install-headers:
	$(INSTALL) -d $(D)$(includedir)/linux
	$(INSTALL_DATA) libprovider/tether.h $(D)$(includedir)/tether.h
	$(INSTALL_DATA) libprovider/fabric/tether_fabric.h $(D)$(includedir)/tether_fabric.h
	$(INSTALL_DATA) include/uapi/linux/tether.h $(D)$(includedir)/linux/tether.h

install-tools: $(B)/tools/tether_info
	$(INSTALL) -d $(D)$(sbindir)
	$(INSTALL_PROGRAM) $(B)/tools/tether_info $(D)$(sbindir)/tether_info

# node set-up: the udev rule for /dev/tether, the module parameters
# (commented, with their defaults) and loading at boot
install-etc:
	$(INSTALL) -d $(D)$(udevrulesdir) $(D)$(modprobedir) $(D)$(modulesloaddir)
	$(INSTALL_DATA) etc/udev/60-tether.rules $(D)$(udevrulesdir)/60-tether.rules
	$(INSTALL_DATA) etc/modprobe.d/tether.conf $(D)$(modprobedir)/tether.conf
	$(INSTALL_DATA) etc/modules-load.d/tether.conf $(D)$(modulesloaddir)/tether.conf

# man pages: man/NAME.SECTION, plus a link for every other name its NAME
# section lists (tether_close.3 -> tether_open.3), as rdma-core's MLINKS
MAN_PAGES := $(sort $(wildcard man/*.[1-8]))
man_names = $$(sed -n '/^\.SH NAME/{n;s/ *\\-.*//;s/,/ /g;p;q}' $(1))
install-man:
	@set -e; for p in $(MAN_PAGES); do \
		f=$${p##*/}; sec=$${f##*.}; dir=$(D)$(mandir)/man$$sec; \
		$(INSTALL) -d $$dir; \
		echo "$(INSTALL_DATA) $$p $$dir/$$f"; $(INSTALL_DATA) $$p $$dir/$$f; \
		for n in $(call man_names,$$p); do \
			[ "$$n.$$sec" = "$$f" ] || ln -sfn $$f $$dir/$$n.$$sec; \
		done; \
	done

uninstall-man:
	@set -e; for p in $(MAN_PAGES); do \
		f=$${p##*/}; sec=$${f##*.}; dir=$(D)$(mandir)/man$$sec; \
		rm -f $$dir/$$f; \
		for n in $(call man_names,$$p); do rm -f $$dir/$$n.$$sec; done; \
	done

# the module's sources where DKMS looks for them (not part of install):
#   make install-dkms PREFIX=/usr && dkms install tether/$(TETHER_VERSION)
DKMS_SRCS := $(sort $(wildcard kmod/*.c kmod/*.h)) kmod/Kbuild
install-dkms:
	@grep -qx 'PACKAGE_VERSION="$(TETHER_VERSION)"' dkms.conf || \
		{ echo "dkms.conf's PACKAGE_VERSION is not $(TETHER_VERSION)" >&2; exit 1; }
	$(INSTALL) -d $(D)$(dkmssrcdir)/kmod $(D)$(dkmssrcdir)/include/uapi/linux
	$(INSTALL_DATA) dkms.conf $(D)$(dkmssrcdir)/dkms.conf
	$(INSTALL_DATA) $(DKMS_SRCS) $(D)$(dkmssrcdir)/kmod/
	$(INSTALL_DATA) include/uapi/linux/tether.h $(D)$(dkmssrcdir)/include/uapi/linux/tether.h

uninstall: uninstall-man
	rm -f $(INST_LIB) $(INST_HDR) $(INST_BIN) $(INST_ETC)

uninstall-dkms:
	rm -rf $(D)$(dkmssrcdir)
