/*
 * sampler.c - owns CPU sampling: the signal handler, one CPU-time timer per
 * thread, thread discovery, and the per-thread CPU clock baselines.
 *
 * Why per-thread timers: process-wide timers (setitimer) deliver at most one
 * signal per tick and skew between threads (golang/go#35057). Each thread
 * gets timer_create(its CPU clock, SIGEV_THREAD_ID) through the raw syscall,
 * so the collector can arm timers for other threads by tid.
 *
 * Why weights: each sample is weighted by the thread's CPU-clock delta since
 * its previous sample, so cpu-time stays exact when the kernel merges
 * expirations, when a thread was armed late, or when a sample is dropped
 * (a dropped sample leaves the delta for the next one).
 *
 * Threads are found by scanning /proc/self/task from the collector every few
 * milliseconds; a thread first seen in a later scan was born after the
 * previous scan, so its whole CPU clock belongs to the profile (baseline 0)
 * even if it was armed late. Threads alive at start get their clock at arm
 * time as baseline.
 *
 * The handler: no malloc, no locks, no stdio; errno is preserved.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

/* The thread table: open addressing keyed by tid, written only by the
 * collector, read by the handler. Keys go 0 -> tid -> TOMBSTONE -> tid... */
#define TABLE_SIZE 16384u      /* power of two */
#define MAX_THREADS 8192u
#define TOMBSTONE UINT32_MAX

typedef struct thread_slot {
  _Atomic uint32_t tid;
  int32_t timer_id;            /* kernel timer id; -1: a thread we do not sample */
  _Atomic uint64_t last_cpu_ns;
  uint32_t seen_scan;          /* collector: scan number last seen in */
  uint32_t live_pos;           /* collector: index in live_slots */
} thread_slot;

static thread_slot table[TABLE_SIZE];
static uint32_t table_used;      /* live + tombstones */
/* Collector: the occupied slots, so scans visit threads, not the table. */
static uint32_t live_slots[MAX_THREADS];
static uint32_t table_live;
static uint32_t table_armed;     /* live slots with a timer */
static _Atomic uint32_t threads_tracked;
static uint32_t scan_number;

static _Atomic int active;                 /* handler records samples */
static _Atomic int handlers_inflight;
static inprof__ring *_Atomic ring;
static int profiling_signal = SIGPROF;
static uint64_t interval_ns;
static uint64_t rng_state;

/* Names: collector-side only. tid -> comm, refreshed at export. */
#define NAME_SLOTS 4096u
typedef struct name_entry {
  uint32_t tid;
  uint32_t scans;              /* scans this thread was seen in */
  char name[16];
} name_entry;
static name_entry names[NAME_SLOTS];

static inline uint32_t hash_tid(uint32_t tid) { return (tid * 2654435761u); }

static inline pid_t current_tid(void) { return (pid_t)syscall(SYS_gettid); }

static thread_slot *table_find(uint32_t tid) {
  for (uint32_t i = 0, h = hash_tid(tid); i < TABLE_SIZE; i++, h++) {
    thread_slot *s = &table[h & (TABLE_SIZE - 1)];
    uint32_t k = atomic_load_explicit(&s->tid, memory_order_acquire);
    if (k == tid) return s;
    if (k == 0) return NULL;
  }
  return NULL;
}

/* ------------------------------------------------------------- handler */

INPROF_HIDDEN void inprof__sampler_write_cpu(inprof__ring *r, inprof__sample *s, uint32_t tid,
                                             uint64_t weight, void *ucontext) {
  s->kind = INPROF_SAMPLE_CPU;
  s->tid = tid;
  s->timestamp_ns = inprof__now_ns(CLOCK_REALTIME);
  s->value = weight;
  s->count = 1;
  s->addr = 0;
  memset(s->labels, 0, sizeof s->labels);
  s->flags = 0;
  /* A thread inside the profiler's own unwinding (heap hook) must not
   * re-enter libunwind: record the sample without a stack. */
  s->nframes = inprof__in_profiler
                   ? 0
                   : inprof__unwind_signal(ucontext, s->frames, inprof__ring_max_frames(r));
  inprof__ring_commit(r, s);
}

static void profiling_handler(int sig, siginfo_t *info, void *ucontext) {
  (void)sig;
  int saved_errno = errno;
  atomic_fetch_add(&handlers_inflight, 1);
  if (!atomic_load(&active)) goto out;
  inprof__ring *r = atomic_load_explicit(&ring, memory_order_acquire);
  if (!r) goto out;
  if (info->si_code == SI_TIMER && info->si_overrun > 0)
    INPROF__COUNT(cpu_timer_overruns, (uint64_t)info->si_overrun);

  uint32_t tid = (uint32_t)current_tid();
  inprof__sample *s = inprof__ring_reserve(r);
  if (!s) {
    /* Keep the thread's baseline: the next sample carries this CPU time. */
    INPROF__COUNT(cpu_samples_dropped, 1);
    goto out;
  }
  uint64_t now = inprof__now_ns(CLOCK_THREAD_CPUTIME_ID);
  thread_slot *slot = table_find(tid);
  uint64_t weight;
  if (slot) {
    uint64_t prev = atomic_exchange(&slot->last_cpu_ns, now);
    weight = now > prev ? now - prev : 0;
  } else {
    weight = interval_ns * (1 + (uint64_t)(info->si_overrun > 0 ? info->si_overrun : 0));
  }
  inprof__sampler_write_cpu(r, s, tid, weight, ucontext);
  INPROF__COUNT(cpu_samples, 1);
out:
  atomic_fetch_sub(&handlers_inflight, 1);
  errno = saved_errno;
}

/* --------------------------------------------------------------- timers */

static uint64_t next_random(void) {
  /* xorshift64*: only the collector thread draws. */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 2685821657736338717ull;
}

static int arm_thread(uint32_t tid, int late, int32_t *timer_id) {
  struct sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = profiling_signal;
  sev._sigev_un._tid = (pid_t)tid;
  /* The CPU clock of another thread: CPUCLOCK_SCHED | CPUCLOCK_PERTHREAD. */
  clockid_t clock = (clockid_t)((~tid) << 3) | 6;
  int kernel_id = -1;
  if (syscall(SYS_timer_create, clock, &sev, &kernel_id) != 0) return -1;
  /* A random first expiry keeps threads from sampling in lockstep and gives
   * short threads a fair chance (golang/go#40435). */
  /* A thread found late (born since the last scan) is sampled almost at
   * once: that sample carries all its CPU so far (baseline 0). */
  uint64_t first = late ? 1000 : 1 + next_random() % interval_ns;
  struct itimerspec its = {
      .it_interval = {(time_t)(interval_ns / 1000000000u), (long)(interval_ns % 1000000000u)},
      .it_value = {(time_t)(first / 1000000000u), (long)(first % 1000000000u)},
  };
  if (syscall(SYS_timer_settime, kernel_id, 0, &its, NULL) != 0) {
    syscall(SYS_timer_delete, kernel_id);
    return -1;
  }
  *timer_id = kernel_id;
  return 0;
}

static uint64_t thread_cpu_now(uint32_t tid) {
  struct timespec ts;
  clockid_t clock = (clockid_t)((~tid) << 3) | 6;
  if (clock_gettime(clock, &ts) != 0) return 0;
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void read_comm(uint32_t tid, char out[16]) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%u/comm", tid);
  out[0] = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = read(fd, out, 15);
  close(fd);
  if (n <= 0) return;
  out[n] = 0;
  char *nl = strchr(out, '\n');
  if (nl) *nl = 0;
}

static name_entry *name_slot(uint32_t tid, int create) {
  for (uint32_t i = 0, h = hash_tid(tid); i < NAME_SLOTS; i++, h++) {
    name_entry *e = &names[h & (NAME_SLOTS - 1)];
    if (e->tid == tid) return e;
    if (e->tid == 0) {
      if (!create) return NULL;
      e->tid = tid;
      return e;
    }
  }
  return NULL;
}

static void remember_name(uint32_t tid, const char *name) {
  name_entry *e = name_slot(tid, 1);
  if (!e) return;
  memcpy(e->name, name, 16);
}

/* Threads often name themselves just after they start (Rust's
 * thread::Builder::name does), after the scan that found them: read the
 * name again a few scans later. */
static void maybe_reread_name(uint32_t tid) {
  name_entry *e = name_slot(tid, 1);
  if (!e) return;
  e->scans++;
  if (e->scans == 2 || e->scans == 5 || e->scans == 25) read_comm(tid, e->name);
}

/* Places a key in the first free or dead slot of its probe sequence. */
static thread_slot *table_place(uint32_t tid, int32_t timer_id, uint64_t baseline,
                                uint32_t seen_scan) {
  for (uint32_t h = hash_tid(tid);; h++) {
    uint32_t j = h & (TABLE_SIZE - 1);
    thread_slot *s = &table[j];
    uint32_t k = atomic_load(&s->tid);
    if (k == 0 || k == TOMBSTONE) {
      s->timer_id = timer_id;
      s->seen_scan = seen_scan;
      s->live_pos = table_live;
      atomic_store(&s->last_cpu_ns, baseline);
      /* Publish the key last: a handler that finds it sees the baseline. */
      atomic_store_explicit(&s->tid, tid, memory_order_release);
      if (k == 0) table_used++;
      live_slots[table_live++] = j;
      if (timer_id >= 0) table_armed++;
      return s;
    }
  }
}

/* Rebuilds the table without tombstones. Handlers that miss their slot
 * during the rebuild fall back to the nominal interval for one sample. */
static void table_compact(void) {
  static thread_slot keep[MAX_THREADS];
  uint32_t n = table_live;
  for (uint32_t i = 0; i < n; i++) {
    thread_slot *s = &table[live_slots[i]];
    keep[i].tid = atomic_load(&s->tid);
    keep[i].timer_id = s->timer_id;
    keep[i].last_cpu_ns = atomic_load(&s->last_cpu_ns);
    keep[i].seen_scan = s->seen_scan;
  }
  for (uint32_t i = 0; i < TABLE_SIZE; i++) atomic_store(&table[i].tid, 0);
  table_used = table_live = table_armed = 0;
  for (uint32_t i = 0; i < n; i++)
    table_place(keep[i].tid, keep[i].timer_id, atomic_load(&keep[i].last_cpu_ns),
                keep[i].seen_scan);
}

static void table_insert(uint32_t tid, int32_t timer_id, uint64_t baseline) {
  if (table_used >= TABLE_SIZE / 2) table_compact();
  table_place(tid, timer_id, baseline, scan_number);
}

static void release_slot(thread_slot *s) {
  if (s->timer_id >= 0) {
    syscall(SYS_timer_delete, s->timer_id);
    table_armed--;
  }
  s->timer_id = -1;
  atomic_store_explicit(&s->tid, TOMBSTONE, memory_order_release);
  /* Swap-remove from the live list. */
  uint32_t last = live_slots[--table_live];
  live_slots[s->live_pos] = last;
  table[last].live_pos = s->live_pos;
}

/* ------------------------------------------------------------ scanning */

INPROF_HIDDEN void inprof__sampler_scan_threads(void) {
  int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  int initial = scan_number == 0;
  scan_number++;
  char buf[8192];
  for (;;) {
    long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      struct dirent64 *d = (struct dirent64 *)(buf + off);
      off += d->d_reclen;
      if (d->d_name[0] < '0' || d->d_name[0] > '9') continue;
      uint32_t tid = (uint32_t)strtoul(d->d_name, NULL, 10);
      thread_slot *s = table_find(tid);
      if (s) {
        s->seen_scan = scan_number;
        maybe_reread_name(tid);
        continue;
      }
      if (table_live >= MAX_THREADS) {
        INPROF__COUNT(threads_failed, 1);
        continue;
      }
      char comm[16];
      read_comm(tid, comm);
      remember_name(tid, comm);
      if (!strncmp(comm, INPROF__THREAD_PREFIX, sizeof INPROF__THREAD_PREFIX - 1)) {
        /* Our own threads (collector, uploader) are kept in the table
         * without a timer, so that later scans know them. */
        table_insert(tid, -1, 0);
        continue;
      }
      /* Threads alive at start: only CPU from now on counts. Threads born
       * since the last scan: all their CPU counts. */
      uint64_t baseline = initial ? thread_cpu_now(tid) : 0;
      int32_t timer_id;
      if (arm_thread(tid, !initial, &timer_id) != 0) {
        if (errno != ESRCH && errno != EINVAL) { /* not "the thread just exited" */
          INPROF__COUNT(threads_failed, 1);
          inprof__log(INPROF_LOG_WARN, "cannot arm a CPU timer for thread %u: %s%s", tid,
                      strerror(errno),
                      errno == EAGAIN ? " (pending-signal limit, see ulimit -i)" : "");
        }
        continue;
      }
      table_insert(tid, timer_id, baseline);
    }
  }
  close(fd);
  /* Threads not seen this time have exited: release their timers. Walking
   * backwards, a swap-remove only moves an already visited slot. */
  for (uint32_t i = table_live; i-- > 0;) {
    thread_slot *s = &table[live_slots[i]];
    if (s->seen_scan != scan_number) release_slot(s);
  }
  atomic_store(&threads_tracked, table_armed);
}

INPROF_HIDDEN const char *inprof__sampler_thread_name(uint32_t tid) {
  name_entry *e = name_slot(tid, 0);
  return e ? e->name : "";
}

INPROF_HIDDEN void inprof__sampler_refresh_names(void) {
  /* After an export: names of exited threads were needed for the samples
   * just exported and can go now; live threads keep theirs. */
  static name_entry keep[NAME_SLOTS];
  uint32_t n = 0;
  for (uint32_t i = 0; i < NAME_SLOTS; i++) {
    if (!names[i].tid) continue;
    char comm[16];
    read_comm(names[i].tid, comm);
    if (comm[0]) {
      keep[n] = names[i];
      memcpy(keep[n].name, comm, 16);
      n++;
    }
  }
  memset(names, 0, sizeof names);
  for (uint32_t j = 0; j < n; j++) {
    name_entry *e = name_slot(keep[j].tid, 1);
    if (e) *e = keep[j];
  }
}

INPROF_HIDDEN uint32_t inprof__sampler_threads_tracked(void) {
  return atomic_load(&threads_tracked);
}

/* -------------------------------------------------------- start / stop */

static int handler_is_ours(const struct sigaction *sa) {
  return (sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == profiling_handler;
}

INPROF_HIDDEN inprof_status inprof__sampler_start(const inprof__settings *s,
                                                  inprof__ring *r) {
  profiling_signal = s->cpu_signal;
  interval_ns = 1000000000ull / s->cpu_hz;
  rng_state = inprof__now_ns(CLOCK_MONOTONIC) ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
  if (!rng_state) rng_state = 1;

  struct sigaction old;
  if (sigaction(profiling_signal, NULL, &old) != 0) {
    inprof__set_error("cannot query signal %d: %s", profiling_signal, strerror(errno));
    return INPROF_ERR_SYSTEM;
  }
  if (!handler_is_ours(&old) && old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN) {
    /* Someone else (another profiler, the host) owns this signal: taking it
     * silently would break them. */
    inprof__set_error("signal %d (%s) already has a handler that is not inprof's; "
                      "set INPROF_CPU_SIGNAL (or inprof_config.cpu_signal) to a free "
                      "signal such as SIGRTMIN+3, or disable the other profiler",
                      profiling_signal, strsignal(profiling_signal));
    return INPROF_ERR_SIGNAL_IN_USE;
  }
  inprof__unwind_init();
  atomic_store_explicit(&ring, r, memory_order_release);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = profiling_handler;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, profiling_signal);
  if (sigaction(profiling_signal, &sa, NULL) != 0) {
    inprof__set_error("cannot install the handler for signal %d: %s", profiling_signal,
                      strerror(errno));
    return INPROF_ERR_SYSTEM;
  }
  /* Make sure no thread we start from here has it blocked by accident. */
  memset(table, 0, sizeof table);
  for (uint32_t i = 0; i < TABLE_SIZE; i++) table[i].timer_id = -1;
  memset(names, 0, sizeof names);
  table_used = table_live = table_armed = 0;
  scan_number = 0;
  atomic_store(&active, 1);
  inprof__sampler_scan_threads();
  return INPROF_OK;
}

INPROF_HIDDEN void inprof__sampler_stop(void) {
  atomic_store(&active, 0);
  while (table_live > 0) release_slot(&table[live_slots[table_live - 1]]);
  atomic_store(&threads_tracked, 0);
  /* The handler stays installed (never SIG_DFL: a late SIGPROF would kill
   * the process, tikv/pprof-rs#288); it returns at once while inactive.
   * Wait for handlers already past the check so the ring can be freed. */
  while (atomic_load(&handlers_inflight) > 0) {
    struct timespec ts = {0, 100000};
    nanosleep(&ts, NULL);
  }
  atomic_store(&ring, NULL);
}

INPROF_HIDDEN int inprof__sampler_check_handler(void) {
  struct sigaction cur;
  if (sigaction(profiling_signal, NULL, &cur) != 0 || handler_is_ours(&cur)) return 1;
  static int warned;
  if (!warned) {
    warned = 1;
    inprof__log(INPROF_LOG_ERROR,
                "signal %d (%s) was given another handler after inprof started: CPU "
                "samples stop; set INPROF_CPU_SIGNAL to a signal nothing else uses",
                profiling_signal, strsignal(profiling_signal));
  }
  return 0;
}

/* ---------------------------------------------------------------- fork */

static __thread sigset_t fork_saved_mask;

INPROF_HIDDEN void inprof__sampler_atfork_prepare(void) {
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, profiling_signal);
  pthread_sigmask(SIG_BLOCK, &block, &fork_saved_mask);
}

INPROF_HIDDEN void inprof__sampler_atfork_parent(void) {
  pthread_sigmask(SIG_SETMASK, &fork_saved_mask, NULL);
}

INPROF_HIDDEN void inprof__sampler_atfork_child(void) {
  /* Timers are not inherited: the child is not profiled until it starts. */
  atomic_store(&active, 0);
  atomic_store(&handlers_inflight, 0);
  atomic_store(&ring, NULL);
  memset(table, 0, sizeof table);
  table_used = table_live = table_armed = 0;
  atomic_store(&threads_tracked, 0);
  pthread_sigmask(SIG_SETMASK, &fork_saved_mask, NULL);
}
