#pragma once
// The simulated world: engines (the real code, stepped on this thread),
// their applications, hostile peers, the simulated kernel and network, one
// clock, and every decision drawn from Choices. run() plays one world until
// its active phase ends, then heals it (no more faults, no new work) and
// checks that it comes to rest with every invariant holding.
#include "choices.hpp"
#include "pollers.hpp"

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace tofu::sim {

struct Config {
    Model model = Model::level;
    Bug bug = Bug::none;      // a deliberately wrong poller model
    bool chaos = true;        // what the poller contract allows, on purpose
    bool faults = true;       // resets, descriptor exhaustion, hostile peers
    std::size_t steps = 2500; // steps of the active phase
    bool trace = false;       // keep a readable line per step
};

struct Outcome {
    bool failed = false;
    std::string failure;            // the first invariant that broke, and where
    std::uint64_t trace_hash = 0;   // FNV-1a of every step: the same for the same choices
    std::vector<std::string> trace; // when Config::trace
    std::set<std::string> coverage; // rare situations this run reached
    std::size_t steps = 0;
};

Outcome run(Choices& choices, const Config& config);

// The rare situations every CI run must reach at least once.
const std::vector<std::string>& coverage_items();

} // namespace tofu::sim
