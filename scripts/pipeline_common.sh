# Sourced by the pipeline scripts (pretrain_default.sh, train_ucm.sh) after the build, with $W set.

stage() {  # stage NAME COMMAND...: runs, logs, and times one stage
  local name=$1
  shift
  local t0=$SECONDS
  echo "== $name: $*"
  "$@" 2>&1 | tee "$W/$name.log"
  echo "== $name: $((SECONDS - t0)) s" | tee -a "$W/times.txt"
}

# METEOR needs its word lists: $RSCAPRET_METEOR_DATA, else metrics/meteor-data of the shared
# reference files (scripts/shared_dir.sh); without them the table says NA. SPICE needs the official
# jar (NA here).
METEOR_ARGS=()
source "$(dirname "${BASH_SOURCE[0]}")/shared_dir.sh"
shared=${RSCAPRET_SHARED:-}
meteor_data=${RSCAPRET_METEOR_DATA:-${shared:+$shared/metrics/meteor-data}}
if [ -n "$meteor_data" ] && [ -d "$meteor_data" ]; then METEOR_ARGS=(--meteor-data "$meteor_data"); fi
