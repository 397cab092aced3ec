#!/bin/sh
# `cmake --install` gives a prefix from which a C program links libinprof
# both ways the README shows: dynamically with pkg-config, and statically
# with libinprof.a plus `pkg-config --static --libs`, and from CMake with
# find_package(inprof) + inprof::inprof, shared (found through its rpath,
# no LD_LIBRARY_PATH) and static. Every program runs.
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
# The README's lines, word for word: the libdir comes from pkg-config.
cc "$prefix/app.c" -o "$prefix/app-rpath" $(pkg-config --cflags --libs inprof) \
  -Wl,-rpath,"$(pkg-config --variable=libdir inprof)"
env -u LD_LIBRARY_PATH "$prefix/app-rpath"
cc "$prefix/app.c" -o "$prefix/app-static" $(pkg-config --cflags inprof) \
  "$(pkg-config --variable=libdir inprof)/libinprof.a" \
  $(pkg-config --static --libs inprof | sed 's/-linprof//')
if ldd "$prefix/app-static" | grep -q libinprof; then
  echo "app-static still loads libinprof.so"; exit 1
fi
"$prefix/app-static"

# CMake consumers. The prefix is moved first: the package config must find
# the library from where it lies, not from where it was installed.
moved="$prefix/moved"
mkdir "$moved" && cp -a "$prefix/include" "$(dirname "$libdir")"/lib* "$moved/"
for mode in shared static; do
  proj="$prefix/cmake-$mode"
  mkdir -p "$proj"
  cp "$prefix/app.c" "$proj/app.c"
  cat > "$proj/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.16)
project(inprof_consumer C)
find_package(inprof 0.1 REQUIRED)
add_executable(app app.c)
target_link_libraries(app PRIVATE inprof::inprof)
CMAKE
  static_flag=OFF
  [ "$mode" = static ] && static_flag=ON
  cmake -S "$proj" -B "$proj/build" -DCMAKE_PREFIX_PATH="$moved" \
    -DINPROF_USE_STATIC_LIBS=$static_flag >"$proj/configure.log" 2>&1 ||
    { cat "$proj/configure.log"; exit 1; }
  cmake --build "$proj/build" >"$proj/build.log" 2>&1 || { cat "$proj/build.log"; exit 1; }
  if [ "$mode" = static ]; then
    if ldd "$proj/build/app" | grep -q libinprof; then
      echo "cmake static app loads libinprof.so"; exit 1
    fi
  else
    ldd "$proj/build/app" | grep -q "$moved/.*libinprof.so" ||
      { echo "cmake shared app does not load the moved libinprof.so:"; ldd "$proj/build/app"; exit 1; }
  fi
  env -u LD_LIBRARY_PATH "$proj/build/app"
done
echo "check_install: ok"
