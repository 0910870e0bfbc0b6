#pragma once
// 2-d convolution on CUDA through cuDNN (builds with GN_WITH_CUDNN only; geometry in kernels/conv_shape.h),
// float and double, on `stream` (the device's one stream, to which the context's cuDNN handle is bound).
// Same contracts as the CPU kernels (kernels/cpu/conv.h); every pointer is device memory; all overwrite.
// Descriptors and the algorithm are chosen once per (dtype, shape) and cached in the per-device context;
// scratch comes from the context's workspace. Plain C++ header: core/ can include it.
#include "kernels/conv_shape.h"
#include "kernels/cuda/stream.h"

namespace gn::cuda {

template <class T>
void conv2d_forward(const ConvShape& s, const T* x, const T* weight, const T* bias, T* y, Stream stream);
template <class T>
void conv2d_backward_data(const ConvShape& s, const T* dy, const T* weight, T* dx, Stream stream);
// dbias may be null.
template <class T>
void conv2d_backward_filter(const ConvShape& s, const T* x, const T* dy, T* dweight, T* dbias, Stream stream);

}  // namespace gn::cuda
