/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Real RDMA for the tests and the demo: a device (rxe0 by default), a
 * protection domain, and pairs of RC queue pairs connected to each other in
 * one process, to move data with RDMA WRITE and RDMA READ and check it.
 */
#ifndef _TETHER_RDMA_LOOP_H
#define _TETHER_RDMA_LOOP_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <linux/netlink.h>
#include <rdma/rdma_netlink.h>

/* Fill @p with 32-bit words that depend on @seed and on their place. */
static inline void rpattern_fill(void *p, size_t len, uint32_t seed)
{
	uint32_t *w = p;
	size_t i;

	for (i = 0; i < len / 4; i++)
		w[i] = seed * 0x9e3779b1u + (uint32_t)i;
}

/* The bytes of @p (in whole words) that differ from rpattern_fill(@seed). */
static inline size_t rpattern_bad(const void *p, size_t len, uint32_t seed)
{
	const uint32_t *w = p;
	size_t i, bad = 0;

	for (i = 0; i < len / 4; i++)
		if (w[i] != seed * 0x9e3779b1u + (uint32_t)i)
			bad++;
	return bad * 4;
}

/* A device and protection domain shared by any number of pairs. */
struct rdev {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	union ibv_gid gid;
	int gid_index;
	uint8_t port;
};

/* Two RC QPs connected to each other; @qa issues the operations. */
struct rpair {
	struct rdev *dev;
	struct ibv_cq *cq;
	struct ibv_qp *qa;
	struct ibv_qp *qb;
	uint64_t next_id;
	/*
	 * An operation timed out: its completion (and, for a READ, its data)
	 * may still arrive, so the pair is not used again.
	 */
	int broken;
};

/* How long one RDMA operation may take before the pair is given up. */
#define RPAIR_TIMEOUT_S 60

/* Walking netlink attributes in [a, end). */
#define RNLA_OK(a, end)                                                      \
	((char *)(a) + NLA_HDRLEN <= (char *)(end) &&                       \
	 (a)->nla_len >= NLA_HDRLEN && (char *)(a) + (a)->nla_len <= (char *)(end))
#define RNLA_NEXT(a) ((struct nlattr *)((char *)(a) + NLA_ALIGN((a)->nla_len)))
#define RNLA_DATA(a) ((void *)((char *)(a) + NLA_HDRLEN))
#define RNLA_END(a) ((char *)(a) + (a)->nla_len)
#define RNLA_TYPE(a) ((a)->nla_type & NLA_TYPE_MASK)

/* @res's current count in an RDMA_NLDEV_ATTR_RES_SUMMARY nest, or -1. */
static inline long rres_summary(struct nlattr *sum, const char *res)
{
	struct nlattr *e, *f;

	for (e = RNLA_DATA(sum); RNLA_OK(e, RNLA_END(sum)); e = RNLA_NEXT(e)) {
		const char *name = NULL;
		uint64_t curr;
		long n = -1;

		if (RNLA_TYPE(e) != RDMA_NLDEV_ATTR_RES_SUMMARY_ENTRY)
			continue;
		for (f = RNLA_DATA(e); RNLA_OK(f, RNLA_END(e)); f = RNLA_NEXT(f)) {
			if (RNLA_TYPE(f) == RDMA_NLDEV_ATTR_RES_SUMMARY_ENTRY_NAME)
				name = RNLA_DATA(f);
			else if (RNLA_TYPE(f) == RDMA_NLDEV_ATTR_RES_SUMMARY_ENTRY_CURR &&
				 f->nla_len >= NLA_HDRLEN + sizeof(curr)) {
				memcpy(&curr, RNLA_DATA(f), sizeof(curr));
				n = (long)curr;
			}
		}
		if (name && !strcmp(name, res))
			return n;
	}
	return -1;
}

/*
 * How many objects of kind @res ("mr", "qp", "pd", ...) device @dev holds
 * now, for every process: the RDMA netlink resource summary that `rdma
 * resource show` prints (RDMA_NLDEV_CMD_RES_GET). The count, or -1.
 */
static inline long rdev_resource_count(const char *dev, const char *res)
{
	struct nlmsghdr req = {
		.nlmsg_len = sizeof(req),
		.nlmsg_type = RDMA_NL_GET_TYPE(RDMA_NL_NLDEV, RDMA_NLDEV_CMD_RES_GET),
		.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
		.nlmsg_seq = 1,
	};
	static char buf[32768] __attribute__((aligned(8)));
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_RDMA);
	long count = -1;
	int done = 0;

	if (fd < 0)
		return -1;
	if (send(fd, &req, sizeof(req), 0) != sizeof(req))
		done = 1;
	while (!done) {
		ssize_t got = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h = (struct nlmsghdr *)buf;
		int len = got;

		if (got <= 0)
			break;
		for (; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
			struct nlattr *a, *sum = NULL;
			const char *name = NULL;

			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
				done = 1;
				break;
			}
			for (a = NLMSG_DATA(h); RNLA_OK(a, (char *)h + h->nlmsg_len);
			     a = RNLA_NEXT(a)) {
				if (RNLA_TYPE(a) == RDMA_NLDEV_ATTR_DEV_NAME)
					name = RNLA_DATA(a);
				else if (RNLA_TYPE(a) == RDMA_NLDEV_ATTR_RES_SUMMARY)
					sum = a;
			}
			if (name && sum && !strcmp(name, dev))
				count = rres_summary(sum, res);
		}
	}
	close(fd);
	return count;
}

/* Open @name (or $TETHER_RDMA_DEV, or rxe0); 0 or -errno. */
static inline int rdev_open(struct rdev *d, const char *name)
{
	struct ibv_device **list;
	int i, n, ret = -ENODEV;

	memset(d, 0, sizeof(*d));
	if (!name)
		name = getenv("TETHER_RDMA_DEV");
	if (!name)
		name = "rxe0";
	list = ibv_get_device_list(&n);
	if (!list)
		return -errno;
	for (i = 0; i < n; i++)
		if (!strcmp(ibv_get_device_name(list[i]), name))
			break;
	if (i < n) {
		d->ctx = ibv_open_device(list[i]);
		ret = d->ctx ? 0 : -errno;
	}
	ibv_free_device_list(list);
	if (ret)
		return ret;
	d->port = 1;
	d->gid_index = 0;
	if (ibv_query_gid(d->ctx, d->port, d->gid_index, &d->gid))
		goto err;
	d->pd = ibv_alloc_pd(d->ctx);
	if (!d->pd)
		goto err;
	return 0;
err:
	ret = errno ? -errno : -EIO;
	ibv_close_device(d->ctx);
	d->ctx = NULL;
	return ret;
}

static inline void rdev_close(struct rdev *d)
{
	if (d->pd)
		ibv_dealloc_pd(d->pd);
	if (d->ctx)
		ibv_close_device(d->ctx);
	memset(d, 0, sizeof(*d));
}

static inline struct ibv_qp *rpair_qp(struct rpair *p)
{
	struct ibv_qp_init_attr ia = {
		.send_cq = p->cq,
		.recv_cq = p->cq,
		.cap = { .max_send_wr = 64, .max_recv_wr = 64,
			 .max_send_sge = 1, .max_recv_sge = 1 },
		.qp_type = IBV_QPT_RC,
	};

	return ibv_create_qp(p->dev->pd, &ia);
}

/*
 * Take @qp through INIT, RTR and RTS towards QP number @dqpn of the port
 * whose GID is @dgid (this device's own, or another host's).
 */
static inline int rpair_connect_to(struct rpair *p, struct ibv_qp *qp, uint32_t dqpn,
				   const union ibv_gid *dgid)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT,
		.pkey_index = 0,
		.port_num = p->dev->port,
		.qp_access_flags = IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE |
				   IBV_ACCESS_LOCAL_WRITE,
	};

	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
			  IBV_QP_ACCESS_FLAGS))
		return -errno;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = dqpn;
	a.rq_psn = 0;
	a.max_dest_rd_atomic = 4;
	a.min_rnr_timer = 12;
	a.ah_attr.is_global = 1;
	a.ah_attr.grh.dgid = *dgid;
	a.ah_attr.grh.sgid_index = p->dev->gid_index;
	a.ah_attr.grh.hop_limit = 1;
	a.ah_attr.port_num = p->dev->port;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
			  IBV_QP_MIN_RNR_TIMER))
		return -errno;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = 14;
	a.retry_cnt = 7;
	a.rnr_retry = 7;
	a.sq_psn = 0;
	a.max_rd_atomic = 4;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
			  IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC))
		return -errno;
	return 0;
}

/* Take @qp through INIT, RTR and RTS towards QP @dqpn on the same device. */
static inline int rpair_connect(struct rpair *p, struct ibv_qp *qp, uint32_t dqpn)
{
	return rpair_connect_to(p, qp, dqpn, &p->dev->gid);
}

static inline void rpair_close(struct rpair *p)
{
	if (p->qa)
		ibv_destroy_qp(p->qa);
	if (p->qb)
		ibv_destroy_qp(p->qb);
	if (p->cq)
		ibv_destroy_cq(p->cq);
	memset(p, 0, sizeof(*p));
}

static inline int rpair_open(struct rpair *p, struct rdev *d)
{
	int ret;

	memset(p, 0, sizeof(*p));
	p->dev = d;
	p->cq = ibv_create_cq(d->ctx, 128, NULL, NULL, 0);
	if (!p->cq)
		return -errno;
	p->qa = rpair_qp(p);
	p->qb = rpair_qp(p);
	if (!p->qa || !p->qb) {
		ret = -errno;
		goto err;
	}
	ret = rpair_connect(p, p->qa, p->qb->qp_num);
	if (!ret)
		ret = rpair_connect(p, p->qb, p->qa->qp_num);
	if (!ret)
		return 0;
err:
	rpair_close(p);
	return ret;
}

/*
 * Wait for the completion of work request @wr_id posted on @qa. 0, or -EIO
 * with the completion status in *@status, or -ETIMEDOUT after
 * RPAIR_TIMEOUT_S (the pair is broken from then on: -EPIPE).
 */
static inline int rpair_wait(struct rpair *p, uint64_t wr_id, enum ibv_wc_status *status)
{
	struct timespec t0, t1;
	struct ibv_wc wc;
	int n;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		n = ibv_poll_cq(p->cq, 1, &wc);
		if (n < 0)
			return -EIO;
		if (n == 1 && wc.wr_id == wr_id)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (t1.tv_sec - t0.tv_sec > RPAIR_TIMEOUT_S) {
			p->broken = 1;
			return -ETIMEDOUT;
		}
	}
	if (status)
		*status = wc.status;
	return wc.status == IBV_WC_SUCCESS ? 0 : -EIO;
}

/*
 * Post one RDMA operation from @qa: @local (@lkey) <-> @raddr (@rkey), and
 * wait for its own completion (matched by id), as rpair_wait().
 */
static inline int rpair_rdma(struct rpair *p, enum ibv_wr_opcode op, void *local,
			     uint32_t lkey, uint64_t raddr, uint32_t rkey, size_t len,
			     enum ibv_wc_status *status)
{
	struct ibv_sge sge = { .addr = (uintptr_t)local, .length = len, .lkey = lkey };
	struct ibv_send_wr wr = {
		.wr_id = ++p->next_id, .sg_list = &sge, .num_sge = 1, .opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = { .remote_addr = raddr, .rkey = rkey },
	}, *bad;

	if (p->broken)
		return -EPIPE;
	if (ibv_post_send(p->qa, &wr, &bad))
		return -errno;
	return rpair_wait(p, wr.wr_id, status);
}

/*
 * Bind type 1 memory window @mw to [@addr, @addr + @len) of @mr for remote
 * @access through @qa, and wait for it. 0 or a negative errno.
 */
static inline int rpair_bind_mw(struct rpair *p, struct ibv_mw *mw, struct ibv_mr *mr,
				void *addr, size_t len, unsigned int access)
{
	struct ibv_mw_bind bind = {
		.wr_id = ++p->next_id, .send_flags = IBV_SEND_SIGNALED,
		.bind_info = { .mr = mr, .addr = (uintptr_t)addr, .length = len,
			       .mw_access_flags = access },
	};
	int ret;

	if (p->broken)
		return -EPIPE;
	ret = ibv_bind_mw(p->qa, mw, &bind);
	if (ret)
		return -ret;
	return rpair_wait(p, bind.wr_id, NULL);
}

#endif /* _TETHER_RDMA_LOOP_H */
