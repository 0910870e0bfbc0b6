#pragma once
// Which elementwise op a kernel runs; shared by the CPU and CUDA backends.
namespace gn {

enum class BinaryOp { Add, Sub, Mul, Div };
enum class UnaryOp { Neg, Exp, Log, Sqrt, Abs, Relu, Tanh, Sigmoid, Pow };

}  // namespace gn
