#include "tools/pr_plot.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <system_error>

namespace tools::pr_plot {
namespace {

// Okabe and Ito's colour-blind safe palette (yellow left out: too pale on
// white); easy, medium, hard get blue, vermillion, green.
constexpr std::array<const char*, 7> kColours{"#0072b2", "#d55e00", "#009e73", "#cc79a7",
                                              "#e69f00", "#56b4e9", "#000000"};
constexpr double kLegendLine = 18;  // legend row height
constexpr double kCharWidth = 7;    // rough width of a 12 px sans-serif character, to size the legend box

// Fixed decimals, '.' whatever the locale (std::to_chars never reads it).
std::string num(double v, int decimals) {
    char buf[64];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v == 0 ? 0.0 : v, std::chars_format::fixed, decimals);
    return ec == std::errc() ? std::string(buf, end) : std::string("0");
}

double to_x(double recall) { return kPlotLeft + recall * kPlotWidth; }
double to_y(double precision) { return kPlotTop + (1 - precision) * kPlotHeight; }

// XML character data and attribute values. Control characters other than
// tab and line breaks are not allowed in XML 1.0 at all: they become '?'.
std::string escape(std::string_view text) {
    std::string out;
    for (const char c : text) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&apos;"; break;
            default:
                const bool control = static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r';
                out += control ? '?' : c;
        }
    }
    return out;
}

std::string text(double x, double y, std::string_view anchor, std::string_view content, std::string_view extra = "") {
    return "<text x=\"" + num(x, 1) + "\" y=\"" + num(y, 1) + "\" text-anchor=\"" + std::string(anchor) + "\"" +
           std::string(extra) + ">" + escape(content) + "</text>\n";
}

std::string line(double x1, double y1, double x2, double y2) {
    return "<line x1=\"" + num(x1, 1) + "\" y1=\"" + num(y1, 1) + "\" x2=\"" + num(x2, 1) + "\" y2=\"" + num(y2, 1) +
           "\"/>\n";
}

// The polyline's points attribute: clamped, and thinned to one point per pixel.
std::string polyline_points(const std::vector<eval::PrPoint>& points) {
    std::string out;
    long last_px = -1, last_py = -1;
    for (std::size_t i = 0; i < points.size(); ++i) {
        const eval::PrPoint& p = points[i];
        if (!std::isfinite(p.recall) || !std::isfinite(p.precision)) continue;
        const double x = to_x(std::clamp(p.recall, 0.0, 1.0));
        const double y = to_y(std::clamp(p.precision, 0.0, 1.0));
        const long px = std::lround(x), py = std::lround(y);
        if (px == last_px && py == last_py && i + 1 != points.size()) continue;
        if (!out.empty()) out += ' ';
        out += num(x, 1) + "," + num(y, 1);
        last_px = px;
        last_py = py;
    }
    return out;
}

}  // namespace

std::string render_svg(std::string_view title, const std::vector<Series>& series) {
    const double right = kPlotLeft + kPlotWidth, bottom = kPlotTop + kPlotHeight;
    std::string svg = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" + num(kWidth, 0) + "\" height=\"" +
           num(kHeight, 0) + "\" viewBox=\"0 0 " + num(kWidth, 0) + " " + num(kHeight, 0) +
           "\" font-family=\"sans-serif\" font-size=\"12\">\n";
    svg += "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
    svg += text(kWidth / 2, 30, "middle", title, " font-size=\"16\"");

    // Grid lines and tick labels every 0.1, then the frame over them.
    svg += "<g stroke=\"#dddddd\" stroke-width=\"1\">\n";
    for (int i = 0; i <= 10; ++i) {
        svg += line(to_x(i / 10.0), kPlotTop, to_x(i / 10.0), bottom);
        svg += line(kPlotLeft, to_y(i / 10.0), right, to_y(i / 10.0));
    }
    svg += "</g>\n";
    svg += "<rect x=\"" + num(kPlotLeft, 1) + "\" y=\"" + num(kPlotTop, 1) + "\" width=\"" + num(kPlotWidth, 1) +
           "\" height=\"" + num(kPlotHeight, 1) + "\" fill=\"none\" stroke=\"#333333\"/>\n";
    for (int i = 0; i <= 10; ++i) {
        svg += text(to_x(i / 10.0), bottom + 18, "middle", num(i / 10.0, 1));
        svg += text(kPlotLeft - 8, to_y(i / 10.0) + 4, "end", num(i / 10.0, 1));
    }
    svg += text(kPlotLeft + kPlotWidth / 2, bottom + 44, "middle", "Recall", " font-size=\"14\"");
    const double mid_y = kPlotTop + kPlotHeight / 2;
    svg += text(24, mid_y, "middle", "Precision",
                " font-size=\"14\" transform=\"rotate(-90 24 " + num(mid_y, 1) + ")\"");

    // The curves, clipped by clamping rather than by a clip path.
    svg += "<g fill=\"none\" stroke-width=\"2\" stroke-linejoin=\"round\">\n";
    for (std::size_t i = 0; i < series.size(); ++i) {
        const std::string points = polyline_points(series[i].points);
        if (points.empty()) continue;
        svg += "<polyline stroke=\"" + std::string(kColours[i % kColours.size()]) + "\" points=\"" + points + "\"/>\n";
    }
    svg += "</g>\n";

    // The legend, bottom left inside the plot, where precision/recall curves
    // rarely go (precision is high at low recall).
    if (!series.empty()) {
        std::vector<std::string> labels;
        std::size_t longest = 0;
        for (const Series& s : series) {
            labels.push_back(s.name + " (AP " + num(s.ap, 3) + ")");
            longest = std::max(longest, labels.back().size());
        }
        const double box_w = 44 + kCharWidth * static_cast<double>(longest);
        const double box_h = 8 + kLegendLine * static_cast<double>(series.size());
        const double box_x = kPlotLeft + 10, box_y = bottom - 10 - box_h;
        svg += "<g>\n<rect x=\"" + num(box_x, 1) + "\" y=\"" + num(box_y, 1) + "\" width=\"" + num(box_w, 1) +
               "\" height=\"" + num(box_h, 1) + "\" fill=\"#ffffff\" fill-opacity=\"0.9\" stroke=\"#999999\"/>\n";
        for (std::size_t i = 0; i < labels.size(); ++i) {
            const double y = box_y + 4 + kLegendLine * (static_cast<double>(i) + 0.5);
            svg += "<line stroke=\"" + std::string(kColours[i % kColours.size()]) + "\" stroke-width=\"2\" x1=\"" +
                   num(box_x + 8, 1) + "\" y1=\"" + num(y, 1) + "\" x2=\"" + num(box_x + 32, 1) + "\" y2=\"" +
                   num(y, 1) + "\"/>\n";
            svg += text(box_x + 38, y + 4, "start", labels[i]);
        }
        svg += "</g>\n";
    }
    svg += "</svg>\n";
    return svg;
}

}  // namespace tools::pr_plot
