#pragma once
// The --trace printout of one training step: the losses, the per-task gradient norms, the weights before
// and after, and every diagnostic the weighting lists (StepStats::diagnostics), one line each.
#include <string>

#include "multitask/step.h"

namespace gn::app {

// The block print_trace prints, "--- step t ---" and one line per quantity.
std::string format_trace(const multitask::StepStats& stats);
// format_trace to stdout.
void print_trace(const multitask::StepStats& stats);

}  // namespace gn::app
