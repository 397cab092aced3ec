#!/bin/sh
# The CPU signal handler's code calls only async-signal-safe functions.
# The files that run in signal context (c-src/cpu/handler.c,
# c-src/cpu/unwind_signal.c; the ring's producer side is inline in
# sample/ring.h) are checked through their objects' undefined symbols
# (nm -u) against an allow-list: no malloc/free, no stdio, no locks, no
# logging, no snprintf, no general-dynamic TLS (__tls_get_addr may allocate).
# Usage: check_signal_safe.sh OBJECT... (any objects; the signal-safe ones
# are picked by their source names below).
set -eu

# The library's source files that run in signal context.
SIGNAL_SAFE_SOURCES="cpu/handler.c cpu/unwind_signal.c"

# Symbols those objects may use besides each other's. `syscall` also covers
# the collector's wake-up, a write(2) to its eventfd (sample/ring.h), made
# through syscall(SYS_write, ...) so that no new libc entry point is needed.
ALLOWED='
_GLOBAL_OFFSET_TABLE_
__stack_chk_fail
__errno_location
clock_gettime
syscall
getpid
gettid
memset
memcpy
memmove
inprof__stats
inprof__in_profiler
inprof__context
'
# Families allowed by prefix: the sanitizers' instrumentation in sanitizer
# builds.
ALLOWED_PREFIXES='__asan_ __ubsan_ __tsan_ __sanitizer_ __msan_'

objs=""
# CMake may pass $<TARGET_OBJECTS> as one ;-separated argument.
for o in $(printf '%s\n' "$@" | tr ';' '\n'); do
  for src in $SIGNAL_SAFE_SOURCES; do
    case $o in */c-src/$src.o | */c-src/$src.obj) objs="$objs $o" ;; esac
  done
done
want=$(echo $SIGNAL_SAFE_SOURCES | wc -w)
have=$(echo $objs | wc -w)
if [ "$have" -ne "$want" ]; then
  echo "check_signal_safe: expected objects for: $SIGNAL_SAFE_SOURCES; found:$objs"
  exit 1
fi

# inprof__ symbols defined by the signal-safe objects themselves are allowed.
defined=$(nm --defined-only $objs | awk 'NF == 3 {print $3}' | sort -u)
bad=0
for o in $objs; do
  for sym in $(nm -u "$o" | awk '{print $2}'); do
    ok=0
    if printf '%s\n' "$ALLOWED" | grep -qx "$sym"; then ok=1; fi
    if printf '%s\n' "$defined" | grep -qx "$sym"; then ok=1; fi
    for p in $ALLOWED_PREFIXES; do
      case $sym in "$p"*) ok=1 ;; esac
    done
    if [ $ok = 0 ]; then
      echo "check_signal_safe: $o calls $sym, which is not on the async-signal-safe allow-list"
      bad=1
    fi
  done
done
[ $bad = 0 ] || exit 1
echo "check_signal_safe: ok ($(echo $objs | wc -w) objects)"
