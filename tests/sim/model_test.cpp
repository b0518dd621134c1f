// The simulated pollers against the poller contract (src/poller/poller.hpp),
// on the simulated kernel: every model passes every case, and each
// deliberately wrong model fails the case named after its bug.
#include "pollers.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace tofu::sim {
namespace {

using namespace std::chrono_literals;
using poller::Interest;

constexpr Interest none{};
constexpr Interest read_only{true, false};
constexpr Interest write_only{false, true};

// A kernel with one process, a connected pair in it, and a model watching.
struct Bench {
    Kernel kernel;
    int process = kernel.add_process(64);
    std::unique_ptr<ModelPoller> poller;
    int listener = -1;
    int client = -1;
    int server = -1;

    Bench(Model model, Bug bug) {
        poller = std::make_unique<ModelPoller>(kernel, process, model, bug, Chaos{}, [](std::uint64_t) { return 0; });
        kernel.watch = [this](int, int fd) { poller->changed(fd); };
        int error = 0;
        Address bound;
        listener = kernel.listen(process, tcp("10.0.0.1", 0), bound, error);
        client = connect(bound);
        kernel.deliver_due();
        server = kernel.accept(process, listener, error);
    }
    void add(int fd, std::uint64_t token, poller::Interest interest) {
        EXPECT_EQ(poller->add(fd, token, interest), Status::success);
    }
    void modify(int fd, std::uint64_t token, poller::Interest interest) {
        EXPECT_EQ(poller->modify(fd, token, interest), Status::success);
    }
    // A connect started (not yet delivered); its descriptor.
    int connect(const Address& to) {
        int error = 0;
        return kernel.connect(process, to, error);
    }
    void send(int from, std::string_view text) {
        const std::span<const std::byte> part(reinterpret_cast<const std::byte*>(text.data()), text.size());
        int error = 0;
        kernel.write(process, from, std::span<const std::span<const std::byte>>(&part, 1), error);
        kernel.deliver_due();
    }
    void drain(int fd) {
        std::byte sink[4096];
        int error = 0;
        while (kernel.read(process, fd, sink, false, error) > 0) {}
    }
    // What one wait reports for `token`, merged (models may split filters).
    poller::Event report(std::uint64_t token) {
        poller::Event merged{token, false, false, false};
        poller::Event events[16];
        const std::size_t n = poller->wait(events, 0ms).value();
        for (std::size_t i = 0; i < n; ++i) {
            if (events[i].token != token) continue;
            merged.readable |= events[i].readable;
            merged.writable |= events[i].writable;
            merged.failed |= events[i].failed;
        }
        return merged;
    }
    std::string violations() const {
        return poller->violations().empty() ? std::string() : poller->violations().front();
    }
};

// Each case: empty when the contract holds, else what went wrong.
using Case = std::string (*)(Model, Bug);

std::string data_queued_before_arming_is_reported(Model model, Bug bug) {
    Bench b(model, bug);
    b.send(b.client, "early");
    b.add(b.server, 1, read_only);
    if (!b.poller->ready()) return "not ready after add with data queued";
    if (!b.report(1).readable) return "not reported readable";
    // And again when interest comes back, with no new data.
    b.modify(b.server, 1, none);
    b.modify(b.server, 1, read_only);
    if (!b.report(1).readable) return "unread data not reported when interest returned";
    return b.violations();
}

std::string no_interest_no_event_and_no_spin(Model model, Bug bug) {
    Bench b(model, bug);
    b.add(b.server, 1, none);
    b.send(b.client, "while paused");
    b.kernel.reset(b.kernel.id_of(b.process, b.client));
    if (b.poller->ready()) return "ready with no interest (a paused socket would spin)";
    const poller::Event event = b.report(1);
    if (event.readable || event.writable) return "reported with no interest";
    if (b.poller->ready()) return "still ready after a wait, with no interest";
    return b.violations();
}

std::string removed_token_is_never_reported(Model model, Bug bug) {
    Bench b(model, bug);
    b.send(b.client, "data");
    b.add(b.server, 7, read_only);
    b.poller->remove(b.server, 7);
    poller::Event events[16];
    const std::size_t n = b.poller->wait(events, 0ms).value();
    for (std::size_t i = 0; i < n; ++i) {
        if (events[i].token == 7) return "token reported after remove()";
    }
    return b.violations();
}

std::string wake_before_wait_is_not_lost(Model model, Bug bug) {
    Bench b(model, bug);
    b.poller->wake(); // not sleeping yet: the edge of sleep
    if (!b.poller->ready()) return "a wake-up before the wait was lost";
    return {};
}

std::string new_data_after_a_drain_is_reported(Model model, Bug bug) {
    Bench b(model, bug);
    b.add(b.server, 1, read_only);
    b.send(b.client, "one");
    if (!b.report(1).readable) return "first data not reported";
    b.drain(b.server);
    (void)b.report(1);
    b.send(b.client, "two");
    if (!b.report(1).readable) return "data after a drain not reported";
    return b.violations();
}

std::string connect_and_room_are_writable(Model model, Bug bug) {
    Bench b(model, bug);
    int error = 0;
    Address bound;
    (void)b.kernel.listen(b.process, tcp("10.0.0.2", 0), bound, error);
    b.add(b.connect(bound), 3, write_only);
    if (b.report(3).writable) return "writable before the connect completed";
    b.kernel.deliver_due();
    if (!b.report(3).writable) return "a completed connect not reported writable";
    return b.violations();
}

std::string listener_is_readable_when_a_connection_waits(Model model, Bug bug) {
    Bench b(model, bug);
    b.add(b.listener, 9, read_only);
    (void)b.connect(tcp("10.0.0.1", 40000));
    b.kernel.deliver_due();
    if (!b.report(9).readable) return "a queued connection not reported";
    return b.violations();
}

std::string reset_is_reported_while_interest_is_on(Model model, Bug bug) {
    Bench b(model, bug);
    b.add(b.server, 1, read_only);
    b.kernel.reset(b.kernel.id_of(b.process, b.client));
    const poller::Event event = b.report(1);
    if (!event.readable || !event.failed) return "a reset not reported readable and failed";
    return b.violations();
}

struct Named {
    const char* name;
    Case check;
};
const Named cases[] = {
    {"DataQueuedBeforeArmingIsReported", data_queued_before_arming_is_reported},
    {"NoInterestNoEventAndNoSpin", no_interest_no_event_and_no_spin},
    {"RemovedTokenIsNeverReported", removed_token_is_never_reported},
    {"WakeBeforeWaitIsNotLost", wake_before_wait_is_not_lost},
    {"NewDataAfterADrainIsReported", new_data_after_a_drain_is_reported},
    {"ConnectAndRoomAreWritable", connect_and_room_are_writable},
    {"ListenerIsReadableWhenAConnectionWaits", listener_is_readable_when_a_connection_waits},
    {"ResetIsReportedWhileInterestIsOn", reset_is_reported_while_interest_is_on},
};

class Models : public ::testing::TestWithParam<Model> {};

TEST_P(Models, PassEveryContractCase) {
    for (const Named& c : cases) EXPECT_EQ(c.check(GetParam(), Bug::none), "") << c.name;
}

INSTANTIATE_TEST_SUITE_P(, Models, ::testing::ValuesIn(all_models),
                         [](const auto& info) { return std::string(to_string(info.param)); });

// Each wrong model fails the case named after its bug.
TEST(WrongModels, EventsWithoutInterestFailNoInterestNoEvent) {
    EXPECT_NE(no_interest_no_event_and_no_spin(Model::level, Bug::events_without_interest), "");
}

TEST(WrongModels, EdgeWithoutArmCheckFailsDataQueuedBeforeArming) {
    EXPECT_NE(data_queued_before_arming_is_reported(Model::edge, Bug::no_arm_check), "");
}

TEST(WrongModels, ReportingRemovedTokensFailsRemovedTokenIsNeverReported) {
    for (Model model : all_models) EXPECT_NE(removed_token_is_never_reported(model, Bug::removed_token_reported), "");
}

TEST(WrongModels, LosingWakeupsFailsWakeBeforeWait) {
    EXPECT_NE(wake_before_wait_is_not_lost(Model::level, Bug::wake_lost), "");
}

TEST(WrongModels, RearmingATerminalConditionFailsNoInterestNoSpin) {
    EXPECT_NE(no_interest_no_event_and_no_spin(Model::oneshot, Bug::terminal_rearmed), "");
}

} // namespace
} // namespace tofu::sim
