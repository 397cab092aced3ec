/*
 * inprof.h - the public C ABI of inprof, an in-process profiler.
 *
 * ABI version 1. Everything here uses fixed-width types and plain structs so
 * that it maps 1:1 onto Rust #[repr(C)] declarations (rust-test-host/inprof
 * mirrors it, and CI checks both sides agree with cbindgen).
 *
 * Typical use:
 *
 *     inprof_status st = inprof_start(NULL);   // defaults + environment
 *     if (st != INPROF_OK)
 *         fprintf(stderr, "profiler off: %s\n", inprof_last_error());
 *     ...
 *     inprof_stop(5000);
 *
 * Every function may be called from any thread, at any time: before start,
 * after stop, twice in a row. Nothing here ever terminates the host.
 *
 * Signal safety (calls from the host's own signal handlers):
 *  - Async-signal-safe: inprof_record_alloc, inprof_record_free,
 *    inprof_is_running, inprof_version, inprof_strerror. The heap hooks
 *    never allocate with malloc, keep errno, and never wait for a lock the
 *    interrupted code of the same thread may hold: a hook called from a
 *    handler that interrupted the library's own heap code on that thread
 *    drops its sample (counted in heap_samples_dropped) or, for a free,
 *    matches it once the interrupted code is done. A handler that
 *    interrupted malloc itself may call them.
 *  - Not async-signal-safe: inprof_start, inprof_stop, inprof_flush, inprof_collect,
 *    inprof_stats, inprof_last_error, inprof_config_init,
 *    inprof_config_from_env; call them from normal context. Still, start,
 *    stop and flush never wait for a library lock their own thread holds:
 *    called from a handler that interrupted one of them on the same thread,
 *    they return INPROF_ERR_BUSY. inprof_start while the profiler runs
 *    returns INPROF_OK without allocating or taking a lock. Otherwise they
 *    allocate, so from a handler that interrupted malloc they can deadlock
 *    in the C library.
 *  - fork(): the library takes none of its locks that a profiler thread can
 *    hold while waiting, so fork never waits for a flush, stop or upload. The
 *    child is not profiled; it starts with an empty profile and may call
 *    inprof_start.
 */
#ifndef INPROF_H
#define INPROF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(INPROF_BUILDING) && defined(__GNUC__)
#define INPROF_EXPORT __attribute__((visibility("default")))
#else
#define INPROF_EXPORT
#endif

/* Library version: major * 10000 + minor * 100 + patch. */
#define INPROF_VERSION_MAJOR 0
#define INPROF_VERSION_MINOR 1
#define INPROF_VERSION_PATCH 0
#define INPROF_VERSION_NUM 100

/* Status codes. Values are part of the ABI and are never renumbered. */
typedef int32_t inprof_status;
#define INPROF_OK 0
/* An argument or configuration value is invalid; inprof_last_error() names it. */
#define INPROF_ERR_INVALID 1
/* The profiler is already running (returned by nothing today: start is idempotent). */
#define INPROF_ERR_RUNNING 2
/* The profiler is not running (flush without start). */
#define INPROF_ERR_NOT_RUNNING 3
/* The profiling signal already has a handler that is not ours. */
#define INPROF_ERR_SIGNAL_IN_USE 4
/* A system call failed (timer, thread, file); inprof_last_error() says which. */
#define INPROF_ERR_SYSTEM 5
/* Memory could not be reserved. */
#define INPROF_ERR_NO_MEMORY 6
/* An operation did not finish within its timeout. */
#define INPROF_ERR_TIMEOUT 7
/* The output directory does not exist or is not writable. */
#define INPROF_ERR_OUTPUT 8
/* A previous stop timed out and its collector has not finished yet. */
#define INPROF_ERR_BUSY 9
/* The caller's struct is older or newer than this library understands. */
#define INPROF_ERR_VERSION 10
/* A fixed capacity was reached: this thread already has INPROF_MAX_LABELS
 * labels, or the process-wide label table is full (inprof_set_label). */
#define INPROF_ERR_LIMIT 11

/* Version of inprof_config and inprof_statistics understood by this header. */
#define INPROF_CONFIG_VERSION 1

/*
 * Values of inprof_config.upload. AUTO uploads when an agent or agentless
 * destination is configured, or when no output directory is set (the agent
 * at localhost:8126, as every Datadog library does); so setting only an
 * output directory writes files and uploads nothing.
 */
#define INPROF_UPLOAD_AUTO 0
#define INPROF_UPLOAD_ON 1
#define INPROF_UPLOAD_OFF 2

/* Defaults used by inprof_config_init(). */
#define INPROF_DEFAULT_CPU_HZ 99
#define INPROF_DEFAULT_HEAP_SAMPLE_BYTES 524288
#define INPROF_DEFAULT_UPLOAD_PERIOD_MS 60000
#define INPROF_DEFAULT_MAX_FRAMES 128
#define INPROF_MAX_FRAMES_LIMIT 512

/*
 * Configuration. Always fill it with inprof_config_init() first, then set the
 * fields you want: NULL strings and zero numbers left by init mean "default".
 * struct_size lets later versions append fields without breaking callers.
 */
typedef struct inprof_config {
  /* sizeof(inprof_config), set by inprof_config_init(). */
  uint32_t struct_size;
  /* 1: profile; 0: inprof_start() succeeds and does nothing (DD_PROFILING_ENABLED). */
  uint32_t enabled;
  /* CPU samples per second of CPU time, per thread; 0 disables CPU profiling (INPROF_CPU_HZ). */
  uint32_t cpu_hz;
  /* Signal used for CPU samples; 0 means SIGPROF (INPROF_CPU_SIGNAL). */
  int32_t cpu_signal;
  /* Mean bytes between heap samples; 0 disables heap profiling (INPROF_HEAP_SAMPLE_BYTES). */
  uint64_t heap_sample_bytes;
  /* Milliseconds between exported profiles (DD_PROFILING_UPLOAD_PERIOD, in seconds). */
  uint32_t upload_period_ms;
  /* Deepest stack recorded, in frames, 1..INPROF_MAX_FRAMES_LIMIT (INPROF_MAX_FRAMES). */
  uint32_t max_frames;
  /* Service, environment and version reported with profiles (DD_SERVICE, DD_ENV, DD_VERSION). */
  const char *service;
  const char *env;
  const char *version;
  /* Extra tags, "key:value,key2:value2" (DD_TAGS). */
  const char *tags;
  /* Directory for <service>-<pid>-<seq>.pprof.gz files; NULL: no files (INPROF_OUTPUT_DIR). */
  const char *output_dir;
  /* Agent URL, http://host:port or unix:///path (DD_TRACE_AGENT_URL, DD_AGENT_HOST, DD_TRACE_AGENT_PORT). */
  const char *agent_url;
  /* 1: upload straight to the Datadog intake instead of the agent (DD_PROFILING_AGENTLESS). */
  uint32_t agentless;
  /* INPROF_UPLOAD_AUTO, _ON or _OFF (INPROF_UPLOAD); see the constants. */
  uint32_t upload;
  /* Datadog site for agentless uploads, e.g. datadoghq.eu (DD_SITE). */
  const char *site;
  /* API key for agentless uploads (DD_API_KEY). Never logged. */
  const char *api_key;
  /* Full intake URL overriding the one derived from site (INPROF_INTAKE_URL). */
  const char *intake_url;
  /* CA bundle file used to verify TLS certificates (INPROF_CA_BUNDLE). */
  const char *ca_bundle;
  /* Upload timeouts in milliseconds (INPROF_CONNECT_TIMEOUT_MS, INPROF_UPLOAD_TIMEOUT_MS). */
  uint32_t connect_timeout_ms;
  uint32_t upload_timeout_ms;
  /* 0 off, 1 error, 2 warn (default), 3 info, 4 debug; messages go to stderr,
   * each kind of warning or error at most once a minute (INPROF_LOG_LEVEL). */
  uint32_t log_level;
  uint32_t reserved0;
  /* 1: inlined calls shown as frames of their own, with file:line; 0: only the
   * function they were inlined into (INPROF_INLINED_FRAMES). */
  uint32_t inlined_frames;
  /* Cap on the symbolizer's memory in MiB; 0: no cap (INPROF_SYMBOLIZER_MAX_MB). */
  uint32_t symbolizer_max_mb;
  /* Colon-separated directories searched for separate debug files; NULL:
   * /usr/lib/debug. Never any network lookup (INPROF_DEBUG_DIRS). */
  const char *debug_dirs;
  /* Fields below were added in 0.1.x (struct_size tells them apart). */
  /* 1 (default): every CPU sample kept on its own with end_timestamp_ns,
   * thread id and thread name (Datadog's timeline), up to a bound per period;
   * 0: CPU samples aggregated by (thread, stack, context)
   * (DD_PROFILING_TIMELINE_ENABLED, or ddprof's DD_PROFILING_TIMELINE_ENABLE). */
  uint32_t timeline_enabled;
  /* Wall-time samples per second of wall time, per thread (sample types
   * wall-samples and wall-time); 0 (default): off. Blocked threads are read
   * from outside, never interrupted (INPROF_WALL_HZ). */
  uint32_t wall_hz;
  /* Most threads the wall sampler visits per tick, round robin; 1..65536,
   * default 16 (INPROF_WALL_THREADS_PER_TICK). */
  uint32_t wall_threads_per_tick;
} inprof_config;

/* Counters since the process started profiling; monotonic across stop/start. */
typedef struct inprof_statistics {
  /* sizeof(inprof_statistics); set it before calling inprof_stats(). */
  uint32_t struct_size;
  /* Threads that currently have a CPU timer. */
  uint32_t threads_tracked;
  /* CPU samples recorded, and lost because the sample buffer was full. */
  uint64_t cpu_samples;
  uint64_t cpu_samples_dropped;
  /* Timer expirations merged by the kernel into an earlier signal. */
  uint64_t cpu_timer_overruns;
  /* Threads that could not get a timer (for example at the ulimit -i limit). */
  uint64_t threads_failed;
  /* Heap samples recorded and lost; live sampled allocations now. */
  uint64_t heap_samples;
  uint64_t heap_samples_dropped;
  uint64_t heap_live_samples;
  /* Profiles written to files, and files that could not be written. */
  uint64_t profiles_written;
  uint64_t profiles_failed;
  /* Uploads accepted, failed, and dropped from a full queue. */
  uint64_t uploads_ok;
  uint64_t uploads_failed;
  uint64_t uploads_dropped;
  /* Fields below were added in 0.1.x: a caller built with an older header
   * (smaller struct_size) gets the fields it knows. */
  /* Stack walks that ended at a PC in no known object (code loaded since the
   * last unwind-table refresh, JIT code): the stack stops there. */
  uint64_t unwind_unknown_pc;
  /* Samples that kept only the interrupted PC (CPU) or were skipped (heap)
   * because too little stack was left to walk safely. */
  uint64_t unwind_no_stack_room;
  /* Objects whose debug info was not loaded because of the symbolizer's
   * memory cap (INPROF_SYMBOLIZER_MAX_MB). */
  uint64_t symbolizer_cap_hits;
  /* CPU samples aggregated instead of kept on the timeline because the
   * period's timeline was full (timeline_enabled). */
  uint64_t timeline_samples_aggregated;
  /* New (key, value) pairs refused because the process-wide label table
   * was full: inprof_set_label returned INPROF_ERR_LIMIT, or an endpoint
   * name was not recorded. */
  uint64_t labels_table_full;
  /* inprof_count_endpoint calls not counted because the period already had
   * its maximum number of distinct endpoints. */
  uint64_t endpoint_counts_dropped;
} inprof_statistics;

/* Fills cfg with defaults (no environment) and sets struct_size. */
INPROF_EXPORT inprof_status inprof_config_init(inprof_config *cfg);

/*
 * Applies the environment variables documented in README.md on top of cfg.
 * Returns INPROF_ERR_INVALID, naming the variable and its value in
 * inprof_last_error(), when one is malformed. Strings set in cfg point into
 * the environment and stay valid while it is not changed.
 */
INPROF_EXPORT inprof_status inprof_config_from_env(inprof_config *cfg);

/*
 * Starts profiling. cfg == NULL means defaults plus the environment. When
 * already running, returns INPROF_OK and changes nothing. The configuration
 * (strings included) is copied. Not async-signal-safe (see the top of this
 * file); INPROF_ERR_BUSY when re-entered from a signal handler.
 */
INPROF_EXPORT inprof_status inprof_start(const inprof_config *cfg);

/*
 * Stops profiling: disarms timers, exports what was collected (one last file
 * and upload) and joins the collector, waiting at most timeout_ms. Harmless
 * when not running.
 */
INPROF_EXPORT inprof_status inprof_stop(uint32_t timeout_ms);

/* Exports what has been collected so far now, waiting at most timeout_ms. */
INPROF_EXPORT inprof_status inprof_flush(uint32_t timeout_ms);

/*
 * The current period's profile so far, as uncompressed pprof bytes, for a
 * service that serves its profile on demand. The period is not ended:
 * exports and uploads go on unchanged (the next file still holds the whole
 * period). On INPROF_OK, *out (allocated by the library; release it with
 * inprof_collect_free) holds *out_len bytes; on error *out is NULL.
 * Waits at most timeout_ms; INPROF_ERR_NOT_RUNNING when not running.
 */
INPROF_EXPORT inprof_status inprof_collect(uint8_t **out, size_t *out_len, uint32_t timeout_ms);
/* Releases a profile returned by inprof_collect; NULL is ignored. */
INPROF_EXPORT void inprof_collect_free(uint8_t *profile);

/* Copies the counters into out; set out->struct_size = sizeof(*out) first. */
INPROF_EXPORT inprof_status inprof_stats(inprof_statistics *out);

/* 1 while the profiler runs, else 0. Lock-free; async-signal-safe. */
INPROF_EXPORT uint32_t inprof_is_running(void);

/* The runtime library's INPROF_VERSION_NUM. */
INPROF_EXPORT uint32_t inprof_version(void);

/* A static description of a status code; never NULL. */
INPROF_EXPORT const char *inprof_strerror(inprof_status status);

/*
 * A human-readable reason for the last failure of any inprof call, or "" if
 * none. The string is owned by the library and valid until the next call.
 */
INPROF_EXPORT const char *inprof_last_error(void);

/*
 * Allocator hooks (heap profiling). Call record_alloc after every successful
 * allocation and record_free before every free; a realloc is a free of the
 * old block followed by an allocation of the new one. Safe to call at any
 * time, from any thread, including before start and after stop, and from
 * signal handlers (async-signal-safe; see the top of this file). Any size
 * is valid: sizes of 2^63 bytes or more saturate in the profile.
 */
INPROF_EXPORT void inprof_record_alloc(void *ptr, size_t size);
INPROF_EXPORT void inprof_record_free(void *ptr);

/*
 * Inline fast path for allocator wrappers (added in 0.1.x). A wrapper may
 * decide the unsampled cases itself, without calling into the library, and
 * call it only when a block may be sampled:
 *
 *     static __thread uint64_t countdown;          // 0 at thread start
 *     // after a successful allocation of size bytes:
 *     if (size < countdown) countdown -= size;
 *     else inprof_record_alloc_countdown(p, size, &countdown);
 *     // before a free:
 *     uint64_t i = ((uint64_t)(uintptr_t)p * INPROF_HEAP_FILTER_MULTIPLIER)
 *                  >> (64 - INPROF_HEAP_FILTER_BITS);
 *     if ((filter[i / 64] >> (i % 64)) & 1) inprof_record_free(p);
 *
 * where filter = inprof_heap_free_filter(). Each countdown is its own
 * Poisson process over the bytes it sees, so any number of them (per thread,
 * per wrapper) sample every byte at the configured rate. A clear filter bit
 * proves the block is not sampled; a set bit may be a false positive, which
 * inprof_record_free resolves. Both functions are async-signal-safe like the
 * hooks; the countdown must be thread-local (not shared between threads).
 */
/* Records an allocation that reached *countdown (any size is accepted: a
 * size below it is just subtracted) and stores the bytes to the next sample
 * in *countdown. The sampled stack starts at this function's caller. */
INPROF_EXPORT void inprof_record_alloc_countdown(void *ptr, size_t size, uint64_t *countdown);
/* The free filter: (1 << INPROF_HEAP_FILTER_BITS) bits in 64-bit words,
 * bit i of word i / 64 at position i % 64. Never NULL; the address is fixed
 * for the life of the process. Words change concurrently: read each with one
 * (relaxed atomic) load. */
INPROF_EXPORT const uint64_t *inprof_heap_free_filter(void);
#define INPROF_HEAP_FILTER_BITS 16
#define INPROF_HEAP_FILTER_MULTIPLIER 0x9E3779B97F4A7C15ull

/*
 * Context on samples (spans, endpoints, custom labels). Each thread has its
 * own context; CPU samples taken on a thread, and heap samples allocated by
 * it, carry the context it had at that moment. These calls are meant for
 * every span enter and exit: no lock, no allocation after a (key, value)
 * pair was first seen, a few nanoseconds each. They may be called at any
 * time, from any thread, before start and after stop (the context is kept
 * and used by the next start). They take no lock, but are not meant for
 * the host's signal handlers: a handler that interrupted one of them on the
 * same thread must not call another.
 */

/* Limits of inprof_set_label: labels per thread, key and value lengths in
 * bytes (without the terminating NUL). */
#define INPROF_MAX_LABELS 4
#define INPROF_MAX_LABEL_KEY_BYTES 63
#define INPROF_MAX_LABEL_VALUE_BYTES 127

/*
 * Sets the calling thread's trace context: samples carry the numeric labels
 * "local root span id" and "span id". (0, 0) clears it.
 */
INPROF_EXPORT void inprof_set_span(uint64_t local_root_span_id, uint64_t span_id);

/*
 * Names the endpoint of a local root span: samples whose local root span id
 * is local_root_span_id carry "trace endpoint" = endpoint. The name is copied
 * (truncated to INPROF_MAX_LABEL_VALUE_BYTES); the most recent roots are
 * remembered (a bounded table). NULL or "" forgets the root's endpoint.
 */
INPROF_EXPORT void inprof_set_endpoint(uint64_t local_root_span_id, const char *endpoint);

/*
 * Adds count to the endpoint's hits in the current period's upload
 * (event.json "endpoint_counts"). Bounded number of distinct endpoints per
 * period (others counted in endpoint_counts_dropped); names are cut like
 * inprof_set_endpoint's. Counted only while the profiler runs.
 */
INPROF_EXPORT void inprof_count_endpoint(const char *endpoint, uint64_t count);

/*
 * Sets a custom label on the calling thread's samples (a string label
 * key=value in the profile); a NULL value removes the key. Returns
 * INPROF_ERR_INVALID for a NULL or empty key, a key longer than
 * INPROF_MAX_LABEL_KEY_BYTES or a value longer than
 * INPROF_MAX_LABEL_VALUE_BYTES, INPROF_ERR_LIMIT when the thread already has
 * INPROF_MAX_LABELS other keys or the process-wide table of distinct (key,
 * value) pairs is full. The thread's labels are unchanged on error.
 */
INPROF_EXPORT inprof_status inprof_set_label(const char *key, const char *value);

/* Removes all the calling thread's custom labels. */
INPROF_EXPORT void inprof_clear_labels(void);

#ifdef __cplusplus
}
#endif

#endif /* INPROF_H */
