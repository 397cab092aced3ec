/*
 * collect/collector.c - owns the profiler's lifecycle and its collector thread.
 *
 * The collector thread ("inprof-collect") is the only consumer of the sample
 * ring. Every few milliseconds it drains the ring into the period's
 * aggregate and rescans threads; every upload period (and on flush or stop)
 * it exports: heap data is added, the aggregate is symbolized and encoded as
 * pprof, written to a file and/or queued for upload. All of that runs here,
 * never in a host thread or a signal handler.
 *
 * Stop is bounded: the caller waits at most its timeout. A collector still
 * exporting when the timeout passes is abandoned; it finishes on its own and
 * frees its state, and start reports INPROF_ERR_BUSY until then.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/defaults.h"
#include "base/diag.h"
#include "base/sync.h"
#include "collect/aggregate.h"
#include "collect/collector.h"
#include "collect/pprof.h"
#include "collect/symbolizer.h"
#include "config/settings.h"
#include "cpu/threads.h"
#include "cpu/unwind.h"
#include "export/file.h"
#include "export/http.h"
#include "heap/heap.h"
#include "sample/ring.h"

#define RING_CAPACITY 1024u   /* ~1.1 MiB at 128 frames; 50k samples/s at 20 ms drains */
#define MAX_STACKS 16384u     /* distinct (thread, stack) per period */
#define DRAIN_INTERVAL_MS 20u   /* one wakeup drains the ring and rescans threads */
#define SCAN_INTERVAL_MS 20u

typedef struct collector {
  inprof__settings settings;
  inprof__ring *ring;
  inprof__agg *agg;
  inprof__symbolizer *symbolizer;
  pthread_t thread;
  int sampling;                /* CPU sampler started */
  int heap;                    /* heap hooks started */
  int http;                    /* upload thread started */

  /* Guarded by lock. */
  pthread_mutex_t lock;
  pthread_cond_t wake;         /* to the collector: flush or stop */
  pthread_cond_t done;         /* from the collector: exported or exited */
  int stop_requested;
  uint64_t stop_deadline_ns;   /* CLOCK_MONOTONIC */
  uint64_t flush_requested;    /* number of flushes asked for */
  uint64_t exports_done;       /* exports completed */
  int exited;
  int abandoned;               /* stop timed out: the thread frees itself */
  int upload_abandoned;        /* the final upload was given up at the deadline */

  uint64_t period_start_ns;    /* CLOCK_REALTIME */
  uint64_t seq;
  uint64_t cap_hits_counted;   /* symbolizer cap hits already in the stats */
} collector;

/* Written under api.c's lifecycle lock; atomic so that inprof_is_running
 * (and start's check) may read it from any thread without the lock. */
static _Atomic(collector *) current;
/* Profile numbers go on across stop/start so file names never repeat. */
static _Atomic uint64_t profile_seq;
static _Atomic int abandoned_alive;

/*
 * Held while a collector is inside dl_iterate_phdr (the symbolizer's
 * refresh), and by fork's prepare: a child must not inherit the loader's
 * lock held by a collector thread it does not have (its first start would
 * wait for it forever). The collector takes nothing else while holding it.
 */
static pthread_mutex_t loader_gate = PTHREAD_MUTEX_INITIALIZER;
/* Set while this thread holds the gate: a host signal handler that forks on
 * the collector thread must not wait for the gate its own thread holds. */
static __thread volatile sig_atomic_t tls_holds_gate INPROF__TLS;
static __thread int tls_fork_took_gate INPROF__TLS;

static void loader_gate_enter(void) {
  pthread_mutex_lock(&loader_gate);
  tls_holds_gate = 1;
  atomic_signal_fence(memory_order_seq_cst);
}

static void loader_gate_leave(void) {
  atomic_signal_fence(memory_order_seq_cst);
  tls_holds_gate = 0;
  pthread_mutex_unlock(&loader_gate);
}

/* ------------------------------------------------------------ fork */

INPROF__HIDDEN void inprof__collector_atfork_prepare(void) {
  tls_fork_took_gate = !tls_holds_gate;
  if (tls_fork_took_gate) pthread_mutex_lock(&loader_gate);
}

INPROF__HIDDEN void inprof__collector_atfork_parent(void) {
  if (tls_fork_took_gate) pthread_mutex_unlock(&loader_gate);
}

INPROF__HIDDEN void inprof__collector_atfork_child(void) {
  pthread_mutex_init(&loader_gate, NULL);
  tls_holds_gate = 0;
  /* The child has none of the profiler's threads or timers: forget the
   * parent's profiler so the child may start. Its memory and its lock are
   * left alone (the lock may be held by a thread the child does not have). */
  atomic_store(&current, NULL);
  atomic_store(&abandoned_alive, 0);
}

/* ------------------------------------------------------------ helpers */

static void free_collector(collector *c) {
  if (!c) return;
  inprof__agg_free(c->agg);
  inprof__symbolizer_free(c->symbolizer);
  inprof__ring_free(c->ring);
  inprof__settings_free(&c->settings);
  inprof__sync_destroy(&c->lock, &c->wake, &c->done);
  free(c);
}

static void drain(collector *c) {
  if (!c->ring) return;
  inprof__sample *s;
  int64_t values[INPROF__VT_COUNT];
  while ((s = inprof__ring_peek(c->ring)) != NULL) {
    if (s->kind == INPROF__SAMPLE_CPU) {
      memset(values, 0, sizeof values);
      values[INPROF__VT_CPU_SAMPLES] = (int64_t)s->count;
      values[INPROF__VT_CPU_TIME] = (int64_t)s->value;
      /* A sample taken while the thread was inside the profiler has no
       * stack; it is still CPU time and keeps its thread label. */
      if (inprof__agg_add(c->agg, s->tid, s->frames, s->nframes, values) != 0)
        INPROF__COUNT(cpu_samples_dropped, 1); /* MAX_STACKS distinct stacks this period */
    }
    inprof__ring_release(c->ring);
  }
}

static const char *thread_name_cb(void *ctx, uint32_t tid) {
  (void)ctx;
  return inprof__sampler_thread_name(tid);
}

static void export_period(collector *c, int final) {
  drain(c);
  if (c->heap) inprof__heap_collect(c->agg);
  uint64_t end = inprof__now_ns(CLOCK_REALTIME);
  loader_gate_enter();
  inprof__symbolizer_refresh(c->symbolizer);
  loader_gate_leave();
  /* The heap hooks walk against the unwinder's tables too. */
  if (c->sampling || c->heap) inprof__unwind_refresh();
  if (c->sampling) inprof__sampler_check_handler();
  inprof__profile_meta meta = {
      .start_ns = c->period_start_ns,
      .end_ns = end,
      .cpu_hz = c->settings.cpu_hz,
      .heap_sample_bytes = c->settings.heap_sample_bytes,
      .thread_name = thread_name_cb,
      .thread_name_ctx = c,
  };
  uint8_t *pprof = NULL;
  size_t len = 0;
  c->seq = atomic_fetch_add(&profile_seq, 1) + 1;
  if (inprof__pprof_encode(c->agg, c->symbolizer, &meta, &pprof, &len) != 0) {
    inprof__log(INPROF__LOG_ERROR, "could not encode profile %llu",
                (unsigned long long)c->seq);
    INPROF__COUNT(profiles_failed, 1);
  } else {
    if (c->settings.output_dir) {
      if (inprof__file_write(c->settings.output_dir, c->settings.service, c->seq, pprof,
                             len) == 0)
        INPROF__COUNT(profiles_written, 1);
      else
        INPROF__COUNT(profiles_failed, 1);
    }
    if (c->http) {
      inprof__upload_meta um = {.start_ns = c->period_start_ns, .end_ns = end, .seq = c->seq};
      inprof__http_submit(pprof, len, &um);
    }
  }
  free(pprof);
  uint64_t cap_hits = inprof__symbolizer_cap_hits(c->symbolizer);
  if (cap_hits > c->cap_hits_counted) {
    INPROF__COUNT(symbolizer_cap_hits, cap_hits - c->cap_hits_counted);
    c->cap_hits_counted = cap_hits;
  }
  if (c->sampling) inprof__sampler_refresh_names();
  inprof__agg_reset(c->agg);
  c->period_start_ns = end;
  (void)final;
}

/* ------------------------------------------------------------ the thread */

static void *collector_main(void *arg) {
  collector *c = arg;
  inprof__in_profiler = 1;     /* our allocations are not the host's */
  pthread_setname_np(pthread_self(), INPROF__THREAD_PREFIX "collect");
  /* The collector is never sampled; keep the signal off it regardless. */
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, c->settings.cpu_signal);
  pthread_sigmask(SIG_BLOCK, &block, NULL);

  uint64_t now = inprof__now_ns(CLOCK_MONOTONIC);
  uint64_t next_export = now + (uint64_t)c->settings.upload_period_ms * INPROF__NS_PER_MS;
  uint64_t next_scan = now + SCAN_INTERVAL_MS * INPROF__NS_PER_MS;

  pthread_mutex_lock(&c->lock);
  for (;;) {
    if (c->stop_requested) break;
    uint64_t flushes = c->flush_requested;
    if (flushes == c->exports_done) {
      uint64_t wake_at = inprof__deadline_after_ms(DRAIN_INTERVAL_MS);
      inprof__sync_wait_until(&c->wake, &c->lock, wake_at);
      if (c->stop_requested) break;
      flushes = c->flush_requested;
    }
    pthread_mutex_unlock(&c->lock);

    drain(c);
    now = inprof__now_ns(CLOCK_MONOTONIC);
    if (c->sampling && now >= next_scan) {
      inprof__sampler_scan_threads();
      next_scan = now + SCAN_INTERVAL_MS * INPROF__NS_PER_MS;
    }
    int do_export = now >= next_export || flushes != c->exports_done;
    if (do_export) {
      export_period(c, 0);
      next_export = inprof__deadline_after_ms(c->settings.upload_period_ms);
    }

    pthread_mutex_lock(&c->lock);
    if (do_export && flushes != c->exports_done) {
      c->exports_done = flushes;
      pthread_cond_broadcast(&c->done);
    }
  }
  uint64_t deadline = c->stop_deadline_ns;
  pthread_mutex_unlock(&c->lock);

  /* Shutdown: no more samples, one last export, bounded upload. */
  if (c->sampling) inprof__sampler_stop();
  if (c->heap) inprof__heap_stop();
  export_period(c, 1);
  int upload_abandoned = c->http ? inprof__http_stop(deadline) : 0;

  pthread_mutex_lock(&c->lock);
  c->upload_abandoned = upload_abandoned;
  c->exited = 1;
  int abandoned = c->abandoned;
  pthread_cond_broadcast(&c->done);
  pthread_mutex_unlock(&c->lock);
  if (abandoned) {
    free_collector(c);
    atomic_store(&abandoned_alive, 0);
  }
  return NULL;
}

/* ------------------------------------------------------------ lifecycle */

INPROF__HIDDEN int inprof__collector_running(void) { return atomic_load(&current) != NULL; }

INPROF__HIDDEN inprof_status inprof__collector_start(const inprof_config *cfg) {
  if (atomic_load(&abandoned_alive))
    return inprof__fail(INPROF_ERR_BUSY,
                        "the collector of a previous stop that timed out is still "
                        "finishing; try again later");
  collector *c = calloc(1, sizeof *c);
  if (!c) return inprof__fail(INPROF_ERR_NO_MEMORY, "out of memory allocating the collector");
  if (inprof__sync_init(&c->lock, &c->wake, &c->done) != 0) {
    free(c);
    return inprof__fail(INPROF_ERR_SYSTEM, "cannot create the collector's locks");
  }

  inprof_status st = inprof__settings_from_config(cfg, &c->settings);
  if (st != INPROF_OK) goto fail;
  if (!c->settings.enabled) {
    inprof__log(INPROF__LOG_INFO, "profiling disabled (DD_PROFILING_ENABLED=false)");
    free_collector(c);
    return INPROF_OK;
  }
  if (c->settings.output_dir &&
      (st = inprof__file_check_dir(c->settings.output_dir)) != INPROF_OK)
    goto fail;

  c->agg = inprof__agg_new(MAX_STACKS);
  c->symbolizer = inprof__symbolizer_new();
  if (c->symbolizer) {
    inprof__symbolizer_options so = {(int)c->settings.inlined_frames,
                                     (uint64_t)c->settings.symbolizer_max_mb << 20,
                                     c->settings.debug_dirs};
    inprof__symbolizer_configure(c->symbolizer, &so);
  }
  if (c->settings.cpu_hz) c->ring = inprof__ring_new(RING_CAPACITY, c->settings.max_frames);
  if (!c->agg || !c->symbolizer || (c->settings.cpu_hz && !c->ring)) {
    st = inprof__fail(INPROF_ERR_NO_MEMORY, "out of memory allocating profiler buffers");
    goto fail;
  }
  if (c->settings.upload) {
    if ((st = inprof__http_start(&c->settings)) != INPROF_OK) goto fail;
    c->http = 1;
  }
  if (c->settings.heap_sample_bytes) {
    if ((st = inprof__heap_start(&c->settings)) != INPROF_OK) goto fail;
    c->heap = 1;
  }
  c->period_start_ns = inprof__now_ns(CLOCK_REALTIME);
  if (c->settings.cpu_hz) {
    /* Arms every existing thread; the collector then picks up new ones. */
    if ((st = inprof__sampler_start(&c->settings, c->ring)) != INPROF_OK) goto fail;
    c->sampling = 1;
  }
  /* The collector must start with the profiling signal blocked so that it
   * never runs the handler, even before it masks the signal itself. */
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, c->settings.cpu_signal);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  int err = pthread_create(&c->thread, NULL, collector_main, c);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (err != 0) {
    st = inprof__fail(INPROF_ERR_SYSTEM, "cannot start the collector thread: %s",
                      strerror(err));
    goto fail;
  }
  atomic_store(&current, c);
  inprof__log(INPROF__LOG_INFO, "profiling %s: cpu %u Hz, heap every %llu bytes, period %u ms",
              c->settings.service, c->settings.cpu_hz,
              (unsigned long long)c->settings.heap_sample_bytes, c->settings.upload_period_ms);
  return INPROF_OK;

fail:
  if (c->sampling) inprof__sampler_stop();
  if (c->heap) inprof__heap_stop();
  if (c->http) inprof__http_stop(inprof__now_ns(CLOCK_MONOTONIC));
  free_collector(c);
  return st;
}

INPROF__HIDDEN inprof_status inprof__collector_stop(uint32_t timeout_ms) {
  collector *c = atomic_exchange(&current, NULL);
  if (!c) return INPROF_OK;
  uint64_t deadline = inprof__deadline_after_ms(timeout_ms);
  pthread_mutex_lock(&c->lock);
  c->stop_requested = 1;
  c->stop_deadline_ns = deadline;
  pthread_cond_broadcast(&c->wake);
  while (!c->exited) {
    if (inprof__sync_wait_until(&c->done, &c->lock, deadline) == ETIMEDOUT) break;
  }
  if (!c->exited) {
    /* From the unlock on, c belongs to the thread, which frees it when it
     * ends: keep its handle, never touch c again. */
    pthread_t thread = c->thread;
    c->abandoned = 1;
    atomic_store(&abandoned_alive, 1);
    pthread_mutex_unlock(&c->lock);
    pthread_detach(thread);
    return inprof__fail(INPROF_ERR_TIMEOUT,
                        "inprof_stop: the last export and upload did not finish within "
                        "%u ms and were abandoned; they go on in the background",
                        timeout_ms);
  }
  int upload_abandoned = c->upload_abandoned;
  pthread_mutex_unlock(&c->lock);
  pthread_join(c->thread, NULL);
  free_collector(c);
  if (upload_abandoned)
    return inprof__fail(INPROF_ERR_TIMEOUT,
                        "inprof_stop: the final upload was abandoned at the deadline "
                        "(%u ms); that profile was not sent", timeout_ms);
  return INPROF_OK;
}

INPROF__HIDDEN inprof_status inprof__collector_flush(uint32_t timeout_ms) {
  collector *c = atomic_load(&current);
  if (!c)
    return inprof__fail(INPROF_ERR_NOT_RUNNING, "inprof_flush: the profiler is not running");
  uint64_t deadline = inprof__deadline_after_ms(timeout_ms);
  pthread_mutex_lock(&c->lock);
  uint64_t target = ++c->flush_requested;
  pthread_cond_broadcast(&c->wake);
  while (c->exports_done < target && !c->exited) {
    if (inprof__sync_wait_until(&c->done, &c->lock, deadline) == ETIMEDOUT) break;
  }
  int ok = c->exports_done >= target;
  pthread_mutex_unlock(&c->lock);
  if (!ok)
    return inprof__fail(INPROF_ERR_TIMEOUT, "inprof_flush: the export did not finish within %u ms",
                        timeout_ms);
  return INPROF_OK;
}
