#include <tofu/version.hpp>

namespace tofu {

// Compiled into the library, so it reports the library's version even to a
// program built against other headers.
Version version() noexcept { return {TOFU_VERSION_MAJOR, TOFU_VERSION_MINOR, TOFU_VERSION_PATCH, TOFU_VERSION_STRING}; }

} // namespace tofu
