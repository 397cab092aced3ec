#!/bin/sh
# libinprof.so exports exactly the functions the public header declares:
# hidden visibility for everything else, libiberty's symbols included.
set -eu
lib=$1 header=$2
want=$(sed -n 's/^INPROF_EXPORT [^(]*[ *]\(inprof_[a-z_]*\)(.*/\1/p' "$header" | sort)
have=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBWVR]$/ {print $3}' | sort)
[ -n "$want" ] || { echo "no INPROF_EXPORT functions found in $header"; exit 1; }
if [ "$want" != "$have" ]; then
  echo "exported symbols differ from the header"
  echo "--- header"; echo "$want"; echo "--- $lib"; echo "$have"
  exit 1
fi
echo "check_exports: ok ($(echo "$want" | wc -l) symbols)"
