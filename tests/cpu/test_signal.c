/*
 * The profiling signal: a host that owns SIGPROF is not clobbered (start
 * fails with INPROF_ERR_SIGNAL_IN_USE and a message that says what to do),
 * INPROF_CPU_SIGNAL moves the profiler to a free signal, the host's handler
 * keeps working, and a stray SIGPROF after stop does not kill the process.
 */
#include <signal.h>
#include <unistd.h>

#include "cpu_work.h"
#include "inprof.h"
#include "testutil.h"

static volatile sig_atomic_t host_hits;
static void host_handler(int sig) { (void)sig; host_hits++; }

int main(void) {
  inprof_config cfg;
  inprof_config_init(&cfg);
  cfg.upload = INPROF_UPLOAD_OFF;
  cfg.heap_sample_bytes = 0;

  /* 1. No handler: start, stop, then a stray SIGPROF is harmless. */
  REQUIRE(inprof_start(&cfg) == INPROF_OK);
  CPU_WORK_SPIN(100000000ull);
  REQUIRE(inprof_stop(5000) == INPROF_OK);
  struct sigaction now;
  sigaction(SIGPROF, NULL, &now);
  CHECK(now.sa_handler != SIG_DFL); /* never restored to the default */
  raise(SIGPROF);
  kill(getpid(), SIGPROF);

  /* 2. The host installs its own SIGPROF handler: ours must not replace it. */
  struct sigaction sa = {0};
  sa.sa_handler = host_handler;
  sigaction(SIGPROF, &sa, NULL);
  inprof_status st = inprof_start(&cfg);
  CHECKF(st == INPROF_ERR_SIGNAL_IN_USE, "status %d", st);
  CHECKF(strstr(inprof_last_error(), "INPROF_CPU_SIGNAL") != NULL, "%s", inprof_last_error());
  CHECK(!inprof_is_running());
  sigaction(SIGPROF, NULL, &now);
  CHECK(now.sa_handler == host_handler);
  raise(SIGPROF);
  CHECK(host_hits == 1);

  /* 3. On another signal it works, and the host's handler is untouched. */
  setenv("INPROF_CPU_SIGNAL", "SIGRTMIN+3", 1);
  REQUIRE(inprof_config_from_env(&cfg) == INPROF_OK);
  REQUIRE(inprof_start(&cfg) == INPROF_OK);
  CPU_WORK_SPIN(300000000ull);
  inprof_statistics stats = {.struct_size = sizeof stats};
  inprof_stats(&stats);
  CHECKF(stats.cpu_samples >= 10, "samples on SIGRTMIN+3: %llu",
         (unsigned long long)stats.cpu_samples);
  CHECK(host_hits == 1); /* the host's signal was never used */
  REQUIRE(inprof_stop(5000) == INPROF_OK);
  raise(SIGPROF);
  CHECK(host_hits == 2);

  /* 4. Someone takes the profiling signal over while inprof runs: the next
   * export says so on stderr (INPROF_LOG_LEVEL=error) and the host goes on. */
  cfg.log_level = 1;
  REQUIRE(inprof_start(&cfg) == INPROF_OK);
  int err_pipe[2];
  REQUIRE(pipe(err_pipe) == 0);
  int saved_stderr = dup(2);
  dup2(err_pipe[1], 2);
  struct sigaction thief = {0};
  thief.sa_handler = host_handler;
  sigaction(SIGRTMIN + 3, &thief, NULL);
  CHECK(inprof_flush(5000) == INPROF_OK);
  dup2(saved_stderr, 2);
  close(err_pipe[1]);
  char buf[1024] = {0};
  ssize_t got = read(err_pipe[0], buf, sizeof buf - 1);
  CHECKF(got > 0 && strstr(buf, "was given another handler"), "stderr: %s", buf);
  CHECK(inprof_stop(5000) == INPROF_OK);
  return testutil_done("test_signal");
}
