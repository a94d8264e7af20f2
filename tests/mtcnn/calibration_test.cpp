// mtcnn/calibration: isotonic fitting (PAV against the min-max formula as a
// reference twin), knot reduction, the exact calibrate/raw_threshold
// contract over dense grids, and the expected calibration error. Pure
// functions: no detector, no data set. Random cases use fixed seeds.
#include "mtcnn/calibration.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace mtcnn {
namespace {

using Knots = std::vector<CalibrationKnot>;

std::string describe(const Calibration& cal) {
    std::string s;
    for (const CalibrationKnot& k : cal.knots()) {
        s += '(';
        s += std::to_string(k.raw);
        s += ", ";
        s += std::to_string(k.calibrated);
        s += ") ";
    }
    return s;
}

void expect_knots(const Calibration& cal, const Knots& want) {
    ASSERT_EQ(cal.knots().size(), want.size()) << describe(cal);
    for (std::size_t i = 0; i < want.size(); ++i) {
        EXPECT_FLOAT_EQ(cal.knots()[i].raw, want[i].raw) << "knot " << i << ": " << describe(cal);
        EXPECT_FLOAT_EQ(cal.knots()[i].calibrated, want[i].calibrated) << "knot " << i << ": " << describe(cal);
    }
}

// What every table must be (the constructor's rules, checked from outside).
void expect_valid(const Calibration& cal, int max_knots) {
    const Knots& k = cal.knots();
    ASSERT_GE(k.size(), 2u);
    EXPECT_LE(k.size(), static_cast<std::size_t>(max_knots)) << describe(cal);
    EXPECT_EQ(k.front().raw, 0.0f);
    EXPECT_EQ(k.back().raw, 1.0f);
    for (std::size_t i = 0; i < k.size(); ++i) {
        EXPECT_GE(k[i].calibrated, 0.0f);
        EXPECT_LE(k[i].calibrated, 1.0f);
        if (i == 0) continue;
        EXPECT_GT(k[i].raw, k[i - 1].raw) << "knot " << i << ": " << describe(cal);
        EXPECT_GE(k[i].calibrated, k[i - 1].calibrated) << "knot " << i << ": " << describe(cal);
    }
}

// Random detections whose true face probability is truth(score).
template <class Truth>
std::vector<ScoredLabel> synthetic(std::size_t n, unsigned seed, Truth truth) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> score(0.0f, 1.0f);
    std::uniform_real_distribution<double> coin(0.0, 1.0);
    std::vector<ScoredLabel> out;
    for (std::size_t i = 0; i < n; ++i) {
        const float s = score(rng);
        out.emplace_back(s, coin(rng) < truth(s));
    }
    return out;
}

// ---------------------------------------------------------------- PAV by hand

TEST(CalibrationPav, AlreadyMonotoneDataStays) {
    // Runs: 0.2 -> 0/1, 0.4 -> 1/2 (equal scores pooled first), 0.8 -> 1/1.
    // Already non-decreasing, so each run is a knot at (score, fraction), plus
    // the pinned ends copying their neighbours.
    const Calibration cal = fit_isotonic({{0.2f, false}, {0.4f, false}, {0.4f, true}, {0.8f, true}});
    expect_knots(cal, {{0.0f, 0.0f}, {0.2f, 0.0f}, {0.4f, 0.5f}, {0.8f, 1.0f}, {1.0f, 1.0f}});
}

TEST(CalibrationPav, ViolatingPairIsPooledToItsMean) {
    // 0.3 is a face and 0.6 is not: the pair violates monotonicity and becomes
    // one block of value 1/2 centred at (0.3 + 0.6) / 2 = 0.45.
    const Calibration cal = fit_isotonic({{0.1f, false}, {0.3f, true}, {0.6f, false}, {0.9f, true}});
    expect_knots(cal, {{0.0f, 0.0f}, {0.1f, 0.0f}, {0.45f, 0.5f}, {0.9f, 1.0f}, {1.0f, 1.0f}});
    // Linear between block centres: at 0.3, (0.3 - 0.1) / (0.45 - 0.1) of the way to 0.5.
    EXPECT_NEAR(cal.calibrate(0.3f), 0.5 * 0.2 / 0.35, 1e-6);
}

TEST(CalibrationPav, PoolingCascadesBackwards) {
    // 1, 1, 0: the last point violates the pooled pair before it, so all
    // three pool to 2/3 and the map is constant.
    const Calibration cal = fit_isotonic({{0.1f, true}, {0.2f, true}, {0.3f, false}});
    expect_knots(cal, {{0.0f, 2.0f / 3.0f}, {1.0f, 2.0f / 3.0f}});
}

TEST(CalibrationPav, InputOrderDoesNotMatter) {
    const Calibration a = fit_isotonic({{0.9f, true}, {0.1f, false}, {0.6f, false}, {0.3f, true}});
    const Calibration b = fit_isotonic({{0.1f, false}, {0.3f, true}, {0.6f, false}, {0.9f, true}});
    expect_knots(a, b.knots());
}

// The isotonic fit's value at point i is max over j <= i of min over k >= i
// of mean(y[j..k]) (Barlow et al. 1972, the min-max formula): an O(n^3)
// reference twin of PAV. Without reduction, the table's distinct calibrated
// values are exactly the distinct values of the fit.
TEST(CalibrationPav, MatchesTheMinMaxFormula) {
    std::mt19937 rng(20240601);
    for (int trial = 0; trial < 200; ++trial) {
        const std::size_t n = 1 + rng() % 24;
        std::vector<ScoredLabel> data;
        for (std::size_t i = 0; i < n; ++i)  // distinct, sorted scores
            data.emplace_back(static_cast<float>(i + 1) / static_cast<float>(n + 2), rng() % 3 == 0);
        std::vector<float> want;
        for (std::size_t i = 0; i < n; ++i) {
            double best = -1;
            for (std::size_t j = 0; j <= i; ++j) {
                double worst = 2;
                for (std::size_t k = i; k < n; ++k) {
                    int pos = 0;
                    for (std::size_t m = j; m <= k; ++m) pos += data[m].second ? 1 : 0;
                    worst = std::min(worst, static_cast<double>(pos) / static_cast<double>(k - j + 1));
                }
                best = std::max(best, worst);
            }
            const float v = static_cast<float>(best);
            if (want.empty() || want.back() != v) want.push_back(v);
        }
        const Calibration cal = fit_isotonic(data);
        std::vector<float> got;
        for (const CalibrationKnot& k : cal.knots())
            if (got.empty() || got.back() != k.calibrated) got.push_back(k.calibrated);
        ASSERT_EQ(got.size(), want.size()) << "trial " << trial << ": " << describe(cal);
        for (std::size_t i = 0; i < want.size(); ++i)
            EXPECT_FLOAT_EQ(got[i], want[i]) << "trial " << trial << ", value " << i << ": " << describe(cal);
    }
}

// ---------------------------------------------------------------- knot reduction

TEST(CalibrationKnots, ReductionKeepsMonotonicityAndBounds) {
    // A wiggly truth makes many PAV blocks; every limit must still give a
    // valid table within it.
    const auto data = synthetic(20000, 7, [](float s) { return 0.5 + 0.45 * std::sin(6.0 * s); });
    for (int max_knots : {2, 3, 4, 5, 8, 16, 33, 64}) {
        SCOPED_TRACE("max_knots " + std::to_string(max_knots));
        expect_valid(fit_isotonic(data, max_knots), max_knots);
    }
}

TEST(CalibrationKnots, TwoKnotsIsTheBaseRate) {
    // One block left: the constant map at the fraction of positives.
    const std::vector<ScoredLabel> data{{0.1f, false}, {0.5f, true}, {0.7f, false}, {0.9f, true}, {0.95f, true}};
    expect_knots(fit_isotonic(data, 2), {{0.0f, 0.6f}, {1.0f, 0.6f}});
}

TEST(CalibrationKnots, ReducedFitStaysCloseToTheFullOne) {
    // Merging the cheapest pairs on a smooth truth costs little calibration.
    const auto data = synthetic(50000, 11, [](float s) { return static_cast<double>(s) * s; });
    const Calibration full = fit_isotonic(data, kMaxCalibrationKnots);
    const Calibration small = fit_isotonic(data, 8);
    expect_valid(small, 8);
    for (float r = 0.0f; r <= 1.0f; r += 0.01f) EXPECT_NEAR(small.calibrate(r), full.calibrate(r), 0.08) << "raw " << r;
    std::vector<ScoredLabel> mapped = data;
    for (ScoredLabel& l : mapped) l.first = small.calibrate(l.first);
    EXPECT_LT(expected_calibration_error(mapped), 0.02);
}

TEST(CalibrationKnots, RejectsALimitOutOfRange) {
    const std::vector<ScoredLabel> data{{0.5f, true}};
    EXPECT_THROW(fit_isotonic(data, 1), std::invalid_argument);
    EXPECT_THROW(fit_isotonic(data, kMaxCalibrationKnots + 1), std::invalid_argument);
}

// ---------------------------------------------------------------- calibrate / raw_threshold

TEST(CalibrationMap, InterpolatesAndClamps) {
    const Knots table{{0.0f, 0.1f}, {0.5f, 0.3f}, {1.0f, 0.9f}};
    const Calibration cal(table);
    EXPECT_FLOAT_EQ(cal.calibrate(0.0f), 0.1f);
    EXPECT_FLOAT_EQ(cal.calibrate(0.25f), 0.2f);
    EXPECT_FLOAT_EQ(cal.calibrate(0.5f), 0.3f);
    EXPECT_FLOAT_EQ(cal.calibrate(0.75f), 0.6f);
    EXPECT_FLOAT_EQ(cal.calibrate(1.0f), 0.9f);
    EXPECT_FLOAT_EQ(cal.calibrate(-3.0f), 0.1f);
    EXPECT_FLOAT_EQ(cal.calibrate(7.0f), 0.9f);
    EXPECT_FLOAT_EQ(cal.calibrate(std::numeric_limits<float>::quiet_NaN()), 0.1f);
}

TEST(CalibrationMap, FlatStretchThresholdIsItsStart) {
    const Knots table{{0.0f, 0.0f}, {0.3f, 0.5f}, {0.6f, 0.5f}, {1.0f, 1.0f}};
    const Calibration cal(table);
    EXPECT_EQ(cal.raw_threshold(0.5f), 0.3f);
    EXPECT_EQ(cal.raw_threshold(0.0f), 0.0f);
    EXPECT_EQ(cal.raw_threshold(1.0f), 1.0f);
    EXPECT_GT(cal.raw_threshold(0.5000001f), 0.6f);  // just above the plateau: past its end
}

TEST(CalibrationMap, ConfidenceAboveTheMaximumLetsNothingPass) {
    const Knots table{{0.0f, 0.1f}, {1.0f, 0.8f}};
    const Calibration cal(table);
    EXPECT_EQ(cal.raw_threshold(0.9f), Calibration::kNothingPasses);
    EXPECT_GT(Calibration::kNothingPasses, 1.0f);
    EXPECT_EQ(cal.raw_threshold(0.0f), 0.0f);
    EXPECT_EQ(cal.raw_threshold(0.05f), 0.0f);  // below calibrate(0): everything passes
    EXPECT_EQ(cal.raw_threshold(-1.0f), 0.0f);
    EXPECT_EQ(cal.raw_threshold(0.8f), 1.0f);
    EXPECT_THROW(cal.raw_threshold(std::numeric_limits<float>::quiet_NaN()), std::invalid_argument);
}

// calibrate(raw) >= c  <=>  raw >= raw_threshold(c), for every raw in [0, 1]
// and confidence, and the threshold is the smallest such float. Checked on
// hand tables (flat stretches, steps, steep and constant maps) and random
// fits, over a dense grid plus every knot and its float neighbours.
TEST(CalibrationMap, ThresholdIsConsistentWithCalibrate) {
    std::vector<Calibration> maps{
        Calibration(),
        Calibration(Knots{{0.0f, 0.0f}, {0.3f, 0.5f}, {0.6f, 0.5f}, {1.0f, 1.0f}}),
        Calibration(Knots{{0.0f, 0.2f}, {0.5f, 0.2f}, {0.5000001f, 0.9f}, {1.0f, 0.9f}}),  // a near step
        Calibration(Knots{{0.0f, 0.0f}, {0.999f, 0.01f}, {1.0f, 1.0f}}),                   // steep at the end
        Calibration(Knots{{0.0f, 0.37f}, {1.0f, 0.37f}}),                                  // constant
        Calibration(Knots{{0.0f, 0.0f}, {1e-30f, 1.0f}, {1.0f, 1.0f}}),                     // steep at the start
    };
    for (unsigned seed = 1; seed <= 6; ++seed)
        maps.push_back(fit_isotonic(synthetic(3000, seed, [](float s) { return std::pow(s, 4.0f); }),
                                    static_cast<int>(3 + seed * 10)));

    std::mt19937 rng(4242);
    std::uniform_real_distribution<float> unit(0.0f, 1.0f);
    for (std::size_t m = 0; m < maps.size(); ++m) {
        const Calibration& cal = maps[m];
        std::vector<float> raws, confidences{0.0f, 1.0f, -0.5f, 1.5f};
        for (int i = 0; i <= 1000; ++i) raws.push_back(static_cast<float>(i) / 1000.0f);
        for (int i = 0; i < 1000; ++i) raws.push_back(unit(rng));
        for (int i = 0; i <= 500; ++i) confidences.push_back(static_cast<float>(i) / 500.0f);
        for (int i = 0; i < 300; ++i) confidences.push_back(unit(rng));
        for (const CalibrationKnot& k : cal.knots()) {
            for (float r : {k.raw, std::nextafter(k.raw, 0.0f), std::nextafter(k.raw, 1.0f)}) raws.push_back(r);
            for (float c : {k.calibrated, std::nextafter(k.calibrated, 0.0f), std::nextafter(k.calibrated, 1.0f)})
                confidences.push_back(c);
        }
        for (float c : confidences) {
            const float t = cal.raw_threshold(c);
            if (t <= 1.0f) {  // the smallest: t passes, the float below it does not
                ASSERT_GE(cal.calibrate(t), c) << "map " << m << ", confidence " << c;
                if (t > 0.0f) {
                    ASSERT_LT(cal.calibrate(std::nextafter(t, 0.0f)), c) << "map " << m << ", confidence " << c;
                }
            }
            for (float r : raws) {
                if (r < 0.0f || r > 1.0f) continue;
                ASSERT_EQ(cal.calibrate(r) >= c, r >= t)
                    << "map " << m << ": raw " << r << ", confidence " << c << ", threshold " << t
                    << ", calibrate(raw) " << cal.calibrate(r) << "; " << describe(cal);
            }
        }
    }
}

TEST(CalibrationMap, CalibrateIsMonotoneBetweenNeighbouringFloats) {
    // raw_threshold's bisection needs monotonicity in float arithmetic, not
    // only in real numbers: walk consecutive floats across each knot.
    const Calibration cal = fit_isotonic(synthetic(5000, 99, [](float s) { return s; }));
    for (const CalibrationKnot& k : cal.knots()) {
        float r = k.raw;
        for (int i = 0; i < 200 && r > 0.0f; ++i) r = std::nextafter(r, 0.0f);
        float prev = cal.calibrate(r);
        for (int i = 0; i < 400 && r < 1.0f; ++i) {
            r = std::nextafter(r, 1.0f);
            const float v = cal.calibrate(r);
            ASSERT_GE(v, prev) << "raw " << r;
            prev = v;
        }
    }
}

TEST(CalibrationMap, TableValidation) {
    EXPECT_THROW(Calibration(Knots{{0.0f, 0.0f}}), std::invalid_argument);                    // one knot
    EXPECT_THROW(Calibration(Knots{{0.1f, 0.0f}, {1.0f, 1.0f}}), std::invalid_argument);      // not from 0
    EXPECT_THROW(Calibration(Knots{{0.0f, 0.0f}, {0.9f, 1.0f}}), std::invalid_argument);      // not to 1
    EXPECT_THROW(Calibration(Knots{{0.0f, 0.0f}, {0.5f, 0.2f}, {0.5f, 0.3f}, {1.0f, 1.0f}}),  // raw repeats
                 std::invalid_argument);
    EXPECT_THROW(Calibration(Knots{{0.0f, 0.5f}, {1.0f, 0.4f}}), std::invalid_argument);  // falls
    EXPECT_THROW(Calibration(Knots{{0.0f, 0.0f}, {1.0f, 1.5f}}), std::invalid_argument);  // above 1
    EXPECT_THROW(Calibration(Knots{{0.0f, std::numeric_limits<float>::quiet_NaN()}, {1.0f, 1.0f}}),
                 std::invalid_argument);
    Knots many;
    for (int i = 0; i <= kMaxCalibrationKnots; ++i)
        many.push_back({static_cast<float>(i) / kMaxCalibrationKnots, static_cast<float>(i) / kMaxCalibrationKnots});
    EXPECT_THROW(Calibration{many}, std::invalid_argument);  // 65 knots
    many.pop_back();
    many.back().raw = 1.0f;
    EXPECT_NO_THROW(Calibration{many});  // 64
}

TEST(CalibrationMap, BuildsFromABracedTableAsTheIncludeFilesWriteIt) {
    // tools/calibrate writes `{ {raw, calibrated}, ... }`, included as the
    // initialiser of a constant array.
    static constexpr CalibrationKnot kTable[] =
        {
            {0.0f, 0.0125f},
            {0.5f, 0.25f},
            {1.0f, 0.99f},
        };
    const Calibration cal(kTable);
    EXPECT_EQ(cal.knots().size(), 3u);
    EXPECT_FLOAT_EQ(cal.calibrate(1.0f), 0.99f);
}

// ---------------------------------------------------------------- edge cases

TEST(CalibrationEdges, EmptyInputIsTheIdentity) {
    const Calibration cal = fit_isotonic({});
    expect_knots(cal, {{0.0f, 0.0f}, {1.0f, 1.0f}});
    for (float r : {0.0f, 0.123f, 0.5f, 0.9f, 1.0f}) EXPECT_FLOAT_EQ(cal.calibrate(r), r);
}

TEST(CalibrationEdges, AllPositivesIsConstantOne) {
    const Calibration cal = fit_isotonic({{0.1f, true}, {0.5f, true}, {0.9f, true}});
    expect_knots(cal, {{0.0f, 1.0f}, {1.0f, 1.0f}});
    EXPECT_EQ(cal.raw_threshold(1.0f), 0.0f);  // everything passes any confidence
}

TEST(CalibrationEdges, AllNegativesIsConstantZero) {
    const Calibration cal = fit_isotonic({{0.1f, false}, {0.5f, false}, {0.9f, false}});
    expect_knots(cal, {{0.0f, 0.0f}, {1.0f, 0.0f}});
    EXPECT_EQ(cal.raw_threshold(0.0f), 0.0f);
    EXPECT_EQ(cal.raw_threshold(0.01f), Calibration::kNothingPasses);
}

TEST(CalibrationEdges, ScoresAtAndBeyondTheEnds) {
    // Scores are clamped to [0, 1]: -1 joins 0, 2 joins 1, and a block centred
    // exactly on an end needs no pinned knot there.
    const Calibration cal = fit_isotonic({{-1.0f, false}, {0.0f, false}, {1.0f, true}, {2.0f, true}});
    expect_knots(cal, {{0.0f, 0.0f}, {1.0f, 1.0f}});
}

TEST(CalibrationEdges, OneDetection) {
    expect_knots(fit_isotonic({{0.7f, true}}), {{0.0f, 1.0f}, {1.0f, 1.0f}});
}

// ---------------------------------------------------------------- ECE and reliability

TEST(CalibrationEce, HandCases) {
    // One bin, confidence 0.95, half real: |0.95 - 0.5| = 0.45.
    EXPECT_NEAR(expected_calibration_error({{0.95f, true}, {0.95f, false}}), 0.45, 1e-6);
    // Two bins of two: bin [0.2, 0.3) says 0.25 with 0 real (gap 0.25); bin
    // [0.7, 0.8) says 0.75 with both real (gap 0.25); weighted: 0.25.
    EXPECT_NEAR(expected_calibration_error({{0.25f, false}, {0.25f, false}, {0.75f, true}, {0.75f, true}}), 0.25,
                1e-6);
    // Gaps of opposite sign in different bins do not cancel; within a bin they do.
    EXPECT_NEAR(expected_calibration_error({{0.1f, true}, {0.9f, false}}), 0.9, 1e-6);
    EXPECT_NEAR(expected_calibration_error({{0.9f, true}, {0.9f, false}, {0.9f, true}, {0.9f, true}, {0.9f, true},
                                            {0.9f, true}, {0.9f, true}, {0.9f, true}, {0.9f, true}, {0.9f, true}}),
                0.0, 1e-6);
    EXPECT_EQ(expected_calibration_error({}), 0.0);
}

TEST(CalibrationEce, ReliabilityTableBins) {
    const auto table = reliability_table({{0.0f, false}, {0.1f, true}, {0.15f, false}, {0.999f, true}, {1.0f, true}});
    ASSERT_EQ(table.size(), 10u);
    EXPECT_EQ(table[0].count, 1u);  // 0.0
    EXPECT_EQ(table[1].count, 2u);  // 0.1 and 0.15: [0.1, 0.2)
    EXPECT_NEAR(table[1].mean_confidence, 0.125, 1e-6);
    EXPECT_NEAR(table[1].fraction_positive, 0.5, 1e-12);
    EXPECT_EQ(table[9].count, 2u);  // 1.0 belongs to the last, closed bin
    EXPECT_DOUBLE_EQ(table[9].lower, 0.9);
    EXPECT_DOUBLE_EQ(table[9].upper, 1.0);
    EXPECT_EQ(table[5].count, 0u);
    EXPECT_EQ(table[5].mean_confidence, 0.0);
    EXPECT_THROW(reliability_table({}, 0), std::invalid_argument);
}

TEST(CalibrationEce, PerfectlyCalibratedIsNearZero) {
    // Labels drawn with probability equal to the confidence: only sampling
    // noise, about sqrt(p (1 - p) / n_bin) per bin, ~0.005 at 10^5 points.
    const auto data = synthetic(100000, 3, [](float s) { return s; });
    EXPECT_LT(expected_calibration_error(data), 0.01);
}

TEST(CalibrationEce, OverconfidentIsLargeAndTheFitRepairsIt) {
    // True probability s^4 against a stated s: the gap averages
    // integral of (s - s^4) over [0, 1] = 1/2 - 1/5 = 0.3.
    const auto data = synthetic(100000, 5, [](float s) { return std::pow(s, 4.0f); });
    EXPECT_NEAR(expected_calibration_error(data), 0.3, 0.02);
    const Calibration cal = fit_isotonic(data);
    std::vector<ScoredLabel> mapped = data;
    for (ScoredLabel& l : mapped) l.first = cal.calibrate(l.first);
    EXPECT_LT(expected_calibration_error(mapped), 0.01);
    // And on fresh data from the same source (out of sample).
    std::vector<ScoredLabel> fresh = synthetic(100000, 6, [](float s) { return std::pow(s, 4.0f); });
    for (ScoredLabel& l : fresh) l.first = cal.calibrate(l.first);
    EXPECT_LT(expected_calibration_error(fresh), 0.02);
}

}  // namespace
}  // namespace mtcnn
