/*
 * internal.h - interfaces between inprof's source files. Nothing here is
 * public: every symbol is hidden (-fvisibility=hidden) and prefixed inprof__.
 *
 * Who owns what:
 *   config.c      environment parsing, validation, inprof__settings
 *   api.c         public entry points, lifecycle, stats, last error, logging
 *   ring.c        the lock-free sample ring the signal handler writes into
 *   unwind.c      stack walking with libunwind (signal context and normal)
 *   sampler.c     per-thread CPU timers, thread discovery, the signal handler
 *   collector.c   the collector thread: drain, aggregate, export each period
 *   aggregate.c   samples aggregated by (thread, stack) for one period
 *   symbolizer.c  address -> function name and mapping (ELF symtab, demangling)
 *   pprof.c       aggregate -> serialized pprof (protobuf-c, profile.proto)
 *   export_file.c gzip pprof files, written atomically
 *   export_http.c Datadog agent / agentless uploads (libcurl, own thread)
 *   heap.c        allocation hooks, Poisson sampling, live heap table
 */
#ifndef INPROF_INTERNAL_H
#define INPROF_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "inprof.h"

#define INPROF_HIDDEN __attribute__((visibility("hidden")))

/* ------------------------------------------------------------------ config */

/* The resolved configuration: every string owned (strdup) or NULL. */
typedef struct inprof__settings {
  uint32_t enabled;
  uint32_t cpu_hz;
  int32_t cpu_signal;          /* resolved: never 0 */
  uint64_t heap_sample_bytes;
  uint32_t upload_period_ms;
  uint32_t max_frames;
  char *service;               /* never NULL: DD_SERVICE or the program name */
  char *env;
  char *version;
  char *tags;                  /* DD_TAGS as given, "k:v,k2:v2" */
  char *output_dir;
  char *agent_url;             /* NULL: derived by export_http.c */
  uint32_t agentless;
  uint32_t upload;             /* resolved: 1 upload, 0 do not (AUTO decided) */
  char *site;
  char *api_key;
  char *intake_url;
  char *ca_bundle;
  uint32_t connect_timeout_ms;
  uint32_t upload_timeout_ms;
  uint32_t log_level;
} inprof__settings;

/* Copies and validates cfg into out. On error sets the last error. */
INPROF_HIDDEN inprof_status inprof__settings_from_config(const inprof_config *cfg,
                                                         inprof__settings *out);
INPROF_HIDDEN void inprof__settings_free(inprof__settings *s);

/* -------------------------------------------------------- errors, logging */

/* Records the reason for the failure inprof_last_error() reports. */
INPROF_HIDDEN void inprof__set_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

enum { INPROF_LOG_OFF = 0, INPROF_LOG_ERROR = 1, INPROF_LOG_WARN = 2,
       INPROF_LOG_INFO = 3, INPROF_LOG_DEBUG = 4 };
extern INPROF_HIDDEN _Atomic uint32_t inprof__log_level;
/* stderr, prefixed "inprof: ", rate-limited. Never from a signal handler. */
INPROF_HIDDEN void inprof__log(uint32_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------ stats */

/* Process-wide counters behind inprof_stats(); relaxed atomics. */
typedef struct inprof__counters {
  _Atomic uint64_t cpu_samples;
  _Atomic uint64_t cpu_samples_dropped;
  _Atomic uint64_t cpu_timer_overruns;
  _Atomic uint64_t threads_failed;
  _Atomic uint64_t heap_samples;
  _Atomic uint64_t heap_samples_dropped;
  _Atomic uint64_t profiles_written;
  _Atomic uint64_t profiles_failed;
  _Atomic uint64_t uploads_ok;
  _Atomic uint64_t uploads_failed;
  _Atomic uint64_t uploads_dropped;
} inprof__counters;
extern INPROF_HIDDEN inprof__counters inprof__stats;
#define INPROF__COUNT(field, n) \
  atomic_fetch_add_explicit(&inprof__stats.field, (n), memory_order_relaxed)

/* ------------------------------------------------------------------- time */

static inline uint64_t inprof__now_ns(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------- hash */

/* A 64-bit finalizer (MurmurHash3's fmix64): good spread for addresses. */
static inline uint64_t inprof__mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

/* ---------------------------------------------------------- sample record */

enum { INPROF_SAMPLE_CPU = 1, INPROF_SAMPLE_ALLOC = 2 };
#define INPROF__LABEL_SLOTS 4

/*
 * One sample as the signal handler (or an allocation hook) writes it. The
 * frames array holds max_frames entries; frames[0] is the innermost PC
 * (exact), the rest are return addresses.
 */
typedef struct inprof__sample {
  uint32_t kind;
  uint32_t tid;
  uint64_t timestamp_ns;       /* CLOCK_REALTIME, for a timeline later */
  uint64_t value;              /* CPU: thread CPU ns since its previous sample */
  uint64_t count;              /* samples this record stands for */
  uint64_t addr;               /* ALLOC: the block's address */
  uint64_t labels[INPROF__LABEL_SLOTS]; /* reserved: span ids, endpoint */
  uint32_t nframes;
  uint32_t flags;
  uintptr_t frames[];
} inprof__sample;

/* ------------------------------------------------------------------- ring */

typedef struct inprof__ring inprof__ring;
/* capacity is rounded up to a power of two; slots hold max_frames frames. */
INPROF_HIDDEN inprof__ring *inprof__ring_new(uint32_t capacity, uint32_t max_frames);
INPROF_HIDDEN void inprof__ring_free(inprof__ring *r);
INPROF_HIDDEN uint32_t inprof__ring_max_frames(const inprof__ring *r);
/* Producer (async-signal-safe, lock-free): NULL when full. */
INPROF_HIDDEN inprof__sample *inprof__ring_reserve(inprof__ring *r);
INPROF_HIDDEN void inprof__ring_commit(inprof__ring *r, inprof__sample *s);
/* Single consumer: the oldest committed sample or NULL; then release it. */
INPROF_HIDDEN inprof__sample *inprof__ring_peek(inprof__ring *r);
INPROF_HIDDEN void inprof__ring_release(inprof__ring *r);

/* ----------------------------------------------------------------- unwind */

INPROF_HIDDEN void inprof__unwind_init(void);
/* Picks up newly loaded unwinder libraries (see unwind.c). Collector only. */
INPROF_HIDDEN void inprof__unwind_refresh(void);
/* From a signal's ucontext; async-signal-safe. Returns frames written. */
INPROF_HIDDEN uint32_t inprof__unwind_signal(void *ucontext, uintptr_t *frames,
                                             uint32_t max);
/* The same with a libunwind cursor only (the fallback; tests compare both). */
INPROF_HIDDEN uint32_t inprof__unwind_signal_careful(void *ucontext, uintptr_t *frames,
                                                     uint32_t max);
/* From the caller, skipping `skip` innermost frames (normal context). */
INPROF_HIDDEN uint32_t inprof__unwind_here(uintptr_t *frames, uint32_t max,
                                           uint32_t skip);

/* ------------------------------------------------- thread-local guard */

/*
 * Set while this thread runs profiler code that may allocate or unwind
 * (collector, exporter, heap hook slow path): heap hooks ignore such
 * allocations and the CPU handler does not unwind through libunwind.
 */
extern INPROF_HIDDEN __thread int inprof__in_profiler
    __attribute__((tls_model("initial-exec")));

/* -------------------------------------------------------------- collector */

/* Lifecycle, serialized by api.c's lock. */
INPROF_HIDDEN int inprof__collector_running(void);
INPROF_HIDDEN inprof_status inprof__collector_start(const inprof_config *cfg);
INPROF_HIDDEN inprof_status inprof__collector_stop(uint32_t timeout_ms);
INPROF_HIDDEN inprof_status inprof__collector_flush(uint32_t timeout_ms);
/* api.c's locks around fork. */
INPROF_HIDDEN void inprof__api_atfork_prepare(void);
INPROF_HIDDEN void inprof__api_atfork_parent(void);
INPROF_HIDDEN void inprof__api_atfork_child(void);

/* ---------------------------------------------------------------- sampler */

/* The handler's recording step: fills a reserved slot (stack from the
 * signal's ucontext) and commits it. Async-signal-safe; the benchmark of
 * the handler path calls it too. */
INPROF_HIDDEN void inprof__sampler_write_cpu(inprof__ring *r, inprof__sample *s, uint32_t tid,
                                             uint64_t weight, void *ucontext);
INPROF_HIDDEN inprof_status inprof__sampler_start(const inprof__settings *s,
                                                  inprof__ring *ring);
/* Finds new threads, arms their timers, releases exited ones. Collector only. */
INPROF_HIDDEN void inprof__sampler_scan_threads(void);
INPROF_HIDDEN void inprof__sampler_stop(void);
INPROF_HIDDEN uint32_t inprof__sampler_threads_tracked(void);
/* The name of a thread (comm), "" if unknown; valid until the next scan. */
INPROF_HIDDEN const char *inprof__sampler_thread_name(uint32_t tid);
/* Re-reads names of tracked threads (they may rename themselves late) and
 * forgets names of threads gone since the last call. Collector only. */
INPROF_HIDDEN void inprof__sampler_refresh_names(void);
/* 0 (and one logged error) if someone replaced our signal handler. Collector only. */
INPROF_HIDDEN int inprof__sampler_check_handler(void);
/* Threads named "inprof-*" (the collector, the uploader) are never sampled. */
#define INPROF__THREAD_PREFIX "inprof-"
/* Fork: block the profiling signal in the forking thread (gperftools#704). */
INPROF_HIDDEN void inprof__sampler_atfork_prepare(void);
INPROF_HIDDEN void inprof__sampler_atfork_parent(void);
INPROF_HIDDEN void inprof__sampler_atfork_child(void);

/* -------------------------------------------------------------- aggregate */

enum {
  INPROF_VT_CPU_SAMPLES = 0, /* cpu-samples/count */
  INPROF_VT_CPU_TIME,        /* cpu-time/nanoseconds */
  INPROF_VT_ALLOC_SAMPLES,   /* alloc-samples/count */
  INPROF_VT_ALLOC_SPACE,     /* alloc-space/bytes */
  INPROF_VT_INUSE_OBJECTS,   /* inuse-objects/count */
  INPROF_VT_INUSE_SPACE,     /* inuse-space/bytes */
  INPROF_VT_COUNT
};

typedef struct inprof__agg inprof__agg;
/* max_stacks bounds memory: further distinct stacks are dropped (counted). */
INPROF_HIDDEN inprof__agg *inprof__agg_new(uint32_t max_stacks);
INPROF_HIDDEN void inprof__agg_free(inprof__agg *a);
INPROF_HIDDEN void inprof__agg_reset(inprof__agg *a);
/* Adds values (INPROF_VT_COUNT of them) to the (tid, stack) entry. 0 or -1 if dropped. */
INPROF_HIDDEN int inprof__agg_add(inprof__agg *a, uint32_t tid,
                                  const uintptr_t *frames, uint32_t nframes,
                                  const int64_t *values);
INPROF_HIDDEN uint64_t inprof__agg_dropped(const inprof__agg *a);
INPROF_HIDDEN uint32_t inprof__agg_entries(const inprof__agg *a);
/* Visits each entry; tid 0 means "no thread". */
typedef void (*inprof__agg_visit_fn)(void *ctx, uint32_t tid,
                                     const uintptr_t *frames, uint32_t nframes,
                                     const int64_t *values);
INPROF_HIDDEN void inprof__agg_foreach(const inprof__agg *a, inprof__agg_visit_fn fn,
                                       void *ctx);

/* ------------------------------------------------------------- symbolizer */

typedef struct inprof__mapping_info {
  uint64_t start, limit, file_offset;
  const char *path;            /* "" when anonymous */
  const char *build_id;        /* hex, "" when unknown */
} inprof__mapping_info;

typedef struct inprof__symbolizer inprof__symbolizer;
INPROF_HIDDEN inprof__symbolizer *inprof__symbolizer_new(void);
INPROF_HIDDEN void inprof__symbolizer_free(inprof__symbolizer *s);
/* Re-reads the loaded objects (dl_iterate_phdr); call once per export. */
INPROF_HIDDEN void inprof__symbolizer_refresh(inprof__symbolizer *s);
/*
 * Looks up addr (pass addr - 1 for return addresses). On success returns 1,
 * sets *function (demangled, Rust hash removed; NULL if no symbol) and
 * *mapping (NULL if the address is in no known object). Strings stay valid
 * until inprof__symbolizer_free.
 */
INPROF_HIDDEN int inprof__symbolize(inprof__symbolizer *s, uintptr_t addr,
                                    const char **function,
                                    const inprof__mapping_info **mapping);
/* Demangles a C++ or Rust (legacy or v0) name into buf; returns buf or name. */
INPROF_HIDDEN const char *inprof__demangle(const char *name, char *buf, size_t len);

/* ------------------------------------------------------------------ pprof */

typedef struct inprof__profile_meta {
  uint64_t start_ns;           /* CLOCK_REALTIME, period start */
  uint64_t end_ns;
  uint32_t cpu_hz;             /* 0: no CPU sample types */
  uint64_t heap_sample_bytes;  /* 0: no heap sample types */
  /* Thread name lookup for the "thread name" label. */
  const char *(*thread_name)(void *ctx, uint32_t tid);
  void *thread_name_ctx;
} inprof__profile_meta;

/* Serializes agg as an uncompressed pprof Profile into a malloc'ed buffer. */
INPROF_HIDDEN int inprof__pprof_encode(const inprof__agg *agg,
                                       inprof__symbolizer *sym,
                                       const inprof__profile_meta *meta,
                                       uint8_t **out, size_t *out_len);

/* ------------------------------------------------------------ export_file */

/* Checks that dir exists and is writable (at start). Sets the last error. */
INPROF_HIDDEN inprof_status inprof__file_check_dir(const char *dir);
/* gzip(pprof) -> <dir>/<service>-<pid>-<seq>.pprof.gz via temp + rename, 0600. */
INPROF_HIDDEN int inprof__file_write(const char *dir, const char *service,
                                     uint64_t seq, const uint8_t *pprof,
                                     size_t len);

/* ------------------------------------------------------------ export_http */

typedef struct inprof__upload_meta {
  uint64_t start_ns, end_ns;   /* CLOCK_REALTIME */
  uint64_t seq;
} inprof__upload_meta;

/* Validates destinations (URLs, API key) and starts the upload thread. */
INPROF_HIDDEN inprof_status inprof__http_start(const inprof__settings *s);
/* Queues a copy of an uncompressed pprof for upload; never blocks. */
INPROF_HIDDEN void inprof__http_submit(const uint8_t *pprof, size_t len,
                                       const inprof__upload_meta *meta);
/* Uploads what is queued, then stops the thread; returns by deadline_ns (MONOTONIC). */
INPROF_HIDDEN void inprof__http_stop(uint64_t deadline_ns);

/* ------------------------------------------------------------------- heap */

INPROF_HIDDEN inprof_status inprof__heap_start(const inprof__settings *s);
INPROF_HIDDEN void inprof__heap_stop(void);
/* Adds this period's sampled allocations and the live heap into agg. */
INPROF_HIDDEN void inprof__heap_collect(inprof__agg *agg);
INPROF_HIDDEN uint64_t inprof__heap_live_samples(void);

#endif /* INPROF_INTERNAL_H */
