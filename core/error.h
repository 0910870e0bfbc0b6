#pragma once
#include "kernels/error.h"  // IWYU pragma: export
