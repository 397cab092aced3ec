/*
 * test_pprof.c - an aggregate of known stacks and values, encoded, written
 * plain and gzip'ed, then read back two ways: protobuf-c's own decoder (ids,
 * string table, references) and `go tool pprof` -raw / -top, the reference
 * reader (sample types, values, function names, thread labels).
 */
#include <dlfcn.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/clock.h"
#include "collect/aggregate.h"
#include "collect/pprof.h"
#include "collect/symbolizer.h"
#include "export/file.h"
#include "profile.pb-c.h"
#include "testutil.h"

static volatile int sink;

__attribute__((noinline, used)) int f_leaf(int x)
    __asm__("_ZN8at_tests4jobs5parse17h0123456789abcdefE");
int f_leaf(int x) { sink = x; return x * 11 + 1; }

__attribute__((noinline, used)) int f_mid(int x)
    __asm__("_RNvNtCs1234_8at_tests4jobs13parse_records");
int f_mid(int x) { sink = x + 1; return f_leaf(x) * 13 + 2; }

__attribute__((noinline, used)) int f_cxx(int x) __asm__("_ZN8at_tests4jobs5Queue4pushEi");
int f_cxx(int x) { sink = x + 2; return f_mid(x) * 17 + 3; }

__attribute__((noinline, used)) int pprof_test_root(int x) {
  sink = x + 3;
  return f_cxx(x) * 19 + 4;
}

static const char *thread_names(void *ctx, uint32_t tid) {
  (void)ctx;
  switch (tid) {
  case 101: return "worker-1";
  case 102: return "worker 2";
  case 103: return "";         /* unnamed: no thread name label */
  default: return NULL;
  }
}

#define ADDR(f) ((uintptr_t)&(f))
/* Return addresses sit inside their function (the encoder looks at addr-1). */
#define RET(f) ((uintptr_t)&(f) + 2)
/* ---------------------------------------------------- go tool pprof -raw */

typedef struct rsample {
  int64_t v[INPROF__VT_COUNT];
  int nv;
  int locs[16];
  int nlocs;
  long tid;                    /* -1: no label */
  char tname[64];              /* "" : no label */
  int used;
} rsample;

typedef struct raw_profile {
  char header[256];            /* the sample types line */
  char period_type[64];
  long long period;
  rsample s[32];
  int ns;
  char loc_name[64][256];      /* by location id; "?" when no function */
  int nlocs;
} raw_profile;

static char *trim(char *s) {
  while (*s == ' ') s++;
  size_t n = strlen(s);
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\r')) s[--n] = 0;
  return s;
}

static int parse_raw(char *out, raw_profile *p) {
  memset(p, 0, sizeof *p);
  enum { HEAD, SAMPLES, LOCS, MAPS } sec = HEAD;
  int want_header = 0;
  for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
    if (!strncmp(line, "PeriodType: ", 12)) {
      snprintf(p->period_type, sizeof p->period_type, "%s", trim(line + 12));
      continue;
    }
    if (!strncmp(line, "Period: ", 8)) {
      p->period = atoll(line + 8);
      continue;
    }
    if (!strcmp(trim(line), "Samples:")) { sec = SAMPLES; want_header = 1; continue; }
    if (!strcmp(trim(line), "Locations")) { sec = LOCS; continue; }
    if (!strcmp(trim(line), "Mappings")) { sec = MAPS; continue; }
    if (sec == SAMPLES && want_header) {
      snprintf(p->header, sizeof p->header, "%s", trim(line));
      want_header = 0;
      continue;
    }
    if (sec == SAMPLES) {
      char *t = trim(line);
      if (!strncmp(t, "thread id:[", 11) && p->ns) {
        p->s[p->ns - 1].tid = atol(t + 11);
        continue;
      }
      if (!strncmp(t, "thread name:[", 13) && p->ns) {
        char *end = strrchr(t, ']');
        if (end) *end = 0;
        snprintf(p->s[p->ns - 1].tname, sizeof p->s[0].tname, "%s", t + 13);
        continue;
      }
      char *colon = strchr(t, ':');
      if (!colon || p->ns >= 32) return -1;
      rsample *s = &p->s[p->ns++];
      s->tid = -1;
      *colon = 0;
      char *e;
      for (char *q = t; *q && s->nv < INPROF__VT_COUNT; q = e) {
        s->v[s->nv++] = strtoll(q, &e, 10);
        if (e == q) return -1;
        while (*e == ' ') e++;
      }
      for (char *q = colon + 1; *q && s->nlocs < 16;) {
        long id = strtol(q, &e, 10);
        if (e == q) break;
        s->locs[s->nlocs++] = (int)id;
        q = e;
      }
      continue;
    }
    if (sec == LOCS) {
      int id;
      unsigned long long addr;
      if (sscanf(line, " %d: 0x%llx", &id, &addr) != 2 || id <= 0 || id >= 64) continue;
      if (id > p->nlocs) p->nlocs = id;
      char *m = strstr(line, " M=");
      char *name = m ? strchr(m + 1, ' ') : NULL;
      /* "name file:line:col s=N": the names here have no spaces; the file is
       * empty without debug info (" :0:0") or a path (libc with libc6-dbg). */
      char *end = name ? strchr(name + 1, ' ') : NULL;
      if (!name || !end) {
        snprintf(p->loc_name[id], sizeof p->loc_name[id], "?");
        continue;
      }
      *end = 0;
      snprintf(p->loc_name[id], sizeof p->loc_name[id], "%s", name + 1);
    }
  }
  return p->header[0] ? 0 : -1;
}

typedef struct expect {
  int64_t v[INPROF__VT_COUNT];
  int nv;
  const char *stack[8];        /* innermost first, NULL-terminated */
  long tid;
  const char *tname;
} expect;

static void check_raw(const char *file, const char *header, const char *period_type,
                      long long period, const expect *ex, int nex) {
  char *out = testutil_capture("%s tool pprof -raw -symbolize=none %s 2>&1", INPROF_GO, file);
  REQUIRE(out);
  char *copy = strdup(out);
  raw_profile *p = calloc(1, sizeof *p);
  REQUIRE(p && copy);
  if (parse_raw(copy, p) != 0) {
    CHECKF(0, "cannot parse pprof -raw output of %s:\n%s", file, out);
    goto done;
  }
  CHECKF(!strcmp(p->header, header), "%s: sample types '%s', want '%s'", file, p->header,
         header);
  CHECKF(!strcmp(p->period_type, period_type), "%s: period type '%s'", file, p->period_type);
  CHECKF(p->period == period, "%s: period %lld", file, p->period);
  CHECKF(p->ns == nex, "%s: %d samples, want %d:\n%s", file, p->ns, nex, out);
  for (int i = 0; i < nex; i++) {
    int found = 0;
    for (int k = 0; k < p->ns && !found; k++) {
      rsample *s = &p->s[k];
      if (s->used || s->nv != ex[i].nv || memcmp(s->v, ex[i].v, sizeof(int64_t) * ex[i].nv) ||
          s->tid != ex[i].tid || strcmp(s->tname, ex[i].tname))
        continue;
      int ok = 1, d = 0;
      for (; ex[i].stack[d] && ok; d++)
        ok = d < s->nlocs && s->locs[d] > 0 && s->locs[d] <= p->nlocs &&
             !strcmp(p->loc_name[s->locs[d]], ex[i].stack[d]);
      if (ok && d == s->nlocs) found = s->used = 1;
    }
    CHECKF(found, "%s: no sample %d (values %lld..., tid %ld '%s', leaf %s):\n%s", file, i,
           (long long)ex[i].v[0], ex[i].tid, ex[i].tname, ex[i].stack[0], out);
  }
done:
  free(p);
  free(copy);
  free(out);
}

/* ------------------------------------------------- protobuf-c decoding */

static Inprof__Pprof__Profile *decode(const uint8_t *buf, size_t len) {
  Inprof__Pprof__Profile *p = inprof__pprof__profile__unpack(NULL, len, buf);
  REQUIRE(p);
  CHECK(p->n_string_table >= 1 && !strcmp(p->string_table[0], ""));
  /* Ids are 1..n in order, and every reference resolves. */
  for (size_t i = 0; i < p->n_mapping; i++) {
    CHECK(p->mapping[i]->id == i + 1);
    CHECK((size_t)p->mapping[i]->filename < p->n_string_table);
    CHECK((size_t)p->mapping[i]->build_id < p->n_string_table);
  }
  for (size_t i = 0; i < p->n_function; i++) {
    CHECK(p->function[i]->id == i + 1);
    CHECK(p->function[i]->name > 0 && (size_t)p->function[i]->name < p->n_string_table);
    for (size_t k = 0; k < i; k++)
      CHECKF(p->function[k]->name != p->function[i]->name, "function %zu duplicated", i);
  }
  for (size_t i = 0; i < p->n_location; i++) {
    Inprof__Pprof__Location *l = p->location[i];
    CHECK(l->id == i + 1);
    CHECK(l->mapping_id <= p->n_mapping);
    for (size_t k = 0; k < l->n_line; k++)
      CHECK(l->line[k]->function_id >= 1 && l->line[k]->function_id <= p->n_function);
    for (size_t k = 0; k < i; k++)
      CHECKF(p->location[k]->address != l->address, "address %#llx twice",
             (unsigned long long)l->address);
  }
  for (size_t i = 0; i < p->n_sample; i++) {
    CHECK(p->sample[i]->n_value == p->n_sample_type);
    for (size_t k = 0; k < p->sample[i]->n_location_id; k++)
      CHECK(p->sample[i]->location_id[k] >= 1 &&
            p->sample[i]->location_id[k] <= p->n_location);
    for (size_t k = 0; k < p->sample[i]->n_label; k++) {
      Inprof__Pprof__Label *lb = p->sample[i]->label[k];
      CHECK(lb->key > 0 && (size_t)lb->key < p->n_string_table);
      CHECK((size_t)lb->str < p->n_string_table);
    }
  }
  for (size_t i = 0; i < p->n_sample_type; i++)
    CHECK((size_t)p->sample_type[i]->type < p->n_string_table &&
          (size_t)p->sample_type[i]->unit < p->n_string_table);
  return p;
}

static const char *str(const Inprof__Pprof__Profile *p, int64_t i) {
  return i >= 0 && (size_t)i < p->n_string_table ? p->string_table[i] : "<bad>";
}

static const Inprof__Pprof__Location *loc_at(const Inprof__Pprof__Profile *p, uintptr_t a) {
  for (size_t i = 0; i < p->n_location; i++)
    if (p->location[i]->address == a) return p->location[i];
  return NULL;
}

static const char *loc_function(const Inprof__Pprof__Profile *p,
                                const Inprof__Pprof__Location *l) {
  if (!l || l->n_line != 1) return NULL;
  return str(p, p->function[l->line[0]->function_id - 1]->name);
}

static uint8_t *encode(inprof__agg *agg, inprof__symbolizer *sym,
                       const inprof__profile_meta *meta, size_t *len) {
  uint8_t *buf = NULL;
  REQUIRE(inprof__pprof_encode(agg, sym, meta, &buf, len) == 0);
  REQUIRE(buf);
  return buf;
}

static void write_plain(const char *path, const uint8_t *buf, size_t len) {
  FILE *f = fopen(path, "wb");
  REQUIRE(f);
  REQUIRE(fwrite(buf, 1, len, f) == len);
  fclose(f);
}

#define RUST_LEGACY "at_tests::jobs::parse"
#define RUST_V0 "at_tests::jobs::parse_records"
#define CXX "at_tests::jobs::Queue::push(int)"
#define ROOT "pprof_test_root"

int main(void) {
  (void)pprof_test_root(1);
  inprof__symbolizer *sym = inprof__symbolizer_new();
  REQUIRE(sym);
  inprof__symbolizer_refresh(sym);
  inprof__agg *agg = inprof__agg_new(1000);
  REQUIRE(agg);
  char *dir = testutil_tmpdir("pprof");
  REQUIRE(dir);
  char path[4096];

  void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
  REQUIRE(libc);
  uintptr_t qsort_addr = (uintptr_t)dlsym(libc, "qsort");
  REQUIRE(qsort_addr);
  void *anon = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(anon != MAP_FAILED);
  uintptr_t unknown = (uintptr_t)anon + 0x123;

  uintptr_t s1[] = {ADDR(f_leaf), RET(f_mid), RET(f_cxx), RET(pprof_test_root)};
  uintptr_t s2[] = {qsort_addr, RET(f_cxx), RET(pprof_test_root)};
  uintptr_t s3[] = {unknown, RET(f_mid), RET(pprof_test_root)};
  /*                             cpu-s cpu-ns   alloc-s alloc-B inuse-o inuse-B */
  int64_t v1[INPROF__VT_COUNT] = {3, 30000000, 0, 0, 0, 0};
  int64_t v2[INPROF__VT_COUNT] = {1, 10000000, 0, 0, 0, 0};
  int64_t v3[INPROF__VT_COUNT] = {5, 50000000, 0, 0, 0, 0};
  int64_t v4[INPROF__VT_COUNT] = {0, 0, 2, 4096, 1, 1024};
  int64_t v0[INPROF__VT_COUNT] = {0, 0, 0, 0, 0, 0};
  CHECK(inprof__agg_add(agg, 101, s1, 4, v1) == 0);
  CHECK(inprof__agg_add(agg, 102, s1, 4, v2) == 0);
  CHECK(inprof__agg_add(agg, 0, s2, 3, v3) == 0);
  CHECK(inprof__agg_add(agg, 103, s3, 3, v2) == 0);
  CHECK(inprof__agg_add(agg, 101, s2, 3, v4) == 0);
  CHECK(inprof__agg_add(agg, 102, s3, 3, v0) == 0);

  const char *st1[] = {RUST_LEGACY, RUST_V0, CXX, ROOT, NULL};
  const char *st2[] = {"qsort", CXX, ROOT, NULL};
  const char *st3[] = {"?", RUST_V0, ROOT, NULL};

  /* ---- CPU only */
  inprof__profile_meta meta = {
      .start_ns = 1700000000123456789ull,
      .end_ns = 1700000060123456789ull,
      .cpu_hz = 99,
      .heap_sample_bytes = 0,
      .thread_name = thread_names,
  };
  size_t len;
  uint8_t *buf = encode(agg, sym, &meta, &len);
  Inprof__Pprof__Profile *p = decode(buf, len);
  CHECK(p->n_sample_type == 2);
  if (p->n_sample_type == 2) {
    CHECK(!strcmp(str(p, p->sample_type[0]->type), "cpu-samples"));
    CHECK(!strcmp(str(p, p->sample_type[0]->unit), "count"));
    CHECK(!strcmp(str(p, p->sample_type[1]->type), "cpu-time"));
    CHECK(!strcmp(str(p, p->sample_type[1]->unit), "nanoseconds"));
  }
  REQUIRE(p->period_type);
  /* Tools open on cpu-time, not on the last type. */
  CHECK(p->default_sample_type > 0 && !strcmp(str(p, p->default_sample_type), "cpu-time"));
  CHECK(!strcmp(str(p, p->period_type->type), "cpu"));
  CHECK(!strcmp(str(p, p->period_type->unit), "nanoseconds"));
  CHECK(p->period == 1000000000 / 99);
  CHECK(p->time_nanos == (int64_t)meta.start_ns);
  CHECK(p->duration_nanos == 60000000000);
  CHECK(p->n_sample == 4);      /* v4 has no CPU value, v0 nothing */
  CHECK(p->n_function == 5);
  CHECK(p->n_location == 6);
  /* Exact names in the Function table; return addresses stored as addr-1. */
  CHECK(loc_function(p, loc_at(p, ADDR(f_leaf))) &&
        !strcmp(loc_function(p, loc_at(p, ADDR(f_leaf))), RUST_LEGACY));
  CHECK(loc_function(p, loc_at(p, RET(f_mid) - 1)) &&
        !strcmp(loc_function(p, loc_at(p, RET(f_mid) - 1)), RUST_V0));
  /* system_name keeps the raw symbol, so readers never shorten the name. */
  {
    const Inprof__Pprof__Location *l = loc_at(p, ADDR(f_leaf));
    REQUIRE(l && l->n_line == 1);
    const Inprof__Pprof__Function *f = p->function[l->line[0]->function_id - 1];
    CHECKF(!strcmp(str(p, f->system_name), "_ZN8at_tests4jobs5parse17h0123456789abcdefE"),
           "system_name '%s'", str(p, f->system_name));
  }
  CHECK(loc_function(p, loc_at(p, RET(f_cxx) - 1)) &&
        !strcmp(loc_function(p, loc_at(p, RET(f_cxx) - 1)), CXX));
  CHECK(loc_function(p, loc_at(p, qsort_addr)) &&
        !strcmp(loc_function(p, loc_at(p, qsort_addr)), "qsort"));
  /* Unknown: a location with its address, no mapping, no line. */
  const Inprof__Pprof__Location *ul = loc_at(p, unknown);
  CHECK(ul && ul->n_line == 0 && ul->mapping_id == 0);
  /* The executable is the first mapping, with its build id and functions. */
  REQUIRE(p->n_mapping == 2);
  CHECKF(strstr(str(p, p->mapping[0]->filename), "test_pprof") != NULL, "mapping 1: %s",
         str(p, p->mapping[0]->filename));
  CHECK(strlen(str(p, p->mapping[0]->build_id)) >= 16);
  CHECK(p->mapping[0]->has_functions);
  CHECK(strstr(str(p, p->mapping[1]->filename), "libc.so.6") != NULL);
  CHECK(loc_at(p, qsort_addr) && loc_at(p, qsort_addr)->mapping_id == 2);
  CHECK(p->mapping[0]->memory_start <= ADDR(f_leaf) &&
        ADDR(f_leaf) < p->mapping[0]->memory_limit);
  /* Labels: tid 0 none; 103 (no name) only the id. */
  for (size_t i = 0; i < p->n_sample; i++) {
    Inprof__Pprof__Sample *s = p->sample[i];
    const char *leaf = loc_function(p, p->location[s->location_id[0] - 1]);
    if (leaf && !strcmp(leaf, "qsort")) CHECK(s->n_label == 0);
    if (!leaf) {
      CHECK(s->n_label == 1);
      if (s->n_label == 1) {
        CHECK(!strcmp(str(p, s->label[0]->key), "thread id"));
        CHECK(s->label[0]->num == 103 && s->label[0]->str == 0);
      }
    }
  }
  inprof__pprof__profile__free_unpacked(p, NULL);

  snprintf(path, sizeof path, "%s/cpu.pprof", dir);
  write_plain(path, buf, len);
  const expect cpu[] = {
      {{3, 30000000}, 2, {st1[0], st1[1], st1[2], st1[3]}, 101, "worker-1"},
      {{1, 10000000}, 2, {st1[0], st1[1], st1[2], st1[3]}, 102, "worker 2"},
      {{5, 50000000}, 2, {st2[0], st2[1], st2[2]}, -1, ""},
      {{1, 10000000}, 2, {st3[0], st3[1], st3[2]}, 103, ""},
  };
  check_raw(path, "cpu-samples/count cpu-time/nanoseconds[dflt]", "cpu nanoseconds",
            1000000000 / 99, cpu, 4);

  /* The same profile gzip'ed by the file exporter reads the same. */
  REQUIRE(inprof__file_write(dir, "pprof-test", 1, buf, len) == 0);
  snprintf(path, sizeof path, "%s/pprof-test-%ld-1.pprof.gz", dir, (long)getpid());
  check_raw(path, "cpu-samples/count cpu-time/nanoseconds[dflt]", "cpu nanoseconds",
            1000000000 / 99, cpu, 4);
  testutil_row rows[64];
  int n = testutil_pprof_top(path, "cpu-time", rows, 64);
  CHECKF(n >= 5, "pprof -top rows: %d", n);
  double want_flat[][2] = {{50e6, 0}, {40e6, 0}, {10e6, 0}, {0, 0}, {0, 0}};
  const char *want_name[] = {"qsort", RUST_LEGACY, "<unknown>", RUST_V0, ROOT};
  (void)want_flat;
  for (int i = 0; i < 5; i++) {
    int hit = 0;
    for (int r = 0; r < n; r++)
      if (!strcmp(rows[r].name, want_name[i])) {
        hit = 1;
        CHECKF(rows[r].flat == want_flat[i][0], "%s flat %.0f", want_name[i], rows[r].flat);
      }
    CHECKF(hit, "pprof -top has no row '%s'", want_name[i]);
  }
  CHECK(testutil_total(rows, n) == 100e6);
  for (int r = 0; r < n; r++)
    if (!strcmp(rows[r].name, ROOT)) CHECK(rows[r].cum == 100e6);
  free(buf);

  /* pprof's own symbolizer, reading the binary through our mapping (start,
   * limit, offset), must land on the same functions we named. */
  snprintf(path, sizeof path, "%s/cpu.pprof", dir);
  char *forced = testutil_capture("%s tool pprof -raw -symbolize=force %s 2>&1", INPROF_GO, path);
  /* With DWARF (-g) pprof names the C functions; without it, their symbols. */
#define FOUND(dwarf_name, symbol_name) \
  (strstr(forced, " " dwarf_name " ") || strstr(forced, " " symbol_name " "))
  CHECKF(forced && FOUND("f_leaf", "at_tests::jobs::parse") &&
             FOUND("f_mid", "at_tests::jobs::parse_records") &&
             FOUND("f_cxx", "at_tests::jobs::Queue::push") && strstr(forced, " " ROOT " "),
         "pprof -symbolize=force did not find our functions:\n%s", forced ? forced : "");
#undef FOUND
  free(forced);

  /* ---- heap only */
  meta.cpu_hz = 0;
  meta.heap_sample_bytes = 524288;
  buf = encode(agg, sym, &meta, &len);
  p = decode(buf, len);
  CHECK(p->n_sample_type == 4 && p->n_sample == 1);
  CHECK(p->period_type && !strcmp(str(p, p->period_type->type), "space") &&
        !strcmp(str(p, p->period_type->unit), "bytes"));
  CHECK(p->period == 524288);
  CHECK(p->n_mapping == 2 && p->n_location == 3 && p->n_function == 3);
  inprof__pprof__profile__free_unpacked(p, NULL);
  snprintf(path, sizeof path, "%s/heap.pprof", dir);
  write_plain(path, buf, len);
  const expect heap[] = {
      {{2, 4096, 1, 1024}, 4, {st2[0], st2[1], st2[2]}, 101, "worker-1"},
  };
  check_raw(path, "alloc-samples/count alloc-space/bytes inuse-objects/count inuse-space/bytes",
            "space bytes", 524288, heap, 1);
  free(buf);

  /* ---- both */
  meta.cpu_hz = 100;
  buf = encode(agg, sym, &meta, &len);
  snprintf(path, sizeof path, "%s/both.pprof", dir);
  write_plain(path, buf, len);
  const expect both[] = {
      {{3, 30000000, 0, 0, 0, 0}, 6, {st1[0], st1[1], st1[2], st1[3]}, 101, "worker-1"},
      {{1, 10000000, 0, 0, 0, 0}, 6, {st1[0], st1[1], st1[2], st1[3]}, 102, "worker 2"},
      {{5, 50000000, 0, 0, 0, 0}, 6, {st2[0], st2[1], st2[2]}, -1, ""},
      {{1, 10000000, 0, 0, 0, 0}, 6, {st3[0], st3[1], st3[2]}, 103, ""},
      {{0, 0, 2, 4096, 1, 1024}, 6, {st2[0], st2[1], st2[2]}, 101, "worker-1"},
  };
  check_raw(path,
            "cpu-samples/count cpu-time/nanoseconds[dflt] alloc-samples/count alloc-space/bytes "
            "inuse-objects/count inuse-space/bytes",
            "cpu nanoseconds", 10000000, both, 5);
  free(buf);

  /* ---- no thread-name callback, and an empty aggregate */
  meta.thread_name = NULL;
  buf = encode(agg, sym, &meta, &len);
  p = decode(buf, len);
  for (size_t i = 0; i < p->n_sample; i++)
    for (size_t k = 0; k < p->sample[i]->n_label; k++)
      CHECK(!strcmp(str(p, p->sample[i]->label[k]->key), "thread id"));
  inprof__pprof__profile__free_unpacked(p, NULL);
  free(buf);
  inprof__agg_reset(agg);
  buf = encode(agg, sym, &meta, &len);
  p = decode(buf, len);
  CHECK(p->n_sample == 0 && p->n_location == 0 && p->n_function == 0);
  inprof__pprof__profile__free_unpacked(p, NULL);
  snprintf(path, sizeof path, "%s/empty.pprof", dir);
  write_plain(path, buf, len);
  char *out = testutil_capture("%s tool pprof -raw %s 2>&1", INPROF_GO, path);
  CHECKF(out && strstr(out, "cpu-samples/count"), "empty profile:\n%s", out ? out : "");
  free(out);
  free(buf);
  uint8_t *none = (uint8_t *)1;
  CHECK(inprof__pprof_encode(agg, sym, NULL, &none, &len) == -1 && none == NULL);

  inprof__agg_free(agg);
  inprof__symbolizer_free(sym);
  free(testutil_capture("rm -rf '%s'", dir));
  free(dir);
  return testutil_done("test_pprof");
}
