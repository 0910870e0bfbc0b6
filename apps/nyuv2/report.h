#pragma once
// `gradnorm-nyuv2 report RUN...`: the paper's Table 1 layout (depth RMS error, segmentation 100 - IoU,
// normals 1 - |cos|) plus the usual NYUv2 metrics, one row per run summary, as a markdown table.
#include <filesystem>
#include <string>
#include <vector>

namespace gn::nyuv2 {

// Each argument is a run folder holding <method>/summary.json files (what `train --out RUN` writes), a
// folder holding summary.json, or a summary.json itself. Throws naming an argument with no summary.
std::string report_table(const std::vector<std::filesystem::path>& runs);

}  // namespace gn::nyuv2
