/* The C side of the layout check in abi.rs: prints size, alignment and every
 * field's offset and size of the structs in inprof.h, one line each:
 *   <struct> <field|"."> <offset> <size>      ("." is the whole struct:
 *                                             alignment, then size) */
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>

#include "inprof.h"

#define STRUCT(T) printf(#T " . %zu %zu\n", alignof(T), sizeof(T))
#define FIELD(T, f) printf(#T " " #f " %zu %zu\n", offsetof(T, f), sizeof(((T *)0)->f))

int main(void) {
  STRUCT(inprof_config);
  FIELD(inprof_config, struct_size);
  FIELD(inprof_config, enabled);
  FIELD(inprof_config, cpu_hz);
  FIELD(inprof_config, cpu_signal);
  FIELD(inprof_config, heap_sample_bytes);
  FIELD(inprof_config, upload_period_ms);
  FIELD(inprof_config, max_frames);
  FIELD(inprof_config, service);
  FIELD(inprof_config, env);
  FIELD(inprof_config, version);
  FIELD(inprof_config, tags);
  FIELD(inprof_config, output_dir);
  FIELD(inprof_config, agent_url);
  FIELD(inprof_config, agentless);
  FIELD(inprof_config, upload);
  FIELD(inprof_config, site);
  FIELD(inprof_config, api_key);
  FIELD(inprof_config, intake_url);
  FIELD(inprof_config, ca_bundle);
  FIELD(inprof_config, connect_timeout_ms);
  FIELD(inprof_config, upload_timeout_ms);
  FIELD(inprof_config, log_level);
  FIELD(inprof_config, reserved0);
  FIELD(inprof_config, inlined_frames);
  FIELD(inprof_config, symbolizer_max_mb);
  FIELD(inprof_config, debug_dirs);
  FIELD(inprof_config, timeline_enabled);
  FIELD(inprof_config, wall_hz);
  FIELD(inprof_config, wall_threads_per_tick);

  STRUCT(inprof_statistics);
  FIELD(inprof_statistics, struct_size);
  FIELD(inprof_statistics, threads_tracked);
  FIELD(inprof_statistics, cpu_samples);
  FIELD(inprof_statistics, cpu_samples_dropped);
  FIELD(inprof_statistics, cpu_timer_overruns);
  FIELD(inprof_statistics, threads_failed);
  FIELD(inprof_statistics, heap_samples);
  FIELD(inprof_statistics, heap_samples_dropped);
  FIELD(inprof_statistics, heap_live_samples);
  FIELD(inprof_statistics, profiles_written);
  FIELD(inprof_statistics, profiles_failed);
  FIELD(inprof_statistics, uploads_ok);
  FIELD(inprof_statistics, uploads_failed);
  FIELD(inprof_statistics, uploads_dropped);
  FIELD(inprof_statistics, unwind_unknown_pc);
  FIELD(inprof_statistics, unwind_no_stack_room);
  FIELD(inprof_statistics, symbolizer_cap_hits);
  FIELD(inprof_statistics, timeline_samples_aggregated);
  FIELD(inprof_statistics, labels_table_full);
  FIELD(inprof_statistics, endpoint_counts_dropped);

  /* Scalar types the functions use. */
  printf("inprof_status . %zu %zu\n", alignof(inprof_status), sizeof(inprof_status));
  return 0;
}
