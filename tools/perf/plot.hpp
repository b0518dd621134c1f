#pragma once
// tofu-perf --plot: the side-by-side results as an SVG chart, written as
// text so that the tool needs no plotting library. Grouped bars: throughput
// in msg/s and in MB/s (log scales: nng and raw sockets lie decades apart),
// then latency median and p99 (linear, one panel each). One bar per result and figure, a
// <rect class="bar" data-panel="..."> each, so tests can count them.
#include "perf/perf.hpp"

#include <string>
#include <vector>

namespace perf {

struct PlotResult {
    std::string impl; // the table's column label: tofu-epoll, zmq, raw, ...
    std::string transport;
    Mode mode = Mode::throughput;
    std::size_t size = 0;
    double msgs_per_s = 0;
    double mb_per_s = 0;
    double median_us = 0;
    double p99_us = 0;
};

// The whole SVG document; `impls` gives the bars' order and colours.
std::string plot_svg(const std::vector<PlotResult>& results, const std::vector<std::string>& impls);

} // namespace perf
