/*
 * fuzz_container_id.c - the container id parser (inprof__http_container_id)
 * on arbitrary /proc/self/cgroup texts. Checked, besides no crash and no
 * read past the text: the result is either "" or 64 lowercase hex digits
 * that are, in the text, the first 64-hex component (case-insensitive) with
 * a separator before and after, as an independent, simpler scan finds it.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "export/dd_event.h"

#define FUZZ_CHECK(cond, ...)                                     \
  do {                                                            \
    if (!(cond)) {                                                \
      fprintf(stderr, "fuzz_container_id: failed: %s: ", #cond);  \
      fprintf(stderr, __VA_ARGS__);                               \
      fputc('\n', stderr);                                        \
      abort();                                                    \
    }                                                             \
  } while (0)

static int hex(char c) { return isxdigit((unsigned char)c) != 0; }

/* The rule, written the slow way: at each start of a maximal hex run. */
static const char *reference(const char *text) {
  size_t n = strlen(text);
  for (size_t i = 0; i < n; i++) {
    if (!hex(text[i]) || (i > 0 && hex(text[i - 1]))) continue;
    size_t len = 0;
    while (i + len < n && hex(text[i + len])) len++;
    char before = i ? text[i - 1] : '/';
    char after = text[i + len];
    if (len == 64 && strchr("/-:", before) && (after == 0 || strchr("\n./", after)))
      return text + i;
  }
  return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Exactly the bytes, then the NUL the real reader adds: a read past it is
   * a heap overflow the sanitizers see. */
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = 0;
  char out[65];
  memset(out, 'X', sizeof out);
  int found = inprof__http_container_id(text, out);
  const char *want = reference(text);
  if (!found) {
    FUZZ_CHECK(out[0] == 0, "not found, but out is not empty");
    FUZZ_CHECK(!want, "missed the id at offset %td", want - text);
  } else {
    FUZZ_CHECK(found == 1, "returned %d", found);
    FUZZ_CHECK(out[64] == 0 && strlen(out) == 64, "length %zu", strnlen(out, 65));
    for (int i = 0; i < 64; i++)
      FUZZ_CHECK(isxdigit((unsigned char)out[i]) && !isupper((unsigned char)out[i]),
                 "byte %d of %s", i, out);
    FUZZ_CHECK(want, "found %s where the rule finds none", out);
    FUZZ_CHECK(want && !strncasecmp(out, want, 64), "found %s, the rule finds %.64s", out,
               want);
  }
  /* Same input, same answer. */
  char again[65];
  FUZZ_CHECK(inprof__http_container_id(text, again) == found && !strcmp(again, out),
             "second call differs");
  free(text);
  return 0;
}

const char *const *fuzz_tokens(void);
const char *const *fuzz_tokens(void) {
  static const char *const t[] = {
      "0123456789abcdef", "0123456789ABCDEF", "/", "-", ":", ".", "\n", ".scope", "/docker/",
      "docker-", "cri-containerd-", "crio-", "libpod-", "/kubepods/", "0::/", "12:memory:",
      "a", "F", "g", "\xff", NULL};
  return t;
}
