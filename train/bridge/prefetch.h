// Batches made ahead of the trainer on a background thread, so the model never waits for image
// decoding. Because a BridgeBatchFn is a pure function of (step, micro), the batches that come out
// are exactly those of the wrapped function: prefetching changes timing, never data (resume stays
// bit-exact). Errors thrown while making a batch are re-thrown by the call that asks for it.
#pragma once

#include <cstdint>

#include "train/bridge/trainer.h"

namespace rscapret::train {

// Wraps `fn`: asking for (step, micro) starts the next `depth` micro-batches (in the order
// (step, 0..grad_accum-1), (step + 1, 0), ...) on a background thread. depth <= 0 returns fn.
BridgeBatchFn prefetch_batches(BridgeBatchFn fn, int64_t grad_accum, int64_t depth = 2);

}  // namespace rscapret::train
