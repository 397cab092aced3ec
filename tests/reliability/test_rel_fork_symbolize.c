/*
 * Issue 11: a fork in the host never waits for the symbolizer's work.
 * The collector takes a fork gate only around its copy of the loader's list
 * of objects (dl_iterate_phdr); reading debug info, which can take tens of
 * milliseconds for a large object, runs outside it. Waiting for that would
 * not hang a fork, only slow it, and a duration is no property to assert on
 * a shared machine. So the test makes the symbolizer's file reading block
 * for as long as the test likes: the debug directory holds a FIFO at each
 * loaded object's build-id path (<dir>/.build-id/xx/yyyy.debug). Opening a
 * FIFO for reading waits for a writer, so the collector stops inside the
 * export, in the open() of a debug file, which the test sees in
 * /proc/self/task/<tid>/syscall (openat). While it is held
 * there, the main thread forks FORKS children that _exit(0) at once.
 *
 * Properties: every fork returns and every child exits 0 while the
 * collector is still held in that open() (checked again after the forks);
 * then the FIFOs are given a writer, the export completes (the flush
 * returns OK and a profile is written), and stop returns OK. If any part of
 * debug info reading ran under the gate, the first fork would wait for a
 * writer that only comes after the forks: the watchdog reports the hang.
 */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "inprof.h"
#include "rel_util.h"
#include "testutil.h"

#define FORKS 40
#define MAX_FIFOS 64

static char fifos[MAX_FIFOS][1024];
static int nfifos;
static const char *debug_dir;
static atomic_int flush_done;
static inprof_status flush_status = -1000;

/* Makes <debug_dir>/.build-id/xx/yyyy.debug a FIFO for each loaded object
 * with a build id. */
static int add_fifos(struct dl_phdr_info *info, size_t size, void *ctx) {
  (void)size, (void)ctx;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_NOTE) continue;
    const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
    const uint8_t *end = p + ph->p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)p;
      const uint8_t *name = p + sizeof *n;
      const uint8_t *desc = name + ((n->n_namesz + 3) & ~3u);
      if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && memcmp(name, "GNU", 4) == 0 &&
          n->n_descsz >= 2 && n->n_descsz <= 64 && nfifos < MAX_FIFOS) {
        char hex[129];
        for (unsigned k = 0; k < n->n_descsz; k++) sprintf(hex + 2 * k, "%02x", desc[k]);
        char sub[512];
        snprintf(sub, sizeof sub, "%s/.build-id/%.2s", debug_dir, hex);
        mkdir(sub, 0700);
        char *f = fifos[nfifos];
        snprintf(f, sizeof fifos[0], "%s/%s.debug", sub, hex + 2);
        if (mkfifo(f, 0600) == 0) nfifos++;
      }
      p = desc + ((n->n_descsz + 3) & ~3u);
    }
  }
  return 0;
}

/* The profiler's collector thread (its name ends in "collect") when it is
 * inside openat(), with its /proc/self/task/<tid>/syscall line (number and
 * arguments) in line; 0 when it is not; -1 when that file cannot be read
 * here. Only the debug file lookups open files during the export, and only
 * a FIFO keeps open() waiting: the same line before and after the forks
 * means the collector was held there throughout. (The path argument is not
 * read: it is the collector's stack, and ThreadSanitizer would rightly call
 * that a race.) */
static long collector_in_openat(char *line, size_t cap) {
  DIR *d = opendir("/proc/self/task");
  if (!d) return -1;
  long found = 0;
  int readable = 0;
  struct dirent *e;
  while (!found && (e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char path[300], comm[64] = "";
    snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    char *ok = fgets(comm, sizeof comm, f);
    fclose(f);
    if (!ok || !strstr(comm, "collect")) continue;
    snprintf(path, sizeof path, "/proc/self/task/%s/syscall", e->d_name);
    f = fopen(path, "r");
    if (!f) continue;
    ok = fgets(line, (int)cap, f);
    fclose(f);
    if (!ok) continue;
    readable = 1;
    long nr = -1;
    if (sscanf(line, "%ld", &nr) == 1 && nr == SYS_openat) found = atol(e->d_name);
  }
  closedir(d);
  return readable ? found : -1;
}

/* Gives every FIFO a writer for a moment: a reader waiting in open() then
 * returns (and finds no regular file). */
static void release_fifos(void) {
  for (int i = 0; i < nfifos; i++) {
    int fd = open(fifos[i], O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) close(fd);
  }
}

static void *flush_main(void *arg) {
  rel_track *t = arg;
  rel_phase(t, "inprof_flush (held in a debug file open until the forks are done)");
  flush_status = inprof_flush(120000);
  rel_phase(t, "done");
  atomic_store(&flush_done, 1);
  return NULL;
}

static void *release_main(void *arg) {
  (void)arg;
  while (!atomic_load(&flush_done)) {
    release_fifos();
    rel_sleep_ms(1);
  }
  return NULL;
}

int main(void) {
  rel_watchdog_start("test_rel_fork_symbolize", 60);
  rel_track *main_t = rel_track_new("main (forker)", 0);
  char *dir = testutil_tmpdir("rel-forksym");
  REQUIRE(dir);
  char dbg[512], out[512];
  snprintf(dbg, sizeof dbg, "%s/debug", dir);
  snprintf(out, sizeof out, "%s/out", dir);
  REQUIRE(mkdir(dbg, 0700) == 0 && mkdir(out, 0700) == 0);
  char bid[600];
  snprintf(bid, sizeof bid, "%s/.build-id", dbg);
  REQUIRE(mkdir(bid, 0700) == 0);
  debug_dir = dbg;
  dl_iterate_phdr(add_fifos, NULL);
  CHECKF(nfifos > 0, "no loaded object has a build id");

  inprof_config cfg;
  inprof_config_init(&cfg);
  cfg.cpu_hz = 999;
  cfg.heap_sample_bytes = 0;
  cfg.upload = INPROF_UPLOAD_OFF;
  cfg.output_dir = out;
  cfg.service = "relforksym";
  cfg.debug_dirs = dbg;
  cfg.upload_period_ms = 3600 * 1000; /* only the flush exports */
  REQUIRE(inprof_start(&cfg) == INPROF_OK);
  rel_phase(main_t, "spin");
  rel_spin_cpu(0.3); /* samples whose stacks reach the executable and libc */

  pthread_t flusher;
  REQUIRE(pthread_create(&flusher, NULL, flush_main, rel_track_new("flusher", 0)) == 0);
  rel_phase(main_t, "waiting for the collector to open a debug file FIFO");
  long held = 0;
  char before[512] = "", after[512] = "";
  double deadline = rel_now_s() + 30;
  while ((held = collector_in_openat(before, sizeof before)) == 0 && rel_now_s() < deadline)
    rel_sleep_ms(2);
  if (held < 0) {
    fprintf(stderr, "test_rel_fork_symbolize: /proc/self/task/*/syscall unreadable; skipped\n");
    release_fifos();
    rel_watchdog_stop();
    return 77;
  }
  CHECKF(held > 0, "the export never waited in a debug file open (FIFOs in %s)", dbg);

  int children_ok = 0;
  for (int i = 0; held > 0 && i < FORKS; i++) {
    rel_phase(main_t, "fork (while the collector reads debug info)");
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    REQUIRE(pid > 0);
    rel_phase(main_t, "waitpid");
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) children_ok++;
    else fprintf(stderr, "child %d: status 0x%x\n", i, status);
    rel_progress(main_t);
  }
  /* The forks happened while the export was held: still held now. */
  long still = collector_in_openat(after, sizeof after);
  CHECKF(still == held && strcmp(before, after) == 0,
         "the collector was not held in one open() for the whole fork loop: before %s, after %s",
         before, after);
  CHECK(!atomic_load(&flush_done));
  CHECKF(children_ok == FORKS, "%d of %d children exited 0", children_ok, FORKS);

  rel_phase(main_t, "releasing the FIFOs; joining the flush");
  pthread_t releaser;
  REQUIRE(pthread_create(&releaser, NULL, release_main, NULL) == 0);
  pthread_join(flusher, NULL);
  pthread_join(releaser, NULL);
  CHECKF(flush_status == INPROF_OK, "flush: %s (%s)", inprof_strerror(flush_status),
         inprof_last_error());
  CHECKF(rel_count_dir(out, ".pprof.gz") >= 1, "no profile written in %s", out);
  rel_phase(main_t, "inprof_stop");
  inprof_status st = inprof_stop(20000);
  rel_watchdog_stop();
  CHECKF(st == INPROF_OK, "stop: %s (%s)", inprof_strerror(st), inprof_last_error());
  printf("%d FIFOs; collector thread %ld held in a debug file open during %d forks; "
         "children ok %d\n", nfifos, held, FORKS, children_ok);
  free(testutil_capture("rm -rf %s", dir));
  free(dir);
  return testutil_done("test_rel_fork_symbolize");
}
