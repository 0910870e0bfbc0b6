#pragma once
// Convolution ops (NCHW): declarations live here, definitions in core/ops_conv.cpp. Included by core/ops.h.
#include "core/tensor.h"
