/*
 * model_util.h - the diff-run collector shared by the model suites
 * (test_model.c: the random walk; test_model_directed.c: directed cases):
 * a struct runs gathers the (offset, length) runs hl_diff reports, in
 * order, and can stop the walk after a given number of calls.
 *
 * Header-only (static inline), like testutil.h. The caller frees v.
 */
#ifndef HELIOS_TESTS_MODEL_UTIL_H
#define HELIOS_TESTS_MODEL_UTIL_H

#include <criterion/criterion.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>


struct runs {
	uint64_t (*v)[2];
	size_t n, cap;
	int stop_after; /* return 42 after this many calls; 0: never */
};

static inline void runs_push(struct runs *rs, uint64_t off, uint64_t len)
{
	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? 2 * rs->cap : 64;
		rs->v = realloc(rs->v, rs->cap * sizeof *rs->v);
		cr_assert_not_null(rs->v);
	}
	rs->v[rs->n][0] = off;
	rs->v[rs->n][1] = len;
	rs->n++;
}

static inline int runs_cb(uint64_t off, uint64_t len, void *ctx)
{
	struct runs *rs = ctx;
	runs_push(rs, off, len);
	return rs->stop_after && (int)rs->n >= rs->stop_after ? 42 : 0;
}

#endif /* HELIOS_TESTS_MODEL_UTIL_H */
