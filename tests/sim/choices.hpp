#pragma once
// Every decision the simulation makes comes from here: drawn from a seed and
// recorded, or read back from a recorded tape. A tape that runs out answers
// 0, the simplest choice, which is what lets a shrinker cut a failing run
// down (delete chunks of the tape, lower its values) and still have a run.
#include <cstdint>
#include <vector>

namespace tofu::sim {

class Choices {
public:
    explicit Choices(std::uint64_t seed) : state_(seed ^ 0x9E3779B97F4A7C15ull), replay_(false) {}
    explicit Choices(std::vector<std::uint64_t> tape) : tape_(std::move(tape)), replay_(true) {}

    // Uniform in [0, bound); bound >= 1.
    std::uint64_t below(std::uint64_t bound) {
        std::uint64_t value = 0;
        if (replay_) {
            if (position_ < tape_.size()) value = tape_[position_];
            ++position_;
            if (value >= bound) value = bound - 1;
        } else {
            value = next() % bound;
            tape_.push_back(value);
        }
        return value;
    }
    bool percent(unsigned p) { return below(100) < p; }

    const std::vector<std::uint64_t>& tape() const noexcept { return tape_; }
    std::size_t used() const noexcept { return replay_ ? position_ : tape_.size(); }

private:
    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }

    std::uint64_t state_ = 0;
    std::vector<std::uint64_t> tape_;
    std::size_t position_ = 0;
    bool replay_;
};

} // namespace tofu::sim
