#include "apps/nyuv2/convert_cli.h"

#include <fmt/format.h>

#include <charconv>
#include <cstdio>

#include "apps/common/writers.h"
#include "core/error.h"

namespace gn::nyuv2 {

std::pair<std::int64_t, std::int64_t> parse_size(const std::string& text) {
  const std::size_t x = text.find('x');
  auto side = [&](std::string_view s) {
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    GN_CHECK(!s.empty() && s.front() != '-' && s.front() != '+' && ec == std::errc() && end == s.data() + s.size() &&
                 v >= 1 && v <= 16384,
             "'{}' is not a size HxW with H and W in [1, 16384] (e.g. 288x384)", text);
    return v;
  };
  GN_CHECK(x != std::string::npos, "'{}' is not a size HxW with H and W in [1, 16384] (e.g. 288x384)", text);
  const std::string_view all(text);
  return {side(all.substr(0, x)), side(all.substr(x + 1))};
}

ConvertCommand add_convert_command(CLI::App& root) {
  ConvertCommand cmd;
  cmd.options = std::make_shared<ConvertOptions>();
  ConvertOptions& o = *cmd.options;
  CLI::App* c = root.add_subcommand(
      "convert", "convert the official NYUv2 labeled .mat (+ class maps, splits) to the .npy layout (needs libmatio)");
  cmd.app = c;
  c->add_option("--mat", o.mat, "nyu_depth_v2_labeled.mat (images, depths, labels)")
      ->required()
      ->check(CLI::ExistingFile);
  CLI::Option* m13 =
      c->add_option("--class-map-13", o.class_map_13, "class13Mapping.mat (classMapping13.labels13: 40 -> 13 classes)")
          ->check(CLI::ExistingFile);
  c->add_option("--class-map-40", o.class_map_40, "classMapping40.mat (mapClass: 894 -> 40 classes)")
      ->check(CLI::ExistingFile)
      ->needs(m13);
  c->add_option("--splits", o.splits,
                "splits.mat (trainNdxs, testNdxs); without it an UNOFFICIAL split is used, with a warning")
      ->check(CLI::ExistingFile);
  c->add_option("--out", o.out, "data folder to write (DIR/train, DIR/val must not exist or be empty)")->required();
  c->add_option("--resize", o.resize, "output size HxW, e.g. 288x384 (default: as stored, 480x640)")
      ->check(CLI::Validator(
          [](std::string& s) {
            try {
              parse_size(s);
            } catch (const Error& e) {
              return std::string(e.what());
            }
            return std::string();
          },
          "HxW", "size"));
  c->add_flag("--quiet", o.quiet, "no progress lines");
  return cmd;
}

ConvertSpec convert_spec(const ConvertOptions& o) {
  ConvertSpec spec;
  spec.mat = o.mat;
  spec.class_map_40 = o.class_map_40;
  spec.class_map_13 = o.class_map_13;
  spec.splits = o.splits;
  spec.out = o.out;
  if (!o.resize.empty()) std::tie(spec.height, spec.width) = parse_size(o.resize);
  return spec;
}

int run_convert_command(const ConvertCommand& cmd) {
  GN_CHECK(cmd.options != nullptr, "run_convert_command: the command was not added with add_convert_command");
  const ConvertOptions& o = *cmd.options;
  ConvertSpec spec = convert_spec(o);
  app::prepare_output_dir(spec.out);  // an unwritable --out fails now
  spec.warn = [](const std::string& w) { fmt::print(stderr, "gradnorm-nyuv2 convert: WARNING: {}\n", w); };
  std::int64_t last_percent = -1;
  if (!o.quiet) {
    spec.progress = [&](std::int64_t done, std::int64_t total) {
      const std::int64_t percent = done * 100 / total;
      if (percent / 5 == last_percent / 5 && done != total) return;
      last_percent = percent;
      fmt::print(stderr, "gradnorm-nyuv2 convert: {}/{} samples\n", done, total);
    };
  }
  const ConvertResult r = convert_nyuv2_mat(spec);
  fmt::print("converted {} ({}, {} samples of {}x{}) to {}: {} train, {} val of {}x{}, {} split\n", o.mat,
             r.mat_version, r.samples, r.height, r.width, o.out, r.train.size(), r.val.size(), r.out_height,
             r.out_width, r.official_split ? "the official" : "an UNOFFICIAL");
  for (const std::string& w : r.warnings) fmt::print(stderr, "gradnorm-nyuv2 convert: WARNING: {}\n", w);
  return 0;
}

}  // namespace gn::nyuv2
