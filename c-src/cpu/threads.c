/*
 * cpu/threads.c - owns CPU sampling's control side: one CPU-time timer per
 * thread, thread discovery, thread names, the per-thread CPU clock
 * baselines, and installing the signal handler (cpu/handler.c).
 *
 * Why per-thread timers: process-wide timers (setitimer) deliver at most one
 * signal per tick and skew between threads (golang/go#35057). Each thread
 * gets timer_create(its CPU clock, SIGEV_THREAD_ID) through the raw syscall,
 * so the collector can arm timers for other threads by tid.
 *
 * Threads are found by scanning /proc/self/task from the collector; a thread
 * first seen in a later scan was born after the previous scan, so its whole
 * CPU clock belongs to the profile (baseline 0) even if it was armed late.
 * Threads alive at start get their clock at arm time as baseline. A slot is
 * published (with its baseline) before the thread's timer is armed, so the
 * first sample of a late thread always carries all of its CPU time.
 *
 * Why scans are cheap while idle (issue 15): the collector scans on a fast
 * tick only while the process is busy (collect/collector.c). While idle,
 * inprof__sampler_threads_changed compares the link count of
 * /proc/self/task (2 + the number of threads, one fstat on a kept
 * descriptor) with the last scan's, so a check when nothing changed is one
 * syscall; and the collector sleeps behind a timer on the process's CPU
 * clock (inprof__sampler_wake_after_cpu), delivered to the collector
 * itself: the first few milliseconds of CPU the process uses, in any
 * thread, known or new, wake it through the handler, so a new busy thread
 * is found within that much CPU instead of a polling interval.
 *
 * The handler (cpu/handler.c) only reads the thread table this file writes:
 * slots are published key last, with release stores.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/defaults.h"
#include "base/diag.h"
#include "base/rng.h"
#include "cpu/handler.h"
#include "cpu/threads.h"
#include "cpu/unwind.h"

#define MAX_THREADS 8192u
/* The thread table itself is inprof__cpu.table (cpu/handler.h). */

static uint32_t table_used;      /* live + tombstones */
/* Collector: the occupied slots, so scans visit threads, not the table. */
static uint32_t live_slots[MAX_THREADS];
static uint32_t table_live;
static uint32_t table_armed;     /* live slots with a timer */
static _Atomic uint32_t threads_tracked;
static uint32_t scan_number;

static int profiling_signal = SIGPROF;
static uint64_t rng_state;            /* collector only */
static int task_fd = -1;              /* /proc/self/task, kept open while sampling */
static nlink_t task_links;            /* its link count at the last scan */
static int wake_timer = -1;           /* kernel id of the collector's wake timer */

/* Names: collector-side only. tid -> comm, refreshed at export. */
#define NAME_SLOTS 4096u
typedef struct name_entry {
  uint32_t tid;
  uint32_t scans;              /* scans this thread was seen in */
  char name[16];
} name_entry;
static name_entry names[NAME_SLOTS];

/* --------------------------------------------------------------- timers */

/* The CPU clock of another thread: CPUCLOCK_SCHED | CPUCLOCK_PERTHREAD. */
static clockid_t thread_cpu_clock(uint32_t tid) { return (clockid_t)((~tid) << 3) | 6; }

static int arm_thread(uint32_t tid, int late, int32_t *timer_id) {
  struct sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = profiling_signal;
  sev._sigev_un._tid = (pid_t)tid;
  int kernel_id = -1;
  if (syscall(SYS_timer_create, thread_cpu_clock(tid), &sev, &kernel_id) != 0) return -1;
  /* A random first expiry keeps threads from sampling in lockstep and gives
   * short threads a fair chance (golang/go#40435). */
  /* A thread found late (born since the last scan) is sampled almost at
   * once: that sample carries all its CPU so far (baseline 0). */
  uint64_t first = late ? 1000 : 1 + inprof__rng_next(&rng_state) % inprof__cpu.interval_ns;
  struct itimerspec its = {
      .it_interval = inprof__ns_to_timespec(inprof__cpu.interval_ns),
      .it_value = inprof__ns_to_timespec(first),
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
  if (clock_gettime(thread_cpu_clock(tid), &ts) != 0) return 0;
  return inprof__timespec_to_ns(&ts);
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
  for (uint32_t i = 0, h = inprof__tid_hash(tid); i < NAME_SLOTS; i++, h++) {
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
static inprof__thread_slot *table_place(uint32_t tid, int32_t timer_id, uint64_t baseline,
                                uint32_t seen_scan) {
  for (uint32_t h = inprof__tid_hash(tid);; h++) {
    uint32_t j = h & (INPROF__CPU_TABLE_SIZE - 1);
    inprof__thread_slot *s = &inprof__cpu.table[j];
    uint32_t k = atomic_load(&s->tid);
    if (k == 0 || k == INPROF__CPU_TOMBSTONE) {
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
  static inprof__thread_slot keep[MAX_THREADS];
  uint32_t n = table_live;
  for (uint32_t i = 0; i < n; i++) {
    inprof__thread_slot *s = &inprof__cpu.table[live_slots[i]];
    keep[i].tid = atomic_load(&s->tid);
    keep[i].timer_id = s->timer_id;
    keep[i].last_cpu_ns = atomic_load(&s->last_cpu_ns);
    keep[i].seen_scan = s->seen_scan;
  }
  for (uint32_t i = 0; i < INPROF__CPU_TABLE_SIZE; i++) atomic_store(&inprof__cpu.table[i].tid, 0);
  table_used = table_live = table_armed = 0;
  for (uint32_t i = 0; i < n; i++)
    table_place(keep[i].tid, keep[i].timer_id, atomic_load(&keep[i].last_cpu_ns),
                keep[i].seen_scan);
}

static inprof__thread_slot *table_insert(uint32_t tid, int32_t timer_id, uint64_t baseline) {
  if (table_used >= INPROF__CPU_TABLE_SIZE / 2) table_compact();
  return table_place(tid, timer_id, baseline, scan_number);
}

static void release_slot(inprof__thread_slot *s) {
  if (s->timer_id >= 0) {
    syscall(SYS_timer_delete, s->timer_id);
    table_armed--;
  }
  s->timer_id = -1;
  atomic_store_explicit(&s->tid, INPROF__CPU_TOMBSTONE, memory_order_release);
  /* Swap-remove from the live list. */
  uint32_t last = live_slots[--table_live];
  live_slots[s->live_pos] = last;
  inprof__cpu.table[last].live_pos = s->live_pos;
}

/* ------------------------------------------------------------ scanning */

INPROF__HIDDEN void inprof__sampler_scan_threads(void) {
  /* Objects loaded since the last tick get unwind tables before their
   * code is sampled much; cheap when nothing was loaded or unloaded. */
  inprof__unwind_refresh();
  if (task_fd < 0) task_fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (task_fd < 0) return;
  int fd = task_fd;
  /* The count before reading: a thread born during the scan changes it
   * again, so the next check rescans. */
  struct stat st;
  if (fstat(fd, &st) == 0) task_links = st.st_nlink;
  if (lseek(fd, 0, SEEK_SET) != 0) return;
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
      inprof__thread_slot *s = inprof__cpu_table_find(tid);
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
      /* Published before the timer exists: the first signal finds the
       * baseline (a late thread's first sample then carries all its CPU). */
      inprof__thread_slot *slot = table_insert(tid, -1, baseline);
      int32_t timer_id;
      if (arm_thread(tid, !initial, &timer_id) != 0) {
        int err = errno;
        release_slot(slot);
        if (err != ESRCH && err != EINVAL) { /* not "the thread just exited" */
          INPROF__COUNT(threads_failed, 1);
          inprof__log(INPROF__LOG_WARN, "cannot arm a CPU timer for thread %u: %s%s", tid,
                      strerror(err),
                      err == EAGAIN ? " (pending-signal limit, see ulimit -i)" : "");
        }
        continue;
      }
      slot->timer_id = timer_id;
      table_armed++;
    }
  }
  /* Threads not seen this time have exited: release their timers. Walking
   * backwards, a swap-remove only moves an already visited slot. */
  for (uint32_t i = table_live; i-- > 0;) {
    inprof__thread_slot *s = &inprof__cpu.table[live_slots[i]];
    if (s->seen_scan != scan_number) release_slot(s);
  }
  atomic_store(&threads_tracked, table_armed);
}

INPROF__HIDDEN int inprof__sampler_threads_changed(void) {
  struct stat st;
  if (task_fd < 0 || fstat(task_fd, &st) != 0) return 1;
  return st.st_nlink != task_links;
}

INPROF__HIDDEN int inprof__sampler_wake_after_cpu(uint64_t cpu_ns) {
  if (wake_timer < 0) {
    if (!cpu_ns) return 0;
    /* One-shot on the process's CPU clock, delivered to the calling thread
     * (the collector) only: a process-directed signal could land on a host
     * thread asleep in nanosleep or poll and end its sleep with EINTR,
     * which per-thread CPU timers (running threads only) never do. The
     * collector keeps the signal blocked except inside its ppoll. */
    struct sigevent wev;
    memset(&wev, 0, sizeof wev);
    wev.sigev_notify = SIGEV_THREAD_ID;
    wev.sigev_signo = profiling_signal;
    wev.sigev_value.sival_int = INPROF__CPU_WAKE_COOKIE;
    wev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
    int wid = -1;
    if (syscall(SYS_timer_create, CLOCK_PROCESS_CPUTIME_ID, &wev, &wid) != 0) return -1;
    wake_timer = wid;
  }
  struct itimerspec its = {.it_interval = {0, 0}, .it_value = inprof__ns_to_timespec(cpu_ns)};
  return syscall(SYS_timer_settime, wake_timer, 0, &its, NULL) == 0 ? 0 : -1;
}

INPROF__HIDDEN const char *inprof__sampler_thread_name(uint32_t tid) {
  name_entry *e = name_slot(tid, 0);
  return e ? e->name : "";
}

INPROF__HIDDEN void inprof__sampler_refresh_names(void) {
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

INPROF__HIDDEN uint32_t inprof__sampler_threads_tracked(void) {
  return atomic_load(&threads_tracked);
}

/* -------------------------------------------------------- start / stop */

/* Everything the handler calls through the PLT, called once in normal
 * context before the handler is installed: lazy binding
 * (_dl_runtime_resolve) inside a handler needs kilobytes of stack, which a
 * nearly full stack or a small alternate stack does not have. */
static void handler_warm_up(void) {
  (void)inprof__now_ns(CLOCK_REALTIME);
  (void)inprof__now_ns(CLOCK_THREAD_CPUTIME_ID);
  (void)syscall(SYS_gettid);
  uintptr_t frames[4];
  (void)inprof__unwind_here(frames, 4, 0);
  (void)inprof__unwind_stack_room(64);
}

static int handler_is_ours(const struct sigaction *sa) {
  return (sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == inprof__cpu_handler;
}

INPROF__HIDDEN inprof_status inprof__sampler_start(const inprof__settings *s,
                                                  inprof__ring *r) {
  profiling_signal = s->cpu_signal;
  inprof__cpu.interval_ns = INPROF__NS_PER_S / s->cpu_hz;
  rng_state = inprof__rng_seed(0);

  struct sigaction old;
  if (sigaction(profiling_signal, NULL, &old) != 0) {
    return inprof__fail(INPROF_ERR_SYSTEM, "cannot query signal %d: %s", profiling_signal,
                        strerror(errno));
  }
  if (!handler_is_ours(&old) && old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN) {
    /* Someone else (another profiler, the host) owns this signal: taking it
     * silently would break them. */
    return inprof__fail(INPROF_ERR_SIGNAL_IN_USE,
                        "signal %d (%s) already has a handler that is not inprof's; "
                        "set INPROF_CPU_SIGNAL (or inprof_config.cpu_signal) to a free "
                        "signal such as SIGRTMIN+3, or disable the other profiler",
                        profiling_signal, strsignal(profiling_signal));
  }
  inprof__unwind_init();
  handler_warm_up();
  atomic_store_explicit(&inprof__cpu.ring, r, memory_order_release);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = inprof__cpu_handler;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, profiling_signal);
  if (sigaction(profiling_signal, &sa, NULL) != 0) {
    return inprof__fail(INPROF_ERR_SYSTEM, "cannot install the handler for signal %d: %s",
                        profiling_signal, strerror(errno));
  }
  /* Make sure no thread we start from here has it blocked by accident. */
  memset(inprof__cpu.table, 0, sizeof inprof__cpu.table);
  for (uint32_t i = 0; i < INPROF__CPU_TABLE_SIZE; i++) inprof__cpu.table[i].timer_id = -1;
  memset(names, 0, sizeof names);
  table_used = table_live = table_armed = 0;
  scan_number = 0;
  wake_timer = -1; /* made by the collector, for itself (wake_after_cpu) */
  atomic_store(&inprof__cpu.active, 1);
  inprof__sampler_scan_threads();
  return INPROF_OK;
}

INPROF__HIDDEN void inprof__sampler_stop(void) {
  atomic_store(&inprof__cpu.active, 0);
  if (wake_timer >= 0) syscall(SYS_timer_delete, wake_timer);
  wake_timer = -1;
  while (table_live > 0) release_slot(&inprof__cpu.table[live_slots[table_live - 1]]);
  atomic_store(&threads_tracked, 0);
  if (task_fd >= 0) close(task_fd);
  task_fd = -1;
  /* The handler stays installed (never SIG_DFL: a late SIGPROF would kill
   * the process, tikv/pprof-rs#288); it returns at once while inactive.
   * Wait for handlers already past the check so the ring can be freed. */
  while (atomic_load(&inprof__cpu.handlers_inflight) > 0) {
    struct timespec ts = {0, 100000};
    nanosleep(&ts, NULL);
  }
  atomic_store(&inprof__cpu.ring, NULL);
}

INPROF__HIDDEN int inprof__sampler_check_handler(void) {
  struct sigaction cur;
  if (sigaction(profiling_signal, NULL, &cur) != 0 || handler_is_ours(&cur)) return 1;
  static int warned;
  if (!warned) {
    warned = 1;
    inprof__log(INPROF__LOG_ERROR,
                "signal %d (%s) was given another handler after inprof started: CPU "
                "samples stop; set INPROF_CPU_SIGNAL to a signal nothing else uses",
                profiling_signal, strsignal(profiling_signal));
  }
  return 0;
}

/* ---------------------------------------------------------------- fork */

static __thread sigset_t fork_saved_mask;

INPROF__HIDDEN void inprof__sampler_atfork_prepare(void) {
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, profiling_signal);
  pthread_sigmask(SIG_BLOCK, &block, &fork_saved_mask);
}

INPROF__HIDDEN void inprof__sampler_atfork_parent(void) {
  pthread_sigmask(SIG_SETMASK, &fork_saved_mask, NULL);
}

INPROF__HIDDEN void inprof__sampler_atfork_child(void) {
  /* Timers are not inherited: the child is not profiled until it starts. */
  atomic_store(&inprof__cpu.active, 0);
  atomic_store(&inprof__cpu.handlers_inflight, 0);
  atomic_store(&inprof__cpu.ring, NULL);
  /* The hooks run at every fork of the process, profiled or not: a table
   * never written to is all zeros already, and clearing it would copy its
   * pages into every child. */
  if (table_used) memset(inprof__cpu.table, 0, sizeof inprof__cpu.table);
  table_used = table_live = table_armed = 0;
  atomic_store(&threads_tracked, 0);
  /* Timers are not inherited; the descriptor is, and names the parent. */
  wake_timer = -1;
  if (task_fd >= 0) close(task_fd);
  task_fd = -1;
  pthread_sigmask(SIG_SETMASK, &fork_saved_mask, NULL);
}
