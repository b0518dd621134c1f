#include "perf/plot.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <iterator>
#include <sstream>

namespace perf {
namespace {

constexpr double margin_left = 78;
constexpr double margin_right = 20;
constexpr double bar_width = 14;
constexpr double group_gap = 22;
constexpr double plot_height = 190;
constexpr double panel_title_height = 34;
constexpr double label_room = 34; // above the highest bar, for its value
constexpr double group_label_height = 34;
constexpr double legend_height = 56;
constexpr double min_width = 640;
// Colour-blind safe (Tableau 10), one per implementation in column order.
constexpr const char* palette[] = {"#4e79a7", "#76b7b2", "#f28e2b", "#e15759", "#59a14f", "#b07aa1", "#9c755f"};

std::string escaped(std::string_view text) {
    std::string out;
    for (char ch : text) {
        switch (ch) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        default: out += ch;
        }
    }
    return out;
}

std::string number(double value) {
    std::ostringstream out;
    out << std::fixed;
    if (value >= 1e9) out << std::setprecision(0) << value / 1e9 << "G";
    else if (value >= 1e6) out << std::setprecision(2) << value / 1e6 << "M";
    else if (value >= 1e4) out << std::setprecision(0) << value / 1e3 << "k";
    else if (value >= 100) out << std::setprecision(0) << value;
    else out << std::setprecision(1) << value;
    return out.str();
}

// One bar group: its label under the axis and each implementation's value.
struct Group {
    std::string label;
    std::vector<std::pair<std::string, double>> bars; // (impl, value)
};

struct Panel {
    std::string id; // data-panel of its bars
    std::string title;
    bool log_scale = false;
    std::vector<Group> groups;
};

void add_bar(Panel& panel, const std::string& group_label, const std::string& impl, double value) {
    auto group =
        std::find_if(panel.groups.begin(), panel.groups.end(), [&](const Group& g) { return g.label == group_label; });
    if (group == panel.groups.end()) group = panel.groups.insert(panel.groups.end(), Group{group_label, {}});
    group->bars.emplace_back(impl, value);
}

// Maps values onto [0, plot_height]: decades on a log scale, else from 0.
class Scale {
public:
    explicit Scale(const Panel& panel) : log_(panel.log_scale) {
        double low = 0;
        double high = 0;
        for (const Group& group : panel.groups) {
            for (const auto& [impl, value] : group.bars) {
                if (value <= 0) continue;
                low = low == 0 ? value : std::min(low, value);
                high = std::max(high, value);
            }
        }
        if (high == 0) high = 1;
        if (log_) {
            low_ = std::floor(std::log10(low == 0 ? 1 : low));
            high_ = std::max(low_ + 1, std::ceil(std::log10(high)));
        } else {
            const double step = std::pow(10, std::floor(std::log10(high)));
            high_ = std::ceil(high / step) * step;
        }
    }
    double height(double value) const {
        if (value <= 0) return 0;
        if (!log_) return value / high_ * plot_height;
        return std::max(0.0, (std::log10(value) - low_) / (high_ - low_) * plot_height);
    }
    std::vector<double> ticks() const {
        std::vector<double> ticks;
        if (log_) {
            for (double exponent = low_; exponent <= high_; ++exponent) ticks.push_back(std::pow(10, exponent));
        } else {
            for (int i = 0; i <= 4; ++i) ticks.push_back(high_ * i / 4);
        }
        return ticks;
    }

private:
    bool log_;
    double low_ = 0; // log: decades
    double high_ = 0;
};

void draw_panel(std::ostringstream& svg, const Panel& panel, const std::vector<std::string>& impls, double top,
                double width) {
    const Scale scale(panel);
    const double plot_top = top + panel_title_height + label_room;
    const double base = plot_top + plot_height;
    svg << "<g class=\"panel\" id=\"" << panel.id << "\">\n";
    svg << "<text x=\"" << margin_left << "\" y=\"" << top + 20 << "\" class=\"title\">" << escaped(panel.title)
        << "</text>\n";
    for (double tick : scale.ticks()) {
        const double y = base - scale.height(tick);
        svg << "<line x1=\"" << margin_left << "\" y1=\"" << y << "\" x2=\"" << width - margin_right << "\" y2=\"" << y
            << "\" class=\"grid\"/>\n";
        svg << "<text x=\"" << margin_left - 6 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\">" << number(tick)
            << "</text>\n";
    }
    svg << "<line x1=\"" << margin_left << "\" y1=\"" << plot_top << "\" x2=\"" << margin_left << "\" y2=\"" << base
        << "\" class=\"axis\"/>\n";
    svg << "<line x1=\"" << margin_left << "\" y1=\"" << base << "\" x2=\"" << width - margin_right << "\" y2=\""
        << base << "\" class=\"axis\"/>\n";
    double x = margin_left + group_gap / 2;
    for (const Group& group : panel.groups) {
        const double group_width = bar_width * static_cast<double>(impls.size());
        for (const auto& [impl, value] : group.bars) {
            const auto slot = static_cast<std::size_t>(std::find(impls.begin(), impls.end(), impl) - impls.begin());
            const double bar_x = x + bar_width * static_cast<double>(slot);
            const double height = scale.height(value);
            svg << "<rect class=\"bar\" data-panel=\"" << panel.id << "\" data-impl=\"" << escaped(impl) << "\" x=\""
                << bar_x << "\" y=\"" << base - height << "\" width=\"" << bar_width - 2 << "\" height=\"" << height
                << "\" fill=\"" << palette[slot % std::size(palette)] << "\"><title>" << escaped(impl) << ", "
                << escaped(group.label) << ": " << number(value) << "</title></rect>\n";
            const double label_x = bar_x + bar_width / 2 + 2;
            const double label_y = base - height - 3;
            svg << "<text class=\"value\" x=\"" << label_x << "\" y=\"" << label_y << "\" transform=\"rotate(-90 "
                << label_x << " " << label_y << ")\">" << number(value) << "</text>\n";
        }
        svg << "<text x=\"" << x + group_width / 2 << "\" y=\"" << base + 16 << "\" text-anchor=\"middle\">"
            << escaped(group.label) << "</text>\n";
        x += group_width + group_gap;
    }
    svg << "</g>\n";
}

} // namespace

std::string plot_svg(const std::vector<PlotResult>& results, const std::vector<std::string>& impls) {
    Panel messages{"msgs_per_s", "Throughput: messages per second (log scale)", true, {}};
    Panel bytes{"mb_per_s", "Throughput: payload MB/s (log scale)", true, {}};
    // Median and p99 apart: a p99 tens of times the median would flatten the medians.
    Panel median{"latency_median_us", "Latency: median round trip, microseconds", false, {}};
    Panel p99{"latency_p99_us", "Latency: p99 round trip, microseconds", false, {}};
    for (const PlotResult& result : results) {
        const std::string shape = result.transport + " " + std::to_string(result.size) + " B";
        if (result.mode == Mode::throughput) {
            add_bar(messages, shape, result.impl, result.msgs_per_s);
            add_bar(bytes, shape, result.impl, result.mb_per_s);
        } else {
            add_bar(median, shape, result.impl, result.median_us);
            add_bar(p99, shape, result.impl, result.p99_us);
        }
    }
    std::vector<const Panel*> panels;
    std::size_t most_groups = 1;
    for (const Panel* panel : {&messages, &bytes, &median, &p99}) {
        if (panel->groups.empty()) continue;
        panels.push_back(panel);
        most_groups = std::max(most_groups, panel->groups.size());
    }
    const double group_width = bar_width * static_cast<double>(impls.size()) + group_gap;
    const double width =
        std::max(min_width, margin_left + margin_right + group_width * static_cast<double>(most_groups));
    const double panel_height = panel_title_height + label_room + plot_height + group_label_height;
    const double height = legend_height + panel_height * static_cast<double>(panels.size());

    std::ostringstream svg;
    svg << std::fixed << std::setprecision(1);
    svg << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
        << "\" viewBox=\"0 0 " << width << " " << height << "\" font-family=\"sans-serif\" font-size=\"11\">\n"
        << "<style>.title{font-size:13px;font-weight:bold}.value{font-size:8px}"
           ".grid{stroke:#ddd}.axis{stroke:#333}</style>\n"
        << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    svg << "<g class=\"legend\">\n";
    double legend_x = margin_left;
    for (std::size_t i = 0; i < impls.size(); ++i) {
        svg << "<rect x=\"" << legend_x << "\" y=\"18\" width=\"12\" height=\"12\" fill=\""
            << palette[i % std::size(palette)] << "\"/>\n"
            << "<text x=\"" << legend_x + 16 << "\" y=\"28\">" << escaped(impls[i]) << "</text>\n";
        legend_x += 24 + 7 * static_cast<double>(impls[i].size());
    }
    svg << "</g>\n";
    double top = legend_height;
    for (const Panel* panel : panels) {
        draw_panel(svg, *panel, impls, top, width);
        top += panel_height;
    }
    svg << "</svg>\n";
    return svg.str();
}

} // namespace perf
