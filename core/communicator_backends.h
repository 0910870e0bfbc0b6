#pragma once
// What the communicator implementations share, and what core/communicator.cpp's factory reaches: not for
// use outside core/communicator*.cpp. Everything here exists in every build; where MPI or NCCL is missing
// the functions throw (or answer false) saying so.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/communicator.h"

namespace gn::detail {

std::unique_ptr<Communicator> make_mpi_communicator();   // core/communicator_mpi.cpp
std::unique_ptr<Communicator> make_nccl_communicator();  // core/communicator_nccl.cpp

// The MPI bootstrap NCCL uses (core/communicator_mpi.cpp), over MPI_COMM_WORLD.
bool mpi_initialized();  // MPI_Init* has run and MPI_Finalize has not; false without MPI
struct MpiWorld {
  int rank = 0;
  int size = 1;
  int local_rank = 0;  // rank within MPI_COMM_TYPE_SHARED (this machine)
};
MpiWorld mpi_world();
void mpi_broadcast_bytes(void* data, std::size_t bytes, int root);

// The MPI all-reduce works in rounds of at most this many elements (default 2^24); tests lower it to
// cover several rounds with small tensors. Returns the previous value.
std::int64_t set_mpi_round_elements(std::int64_t n);

// Throws unless t is defined and float32, float64 or int64 (what the sums take), naming `who`.
void check_summable(const Tensor& t, const char* who);

}  // namespace gn::detail
