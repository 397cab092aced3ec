/*
 * fuzz_cfi.c - the signal-context stack walker (cpu/unwind_signal.c) on
 * hostile input: corrupt call-frame information and garbage stacks must end
 * a walk, never crash it, hang it or make it read unchecked memory.
 *
 * Set-up: the walker's snapshot is replaced by one object, this program's
 * text, whose copied .eh_frame and lookup table the input mutates. Input:
 *   byte 0            number of mutations k (mod 17)
 *   k x 5 bytes       (u32 offset into table+.eh_frame, u8 xor mask)
 *   8 bytes           start PC (offset into the text)
 *   8 bytes           start frame pointer
 *   the rest          the stack the walk starts on (sp = its start)
 * The copies are restored after each input.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/unwind.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inprof__unwind_object obj;
static uint8_t *work, *pristine; /* table, then .eh_frame */
static size_t table_len, total_len;
static inprof__unwind_snapshot *snap;
/* The builder's snapshot, replaced below: kept reachable (not a leak). */
const inprof__unwind_snapshot *volatile fuzz_cfi_builders_snapshot;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  inprof__unwind_init();
  const inprof__unwind_snapshot *cur = atomic_load(&inprof__unwind_current);
  fuzz_cfi_builders_snapshot = cur;
  uintptr_t self = (uintptr_t)&LLVMFuzzerTestOneInput;
  const inprof__unwind_object *o = NULL;
  for (uint32_t i = 0; cur && i < cur->count; i++)
    if (cur->objects[i]->start <= self && self < cur->objects[i]->end) o = cur->objects[i];
  if (!o) {
    fprintf(stderr, "fuzz_cfi: this program's unwind tables are not in the snapshot\n");
    abort();
  }
  table_len = (size_t)o->fde_count * 8;
  total_len = table_len + o->eh_frame_len;
  pristine = malloc(total_len);
  work = malloc(total_len);
  if (!pristine || !work) abort();
  memcpy(pristine, o->table, table_len);
  memcpy(pristine + table_len, o->eh_frame, o->eh_frame_len);
  memcpy(work, pristine, total_len);
  obj = *o;
  obj.table = (const int32_t *)work;
  obj.eh_frame = work + table_len;
  snap = malloc(sizeof *snap + sizeof snap->objects[0]);
  if (!snap) abort();
  snap->count = 1;
  snap->objects[0] = &obj;
  /* The builder's snapshot is left alone (leaked); walks now see this one. */
  atomic_store(&inprof__unwind_current, snap);
  return 0;
}

static uint64_t take64(const uint8_t **p, const uint8_t *end) {
  uint64_t v = 0;
  size_t n = (size_t)(end - *p) < 8 ? (size_t)(end - *p) : 8;
  memcpy(&v, *p, n);
  *p += n;
  return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!work) LLVMFuzzerInitialize(NULL, NULL);
  const uint8_t *p = data, *end = data + size;
  unsigned k = p < end ? *p++ % 17 : 0;
  for (unsigned i = 0; i < k && end - p >= 5; i++, p += 5) {
    uint32_t off;
    memcpy(&off, p, 4);
    work[off % total_len] ^= p[4];
  }
  uintptr_t pc = obj.start + (uintptr_t)(take64(&p, end) % (obj.end - obj.start));
  uintptr_t bp = (uintptr_t)take64(&p, end);
  /* The stack: the rest of the input, in an aligned buffer. */
  size_t stack_len = (size_t)(end - p);
  uint64_t *stack = calloc(stack_len / 8 + 2, 8);
  if (!stack) abort();
  memcpy(stack, p, stack_len);
  inprof__unwind_regs regs = {.ip = pc, .sp = (uintptr_t)stack, .bp = bp};
  uintptr_t frames[128];
  uint32_t n = inprof__unwind_walk(&regs, frames, 128, 0);
  if (n == 0 || n > 128 || frames[0] != pc) abort();
  free(stack);
  memcpy(work, pristine, total_len);
  return 0;
}
