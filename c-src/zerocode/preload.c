/*
 * preload.c - what turns the library into libinprof-preload.so for zero-code
 * use (LD_PRELOAD, usually set by inprof-run): the malloc-family interposer
 * feeding the heap sampler, the start from the environment when the library
 * is loaded, the export of the last period at normal exit, and the
 * INPROF_FOLLOW_EXEC=0 opt-out of profiling exec'ed children.
 *
 * The interposer calls glibc's exported __libc_* entry points rather than
 * looking up "the next malloc" with dlsym: dlsym can itself allocate, which
 * would need a bootstrap allocator, and the loader may call malloc before
 * any constructor has run. With -z now these bindings are resolved when the
 * library is relocated, so every call, however early, has a real allocator.
 * Blocks are glibc's own, so memory allocated before the profiler started
 * frees normally and malloc_usable_size stays glibc's and stays right.
 *
 * The allocation hooks are the library's inprof_record_alloc/free. Their
 * unsampled cases (heap/heap_fast.h: a thread-local countdown for an
 * allocation, a bitmap test for a free) are decided inline here, so the
 * common pair costs no call beyond glibc's own; only an allocation that
 * reaches the countdown, or a free whose filter bit is set, calls the hook
 * (which keeps the interposed function as the sample's leaf frame, and
 * refuses re-entry from the sampler's own allocations). This is safe before
 * start and after stop, and for the loader's earliest calls: the countdown
 * is initial-exec TLS in this object's static TLS block (no lazy
 * allocation), the filter a static array.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_owned.h"
#include "heap/heap_fast.h"
#include "inprof.h"

#define PRELOAD_API __attribute__((visibility("default")))
#define PRELOAD_LIKELY(x) __builtin_expect(!!(x), 1)

/* Call glibc through its GOT entry directly (bound at load, -z now)
 * instead of a PLT stub: one indirect call instead of a call and a jump. */
#if defined(__has_attribute)
#if __has_attribute(noplt)
#define PRELOAD_NOPLT __attribute__((noplt))
#endif
#endif
#ifndef PRELOAD_NOPLT
#define PRELOAD_NOPLT
#endif

/* glibc's allocator under its own names (exported, GLIBC_2.2.5). */
extern void *__libc_malloc(size_t size) PRELOAD_NOPLT;
extern void __libc_free(void *ptr) PRELOAD_NOPLT;
extern void *__libc_calloc(size_t n, size_t size) PRELOAD_NOPLT;
extern void *__libc_realloc(void *ptr, size_t size) PRELOAD_NOPLT;
extern void *__libc_memalign(size_t align, size_t size) PRELOAD_NOPLT;

/* After an allocation: the countdown inline, the hook when it is reached.
 * A NULL result is never recorded (the hook would only re-arm). */
static inline __attribute__((always_inline)) void preload_alloc(void *p, size_t size) {
  if (PRELOAD_LIKELY(inprof__heap_alloc_unsampled(size))) return;
  if (p) inprof_record_alloc(p, size);
}

/* Before a free: the filter inline, the hook when the bit is set. */
static inline __attribute__((always_inline)) void preload_free(void *ptr) {
  if (PRELOAD_LIKELY(inprof__heap_free_unsampled(ptr))) return;
  inprof_record_free(ptr);
}

/* Bounded wait for the last export at exit (INPROF_STOP_TIMEOUT_MS). */
#define PRELOAD_DEFAULT_STOP_TIMEOUT_MS 5000u
#define PRELOAD_MAX_STOP_TIMEOUT_MS 600000u

/* ------------------------------------------------------------ allocator */

PRELOAD_API void *malloc(size_t size) {
  void *p = __libc_malloc(size);
  preload_alloc(p, size);
  return p;
}

PRELOAD_API void free(void *ptr) {
  /* Before the block goes back: once freed, another thread may be handed
   * the same address and sample it. free(NULL) needs no test of its own
   * on this path: its filter bit is clear unless a live block shares slot
   * 0, and then the hook returns at once for address 0 (heap_free_slow;
   * address 0 is the live table's empty-slot mark, never an entry). */
  preload_free(ptr);
  __libc_free(ptr);
}

PRELOAD_API void *calloc(size_t n, size_t size) {
  void *p = __libc_calloc(n, size);
  /* No overflow here: calloc returned NULL (and is not recorded) if n*size
   * overflows. A NULL result lowers the countdown by a size never allocated:
   * harmless (an earlier sample by at most one draw). */
  preload_alloc(p, n * size);
  return p;
}

/* realloc's body, also reallocarray's: a call to the exported realloc from
 * here would go through the symbol search and could reach another realloc
 * (an earlier interposer), leaving this one's live entry behind. */
static inline __attribute__((always_inline)) void *preload_realloc(void *ptr, size_t size) {
  /* A failed realloc keeps the old block, which then goes unrecorded: that
   * loses one sample at worst, where recording after the call could let a
   * racing thread's new block (same address) be erased. */
  if (ptr) preload_free(ptr);
  void *p = __libc_realloc(ptr, size);
  if (p) preload_alloc(p, size);
  return p;
}

PRELOAD_API void *realloc(void *ptr, size_t size) { return preload_realloc(ptr, size); }

PRELOAD_API void *reallocarray(void *ptr, size_t n, size_t size) {
  size_t bytes;
  if (__builtin_mul_overflow(n, size, &bytes)) {
    errno = ENOMEM;
    return NULL;
  }
  return preload_realloc(ptr, bytes);
}

static int is_pow2(size_t x) { return x != 0 && (x & (x - 1)) == 0; }

static void *aligned(size_t align, size_t size) {
  void *p = __libc_memalign(align, size);
  if (p) preload_alloc(p, size);
  return p;
}

PRELOAD_API int posix_memalign(void **out, size_t align, size_t size) {
  if (!is_pow2(align) || align % sizeof(void *) != 0) return EINVAL;
  int saved = errno; /* posix_memalign reports through its result, not errno */
  void *p = aligned(align, size);
  errno = saved;
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

PRELOAD_API void *aligned_alloc(size_t align, size_t size) {
  if (!is_pow2(align)) { /* what glibc >= 2.38 and C17 DR 460 do */
    errno = EINVAL;
    return NULL;
  }
  return aligned(align, size);
}

PRELOAD_API void *memalign(size_t align, size_t size) { return aligned(align, size); }

PRELOAD_API void *valloc(size_t size) {
  return aligned((size_t)sysconf(_SC_PAGESIZE), size);
}

PRELOAD_API void *pvalloc(size_t size) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE), rounded;
  if (__builtin_add_overflow(size, page - 1, &rounded)) {
    errno = ENOMEM;
    return NULL;
  }
  rounded &= ~(page - 1);
  return aligned(page, rounded ? rounded : page);
}

/* ------------------------------------------------------------ lifecycle */

/* Our own file name, as the loader knows it (for LD_PRELOAD matching). */
static const char *self_path(void) {
  Dl_info info;
  if (dladdr((void *)self_path, &info) && info.dli_fname) return info.dli_fname;
  return "libinprof-preload.so";
}

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

/*
 * INPROF_FOLLOW_EXEC=0: take ourselves out of LD_PRELOAD so programs this
 * process execs run unprofiled. LD_PRELOAD entries are separated by colons
 * or spaces; an entry is ours when its file name is ours.
 */
static void stop_following_exec(void) {
  const char *v = getenv("INPROF_FOLLOW_EXEC");
  if (!v || !(strcmp(v, "0") == 0 || strcasecmp(v, "false") == 0 ||
              strcasecmp(v, "no") == 0 || strcasecmp(v, "off") == 0))
    return;
  const char *pre = getenv("LD_PRELOAD");
  if (!pre) return;
  const char *self = base_name(self_path());
  size_t len = strlen(pre);
  char *out = malloc(len + 1);
  if (!out) return;
  size_t o = 0;
  for (const char *p = pre; *p;) {
    while (*p == ':' || *p == ' ') p++;
    const char *e = p;
    while (*e && *e != ':' && *e != ' ') e++;
    if (e == p) break;
    char entry[4096];
    size_t n = (size_t)(e - p) < sizeof entry ? (size_t)(e - p) : sizeof entry - 1;
    memcpy(entry, p, n);
    entry[n] = 0;
    if (strcmp(base_name(entry), self) != 0) {
      if (o) out[o++] = ':';
      memcpy(out + o, p, (size_t)(e - p));
      o += (size_t)(e - p);
    }
    p = e;
  }
  out[o] = 0;
  if (o)
    setenv("LD_PRELOAD", out, 1);
  else
    unsetenv("LD_PRELOAD");
  free(out);
}

static uint32_t stop_timeout_ms(void) {
  const char *v = getenv("INPROF_STOP_TIMEOUT_MS");
  if (!v) return PRELOAD_DEFAULT_STOP_TIMEOUT_MS;
  /* Plain decimal digits, like every other number the library reads. */
  int digits_only = 1;
  for (const char *c = v; *c; c++)
    if (*c < '0' || *c > '9') digits_only = 0;
  char *end;
  errno = 0;
  unsigned long ms = strtoul(v, &end, 10);
  if (!digits_only || errno || *end || ms > PRELOAD_MAX_STOP_TIMEOUT_MS) {
    fprintf(stderr, "inprof: ignoring invalid INPROF_STOP_TIMEOUT_MS=\"%s\" "
                    "(0..%u); using %u\n", v, PRELOAD_MAX_STOP_TIMEOUT_MS,
            PRELOAD_DEFAULT_STOP_TIMEOUT_MS);
    return PRELOAD_DEFAULT_STOP_TIMEOUT_MS;
  }
  return (uint32_t)ms;
}

static uint32_t exit_timeout_ms;

static void preload_exit(void) {
  /* A forked child inherits this handler but not the parent's profiler:
   * stop is then a no-op, unless the child started its own. */
  inprof__stop_owned(exit_timeout_ms);
}

/*
 * The executable's name for the process_name tag: a wrapped tree where every
 * process has the same service (inprof-run --service) can still be told apart.
 */
static void process_name(char *out, size_t cap) {
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = 0;
    /* A deleted executable reads "<path> (deleted)". */
    char *d = strstr(exe, " (deleted)");
    if (d && d[10] == 0) *d = 0;
    snprintf(out, cap, "%.*s", (int)(cap - 1), base_name(exe));
  } else {
    snprintf(out, cap, "%s", program_invocation_short_name);
  }
  /* Tags are comma/space separated key:value pairs. */
  for (char *c = out; *c; c++)
    if (*c == ',' || *c == ' ' || *c == ':') *c = '_';
}

/*
 * Runs when the loader maps the library, before the program's own
 * constructors: starts from the environment, exactly as inprof_start(NULL)
 * would, plus the process_name tag. A failure is reported once and the
 * program runs unprofiled; the profiler never stops the program.
 */
__attribute__((constructor)) static void preload_init(void) {
  stop_following_exec();

  inprof_config cfg;
  inprof_config_init(&cfg);
  inprof_status st = inprof_config_from_env(&cfg);
  char name[256], *tags = NULL;
  if (st == INPROF_OK) {
    process_name(name, sizeof name);
    size_t cap = (cfg.tags ? strlen(cfg.tags) : 0) + sizeof name + 16;
    tags = malloc(cap);
    if (tags) {
      snprintf(tags, cap, "%s%sprocess_name:%s", cfg.tags ? cfg.tags : "",
               cfg.tags && *cfg.tags ? "," : "", name);
      cfg.tags = tags;
    }
    /* The configuration is copied. */
    st = inprof__start_owned(&cfg, "libinprof-preload.so (zero-code mode: inprof-run or LD_PRELOAD)");
  }
  free(tags);
  if (st != INPROF_OK) {
    const char *why = inprof_last_error();
    fprintf(stderr, "inprof: not profiling %s (pid %ld): %s\n",
            program_invocation_short_name, (long)getpid(),
            why && *why ? why : inprof_strerror(st));
    return;
  }
  if (!inprof_is_running()) return; /* DD_PROFILING_ENABLED=false */
  exit_timeout_ms = stop_timeout_ms();
  if (atexit(preload_exit) != 0)
    fprintf(stderr, "inprof: cannot register the exit handler; the last period "
                    "of pid %ld will not be exported\n", (long)getpid());
}
