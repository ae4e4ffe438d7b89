# SPDX-License-Identifier: GPL-2.0
# tether top-level build.
#
#   make                 tether.ko for every prepared test kernel, libtether, the tests
#   make KDIR=/path      ... with tether.ko built for that kernel tree instead
#   make check           set-up, build, then the whole suite in VMs (scripts/check)
#   make check KERNELS=6.12     ... narrowed to some kernels (6.1 6.12 debug)
#   make check TESTS="handshake" ... narrowed to some test programs
#   make demo            set-up, build, then the demo in a VM
#   make bench           set-up, build, then the cache benchmark in a VM
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

CC := gcc
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

KERNEL_SRCS := $(wildcard kmod/*.c kmod/*.h)

.PHONY: all modules lib tests tools examples demo-bin bench-bin check demo bench checkpatch clean

all: modules lib tests tools examples demo-bin bench-bin

modules:
ifdef KDIR
	+@scripts/kbuild custom $(KDIR)
else
	@[ -n "$(strip $(KERNELS))" ] || { echo "no test kernel prepared: run scripts/deps (or give KDIR=)" >&2; exit 1; }
	+@set -e; for k in $(KERNELS); do scripts/kbuild $$k; done
endif

lib: $(LIB_SO) $(LIB_A)

$(B)/lib/%.o: libprovider/%.c $(wildcard libprovider/*.h) include/uapi/linux/tether.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS) $(WFLAGS) -fPIC -fvisibility=hidden -c -o $@ $<

$(LIB_SO): $(LIB_OBJS) $(LIB_MAP)
	$(CC) -shared -Wl,-soname,$(LIB_SONAME) -Wl,--version-script=$(LIB_MAP) \
		-Wl,--no-undefined -o $@ $(LIB_OBJS) -libverbs -lpthread
	ln -sfn libtether.so.1.0.0 $(B)/lib/$(LIB_SONAME)
	ln -sfn $(LIB_SONAME) $(B)/lib/libtether.so

$(LIB_A): $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

# the library's tests again under AddressSanitizer and UBSan, with the
# library's sources built into them the same way
SAN_TESTS := cache
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

# fuse_source serves a FUSE file system of its own through libfuse3
$(B)/selftests/fuse_source: TEST_LIBS += $(shell pkg-config --libs fuse3)
$(B)/selftests/fuse_source: CPPFLAGS_ALL += $(shell pkg-config --cflags fuse3)

tools: $(TOOL_BINS)

$(B)/tools/%: tools/%.c libprovider/tether.h include/uapi/linux/tether.h $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS) $(WFLAGS) -o $@ $< $(LIB_A) -libverbs -lpthread

examples: $(EXAMPLE_BINS)

$(B)/examples/%: examples/%.c libprovider/tether.h include/uapi/linux/tether.h $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS) $(WFLAGS) -o $@ $< $(LIB_A) -libverbs -lpthread

demo-bin: $(DEMO)

$(DEMO): demo/rdma_demo.c selftests/rdma_loop.h libprovider/tether.h include/uapi/linux/tether.h $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS) $(WFLAGS) -o $@ $< $(LIB_A) -libverbs -lpthread

bench-bin: $(BENCH)

$(BENCH): bench/cache_bench.c libprovider/tether.h include/uapi/linux/tether.h $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS) $(WFLAGS) -o $@ $< $(LIB_A) -libverbs -lpthread

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

bench:
	@scripts/deps
	@$(MAKE) --no-print-directory all
	@scripts/vm -k $(or $(firstword $(USER_KERNELS)),6.12) -t 1200 -- $(BENCH)

checkpatch: | $(KSRC)
	perl $(KSRC)/scripts/checkpatch.pl --strict --no-tree --terse --show-types -f \
		$(KERNEL_SRCS) selftests/modules/*.c include/uapi/linux/tether.h

clean:
	rm -rf $(B)
