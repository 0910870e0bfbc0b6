#include "apps/common/mpi_main.h"

#include <fmt/format.h>

#include <exception>

#include "core/communicator.h"

namespace gn::app {

int mpi_main(int argc, char** argv, std::string_view app, const std::function<int(int, char**)>& body) {
  MpiSession session(argc, argv);  // may remove MPI's own arguments from argv
  return session.run([&] {
    try {
      return body(argc, argv);
    } catch (const std::exception& e) {
      fmt::print(stderr, "{}: error: {}\n", app, e.what());
      return 1;
    }
  });
}

}  // namespace gn::app
