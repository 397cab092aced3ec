/*
 * pprof_summary.c - reads inprof's .pprof.gz files (gzip or plain) with the
 * same protobuf-c schema the library writes, and prints what the benchmark
 * driver needs: totals per sample type, sums per thread and inclusive sums
 * per function (a sample counts once for every distinct function on its
 * stack). `go tool pprof` would give the same numbers; reading the files here
 * keeps the suite fast and free of a Go dependency.
 *
 *   pprof_summary FILE...
 *   TOTAL type=<sample type> value=<sum>            one per sample type
 *   THREAD name=<name> tid=<id> <type>=<sum>...     one per thread
 *   FUNC name=<function> <type>=<sum>...            one per function
 *   FILES count=<n> bytes=<compressed bytes>
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "profile.pb-c.h"

typedef Inprof__Pprof__Profile Profile;

#define MAX_TYPES 8

typedef struct entry {
  char *key;
  int64_t tid;
  double v[MAX_TYPES];
} entry;

typedef struct table {
  entry *e;
  size_t n, cap;
} table;

static entry *table_get(table *t, const char *key, int64_t tid) {
  for (size_t i = 0; i < t->n; i++)
    if (t->e[i].tid == tid && !strcmp(t->e[i].key, key)) return &t->e[i];
  if (t->n == t->cap) {
    t->cap = t->cap ? t->cap * 2 : 64;
    t->e = realloc(t->e, t->cap * sizeof *t->e);
    if (!t->e) exit(2);
  }
  entry *e = &t->e[t->n++];
  memset(e, 0, sizeof *e);
  e->key = strdup(key);
  e->tid = tid;
  return e;
}

static char *type_names[MAX_TYPES];
static size_t ntypes;
static double totals[MAX_TYPES];
static table threads, funcs;

static int type_index(const char *name) {
  for (size_t i = 0; i < ntypes; i++)
    if (!strcmp(type_names[i], name)) return (int)i;
  if (ntypes == MAX_TYPES) return -1;
  type_names[ntypes] = strdup(name);
  return (int)ntypes++;
}

static uint8_t *read_all(const char *path, size_t *len) {
  gzFile f = gzopen(path, "rb");   /* reads plain files too */
  if (!f) return NULL;
  size_t cap = 1 << 16, n = 0;
  uint8_t *buf = malloc(cap);
  for (;;) {
    if (n == cap) buf = realloc(buf, cap *= 2);
    int got = gzread(f, buf + n, (unsigned)(cap - n));
    if (got < 0) {
      gzclose(f);
      free(buf);
      return NULL;
    }
    if (got == 0) break;
    n += (size_t)got;
  }
  gzclose(f);
  *len = n;
  return buf;
}

static const char *str(const Profile *p, int64_t i) {
  return i >= 0 && (size_t)i < p->n_string_table ? p->string_table[i] : "";
}

static const Inprof__Pprof__Location *find_location(const Profile *p, uint64_t id) {
  /* inprof numbers locations 1..n in order; fall back to a scan. */
  if (id >= 1 && id <= p->n_location && p->location[id - 1]->id == id) return p->location[id - 1];
  for (size_t i = 0; i < p->n_location; i++)
    if (p->location[i]->id == id) return p->location[i];
  return NULL;
}

static const Inprof__Pprof__Function *find_function(const Profile *p, uint64_t id) {
  if (id >= 1 && id <= p->n_function && p->function[id - 1]->id == id) return p->function[id - 1];
  for (size_t i = 0; i < p->n_function; i++)
    if (p->function[i]->id == id) return p->function[i];
  return NULL;
}

static int summarize(const char *path) {
  size_t len;
  uint8_t *buf = read_all(path, &len);
  if (!buf) {
    fprintf(stderr, "pprof_summary: cannot read %s\n", path);
    return -1;
  }
  Profile *p = inprof__pprof__profile__unpack(NULL, len, buf);
  free(buf);
  if (!p) {
    fprintf(stderr, "pprof_summary: %s is not a pprof profile\n", path);
    return -1;
  }
  int map[MAX_TYPES];
  for (size_t i = 0; i < p->n_sample_type && i < MAX_TYPES; i++)
    map[i] = type_index(str(p, p->sample_type[i]->type));
  const char **seen = malloc(sizeof(char *) * 4096);
  for (size_t s = 0; s < p->n_sample; s++) {
    const Inprof__Pprof__Sample *smp = p->sample[s];
    double v[MAX_TYPES] = {0};
    for (size_t i = 0; i < smp->n_value && i < p->n_sample_type && i < MAX_TYPES; i++)
      if (map[i] >= 0) v[map[i]] = (double)smp->value[i];
    for (size_t i = 0; i < ntypes; i++) totals[i] += v[i];
    const char *tname = "";
    int64_t tid = 0;
    for (size_t l = 0; l < smp->n_label; l++) {
      const char *k = str(p, smp->label[l]->key);
      if (!strcmp(k, "thread name")) tname = str(p, smp->label[l]->str);
      if (!strcmp(k, "thread id")) tid = smp->label[l]->num;
    }
    entry *te = table_get(&threads, tname, tid);
    for (size_t i = 0; i < ntypes; i++) te->v[i] += v[i];
    size_t nseen = 0;
    for (size_t l = 0; l < smp->n_location_id; l++) {
      const Inprof__Pprof__Location *loc = find_location(p, smp->location_id[l]);
      if (!loc) continue;
      for (size_t k = 0; k < loc->n_line; k++) {
        const Inprof__Pprof__Function *fn = find_function(p, loc->line[k]->function_id);
        if (!fn) continue;
        const char *name = str(p, fn->name);
        int dup = 0;
        for (size_t j = 0; j < nseen && !dup; j++) dup = !strcmp(seen[j], name);
        if (dup) continue;
        if (nseen < 4096) seen[nseen++] = name;
        entry *fe = table_get(&funcs, name, 0);
        for (size_t i = 0; i < ntypes; i++) fe->v[i] += v[i];
      }
    }
  }
  free(seen);
  inprof__pprof__profile__free_unpacked(p, NULL);
  return 0;
}

static void print_values(const entry *e) {
  for (size_t i = 0; i < ntypes; i++) printf(" %s=%.0f", type_names[i], e->v[i]);
  printf("\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: pprof_summary FILE...\n");
    return 2;
  }
  uint64_t bytes = 0;
  for (int i = 1; i < argc; i++) {
    if (summarize(argv[i]) != 0) return 1;
    struct stat st;
    if (stat(argv[i], &st) == 0) bytes += (uint64_t)st.st_size;
  }
  printf("FILES count=%d bytes=%llu\n", argc - 1, (unsigned long long)bytes);
  for (size_t i = 0; i < ntypes; i++) printf("TOTAL type=%s value=%.0f\n", type_names[i], totals[i]);
  for (size_t i = 0; i < threads.n; i++) {
    /* Thread names may hold spaces: replace them so the line splits on spaces. */
    for (char *c = threads.e[i].key; *c; c++)
      if (*c == ' ' || *c == '=') *c = '_';
    printf("THREAD name=%s tid=%lld", threads.e[i].key[0] ? threads.e[i].key : "-",
           (long long)threads.e[i].tid);
    print_values(&threads.e[i]);
  }
  for (size_t i = 0; i < funcs.n; i++) {
    for (char *c = funcs.e[i].key; *c; c++)
      if (*c == ' ' || *c == '=') *c = '_';
    printf("FUNC name=%s", funcs.e[i].key);
    print_values(&funcs.e[i]);
  }
  return 0;
}
