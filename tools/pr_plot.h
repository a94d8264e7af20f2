// Precision/recall curves as a standalone SVG 1.1 image, for the WIDER FACE
// evaluator's report: recall on x, precision on y, both 0..1, one line and
// one legend entry ("easy (AP 0.851)") per series.
//
// The document has a fixed size, no script, no external reference and no
// font file; every number is written by std::to_chars with fixed decimals,
// so the bytes do not depend on the locale. Text is escaped for XML.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tools/wider_eval.h"

namespace tools::pr_plot {

struct Series {
    std::string name;  // "easy"
    double ap = 0;
    std::vector<eval::PrPoint> points;  // in order of non-decreasing recall (threshold is not read)
};

// The image and its plot area, in SVG user units (pixels): recall 0..1 maps
// to left..left + width, precision 1..0 to top..top + height.
inline constexpr double kWidth = 640, kHeight = 480;
inline constexpr double kPlotLeft = 70, kPlotTop = 50, kPlotWidth = 540, kPlotHeight = 360;

// The whole document. Points outside [0, 1] are clamped to the plot's edge
// and non-finite ones are skipped; a point that falls on the same pixel as
// the last one drawn is dropped (1,000 thresholds make many), the last point
// of a series never. A series without points gets its legend entry only.
std::string render_svg(std::string_view title, const std::vector<Series>& series);

}  // namespace tools::pr_plot
