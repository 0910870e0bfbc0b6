// 2-d convolution through cuDNN's legacy convolution API (cudnnConvolutionForward, ...BackwardData,
// ...BackwardFilter, ...BackwardBias). That API is deprecated in cuDNN 9 in favour of the graph
// (backend / frontend) API; it is kept behind this one file so the graph API can replace it without
// touching anything above kernels/. The deprecation warnings are silenced here only.
//
// Per (dtype, shape) one plan, made on first use and cached in the per-device context
// (DeviceContext::cached): the descriptors and the algorithm of each direction, picked once from cuDNN's
// heuristics (cudnnGet*Algorithm_v7) among the deterministic ones that do not use tensor-core math
// (no TF32: results stay comparable with the CPU's float32). Scratch memory is the context's workspace.
#ifdef GN_WITH_CUDNN
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#include "kernels/cuda/conv_cudnn.h"

#include <fmt/format.h>

#include <limits>
#include <memory>
#include <string>
#include <type_traits>

#include "kernels/cuda/context.h"
#include "kernels/cuda/cudnn.h"

namespace gn::cuda {
namespace {

template <class T>
constexpr cudnnDataType_t data_type() {
  return std::is_same_v<T, float> ? CUDNN_DATA_FLOAT : CUDNN_DATA_DOUBLE;
}

int to_int(std::int64_t v, const char* what) {
  GN_CHECK(v >= 0 && v <= std::numeric_limits<int>::max(), "conv2d (cuDNN): {} = {} does not fit in an int", what, v);
  return static_cast<int>(v);
}

// Algorithms listed for plain FMA math (no tensor-op variants). The descriptor is then used with
// CUDNN_FMA_MATH, which on A100 and later forbids TF32 where CUDNN_DEFAULT_MATH would allow it.
bool fma_only(cudnnMathType_t m) { return m == CUDNN_DEFAULT_MATH || m == CUDNN_FMA_MATH; }

template <class Perf>
const Perf* pick(const Perf* perfs, int n, const char* direction) {
  for (int i = 0; i < n; ++i)
    if (perfs[i].status == CUDNN_STATUS_SUCCESS && perfs[i].determinism == CUDNN_DETERMINISTIC &&
        fma_only(perfs[i].mathType))
      return &perfs[i];
  GN_FAIL("conv2d (cuDNN): no deterministic {} algorithm without tensor-core math for this shape", direction);
}

struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t bwd_data{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
  std::size_t fwd_bytes = 0, bwd_data_bytes = 0, bwd_filter_bytes = 0;

  ConvPlan() = default;
  ConvPlan(const ConvPlan&) = delete;
  ConvPlan& operator=(const ConvPlan&) = delete;
  ~ConvPlan() {
    if (x != nullptr) cudnnDestroyTensorDescriptor(x);
    if (y != nullptr) cudnnDestroyTensorDescriptor(y);
    if (bias != nullptr) cudnnDestroyTensorDescriptor(bias);
    if (w != nullptr) cudnnDestroyFilterDescriptor(w);
    if (conv != nullptr) cudnnDestroyConvolutionDescriptor(conv);
  }
};

template <class T>
std::shared_ptr<ConvPlan> make_plan(cudnnHandle_t handle, const ConvShape& s) {
  auto p = std::make_shared<ConvPlan>();
  const cudnnDataType_t dt = data_type<T>();
  GN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
  GN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
  GN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->bias));
  GN_CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
  GN_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv));
  GN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, dt, to_int(s.batch, "batch"),
                                            to_int(s.in_channels, "in_channels"), to_int(s.in_h, "in_h"),
                                            to_int(s.in_w, "in_w")));
  GN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, dt, to_int(s.batch, "batch"),
                                            to_int(s.out_channels, "out_channels"), to_int(s.out_h, "out_h"),
                                            to_int(s.out_w, "out_w")));
  GN_CUDNN_CHECK(
      cudnnSetTensor4dDescriptor(p->bias, CUDNN_TENSOR_NCHW, dt, 1, to_int(s.out_channels, "out_channels"), 1, 1));
  GN_CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w, dt, CUDNN_TENSOR_NCHW, to_int(s.out_channels, "out_channels"),
                                            to_int(s.in_channels, "in_channels"), to_int(s.kernel_h, "kernel_h"),
                                            to_int(s.kernel_w, "kernel_w")));
  GN_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv, to_int(s.pad_h, "pad_h"), to_int(s.pad_w, "pad_w"),
                                                 to_int(s.stride_h, "stride_h"), to_int(s.stride_w, "stride_w"),
                                                 to_int(s.dilation_h, "dilation_h"), to_int(s.dilation_w, "dilation_w"),
                                                 CUDNN_CROSS_CORRELATION, dt));
  GN_CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, CUDNN_FMA_MATH));

  constexpr int kMax = 16;
  int n = 0;
  {
    cudnnConvolutionFwdAlgoPerf_t perfs[kMax];
    GN_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(handle, p->x, p->w, p->conv, p->y, kMax, &n, perfs));
    const auto* best = pick(perfs, n, "forward");
    p->fwd = best->algo;
    GN_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(handle, p->x, p->w, p->conv, p->y, p->fwd, &p->fwd_bytes));
  }
  {
    cudnnConvolutionBwdDataAlgoPerf_t perfs[kMax];
    GN_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, p->w, p->y, p->conv, p->x, kMax, &n, perfs));
    const auto* best = pick(perfs, n, "backward-data");
    p->bwd_data = best->algo;
    GN_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(handle, p->w, p->y, p->conv, p->x, p->bwd_data,
                                                                &p->bwd_data_bytes));
  }
  {
    cudnnConvolutionBwdFilterAlgoPerf_t perfs[kMax];
    GN_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle, p->x, p->y, p->conv, p->w, kMax, &n, perfs));
    const auto* best = pick(perfs, n, "backward-filter");
    p->bwd_filter = best->algo;
    GN_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(handle, p->x, p->y, p->conv, p->w, p->bwd_filter,
                                                                  &p->bwd_filter_bytes));
  }
  return p;
}

// The context, its cuDNN handle (bound to the device's one stream, which is `stream`) and the plan.
template <class T>
std::shared_ptr<ConvPlan> plan_for(DeviceContext& ctx, const ConvShape& s) {
  const std::string key =
      fmt::format("conv2d/cudnn/{}/x{}x{}x{}x{}/y{}x{}x{}/k{}x{}/s{}x{}/p{}x{}/d{}x{}", sizeof(T), s.batch,
                  s.in_channels, s.in_h, s.in_w, s.out_channels, s.out_h, s.out_w, s.kernel_h, s.kernel_w, s.stride_h,
                  s.stride_w, s.pad_h, s.pad_w, s.dilation_h, s.dilation_w);
  cudnnHandle_t handle = ctx.cudnn();
  return std::static_pointer_cast<ConvPlan>(
      ctx.cached(key, [&] { return std::shared_ptr<void>(make_plan<T>(handle, s)); }));
}

bool empty(const ConvShape& s) { return s.x_numel() == 0 || s.y_numel() == 0 || s.w_numel() == 0; }

}  // namespace

template <class T>
void conv2d_forward(const ConvShape& s, const T* x, const T* weight, const T* bias, T* y, Stream stream) {
  (void)stream;  // the context's handle is bound to the device's one stream
  GN_CHECK(!empty(s), "conv2d (cuDNN): empty tensors are not supported");
  DeviceContext& ctx = current_context();
  auto p = plan_for<T>(ctx, s);
  cudnnHandle_t handle = ctx.cudnn();
  const T one = 1, zero = 0;
  void* ws = ctx.workspace(p->fwd_bytes);
  GN_CUDNN_CHECK(
      cudnnConvolutionForward(handle, &one, p->x, x, p->w, weight, p->conv, p->fwd, ws, p->fwd_bytes, &zero, p->y, y));
  if (bias != nullptr) GN_CUDNN_CHECK(cudnnAddTensor(handle, &one, p->bias, bias, &one, p->y, y));
}

template <class T>
void conv2d_backward_data(const ConvShape& s, const T* dy, const T* weight, T* dx, Stream stream) {
  (void)stream;
  GN_CHECK(!empty(s), "conv2d backward-data (cuDNN): empty tensors are not supported");
  DeviceContext& ctx = current_context();
  auto p = plan_for<T>(ctx, s);
  cudnnHandle_t handle = ctx.cudnn();
  const T one = 1, zero = 0;
  void* ws = ctx.workspace(p->bwd_data_bytes);
  GN_CUDNN_CHECK(cudnnConvolutionBackwardData(handle, &one, p->w, weight, p->y, dy, p->conv, p->bwd_data, ws,
                                              p->bwd_data_bytes, &zero, p->x, dx));
}

template <class T>
void conv2d_backward_filter(const ConvShape& s, const T* x, const T* dy, T* dweight, T* dbias, Stream stream) {
  (void)stream;
  GN_CHECK(!empty(s), "conv2d backward-filter (cuDNN): empty tensors are not supported");
  DeviceContext& ctx = current_context();
  auto p = plan_for<T>(ctx, s);
  cudnnHandle_t handle = ctx.cudnn();
  const T one = 1, zero = 0;
  void* ws = ctx.workspace(p->bwd_filter_bytes);
  GN_CUDNN_CHECK(cudnnConvolutionBackwardFilter(handle, &one, p->x, x, p->y, dy, p->conv, p->bwd_filter, ws,
                                                p->bwd_filter_bytes, &zero, p->w, dweight));
  if (dbias != nullptr) GN_CUDNN_CHECK(cudnnConvolutionBackwardBias(handle, &one, p->y, dy, &zero, p->bias, dbias));
}

#define GN_INSTANTIATE(T)                                                                      \
  template void conv2d_forward<T>(const ConvShape&, const T*, const T*, const T*, T*, Stream); \
  template void conv2d_backward_data<T>(const ConvShape&, const T*, const T*, T*, Stream);     \
  template void conv2d_backward_filter<T>(const ConvShape&, const T*, const T*, T*, T*, Stream);
GN_INSTANTIATE(float)
GN_INSTANTIATE(double)
#undef GN_INSTANTIATE

}  // namespace gn::cuda

#endif  // GN_WITH_CUDNN
