/*
 * Issue 10, failure 5: stop must not touch a collector it abandoned, and
 * inprof_is_running must be race-free. Repeated start/stop with tiny stop
 * timeouts (0 and 1 ms) while the collector is busy exporting a large heap
 * profile to a file, with other threads calling inprof_is_running,
 * inprof_stats and inprof_flush all the time. Meant for the ASan and TSan
 * builds (a use-after-free of the abandoned collector, a data race on the
 * "current" pointer); in a plain build it checks that nothing crashes or
 * hangs and that every call returns a documented status.
 *
 * Properties: start returns OK or BUSY (an abandoned collector still
 * running); stop returns OK or TIMEOUT; flush returns OK, NOT_RUNNING,
 * TIMEOUT or BUSY; a start succeeds again within a generous bound once
 * abandoned collectors finish; the final stop (long timeout) is OK.
 *
 * Then issue 10's item 8: the final upload goes to an agent that accepts the
 * connection and never answers; inprof_stop(short) must return
 * INPROF_ERR_TIMEOUT with a last error saying the upload was abandoned
 * (it used to return OK). An agent that refuses connections makes the
 * upload fail before the deadline: that stop is OK (a failed upload, not an
 * abandoned one).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "inprof.h"
#include "rel_util.h"
#include "testutil.h"

#define ROUNDS 60
#define LIVE 30000

static atomic_int stop_threads;
static atomic_int bad_status;
static void *live[LIVE];

static void *reader_main(void *arg) {
  rel_track *t = arg;
  unsigned long long running = 0;
  while (!atomic_load(&stop_threads)) {
    for (int i = 0; i < 1000; i++) running += inprof_is_running();
    inprof_statistics st = {.struct_size = sizeof st};
    if (inprof_stats(&st) != INPROF_OK) atomic_fetch_add(&bad_status, 1);
    rel_progress(t);
  }
  return (void *)(uintptr_t)running;
}

static void *flusher_main(void *arg) {
  rel_track *t = arg;
  while (!atomic_load(&stop_threads)) {
    rel_phase(t, "inprof_flush(1)");
    inprof_status st = inprof_flush(1);
    rel_phase(t, "loop");
    if (st != INPROF_OK && st != INPROF_ERR_NOT_RUNNING && st != INPROF_ERR_TIMEOUT &&
        st != INPROF_ERR_BUSY) {
      fprintf(stderr, "flush: unexpected %s (%s)\n", inprof_strerror(st), inprof_last_error());
      atomic_fetch_add(&bad_status, 1);
    }
    rel_progress(t);
    rel_sleep_ms(3);
  }
  return NULL;
}

/* An agent that accepts and reads, and never answers. */
static int silent_fd = -1;
static int silent_conns[16];
static void *silent_agent_main(void *arg) {
  (void)arg;
  int n = 0;
  for (;;) {
    int c = accept(silent_fd, NULL, NULL);
    if (c < 0) return NULL;
    if (n < 16) silent_conns[n++] = c; /* kept open, never answered */
    else close(c);
  }
}

static int listen_local(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return fd;
}

static void check_abandoned_upload(void) {
  int port = 0;
  silent_fd = listen_local(&port);
  REQUIRE(silent_fd >= 0);
  pthread_t agent;
  REQUIRE(pthread_create(&agent, NULL, silent_agent_main, NULL) == 0);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
  inprof_config cfg;
  inprof_config_init(&cfg);
  cfg.cpu_hz = 99;
  cfg.upload = INPROF_UPLOAD_ON;
  cfg.agent_url = url;
  cfg.upload_timeout_ms = 60000;
  cfg.service = "relstopupload";
  REQUIRE(inprof_start(&cfg) == INPROF_OK);
  rel_spin_cpu(0.05);
  inprof_status st = inprof_stop(1000);
  const char *err = inprof_last_error();
  printf("stop with a silent agent: %s (%s)\n", inprof_strerror(st), err);
  CHECKF(st == INPROF_ERR_TIMEOUT, "stop with a silent agent: %s", inprof_strerror(st));
  CHECKF(strstr(err, "abandoned") != NULL, "last error: %s", err);
  /* The abandoned upload ends by itself: a start works again. */
  double deadline = rel_now_s() + 30;
  cfg.upload = INPROF_UPLOAD_OFF;
  while ((st = inprof_start(&cfg)) == INPROF_ERR_BUSY && rel_now_s() < deadline) rel_sleep_ms(20);
  CHECKF(st == INPROF_OK, "start after it: %s (%s)", inprof_strerror(st), inprof_last_error());
  CHECK(inprof_stop(10000) == INPROF_OK);
  shutdown(silent_fd, SHUT_RDWR);
  close(silent_fd);
  pthread_join(agent, NULL);

  /* Refused at once: the upload fails before the deadline, stop is OK. */
  int closed_port = 0;
  int fd = listen_local(&closed_port);
  REQUIRE(fd >= 0);
  close(fd); /* nothing listens there now */
  snprintf(url, sizeof url, "http://127.0.0.1:%d", closed_port);
  cfg.upload = INPROF_UPLOAD_ON;
  REQUIRE(inprof_start(&cfg) == INPROF_OK);
  st = inprof_stop(10000);
  CHECKF(st == INPROF_OK, "stop with a refusing agent: %s (%s)", inprof_strerror(st),
         inprof_last_error());
}

int main(void) {
  rel_watchdog_start("test_rel_stop_race", 80);
  rel_track *main_t = rel_track_new("main (start/stop)", 40);
  char *dir = testutil_tmpdir("rel-stoprace");
  REQUIRE(dir);
  inprof_config cfg;
  inprof_config_init(&cfg);
  cfg.cpu_hz = 999;
  cfg.heap_sample_bytes = 512;
  cfg.upload = INPROF_UPLOAD_OFF;
  cfg.output_dir = dir;
  cfg.service = "relstoprace";

  pthread_t readers[2], flusher;
  REQUIRE(pthread_create(&readers[0], NULL, reader_main, rel_track_new("is_running 0", 30)) == 0);
  REQUIRE(pthread_create(&readers[1], NULL, reader_main, rel_track_new("is_running 1", 30)) == 0);
  REQUIRE(pthread_create(&flusher, NULL, flusher_main, rel_track_new("flusher", 30)) == 0);

  int starts_ok = 0, busy = 0, timeouts = 0;
  uint64_t x = 0x853c49e6748fea9bull;
  for (int r = 0; r < ROUNDS; r++) {
    rel_phase(main_t, "inprof_start");
    inprof_status st = inprof_start(&cfg);
    if (st == INPROF_ERR_BUSY) {
      busy++;
      rel_sleep_ms(5);
      rel_progress(main_t);
      continue;
    }
    if (st != INPROF_OK) {
      fprintf(stderr, "start: unexpected %s (%s)\n", inprof_strerror(st), inprof_last_error());
      atomic_fetch_add(&bad_status, 1);
      continue;
    }
    starts_ok++;
    /* A large heap profile: many live samples on many distinct stacks. */
    rel_phase(main_t, "allocate");
    for (int i = 0; i < 8000; i++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      int s = (int)(x % LIVE);
      if (live[s]) inprof_record_free(live[s]), free(live[s]);
      live[s] = rel_alloc_deep((int)((x >> 20) % 40), 256 + (size_t)((x >> 32) % 2048));
    }
    rel_phase(main_t, "inprof_flush(0)");
    inprof_flush(0); /* the collector is now busy exporting */
    rel_phase(main_t, "inprof_stop(short)");
    st = inprof_stop(r & 1);
    if (st == INPROF_ERR_TIMEOUT) timeouts++;
    else if (st != INPROF_OK) {
      fprintf(stderr, "stop: unexpected %s (%s)\n", inprof_strerror(st), inprof_last_error());
      atomic_fetch_add(&bad_status, 1);
    }
    rel_progress(main_t);
  }
  /* Abandoned collectors finish on their own: a start must work again. */
  rel_phase(main_t, "restart after abandoned stops");
  inprof_status st;
  double deadline = rel_now_s() + 30;
  while ((st = inprof_start(&cfg)) == INPROF_ERR_BUSY && rel_now_s() < deadline) rel_sleep_ms(20);
  CHECKF(st == INPROF_OK, "start after the abandoned collectors: %s (%s)", inprof_strerror(st),
         inprof_last_error());
  rel_phase(main_t, "final inprof_stop");
  st = inprof_stop(30000);
  CHECKF(st == INPROF_OK, "final stop: %s (%s)", inprof_strerror(st), inprof_last_error());
  CHECK(!inprof_is_running());

  atomic_store(&stop_threads, 1);
  rel_phase(main_t, "join");
  pthread_join(readers[0], NULL);
  pthread_join(readers[1], NULL);
  pthread_join(flusher, NULL);
  for (int s = 0; s < LIVE; s++)
    if (live[s]) inprof_record_free(live[s]), free(live[s]);
  printf("rounds %d: started %d, busy %d, stop timeouts %d, unexpected statuses %d\n", ROUNDS,
         starts_ok, busy, timeouts, atomic_load(&bad_status));
  CHECK(atomic_load(&bad_status) == 0);
  CHECK(starts_ok > 0);
  rel_phase(main_t, "stop with a silent agent");
  check_abandoned_upload();
  rel_watchdog_stop();
  testutil_capture("rm -rf %s", dir);
  return testutil_done("test_rel_stop_race");
}
