/*
 * collect/pprof.c - one period's aggregate -> a serialized (uncompressed) pprof
 * Profile, built with the protobuf-c code generated from profile.proto.
 *
 * Choices a reader of the output will notice:
 * - Sample types are only the enabled ones, in a fixed order: cpu-samples,
 *   cpu-time (CPU on), wall-samples, wall-time (wall on), then
 *   alloc-samples, alloc-space, inuse-objects, inuse-space (heap on); the
 *   period type is cpu, else wall, else space. Samples whose enabled values
 *   are all zero are left out, and so is anything only they referenced.
 * - Frames after the first are return addresses: they are symbolized, and
 *   recorded in their Location, as addr - 1 (inside the call instruction), so
 *   a later re-symbolization by address lands on the caller's call line.
 * - A Location has one Line per function at its address, innermost first:
 *   the inlined calls, then the real function (the symbolizer's frame).
 *   Function.name is the demangled name and system_name the raw symbol, so
 *   pprof's C++ simplifier, which only shortens a name equal to its
 *   system_name, leaves ns::burn(int) and <T as Trait>::f whole.
 * - An address with no symbol still gets a Location with its mapping and
 *   address but no Line; go tool pprof then shows it as the address within
 *   that object instead of losing the frame, and can symbolize it later.
 * - Mapping flags say what its Locations carry: has_functions when every
 *   one has a function; has_filenames and has_line_numbers when every one
 *   was resolved with the object's debug info, and has_inline_frames when
 *   that was with inlined frames on (false means a later symbolizer may do
 *   better).
 * - The executable's mapping (found through AT_ENTRY) is listed first when
 *   known: pprof tools take the first mapping as the main binary.
 * - Labels, with the keys Datadog reads: "thread id" (num) and "thread
 *   name"; from the sample's context (sample/context.h) "local root span
 *   id" and "span id" (num: the id's 64 bits as int64, str empty), "trace
 *   endpoint" when the root has an endpoint at export time, each custom
 *   label as a string label key=value; timeline samples also
 *   "end_timestamp_ns" (num: nanoseconds since the Unix epoch).
 * - One comment, "process_name:<executable>" (see process_name_comment).
 * Returns 0 on success, -1 when memory runs out (nothing is allocated then).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "base/hash.h"
#include "collect/pprof.h"
#include "profile.pb-c.h"
#include "sample/context.h"

/* ----------------------------------------------------- small hash maps */

typedef struct u64map {
  uint64_t *keys;
  uint32_t *vals;              /* value + 1; 0 = empty */
  uint32_t mask, n;
} u64map;

static int u64map_init(u64map *m, uint32_t size) {
  m->mask = size - 1;
  m->n = 0;
  m->keys = calloc(size, sizeof *m->keys);
  m->vals = calloc(size, sizeof *m->vals);
  return m->keys && m->vals ? 0 : -1;
}

static void u64map_free(u64map *m) {
  free(m->keys);
  free(m->vals);
}

/* Slot of key, or of the empty slot where it belongs. */
static uint32_t u64map_slot(const u64map *m, uint64_t key) {
  uint32_t i = (uint32_t)inprof__mix64(key) & m->mask;
  while (m->vals[i] && m->keys[i] != key) i = (i + 1) & m->mask;
  return i;
}

static int u64map_get(const u64map *m, uint64_t key, uint32_t *val) {
  uint32_t i = u64map_slot(m, key);
  if (!m->vals[i]) return 0;
  *val = m->vals[i] - 1;
  return 1;
}

static int u64map_put(u64map *m, uint64_t key, uint32_t val) {
  if ((m->n + 1) * 2 > m->mask + 1) {
    u64map g;
    if (u64map_init(&g, (m->mask + 1) * 2) != 0) {
      u64map_free(&g);
      return -1;
    }
    for (uint32_t i = 0; i <= m->mask; i++)
      if (m->vals[i]) {
        uint32_t j = u64map_slot(&g, m->keys[i]);
        g.keys[j] = m->keys[i];
        g.vals[j] = m->vals[i];
      }
    g.n = m->n;
    u64map_free(m);
    *m = g;
  }
  uint32_t i = u64map_slot(m, key);
  if (!m->vals[i]) m->n++;
  m->keys[i] = key;
  m->vals[i] = val + 1;
  return 0;
}

/* ------------------------------------------------------------- builder */

typedef struct builder {
  inprof__symbolizer *sym;
  const inprof__profile_meta *meta;
  int cols[INPROF__VT_COUNT];
  uint32_t ncols;
  int failed;

  char **strings;
  size_t nstrings, strings_cap;
  u64map string_idx;           /* string hash -> index (chained by probing) */

  Inprof__Pprof__Mapping *maps;
  size_t nmaps, maps_cap;
  u64map map_idx;              /* mapping_info pointer -> index */

  Inprof__Pprof__Location *locs;
  size_t *loc_first_line;      /* index in lines of locs[i]'s first Line */
  size_t nlocs, locs_cap, first_cap;
  u64map loc_idx;              /* address -> index */
  Inprof__Pprof__Line *lines;
  size_t nlines, lines_cap;
  struct map_stats {
    uint32_t locs, with_function, from_dwarf;
  } *mstats;                   /* per mapping, for its flags */
  size_t mstats_cap;
  int inline_frames;

  Inprof__Pprof__Function *funcs;
  size_t nfuncs, funcs_cap;
  u64map func_idx;             /* hash of (name, system_name, file, line) -> index */

  Inprof__Pprof__Sample *samples;
  size_t nsamples;
  uint64_t *loc_ids;           /* all samples' location ids */
  size_t nloc_ids;
  int64_t *values;
  Inprof__Pprof__Label *labels;
  Inprof__Pprof__Label **label_ptrs;
  size_t nlabels;
  int64_t key_thread_id, key_thread_name;
  int64_t key_span_id, key_root_span_id, key_endpoint, key_end_timestamp;
} builder;

static int grow(void **v, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap : 64;
  while (c < need) c *= 2;
  void *p = realloc(*v, c * elem);
  if (!p) return -1;
  *v = p;
  *cap = c;
  return 0;
}

static uint64_t str_hash(const char *s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
  return h;
}

/*
 * The Profile.comment "process_name:<executable's file name>", the same
 * value as the process_name tag zero-code mode adds to uploads (',', ' ' and
 * ':' become '_'), so that the files of a wrapped process tree can be told
 * apart too (go tool pprof -comments). Read per export: one readlink.
 */
static const char *process_name_comment(char *out, size_t cap) {
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  const char *name = program_invocation_short_name;
  if (n > 0) {
    exe[n] = 0;
    /* A deleted executable reads "<path> (deleted)". */
    char *d = strstr(exe, " (deleted)");
    if (d && d[10] == 0) *d = 0;
    const char *slash = strrchr(exe, '/');
    name = slash ? slash + 1 : exe;
  }
  if (!name || !*name) return NULL;
  int len = snprintf(out, cap, "process_name:%s", name);
  if (len < 0) return NULL;
  for (char *c = out + sizeof "process_name:" - 1; *c; c++)
    if (*c == ',' || *c == ' ' || *c == ':') *c = '_';
  return out;
}

/* Interns s (copied) and returns its index; 0 ("") on failure. */
static int64_t intern(builder *b, const char *s) {
  if (!s || !*s || b->failed) return 0;
  uint64_t h = str_hash(s);
  /* Equal hashes of different strings probe on with h + 1, h + 2, ... */
  for (uint64_t k = h;; k++) {
    uint32_t idx;
    if (!u64map_get(&b->string_idx, k, &idx)) break;
    if (strcmp(b->strings[idx], s) == 0) return idx;
  }
  char *copy = strdup(s);
  if (!copy || grow((void **)&b->strings, &b->strings_cap, b->nstrings + 1,
                    sizeof *b->strings) != 0) {
    free(copy);
    b->failed = 1;
    return 0;
  }
  uint64_t k = h;
  uint32_t unused;
  while (u64map_get(&b->string_idx, k, &unused)) k++;
  if (u64map_put(&b->string_idx, k, (uint32_t)b->nstrings) != 0) {
    free(copy);
    b->failed = 1;
    return 0;
  }
  b->strings[b->nstrings] = copy;
  return (int64_t)b->nstrings++;
}

/* Mapping id (1-based) for m, 0 for none. */
static uint64_t mapping_id(builder *b, const inprof__mapping_info *m) {
  if (!m || b->failed) return 0;
  uint32_t idx;
  if (u64map_get(&b->map_idx, (uint64_t)(uintptr_t)m, &idx)) return idx + 1;
  if (grow((void **)&b->maps, &b->maps_cap, b->nmaps + 1, sizeof *b->maps) != 0 ||
      grow((void **)&b->mstats, &b->mstats_cap, b->nmaps + 1, sizeof *b->mstats) != 0 ||
      u64map_put(&b->map_idx, (uint64_t)(uintptr_t)m, (uint32_t)b->nmaps) != 0) {
    b->failed = 1;
    return 0;
  }
  Inprof__Pprof__Mapping *pm = &b->maps[b->nmaps];
  inprof__pprof__mapping__init(pm);
  pm->id = b->nmaps + 1;
  pm->memory_start = m->start;
  pm->memory_limit = m->limit;
  pm->file_offset = m->file_offset;
  pm->filename = intern(b, m->path);
  pm->build_id = intern(b, m->build_id);
  memset(&b->mstats[b->nmaps], 0, sizeof b->mstats[b->nmaps]);
  return ++b->nmaps;
}

static uint64_t function_id(builder *b, const inprof__sym_line *l) {
  int64_t name = intern(b, l->name);
  int64_t sys = intern(b, l->system_name ? l->system_name : l->name);
  int64_t file = intern(b, l->func_file);
  int64_t start = l->func_line;
  if (b->failed) return 0;
  uint64_t h = inprof__mix64((uint64_t)name ^ inprof__mix64((uint64_t)sys ^
               inprof__mix64((uint64_t)file ^ inprof__mix64((uint64_t)start))));
  uint32_t idx;
  /* Equal hashes of different functions probe on with h + 1, h + 2, ... */
  uint64_t k = h;
  for (;; k++) {
    if (!u64map_get(&b->func_idx, k, &idx)) break;
    const Inprof__Pprof__Function *f = &b->funcs[idx];
    if (f->name == name && f->system_name == sys && f->filename == file &&
        f->start_line == start)
      return idx + 1;
  }
  if (grow((void **)&b->funcs, &b->funcs_cap, b->nfuncs + 1, sizeof *b->funcs) != 0 ||
      u64map_put(&b->func_idx, k, (uint32_t)b->nfuncs) != 0) {
    b->failed = 1;
    return 0;
  }
  Inprof__Pprof__Function *f = &b->funcs[b->nfuncs];
  inprof__pprof__function__init(f);
  f->id = b->nfuncs + 1;
  f->name = name;
  f->system_name = sys;
  f->filename = file;
  f->start_line = start;
  return ++b->nfuncs;
}

static uint64_t location_id(builder *b, uintptr_t addr) {
  uint32_t idx;
  if (u64map_get(&b->loc_idx, addr, &idx)) return idx + 1;
  inprof__sym_frame fr;
  inprof__symbolize_frame(b->sym, addr, &fr);
  uint64_t mid = mapping_id(b, fr.mapping);
  if (b->failed) return 0;
  if (grow((void **)&b->locs, &b->locs_cap, b->nlocs + 1, sizeof *b->locs) != 0 ||
      grow((void **)&b->loc_first_line, &b->first_cap, b->nlocs + 1,
           sizeof *b->loc_first_line) != 0 ||
      grow((void **)&b->lines, &b->lines_cap, b->nlines + fr.nlines + 1, sizeof *b->lines) !=
          0 ||
      u64map_put(&b->loc_idx, addr, (uint32_t)b->nlocs) != 0) {
    b->failed = 1;
    return 0;
  }
  /* Line pointers are set at the end: lines may still move. */
  Inprof__Pprof__Location *l = &b->locs[b->nlocs];
  inprof__pprof__location__init(l);
  l->id = b->nlocs + 1;
  l->mapping_id = mid;
  l->address = addr;
  b->loc_first_line[b->nlocs] = b->nlines;
  int all_named = fr.nlines > 0;
  for (uint32_t i = 0; i < fr.nlines; i++) {
    uint64_t fid = function_id(b, &fr.lines[i]);
    if (b->failed) return 0;
    Inprof__Pprof__Line *ln = &b->lines[b->nlines++];
    inprof__pprof__line__init(ln);
    ln->function_id = fid;
    ln->line = fr.lines[i].line;
    l->n_line++;
  }
  if (mid) {
    struct map_stats *ms = &b->mstats[mid - 1];
    ms->locs++;
    ms->with_function += all_named;
    ms->from_dwarf += fr.from_dwarf;
  }
  return ++b->nlocs;
}

static int wanted(const builder *b, const int64_t *values) {
  for (uint32_t c = 0; c < b->ncols; c++)
    if (values[b->cols[c]] != 0) return 1;
  return 0;
}

typedef struct counts {
  const builder *b;
  size_t samples, frames, labels;
} counts;

/* Labels a sample may get (an upper bound, without lookups): thread id and
 * name, the span ids, the endpoint, the custom labels, end_timestamp_ns. */
static void count_visit(void *ctx, const inprof__agg_entry_view *e) {
  counts *c = ctx;
  if (!wanted(c->b, e->values)) return;
  c->samples++;
  c->frames += e->nframes;
  const inprof__sample_ctx *x = e->ctx;
  c->labels += (e->tid ? 2 : 0) + (x->local_root_span_id ? 2 : 0) + (x->span_id ? 1 : 0) +
               (e->timestamp_ns ? 1 : 0);
  for (int i = 0; i < INPROF__LABEL_SLOTS && x->labels[i]; i++) c->labels++;
}

/* The string index of a label key interned on first use (*key < 0). */
static int64_t lazy_key(builder *b, int64_t *key, const char *name) {
  if (*key < 0) *key = intern(b, name);
  return *key;
}

static Inprof__Pprof__Label *add_label(builder *b, Inprof__Pprof__Sample *s, int64_t key) {
  Inprof__Pprof__Label *l = &b->labels[b->nlabels++];
  inprof__pprof__label__init(l);
  l->key = key;
  s->label[s->n_label++] = l;
  return l;
}

/* Span ids, endpoint, custom labels and end_timestamp_ns, as Datadog reads
 * them: span ids numeric (the id's 64 bits as int64), the rest strings. */
static void context_labels(builder *b, Inprof__Pprof__Sample *s,
                           const inprof__agg_entry_view *e) {
  const inprof__sample_ctx *c = e->ctx;
  if (c->local_root_span_id)
    add_label(b, s, lazy_key(b, &b->key_root_span_id, "local root span id"))->num =
        (int64_t)c->local_root_span_id;
  if (c->span_id)
    add_label(b, s, lazy_key(b, &b->key_span_id, "span id"))->num = (int64_t)c->span_id;
  const char *k, *v;
  uint32_t ep = inprof__endpoint_lookup(c->local_root_span_id);
  if (ep && inprof__label_get(ep, &k, &v))
    add_label(b, s, lazy_key(b, &b->key_endpoint, INPROF__ENDPOINT_KEY))->str = intern(b, v);
  for (int i = 0; i < INPROF__LABEL_SLOTS && c->labels[i]; i++) {
    if (!inprof__label_get(c->labels[i], &k, &v)) continue;
    int64_t key = intern(b, k);
    add_label(b, s, key)->str = intern(b, v);
  }
  /* No num_unit: Datadog's libraries send the bare number, the key names it. */
  if (e->timestamp_ns)
    add_label(b, s, lazy_key(b, &b->key_end_timestamp, "end_timestamp_ns"))->num =
        (int64_t)e->timestamp_ns;
}

static void sample_visit(void *ctx, const inprof__agg_entry_view *e) {
  builder *b = ctx;
  uint32_t tid = e->tid, nframes = e->nframes;
  const uintptr_t *frames = e->frames;
  const int64_t *values = e->values;
  if (b->failed || !wanted(b, values)) return;
  Inprof__Pprof__Sample *s = &b->samples[b->nsamples++];
  inprof__pprof__sample__init(s);
  s->location_id = b->loc_ids + b->nloc_ids;
  for (uint32_t i = 0; i < nframes; i++) {
    uintptr_t a = frames[i];
    if (i > 0 && a > 0) a -= 1;
    s->location_id[s->n_location_id++] = location_id(b, a);
  }
  b->nloc_ids += nframes;
  s->value = b->values + (b->nsamples - 1) * b->ncols;
  s->n_value = b->ncols;
  for (uint32_t c = 0; c < b->ncols; c++) s->value[c] = values[b->cols[c]];
  s->label = b->label_ptrs + b->nlabels;
  if (tid) {
    add_label(b, s, b->key_thread_id)->num = tid;
    const char *name = b->meta->thread_name
                           ? b->meta->thread_name(b->meta->thread_name_ctx, tid)
                           : NULL;
    if (name && *name) add_label(b, s, b->key_thread_name)->str = intern(b, name);
  }
  context_labels(b, s, e);
  if (!s->n_label) s->label = NULL;
}

static void builder_free(builder *b) {
  for (size_t i = 0; i < b->nstrings; i++) free(b->strings[i]);
  free(b->strings);
  u64map_free(&b->string_idx);
  free(b->maps);
  u64map_free(&b->map_idx);
  free(b->locs);
  free(b->loc_first_line);
  free(b->lines);
  free(b->mstats);
  u64map_free(&b->loc_idx);
  free(b->funcs);
  u64map_free(&b->func_idx);
  free(b->samples);
  free(b->loc_ids);
  free(b->values);
  free(b->labels);
  free(b->label_ptrs);
}

INPROF__HIDDEN int inprof__pprof_encode(const inprof__agg *agg, inprof__symbolizer *sym,
                                        const inprof__profile_meta *meta, uint8_t **out,
                                        size_t *out_len) {
  if (!out || !out_len) return -1;
  *out = NULL;
  *out_len = 0;
  if (!meta) return -1;
  builder b;
  memset(&b, 0, sizeof b);
  b.sym = sym;
  b.meta = meta;
  b.inline_frames = inprof__symbolizer_inlined_frames(sym);
  static const char *const type_names[INPROF__VT_COUNT][2] = {
      {"cpu-samples", "count"},   {"cpu-time", "nanoseconds"},
      {"alloc-samples", "count"}, {"alloc-space", "bytes"},
      {"inuse-objects", "count"}, {"inuse-space", "bytes"},
      {"wall-samples", "count"},  {"wall-time", "nanoseconds"}};
  if (meta->cpu_hz > 0) {
    b.cols[b.ncols++] = INPROF__VT_CPU_SAMPLES;
    b.cols[b.ncols++] = INPROF__VT_CPU_TIME;
  }
  if (meta->wall_hz > 0) {
    b.cols[b.ncols++] = INPROF__VT_WALL_SAMPLES;
    b.cols[b.ncols++] = INPROF__VT_WALL_TIME;
  }
  if (meta->heap_sample_bytes > 0) {
    b.cols[b.ncols++] = INPROF__VT_ALLOC_SAMPLES;
    b.cols[b.ncols++] = INPROF__VT_ALLOC_SPACE;
    b.cols[b.ncols++] = INPROF__VT_INUSE_OBJECTS;
    b.cols[b.ncols++] = INPROF__VT_INUSE_SPACE;
  }

  int rc = -1;
  if (u64map_init(&b.string_idx, 1024) || u64map_init(&b.map_idx, 64) ||
      u64map_init(&b.loc_idx, 1024) || u64map_init(&b.func_idx, 1024) ||
      grow((void **)&b.strings, &b.strings_cap, 1, sizeof *b.strings))
    goto done;
  b.strings[b.nstrings++] = NULL; /* index 0 is "", set at the end */
  if (!(b.strings[0] = strdup(""))) goto done;

  Inprof__Pprof__ValueType types[INPROF__VT_COUNT], *type_ptrs[INPROF__VT_COUNT];
  for (uint32_t c = 0; c < b.ncols; c++) {
    inprof__pprof__value_type__init(&types[c]);
    types[c].type = intern(&b, type_names[b.cols[c]][0]);
    types[c].unit = intern(&b, type_names[b.cols[c]][1]);
    type_ptrs[c] = &types[c];
  }
  Inprof__Pprof__ValueType period_type;
  inprof__pprof__value_type__init(&period_type);
  Inprof__Pprof__Profile prof;
  inprof__pprof__profile__init(&prof);
  /* pprof tools open on the last sample type (inuse-space, often empty)
   * unless told: a profile with CPU samples opens on cpu-time. */
  for (uint32_t c = 0; c < b.ncols; c++)
    if (b.cols[c] == INPROF__VT_CPU_TIME) prof.default_sample_type = types[c].type;
  if (meta->cpu_hz > 0) {
    period_type.type = intern(&b, "cpu");
    period_type.unit = intern(&b, "nanoseconds");
    prof.period = 1000000000 / (int64_t)meta->cpu_hz;
    prof.period_type = &period_type;
  } else if (meta->wall_hz > 0) {
    period_type.type = intern(&b, "wall");
    period_type.unit = intern(&b, "nanoseconds");
    prof.period = 1000000000 / (int64_t)meta->wall_hz;
    prof.period_type = &period_type;
  } else if (meta->heap_sample_bytes > 0) {
    period_type.type = intern(&b, "space");
    period_type.unit = intern(&b, "bytes");
    prof.period = (int64_t)meta->heap_sample_bytes;
    prof.period_type = &period_type;
  }
  b.key_thread_id = intern(&b, "thread id");
  b.key_thread_name = intern(&b, "thread name");
  char pname[sizeof "process_name:" + 255];
  int64_t comment = intern(&b, process_name_comment(pname, sizeof pname));
  /* Interned when first used: a profile without context has none of them. */
  b.key_span_id = b.key_root_span_id = b.key_endpoint = b.key_end_timestamp = -1;

  counts c = {&b, 0, 0, 0};
  inprof__agg_foreach_entry(agg, count_visit, &c);
  b.samples = calloc(c.samples + 1, sizeof *b.samples);
  b.loc_ids = calloc(c.frames + 1, sizeof *b.loc_ids);
  b.values = calloc(c.samples * b.ncols + 1, sizeof *b.values);
  b.labels = calloc(c.labels + 1, sizeof *b.labels);
  b.label_ptrs = calloc(c.labels + 1, sizeof *b.label_ptrs);
  if (!b.samples || !b.loc_ids || !b.values || !b.labels || !b.label_ptrs) goto done;

  /* The main binary first, when its entry point is in a known object. */
  if (c.samples && sym) {
    inprof__sym_frame fr;
    if (inprof__symbolize_frame(sym, (uintptr_t)getauxval(AT_ENTRY), &fr) && fr.mapping)
      mapping_id(&b, fr.mapping);
  }
  inprof__agg_foreach_entry(agg, sample_visit, &b);
  if (b.failed) goto done;

  Inprof__Pprof__Sample **sp = calloc(b.nsamples + 1, sizeof *sp);
  Inprof__Pprof__Mapping **mp = calloc(b.nmaps + 1, sizeof *mp);
  Inprof__Pprof__Location **lp = calloc(b.nlocs + 1, sizeof *lp);
  Inprof__Pprof__Line **linep = calloc(b.nlines + 1, sizeof *linep);
  Inprof__Pprof__Function **fp = calloc(b.nfuncs + 1, sizeof *fp);
  if (sp && mp && lp && linep && fp) {
    for (size_t i = 0; i < b.nsamples; i++) sp[i] = &b.samples[i];
    for (size_t i = 0; i < b.nmaps; i++) {
      mp[i] = &b.maps[i];
      const struct map_stats *ms = &b.mstats[i];
      b.maps[i].has_functions = ms->locs && ms->with_function == ms->locs;
      b.maps[i].has_filenames = b.maps[i].has_line_numbers =
          ms->locs && ms->from_dwarf == ms->locs;
      b.maps[i].has_inline_frames = b.maps[i].has_line_numbers && b.inline_frames;
    }
    for (size_t i = 0; i < b.nlines; i++) linep[i] = &b.lines[i];
    for (size_t i = 0; i < b.nfuncs; i++) fp[i] = &b.funcs[i];
    for (size_t i = 0; i < b.nlocs; i++) {
      lp[i] = &b.locs[i];
      if (b.locs[i].n_line) b.locs[i].line = &linep[b.loc_first_line[i]];
    }
    prof.n_sample_type = b.ncols;
    prof.sample_type = type_ptrs;
    prof.n_sample = b.nsamples;
    prof.sample = sp;
    prof.n_mapping = b.nmaps;
    prof.mapping = mp;
    prof.n_location = b.nlocs;
    prof.location = lp;
    prof.n_function = b.nfuncs;
    prof.function = fp;
    prof.n_string_table = b.nstrings;
    prof.string_table = b.strings;
    prof.n_comment = comment > 0 ? 1 : 0;
    prof.comment = &comment;
    prof.time_nanos = (int64_t)meta->start_ns;
    prof.duration_nanos =
        meta->end_ns > meta->start_ns ? (int64_t)(meta->end_ns - meta->start_ns) : 0;
    size_t len = inprof__pprof__profile__get_packed_size(&prof);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf) {
      size_t packed = inprof__pprof__profile__pack(&prof, buf);
      if (packed == len) {
        *out = buf;
        *out_len = len;
        rc = 0;
      } else {
        free(buf);
      }
    }
  }
  free(sp);
  free(mp);
  free(lp);
  free(linep);
  free(fp);
done:
  builder_free(&b);
  return rc;
}
