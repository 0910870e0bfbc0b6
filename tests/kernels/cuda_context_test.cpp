// The per-device CUDA context (kernels/cuda/context.h): one stream per device that never changes (the
// caching allocator's reuse rule depends on it), handles bound to it, a growing workspace, plan caches.
// Skips visibly without a GPU.
#include <gtest/gtest.h>

#include "tests/cuda_test_support.h"
#ifdef GN_WITH_CUDA
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "kernels/cuda/context.h"
#ifdef GN_WITH_CUDNN
#include "kernels/cuda/cudnn.h"
#endif
#endif

namespace gn {
namespace {

#ifdef GN_WITH_CUDA
TEST(CudaContext, OneStreamPerDeviceWithHandlesBoundToIt) {
  GN_SKIP_WITHOUT_CUDA();
  cuda::DeviceContext& ctx = cuda::current_context();
  EXPECT_EQ(&ctx, &cuda::current_context());
  EXPECT_EQ(cuda::current_stream(), ctx.stream());
  EXPECT_NE(ctx.stream(), nullptr) << "the legacy default stream would not order with our non-blocking one";
  cudaStream_t bound = nullptr;
  ASSERT_EQ(cublasGetStream(ctx.cublas(), &bound), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(bound, ctx.stream());
#ifdef GN_WITH_CUDNN
  cudaStream_t dnn_stream = nullptr;
  ASSERT_EQ(cudnnGetStream(ctx.cudnn(), &dnn_stream), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(dnn_stream, ctx.stream());
#else
  EXPECT_THROW(ctx.cudnn(), Error);
#endif
}

TEST(CudaContext, WorkspaceGrowsAndPlansAreCachedByKey) {
  GN_SKIP_WITHOUT_CUDA();
  cuda::DeviceContext& ctx = cuda::current_context();
  void* small = ctx.workspace(1024);
  ASSERT_NE(small, nullptr);
  EXPECT_EQ(ctx.workspace(512), small) << "a smaller request reuses the block";
  void* big = ctx.workspace(ctx.workspace_bytes() + (1 << 20));
  ASSERT_NE(big, nullptr);
  EXPECT_GE(ctx.workspace_bytes(), std::size_t{1} << 20);
  ASSERT_EQ(cudaMemsetAsync(big, 0, ctx.workspace_bytes(), ctx.stream()), cudaSuccess);
  int made = 0;
  auto make = [&] {
    ++made;
    return std::make_shared<int>(42);
  };
  auto a = ctx.cached("test-plan:3x3", make), b = ctx.cached("test-plan:3x3", make);
  EXPECT_EQ(a.get(), b.get());
  EXPECT_EQ(made, 1);
  ctx.cached("test-plan:5x5", make);
  EXPECT_EQ(made, 2);
}
#else
TEST(CudaContext, BuiltWithoutCuda) { GN_SKIP_WITHOUT_CUDA(); }
#endif

}  // namespace
}  // namespace gn
