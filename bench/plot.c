/*
 * plot.c - `helios bench --plot FILE.svg`: the report drawn as one SVG,
 * written directly (no gnuplot: nothing to install, and the file is the
 * same on every machine).
 *
 * Two panels side by side under a title (date, machine):
 *  (1) Scaling: ops/s against the worker count, one polyline with markers
 *      per workload, each marker labelled with its ratio to 1 worker; a
 *      dashed line per workload is ideal linear scaling from its 1-worker
 *      point. x is linear from 0 to the largest count, ticks at the counts
 *      run; y is linear from 0 to just above the largest measured rate, so
 *      the ideal lines (which would dwarf an oversubscribed sweep) are
 *      clipped to the panel rather than setting its scale.
 *  (2) Latency distribution: the CDF (y: 0..1) of commit (solid) and
 *      restore (dashed) for each workload's 1-worker run and for each peer
 *      that ran, against log10 of the latency (decade ticks 100 ns, 1 us,
 *      ...). From a histogram the CDF is known at bucket bounds: each
 *      bucket holding samples contributes the points (its lower bound,
 *      fraction below it) and (its upper bound, fraction up to it), bounds
 *      clamped to the recorded min/max, so the curve is exact to the
 *      histogram's 1/32 resolution and starts at min and ends at max.
 *
 * Invariants:
 *  1. The file is well-formed XML: every text from outside (machine, peer
 *     names) is escaped, control characters and invalid UTF-8 become '?'.
 *  2. Every coordinate is finite: empty ranges are widened before scaling,
 *     and a panel with no data says so instead of drawing.
 *  3. Nothing but const tables at file scope; the layout is computed from
 *     the report (legend rows grow the canvas, never overlap the axes).
 */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "kit.h"

#define CANVAS_W 1200.0
#define TITLE_H 64.0
#define PANEL_TOP 96.0   /* top of both plot areas */
#define PANEL_H 330.0
#define PANEL_W 470.0
#define PANEL1_LEFT 90.0
#define PANEL2_LEFT 690.0
#define LEGEND_TOP (PANEL_TOP + PANEL_H + 62.0)
#define LEGEND_ROW_H 17.0
#define LEGEND_COL_W 235.0
#define SERIES_MAX (2u * HL_WORKLOAD_COUNT + 2u * HL_BENCH_PEER_ROWS_MAX)

static const char *const palette[] = {
	"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
	"#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22",
};
#define PALETTE_N (sizeof palette / sizeof palette[0])

static const char *const decade_labels[] = {
	"1 ns", "10 ns", "100 ns", "1 us", "10 us", "100 us", "1 ms", "10 ms",
	"100 ms", "1 s", "10 s", "100 s", "1000 s", "10^13 ns", "10^14 ns",
	"10^15 ns", "10^16 ns", "10^17 ns", "10^18 ns", "10^19 ns", "10^20 ns",
};
#define DECADES_N ((int)(sizeof decade_labels / sizeof decade_labels[0]))

/* A plot area in pixels and the data range it shows. */
struct panel {
	double left, top, width, height;
	double xlo, xhi, ylo, yhi;
};

/* One line of a legend. */
struct legend {
	char label[96];
	const char *color;
	bool dashed, marker;
};

/* One CDF curve. */
struct series {
	const struct hl_hist *h;
	struct legend key;
};

static double px_x(const struct panel *p, double x)
{
	return p->left + (x - p->xlo) / (p->xhi - p->xlo) * p->width;
}

static double px_y(const struct panel *p, double y)
{
	return p->top + p->height - (y - p->ylo) / (p->yhi - p->ylo) * p->height;
}

/* ---- text ---------------------------------------------------------------------- */

/* Escaped character data of at most max bytes of s (invariant 1). */
static void xml_text(FILE *out, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = strnlen((const char *)p, max);
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		size_t len = 1;
		if (c == '&')
			fputs("&amp;", out);
		else if (c == '<')
			fputs("&lt;", out);
		else if (c == '>')
			fputs("&gt;", out);
		else if (c == '"')
			fputs("&quot;", out);
		else if (c < 0x20 || c == 0x7f)
			fputc('?', out);
		else if (c < 0x80)
			fputc(c, out);
		else if ((len = hl_utf8_len(p + i, n - i)))
			fwrite(p + i, 1, len, out);
		else
			fputc('?', out);
		i += len ? len : 1;
	}
}

/* <text> at (x, y) with the given attributes; s escaped. */
static void text_at(FILE *out, double x, double y, const char *attrs,
		    const char *s, size_t max)
{
	fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" %s>", x, y, attrs);
	xml_text(out, s, max);
	fputs("</text>\n", out);
}

/* ---- data -------------------------------------------------------------------------- */

/* 1, 2 or 5 times a power of ten, at least x (x > 0). */
static double nice_step(double x)
{
	double p = pow(10, floor(log10(x)));
	double m = x / p;
	return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/* The CDF curves of panel 2 (see the design comment). */
static unsigned cdf_series(const struct hl_bench_report *r, struct series *s)
{
	unsigned n = 0, color = 0;
	for (unsigned w = 0; w < HL_WORKLOAD_COUNT; w++) {
		const struct hl_bench_run *run = hl_report_find_run(r, w, 1);
		if (!run)
			continue;
		for (unsigned op = HL_OP_COMMIT; op <= HL_OP_RESTORE; op++) {
			if (!run->op[op].count)
				continue;
			s[n].h = &run->op[op];
			snprintf(s[n].key.label, sizeof s[n].key.label, "helios %s %s",
				 hl_workload_name(w), hl_bench_op_name(op));
			s[n].key.color = palette[color % PALETTE_N];
			s[n].key.dashed = op == HL_OP_RESTORE;
			s[n++].key.marker = false;
		}
		color++;
	}
	for (unsigned i = 0; i < hl_report_peer_count(r); i++) {
		const struct hl_bench_peer_row *p = &r->peers[i];
		if (p->skipped || p->failed)
			continue;
		const struct hl_hist *h[2] = {&p->r.commit, &p->r.restore};
		for (unsigned op = 0; op < 2; op++) {
			if (!h[op]->count)
				continue;
			s[n].h = h[op];
			snprintf(s[n].key.label, sizeof s[n].key.label, "%.40s %s %s",
				 p->peer ? p->peer : "?", hl_workload_name(p->workload),
				 hl_bench_op_name(op));
			s[n].key.color = palette[color % PALETTE_N];
			s[n].key.dashed = op == 1;
			s[n++].key.marker = false;
		}
		color++;
	}
	return n;
}

/* ---- frames, axes, legends ------------------------------------------------------------ */

static void frame(FILE *out, const struct panel *p, const char *title, const char *id)
{
	fprintf(out, "<clipPath id=\"%s\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\""
		     " height=\"%.1f\"/></clipPath>\n",
		id, p->left, p->top, p->width, p->height);
	fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\""
		     " fill=\"#ffffff\" stroke=\"#444444\"/>\n",
		p->left, p->top, p->width, p->height);
	text_at(out, p->left + p->width / 2, p->top - 12,
		"text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\"", title, 128);
}

static void x_tick(FILE *out, const struct panel *p, double x, const char *label,
		   bool grid)
{
	double X = px_x(p, x), bottom = p->top + p->height;
	if (grid)
		fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\""
			     " stroke=\"#e3e3e3\"/>\n", X, p->top, X, bottom);
	fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\""
		     " stroke=\"#444444\"/>\n", X, bottom, X, bottom + 5);
	if (label)
		text_at(out, X, bottom + 19, "text-anchor=\"middle\" font-size=\"12\"",
			label, 32);
}

static void y_tick(FILE *out, const struct panel *p, double y, const char *label)
{
	double Y = px_y(p, y);
	fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\""
		     " stroke=\"#e3e3e3\"/>\n", p->left, Y, p->left + p->width, Y);
	fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\""
		     " stroke=\"#444444\"/>\n", p->left - 5, Y, p->left, Y);
	text_at(out, p->left - 8, Y + 4, "text-anchor=\"end\" font-size=\"12\"", label, 32);
}

static void axis_labels(FILE *out, const struct panel *p, const char *x, const char *y)
{
	text_at(out, p->left + p->width / 2, p->top + p->height + 42,
		"text-anchor=\"middle\" font-size=\"13\"", x, 96);
	double cx = p->left - 62, cy = p->top + p->height / 2;
	fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" transform=\"rotate(-90 %.1f %.1f)\""
		     " text-anchor=\"middle\" font-size=\"13\">", cx, cy, cx, cy);
	xml_text(out, y, 96);
	fputs("</text>\n", out);
}

static void no_data(FILE *out, const struct panel *p, const char *what)
{
	text_at(out, p->left + p->width / 2, p->top + p->height / 2,
		"text-anchor=\"middle\" font-size=\"14\" fill=\"#888888\"", what, 96);
}

static const char *dash_attr(bool dashed)
{
	return dashed ? " stroke-dasharray=\"7 4\"" : "";
}

/* Two columns under the panel, starting at LEGEND_TOP. */
static void legend(FILE *out, const struct panel *p, const struct legend *k, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		double x = p->left + (i % 2) * LEGEND_COL_W;
		double y = LEGEND_TOP + (i / 2) * LEGEND_ROW_H;
		fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\""
			     " stroke=\"%s\" stroke-width=\"2\"%s/>\n",
			x, y - 4, x + 28, y - 4, k[i].color, dash_attr(k[i].dashed));
		if (k[i].marker)
			fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>\n",
				x + 14, y - 4, k[i].color);
		text_at(out, x + 36, y, "font-size=\"12\"", k[i].label, sizeof k[i].label);
	}
}

static unsigned legend_rows(unsigned entries)
{
	return (entries + 1) / 2;
}

/* ---- panel 1: scaling ------------------------------------------------------------------ */

static void scaling_range(const struct hl_bench_report *r, struct panel *p)
{
	double ymax = 0;
	unsigned wmax = 1;
	for (unsigned i = 0; i < hl_report_run_count(r); i++) {
		if (r->runs[i].workers > wmax)
			wmax = r->runs[i].workers;
		if (isfinite(r->runs[i].ops_per_s) && r->runs[i].ops_per_s > ymax)
			ymax = r->runs[i].ops_per_s;
	}
	p->xlo = 0;
	p->xhi = wmax + (wmax < 4 ? 0.5 : wmax / 16.0);
	p->ylo = 0;
	double step = nice_step(ymax > 0 ? ymax * 1.12 / 5 : 1);
	p->yhi = step * ceil(ymax * 1.12 / step);
	if (!(p->yhi > 0))
		p->yhi = step;
}

static void scaling_axes(FILE *out, const struct hl_bench_report *r,
			 const struct panel *p)
{
	double step = nice_step(p->yhi / 5.5);
	for (double y = 0; y <= p->yhi * (1 + 1e-9); y += step) {
		char label[24];
		hl_fmt_count(label, sizeof label, y);
		y_tick(out, p, y, label);
	}
	for (unsigned i = 0; i < hl_report_run_count(r); i++) {
		unsigned w = r->runs[i].workers;
		bool dup = false;
		for (unsigned j = 0; j < i && !dup; j++)
			dup = r->runs[j].workers == w;
		if (dup)
			continue;
		char label[16];
		snprintf(label, sizeof label, "%u", w);
		x_tick(out, p, w, label, true);
	}
	axis_labels(out, p, "workers (processes)",
		    "ops/s, every operation, summed over workers");
}

static void scaling_ideal(FILE *out, const struct panel *p,
			  const struct hl_bench_run *one, const char *color)
{
	double a = one->ops_per_s;
	if (!(a > 0) || !isfinite(a))
		return;
	fprintf(out, "<polyline clip-path=\"url(#clip-scaling)\" fill=\"none\""
		     " stroke=\"%s\" stroke-opacity=\"0.55\" stroke-width=\"1.5\"%s"
		     " points=\"%.1f,%.1f %.1f,%.1f\"/>\n",
		color, dash_attr(true), px_x(p, 1), px_y(p, a), px_x(p, p->xhi),
		px_y(p, a * p->xhi));
}

static void scaling_curve(FILE *out, const struct hl_bench_report *r,
			  const struct panel *p, enum hl_workload w,
			  const char *color)
{
	unsigned idx[HL_BENCH_RUNS_MAX];
	unsigned n = hl_report_runs_of(r, w, idx);
	const struct hl_bench_run *one = hl_report_find_run(r, w, 1);
	if (one)
		scaling_ideal(out, p, one, color);
	fprintf(out, "<polyline class=\"scaling\" fill=\"none\" stroke=\"%s\""
		     " stroke-width=\"2.2\" points=\"", color);
	for (unsigned i = 0; i < n; i++) {
		double y = r->runs[idx[i]].ops_per_s;
		fprintf(out, "%s%.1f,%.1f", i ? " " : "", px_x(p, r->runs[idx[i]].workers),
			px_y(p, isfinite(y) ? y : 0));
	}
	fputs("\"/>\n", out);
	for (unsigned i = 0; i < n; i++) {
		const struct hl_bench_run *run = &r->runs[idx[i]];
		double X = px_x(p, run->workers), Y = px_y(p, isfinite(run->ops_per_s) ? run->ops_per_s : 0);
		fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n", X, Y, color);
		if (one && one->ops_per_s > 0 && isfinite(run->ops_per_s)) {
			char label[24];
			snprintf(label, sizeof label, "%.2fx", run->ops_per_s / one->ops_per_s);
			text_at(out, X + 6, Y - 7, "font-size=\"11\" fill=\"#333333\"", label,
				sizeof label);
		}
	}
}

/* Draws panel 1; returns its legend entries in k. */
static unsigned scaling_panel(FILE *out, const struct hl_bench_report *r,
			      struct panel *p, struct legend *k)
{
	scaling_range(r, p);
	frame(out, p, "Scaling: throughput against worker processes", "clip-scaling");
	if (!hl_report_run_count(r)) {
		no_data(out, p, "no Helios runs");
		return 0;
	}
	scaling_axes(out, r, p);
	text_at(out, p->left + 8, p->top + 16, "font-size=\"11\" fill=\"#555555\"",
		"point labels: ratio to 1 worker", 64);
	unsigned n = 0;
	for (unsigned w = 0; w < HL_WORKLOAD_COUNT; w++) {
		unsigned idx[HL_BENCH_RUNS_MAX];
		if (!hl_report_runs_of(r, w, idx))
			continue;
		const char *color = palette[n % PALETTE_N];
		scaling_curve(out, r, p, w, color);
		snprintf(k[n].label, sizeof k[n].label, "%s ops/s",
			 hl_workload_name(w));
		k[n].color = color;
		k[n].dashed = false;
		k[n++].marker = true;
	}
	snprintf(k[n].label, sizeof k[n].label, "ideal linear from 1 worker");
	k[n].color = "#555555";
	k[n].dashed = true;
	k[n++].marker = false;
	return n;
}

/* ---- panel 2: latency CDF ------------------------------------------------------------------ */

static double log_ns(uint64_t ns)
{
	return log10(ns ? (double)ns : 1.0);
}

static void cdf_range(const struct series *s, unsigned n, struct panel *p)
{
	uint64_t lo = UINT64_MAX, hi = 1;
	for (unsigned i = 0; i < n; i++) {
		if (s[i].h->min_ns < lo)
			lo = s[i].h->min_ns;
		if (s[i].h->max_ns > hi)
			hi = s[i].h->max_ns;
	}
	p->xlo = floor(log_ns(lo == UINT64_MAX ? 1 : lo));
	p->xhi = ceil(log_ns(hi));
	if (p->xhi <= p->xlo)
		p->xhi = p->xlo + 1;
	if (p->xhi > DECADES_N - 1)
		p->xhi = DECADES_N - 1;
	p->ylo = 0;
	p->yhi = 1;
}

static void cdf_axes(FILE *out, const struct panel *p)
{
	for (int d = (int)p->xlo; d <= (int)p->xhi; d++) {
		x_tick(out, p, d, decade_labels[d], true);
		for (int m = 2; m <= 9 && d < (int)p->xhi; m++)
			x_tick(out, p, d + log10(m), NULL, false);
	}
	static const char *const y_labels[] = {"0", "0.25", "0.5", "0.75", "1"};
	for (unsigned i = 0; i < 5; i++)
		y_tick(out, p, i * 0.25, y_labels[i]);
	double Y = px_y(p, 0.99);
	fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\""
		     " stroke=\"#999999\" stroke-dasharray=\"2 3\"/>\n",
		p->left, Y, p->left + p->width, Y);
	text_at(out, p->left + p->width - 4, Y + 12,
		"text-anchor=\"end\" font-size=\"10\" fill=\"#777777\"", "p99", 8);
	axis_labels(out, p, "latency of one operation (log scale)",
		    "fraction of operations at most x");
}

static void cdf_point(FILE *out, const struct panel *p, uint64_t ns, double frac)
{
	double x = log_ns(ns);
	if (x > p->xhi)
		x = p->xhi;
	fprintf(out, " %.1f,%.2f", px_x(p, x), px_y(p, frac));
}

/* The histogram's CDF at its bucket bounds, clamped to [min, max]. */
static void cdf_curve(FILE *out, const struct panel *p, const struct series *s)
{
	const struct hl_hist *h = s->h;
	double total = (double)h->count;
	uint64_t seen = 0, lower = h->min_ns;
	fprintf(out, "<polyline class=\"cdf\" fill=\"none\" stroke=\"%s\""
		     " stroke-width=\"1.8\"%s points=\"",
		s->key.color, dash_attr(s->key.dashed));
	cdf_point(out, p, h->min_ns, 0);
	for (unsigned b = 0; b < HL_HIST_BUCKETS; b++) {
		uint64_t upper = hl_hist_bucket_upper(b);
		if (h->bucket[b]) {
			uint64_t lo = lower > h->min_ns ? lower : h->min_ns;
			uint64_t hi = upper < h->max_ns ? upper : h->max_ns;
			cdf_point(out, p, lo, (double)seen / total);
			seen += h->bucket[b];
			cdf_point(out, p, hi, (double)seen / total);
		}
		lower = upper == UINT64_MAX ? upper : upper + 1;
	}
	fputs("\"/>\n", out);
}

/* Draws panel 2; returns its legend entries in k. */
static unsigned cdf_panel(FILE *out, const struct hl_bench_report *r,
			  struct panel *p, struct legend *k)
{
	struct series s[SERIES_MAX];
	unsigned n = cdf_series(r, s);
	cdf_range(s, n, p);
	frame(out, p, "Latency distribution (1 worker; peers: one process)", "clip-cdf");
	if (!n) {
		no_data(out, p, "no commit or restore samples");
		return 0;
	}
	cdf_axes(out, p);
	for (unsigned i = 0; i < n; i++) {
		cdf_curve(out, p, &s[i]);
		k[i] = s[i].key;
	}
	return n;
}

/* "peers skipped: rocksdb, redis" under the legend, when any was. */
static void skipped_note(FILE *out, const struct hl_bench_report *r,
			 const struct panel *p, double y)
{
	char note[256] = "";
	size_t used = 0;
	for (unsigned i = 0; i < hl_report_peer_count(r) && used < sizeof note; i++) {
		const struct hl_bench_peer_row *row = &r->peers[i];
		bool dup = false;
		for (unsigned j = 0; j < i && !dup; j++)
			dup = r->peers[j].skipped && r->peers[j].peer && row->peer &&
			      !strcmp(r->peers[j].peer, row->peer);
		if (!row->skipped || !row->peer || dup)
			continue;
		int n = snprintf(note + used, sizeof note - used, "%s%s",
				 used ? ", " : "peers skipped (not installed): ", row->peer);
		used = n < 0 ? sizeof note : used + (size_t)n;
	}
	if (note[0])
		text_at(out, p->left, y, "font-size=\"12\" fill=\"#666666\"", note, sizeof note);
}

/* ---- the file ------------------------------------------------------------------------------ */

static void svg_begin(FILE *out, const struct hl_bench_report *r, double height)
{
	fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		     "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\""
		     " height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\""
		     " font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n",
		CANVAS_W, height, CANVAS_W, height);
	fprintf(out, "<rect width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n",
		CANVAS_W, height);
	fputs("<text x=\"20\" y=\"30\" font-size=\"19\" font-weight=\"bold\">"
	      "helios bench, ", out);
	xml_text(out, r->date, sizeof r->date);
	fputs("</text>\n", out);
	text_at(out, 20, 52, "font-size=\"12\" fill=\"#444444\"", r->machine,
		sizeof r->machine);
}

int hl_bench_report_svg(const char *path, const struct hl_bench_report *r)
{
	/* The legends decide the height: count them before writing. */
	struct series s[SERIES_MAX];
	unsigned cdf_n = cdf_series(r, s), scale_n = HL_WORKLOAD_COUNT + 1;
	unsigned rows = legend_rows(cdf_n > scale_n ? cdf_n : scale_n);
	double height = LEGEND_TOP + rows * LEGEND_ROW_H + 36;

	FILE *out = fopen(path, "w");
	if (!out)
		return HL_EIO;
	svg_begin(out, r, height);
	struct panel p1 = {PANEL1_LEFT, PANEL_TOP, PANEL_W, PANEL_H, 0, 1, 0, 1};
	struct panel p2 = {PANEL2_LEFT, PANEL_TOP, PANEL_W, PANEL_H, 0, 1, 0, 1};
	struct legend k[SERIES_MAX + HL_WORKLOAD_COUNT + 1];
	legend(out, &p1, k, scaling_panel(out, r, &p1, k));
	legend(out, &p2, k, cdf_panel(out, r, &p2, k));
	skipped_note(out, r, &p2, height - 14);
	fputs("</svg>\n", out);
	int rc = ferror(out) ? HL_EIO : 0;
	if (fclose(out) && !rc)
		rc = HL_EIO;
	return rc;
}
