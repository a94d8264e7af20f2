#include "mtcnn/boxes.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>

namespace mtcnn {
namespace {

float area(const Candidate& b) {
    return (b.x2 - b.x1 + 1) * (b.y2 - b.y1 + 1);
}

constexpr int kPnetStride = 2;   // PNet's one 2x2/2 pooling
constexpr int kPnetWindow = 12;  // PNet's receptive field

}  // namespace

float overlap(const Candidate& a, const Candidate& b, Overlap kind) {
    const float w = std::max(0.0f, std::min(a.x2, b.x2) - std::max(a.x1, b.x1) + 1);
    const float h = std::max(0.0f, std::min(a.y2, b.y2) - std::max(a.y1, b.y1) + 1);
    const float inter = w * h;
    return kind == Overlap::minimum ? inter / std::min(area(a), area(b)) : inter / (area(a) + area(b) - inter);
}

namespace {

// The boxes in score order as plain arrays, so that the inner loop of NMS
// is arithmetic on floats the compiler vectorises (PNet hands NMS
// thousands of boxes on a crowded photo). The arithmetic is overlap()'s.
struct SortedBoxes {
    std::vector<float> x1, y1, x2, y2, area;
    explicit SortedBoxes(const std::vector<Candidate>& boxes, const std::vector<int>& order) {
        for (int i : order) {
            const Candidate& b = boxes[i];
            x1.push_back(b.x1), y1.push_back(b.y1), x2.push_back(b.x2), y2.push_back(b.y2);
            area.push_back(mtcnn::area(b));
        }
    }
};

// Marks dead every box after `i` that overlaps box i by more than threshold.
template <Overlap kind>
void suppress(const SortedBoxes& s, std::size_t i, float threshold, std::vector<std::uint8_t>& alive) {
    const std::size_t n = s.x1.size();
    for (std::size_t j = i + 1; j < n; ++j) {
        const float w = std::max(0.0f, std::min(s.x2[i], s.x2[j]) - std::max(s.x1[i], s.x1[j]) + 1);
        const float h = std::max(0.0f, std::min(s.y2[i], s.y2[j]) - std::max(s.y1[i], s.y1[j]) + 1);
        const float inter = w * h;
        const float o = kind == Overlap::minimum ? inter / std::min(s.area[i], s.area[j])
                                                 : inter / (s.area[i] + s.area[j] - inter);
        alive[j] &= static_cast<std::uint8_t>(!(o > threshold));
    }
}

}  // namespace

std::vector<int> nms(const std::vector<Candidate>& boxes, float threshold, Overlap kind) {
    std::vector<int> order(boxes.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return boxes[a].score > boxes[b].score; });
    const SortedBoxes sorted(boxes, order);
    std::vector<std::uint8_t> alive(boxes.size(), 1);
    std::vector<int> picks;
    for (std::size_t i = 0; i < order.size(); ++i) {
        if (!alive[i]) continue;
        picks.push_back(order[i]);
        if (kind == Overlap::minimum)
            suppress<Overlap::minimum>(sorted, i, threshold, alive);
        else
            suppress<Overlap::union_>(sorted, i, threshold, alive);
    }
    return picks;
}

std::vector<Candidate> select(const std::vector<Candidate>& boxes, const std::vector<int>& picks) {
    std::vector<Candidate> kept;
    kept.reserve(picks.size());
    for (int i : picks) kept.push_back(boxes[i]);
    return kept;
}

void apply_regression(Candidate& b, bool plus_one) {
    const float extra = plus_one ? 1.0f : 0.0f;
    const float w = b.x2 - b.x1 + extra;
    const float h = b.y2 - b.y1 + extra;
    b.x1 += b.reg[0] * w;
    b.y1 += b.reg[1] * h;
    b.x2 += b.reg[2] * w;
    b.y2 += b.reg[3] * h;
}

void make_square(Candidate& b) {
    const float w = b.x2 - b.x1;
    const float h = b.y2 - b.y1;
    const float side = std::max(w, h);
    b.x1 = b.x1 + w * 0.5f - side * 0.5f;
    b.y1 = b.y1 + h * 0.5f - side * 0.5f;
    b.x2 = b.x1 + side;
    b.y2 = b.y1 + side;
}

void truncate_corners(Candidate& b) {
    b.x1 = std::trunc(b.x1);
    b.y1 = std::trunc(b.y1);
    b.x2 = std::trunc(b.x2);
    b.y2 = std::trunc(b.y2);
}

std::vector<double> pyramid_scales(int width, int height, int min_face, double factor) {
    std::vector<double> scales;
    const double first = static_cast<double>(kPnetWindow) / min_face;
    double side = std::min(width, height) * first;
    for (int level = 0; side >= kPnetWindow; ++level, side *= factor)
        scales.push_back(first * std::pow(factor, level));
    return scales;
}

Candidate cell_box(int row, int col, double scale, float score, const std::array<float, 4>& reg) {
    Candidate b;
    b.x1 = static_cast<float>(std::trunc((kPnetStride * col + 1) / scale));
    b.y1 = static_cast<float>(std::trunc((kPnetStride * row + 1) / scale));
    b.x2 = static_cast<float>(std::trunc((kPnetStride * col + kPnetWindow) / scale));
    b.y2 = static_cast<float>(std::trunc((kPnetStride * row + kPnetWindow) / scale));
    b.score = score;
    b.stages[0] = score;
    b.reg = reg;
    return b;
}

}  // namespace mtcnn
