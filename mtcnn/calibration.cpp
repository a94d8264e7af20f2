#include "mtcnn/calibration.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

namespace mtcnn {
namespace {

float clamp_unit(float v) { return v > 0.0f ? std::min(v, 1.0f) : 0.0f; }  // NaN -> 0

std::string knot_text(std::size_t i, const CalibrationKnot& k) {
    return "knot " + std::to_string(i) + " (" + std::to_string(k.raw) + ", " + std::to_string(k.calibrated) + ")";
}

// A run of scores pooled by PAV: its raw scores' sum, size and positives.
struct Block {
    double raw_sum = 0;
    std::int64_t n = 0, positives = 0;

    double mean() const { return static_cast<double>(positives) / static_cast<double>(n); }
    float centre() const { return static_cast<float>(raw_sum / static_cast<double>(n)); }
    void absorb(const Block& b) {
        raw_sum += b.raw_sum;
        n += b.n;
        positives += b.positives;
    }
};

// Whether a's fraction positive is >= b's, exactly (no division).
bool not_below(const Block& a, const Block& b) { return a.positives * b.n >= b.positives * a.n; }

// Squared error added by pooling a and b into one value.
double merge_cost(const Block& a, const Block& b) {
    const double d = a.mean() - b.mean();
    return static_cast<double>(a.n) * static_cast<double>(b.n) / static_cast<double>(a.n + b.n) * d * d;
}

// Pool adjacent violators. Equal means are pooled too, so the blocks' values
// come out strictly increasing.
std::vector<Block> pool_adjacent_violators(const std::vector<Block>& runs) {
    std::vector<Block> stack;
    for (const Block& r : runs) {
        stack.push_back(r);
        while (stack.size() >= 2 && not_below(stack[stack.size() - 2], stack.back())) {
            stack[stack.size() - 2].absorb(stack.back());
            stack.pop_back();
        }
    }
    return stack;
}

}  // namespace

Calibration::Calibration() : knots_{{0.0f, 0.0f}, {1.0f, 1.0f}} {}

Calibration::Calibration(std::span<const CalibrationKnot> knots) : knots_(knots.begin(), knots.end()) {
    if (knots_.size() < 2 || knots_.size() > static_cast<std::size_t>(kMaxCalibrationKnots))
        throw std::invalid_argument("calibration table: " + std::to_string(knots_.size()) + " knots, need 2 to " +
                                    std::to_string(kMaxCalibrationKnots));
    if (knots_.front().raw != 0.0f) throw std::invalid_argument("calibration table: the first knot's raw score must be 0");
    if (knots_.back().raw != 1.0f) throw std::invalid_argument("calibration table: the last knot's raw score must be 1");
    for (std::size_t i = 0; i < knots_.size(); ++i) {
        const CalibrationKnot& k = knots_[i];
        if (!(k.calibrated >= 0.0f && k.calibrated <= 1.0f))
            throw std::invalid_argument("calibration table: " + knot_text(i, k) + ": calibrated value not in [0, 1]");
        if (i == 0) continue;
        if (!(k.raw > knots_[i - 1].raw))
            throw std::invalid_argument("calibration table: " + knot_text(i, k) + ": raw scores must increase");
        if (k.calibrated < knots_[i - 1].calibrated)
            throw std::invalid_argument("calibration table: " + knot_text(i, k) + ": calibrated values must not fall");
    }
}

float Calibration::calibrate(float raw) const {
    if (!(raw > 0.0f)) return knots_.front().calibrated;
    if (raw >= 1.0f) return knots_.back().calibrated;
    // The segment [k0, k1) holding raw: k1 is the first knot above it (raw is
    // in (0, 1), so neither end). At a knot the value is exactly its own.
    const auto k1 = std::upper_bound(knots_.begin(), knots_.end(), raw,
                                     [](float r, const CalibrationKnot& k) { return r < k.raw; });
    const CalibrationKnot& a = *(k1 - 1);
    const CalibrationKnot& b = *k1;
    // Every step is monotone in raw; the clamp keeps rounding from stepping
    // past the next knot's value, so the whole map is monotone in float too,
    // which raw_threshold's search relies on.
    const double t = (static_cast<double>(raw) - a.raw) / (static_cast<double>(b.raw) - a.raw);
    const double v = a.calibrated + (static_cast<double>(b.calibrated) - a.calibrated) * t;
    return static_cast<float>(std::clamp(v, static_cast<double>(a.calibrated), static_cast<double>(b.calibrated)));
}

float Calibration::raw_threshold(float confidence) const {
    if (std::isnan(confidence)) throw std::invalid_argument("raw_threshold: confidence is NaN");
    if (confidence <= calibrate(0.0f)) return 0.0f;
    if (confidence > calibrate(1.0f)) return kNothingPasses;
    // Bisection over the bit patterns of the floats in (0, 1]: for
    // non-negative floats they are ordered as the values, so this finds the
    // exact smallest float that passes, whatever the rounding in calibrate().
    // Invariant: `fails` does not reach confidence, `passes` does.
    std::uint32_t fails = std::bit_cast<std::uint32_t>(0.0f);
    std::uint32_t passes = std::bit_cast<std::uint32_t>(1.0f);
    while (passes - fails > 1) {
        const std::uint32_t mid = fails + (passes - fails) / 2;
        if (calibrate(std::bit_cast<float>(mid)) >= confidence)
            passes = mid;
        else
            fails = mid;
    }
    return std::bit_cast<float>(passes);
}

Calibration fit_isotonic(std::vector<ScoredLabel> scored_labels, int max_knots) {
    if (max_knots < 2 || max_knots > kMaxCalibrationKnots)
        throw std::invalid_argument("fit_isotonic: max_knots must be in [2, " + std::to_string(kMaxCalibrationKnots) +
                                    "], got " + std::to_string(max_knots));
    if (scored_labels.empty()) return Calibration();

    for (ScoredLabel& s : scored_labels) s.first = clamp_unit(s.first);
    std::sort(scored_labels.begin(), scored_labels.end(),
              [](const ScoredLabel& a, const ScoredLabel& b) { return a.first < b.first; });
    // Equal scores first become one run: the map must give them one value.
    std::vector<Block> runs;
    for (std::size_t i = 0; i < scored_labels.size(); ++i) {
        if (i == 0 || scored_labels[i].first != scored_labels[i - 1].first) runs.emplace_back();
        runs.back().raw_sum += scored_labels[i].first;
        runs.back().n += 1;
        runs.back().positives += scored_labels[i].second ? 1 : 0;
    }
    std::vector<Block> blocks = pool_adjacent_violators(runs);

    // Knots need strictly increasing raw scores: blocks whose centres round
    // to the same float become one (distinct scores make distinct centres in
    // double; only the rounding to float can merge them).
    for (std::size_t i = 1; i < blocks.size();) {
        if (blocks[i].centre() <= blocks[i - 1].centre()) {
            blocks[i - 1].absorb(blocks[i]);
            blocks.erase(blocks.begin() + static_cast<std::ptrdiff_t>(i));
        } else {
            ++i;
        }
    }
    // Room for the two pinned ends; at least one block.
    const std::size_t target = static_cast<std::size_t>(std::max(1, max_knots - 2));
    while (blocks.size() > target) {
        std::size_t best = 0;
        double best_cost = std::numeric_limits<double>::infinity();
        for (std::size_t i = 0; i + 1 < blocks.size(); ++i) {
            const double c = merge_cost(blocks[i], blocks[i + 1]);
            if (c < best_cost) best_cost = c, best = i;
        }
        blocks[best].absorb(blocks[best + 1]);
        blocks.erase(blocks.begin() + static_cast<std::ptrdiff_t>(best) + 1);
    }

    std::vector<CalibrationKnot> knots;
    for (const Block& b : blocks) knots.push_back({b.centre(), static_cast<float>(b.mean())});
    if (knots.front().raw > 0.0f) knots.insert(knots.begin(), CalibrationKnot{0.0f, knots.front().calibrated});
    if (knots.back().raw < 1.0f) knots.push_back(CalibrationKnot{1.0f, knots.back().calibrated});
    // A knot between two of equal value changes nothing (a constant map, or
    // a pinned end next to the block it copies).
    for (std::size_t i = 1; i + 1 < knots.size();) {
        if (knots[i - 1].calibrated == knots[i].calibrated && knots[i].calibrated == knots[i + 1].calibrated)
            knots.erase(knots.begin() + static_cast<std::ptrdiff_t>(i));
        else
            ++i;
    }
    return Calibration(knots);
}

std::vector<ReliabilityBin> reliability_table(const std::vector<ScoredLabel>& confidence_labels, int bins) {
    if (bins < 1) throw std::invalid_argument("reliability_table: bins must be >= 1, got " + std::to_string(bins));
    std::vector<ReliabilityBin> table(static_cast<std::size_t>(bins));
    std::vector<double> confidence_sum(table.size(), 0.0);
    std::vector<std::size_t> positives(table.size(), 0);
    for (std::size_t k = 0; k < table.size(); ++k) {
        table[k].lower = static_cast<double>(k) / bins;
        table[k].upper = static_cast<double>(k + 1) / bins;
    }
    for (const auto& [confidence, positive] : confidence_labels) {
        const double c = clamp_unit(confidence);
        const std::size_t k = std::min(table.size() - 1, static_cast<std::size_t>(c * bins));  // 1.0 -> the last bin
        table[k].count += 1;
        confidence_sum[k] += c;
        positives[k] += positive ? 1 : 0;
    }
    for (std::size_t k = 0; k < table.size(); ++k) {
        if (table[k].count == 0) continue;
        const double n = static_cast<double>(table[k].count);
        table[k].mean_confidence = confidence_sum[k] / n;
        table[k].fraction_positive = static_cast<double>(positives[k]) / n;
    }
    return table;
}

double expected_calibration_error(const std::vector<ScoredLabel>& confidence_labels, int bins) {
    if (confidence_labels.empty()) return 0.0;
    double ece = 0.0;
    for (const ReliabilityBin& b : reliability_table(confidence_labels, bins))
        ece += static_cast<double>(b.count) * std::abs(b.mean_confidence - b.fraction_positive);
    return ece / static_cast<double>(confidence_labels.size());
}

}  // namespace mtcnn
