#pragma once
// Every app's main(): its body under an MpiSession (core/communicator.h), so the same binary runs alone or
// as one rank of `mpirun -np N`. MPI is initialised only under an MPI launcher. An exception out of the body
// is printed as "<app>: error: ..." with exit status 1; a failure on one rank (an exception, a non-zero exit)
// ends every rank of the job (MpiSession::run: MPI_Abort), so none is left waiting in a collective.
#include <functional>
#include <string_view>

namespace gn::app {

int mpi_main(int argc, char** argv, std::string_view app, const std::function<int(int, char**)>& body);

}  // namespace gn::app
