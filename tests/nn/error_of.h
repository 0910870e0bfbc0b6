#pragma once
// The message of the gn::Error that f throws, or "no error": lets a test assert what an error says.
#include <string>

#include "core/error.h"

namespace gn::nn {

inline std::string error_of(auto&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace gn::nn
