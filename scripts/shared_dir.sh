# Sourced by the scripts that use the shared reference files (fixtures, datasets, METEOR's word
# lists) when present: RSCAPRET_SHARED, else a folder named `shared` beside the checkout (where the
# project's machines keep it), exported for the tests and tools they run. The build itself names no
# such folder; without one, the tests that need it skip with a message.
if [ -z "${RSCAPRET_SHARED:-}" ]; then
  _rscapret_beside=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/shared
  if [ -d "$_rscapret_beside" ]; then export RSCAPRET_SHARED=$_rscapret_beside; fi
  unset _rscapret_beside
fi
