// The precision/recall SVG: document shape, one line per series, legend,
// escaping, the mapping of the plot's corners, clamping and thinning.
#include "tools/pr_plot.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

using tools::eval::PrPoint;
using tools::pr_plot::render_svg;
using tools::pr_plot::Series;

struct Polyline {
    std::string stroke;
    std::vector<std::pair<double, double>> points;
};

// The value of attribute `name` in the element that starts at `at`.
std::string attribute(const std::string& svg, std::size_t at, const std::string& name) {
    const std::size_t end = svg.find('>', at);
    const std::size_t start = svg.find(" " + name + "=\"", at);
    if (start == std::string::npos || start > end) return "";
    const std::size_t value = start + name.size() + 3;
    return svg.substr(value, svg.find('"', value) - value);
}

// Every <polyline>, its points parsed. (Not std::regex: libstdc++'s
// recursive matcher overflows the stack on a long points list.)
std::vector<Polyline> polylines(const std::string& svg) {
    std::vector<Polyline> out;
    for (auto at = svg.find("<polyline "); at != std::string::npos; at = svg.find("<polyline ", at + 1)) {
        Polyline p{attribute(svg, at, "stroke"), {}};
        std::istringstream points(attribute(svg, at, "points"));
        std::string pair;
        while (points >> pair) {
            const auto comma = pair.find(',');
            p.points.emplace_back(std::stod(pair.substr(0, comma)), std::stod(pair.substr(comma + 1)));
        }
        out.push_back(std::move(p));
    }
    return out;
}

std::vector<PrPoint> points(std::initializer_list<std::pair<double, double>> recall_precision) {
    std::vector<PrPoint> out;
    for (const auto& [r, p] : recall_precision) out.push_back({0, p, r});
    return out;
}

constexpr double kRight = tools::pr_plot::kPlotLeft + tools::pr_plot::kPlotWidth;
constexpr double kBottom = tools::pr_plot::kPlotTop + tools::pr_plot::kPlotHeight;

TEST(PrPlot, IsAStandaloneSvgDocument) {
    const std::string svg = render_svg("title", {{"easy", 0.5, points({{0, 1}, {1, 0}})}});
    std::string_view body = svg;
    if (body.starts_with("<?xml")) body.remove_prefix(body.find("?>") + 2);
    while (body.starts_with('\n')) body.remove_prefix(1);
    EXPECT_TRUE(body.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\"")) << svg.substr(0, 200);
    while (body.ends_with('\n')) body.remove_suffix(1);
    EXPECT_TRUE(body.ends_with("</svg>"));
    EXPECT_NE(svg.find("width=\"640\" height=\"480\""), std::string::npos);
    EXPECT_EQ(svg.find("<script"), std::string::npos);
    EXPECT_EQ(svg.find("href"), std::string::npos);  // no external reference
    // Axis titles and tick labels every 0.1 on both axes.
    EXPECT_NE(svg.find(">Recall</text>"), std::string::npos);
    EXPECT_NE(svg.find(">Precision</text>"), std::string::npos);
    for (const char* tick : {">0.0<", ">0.1<", ">0.5<", ">0.9<", ">1.0<"}) {
        std::size_t count = 0;
        for (auto at = svg.find(tick); at != std::string::npos; at = svg.find(tick, at + 1)) ++count;
        EXPECT_EQ(count, 2u) << tick;
    }
}

TEST(PrPlot, OneLineAndOneLegendEntryPerSeries) {
    const std::string svg = render_svg("t", {{"easy", 0.8514, points({{0, 1}, {0.5, 0.9}, {0.8, 0.3}})},
                                             {"medium", 0.7, points({{0, 1}, {0.7, 0.2}})},
                                             {"hard", 0.4996, points({{0, 1}, {0.4, 0.1}})}});
    const auto lines = polylines(svg);
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(lines[0].points.size(), 3u);
    EXPECT_EQ(std::set<std::string>({lines[0].stroke, lines[1].stroke, lines[2].stroke}).size(), 3u);
    EXPECT_NE(svg.find(">easy (AP 0.851)</text>"), std::string::npos);
    EXPECT_NE(svg.find(">medium (AP 0.700)</text>"), std::string::npos);
    EXPECT_NE(svg.find(">hard (AP 0.500)</text>"), std::string::npos);
    // Each legend swatch has its line's colour.
    for (const Polyline& l : lines)
        EXPECT_NE(svg.find("<line stroke=\"" + l.stroke + "\""), std::string::npos) << l.stroke;
}

TEST(PrPlot, EscapesText) {
    const std::string svg = render_svg("WIDER <dev> & \"sample\" 'x'\x01", {{"a<&b", 0.5, {}}});
    EXPECT_NE(svg.find(">WIDER &lt;dev&gt; &amp; &quot;sample&quot; &apos;x&apos;?</text>"), std::string::npos);
    EXPECT_NE(svg.find(">a&lt;&amp;b (AP 0.500)</text>"), std::string::npos);
    EXPECT_EQ(svg.find("<dev"), std::string::npos);
    EXPECT_EQ(svg.find("& "), std::string::npos);
    EXPECT_EQ(svg.find('\x01'), std::string::npos);
}

TEST(PrPlot, CornersOfThePlotArea) {
    const auto lines = polylines(render_svg("t", {{"easy", 0.5, points({{0, 1}, {0.5, 0.25}, {1, 0}})}}));
    ASSERT_EQ(lines.size(), 1u);
    ASSERT_EQ(lines[0].points.size(), 3u);
    EXPECT_EQ(lines[0].points[0], std::make_pair(tools::pr_plot::kPlotLeft, tools::pr_plot::kPlotTop));
    EXPECT_EQ(lines[0].points[1], std::make_pair(tools::pr_plot::kPlotLeft + tools::pr_plot::kPlotWidth / 2,
                                                 tools::pr_plot::kPlotTop + tools::pr_plot::kPlotHeight * 0.75));
    EXPECT_EQ(lines[0].points[2], std::make_pair(kRight, kBottom));
}

TEST(PrPlot, ClampsAndSkipsPointsOutsideTheRange) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const auto lines = polylines(render_svg("t", {{"easy", 0.5, points({{-0.5, 1.5}, {nan, 0.5}, {0.5, nan}, {2, -1}})}}));
    ASSERT_EQ(lines.size(), 1u);
    ASSERT_EQ(lines[0].points.size(), 2u);
    EXPECT_EQ(lines[0].points[0], std::make_pair(tools::pr_plot::kPlotLeft, tools::pr_plot::kPlotTop));
    EXPECT_EQ(lines[0].points[1], std::make_pair(kRight, kBottom));
}

TEST(PrPlot, EmptySeriesKeepsItsLegendEntry) {
    const std::string svg = render_svg("t", {{"easy", 0.9, points({{0, 1}, {1, 0}})}, {"medium", 0, {}},
                                             {"hard", 0.3, points({{0, 1}, {0.3, 0}})}});
    EXPECT_EQ(polylines(svg).size(), 2u);
    EXPECT_NE(svg.find(">medium (AP 0.000)</text>"), std::string::npos);

    const std::string none = render_svg("t", {});
    EXPECT_TRUE(polylines(none).empty());
    EXPECT_NE(none.find("</svg>"), std::string::npos);
}

TEST(PrPlot, DropsPointsOnTheSamePixelButKeepsTheEnds) {
    // 1,000 thresholds along a falling diagonal, 0.54 px apart in x: one
    // point for each step into a new pixel column or row, no more.
    std::vector<PrPoint> diagonal;
    for (int k = 0; k < 1000; ++k) diagonal.push_back({0, 1 - k / 999.0, k / 999.0});
    auto lines = polylines(render_svg("t", {{"easy", 0.5, diagonal}}));
    ASSERT_EQ(lines.size(), 1u);
    const auto columns = static_cast<std::size_t>(tools::pr_plot::kPlotWidth);
    const auto rows = static_cast<std::size_t>(tools::pr_plot::kPlotHeight);
    EXPECT_GE(lines[0].points.size(), columns);
    EXPECT_LE(lines[0].points.size(), columns + rows + 1);
    EXPECT_LT(lines[0].points.size(), 1000u);
    EXPECT_EQ(lines[0].points.front(), std::make_pair(tools::pr_plot::kPlotLeft, tools::pr_plot::kPlotTop));
    EXPECT_EQ(lines[0].points.back(), std::make_pair(kRight, kBottom));

    // All on one pixel but the last, which is kept even so.
    std::vector<PrPoint> flat(1000, PrPoint{0, 0.5, 0.5});
    flat.back().recall = 0.5004;
    lines = polylines(render_svg("t", {{"easy", 0.5, flat}}));
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].points.size(), 2u);
}

}  // namespace
