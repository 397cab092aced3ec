/*
 * zc_linked.c - a program that links inprof itself (statically) and calls
 * inprof_start, run under inprof-run: there must be exactly one profiler.
 * The preload's copy started first, so this start must report
 * INPROF_ERR_RUNNING naming the running copy. Prints what it got.
 */
#include <stdio.h>
#include <string.h>

#include "inprof.h"

int main(void) {
  inprof_config cfg;
  inprof_config_init(&cfg);
  cfg.upload = INPROF_UPLOAD_OFF;
  inprof_status st = inprof_start(&cfg);
  printf("start %d running %u error [%s]\n", (int)st, inprof_is_running(),
         inprof_last_error());
  inprof_stop(1000);
  return 0;
}
