/* test_aggregate.c - sums by (tid, stack), distinct keys, bound + drops, reset. */
#include <stdint.h>

#include "collect/aggregate.h"
#include "testutil.h"

typedef struct seen {
  uint32_t n;
  int64_t total[INPROF__VT_COUNT];
  int found;
  uint32_t want_tid;
  const uintptr_t *want_frames;
  uint32_t want_n;
  int64_t got[INPROF__VT_COUNT];
} seen;

static void visit(void *ctx, uint32_t tid, const uintptr_t *frames, uint32_t nframes,
                  const int64_t *values) {
  seen *s = ctx;
  s->n++;
  for (int i = 0; i < INPROF__VT_COUNT; i++) s->total[i] += values[i];
  if (tid == s->want_tid && nframes == s->want_n &&
      (nframes == 0 || memcmp(frames, s->want_frames, nframes * sizeof *frames) == 0)) {
    s->found++;
    memcpy(s->got, values, sizeof s->got);
  }
}

static seen lookup(inprof__agg *a, uint32_t tid, const uintptr_t *f, uint32_t n) {
  seen s;
  memset(&s, 0, sizeof s);
  s.want_tid = tid;
  s.want_frames = f;
  s.want_n = n;
  inprof__agg_foreach(a, visit, &s);
  return s;
}

int main(void) {
  inprof__agg *a = inprof__agg_new(100);
  REQUIRE(a);
  uintptr_t s1[] = {0x1000, 0x2000, 0x3000};
  uintptr_t s2[] = {0x1000, 0x2000, 0x3001};
  uintptr_t s3[] = {0x1000, 0x2000};
  int64_t v1[INPROF__VT_COUNT] = {1, 10, 0, 0, 0, 0};
  int64_t v2[INPROF__VT_COUNT] = {2, 25, 3, 300, -1, -100};

  /* Sums for one key. */
  for (int i = 0; i < 1000; i++) CHECK(inprof__agg_add(a, 7, s1, 3, v1) == 0);
  CHECK(inprof__agg_add(a, 7, s1, 3, v2) == 0);
  CHECK(inprof__agg_entries(a) == 1);
  seen s = lookup(a, 7, s1, 3);
  CHECK(s.found == 1);
  CHECK(s.got[0] == 1002 && s.got[1] == 10025 && s.got[2] == 3 && s.got[3] == 300 &&
        s.got[4] == -1 && s.got[5] == -100);

  /* Same stack, other thread; other last frame; prefix stack; empty stack. */
  CHECK(inprof__agg_add(a, 8, s1, 3, v1) == 0);
  CHECK(inprof__agg_add(a, 7, s2, 3, v1) == 0);
  CHECK(inprof__agg_add(a, 7, s3, 2, v1) == 0);
  CHECK(inprof__agg_add(a, 0, NULL, 0, v2) == 0);
  CHECK(inprof__agg_entries(a) == 5);
  CHECK(lookup(a, 8, s1, 3).got[0] == 1);
  CHECK(lookup(a, 7, s2, 3).got[1] == 10);
  CHECK(lookup(a, 7, s3, 2).found == 1);
  CHECK(lookup(a, 0, NULL, 0).got[3] == 300);
  s = lookup(a, 7, s1, 3);
  CHECK(s.n == 5 && s.got[0] == 1002);
  CHECK(s.total[0] == 1002 + 1 + 1 + 1 + 2);
  CHECK(inprof__agg_dropped(a) == 0);

  /* Bound: 100 distinct stacks fit, more are dropped and counted, while
   * existing keys still accumulate. Many keys also force index growth. */
  uintptr_t f[4];
  int ok = 0, dropped = 0;
  for (uint32_t i = 0; i < 300; i++) {
    f[0] = 0x5000 + i;
    f[1] = 0x6000;
    f[2] = i * 7;
    f[3] = 1;
    if (inprof__agg_add(a, 99, f, 4, v1) == 0) ok++;
    else dropped++;
  }
  CHECK(ok == 95);
  CHECK(dropped == 205);
  CHECK(inprof__agg_entries(a) == 100);
  CHECK(inprof__agg_dropped(a) == 205);
  CHECK(inprof__agg_add(a, 7, s1, 3, v1) == 0);
  CHECK(lookup(a, 7, s1, 3).got[0] == 1003);
  /* A key added before the bound was hit still finds its entry. */
  f[0] = 0x5000 + 10; f[1] = 0x6000; f[2] = 70; f[3] = 1;
  CHECK(inprof__agg_add(a, 99, f, 4, v2) == 0);
  CHECK(lookup(a, 99, f, 4).got[1] == 35);
  CHECK(inprof__agg_dropped(a) == 205);

  /* Reset: empty, nothing dropped, reusable with fresh sums. */
  inprof__agg_reset(a);
  CHECK(inprof__agg_entries(a) == 0);
  CHECK(inprof__agg_dropped(a) == 0);
  CHECK(lookup(a, 7, s1, 3).n == 0);
  CHECK(inprof__agg_add(a, 7, s1, 3, v2) == 0);
  CHECK(lookup(a, 7, s1, 3).got[0] == 2);
  CHECK(inprof__agg_entries(a) == 1);
  inprof__agg_free(a);

  /* Many keys under a big bound, with long stacks: every sum exact. */
  a = inprof__agg_new(200000);
  REQUIRE(a);
  uintptr_t big[64];
  for (uint32_t i = 0; i < 50000; i++) {
    for (int k = 0; k < 64; k++) big[k] = 0x400000 + (uintptr_t)k * 16 + (k == 63 ? i : 0);
    int64_t v[INPROF__VT_COUNT] = {1, (int64_t)i, 0, 0, 0, 0};
    CHECK(inprof__agg_add(a, 1 + i % 3, big, 64, v) == 0);
    CHECK(inprof__agg_add(a, 1 + i % 3, big, 64, v) == 0);
  }
  CHECK(inprof__agg_entries(a) == 50000);
  s = lookup(a, 0xffffffff, NULL, 0);
  CHECK(s.total[0] == 100000);
  CHECK(s.total[1] == (int64_t)49999 * 50000);
  inprof__agg_free(a);
  return testutil_done("test_aggregate");
}
