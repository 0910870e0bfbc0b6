#pragma once
// gradnorm-nyuv2's `convert` subcommand (convert.h): the official NYUv2 .mat files -> the .npy layout.
//   gradnorm-nyuv2 convert --mat nyu_depth_v2_labeled.mat --class-map-40 classMapping40.mat
//       --class-map-13 class13Mapping.mat --splits splits.mat --out DIR [--resize 288x384]
// Every flag is checked when the command line is parsed (files exist, --resize is HxW, --class-map-40 needs
// --class-map-13), before anything is read. main.cpp needs two lines:
//   before root.parse:  const nyuv2::ConvertCommand convert = nyuv2::add_convert_command(root);
//   after it, in the try block that prints gn::Error:
//     if (convert.parsed()) return nyuv2::run_convert_command(convert);
#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "apps/nyuv2/convert.h"

namespace gn::nyuv2 {

// The flags' values (bound to the options, so they live on the heap and outlive the parse).
struct ConvertOptions {
  std::string mat, class_map_40, class_map_13, splits, out, resize;
  bool quiet = false;
};

struct ConvertCommand {
  CLI::App* app = nullptr;  // the "convert" subcommand, owned by the root App
  std::shared_ptr<ConvertOptions> options;
  bool parsed() const { return app != nullptr && app->parsed(); }
};

// Adds the "convert" subcommand and its flags to `root`.
ConvertCommand add_convert_command(CLI::App& root);

// "288x384" -> {288, 384}; throws gn::Error saying what is wrong (sides in [1, 16384]).
std::pair<std::int64_t, std::int64_t> parse_size(const std::string& text);

// The spec the parsed flags describe (no progress or warning printers attached).
ConvertSpec convert_spec(const ConvertOptions& o);

// Converts as the flags say, printing warnings and progress to stderr and a summary to stdout; returns 0.
// Errors are thrown (gn::Error naming the file and variable) for main's handler to print.
int run_convert_command(const ConvertCommand& cmd);

}  // namespace gn::nyuv2
