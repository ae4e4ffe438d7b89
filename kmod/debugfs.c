// SPDX-License-Identifier: GPL-2.0
/*
 * tether: the global debugfs view, /sys/kernel/debug/tether/contexts, one
 * line per open context with its owner and counters.
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "tether_kmod.h"

/* every open context, for the debugfs view */
LIST_HEAD(tether_ctx_list);
/* protects tether_ctx_list */
DEFINE_MUTEX(tether_ctx_list_lock);

static struct dentry *tether_debugfs_dir;

static int tether_contexts_show(struct seq_file *m, void *unused)
{
	struct tether_ctx *ctx;
	struct tether_ev_stats ev;

	seq_puts(m, "pid comm regions pinned_pages secured released invalidated events dropped overflows kept retries requests request_pages unmap clear protection migrate exit other\n");
	mutex_lock(&tether_ctx_list_lock);
	list_for_each_entry(ctx, &tether_ctx_list, node) {
		spin_lock(&ctx->lock);
		ev = ctx->ev;
		spin_unlock(&ctx->lock);
		seq_printf(m, "%d %s %lld %lld %lld %lld %llu %llu %llu %llu %llu %lld %lld %lld %llu %llu %llu %llu %llu %llu\n",
			   ctx->owner_pid, ctx->owner_comm,
			   atomic64_read(&ctx->nr_regions),
			   atomic64_read(&ctx->pinned_pages),
			   atomic64_read(&ctx->secured),
			   atomic64_read(&ctx->released),
			   ev.invalidated, ev.events, ev.dropped, ev.overflows,
			   ev.kept, atomic64_read(&ctx->retries),
			   atomic64_read(&ctx->nr_requests),
			   atomic64_read(&ctx->req_pages),
			   ev.by_reason[TETHER_REASON_UNMAP],
			   ev.by_reason[TETHER_REASON_CLEAR],
			   ev.by_reason[TETHER_REASON_PROTECTION],
			   ev.by_reason[TETHER_REASON_MIGRATE],
			   ev.by_reason[TETHER_REASON_EXIT],
			   ev.by_reason[TETHER_REASON_OTHER]);
	}
	mutex_unlock(&tether_ctx_list_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(tether_contexts);

void tether_debugfs_init(void)
{
	tether_debugfs_dir = debugfs_create_dir(KBUILD_MODNAME, NULL);
	debugfs_create_file("contexts", 0400, tether_debugfs_dir, NULL,
			    &tether_contexts_fops);
}

void tether_debugfs_exit(void)
{
	debugfs_remove_recursive(tether_debugfs_dir);
}
