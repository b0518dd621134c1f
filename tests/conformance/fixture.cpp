#include "fixture.hpp"

#include <algorithm>
#include <cstdlib>
#include <iostream>

namespace tofu {
void PrintTo(Backend backend, std::ostream* out) { *out << to_string(backend); }
} // namespace tofu

namespace tofu::conformance {

double scale() {
    static const double value = [] {
        if (const char* env = std::getenv("TOFU_TEST_SCALE"); env != nullptr && *env != '\0') {
            char* end = nullptr;
            const double parsed = std::strtod(env, &end);
            if (end != env && parsed > 0) return parsed;
        }
        return kSanitized ? 0.1 : 1.0;
    }();
    return value;
}

std::size_t scaled(std::size_t full, std::size_t minimum, std::string_view what) {
    const auto value = std::max<std::size_t>(minimum, static_cast<std::size_t>(static_cast<double>(full) * scale()));
    if (value != full) {
        std::cout << "[  scaled  ] " << what << ": " << value << " instead of " << full << " (scale " << scale()
                  << (kSanitized ? ", sanitized build" : "") << "; TOFU_TEST_SCALE overrides)" << std::endl;
    }
    return value;
}

} // namespace tofu::conformance
