#pragma once
// The kernel lab's shared harness (in the manner of llm.c's dev/cuda): each lab
// executable validates every numbered variant of its kernels against the float64 CPU reference
// (kernels/cpu) at awkward sizes, then times them and prints one markdown table.
//
// Timing: CUDA events around one launch sequence, after an L2 flush (a cudaMemsetAsync over a buffer of
// max(256 MB, 2 x L2) bytes, so every timed run starts from HBM), median of --repeats runs.
// Bandwidth: GB/s = the bytes the kernel must move (inputs read once + outputs written once; the
// algorithmic minimum, the same for every variant) / time. The copy baseline is cudaMemcpyAsync
// device-to-device moving the same number of bytes (a copy of bytes/2: read + write), measured in the
// same run with the same flush; "of copy" = kernel GB/s / copy GB/s.
//
// Flags: --repeats N (default 30), --csv PATH (also write the table as CSV), --quick (fewer sizes).
// Exit status: 0 on success or when no GPU is present ("skipped: no GPU" on one line); 1 when a variant
// fails validation or a CUDA call fails.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cuda/stream.h"

namespace gn::lab {

// Throws (main turns it into exit status 1).
#define LAB_CUDA(expr)                                                                            \
  do {                                                                                            \
    const cudaError_t lab_err_ = (expr);                                                          \
    if (lab_err_ != cudaSuccess)                                                                  \
      throw std::runtime_error(std::string("CUDA error ") + cudaGetErrorName(lab_err_) + " (" +   \
                               cudaGetErrorString(lab_err_) + ") in " #expr " at " __FILE__ ":" + \
                               std::to_string(__LINE__));                                         \
  } while (0)

struct Args {
  int repeats = 30;
  std::string csv;
  bool quick = false;
};

inline Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    if (s == "--repeats" && i + 1 < argc)
      a.repeats = std::max(1, std::atoi(argv[++i]));
    else if (s == "--csv" && i + 1 < argc)
      a.csv = argv[++i];
    else if (s == "--quick")
      a.quick = true;
    else
      throw std::runtime_error("unknown argument '" + s + "' (expected --repeats N, --csv PATH, --quick)");
  }
  return a;
}

// False (after printing one line) when no CUDA device answers; the lab then exits 0.
inline bool gpu_available(const char* lab) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    std::printf("%s: skipped: no GPU (%s)\n", lab,
                err != cudaSuccess ? cudaGetErrorString(err) : "no CUDA device found");
    return false;
  }
  return true;
}

inline cudaStream_t stream() { return gn::cuda::current_stream(); }

// printf-style std::string (labels are built this way: GCC 12 warns falsely, -Wrestrict, on
// "literal" + std::string).
template <class... A>
std::string str(const char* format, A... args) {
  char buf[512];
  std::snprintf(buf, sizeof(buf), format, args...);
  return buf;
}

inline void print_device() {
  int dev = 0;
  LAB_CUDA(cudaGetDevice(&dev));
  cudaDeviceProp p{};
  LAB_CUDA(cudaGetDeviceProperties(&p, dev));
  std::printf("device: %s, %d SMs, L2 %.0f MB, %.1f GB memory\n\n", p.name, p.multiProcessorCount,
              p.l2CacheSize / 1048576.0, static_cast<double>(p.totalGlobalMem) / 1e9);
}

// ---- device memory -------------------------------------------------------------------------------

template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::int64_t n) : n_(n) {
    if (n > 0) LAB_CUDA(cudaMalloc(&ptr_, sizeof(T) * static_cast<std::size_t>(n)));
  }
  ~DeviceBuffer() {
    if (ptr_ != nullptr) {
      cudaStreamSynchronize(stream());
      cudaFree(ptr_);
    }
  }
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), n_(o.n_) { o.ptr_ = nullptr, o.n_ = 0; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(ptr_, o.ptr_);
    std::swap(n_, o.n_);
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* get() const { return ptr_; }
  std::int64_t size() const { return n_; }
  void upload(const std::vector<T>& h) {
    if (n_ == 0) return;
    LAB_CUDA(cudaMemcpyAsync(ptr_, h.data(), sizeof(T) * std::min<std::size_t>(h.size(), n_), cudaMemcpyHostToDevice,
                             stream()));
    LAB_CUDA(cudaStreamSynchronize(stream()));
  }
  std::vector<T> download(std::int64_t count = -1) const {
    if (count < 0) count = n_;
    std::vector<T> h(static_cast<std::size_t>(count));
    if (count > 0) LAB_CUDA(cudaMemcpyAsync(h.data(), ptr_, sizeof(T) * h.size(), cudaMemcpyDeviceToHost, stream()));
    LAB_CUDA(cudaStreamSynchronize(stream()));
    return h;
  }
  // All bytes 0xFF: NaN for float and double, -1 for int. Outputs are poisoned before every validation.
  void poison() {
    if (n_ > 0) LAB_CUDA(cudaMemsetAsync(ptr_, 0xFF, sizeof(T) * static_cast<std::size_t>(n_), stream()));
  }

 private:
  T* ptr_ = nullptr;
  std::int64_t n_ = 0;
};

// ---- data ----------------------------------------------------------------------------------------

// Standard normal values, or (integers = true) small integers in [-2, 2]: with those every sum the
// kernels form stays an integer below 2^24, so float arithmetic is exact and a GPU result must equal the
// CPU reference bit for bit: any indexing mistake shows, whatever the size.
template <class T>
std::vector<T> random_values(std::int64_t n, std::uint64_t seed, bool integers) {
  std::mt19937_64 gen(seed);
  std::vector<T> v(static_cast<std::size_t>(n));
  if (integers) {
    std::uniform_int_distribution<int> d(-2, 2);
    for (auto& x : v) x = static_cast<T>(d(gen));
  } else {
    std::normal_distribution<double> d(0.0, 1.0);
    for (auto& x : v) x = static_cast<T>(d(gen));
  }
  return v;
}

template <class T>
const char* dtype_name() {
  return sizeof(T) == 4 ? "f32" : "f64";
}

// Rounding bound for a sum of non-negative terms whose longest sequential chain is `chain` additions:
// relative error <= chain * u (u = eps / 2); eps * (chain + 64) leaves a 2x margin and room for the
// squaring and the reduction trees.
template <class T>
double sum_rtol(std::int64_t chain) {
  return std::numeric_limits<T>::epsilon() * static_cast<double>(chain + 64);
}

// ---- validation ----------------------------------------------------------------------------------

// Collects failures; prints the first few. `where` names the case; `index` (if >= 0) the element. The
// message is only built on failure, so checking millions of elements stays cheap.
class Checker {
 public:
  explicit Checker(std::string what) : what_(std::move(what)) {}
  // |got - want| <= tol; a NaN never passes.
  void near(double got, double want, double tol, const std::string& where, std::int64_t index = -1) {
    ++checks_;
    if (!(std::abs(got - want) <= tol))
      fail(where, index, "got " + fmt(got) + ", want " + fmt(want) + " (tol " + fmt(tol) + ")");
  }
  void equal_bits(double got, double want, const std::string& where, std::int64_t index = -1) {
    ++checks_;
    if (std::memcmp(&got, &want, sizeof(double)) != 0)
      fail(where, index, "got " + fmt(got) + ", want exactly " + fmt(want));
  }
  void truth(bool cond, const std::string& where, const char* what = "check failed") {
    ++checks_;
    if (!cond) fail(where, -1, what);
  }
  bool ok() const { return failures_ == 0; }
  void report() const {
    if (ok())
      std::printf("validated %s: %lld checks passed\n", what_.c_str(), static_cast<long long>(checks_));
    else
      std::printf("VALIDATION FAILED %s: %lld of %lld checks failed\n", what_.c_str(),
                  static_cast<long long>(failures_), static_cast<long long>(checks_));
  }

 private:
  static std::string fmt(double x) {
    char b[64];
    std::snprintf(b, sizeof(b), "%.17g", x);
    return b;
  }
  void fail(const std::string& where, std::int64_t index, const std::string& msg) {
    if (failures_++ < 10)
      std::printf("  FAIL %s: %s%s: %s\n", what_.c_str(), where.c_str(),
                  index >= 0 ? str(" [%lld]", static_cast<long long>(index)).c_str() : "", msg.c_str());
  }
  std::string what_;
  std::int64_t checks_ = 0, failures_ = 0;
};

// ---- timing --------------------------------------------------------------------------------------

class Bench {
 public:
  explicit Bench(int repeats) : repeats_(repeats) {
    int dev = 0, l2 = 0;
    LAB_CUDA(cudaGetDevice(&dev));
    LAB_CUDA(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, dev));
    flush_bytes_ = std::max<std::size_t>(std::size_t{256} << 20, 2 * static_cast<std::size_t>(l2));
    LAB_CUDA(cudaMalloc(&flush_, flush_bytes_));
    LAB_CUDA(cudaEventCreate(&start_));
    LAB_CUDA(cudaEventCreate(&stop_));
  }
  ~Bench() {
    cudaStreamSynchronize(stream());
    cudaFree(flush_);
    cudaFree(copy_src_);
    cudaFree(copy_dst_);
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  Bench(const Bench&) = delete;
  Bench& operator=(const Bench&) = delete;

  // Median milliseconds of fn() (which launches on stream()), each run after an L2 flush.
  double median_ms(const std::function<void()>& fn) {
    fn();  // warm-up: module loading, first-touch
    LAB_CUDA(cudaStreamSynchronize(stream()));
    std::vector<float> ms(static_cast<std::size_t>(repeats_));
    for (auto& m : ms) {
      LAB_CUDA(cudaMemsetAsync(flush_, 0, flush_bytes_, stream()));  // evicts everything in L2
      LAB_CUDA(cudaEventRecord(start_, stream()));
      fn();
      LAB_CUDA(cudaEventRecord(stop_, stream()));
      LAB_CUDA(cudaEventSynchronize(stop_));
      LAB_CUDA(cudaEventElapsedTime(&m, start_, stop_));
    }
    LAB_CUDA(cudaGetLastError());
    std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
    return ms[ms.size() / 2];
  }

  // The copy baseline: median ms of a device-to-device cudaMemcpyAsync that moves bytes_moved bytes in
  // total (copies bytes_moved / 2, rounded to 16 bytes).
  double copy_ms(double bytes_moved) {
    const std::size_t half = std::max<std::size_t>(16, static_cast<std::size_t>(bytes_moved / 2) / 16 * 16);
    if (half > copy_bytes_) {
      cudaStreamSynchronize(stream());
      cudaFree(copy_src_);
      cudaFree(copy_dst_);
      copy_src_ = copy_dst_ = nullptr;
      LAB_CUDA(cudaMalloc(&copy_src_, half));
      LAB_CUDA(cudaMalloc(&copy_dst_, half));
      LAB_CUDA(cudaMemsetAsync(copy_src_, 0, half, stream()));
      copy_bytes_ = half;
    }
    return median_ms(
        [&] { LAB_CUDA(cudaMemcpyAsync(copy_dst_, copy_src_, half, cudaMemcpyDeviceToDevice, stream())); });
  }

 private:
  int repeats_;
  void* flush_ = nullptr;
  std::size_t flush_bytes_ = 0;
  void* copy_src_ = nullptr;
  void* copy_dst_ = nullptr;
  std::size_t copy_bytes_ = 0;
  cudaEvent_t start_{}, stop_{};
};

// ---- results table -------------------------------------------------------------------------------

struct Row {
  std::string kernel;  // e.g. "task_norms"
  std::string dtype;   // f32 / f64
  int variant = 0;     // 0 = the copy baseline
  std::string shape;   // e.g. "100x100 +bias"
  int tasks = 0;
  double elements = 0;  // total input elements
  double bytes = 0;     // bytes moved (see the header comment)
  double ms = 0;
  double copy_ms = 0;  // the baseline for the same bytes
  double gbps() const { return bytes / (ms * 1e6); }
  double copy_gbps() const { return bytes / (copy_ms * 1e6); }
};

class Table {
 public:
  void add(const Row& r) { rows_.push_back(r); }
  void print() const {
    std::printf("\n| kernel | dtype | variant | shape | T | elements | MB moved | ms | GB/s | copy GB/s | of copy |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (const Row& r : rows_)
      std::printf("| %s | %s | %s | %s | %d | %.0f | %.2f | %.4f | %.1f | %.1f | %.2f |\n", r.kernel.c_str(),
                  r.dtype.c_str(), r.variant == 0 ? "copy" : str("v%d", r.variant).c_str(), r.shape.c_str(), r.tasks,
                  r.elements, r.bytes / 1e6, r.ms, r.gbps(), r.copy_gbps(), r.gbps() / r.copy_gbps());
  }
  void write_csv(const std::string& path) const {
    if (path.empty()) return;
    std::ofstream f(path);
    if (!f) throw std::runtime_error("cannot write " + path);
    f << "kernel,dtype,variant,shape,tasks,elements,bytes,ms,gbps,copy_gbps,fraction_of_copy\n";
    for (const Row& r : rows_)
      f << r.kernel << ',' << r.dtype << ',' << r.variant << ",\"" << r.shape << "\"," << r.tasks << ',' << r.elements
        << ',' << r.bytes << ',' << r.ms << ',' << r.gbps() << ',' << r.copy_gbps() << ',' << r.gbps() / r.copy_gbps()
        << '\n';
    std::printf("wrote %s\n", path.c_str());
  }

 private:
  std::vector<Row> rows_;
};

// main()'s frame: no GPU -> 0; validation failure or error -> 1.
inline int run_lab(const char* name, int argc, char** argv, const std::function<bool(const Args&)>& body) {
  try {
    const Args args = parse_args(argc, argv);
    if (!gpu_available(name)) return 0;
    print_device();
    return body(args) ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", name, e.what());
    return 1;
  }
}

}  // namespace gn::lab
