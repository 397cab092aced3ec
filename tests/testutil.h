/* testutil.h - tiny assertion and process helpers shared by the C tests. */
#ifndef INPROF_TESTUTIL_H
#define INPROF_TESTUTIL_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int testutil_failures;

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond)) {                                                           \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      testutil_failures++;                                                   \
    }                                                                        \
  } while (0)

#define CHECKF(cond, ...)                                                    \
  do {                                                                       \
    if (!(cond)) {                                                           \
      fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                          \
      fputc('\n', stderr);                                                   \
      testutil_failures++;                                                   \
    }                                                                        \
  } while (0)

#define REQUIRE(cond)                                                        \
  do {                                                                       \
    if (!(cond)) {                                                           \
      fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond); \
      exit(1);                                                               \
    }                                                                        \
  } while (0)

/* Ends a test's main: prints a verdict and returns the exit status. */
static inline int testutil_done(const char *name) {
  if (testutil_failures) {
    fprintf(stderr, "%s: %d check(s) failed\n", name, testutil_failures);
    return 1;
  }
  printf("%s: ok\n", name);
  return 0;
}

/* Runs a shell command and returns its stdout (malloc'ed, NUL-terminated). */
static inline char *testutil_capture(const char *fmt, ...) {
  char cmd[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  FILE *p = popen(cmd, "r");
  if (!p) return NULL;
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  size_t n;
  while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
    len += n;
    if (cap - len < 1024) buf = realloc(buf, cap *= 2);
  }
  buf[len] = 0;
  int rc = pclose(p);
  if (rc != 0) fprintf(stderr, "command exited %d: %s\n", rc, cmd);
  return buf;
}

/* A fresh temporary directory (malloc'ed path). */
static inline char *testutil_tmpdir(const char *tag) {
  char tmpl[256];
  snprintf(tmpl, sizeof tmpl, "/tmp/inprof-%s-XXXXXX", tag);
  char *d = mkdtemp(tmpl);
  return d ? strdup(d) : NULL;
}

#endif
