// Everything in nn/ except the optimizer (nn/optim/).
#pragma once

#include "nn/attention.h"
#include "nn/dropout.h"
#include "nn/embedding.h"
#include "nn/init.h"
#include "nn/kv_cache.h"
#include "nn/linear.h"
#include "nn/losses.h"
#include "nn/mlp.h"
#include "nn/module.h"
#include "nn/norm.h"
