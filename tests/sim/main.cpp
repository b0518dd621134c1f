// tofu_sim: the deterministic simulation's runner (docs/design.md,
// "Deterministic simulation").
//
//   tofu_sim --seconds 120                  seeds from 1 on, every poller model in turn, for 2 minutes
//   tofu_sim --seeds 1000 --first 5000      a fixed range of seeds
//   tofu_sim --replay 1234 --model edge     one seed again, exactly (add --trace to read it)
//   tofu_sim --tape FILE                    a recorded (shrunk) run again
//   tofu_sim --replay 1234 --shrink FILE    shrink a failing seed's choices, write the tape
//
// CI adds: --regressions DIR (replay every tape there first; each must pass),
// --check-coverage (every coverage item reached), --determinism 50 (every
// 50th seed is replayed in a fresh process and must give the same trace
// hash), --calibration FILE (seeds per CPU second must stay above 70% of the
// value there).
#include "world.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <sys/resource.h>
#include <vector>

namespace {

using tofu::sim::Choices;
using tofu::sim::Config;
using tofu::sim::Model;
using tofu::sim::Outcome;

struct Arguments {
    std::optional<std::uint64_t> seeds;
    double seconds = 0;
    std::uint64_t first = 1;
    std::optional<Model> model; // none: all, in turn
    std::optional<std::uint64_t> replay;
    std::string tape;
    std::string shrink_to;
    std::string regressions;
    std::string calibration;
    std::string record_calibration;
    std::uint64_t determinism = 0;
    bool trace = false;
    bool hash_only = false;
    bool check_coverage = false;
    bool chaos = true;
    bool faults = true;
    std::size_t steps = 2500;
    tofu::sim::Bug bug = tofu::sim::Bug::none;
};

constexpr const char* usage_text =
    "usage: tofu_sim [--seeds N] [--seconds S] [--first SEED] [--model level|edge|oneshot|kqueue]\n"
    "                [--replay SEED] [--tape FILE] [--shrink FILE] [--trace] [--steps N]\n"
    "                [--regressions DIR] [--check-coverage] [--determinism EVERY]\n"
    "                [--calibration FILE] [--record-calibration FILE] [--no-chaos] [--no-faults]\n";

[[noreturn]] void usage(const std::string& why) {
    std::cerr << "tofu_sim: " << why << "\n" << usage_text;
    std::exit(2);
}

std::optional<Model> model_named(const std::string& name) {
    for (Model m : tofu::sim::all_models) {
        if (tofu::sim::to_string(m) == name) return m;
    }
    return std::nullopt;
}

Arguments parse(int argc, char** argv) {
    Arguments a;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        const auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage(arg + " needs a value");
            return argv[++i];
        };
        const auto number = [&]() -> std::uint64_t {
            const std::string text = value();
            char* end = nullptr;
            const std::uint64_t n = std::strtoull(text.c_str(), &end, 10);
            if (end == text.c_str() || *end != '\0') usage(arg + ": not a number: " + text);
            return n;
        };
        if (arg == "--seeds") a.seeds = number();
        else if (arg == "--seconds") a.seconds = static_cast<double>(number());
        else if (arg == "--first") a.first = number();
        else if (arg == "--model") {
            const std::string name = value();
            a.model = model_named(name);
            if (!a.model) usage("unknown model " + name);
        } else if (arg == "--replay") a.replay = number();
        else if (arg == "--tape") a.tape = value();
        else if (arg == "--shrink") a.shrink_to = value();
        else if (arg == "--regressions") a.regressions = value();
        else if (arg == "--calibration") a.calibration = value();
        else if (arg == "--record-calibration") a.record_calibration = value();
        else if (arg == "--determinism") a.determinism = number();
        else if (arg == "--steps") a.steps = number();
        else if (arg == "--trace") a.trace = true;
        else if (arg == "--hash") a.hash_only = true;
        else if (arg == "--check-coverage") a.check_coverage = true;
        else if (arg == "--no-chaos") a.chaos = false;
        else if (arg == "--no-faults") a.faults = false;
        else if (arg == "--help" || arg == "-h") {
            std::cout << usage_text;
            std::exit(0);
        } else usage("unknown option " + arg);
    }
    return a;
}

Model model_for(const Arguments& a, std::uint64_t seed) {
    return a.model ? *a.model : tofu::sim::all_models[seed % std::size(tofu::sim::all_models)];
}

Config config_for(const Arguments& a, Model model) {
    Config config;
    config.model = model;
    config.bug = a.bug;
    config.chaos = a.chaos;
    config.faults = a.faults;
    config.steps = a.steps;
    config.trace = a.trace;
    return config;
}

std::string replay_command(const char* self, std::uint64_t seed, Model model, const Arguments& a) {
    std::ostringstream out;
    out << self << " --replay " << seed << " --model " << tofu::sim::to_string(model) << " --steps " << a.steps
        << (a.chaos ? "" : " --no-chaos") << (a.faults ? "" : " --no-faults");
    return out.str();
}

double cpu_seconds() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// ---- tapes: a run's choices, on disk --------------------------------------------------------

struct Tape {
    Model model = Model::level;
    std::size_t steps = 2500;
    bool chaos = true;
    bool faults = true;
    std::string note;
    std::vector<std::uint64_t> choices;
};

void write_tape(const std::string& path, const Tape& tape) {
    std::ofstream out(path);
    out << "# " << tape.note << "\n";
    out << "model " << tofu::sim::to_string(tape.model) << " steps " << tape.steps << " chaos " << tape.chaos
        << " faults " << tape.faults << "\n";
    for (std::size_t i = 0; i < tape.choices.size(); ++i) out << tape.choices[i] << ((i + 1) % 32 == 0 ? "\n" : " ");
    out << "\n";
}

Tape read_tape(const std::string& path) {
    std::ifstream in(path);
    if (!in) usage("cannot read tape " + path);
    Tape tape;
    std::string line;
    while (std::getline(in, line) && !line.empty() && line[0] == '#') tape.note = line.substr(2);
    std::istringstream header(line);
    std::string word, model;
    header >> word >> model >> word >> tape.steps >> word >> tape.chaos >> word >> tape.faults;
    if (!model_named(model)) usage("tape " + path + ": unknown model " + model);
    tape.model = *model_named(model);
    std::uint64_t value = 0;
    while (in >> value) tape.choices.push_back(value);
    return tape;
}

Config config_of(const Tape& tape) {
    Config config;
    config.model = tape.model;
    config.steps = tape.steps;
    config.chaos = tape.chaos;
    config.faults = tape.faults;
    return config;
}

Outcome run_tape(const Tape& tape, bool trace = false) {
    Choices choices(tape.choices);
    Config config = config_of(tape);
    config.trace = trace;
    return tofu::sim::run(choices, config);
}

// A failure's kind: its text without the numbers (which engine, which
// channel, which step), so that shrinking keeps the bug it started from
// rather than wandering off to another one.
std::string failure_kind(const std::string& failure) {
    std::string kind;
    for (const char c : failure) {
        if (c < '0' || c > '9') kind.push_back(c);
    }
    return kind;
}

// Hypothesis-style: shorter tapes, then smaller values, while the run still
// fails the same way; keeps only the choices a run used.
Tape shrink(Tape tape, double budget_seconds) {
    const auto start = std::chrono::steady_clock::now();
    const std::string kind = failure_kind(run_tape(tape).failure);
    const auto in_budget = [&] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < budget_seconds;
    };
    const auto fails = [&](const std::vector<std::uint64_t>& candidate, std::size_t* used) {
        Tape t = tape;
        t.choices = candidate;
        Choices choices(candidate);
        const Outcome outcome = tofu::sim::run(choices, config_of(t));
        if (used != nullptr) *used = choices.used();
        return outcome.failed && failure_kind(outcome.failure) == kind;
    };
    for (bool better = true; better && in_budget();) {
        better = false;
        for (std::size_t chunk : {256u, 64u, 16u, 4u, 1u}) {
            for (std::size_t i = 0; i + chunk <= tape.choices.size() && in_budget();) {
                std::vector<std::uint64_t> candidate = tape.choices;
                candidate.erase(candidate.begin() + static_cast<long>(i),
                                candidate.begin() + static_cast<long>(i + chunk));
                std::size_t used = 0;
                if (fails(candidate, &used)) {
                    candidate.resize(std::min(candidate.size(), used));
                    tape.choices = candidate;
                    better = true;
                } else {
                    i += chunk;
                }
            }
        }
        for (std::size_t i = 0; i < tape.choices.size() && in_budget(); ++i) {
            for (std::uint64_t smaller : {std::uint64_t{0}, tape.choices[i] / 2, tape.choices[i] - 1}) {
                if (tape.choices[i] == 0 || smaller >= tape.choices[i]) continue;
                std::vector<std::uint64_t> candidate = tape.choices;
                candidate[i] = smaller;
                if (fails(candidate, nullptr)) {
                    tape.choices = candidate;
                    better = true;
                    break;
                }
            }
        }
    }
    return tape;
}

// ---- the runs ------------------------------------------------------------------------------

int replay_one(const Arguments& a, const char* self) {
    Tape tape;
    if (!a.tape.empty()) {
        tape = read_tape(a.tape);
    } else {
        const Model model = model_for(a, *a.replay);
        Choices choices(*a.replay);
        Config config = config_for(a, model);
        config.trace = false;
        (void)tofu::sim::run(choices, config);
        tape = Tape{model, a.steps, a.chaos, a.faults, "seed " + std::to_string(*a.replay), choices.tape()};
    }
    Outcome outcome = run_tape(tape, a.trace);
    if (a.hash_only) {
        std::printf("hash %016llx\n", static_cast<unsigned long long>(outcome.trace_hash));
        return outcome.failed ? 1 : 0;
    }
    if (a.trace) {
        for (const std::string& line : outcome.trace) std::printf("%s\n", line.c_str());
    }
    std::printf("%s (model %s, %zu steps, trace hash %016llx)%s%s\n", outcome.failed ? "FAILED" : "passed",
                std::string(tofu::sim::to_string(tape.model)).c_str(), outcome.steps,
                static_cast<unsigned long long>(outcome.trace_hash), outcome.failed ? ": " : "",
                outcome.failure.c_str());
    if (outcome.failed && !a.shrink_to.empty()) {
        std::printf("shrinking %zu choices ...\n", tape.choices.size());
        Tape shrunk = shrink(tape, 300);
        shrunk.note = tape.note + ", shrunk: " + run_tape(shrunk).failure;
        write_tape(a.shrink_to, shrunk);
        std::printf("%zu choices left; replay: %s --tape %s --trace\n", shrunk.choices.size(), self,
                    a.shrink_to.c_str());
    }
    return outcome.failed ? 1 : 0;
}

std::optional<std::uint64_t> hash_in_fresh_process(const char* self, std::uint64_t seed, Model model,
                                                   const Arguments& a) {
    const std::string command = replay_command(self, seed, model, a) + " --hash";
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) return std::nullopt;
    unsigned long long hash = 0;
    const int matched = std::fscanf(pipe, "hash %llx", &hash);
    ::pclose(pipe);
    if (matched != 1) return std::nullopt;
    return hash;
}

int run_many(const Arguments& a, const char* self) {
    int failures = 0;
    // Regressions first: each was a failure once, and must pass now.
    if (!a.regressions.empty() && !std::filesystem::is_directory(a.regressions)) {
        std::printf("FAILED regressions: %s is not a directory\n", a.regressions.c_str());
        ++failures;
    } else if (!a.regressions.empty()) {
        std::vector<std::filesystem::path> tapes;
        for (const auto& entry : std::filesystem::directory_iterator(a.regressions)) {
            if (entry.path().extension() == ".tape") tapes.push_back(entry.path());
        }
        std::sort(tapes.begin(), tapes.end());
        for (const auto& path : tapes) {
            const Outcome outcome = run_tape(read_tape(path.string()));
            std::printf("regression %s: %s%s\n", path.filename().string().c_str(),
                        outcome.failed ? "FAILED: " : "passed", outcome.failure.c_str());
            if (outcome.failed) ++failures;
        }
    }
    std::set<std::string> coverage;
    std::map<Model, std::uint64_t> per_model;
    const double cpu_start = cpu_seconds();
    const auto wall_start = std::chrono::steady_clock::now();
    std::uint64_t seeds = 0;
    for (std::uint64_t seed = a.first;; ++seed) {
        if (a.seeds && seeds >= *a.seeds) break;
        if (!a.seeds &&
            std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count() >= a.seconds) {
            break;
        }
        const Model model = model_for(a, seed);
        Choices choices(seed);
        const Outcome outcome = tofu::sim::run(choices, config_for(a, model));
        ++seeds;
        ++per_model[model];
        coverage.insert(outcome.coverage.begin(), outcome.coverage.end());
        if (outcome.failed) {
            ++failures;
            std::printf("FAILED seed %llu (model %s): %s\n  replay: %s --trace\n  shrink: %s --shrink failure.tape\n",
                        static_cast<unsigned long long>(seed), std::string(tofu::sim::to_string(model)).c_str(),
                        outcome.failure.c_str(), replay_command(self, seed, model, a).c_str(),
                        replay_command(self, seed, model, a).c_str());
            if (failures >= 5) break;
            continue;
        }
        if (a.determinism != 0 && seed % a.determinism == 0) {
            const std::optional<std::uint64_t> fresh = hash_in_fresh_process(self, seed, model, a);
            if (!fresh || *fresh != outcome.trace_hash) {
                ++failures;
                std::printf("FAILED seed %llu: trace hash %016llx here, %s in a fresh process\n",
                            static_cast<unsigned long long>(seed), static_cast<unsigned long long>(outcome.trace_hash),
                            fresh ? std::to_string(*fresh).c_str() : "nothing");
            }
        }
    }
    const double cpu = std::max(cpu_seconds() - cpu_start, 1e-3);
    const double rate = static_cast<double>(seeds) / cpu;
    std::printf("%llu seeds (", static_cast<unsigned long long>(seeds));
    for (const auto& [model, count] : per_model) {
        std::printf("%s %llu ", std::string(tofu::sim::to_string(model)).c_str(),
                    static_cast<unsigned long long>(count));
    }
    std::printf("), %d failed, %.1f seeds per CPU second\n", failures, rate);
    if (a.check_coverage) {
        for (const std::string& item : tofu::sim::coverage_items()) {
            if (coverage.count(item) == 0) {
                ++failures;
                std::printf("FAILED coverage: \"%s\" never happened\n", item.c_str());
            }
        }
        std::printf("coverage: %zu of %zu items reached\n", coverage.size(), tofu::sim::coverage_items().size());
    }
    if (!a.calibration.empty()) {
        std::ifstream in(a.calibration);
        double recorded = 0;
        if (!(in >> recorded) || recorded <= 0) {
            ++failures;
            std::printf("FAILED calibration: no rate in %s\n", a.calibration.c_str());
        } else if (rate < 0.7 * recorded) {
            ++failures;
            std::printf("FAILED calibration: %.1f seeds per CPU second, below 70%% of the %.1f recorded in %s\n", rate,
                        recorded, a.calibration.c_str());
        } else {
            std::printf("calibration: %.1f seeds per CPU second, %.0f%% of the %.1f recorded\n", rate,
                        100 * rate / recorded, recorded);
        }
    }
    if (!a.record_calibration.empty()) {
        std::ofstream(a.record_calibration) << rate << "\n";
        std::printf("recorded %.1f seeds per CPU second in %s\n", rate, a.record_calibration.c_str());
    }
    return failures == 0 ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    const Arguments a = parse(argc, argv);
    if (a.replay || !a.tape.empty()) return replay_one(a, argv[0]);
    if (!a.seeds && a.seconds <= 0) usage("give --seeds, --seconds, --replay or --tape");
    return run_many(a, argv[0]);
}
