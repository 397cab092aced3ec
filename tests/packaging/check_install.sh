#!/bin/sh
# `cmake --install` gives a prefix from which a C program links libinprof
# both ways the README shows: dynamically with pkg-config, and statically
# with libinprof.a plus `pkg-config --static --libs`. Both programs run.
set -eu
build=$1 src=$2
prefix=$(mktemp -d /tmp/inprof-install-XXXXXX)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(ls -d "$prefix"/lib*/pkgconfig | head -n 1 | xargs dirname)
test -f "$prefix/include/inprof.h"
test -f "$libdir/libinprof.a"
test -f "$libdir/libinprof.so"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
cat > "$prefix/app.c" <<'C'
#include <inprof.h>
#include <stdio.h>
int main(void) {
  inprof_config cfg;
  inprof_config_init(&cfg);
  cfg.upload = INPROF_UPLOAD_OFF;
  if (inprof_start(&cfg) != INPROF_OK) { fprintf(stderr, "%s\n", inprof_last_error()); return 1; }
  if (inprof_stop(2000) != INPROF_OK) return 1;
  printf("linked inprof %u\n", inprof_version());
  return 0;
}
C
cc "$prefix/app.c" -o "$prefix/app-dynamic" $(pkg-config --cflags --libs inprof)
LD_LIBRARY_PATH="$libdir" "$prefix/app-dynamic"
cc "$prefix/app.c" -o "$prefix/app-static" $(pkg-config --cflags inprof) "$libdir/libinprof.a" \
  $(pkg-config --static --libs inprof | sed 's/-linprof//')
if ldd "$prefix/app-static" | grep -q libinprof; then
  echo "app-static still loads libinprof.so"; exit 1
fi
"$prefix/app-static"
echo "check_install: ok"
