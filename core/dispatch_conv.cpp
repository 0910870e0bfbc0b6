#include "core/dispatch_conv.h"

#include "core/dispatch_cuda.h"
#include "kernels/cpu/conv.h"
#ifdef GN_WITH_CUDNN
#include "kernels/cuda/conv_cudnn.h"
#endif

// The CUDA branch: cuDNN when the build has it, else the same "no CUDA kernel" error as a CPU-only build.
#ifdef GN_WITH_CUDNN
#define GN_CUDNN(...) GN_CUDA(__VA_ARGS__)
#else
#define GN_CUDNN(...) no_cuda_kernel(__func__)
#endif

namespace gn::dispatch {

template <class T>
void conv2d_forward(Device d, const ConvShape& s, const T* x, const T* weight, const T* bias, T* y) {
  if (d.is_cpu()) return cpu::conv2d_forward<T>(s, x, weight, bias, y);
  GN_CUDNN(cuda::conv2d_forward<T>(s, x, weight, bias, y, stream));
}

template <class T>
void conv2d_backward_data(Device d, const ConvShape& s, const T* dy, const T* weight, T* dx) {
  if (d.is_cpu()) return cpu::conv2d_backward_data<T>(s, dy, weight, dx);
  GN_CUDNN(cuda::conv2d_backward_data<T>(s, dy, weight, dx, stream));
}

template <class T>
void conv2d_backward_filter(Device d, const ConvShape& s, const T* x, const T* dy, T* dweight, T* dbias) {
  if (d.is_cpu()) return cpu::conv2d_backward_filter<T>(s, x, dy, dweight, dbias);
  GN_CUDNN(cuda::conv2d_backward_filter<T>(s, x, dy, dweight, dbias, stream));
}

template <class T>
void conv2d_backward_filter_stacked(Device d, const ConvShape& s, int num_tasks, const T* x, const T* dy, T* dweight,
                                    T* dbias) {
  if (d.is_cpu()) return cpu::conv2d_backward_filter_stacked<T>(s, num_tasks, x, dy, dweight, dbias);
  GN_CUDNN({
    ConvShape stacked = s;  // one backward-filter over T*out_channels stacked channels
    stacked.out_channels = s.out_channels * num_tasks;
    cuda::conv2d_backward_filter<T>(stacked, x, dy, dweight, dbias, stream);
  });
}

#define GN_INSTANTIATE(T)                                                                        \
  template void conv2d_forward<T>(Device, const ConvShape&, const T*, const T*, const T*, T*);   \
  template void conv2d_backward_data<T>(Device, const ConvShape&, const T*, const T*, T*);       \
  template void conv2d_backward_filter<T>(Device, const ConvShape&, const T*, const T*, T*, T*); \
  template void conv2d_backward_filter_stacked<T>(Device, const ConvShape&, int, const T*, const T*, T*, T*);
GN_INSTANTIATE(float)
GN_INSTANTIATE(double)
#undef GN_INSTANTIATE

}  // namespace gn::dispatch
