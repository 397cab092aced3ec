/*
 * base/strbuf.c - the string builder of base/strbuf.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"

static void sb_grow(inprof__sb *b, size_t more) {
  if (b->oom || b->len + more + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + more + 1) cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) {
    b->oom = 1;
    return;
  }
  b->p = p;
  b->cap = cap;
}

INPROF__HIDDEN void inprof__sb_put(inprof__sb *b, const char *s, size_t n) {
  sb_grow(b, n);
  if (b->oom) return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

INPROF__HIDDEN void inprof__sb_str(inprof__sb *b, const char *s) {
  inprof__sb_put(b, s, strlen(s));
}

INPROF__HIDDEN void inprof__sb_fmt(inprof__sb *b, const char *fmt, ...) {
  char tmp[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof tmp) {
    inprof__sb_put(b, tmp, (size_t)n);
    return;
  }
  sb_grow(b, (size_t)n);
  if (b->oom) return;
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

INPROF__HIDDEN char *inprof__sb_take(inprof__sb *b) {
  if (b->oom) {
    free(b->p);
    return NULL;
  }
  if (!b->p) return strdup("");
  return b->p;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t avail) {
  unsigned c = s[0];
  size_t n;
  unsigned min;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) n = 2, min = 0x80;
  else if ((c & 0xF0) == 0xE0) n = 3, min = 0x800;
  else if ((c & 0xF8) == 0xF0) n = 4, min = 0x10000;
  else return 0;
  if (n > avail) return 0;
  unsigned cp = c & (0x7Fu >> n);
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

INPROF__HIDDEN void inprof__sb_json(inprof__sb *b, const char *s) {
  inprof__sb_put(b, "\"", 1);
  const unsigned char *u = (const unsigned char *)s;
  size_t n = strlen(s);
  for (size_t i = 0; i < n;) {
    unsigned char c = u[i];
    if (c == '"' || c == '\\') {
      char esc[2] = {'\\', (char)c};
      inprof__sb_put(b, esc, 2);
      i++;
    } else if (c < 0x20 || c == 0x7F) {
      inprof__sb_fmt(b, "\\u%04x", c);
      i++;
    } else if (c < 0x80) {
      inprof__sb_put(b, (const char *)u + i, 1);
      i++;
    } else {
      size_t k = utf8_len(u + i, n - i);
      if (k) {
        inprof__sb_put(b, (const char *)u + i, k);
        i += k;
      } else {
        inprof__sb_str(b, "\\ufffd");
        i++;
      }
    }
  }
  inprof__sb_put(b, "\"", 1);
}
