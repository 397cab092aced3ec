/*
 * base/strbuf.h - a growable, always NUL-terminated string builder with
 * JSON string escaping. Out of memory is sticky: every later call is a
 * no-op and inprof__sb_take returns NULL, so callers check once at the end.
 * Not for signal handlers (it allocates).
 */
#ifndef INPROF__BASE_STRBUF_H
#define INPROF__BASE_STRBUF_H

#include <stddef.h>

#include "base/common.h"

typedef struct inprof__sb {
  char *p;
  size_t len, cap;
  int oom;
} inprof__sb;

INPROF__HIDDEN void inprof__sb_put(inprof__sb *b, const char *s, size_t n);
INPROF__HIDDEN void inprof__sb_str(inprof__sb *b, const char *s);
INPROF__HIDDEN void inprof__sb_fmt(inprof__sb *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A JSON string literal; invalid UTF-8 becomes U+FFFD so the JSON stays valid. */
INPROF__HIDDEN void inprof__sb_json(inprof__sb *b, const char *s);
/* The malloc'ed string ("" if nothing was added), or NULL after out of memory. */
INPROF__HIDDEN char *inprof__sb_take(inprof__sb *b);

#endif
