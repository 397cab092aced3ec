/*
 * base/status.c - status code -> text, from the table in base/status.h.
 */
#include "base/status.h"

INPROF__HIDDEN const char *inprof__status_text(inprof_status status) {
  switch (status) {
#define INPROF__STATUS_CASE(code, text) \
  case code:                            \
    return text;
    INPROF__STATUS_LIST(INPROF__STATUS_CASE)
#undef INPROF__STATUS_CASE
    default:
      return INPROF__STATUS_UNKNOWN_TEXT;
  }
}
