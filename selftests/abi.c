// SPDX-License-Identifier: GPL-2.0
/*
 * The frozen ABI's numbers and size rules, from one table of the thirteen
 * ioctls (the module's table in kmod/main.c plus the section descriptor's
 * TETHER_IOC_SECTION_QUERY):
 *
 * - no tether number is the number of any _IO* macro of the installed
 *   /usr/include/linux headers (tabled on the build host by scripts/ioctl-numbers),
 *   so no tether call on another driver's descriptor runs that driver's
 *   ioctl, and strace names each call once;
 * - every tether ioctl on an nsfs descriptor, and every one but
 *   SECTION_QUERY on a section descriptor (SECTION_QUERY on /dev/tether),
 *   fails with ENOTTY;
 * - the size rules of every ioctl: min - 1 → EINVAL, larger with a non-zero
 *   tail → E2BIG, larger than a page → E2BIG, larger with a zero tail → the
 *   same answer as the exact size (success: each row fills its structure
 *   with arguments that work); an unknown flag → EINVAL; NULL → EFAULT.
 */
#include <stddef.h>

#include "tether_test.h"

#include "ioctl_numbers.h"

#ifndef offsetofend
#define offsetofend(type, member) \
	(offsetof(type, member) + sizeof(((type *)0)->member))
#endif

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* What a fill function may use to build a valid argument. */
struct abi_env {
	int ctx;		/* a /dev/tether context */
	int section;		/* a section descriptor, named ABI_SECTION */
	char *buf;		/* one page of this process's memory */
	uint64_t handles[1];	/* RELEASE_BATCH's array */
};

#define ABI_SECTION "tether-abi"

/* Fill @arg (zeroed, size already set) with arguments that succeed. */
typedef void (*abi_fill)(struct abi_env *env, void *arg);

/* One ioctl: what the module's table records about it, and how to call it. */
struct abi_ioctl {
	const char *name;
	unsigned long cmd;
	size_t size;		/* sizeof() of its structure now */
	size_t min_size;	/* the end of the structure's first version */
	bool on_section;	/* issued on a section descriptor */
	abi_fill fill;
};

static uint64_t abi_secure(struct abi_env *env)
{
	struct tether_cmd_secure s = {
		.size = sizeof(s),
		.addr = (uintptr_t)env->buf,
		.length = page_size(),
	};

	return tether_ioctl(env->ctx, TETHER_IOC_SECURE, &s) ? 0 : s.handle;
}

static uint64_t abi_submit(struct abi_env *env, uint32_t flags)
{
	struct tether_cmd_request_submit r = {
		.size = sizeof(r),
		.flags = flags,
		.source = TETHER_SOURCE_PATTERN,
		.source_fd = -1,
		.addr = (uintptr_t)env->buf,
		.length = 64,
	};

	return tether_ioctl(env->ctx, TETHER_IOC_REQUEST_SUBMIT, &r) ? 0 : r.id;
}

static void fill_none(struct abi_env *env, void *arg)
{
}

static void fill_secure(struct abi_env *env, void *arg)
{
	struct tether_cmd_secure *s = arg;

	s->addr = (uintptr_t)env->buf;
	s->length = page_size();
}

static void fill_release(struct abi_env *env, void *arg)
{
	((struct tether_cmd_release *)arg)->handle = abi_secure(env);
}

static void fill_release_batch(struct abi_env *env, void *arg)
{
	struct tether_cmd_release_batch *b = arg;

	env->handles[0] = abi_secure(env);
	b->handles = (uintptr_t)env->handles;
	b->count = 1;
}

static void fill_section_create(struct abi_env *env, void *arg)
{
	struct tether_cmd_section_create *c = arg;

	c->length = page_size();
	c->max_prot = TETHER_SECTION_READ;
	c->backing_fd = -1;
}

static void fill_section_open(struct abi_env *env, void *arg)
{
	struct tether_cmd_section_open *o = arg;

	o->access = TETHER_SECTION_READ;
	strcpy(o->name, ABI_SECTION);
}

static void fill_request_submit(struct abi_env *env, void *arg)
{
	struct tether_cmd_request_submit *r = arg;

	r->source = TETHER_SOURCE_PATTERN;
	r->source_fd = -1;
	r->addr = (uintptr_t)env->buf;
	r->length = 64;
}

static void fill_request_complete(struct abi_env *env, void *arg)
{
	((struct tether_cmd_request_complete *)arg)->id =
		abi_submit(env, TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD);
}

static void fill_request_cancel(struct abi_env *env, void *arg)
{
	((struct tether_cmd_request_cancel *)arg)->id =
		abi_submit(env, TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD);
}

static void fill_request_wait(struct abi_env *env, void *arg)
{
	struct tether_cmd_request_wait *w = arg;

	w->id = abi_submit(env, TETHER_REQUEST_ASYNC);
	w->timeout_ms = 10000;
}

/*
 * One row per ioctl, as TETHER_IOCTL_OP() in kmod/main.c records it: the
 * structure and its first version's last field.
 */
#define TEST_LENGTH(_struct, _ioctl, _last, _on_section, _fill)         \
	{ .name = #_ioctl, .cmd = _ioctl, .size = sizeof(struct _struct),   \
	  .min_size = offsetofend(struct _struct, _last),                   \
	  .on_section = _on_section, .fill = _fill }

static const struct abi_ioctl abi_ioctls[] = {
	TEST_LENGTH(tether_info, TETHER_IOC_GET_INFO, max_pinned_bytes,
		    false, fill_none),
	TEST_LENGTH(tether_cmd_secure, TETHER_IOC_SECURE, __reserved,
		    false, fill_secure),
	TEST_LENGTH(tether_cmd_release, TETHER_IOC_RELEASE, handle,
		    false, fill_release),
	TEST_LENGTH(tether_cmd_release_batch, TETHER_IOC_RELEASE_BATCH, done,
		    false, fill_release_batch),
	TEST_LENGTH(tether_cmd_rearm, TETHER_IOC_REARM, next_seq,
		    false, fill_none),
	TEST_LENGTH(tether_stats, TETHER_IOC_GET_STATS, retries,
		    false, fill_none),
	TEST_LENGTH(tether_cmd_section_create, TETHER_IOC_SECTION_CREATE, name,
		    false, fill_section_create),
	TEST_LENGTH(tether_cmd_section_open, TETHER_IOC_SECTION_OPEN, name,
		    false, fill_section_open),
	TEST_LENGTH(tether_section_info, TETHER_IOC_SECTION_QUERY, name,
		    true, fill_none),
	TEST_LENGTH(tether_cmd_request_submit, TETHER_IOC_REQUEST_SUBMIT,
		    __reserved, false, fill_request_submit),
	TEST_LENGTH(tether_cmd_request_complete, TETHER_IOC_REQUEST_COMPLETE,
		    __reserved, false, fill_request_complete),
	TEST_LENGTH(tether_cmd_request_cancel, TETHER_IOC_REQUEST_CANCEL, id,
		    false, fill_request_cancel),
	TEST_LENGTH(tether_cmd_request_wait, TETHER_IOC_REQUEST_WAIT, status,
		    false, fill_request_wait),
};

/* The table is the ABI: one row for each command number, no more, no less. */
TEST(table_covers_every_command)
{
	bool seen[13] = { false };
	size_t i;

	ASSERT_EQ(13, ARRAY_LEN(abi_ioctls));
	ASSERT_EQ(TETHER_CMD_BASE + 12, TETHER_CMD_REQUEST_WAIT);
	for (i = 0; i < ARRAY_LEN(abi_ioctls); i++) {
		unsigned long cmd = abi_ioctls[i].cmd;
		unsigned int nr = _IOC_NR(cmd);

		/* _IO: the size travels in the structure, not the number */
		ASSERT_EQ(_IO(TETHER_TYPE, nr), cmd) TH_LOG("%s", abi_ioctls[i].name);
		ASSERT_LE(TETHER_CMD_BASE, nr);
		ASSERT_GE(TETHER_CMD_REQUEST_WAIT, nr);
		ASSERT_FALSE(seen[nr - TETHER_CMD_BASE])
			TH_LOG("%s: number used twice", abi_ioctls[i].name);
		seen[nr - TETHER_CMD_BASE] = true;
	}
}

/* The installed headers' ioctl numbered @cmd, or NULL. */
static const struct host_ioctl *host_ioctl_of(unsigned long cmd)
{
	size_t j;

	for (j = 0; j < ARRAY_LEN(host_ioctls); j++)
		if (host_ioctls[j].nr == cmd)
			return &host_ioctls[j];
	return NULL;
}

/*
 * No tether number is another ioctl's. The host table must be a real scan:
 * it has nsfs's numbers (tether's first type, 0xB7, was NSIO: SECURE was
 * NS_GET_USERNS) and those of a thousand more macros.
 */
TEST(numbers_differ_from_installed_headers)
{
	bool nsfs = false;
	size_t i, j;

	ASSERT_LT(1000, ARRAY_LEN(host_ioctls));
	for (j = 0; j < ARRAY_LEN(host_ioctls); j++)
		if (!strcmp(host_ioctls[j].name, "NS_GET_USERNS"))
			nsfs = host_ioctls[j].nr == 0xb701;
	ASSERT_TRUE(nsfs) TH_LOG("the host table has no NS_GET_USERNS = 0xb701");

	for (i = 0; i < ARRAY_LEN(abi_ioctls); i++) {
		const struct host_ioctl *h = host_ioctl_of(abi_ioctls[i].cmd);

		EXPECT_EQ(NULL, h) TH_LOG("%s = %#lx is %s of <%s>", abi_ioctls[i].name,
					  abi_ioctls[i].cmd, h ? h->name : "",
					  h ? h->header : "");
	}
	ksft_print_msg("%zu tether numbers checked against %zu numbers of %d headers\n",
		       ARRAY_LEN(abi_ioctls), ARRAY_LEN(host_ioctls),
		       HOST_IOCTL_HEADERS);
	/*
	 * Every tether number is _IO (no direction, no size); a macro the host
	 * compiler could not evaluate uses a struct it cannot see, so it is an
	 * _IOR/_IOW/_IOWR with a size and cannot equal one.
	 */
	for (j = 0; host_unchecked[j]; j++)
		ksft_print_msg("not evaluable on this host: %s\n", host_unchecked[j]);
}

/* A zeroed argument of the right size for @op. */
static void *abi_arg(const struct abi_ioctl *op)
{
	static union {
		uint32_t size;
		unsigned char bytes[4096];
	} arg;

	memset(&arg, 0, sizeof(arg));
	arg.size = op->size;
	return &arg;
}

/* nsfs's type was tether's: now each tether call there is just unknown. */
TEST(enotty_on_nsfs)
{
	size_t i;
	int fd;

	/* a kernel without CONFIG_USER_NS (debug) still has a mount namespace */
	fd = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("no /proc/self/ns/user nor mnt: %s", strerror(errno));
	for (i = 0; i < ARRAY_LEN(abi_ioctls); i++) {
		int ret = tether_ioctl(fd, abi_ioctls[i].cmd, abi_arg(&abi_ioctls[i]));

		/*
		 * before: SECURE was NS_GET_USERNS and returned a new fd; and
		 * 6.12's nsfs takes any number 10-12 for NS_MNT_GET_* (EINVAL)
		 */
		if (ret > 0)
			close(ret);
		EXPECT_EQ(-ENOTTY, ret) TH_LOG("%s on nsfs", abi_ioctls[i].name);
	}
	close(fd);
}

FIXTURE(abi) {
	struct abi_env env;
};

FIXTURE_SETUP(abi)
{
	struct tether_cmd_section_create c = {
		.size = sizeof(c),
		.length = page_size(),
		.max_prot = TETHER_SECTION_READ | TETHER_SECTION_WRITE,
		.backing_fd = -1,
		.name = ABI_SECTION,
	};

	tether_open_or_skip(_metadata, &self->env.ctx);
	ASSERT_IOCTL_OK(self->env.ctx, TETHER_IOC_SECTION_CREATE, &c);
	self->env.section = c.fd;
	self->env.buf = map_anon(page_size());
	ASSERT_NE(NULL, self->env.buf);
}

FIXTURE_TEARDOWN(abi)
{
	if (self->env.ctx >= 0)
		close(self->env.ctx);
}

/* Each ioctl belongs to one kind of descriptor; the other says ENOTTY. */
TEST_F(abi, enotty_on_the_other_descriptor)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(abi_ioctls); i++) {
		const struct abi_ioctl *op = &abi_ioctls[i];
		int fd = op->on_section ? self->env.ctx : self->env.section;

		EXPECT_EQ(-ENOTTY, tether_ioctl(fd, op->cmd, abi_arg(op)))
			TH_LOG("%s on a %s descriptor", op->name,
			       op->on_section ? "context" : "section");
	}
}

static bool all_zero(const unsigned char *p, size_t len)
{
	while (len--)
		if (*p++)
			return false;
	return true;
}

/* The call @op with size @size, filled to succeed: 0 or -errno. */
static int abi_call(struct abi_env *env, const struct abi_ioctl *op,
		    unsigned char *arg, uint32_t size)
{
	memset(arg, 0, 2 * page_size());
	memcpy(arg, &size, sizeof(size));
	op->fill(env, arg);
	return tether_ioctl(op->on_section ? env->section : env->ctx, op->cmd, arg);
}

TEST_F(abi, size_rules)
{
	unsigned char *arg;
	size_t i;

	arg = mmap(NULL, 2 * page_size(), PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, arg);
	for (i = 0; i < ARRAY_LEN(abi_ioctls); i++) {
		const struct abi_ioctl *op = &abi_ioctls[i];
		int ret;

		/* below the first version: EINVAL, even with valid fields */
		ASSERT_EQ(-EINVAL, abi_call(&self->env, op, arg, op->min_size - 1))
			TH_LOG("%s: min - 1", op->name);
		ASSERT_EQ(-EINVAL, abi_call(&self->env, op, arg, 0))
			TH_LOG("%s: size 0", op->name);

		/* the exact size works; a larger struct with a zero tail too */
		ASSERT_EQ(0, abi_call(&self->env, op, arg, op->size))
			TH_LOG("%s: exact size", op->name);
		ret = abi_call(&self->env, op, arg, op->size + 16);
		ASSERT_EQ(0, ret) TH_LOG("%s: zero tail: %s", op->name, strerror(-ret));
		ASSERT_EQ(op->size + 16, *(uint32_t *)arg) TH_LOG("%s", op->name);
		ASSERT_TRUE(all_zero(arg + op->size, 16))
			TH_LOG("%s: wrote past its struct", op->name);

		/* a non-zero byte the kernel does not know: E2BIG */
		memset(arg, 0, 2 * page_size());
		*(uint32_t *)arg = op->size + 16;
		op->fill(&self->env, arg);
		arg[op->size + 15] = 1;
		ASSERT_EQ(-E2BIG, tether_ioctl(op->on_section ? self->env.section :
					       self->env.ctx, op->cmd, arg))
			TH_LOG("%s: non-zero tail", op->name);

		/* beyond a page: E2BIG without looking at the tail */
		ASSERT_EQ(-E2BIG, abi_call(&self->env, op, arg, page_size() + 1))
			TH_LOG("%s: a page + 1", op->name);

		/* a flags bit no ioctl knows: EINVAL */
		memset(arg, 0, 2 * page_size());
		*(uint32_t *)arg = op->size;
		op->fill(&self->env, arg);
		((uint32_t *)arg)[1] = 1U << 30;
		ASSERT_EQ(-EINVAL, tether_ioctl(op->on_section ? self->env.section :
						self->env.ctx, op->cmd, arg))
			TH_LOG("%s: unknown flag", op->name);

		/* an unreadable structure: EFAULT */
		ASSERT_EQ(-EFAULT, tether_ioctl(op->on_section ? self->env.section :
						self->env.ctx, op->cmd, NULL))
			TH_LOG("%s: NULL", op->name);
	}
	munmap(arg, 2 * page_size());
}

TEST_HARNESS_MAIN
