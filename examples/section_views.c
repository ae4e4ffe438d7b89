// SPDX-License-Identifier: GPL-2.0
/* One section, two views, the handle closed early (README example). */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/tether.h>

int main(void)
{
	int ctx = open("/dev/tether", O_RDWR | O_CLOEXEC);
	struct tether_cmd_section_create c = {
		.size = sizeof(c),
		.length = 1 << 20,                 /* 1 MiB */
		.max_prot = TETHER_SECTION_READ | TETHER_SECTION_WRITE,
		.backing_fd = -1,                  /* anonymous memory */
		.name = "demo",                    /* or "" for unnamed */
	};
	char *rw, *ro;

	if (ctx < 0 || ioctl(ctx, TETHER_IOC_SECTION_CREATE, &c))
		return 1;
	/* two views of the same memory: read-write, and read-only at 64 KiB */
	rw = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, c.fd, 0);
	ro = mmap(NULL, 4096, PROT_READ, MAP_SHARED, c.fd, 64 << 10);
	if (rw == MAP_FAILED || ro == MAP_FAILED)
		return 1;
	close(c.fd);                       /* the views keep the section alive */
	close(ctx);

	strcpy(rw + (64 << 10), "hello");
	printf("%s\n", ro);                /* "hello" */
	munmap(ro, 4096);
	munmap(rw, 1 << 20);               /* the last view: memory and name go */
	return 0;
}
