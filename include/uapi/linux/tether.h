/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * tether: secure ranges of a process's address space and learn when the
 * mappings under them change. The ABI of /dev/tether.
 */
#ifndef _UAPI_LINUX_TETHER_H
#define _UAPI_LINUX_TETHER_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define TETHER_DEVICE_NAME "tether"
#define TETHER_TYPE 0xB7

/* The ABI version reported by TETHER_IOC_GET_INFO. */
#define TETHER_ABI_VERSION 1

/**
 * DOC: General ioctl format
 *
 * Every ioctl takes a pointer to a structure whose first __u32 is its size
 * in bytes as userspace knows it, and whose second __u32 is a flags word. The
 * kernel reads min(size, its own size) bytes; if userspace's structure is
 * larger, the bytes the kernel does not know must be zero. Output is written
 * back for min(size, its own size) bytes. This lets old binaries run on new
 * kernels and new binaries use the old subset on old kernels.
 *
 * Every ioctl reports these errors the same way:
 *
 * - ENOTTY: the command is not a tether ioctl.
 * - EINVAL: size is smaller than the first version of the structure, a
 *   flags bit or a reserved field that must be zero is not, or an argument
 *   is out of range (each ioctl lists its own cases).
 * - E2BIG: size is larger than the kernel's structure and the extra bytes
 *   are not all zero.
 * - EFAULT: the structure itself, or memory it names, cannot be accessed.
 * - EPERM: the call comes from a process whose address space is not the
 *   one that opened the file (the descriptor was inherited across fork or
 *   passed over a unix socket). Nothing is changed.
 */

enum {
	TETHER_CMD_GET_INFO = 0x00,
};

/**
 * enum tether_feature - what this module supports (tether_info.features)
 * @TETHER_FEATURE_INFO: TETHER_IOC_GET_INFO; always set.
 */
enum tether_feature {
	TETHER_FEATURE_INFO = 1 << 0,
};

/**
 * struct tether_info - TETHER_IOC_GET_INFO: the API/version handshake
 * @size: (in) sizeof(struct tether_info)
 * @flags: (in) must be 0
 * @abi_version: (out) TETHER_ABI_VERSION of the running module
 * @__reserved: must be 0
 * @features: (out) mask of enum tether_feature the module supports
 *
 * Call it first: a library checks @abi_version and @features and refuses
 * to run when something it needs is missing.
 *
 * Errors: only the general ones.
 */
struct tether_info {
	__u32 size;
	__u32 flags;
	__u32 abi_version;
	__u32 __reserved;
	__aligned_u64 features;
};

#define TETHER_IOC_GET_INFO _IO(TETHER_TYPE, TETHER_CMD_GET_INFO)

#endif /* _UAPI_LINUX_TETHER_H */
