#!/usr/bin/env bash
# The embedded pipeline trained from scratch on real data: UCM-Captions' train split (1,680 images,
# 8,400 captions), evaluated on its test split (210 images) with the paper's tables. Nothing trained
# here is committed (the issue forbids UCM weights in the repository).
# Usage: bash scripts/train_ucm.sh UCM_DIR        (UCM_DIR holds dataset_ucm.json and images/)
# Work files and logs go to $RSCAPRET_WORK (default /tmp/rscapret_ucm).
set -euo pipefail
cd "$(dirname "$0")/.."
UCM=${1:?usage: train_ucm.sh UCM_DIR}
bash scripts/build.sh
R=./build/app/rscapret
W=${RSCAPRET_WORK:-/tmp/rscapret_ucm}
rm -rf "$W"
mkdir -p "$W"
DATA="$UCM/dataset_ucm.json:$UCM/images"

source scripts/pipeline_common.sh

T0=$SECONDS
stage tokenizer_llama $R train tokenizer --data "$DATA" --kind llama --vocab-size 1024 --out "$W/tok_llama"
stage tokenizer_clip $R train tokenizer --data "$DATA" --kind clip --vocab-size 0 --out "$W/tok_clip"
# The same sizes and recipe as scripts/pretrain_default.sh (64 px CLIP, 192-wide decoder, K = 4);
# override a stage with UCM_CLIP_ARGS / UCM_LM_ARGS / UCM_BRIDGE_ARGS.
stage clip $R train clip --data "$DATA" --tokenizer "$W/tok_clip/vocab.json" --out "$W/clip" --quiet \
  ${UCM_CLIP_ARGS:---steps 1000 --batch 64 --augment --save-dtype bf16}
stage lm $R train lm --data "$DATA" --tokenizer "$W/tok_llama/tokenizer.json" --out "$W/llama" --quiet \
  ${UCM_LM_ARGS:---steps 1500 --batch 32 --save-dtype bf16}
stage bridge $R train bridge --clip "$W/clip" --llama "$W/llama" --data "$DATA" --out "$W/bridge" --quiet \
  ${UCM_BRIDGE_ARGS:---backbone-dtype f32 --visual-tokens 4 --concat-prob 0 --steps 1200 --batch 32 --lr 1e-3 --val-images 210}
stage eval $R eval --model "$W/bridge" --data "$DATA" --split test --json "$W/eval_test.json" "${METEOR_ARGS[@]}"
echo "== total: $((SECONDS - T0)) s (stages in $W/times.txt)"
