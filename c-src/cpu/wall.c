/*
 * cpu/wall.c - the wall-time sampler (issue 14): owns the list of threads
 * it samples, their last stacks and wall/CPU clocks, and the wall samples
 * (wall-samples/count, wall-time/nanoseconds) it adds to the aggregate.
 * Runs on the collector thread only, which calls it at its own tick.
 *
 * The rule it is built around: no thread is ever interrupted for a wall
 * sample, so no call (sleep, nanosleep, poll, epoll_wait, select, futex,
 * read...) sees an EINTR or returns early because of it. A visit, at most
 * wall_threads_per_tick threads per tick (round robin), reads:
 *  - the thread's CPU clock (a per-thread CPU clockid built from its tid):
 *    unchanged (at most IDLE_CPU_NS) since the previous visit, the thread
 *    has not run, so its previous stack is reused and nothing else is read;
 *  - else /proc/self/task/<tid>/syscall: a thread blocked in a system call
 *    shows "nr args... sp pc". Its stack from sp (STACK_COPY bytes at most,
 *    stopping at the end of the mapping) is copied with process_vm_readv on
 *    our own pid, which fails cleanly instead of faulting if the thread
 *    exits meanwhile, and walked over the copy by the CFI walker
 *    (inprof__unwind_walk_copy). The file is read again after the copy:
 *    if it changed, the thread moved while copied and the torn stack is
 *    thrown away (counted; the previous stack is used);
 *  - "running": the thread is on a CPU. With CPU sampling on, its wall time
 *    waits (pending_ns) for its next CPU sample, whose stack and context it
 *    takes (inprof__wall_on_cpu_sample): the CPU timer interrupts running
 *    threads anyway, and running code is not in a blocking call. Without
 *    CPU sampling, the time is recorded with no stack (documented). If the
 *    thread blocks before a CPU sample came, that time goes to the stack
 *    known from before (the CPU sample's, or an older one).
 * The profiler's own threads (inprof-*) are not sampled.
 * Each wall sample weighs the wall time since that thread's previous one
 * (CLOCK_BOOTTIME; a thread's first from its start time or the sampler's
 * start), and inprof__wall_period_end accounts every thread up to the
 * export, so per thread wall-time sums to its lifetime within the period.
 * A thread that exits between two visits loses the time since its last.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/defaults.h"
#include "cpu/unwind.h"
#include "cpu/wall.h"
#include "sample/context.h"

#define IDLE_CPU_NS 10000u          /* CPU use under which a thread "has not run" */
#define STACK_COPY (64u * 1024)     /* bytes of a blocked thread's stack copied */
#define COPY_PAGE 4096u
/* The thread list is re-read when /proc/self/task's link count (2 + the
 * number of threads: one fstat) changed, and at least this often, for a
 * thread that replaced one that exited (it is then accounted from its
 * start, so only threads that live less than this are missed). */
#define SCAN_MAX_NS (1000u * INPROF__NS_PER_MS)

typedef struct wall_thread {
  uint32_t tid;
  uint32_t seen;               /* scan number it was last seen in */
  int gone;                    /* its clock could not be read: exited */
  uint32_t nframes;
  int have_stack;
  int have_ctx;                /* ctx holds the context of frames */
  inprof__sample_ctx ctx;
  uint64_t last_ns;            /* CLOCK_BOOTTIME up to which it is accounted */
  uint64_t last_cpu_ns;        /* its CPU clock at its previous visit */
  uint64_t pending_ns;         /* running time waiting for a CPU sample */
  uint64_t pending_count;
  char name[16];
  uintptr_t *frames;           /* max_frames; the last stack */
} wall_thread;

struct inprof__wall {
  uint64_t interval_ns;
  uint64_t next_tick;          /* CLOCK_MONOTONIC */
  uint64_t last_scan;          /* CLOCK_MONOTONIC */
  uint64_t start_ns;           /* CLOCK_BOOTTIME */
  uint32_t per_tick, max_frames;
  int cpu_sampling, timeline;
  uint32_t self_tid;
  uint32_t scan_no;
  wall_thread *threads;        /* sorted by tid */
  uint32_t n, cap, cursor;
  uint8_t *copy;               /* STACK_COPY */
  uintptr_t *scratch;          /* max_frames */
  uint64_t boot_hz_ns;         /* ns per clock tick of /proc stat */
  int task_fd;                 /* /proc/self/task, for its link count */
  uint64_t task_links;         /* at the last scan */
};

static _Atomic uint64_t c_visits, c_reused, c_read, c_running, c_torn, c_scans, c_samples;
#define BUMP(c) atomic_fetch_add_explicit(&(c), 1, memory_order_relaxed)

INPROF__HIDDEN void inprof__wall_get_counts(inprof__wall_counts *o) {
  o->visits = atomic_load(&c_visits);
  o->reused = atomic_load(&c_reused);
  o->read = atomic_load(&c_read);
  o->running = atomic_load(&c_running);
  o->torn = atomic_load(&c_torn);
  o->scans = atomic_load(&c_scans);
  o->samples = atomic_load(&c_samples);
}

/* ---------------------------------------------------------- reading */

/* The CPU clock of any thread of this process, from its tid: the kernel's
 * per-thread CPUCLOCK_SCHED clockid, (~tid << 3) | 6. 0 when gone. */
static int thread_cpu_ns(uint32_t tid, uint64_t *out) {
  clockid_t id = (clockid_t)((~(unsigned)tid << 3) | 6u);
  struct timespec ts;
  if (clock_gettime(id, &ts) != 0) return 0;
  *out = (uint64_t)ts.tv_sec * INPROF__NS_PER_S + (uint64_t)ts.tv_nsec;
  return 1;
}

static ssize_t read_small(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, cap - 1);
  close(fd);
  if (n < 0) return -1;
  buf[n] = 0;
  return n;
}

static void read_name(uint32_t tid, char out[16]) {
  char path[64], buf[32];
  snprintf(path, sizeof path, "/proc/self/task/%u/comm", tid);
  out[0] = 0;
  if (read_small(path, buf, sizeof buf) <= 0) return;
  buf[strcspn(buf, "\n")] = 0;
  buf[15] = 0; /* comm is at most 15 bytes */
  memcpy(out, buf, 16);
}

/* The thread's start (CLOCK_BOOTTIME ns, clock-tick resolution), 0 if unknown. */
static uint64_t thread_start_ns(const inprof__wall *w, uint32_t tid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/self/task/%u/stat", tid);
  if (read_small(path, buf, sizeof buf) <= 0) return 0;
  char *p = strrchr(buf, ')'); /* comm may hold spaces and parentheses */
  if (!p) return 0;
  p++;
  /* Field 22 (starttime); p is before field 3 (state). */
  for (int field = 3; field < 22; field++) {
    p = strchr(p + 1, ' ');
    if (!p) return 0;
  }
  unsigned long long ticks = strtoull(p + 1, NULL, 10);
  return ticks * w->boot_hz_ns;
}

/* One blocked thread's registers, or running (0) / unknown (-1). */
typedef struct sys_state {
  char text[256];
  uintptr_t sp, pc;
} sys_state;

/* From an open /proc/self/task/<tid>/syscall: pread at 0 generates the
 * text anew, so one descriptor serves the read before the copy and the
 * check after it. */
static int read_syscall(int fd, sys_state *st) {
  ssize_t n = fd < 0 ? -1 : pread(fd, st->text, sizeof st->text - 1, 0);
  if (n <= 0) return -1;
  st->text[n] = 0;
  if (!strncmp(st->text, "running", 7)) return 0;
  /* "nr a0 a1 a2 a3 a4 a5 sp pc", or "-1 sp pc" when blocked outside a
   * system call: sp and pc are the last two fields either way. */
  char *last = strrchr(st->text, ' ');
  if (!last) return -1;
  *last = 0;
  char *prev = strrchr(st->text, ' ');
  *last = ' ';
  if (!prev) return -1;
  st->sp = (uintptr_t)strtoull(prev + 1, NULL, 16);
  st->pc = (uintptr_t)strtoull(last + 1, NULL, 16);
  return st->sp && st->pc ? 1 : -1;
}

/* Copies up to STACK_COPY bytes from sp, page by page so that the copy
 * stops at the end of the stack's mapping instead of failing whole
 * (process_vm_readv never splits one iovec element). Bytes copied. */
static size_t copy_stack(inprof__wall *w, uintptr_t sp) {
  struct iovec local = {.iov_base = w->copy, .iov_len = STACK_COPY};
  struct iovec remote[STACK_COPY / COPY_PAGE + 1];
  unsigned k = 0;
  uintptr_t a = sp, end = sp + STACK_COPY;
  while (a < end && k < sizeof remote / sizeof *remote) {
    uintptr_t next = (a & ~(uintptr_t)(COPY_PAGE - 1)) + COPY_PAGE;
    if (next > end) next = end;
    remote[k].iov_base = (void *)a;
    remote[k].iov_len = next - a;
    k++;
    a = next;
  }
  ssize_t n = process_vm_readv(getpid(), &local, 1, remote, k, 0);
  return n > 0 ? (size_t)n : 0;
}

/* ---------------------------------------------------------- threads */

static int by_tid(const void *a, const void *b) {
  uint32_t x = ((const wall_thread *)a)->tid, y = ((const wall_thread *)b)->tid;
  return x < y ? -1 : x > y;
}

static wall_thread *find(inprof__wall *w, uint32_t tid) {
  wall_thread key = {.tid = tid};
  return w->n ? bsearch(&key, w->threads, w->n, sizeof key, by_tid) : NULL;
}

static int is_profiler_thread(const char *name) {
  return !strncmp(name, INPROF__THREAD_PREFIX, sizeof INPROF__THREAD_PREFIX - 1);
}

/* Re-reads /proc/self/task: new threads are added (accounted from their
 * start), exited and profiler threads dropped. */
static void scan(inprof__wall *w, uint64_t now_boot) {
  struct stat st;
  if (w->task_fd >= 0 && fstat(w->task_fd, &st) == 0) w->task_links = st.st_nlink;
  DIR *d = opendir("/proc/self/task");
  if (!d) return;
  BUMP(c_scans);
  uint32_t no = ++w->scan_no;
  uint32_t old_n = w->n;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    char *end;
    unsigned long v = strtoul(e->d_name, &end, 10);
    if (*end || v == 0 || v > UINT32_MAX || (uint32_t)v == w->self_tid) continue;
    uint32_t tid = (uint32_t)v;
    wall_thread key = {.tid = tid}, *t = NULL;
    if (old_n) t = bsearch(&key, w->threads, old_n, sizeof key, by_tid);
    if (t) {
      t->seen = no;
      continue;
    }
    char name[16];
    read_name(tid, name);
    if (is_profiler_thread(name)) continue;
    if (w->n == w->cap) {
      uint32_t cap = w->cap ? w->cap * 2 : 64;
      wall_thread *p = realloc(w->threads, cap * sizeof *p);
      if (!p) break;
      w->threads = p;
      w->cap = cap;
    }
    uintptr_t *frames = malloc(w->max_frames * sizeof *frames);
    if (!frames) break;
    t = &w->threads[w->n++];
    memset(t, 0, sizeof *t);
    t->tid = tid;
    t->seen = no;
    t->frames = frames;
    memcpy(t->name, name, sizeof name);
    uint64_t born = thread_start_ns(w, tid);
    t->last_ns = born > w->start_ns && born < now_boot ? born : w->start_ns;
    /* No stack yet: its first visit reads one whatever its CPU clock says. */
    if (!thread_cpu_ns(tid, &t->last_cpu_ns)) t->gone = 1;
  }
  closedir(d);
  /* Drop the threads not seen (exited), keep the rest sorted. */
  uint32_t k = 0;
  for (uint32_t i = 0; i < w->n; i++) {
    if (w->threads[i].seen != no) {
      free(w->threads[i].frames);
      continue;
    }
    w->threads[k++] = w->threads[i];
  }
  w->n = k;
  qsort(w->threads, w->n, sizeof *w->threads, by_tid);
  if (w->cursor >= w->n) w->cursor = 0;
}

/* ---------------------------------------------------------- samples */

/* With the timeline on, a sample is kept on its own with its time, except
 * one of a thread that has not run since its previous sample (`idle`): the
 * same stack again says nothing new and would crowd the period's bounded
 * timeline, so those are aggregated. */
static void emit(inprof__wall *w, inprof__agg *agg, const wall_thread *t,
                 const inprof__sample_ctx *ctx, const uintptr_t *frames, uint32_t nframes,
                 uint64_t weight, uint64_t count, int idle) {
  if (weight == 0 && count == 0) return;
  int64_t values[INPROF__VT_COUNT] = {0};
  values[INPROF__VT_WALL_SAMPLES] = (int64_t)count;
  values[INPROF__VT_WALL_TIME] = (int64_t)weight;
  uint64_t ts = w->timeline && !idle ? inprof__now_ns(CLOCK_REALTIME) : 0;
  (void)inprof__agg_add_ctx(agg, t->tid, ctx, ts, frames, nframes, values);
  BUMP(c_samples);
}

/* Visits one thread: its wall time since its previous sample goes to its
 * current stack (read from outside, or reused), or waits for its next CPU
 * sample when it is running. */
static void visit(inprof__wall *w, inprof__agg *agg, wall_thread *t, uint64_t now) {
  if (t->gone) return;
  BUMP(c_visits);
  uint64_t cpu;
  if (!thread_cpu_ns(t->tid, &cpu)) {
    t->gone = 1; /* exited: dropped at the next scan */
    return;
  }
  uint64_t elapsed = now > t->last_ns ? now - t->last_ns : 0;
  uint64_t ran = cpu - t->last_cpu_ns;
  t->last_cpu_ns = cpu;
  t->last_ns = now;
  if (t->have_stack && ran <= IDLE_CPU_NS) {
    BUMP(c_reused);
    emit(w, agg, t, t->have_ctx ? &t->ctx : NULL, t->frames, t->nframes,
         elapsed + t->pending_ns, 1 + t->pending_count, !t->pending_count);
    t->pending_ns = t->pending_count = 0;
    return;
  }
  sys_state a, b;
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%u/syscall", t->tid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  int state = read_syscall(fd, &a);
  if (state != 1 && fd >= 0) {
    close(fd);
    fd = -1;
  }
  if (state == 0) { /* running */
    BUMP(c_running);
    if (w->cpu_sampling) {
      t->pending_ns += elapsed;
      t->pending_count++;
    } else {
      emit(w, agg, t, NULL, NULL, 0, elapsed, 1, 0);
    }
    return;
  }
  /* Running time still waiting for a CPU sample was spent before this
   * block: it goes to the stack known from then, not to the new one. */
  if (t->pending_count) {
    emit(w, agg, t, t->have_ctx ? &t->ctx : NULL, t->have_stack ? t->frames : NULL,
         t->have_stack ? t->nframes : 0, t->pending_ns, t->pending_count, 0);
    t->pending_ns = t->pending_count = 0;
  }
  if (state > 0) {
    size_t len = copy_stack(w, a.sp);
    int same = len && read_syscall(fd, &b) > 0 && !strcmp(a.text, b.text);
    close(fd);
    if (same) {
      inprof__unwind_regs regs = {.ip = a.pc, .sp = a.sp, .bp = 0};
      uint32_t n = inprof__unwind_walk_copy(&regs, w->copy, a.sp, len, w->scratch, w->max_frames);
      if (n) {
        memcpy(t->frames, w->scratch, n * sizeof *t->frames);
        t->nframes = n;
        t->have_stack = 1;
        /* Blocked in the same call before and after: its context, which
         * only it writes, is the one this stack was taken under. */
        t->have_ctx = inprof__context_read_of(t->tid, &t->ctx);
        BUMP(c_read);
      }
    } else {
      BUMP(c_torn);
    }
  }
  /* The previous stack when this one could not be read; none: no frames. */
  emit(w, agg, t, t->have_ctx ? &t->ctx : NULL, t->have_stack ? t->frames : NULL,
       t->have_stack ? t->nframes : 0, elapsed, 1, 0);
}

/* ---------------------------------------------------------- interface */

INPROF__HIDDEN inprof__wall *inprof__wall_new(const inprof__settings *s, int cpu_sampling) {
  if (!s->wall_hz) return NULL;
  inprof__wall *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->interval_ns = INPROF__NS_PER_S / s->wall_hz;
  w->per_tick = s->wall_threads_per_tick ? s->wall_threads_per_tick : 1;
  w->max_frames = s->max_frames ? s->max_frames : 1;
  w->cpu_sampling = cpu_sampling;
  w->timeline = (int)s->timeline_enabled;
  w->task_fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  w->copy = malloc(STACK_COPY);
  w->scratch = malloc(w->max_frames * sizeof *w->scratch);
  long hz = sysconf(_SC_CLK_TCK);
  w->boot_hz_ns = hz > 0 ? INPROF__NS_PER_S / (uint64_t)hz : 10 * INPROF__NS_PER_MS;
  if (!w->copy || !w->scratch) {
    inprof__wall_free(w);
    return NULL;
  }
  /* The walker's tables; CPU sampling builds them too (idempotent). */
  inprof__unwind_init();
  w->start_ns = inprof__now_ns(CLOCK_BOOTTIME);
  w->next_tick = inprof__now_ns(CLOCK_MONOTONIC) + w->interval_ns;
  return w;
}

INPROF__HIDDEN void inprof__wall_free(inprof__wall *w) {
  if (!w) return;
  for (uint32_t i = 0; i < w->n; i++) free(w->threads[i].frames);
  free(w->threads);
  if (w->task_fd >= 0) close(w->task_fd);
  free(w->copy);
  free(w->scratch);
  free(w);
}

INPROF__HIDDEN uint64_t inprof__wall_next_tick_ns(const inprof__wall *w) {
  return w ? w->next_tick : UINT64_MAX;
}

/* At the start of a round: has the thread list changed (or is a scan due)? */
static int threads_changed(const inprof__wall *w, uint64_t now) {
  struct stat st;
  if (w->last_scan == 0 || now - w->last_scan >= SCAN_MAX_NS) return 1;
  return w->task_fd < 0 || fstat(w->task_fd, &st) != 0 || st.st_nlink != w->task_links;
}

INPROF__HIDDEN void inprof__wall_tick(inprof__wall *w, inprof__agg *agg, uint64_t now) {
  if (!w || now < w->next_tick) return;
  /* The collector's tid, known only on its own thread. */
  if (!w->self_tid) w->self_tid = (uint32_t)syscall(SYS_gettid);
  /* Next tick on the schedule; after a late wakeup, no burst to catch up. */
  w->next_tick += w->interval_ns;
  if (w->next_tick <= now) w->next_tick = now + w->interval_ns;
  uint64_t boot = inprof__now_ns(CLOCK_BOOTTIME);
  if (w->cursor == 0 && threads_changed(w, now)) {
    scan(w, boot);
    w->last_scan = now;
  }
  for (uint32_t k = 0; k < w->per_tick && k < w->n; k++) {
    visit(w, agg, &w->threads[w->cursor], inprof__now_ns(CLOCK_BOOTTIME));
    if (++w->cursor >= w->n) w->cursor = 0;
    if (w->cursor == 0) break; /* a round ends here: the next may rescan */
  }
}

INPROF__HIDDEN void inprof__wall_on_cpu_sample(inprof__wall *w, inprof__agg *agg,
                                               const inprof__sample *s) {
  if (!w || !s->nframes) return;
  wall_thread *t = find(w, s->tid);
  if (!t) return;
  uint32_t n = s->nframes < w->max_frames ? s->nframes : w->max_frames;
  memcpy(t->frames, s->frames, n * sizeof *t->frames);
  t->nframes = n;
  t->have_stack = 1;
  t->ctx = s->ctx;
  t->have_ctx = 1;
  if (!t->pending_count) return;
  emit(w, agg, t, &s->ctx, s->frames, s->nframes, t->pending_ns, t->pending_count, 0);
  t->pending_ns = t->pending_count = 0;
}

INPROF__HIDDEN void inprof__wall_period_end(inprof__wall *w, inprof__agg *agg) {
  if (!w) return;
  if (!w->self_tid) w->self_tid = (uint32_t)syscall(SYS_gettid);
  scan(w, inprof__now_ns(CLOCK_BOOTTIME));
  w->last_scan = inprof__now_ns(CLOCK_MONOTONIC);
  for (uint32_t i = 0; i < w->n; i++) {
    wall_thread *t = &w->threads[i];
    visit(w, agg, t, inprof__now_ns(CLOCK_BOOTTIME));
    /* Running time not yet matched by a CPU sample: its last stack. */
    if (t->pending_count) {
      emit(w, agg, t, t->have_ctx ? &t->ctx : NULL, t->have_stack ? t->frames : NULL,
           t->have_stack ? t->nframes : 0, t->pending_ns, t->pending_count, 0);
      t->pending_ns = t->pending_count = 0;
    }
    read_name(t->tid, t->name); /* threads name themselves late */
  }
}

INPROF__HIDDEN const char *inprof__wall_thread_name(const inprof__wall *w, uint32_t tid) {
  if (!w) return "";
  wall_thread *t = find((inprof__wall *)w, tid);
  return t ? t->name : "";
}
