#pragma once
// The dispatch point of the convolution kernels (NCHW, groups = 1, geometry in kernels/conv_shape.h):
// the CPU kernels (kernels/cpu/conv.h) for a CPU device, cuDNN (kernels/cuda/conv_cudnn.h, on the
// device's stream) for a CUDA device in a build with cuDNN; a CUDA build without cuDNN throws naming the
// function (never falls back). Every pointer in memory of device d. All overwrite their outputs.
#include "core/device.h"
#include "kernels/conv_shape.h"

namespace gn::dispatch {

// y = conv(x, weight) + bias (bias may be null).
template <class T>
void conv2d_forward(Device d, const ConvShape& s, const T* x, const T* weight, const T* bias, T* y);
// dx from dy (the transposed convolution of dy).
template <class T>
void conv2d_backward_data(Device d, const ConvShape& s, const T* dy, const T* weight, T* dx);
// dweight (out_channels, in_channels, kH, kW) and dbias (out_channels; null: skipped).
template <class T>
void conv2d_backward_filter(Device d, const ConvShape& s, const T* x, const T* dy, T* dweight, T* dbias);
// The T per-task filter gradients in one call: dy (batch, T*out_channels, out_h, out_w) -> dweight
// (T*out_channels, in_channels, kH, kW), dbias (T*out_channels; null: skipped).
template <class T>
void conv2d_backward_filter_stacked(Device d, const ConvShape& s, int num_tasks, const T* x, const T* dy, T* dweight,
                                    T* dbias);

}  // namespace gn::dispatch
