/*
 * report_peers.c - the peers' part of what `helios bench` prints: each
 * peer's row beside Helios (definition 4 of report.c: the peer's p50 over
 * Helios's, a W1 restore against Helios's restore+read, since a peer's
 * restore copies the value out), DESIGN.md's ratios to LMDB judged, the
 * configurations once each, and the "peers" objects of the JSON report
 * (report.c's schema). The CSV rows are report.c's.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "kit.h"

/* DESIGN.md's ratios to LMDB (definition 4): the peer's p50 over Helios's
 * is at least `ratio`. */
struct peer_target {
	const char *peer;
	enum hl_workload workload;
	enum hl_bench_op op; /* HL_OP_COMMIT or HL_OP_RESTORE */
	double ratio;
};

static const struct peer_target peer_targets[] = {
	{"lmdb", HL_WORKLOAD_W1, HL_OP_COMMIT, 10},
	{"lmdb", HL_WORKLOAD_W1, HL_OP_RESTORE, 1.1},
	{"lmdb", HL_WORKLOAD_W2, HL_OP_COMMIT, 200},
};

/* The Helios operation a peer's op is compared with (definition 4):
 * restore+read for a restore where the run timed it; -1 without a run. */
static int helios_op_for_peer(const struct hl_bench_report *r,
			      const struct hl_bench_peer_row *p, enum hl_bench_op op)
{
	const struct hl_bench_run *h = hl_report_find_run(r, p->workload, 1);
	if (!h)
		return -1;
	if (op == HL_OP_RESTORE && h->op[HL_OP_RESTORE_READ].count)
		return HL_OP_RESTORE_READ;
	return (int)op;
}

/* Definition 4. NAN without a Helios run or a sample on either side. */
static double peer_ratio(const struct hl_bench_report *r,
			 const struct hl_bench_peer_row *p, enum hl_bench_op op)
{
	const struct hl_bench_run *h = hl_report_find_run(r, p->workload, 1);
	int hop = helios_op_for_peer(r, p, op);
	if (!h || hop < 0 || !hl_report_peer_measured(p))
		return NAN;
	uint64_t helios = hl_hist_percentile(&h->op[hop], 50);
	uint64_t peer = hl_hist_percentile(hl_report_peer_hist(p, op), 50);
	if (!helios || !hl_report_peer_hist(p, op)->count)
		return NAN;
	return (double)peer / (double)helios;
}

/* DESIGN.md's ratio for (peer, workload, op), or NAN: none. */
static double peer_target(const struct hl_bench_peer_row *p, enum hl_bench_op op)
{
	for (size_t i = 0; i < sizeof peer_targets / sizeof peer_targets[0]; i++)
		if (p->peer && !strcmp(p->peer, peer_targets[i].peer) &&
		    p->workload == peer_targets[i].workload && op == peer_targets[i].op)
			return peer_targets[i].ratio;
	return NAN;
}

/* "7.5x slower than Helios" (definition 4), or "-". */
static const char *fmt_vs(char *buf, size_t len, double ratio)
{
	if (!isfinite(ratio) || ratio <= 0)
		snprintf(buf, len, "-");
	else if (ratio >= 1)
		snprintf(buf, len, ratio < 10 ? "%.1fx slower than Helios"
					       : "%.0fx slower than Helios", ratio);
	else
		snprintf(buf, len, ratio > 0.1 ? "%.1fx faster than Helios"
					       : "%.0fx faster than Helios", 1 / ratio);
	return buf;
}

/* A skipped peer is one line, however many workloads it skipped. */
static bool skipped_before(const struct hl_bench_report *r, unsigned i)
{
	for (unsigned j = 0; j < i; j++)
		if (r->peers[j].skipped && r->peers[j].peer && r->peers[i].peer &&
		    !strcmp(r->peers[j].peer, r->peers[i].peer))
			return true;
	return false;
}

static void table_peer_row(FILE *out, const struct hl_bench_report *r, unsigned i)
{
	const struct hl_bench_peer_row *p = &r->peers[i];
	const char *name = p->peer ? p->peer : "?";
	int why_len = (int)strnlen(p->why, sizeof p->why);
	if (p->skipped) {
		if (!skipped_before(r, i))
			hl_report_line(out, "  %-11s skipped: %.*s", name, why_len, p->why);
		return;
	}
	const char *w = hl_workload_name(p->workload);
	if (p->failed) {
		hl_report_line(out, "  %-11s %-8s FAILED: %.*s", name, w, why_len, p->why);
		return;
	}
	char c50[24], c99[24], r50[24], r99[24], cvs[48], rvs[64], targets[96] = "";
	fmt_vs(rvs, sizeof rvs, peer_ratio(r, p, HL_OP_RESTORE));
	if (helios_op_for_peer(r, p, HL_OP_RESTORE) == HL_OP_RESTORE_READ &&
	    strcmp(rvs, "-"))
		strncat(rvs, " (+read)", sizeof rvs - strlen(rvs) - 1);
	size_t tl = 0;
	for (unsigned op = HL_OP_COMMIT; op <= HL_OP_RESTORE; op++) {
		double t = peer_target(p, op), x = peer_ratio(r, p, op);
		if (!isfinite(t))
			continue;
		tl += (size_t)snprintf(targets + tl, sizeof targets - tl, "%s%s >= %gx %s",
				       tl ? ", " : "", hl_bench_op_name(op), t,
				       !isfinite(x) ? "-" : x >= t ? "PASS" : "MISS");
		if (tl >= sizeof targets)
			break;
	}
	hl_report_line(out, "  %-11s %-8s %11s %11s %12s %12s  %-25s %-34s %s", name, w,
	     hl_report_fmt_ns(c50, sizeof c50, hl_hist_percentile(&p->r.commit, 50)),
	     hl_report_fmt_ns(c99, sizeof c99, hl_hist_percentile(&p->r.commit, 99)),
	     hl_report_fmt_ns(r50, sizeof r50, hl_hist_percentile(&p->r.restore, 50)),
	     hl_report_fmt_ns(r99, sizeof r99, hl_hist_percentile(&p->r.restore, 99)),
	     fmt_vs(cvs, sizeof cvs, peer_ratio(r, p, HL_OP_COMMIT)), rvs, targets);
}

/* Each measured peer's configuration, once per distinct text. */
static void table_peer_configs(FILE *out, const struct hl_bench_report *r)
{
	for (unsigned i = 0; i < hl_report_peer_count(r); i++) {
		const struct hl_bench_peer_row *p = &r->peers[i];
		if (!hl_report_peer_measured(p) || !p->r.config[0])
			continue;
		bool seen = false;
		for (unsigned j = 0; j < i && !seen; j++)
			seen = hl_report_peer_measured(&r->peers[j]) &&
			       !strncmp(r->peers[j].r.config, p->r.config,
					sizeof p->r.config);
		if (!seen)
			hl_report_line(out, "  %-11s config: %.*s", p->peer ? p->peer : "?",
			     (int)strnlen(p->r.config, sizeof p->r.config), p->r.config);
	}
}

void hl_report_peers_table(FILE *out, const struct hl_bench_report *r)
{
	if (!hl_report_peer_count(r)) {
		hl_report_line(out, "peers: none were run");
		return;
	}
	hl_report_line(out, "peers: the same W1/W2 through each store, one process; vs Helios"
		  " = the peer's p50 / Helios's p50 (1 worker, this run; a peer's"
		  " restore copies the value out, so (+read) is against Helios's"
		  " restore+read)");
	hl_report_line(out, "  %-11s %-8s %11s %11s %12s %12s  %-25s %-34s %s", "peer", "workload",
	     "commit p50", "commit p99", "restore p50", "restore p99",
	     "commit vs Helios", "restore vs Helios", "target (DESIGN.md)");
	for (unsigned i = 0; i < hl_report_peer_count(r); i++)
		table_peer_row(out, r, i);
	table_peer_configs(out, r);
}

static void json_peer_op(struct hl_json *j, const char *key,
			 const struct hl_bench_peer_row *p, enum hl_bench_op op)
{
	if (!hl_report_peer_measured(p)) {
		hl_json_null(j, key);
		return;
	}
	hl_json_open(j, key, '{');
	hl_report_json_hist(j, hl_report_peer_hist(p, op), hl_report_peer_op_rate(&p->r, hl_report_peer_hist(p, op)));
	hl_json_close(j);
}

void hl_report_json_peer(struct hl_json *j, const struct hl_bench_report *r,
			 const struct hl_bench_peer_row *p)
{
	bool m = hl_report_peer_measured(p);
	hl_json_open(j, NULL, '{');
	hl_json_str(j, "peer", p->peer, 64);
	hl_json_str(j, "workload", hl_workload_name(p->workload), 16);
	hl_json_bool(j, "skipped", p->skipped);
	hl_json_bool(j, "failed", p->failed);
	hl_json_str(j, "why", p->why, sizeof p->why);
	hl_json_str(j, "config", p->r.config, sizeof p->r.config);
	hl_json_u64(j, "ops", m ? p->r.ops : 0);
	hl_json_u64(j, "verified", m ? p->r.verified : 0);
	hl_json_num(j, "seconds", m ? p->r.seconds : 0);
	json_peer_op(j, "commit", p, HL_OP_COMMIT);
	json_peer_op(j, "restore", p, HL_OP_RESTORE);
	hl_json_num(j, "commit_vs_helios", peer_ratio(r, p, HL_OP_COMMIT));
	hl_json_num(j, "restore_vs_helios", peer_ratio(r, p, HL_OP_RESTORE));
	int hop = helios_op_for_peer(r, p, HL_OP_RESTORE);
	if (m && hop >= 0)
		hl_json_str(j, "restore_vs_helios_op", hl_bench_op_name(hop), 16);
	else
		hl_json_null(j, "restore_vs_helios_op");
	for (unsigned op = HL_OP_COMMIT; op <= HL_OP_RESTORE; op++) {
		double t = peer_target(p, op), x = peer_ratio(r, p, op);
		hl_json_num(j, op == HL_OP_COMMIT ? "commit_target" : "restore_target", t);
		hl_report_json_pass(j, op == HL_OP_COMMIT ? "commit_pass" : "restore_pass",
			  isfinite(t) && isfinite(x), x >= t);
	}
	hl_json_close(j);
}

