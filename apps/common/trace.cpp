#include "apps/common/trace.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <iterator>
#include <numeric>

namespace gn::app {

std::string format_trace(const multitask::StepStats& s) {
  auto v = [](const std::vector<double>& x) { return fmt::format("{::.6g}", x); };
  std::string out;
  auto line = std::back_inserter(out);
  fmt::format_to(line, "--- step {} ---\n", s.step);
  fmt::format_to(line, "  L_i                 {}\n", v(s.losses));
  fmt::format_to(line, "  g_i = |grad_W L_i|  {}\n", v(s.grad_norms));
  fmt::format_to(line, "  G_i = w_i g_i       {}\n", v(s.weighted_norms));
  fmt::format_to(line, "  w before            {}\n", v(s.weights));
  for (const auto& [name, values] : s.diagnostics.entries) fmt::format_to(line, "  {:<19} {}\n", name, v(values));
  fmt::format_to(line, "  w after             {}  (sum {:.6g})\n", v(s.next_weights),
                 std::accumulate(s.next_weights.begin(), s.next_weights.end(), 0.0));
  return out;
}

void print_trace(const multitask::StepStats& stats) { fmt::print("{}", format_trace(stats)); }

}  // namespace gn::app
