/*
 * collect/collector.c - owns the profiler's lifecycle and its collector thread.
 *
 * The collector thread ("inprof-collect") is the only consumer of the sample
 * ring. It drains the ring into the period's aggregate and looks for new
 * threads; every upload period (and on flush or stop) it exports: heap data
 * is added, the aggregate is symbolized and encoded as pprof, written to a
 * file and/or queued for upload. All of that runs here, never in a host
 * thread or a signal handler.
 *
 * Why it sleeps (issue 15): an idle profiler should cost nothing. The
 * collector waits in ppoll() on one eventfd, which everything that needs it
 * writes: the ring when it passes its fill mark (a quarter full, from the
 * signal handler, once per mark), flush and stop requests, and the
 * wake timer on the process's CPU clock (cpu/threads.c; its signal goes to
 * the collector alone, unblocked only inside ppoll) when an idle process
 * starts using CPU again. Otherwise it wakes only for the next deadline:
 *  - busy (the process used >= 1% of a core since the last wakeup): every
 *    BUSY_TICK_MS a drain and a scan for new threads, as before: a busy
 *    process may start short threads, which must be armed while they run;
 *  - idle (IDLE_AFTER busy-less wakeups in a row): it arms the wake timer
 *    for WAKE_CPU_NS of process CPU and sleeps IDLE_TICK_MS (or until the
 *    export), about one wakeup a second, which checks only the thread
 *    count (one fstat; a full scan when it changed or every
 *    IDLE_FULL_SCAN_MS). A thread born meanwhile that burns CPU fires the
 *    wake timer within WAKE_CPU_NS of it.
 * Samples wait in the ring meanwhile; every export drains it first, so
 * nothing is lost or late in a profile, and a thread found late loses no
 * CPU time (cpu/handler.c weights its first sample by all of it).
 *
 * Stop is bounded: the caller waits at most its timeout. A collector still
 * exporting when the timeout passes is abandoned; it finishes on its own and
 * frees its state, and start reports INPROF_ERR_BUSY until then.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
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
#include "cpu/wall.h"
#include "export/file.h"
#include "export/http.h"
#include "heap/heap.h"
#include "sample/ring.h"

#define RING_CAPACITY 1024u   /* ~1.1 MiB at 128 frames */
/* Waiting samples that wake the collector: a quarter leaves 768 slots of
 * headroom for its scheduling delay (15 ms at 50k samples/s), more than the
 * old fixed 20 ms drain left at that rate. */
#define RING_WAKE_MARK (RING_CAPACITY / 4)
#define MAX_STACKS 16384u     /* distinct (thread, stack) per period */
#define BUSY_TICK_MS 20u      /* busy: check for new threads this often */
#define IDLE_TICK_MS 1000u    /* idle: the one wakeup a second */
#define IDLE_FULL_SCAN_MS 10000u /* idle: full scan (a thread replaced one that exited) */
#define IDLE_AFTER 5          /* busy-less wakeups in a row before sleeping long */
#define BUSY_PERMILLE 10      /* process CPU besides ours per wall time: busy */
#define WAKE_CPU_NS (5 * INPROF__NS_PER_MS) /* idle: process CPU that wakes us */

/* Wakeups of the collector thread, for tests (inprof__collector_wakeups). */
static _Atomic uint64_t collector_wakeups;

typedef struct collector {
  inprof__settings settings;
  inprof__ring *ring;
  inprof__agg *agg;
  inprof__symbolizer *symbolizer;
  pthread_t thread;
  int wake_fd;                 /* eventfd: ring mark, wake timer, flush, stop */
  int sampling;                /* CPU sampler started */
  int heap;                    /* heap hooks started */
  int http;                    /* upload thread started */
  inprof__wall *wall;          /* wall sampler (INPROF_WALL_HZ), or NULL */

  /* Guarded by lock. */
  pthread_mutex_t lock;
  pthread_cond_t done;         /* from the collector: exported or exited */
  int stop_requested;
  uint64_t stop_deadline_ns;   /* CLOCK_MONOTONIC */
  uint64_t flush_requested;    /* number of flushes asked for */
  /* inprof_collect: one request at a time (the lifecycle lock). */
  int collect_pending;         /* asked for and not yet answered */
  int collect_failed;          /* the answer: encoding failed */
  uint8_t *collect_buf;        /* the answer, taken by the caller */
  size_t collect_len;
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
 * snapshot, nothing more), and by fork's prepare: a child must not inherit the loader's
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
  inprof__wall_free(c->wall);
  inprof__symbolizer_free(c->symbolizer);
  inprof__ring_free(c->ring);
  inprof__settings_free(&c->settings);
  inprof__sync_destroy(&c->lock, &c->done, NULL);
  if (c->wake_fd >= 0) close(c->wake_fd);
  free(c);
}

static uint64_t drain_once(collector *c) {
  inprof__sample *s;
  int64_t values[INPROF__VT_COUNT];
  uint64_t n = 0;
  for (; (s = inprof__ring_peek(c->ring)) != NULL; n++) {
    if (s->kind == INPROF__SAMPLE_CPU) {
      memset(values, 0, sizeof values);
      values[INPROF__VT_CPU_SAMPLES] = (int64_t)s->count;
      values[INPROF__VT_CPU_TIME] = (int64_t)s->value;
      /* A sample taken while the thread was inside the profiler has no
       * stack; it is still CPU time and keeps its thread label. */
      /* Keyed by its context too; with the timeline on, kept on its own
       * with its time (bounded per period, see collect/aggregate.c). */
      if (inprof__agg_add_ctx(c->agg, s->tid, &s->ctx,
                              c->settings.timeline_enabled ? s->timestamp_ns : 0, s->frames,
                              s->nframes, values) != 0)
        INPROF__COUNT(cpu_samples_dropped, 1); /* MAX_STACKS distinct stacks this period */
      /* A running thread's wall time waits for this stack (cpu/wall.c). */
      if (c->wall) inprof__wall_on_cpu_sample(c->wall, c->agg, s);
    }
    inprof__ring_release(c->ring);
  }
  return n;
}

/* Drains, re-arms the fill mark, and drains again while a mark's worth
 * already waits. Not when nothing could be taken (the oldest slot is still
 * being written by a preempted handler): rather than spin, the next commit
 * past the new mark or the next tick takes the rest. */
static void drain(collector *c) {
  if (!c->ring) return;
  for (;;) {
    uint64_t n = drain_once(c);
    if (!inprof__ring_rearm(c->ring) || n == 0) break;
  }
}

/* Sleeps until the eventfd is written, the wake timer's signal arrives
 * (mask: the thread's mask without the profiling signal, so that only this
 * wait can take it) or timeout_ms passes; clears the eventfd. */
static void wait_wake(collector *c, uint64_t timeout_ms, const sigset_t *mask) {
  struct pollfd p = {.fd = c->wake_fd, .events = POLLIN};
  struct timespec ts = inprof__ns_to_timespec(timeout_ms * INPROF__NS_PER_MS);
  (void)ppoll(&p, 1, &ts, mask);
  uint64_t v; /* non-blocking: clears what was written, if anything */
  (void)!read(c->wake_fd, &v, sizeof v);
  atomic_fetch_add_explicit(&collector_wakeups, 1, memory_order_relaxed);
}

static void wake_collector(collector *c) {
  uint64_t one = 1;
  (void)!write(c->wake_fd, &one, sizeof one);
}

static uint64_t ms_until(uint64_t now, uint64_t at) {
  return at > now ? (at - now + INPROF__NS_PER_MS - 1) / INPROF__NS_PER_MS : 0;
}

static const char *thread_name_cb(void *ctx, uint32_t tid) {
  const collector *c = ctx;
  const char *name = inprof__sampler_thread_name(tid);
  return name[0] || !c->wall ? name : inprof__wall_thread_name(c->wall, tid);
}

/* Brings the symbolizer and unwinder up to date with the loaded objects
 * and describes the period [period_start, end) for the encoder. */
static inprof__profile_meta prepare_encode(collector *c, uint64_t end) {
  /* Only the copy of the loader's list runs under the fork gate; applying
   * it (paths, releasing unloaded objects) and all debug info reading run
   * outside, so a fork in the host never waits for them. */
  loader_gate_enter();
  inprof__symbolizer_snapshot(c->symbolizer);
  loader_gate_leave();
  inprof__symbolizer_refresh(c->symbolizer);
  /* The heap hooks walk against the unwinder's tables too. */
  if (c->sampling || c->heap || c->wall) inprof__unwind_refresh();
  if (c->sampling) inprof__sampler_check_handler();
  return (inprof__profile_meta){
      .start_ns = c->period_start_ns,
      .end_ns = end,
      .cpu_hz = c->settings.cpu_hz,
      .heap_sample_bytes = c->settings.heap_sample_bytes,
      .wall_hz = c->wall ? c->settings.wall_hz : 0,
      .thread_name = thread_name_cb,
      .thread_name_ctx = c,
  };
}

static void copy_entry(void *snap, const inprof__agg_entry_view *e) {
  inprof__agg_add_ctx(snap, e->tid, e->ctx, e->timestamp_ns, e->frames, e->nframes, e->values);
}

/* inprof_collect: the period so far, encoded, without ending it. The
 * samples are copied into a scratch aggregate and the heap is read without
 * consuming the period's allocations, so the next export is unchanged. */
static int encode_snapshot(collector *c, uint8_t **out, size_t *len) {
  drain(c);
  inprof__agg *snap = inprof__agg_new(MAX_STACKS);
  if (!snap) return -1;
  inprof__agg_foreach_entry(c->agg, copy_entry, snap);
  if (c->heap) inprof__heap_snapshot(snap);
  inprof__profile_meta meta = prepare_encode(c, inprof__now_ns(CLOCK_REALTIME));
  int rc = inprof__pprof_encode(snap, c->symbolizer, &meta, out, len);
  inprof__agg_free(snap);
  return rc;
}

static void answer_collect(collector *c) {
  uint8_t *buf = NULL;
  size_t len = 0;
  int rc = encode_snapshot(c, &buf, &len);
  pthread_mutex_lock(&c->lock);
  if (c->collect_pending) {
    c->collect_pending = 0;
    c->collect_failed = rc != 0;
    c->collect_buf = rc == 0 ? buf : NULL;
    c->collect_len = rc == 0 ? len : 0;
    if (rc != 0) free(buf);
    pthread_cond_broadcast(&c->done);
  } else {
    free(buf); /* the caller gave up waiting */
  }
  pthread_mutex_unlock(&c->lock);
}

static void export_period(collector *c, int final) {
  drain(c);
  if (c->heap) inprof__heap_collect(c->agg);
  if (c->wall) inprof__wall_period_end(c->wall, c->agg);
  uint64_t end = inprof__now_ns(CLOCK_REALTIME);
  inprof__profile_meta meta = prepare_encode(c, end);
  uint8_t *pprof = NULL;
  size_t len = 0;
  c->seq = atomic_fetch_add(&profile_seq, 1) + 1;
  /* This period's inprof_count_endpoint hits go with this upload's event.json. */
  inprof__dd_endpoint_counts_seal(c->seq);
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
  uint64_t last_full_scan = now, last_wake = now;
  uint64_t last_proc_cpu = inprof__now_ns(CLOCK_PROCESS_CPUTIME_ID);
  uint64_t last_self_cpu = inprof__now_ns(CLOCK_THREAD_CPUTIME_ID);
  int idle_wakeups = 0;        /* busy-less wakeups in a row */
  /* The wake timer signals this thread (cpu/threads.c); it may arrive only
   * inside ppoll, where its handler just writes the eventfd. */
  sigset_t wait_mask;
  pthread_sigmask(SIG_BLOCK, NULL, &wait_mask);
  if (c->sampling) sigdelset(&wait_mask, c->settings.cpu_signal);
  int wake_armed = 0;          /* the process CPU wake timer is armed */

  for (;;) {
    pthread_mutex_lock(&c->lock);
    int stop = c->stop_requested;
    uint64_t flushes = c->flush_requested;
    int collect = c->collect_pending;
    pthread_mutex_unlock(&c->lock);
    if (stop) break;

    if (flushes == c->exports_done && !collect) {
      int idle = idle_wakeups >= IDLE_AFTER;
      uint64_t wake_at = next_export;
      if (c->sampling) { /* heap only: nothing to look for until the export */
        uint64_t tick = idle ? IDLE_TICK_MS : BUSY_TICK_MS;
        uint64_t t = now + tick * INPROF__NS_PER_MS;
        if (t < wake_at) wake_at = t;
      }
      /* Idle: the first WAKE_CPU_NS the process uses wakes us; the timer
       * is armed only now, so our own work since the last sleep does not
       * count, and disarmed while busy (it would fire for nothing). */
      if (c->sampling && idle) wake_armed = inprof__sampler_wake_after_cpu(WAKE_CPU_NS) == 0;
      /* The wall sampler's tick (only when it is on). */
      if (c->wall && inprof__wall_next_tick_ns(c->wall) < wake_at)
        wake_at = inprof__wall_next_tick_ns(c->wall);
      wait_wake(c, ms_until(inprof__now_ns(CLOCK_MONOTONIC), wake_at), &wait_mask);
      pthread_mutex_lock(&c->lock);
      stop = c->stop_requested;
      flushes = c->flush_requested;
      collect = c->collect_pending;
      pthread_mutex_unlock(&c->lock);
      if (stop) break;
    }

    drain(c);
    now = inprof__now_ns(CLOCK_MONOTONIC);
    /* Busy: the process (besides this thread) used at least BUSY_PERMILLE
     * of a core since the last wakeup, or as much CPU as fires the wake
     * timer (which is what woke us from a long sleep). */
    uint64_t proc_cpu = inprof__now_ns(CLOCK_PROCESS_CPUTIME_ID);
    uint64_t self_cpu = inprof__now_ns(CLOCK_THREAD_CPUTIME_ID);
    /* Signed: the two clocks are read a few ns apart, so with nobody else
     * running the difference may come out slightly negative. */
    int64_t diff = (int64_t)(proc_cpu - last_proc_cpu) - (int64_t)(self_cpu - last_self_cpu);
    uint64_t others = diff > 0 ? (uint64_t)diff : 0;
    int busy = others * 1000 >= (now - last_wake) * BUSY_PERMILLE || others >= WAKE_CPU_NS;
    idle_wakeups = busy ? 0 : idle_wakeups + 1;
    if (busy && wake_armed) {
      inprof__sampler_wake_after_cpu(0);
      wake_armed = 0;
    }
    if (c->sampling) {
      /* Busy: a full scan each tick. The thread count alone cannot tell a
       * pool that replaced an exited thread with a new one within a tick,
       * and a short thread missed until it exits loses all its CPU. Idle:
       * the count, plus a full scan now and then. */
      int idle = idle_wakeups >= IDLE_AFTER;
      if (!idle || inprof__sampler_threads_changed() ||
          now - last_full_scan >= IDLE_FULL_SCAN_MS * INPROF__NS_PER_MS) {
        inprof__sampler_scan_threads();
        last_full_scan = now;
      }
    }
    if (c->wall) inprof__wall_tick(c->wall, c->agg, now);
    if (collect) answer_collect(c);
    int do_export = now >= next_export || flushes != c->exports_done;
    if (do_export) {
      export_period(c, 0);
      next_export = inprof__deadline_after_ms(c->settings.upload_period_ms);
    }
    /* Measured after our own work, so that it never counts as the host's. */
    last_wake = inprof__now_ns(CLOCK_MONOTONIC);
    last_proc_cpu = inprof__now_ns(CLOCK_PROCESS_CPUTIME_ID);
    last_self_cpu = inprof__now_ns(CLOCK_THREAD_CPUTIME_ID);
    now = last_wake;

    if (do_export && flushes != c->exports_done) {
      pthread_mutex_lock(&c->lock);
      c->exports_done = flushes;
      pthread_cond_broadcast(&c->done);
      pthread_mutex_unlock(&c->lock);
    }
  }
  pthread_mutex_lock(&c->lock);
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
  c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (c->wake_fd < 0 || inprof__sync_init(&c->lock, &c->done, NULL) != 0) {
    if (c->wake_fd >= 0) close(c->wake_fd);
    free(c);
    return inprof__fail(INPROF_ERR_SYSTEM, "cannot create the collector's locks");
  }

  inprof_status st = inprof__settings_from_config(cfg, &c->settings);
  if (st != INPROF_OK) goto fail;
  if (!c->settings.enabled) {
    const char *env = getenv("DD_PROFILING_ENABLED");
    if (env && *env)
      inprof__log(INPROF__LOG_INFO, "profiling disabled (DD_PROFILING_ENABLED=\"%s\")", env);
    else
      inprof__log(INPROF__LOG_INFO, "profiling disabled (inprof_config.enabled = 0)");
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
  if (c->ring) inprof__ring_set_notify(c->ring, c->wake_fd, RING_WAKE_MARK);
  if (c->settings.upload) {
    if ((st = inprof__http_start(&c->settings)) != INPROF_OK) goto fail;
    c->http = 1;
  }
  if (c->settings.heap_sample_bytes) {
    if ((st = inprof__heap_start(&c->settings)) != INPROF_OK) goto fail;
    c->heap = 1;
  }
  c->period_start_ns = inprof__now_ns(CLOCK_REALTIME);
  if (c->settings.wall_hz && !(c->wall = inprof__wall_new(&c->settings, c->settings.cpu_hz != 0))) {
    st = inprof__fail(INPROF_ERR_NO_MEMORY, "out of memory allocating the wall sampler");
    goto fail;
  }
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
  inprof__log(INPROF__LOG_INFO,
              "profiling %s: cpu %u Hz, heap every %llu bytes, period %u ms, files %s%s",
              c->settings.service, c->settings.cpu_hz,
              (unsigned long long)c->settings.heap_sample_bytes, c->settings.upload_period_ms,
              c->settings.output_dir ? "in " : "off (INPROF_OUTPUT_DIR unset)",
              c->settings.output_dir ? c->settings.output_dir : "");
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
  wake_collector(c);
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
  wake_collector(c);
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

INPROF__HIDDEN inprof_status inprof__collector_collect(uint8_t **out, size_t *len,
                                                       uint32_t timeout_ms) {
  collector *c = atomic_load(&current);
  if (!c)
    return inprof__fail(INPROF_ERR_NOT_RUNNING, "inprof_collect: the profiler is not running");
  uint64_t deadline = inprof__deadline_after_ms(timeout_ms);
  pthread_mutex_lock(&c->lock);
  c->collect_pending = 1;
  c->collect_failed = 0;
  c->collect_buf = NULL;
  wake_collector(c);
  while (c->collect_pending && !c->exited) {
    if (inprof__sync_wait_until(&c->done, &c->lock, deadline) == ETIMEDOUT) break;
  }
  int answered = !c->collect_pending;
  int failed = c->collect_failed;
  *out = c->collect_buf;
  *len = c->collect_len;
  c->collect_buf = NULL;
  c->collect_pending = 0;      /* a late answer is freed by the collector */
  pthread_mutex_unlock(&c->lock);
  if (!answered)
    return inprof__fail(INPROF_ERR_TIMEOUT,
                        "inprof_collect: the profile was not ready within %u ms", timeout_ms);
  if (failed || !*out)
    return inprof__fail(INPROF_ERR_NO_MEMORY, "inprof_collect: encoding the profile failed");
  return INPROF_OK;
}

INPROF__HIDDEN uint64_t inprof__collector_wakeups(void) {
  return atomic_load_explicit(&collector_wakeups, memory_order_relaxed);
}
