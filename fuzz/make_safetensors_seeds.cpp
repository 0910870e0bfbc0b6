// Writes the safetensors seed corpus (fuzz/corpus/safetensors/) with our own writer: a few tiny valid files
// and a few invalid ones derived from them. Run from the repository root after building build-fuzz:
//   build-fuzz/fuzz/make_safetensors_seeds fuzz/corpus/safetensors
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "nn/safetensors.h"

namespace {

void put(const std::filesystem::path& dir, const char* name, const std::string& bytes) {
  std::ofstream(dir / name, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

int main(int argc, char** argv) {
  using gn::DType;
  using gn::Tensor;
  const std::filesystem::path dir = argc > 1 ? argv[1] : "fuzz/corpus/safetensors";
  std::filesystem::create_directories(dir);
  namespace nn = gn::nn;
  const std::string empty = nn::encode_safetensors({});
  const std::string one = nn::encode_safetensors({{"w", Tensor::from_vector(std::vector<double>{1.5, -2}, {2})}});
  const std::vector<std::int64_t> ids{std::numeric_limits<std::int64_t>::min(), 0, 5};
  const std::string mixed =
      nn::encode_safetensors({{"model.w", Tensor::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3})},
                              {"model.b", Tensor::from_vector(std::vector<double>{0.25}, {1}, DType::Float64)},
                              {"step", nn::state_count(7)},
                              {"lr", nn::state_scalar(0.025)},
                              {"ids", Tensor::from_labels(ids, {3, 1})}},
                             {{"method", "gradnorm"}, {"format", "gradnorm-checkpoint-1"}});
  put(dir, "valid_empty", empty);
  put(dir, "valid_one_f32", one);
  put(dir, "valid_mixed", mixed);
  // Invalid: truncated data, a header length past the end, a header that is not JSON, no bytes at all.
  put(dir, "bad_truncated", mixed.substr(0, mixed.size() - 3));
  std::string long_header = one;
  const std::uint64_t huge = std::uint64_t{1} << 62;
  std::memcpy(long_header.data(), &huge, 8);
  put(dir, "bad_header_length", long_header);
  std::string not_json = one;
  not_json[8] = '[';
  put(dir, "bad_not_json", not_json);
  put(dir, "bad_short", one.substr(0, 5));
  return 0;
}
