// libFuzzer target: whole engines in the deterministic simulation
// (docs/design.md §9), with the fuzzer choosing every decision the world
// makes -- the schedule (which reactor steps, which application action, when
// time moves), the faults, and the bytes hostile peers send into running
// engines through simulated sockets.
//
// Input layout: byte 0 picks the poller model (level, edge, oneshot,
// kqueue); the rest is the world's tape, one decision per LEB128 varint
// (a decision above its range is clamped; a tape that runs out answers 0,
// the simplest choice). Coverage guidance steers towards the decisions that
// reach new code in the engine, which random seeds (tofu_sim) reach rarely.
//
// Checked on every input, besides what ASan/UBSan see: every invariant the
// simulation checks after each step and at rest (hard limits, no spin, the
// poller contract, each message delivered once, in order, intact, or handed
// back; no forged engine message; a world that heals comes to rest). A
// failure prints the invariant and aborts, so libFuzzer keeps the input;
// `engine_fuzz crash-...` replays it.
#include "world.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    tofu::sim::Config config;
    config.model = tofu::sim::all_models[data[0] % std::size(tofu::sim::all_models)];
    // Shorter than tofu_sim's worlds: more inputs per second, and the fuzzer
    // makes the steps count.
    config.steps = 600;

    std::vector<std::uint64_t> tape;
    std::uint64_t value = 0;
    unsigned shift = 0;
    for (std::size_t i = 1; i < size; ++i) {
        if (shift < 64) value |= static_cast<std::uint64_t>(data[i] & 0x7F) << shift;
        shift += 7;
        if ((data[i] & 0x80) == 0) {
            tape.push_back(value);
            value = 0;
            shift = 0;
        }
    }
    tofu::sim::Choices choices(std::move(tape));
    const tofu::sim::Outcome outcome = tofu::sim::run(choices, config);
    if (outcome.failed) {
        std::fprintf(stderr, "engine_fuzz: %s model: %s\n", std::string(tofu::sim::to_string(config.model)).c_str(),
                     outcome.failure.c_str());
        std::abort();
    }
    return 0;
}
