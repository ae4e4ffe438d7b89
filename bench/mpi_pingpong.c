// SPDX-License-Identifier: GPL-2.0
/*
 * tether-mpi-pingpong: an MPI ping-pong between two ranks in the spirit of
 * osu_latency and osu_bw, with every byte of every message checked and a
 * mode that frees and reallocates the buffers every iteration, so that a
 * registration cache under the MPI library sees invalidations.
 *
 * Usage: mpirun -np 2 tether-mpi-pingpong [-m MIN] [-M MAX] [-i ITERS]
 *                                         [-x STEP] [-w WINDOW] [-c none|malloc|mmap]
 *
 *   -m, -M  smallest and largest message size in bytes (default 1 and 4 MiB)
 *   -x      factor from one size to the next (default 2)
 *   -i      iterations per size (default 100; a tenth of it, at least 2,
 *           for sizes above 64 KiB)
 *   -w      messages per bandwidth window, as osu_bw (default 16)
 *   -c      buffer churn before every iteration: none; malloc (free and
 *           malloc again); mmap (munmap and mmap again at the same
 *           address, MAP_FIXED_NOREPLACE)
 *
 * Every message carries a pattern that depends on the iteration, the
 * sender's rank, the message's place in its window and the byte offset; the
 * receiver checks every byte. The timed part is the churn and the
 * communication, not the filling and checking. Prints one row per size:
 * latency (half the round trip), bandwidth (window of sends, one ack), the
 * wrong bytes seen by either rank, and how often the churn got the same
 * address back. Exit status 0 only when no byte was wrong.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <mpi.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

enum churn { CHURN_NONE, CHURN_MALLOC, CHURN_MMAP };

static const char *const churn_names[] = { "none", "malloc", "mmap" };

/* one buffer that the churn replaces */
struct buf {
	unsigned char *p;
	size_t len;
	int from_mmap;
};

static int rank;

static void die(const char *what)
{
	fprintf(stderr, "rank %d: %s: %s\n", rank, what, strerror(errno));
	MPI_Abort(MPI_COMM_WORLD, 2);
	exit(2);
}

static void buf_alloc(struct buf *b, size_t len, enum churn churn, void *hint)
{
	b->len = len;
	b->from_mmap = churn == CHURN_MMAP;
	if (b->from_mmap) {
		b->p = MAP_FAILED;
		if (hint)
			b->p = mmap(hint, len, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (b->p == MAP_FAILED) /* the address is taken: anywhere */
			b->p = mmap(NULL, len, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (b->p == MAP_FAILED)
			die("mmap");
	} else {
		b->p = malloc(len);
		if (!b->p)
			die("malloc");
	}
}

static void buf_free(struct buf *b)
{
	if (b->from_mmap)
		munmap(b->p, b->len);
	else
		free(b->p);
	b->p = NULL;
}

/* free and allocate again; 1 when the same address came back */
static int buf_churn(struct buf *b, enum churn churn)
{
	void *old = b->p;

	if (churn == CHURN_NONE)
		return 0;
	buf_free(b);
	buf_alloc(b, b->len, churn, old);
	return b->p == old;
}

static unsigned char pattern(unsigned long iter, int from, size_t i)
{
	uint64_t x = (iter + 1) * 0x9e3779b97f4a7c15ull ^ (uint64_t)(from + 1) << 56 ^ i;

	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	return (unsigned char)(x ^ x >> 32);
}

static void fill(struct buf *b, size_t len, unsigned long iter, int from)
{
	for (size_t i = 0; i < len; i++)
		b->p[i] = pattern(iter, from, i);
}

static unsigned long check(const struct buf *b, size_t len, unsigned long iter, int from)
{
	unsigned long bad = 0;

	for (size_t i = 0; i < len; i++)
		bad += b->p[i] != pattern(iter, from, i);
	return bad;
}

struct result {
	double lat_us, mbps;
	unsigned long bad, reused, churns;
	unsigned long messages, bytes; /* both directions */
};

/* osu_latency: iters round trips; rank 0 sends first */
static void latency(struct buf *s, struct buf *r, size_t len, unsigned long iters,
		    enum churn churn, struct result *res)
{
	int peer = !rank;
	double t = 0, t0;

	for (unsigned long it = 0; it < iters; it++) {
		t0 = MPI_Wtime();
		res->reused += buf_churn(s, churn) + buf_churn(r, churn);
		res->churns += churn != CHURN_NONE ? 2 : 0;
		t += MPI_Wtime() - t0;
		fill(s, len, it, rank);
		memset(r->p, 0, len);
		t0 = MPI_Wtime();
		if (rank == 0) {
			MPI_Send(s->p, (int)len, MPI_BYTE, peer, 1, MPI_COMM_WORLD);
			MPI_Recv(r->p, (int)len, MPI_BYTE, peer, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
		} else {
			MPI_Recv(r->p, (int)len, MPI_BYTE, peer, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
			MPI_Send(s->p, (int)len, MPI_BYTE, peer, 1, MPI_COMM_WORLD);
		}
		t += MPI_Wtime() - t0;
		res->bad += check(r, len, it, peer);
	}
	res->lat_us = t / iters / 2 * 1e6;
	res->messages += 2 * iters;
	res->bytes += 2 * iters * len;
}

/* osu_bw: windows of @window messages from rank 0, one ack from rank 1 */
static void bandwidth(struct buf *win, size_t len, unsigned long iters, int window,
		      enum churn churn, struct result *res)
{
	MPI_Request req[64];
	int peer = !rank;
	char ack = 0;
	double t = 0, t0;

	for (unsigned long it = 0; it < iters; it++) {
		t0 = MPI_Wtime();
		for (int w = 0; w < window; w++) {
			res->reused += buf_churn(&win[w], churn);
			res->churns += churn != CHURN_NONE;
		}
		t += MPI_Wtime() - t0;
		for (int w = 0; w < window; w++) {
			if (rank == 0)
				fill(&win[w], len, it * window + w, rank);
			else
				memset(win[w].p, 0, len);
		}
		t0 = MPI_Wtime();
		for (int w = 0; w < window; w++) {
			if (rank == 0)
				MPI_Isend(win[w].p, (int)len, MPI_BYTE, peer, 2, MPI_COMM_WORLD, &req[w]);
			else
				MPI_Irecv(win[w].p, (int)len, MPI_BYTE, peer, 2, MPI_COMM_WORLD, &req[w]);
		}
		MPI_Waitall(window, req, MPI_STATUSES_IGNORE);
		if (rank == 0)
			MPI_Recv(&ack, 1, MPI_BYTE, peer, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
		else
			MPI_Send(&ack, 1, MPI_BYTE, peer, 3, MPI_COMM_WORLD);
		t += MPI_Wtime() - t0;
		if (rank == 1)
			for (int w = 0; w < window; w++)
				res->bad += check(&win[w], len, it * window + w, peer);
	}
	res->mbps = (double)len * window * iters / t / 1e6;
	res->messages += (window + 1) * iters;
	res->bytes += (len * window + 1) * iters;
}

static unsigned long parse(const char *s, const char *what, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || !v || v > max) {
		if (rank == 0)
			fprintf(stderr, "tether-mpi-pingpong: bad %s '%s' (1..%lu)\n", what, s, max);
		MPI_Finalize();
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	unsigned long min = 1, max = 4ul << 20, iters = 100, bad_total = 0, bad;
	unsigned long messages = 0, bytes = 0;
	double t0;
	enum churn churn = CHURN_NONE;
	unsigned long step = 2;
	int window = 16, size, opt;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	while ((opt = getopt(argc, argv, "m:M:x:i:w:c:")) != -1) {
		switch (opt) {
		case 'm': min = parse(optarg, "minimum size", 1ul << 30); break;
		case 'M': max = parse(optarg, "maximum size", 1ul << 30); break;
		case 'x': step = parse(optarg, "size step", 1024); break;
		case 'i': iters = parse(optarg, "iteration count", 1ul << 30); break;
		case 'w': window = (int)parse(optarg, "window", 64); break;
		case 'c':
			for (churn = CHURN_NONE; churn <= CHURN_MMAP; churn++)
				if (!strcmp(optarg, churn_names[churn]))
					break;
			if (churn <= CHURN_MMAP)
				break;
			/* fall through */
		default:
			if (rank == 0)
				fprintf(stderr, "usage: mpirun -np 2 %s [-m MIN] [-M MAX] [-x STEP] [-i ITERS] [-w WINDOW] [-c none|malloc|mmap]\n",
					argv[0]);
			MPI_Finalize();
			return 2;
		}
	}
	if (size != 2 || min > max || step < 2) {
		if (rank == 0)
			fprintf(stderr, "tether-mpi-pingpong: %s\n",
				size != 2 ? "needs exactly two ranks" :
				step < 2 ? "size step below 2" : "minimum size above maximum");
		MPI_Finalize();
		return 2;
	}
	if (rank == 0) {
		printf("# tether-mpi-pingpong: churn %s, %lu iterations, window %d\n",
		       churn_names[churn], iters, window);
		printf("%10s %12s %12s %10s %14s\n", "bytes", "latency-us", "MB/s",
		       "wrong-bytes", "same-address");
	}
	t0 = MPI_Wtime();
	for (size_t len = min; len <= max; len *= step) {
		unsigned long n = len > 65536 ? (iters / 10 > 2 ? iters / 10 : 2) : iters;
		struct result res = { 0 };
		struct buf s, r, win[64];

		buf_alloc(&s, len, churn, NULL);
		buf_alloc(&r, len, churn, NULL);
		for (int w = 0; w < window; w++)
			buf_alloc(&win[w], len, churn, NULL);
		MPI_Barrier(MPI_COMM_WORLD);
		latency(&s, &r, len, n, churn, &res);
		MPI_Barrier(MPI_COMM_WORLD);
		bandwidth(win, len, n, window, churn, &res);
		buf_free(&s);
		buf_free(&r);
		for (int w = 0; w < window; w++)
			buf_free(&win[w]);
		MPI_Reduce(&res.bad, &bad, 1, MPI_UNSIGNED_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
		bad_total += bad;
		messages += res.messages;
		bytes += res.bytes;
		if (rank == 0)
			printf("%10zu %12.2f %12.2f %10lu %7lu/%-6lu\n", len, res.lat_us, res.mbps,
			       bad, res.reused, res.churns);
		fflush(stdout);
	}
	MPI_Bcast(&bad_total, 1, MPI_UNSIGNED_LONG, 0, MPI_COMM_WORLD);
	if (rank == 0) {
		printf("moved %lu bytes in %lu messages in %.2f s\n", bytes, messages,
		       MPI_Wtime() - t0);
		printf("%s: %lu wrong bytes\n", bad_total ? "FAIL" : "ok", bad_total);
	}
	MPI_Finalize();
	return bad_total ? 1 : 0;
}
