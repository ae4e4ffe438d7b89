/* SPDX-License-Identifier: GPL-2.0 */
/* tether.ko private declarations shared by the module's files. */
#ifndef _TETHER_PRIVATE_H
#define _TETHER_PRIVATE_H

#include <linux/mm_types.h>
#include <linux/types.h>

/* One open of /dev/tether: bound to the opener's address space. */
struct tether_ctx {
	/* the opener's mm, held with mmgrab() (not mmget()) for the file's life */
	struct mm_struct *mm;
};

/* One ioctl call in flight: what the dispatcher hands to a handler. */
struct tether_ucmd {
	struct tether_ctx *ctx;
	void __user *ubuffer;
	u32 user_size;
	/* the kernel copy of the argument, at least the op's size */
	void *cmd;
};

int tether_respond(struct tether_ucmd *ucmd, size_t cmd_len);

/* section.c */
int tether_section_create(struct tether_ucmd *ucmd);
int tether_section_open(struct tether_ucmd *ucmd);

#endif /* _TETHER_PRIVATE_H */
