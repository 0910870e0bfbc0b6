#pragma once
// 2-d convolution on the CPU (NCHW, groups = 1; geometry in kernels/conv_shape.h), float and double.
// The readable reference path: per sample, im2col (the (C_in kH kW, out_h out_w) patch matrix) and one
// Eigen GEMM (kernels/cpu/gemm.h); with stride 1 and few channels (up to 64 out, C_in kH kW up to 640) a
// direct kernel without the patch matrix (conv.cpp, "direct convolution"). The data gradient with stride 1 is the
// forward convolution of dy with the flipped, transposed kernel; with larger strides a GEMM and col2im. A 1x1 kernel
// with stride 1 and no padding skips im2col. Forward, backward-data and backward-filter thread over the batch (each
// sample's output is written by one thread; inside, the GEMM runs single-threaded) when the batch has at least as many
// samples as there are threads, else run sample by sample with Eigen's threaded GEMM. Backward-filter computes each
// sample's gradient into its own buffer and adds them in sample order, so results depend neither on timing nor on the
// thread count.
#include <cstdint>

#include "kernels/conv_shape.h"

namespace gn::cpu {

// y = conv(x, weight) + bias (bias may be null). Overwrites y.
template <class T>
void conv2d_forward(const ConvShape& s, const T* x, const T* weight, const T* bias, T* y);

// dx = d(sum y * dy)/dx for y = conv(x, weight): the transposed convolution of dy. Overwrites dx
// (in_h x in_w per channel, the shape's input size).
template <class T>
void conv2d_backward_data(const ConvShape& s, const T* dy, const T* weight, T* dx);

// dweight = sum_n dy_n im2col(x_n)^T, (out_channels, in_channels, kH, kW); dbias (out_channels) =
// sum of dy over batch, height and width (null: not computed). Overwrites both.
template <class T>
void conv2d_backward_filter(const ConvShape& s, const T* x, const T* dy, T* dweight, T* dbias);

// All T per-task filter gradients in ONE call: dy holds the T output gradients stacked along channels,
// (batch, T*s.out_channels, out_h, out_w), against the one input x (batch, in_channels, in_h, in_w).
// Writes dweight (T*out_channels, in_channels, kH, kW) = task t's filter gradient in rows
// [t*out_channels, (t+1)*out_channels), and dbias (T*out_channels) (null: not computed). One im2col of
// each sample of x serves every task: it is the backward-filter of a convolution with T*out_channels
// output channels. Overwrites.
template <class T>
void conv2d_backward_filter_stacked(const ConvShape& s, int num_tasks, const T* x, const T* dy, T* dweight, T* dbias);

// The im2col pieces, exposed for tests. col: (in_channels kH kW, out_h out_w) of one sample; im2col
// overwrites col; col2im overwrites x_sample (in_channels, in_h, in_w) with the sum of col's entries that
// read each position.
template <class T>
void im2col(const ConvShape& s, const T* x_sample, T* col);
template <class T>
void col2im(const ConvShape& s, const T* col, T* x_sample);

}  // namespace gn::cpu
