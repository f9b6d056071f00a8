#!/usr/bin/env bash
# Installs a finished build into a temporary prefix and uses it as an outside project would:
#   1. the installed rscapret runs its demo on the installed model (share/rscapret/assets);
#   2. examples/c_api builds with find_package(rscapret) and with pkg-config, and its captions,
#      search results and chat equal the installed program's;
#   3. librscapret.so exports the C API and nothing else.
# Usage: install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
tmp=$(mktemp -d)
trap '[[ -n ${KEEP_TMP:-} ]] || rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

cmake --install "$build" --prefix "$prefix" > "$tmp/install.log"
assets=$prefix/share/rscapret/assets
model=$assets/model
lib=$(find "$prefix" -name 'librscapret.so.1' | head -n 1)
pcdir=$(dirname "$(find "$prefix" -name rscapret.pc | head -n 1)")
[[ -f $prefix/bin/rscapret && -f $model/bridge.json && -n $lib && -f $prefix/include/rscapret/rscapret.h ]] || {
  echo "FAIL: the install lacks the program, the model, the library or the header:"; cat "$tmp/install.log"; exit 1; }

# 1. The demo from the install finds the installed model (not the source tree's).
(cd "$tmp" && env -u RSCAPRET_ASSETS "$prefix/bin/rscapret" demo --html "$tmp/demo.html" > "$tmp/demo.txt" 2>&1) || {
  echo "FAIL: the installed demo"; cat "$tmp/demo.txt"; exit 1; }
grep -qF "== Model: $model" "$tmp/demo.txt" || { echo "FAIL: the demo did not use $model:"; head -3 "$tmp/demo.txt"; exit 1; }

# 2. A consumer built with CMake ...
generator=()
command -v ninja > /dev/null && generator=(-G Ninja)
cmake -S "$src/examples/c_api" -B "$tmp/ex" "${generator[@]}" -DCMAKE_PREFIX_PATH="$prefix" > "$tmp/ex.log" 2>&1 &&
  cmake --build "$tmp/ex" >> "$tmp/ex.log" 2>&1 || { echo "FAIL: building the CMake consumer"; cat "$tmp/ex.log"; exit 1; }
images=("$assets"/samples/*.png)
"$tmp/ex/rscapret_example" caption "$model" "${images[@]:0:5}" > "$tmp/api_captions.txt"
"$prefix/bin/rscapret" caption --model "$model" "${images[@]:0:5}" > "$tmp/cli_captions.txt" 2> /dev/null
diff "$tmp/api_captions.txt" "$tmp/cli_captions.txt" || { echo "FAIL: captions differ (library < > program)"; exit 1; }
[[ $(wc -l < "$tmp/api_captions.txt") -eq 5 ]] || { echo "FAIL: expected 5 captions"; exit 1; }

# ... and one built with pkg-config alone (plain C99, warnings as errors).
flags=$(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs rscapret)
# shellcheck disable=SC2086
cc -std=c99 -Wall -Wextra -Werror "$src/examples/c_api/rscapret_example.c" $flags -o "$tmp/ex_pc"
LD_LIBRARY_PATH=$(dirname "$lib") "$tmp/ex_pc" search "$model" "$tmp/index.safetensors" "a river" "${images[@]}" \
  > "$tmp/api_search.txt"
"$prefix/bin/rscapret" retrieve "a river" --index "$tmp/index.safetensors" -k 5 > "$tmp/cli_search.txt" 2> /dev/null
diff "$tmp/api_search.txt" "$tmp/cli_search.txt" || { echo "FAIL: search results differ (library < > program)"; exit 1; }
[[ $(wc -l < "$tmp/api_search.txt") -eq 5 ]] || { echo "FAIL: expected 5 hits"; exit 1; }
printf 'what is in this image?\n/retrieve a river\n' > "$tmp/turns.txt"
LD_LIBRARY_PATH=$(dirname "$lib") "$tmp/ex_pc" chat "$model" "$tmp/index.safetensors" "${images[0]}" \
  < "$tmp/turns.txt" > "$tmp/api_chat.txt"
"$prefix/bin/rscapret" chat --model "$model" --index "$tmp/index.safetensors" --image "${images[0]}" \
  < "$tmp/turns.txt" > "$tmp/cli_chat.txt" 2> /dev/null
diff "$tmp/api_chat.txt" "$tmp/cli_chat.txt" || { echo "FAIL: chat differs (library < > program)"; exit 1; }
[[ $(grep -c '^A: ' "$tmp/api_chat.txt") -eq 2 && $(grep -c '^\[RET\] ' "$tmp/api_chat.txt") -ge 3 ]] || {
  echo "FAIL: expected two answers and a retrieval:"; cat "$tmp/api_chat.txt"; exit 1; }

# 3. Only the C API is exported (plus the version node).
extra=$(nm -D --defined-only "$lib" | awk '{print $NF}' | sed 's/@.*//' | grep -v -e '^rscapret_' -e '^RSCAPRET_1$' || true)
[[ -z $extra ]] || { echo "FAIL: librscapret.so exports more than the C API:"; echo "$extra" | head; exit 1; }
[[ $(nm -D --defined-only "$lib" | grep -c ' T rscapret_') -ge 20 ]] || { echo "FAIL: the C API is not exported"; exit 1; }
echo "install, consumers (CMake, pkg-config), program and exports: OK"
