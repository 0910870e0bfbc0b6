#pragma once
// Batch norm, pooling with indices, unpooling and upsampling ops (NCHW): declarations live here,
// definitions in core/ops_pool.cpp. Included by core/ops.h.
#include "core/tensor.h"
