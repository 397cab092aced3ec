/* test_context_limits.c - inprof_set_label's documented limits and statuses:
 * key and value lengths, labels per thread, removing, clearing, and the
 * process-wide label table filling up (INPROF_ERR_LIMIT, counted), with the
 * thread's labels unchanged by a refused call. Also: the context calls are
 * harmless before start. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "inprof.h"
#include "testutil.h"

static char *repeat(char c, size_t n) {
  char *s = malloc(n + 1);
  memset(s, c, n);
  s[n] = 0;
  return s;
}

static uint64_t table_full_count(void) {
  inprof_statistics st;
  memset(&st, 0, sizeof st);
  st.struct_size = sizeof st;
  REQUIRE(inprof_stats(&st) == INPROF_OK);
  return st.labels_table_full;
}

/* Another thread has its own four labels. */
static void *other_thread(void *arg) {
  (void)arg;
  int ok = 1;
  for (int i = 0; i < INPROF_MAX_LABELS; i++) {
    char k[8];
    snprintf(k, sizeof k, "o%d", i);
    ok &= inprof_set_label(k, "v") == INPROF_OK;
  }
  ok &= inprof_set_label("o9", "v") == INPROF_ERR_LIMIT;
  return (void *)(intptr_t)ok;
}

int main(void) {
  CHECK(INPROF_MAX_LABELS >= 4 && INPROF_MAX_LABEL_KEY_BYTES >= 63 &&
        INPROF_MAX_LABEL_VALUE_BYTES >= 127);
  CHECK(strcmp(inprof_strerror(INPROF_ERR_LIMIT), inprof_strerror(12345)) != 0);

  /* Before any start: accepted, nothing breaks. */
  inprof_set_span(1, 2);
  inprof_set_endpoint(1, "GET /x");
  inprof_count_endpoint("GET /x", 1);
  inprof_set_span(0, 0);

  char *k63 = repeat('k', INPROF_MAX_LABEL_KEY_BYTES);
  char *k64 = repeat('k', INPROF_MAX_LABEL_KEY_BYTES + 1);
  char *v127 = repeat('v', INPROF_MAX_LABEL_VALUE_BYTES);
  char *v128 = repeat('v', INPROF_MAX_LABEL_VALUE_BYTES + 1);

  CHECK(inprof_set_label(NULL, "x") == INPROF_ERR_INVALID);
  CHECK(inprof_set_label("", "x") == INPROF_ERR_INVALID);
  CHECK(inprof_set_label(k64, "x") == INPROF_ERR_INVALID);
  CHECK(strstr(inprof_last_error(), "INPROF_MAX_LABEL_KEY_BYTES") != NULL);
  CHECK(inprof_set_label("a", v128) == INPROF_ERR_INVALID);
  CHECK(strstr(inprof_last_error(), "INPROF_MAX_LABEL_VALUE_BYTES") != NULL);
  CHECK(inprof_set_label(k63, v127) == INPROF_OK);
  CHECK(inprof_set_label("a", "") == INPROF_OK); /* empty values are values */
  CHECK(inprof_set_label("b", "2") == INPROF_OK);
  CHECK(inprof_set_label("c", "3") == INPROF_OK);
  /* Four keys set: a fifth is refused, replacing one is not. */
  CHECK(inprof_set_label("d", "4") == INPROF_ERR_LIMIT);
  CHECK(strstr(inprof_last_error(), "INPROF_MAX_LABELS") != NULL);
  CHECK(inprof_set_label("b", "22") == INPROF_OK);
  CHECK(inprof_set_label("b", "22") == INPROF_OK);
  /* Removing makes room; removing a key not set is fine. */
  CHECK(inprof_set_label("b", NULL) == INPROF_OK);
  CHECK(inprof_set_label("zz", NULL) == INPROF_OK);
  CHECK(inprof_set_label("d", "4") == INPROF_OK);
  CHECK(inprof_set_label("e", "5") == INPROF_ERR_LIMIT);
  /* Labels are per thread. */
  pthread_t t;
  void *ok;
  pthread_create(&t, NULL, other_thread, NULL);
  pthread_join(t, &ok);
  CHECK(ok == (void *)(intptr_t)1);
  inprof_clear_labels();
  CHECK(inprof_set_label("e", "5") == INPROF_OK);
  inprof_clear_labels();

  /* Filling the process-wide table: distinct values until refused. */
  uint64_t full_before = table_full_count();
  CHECK(inprof_set_label("keep", "me") == INPROF_OK);
  int refused_at = -1;
  char v[32];
  for (int i = 0; i < 1000000 && refused_at < 0; i++) {
    snprintf(v, sizeof v, "value-%d", i);
    inprof_status st = inprof_set_label("fill", v);
    if (st == INPROF_ERR_LIMIT) refused_at = i;
    else CHECKF(st == INPROF_OK, "status %d at %d", (int)st, i);
  }
  printf("label table full after %d distinct values\n", refused_at);
  CHECK(refused_at > 1000);
  CHECK(strstr(inprof_last_error(), "label table is full") != NULL);
  CHECK(table_full_count() == full_before + 1);
  /* Known pairs still work; a new key on a refused call changed nothing. */
  CHECK(inprof_set_label("fill", "value-7") == INPROF_OK);
  CHECK(inprof_set_label("keep", "me") == INPROF_OK);
  CHECK(inprof_set_label("other", "brand-new") == INPROF_ERR_LIMIT);
  CHECK(table_full_count() == full_before + 2);
  inprof_clear_labels();

  free(k63);
  free(k64);
  free(v127);
  free(v128);
  return testutil_done("test_context_limits");
}
