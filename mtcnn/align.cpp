#include "mtcnn/align.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>

namespace mtcnn {

Similarity Similarity::inverse() const {
    // The inverse of z p + t is (q - t) / z; 1 / z = conj(z) / |z|^2.
    const double n = a * a + b * b;
    Similarity inv;
    inv.a = a / n;
    inv.b = -b / n;
    inv.tx = -(inv.a * tx - inv.b * ty);
    inv.ty = -(inv.b * tx + inv.a * ty);
    return inv;
}

Similarity estimate_similarity(std::span<const Point2> from, std::span<const Point2> to) {
    if (from.size() != to.size()) throw std::invalid_argument("estimate_similarity: point counts differ");
    if (from.size() < 2) throw std::invalid_argument("estimate_similarity: fewer than two points");
    const double n = static_cast<double>(from.size());
    Point2 mean_from, mean_to;
    for (std::size_t i = 0; i < from.size(); ++i) {
        mean_from.x += from[i].x / n;
        mean_from.y += from[i].y / n;
        mean_to.x += to[i].x / n;
        mean_to.y += to[i].y / n;
    }
    // z = sum(conj(p) q) / sum |p|^2 over the centred points.
    double re = 0, im = 0, norm = 0;
    for (std::size_t i = 0; i < from.size(); ++i) {
        const double px = from[i].x - mean_from.x, py = from[i].y - mean_from.y;
        const double qx = to[i].x - mean_to.x, qy = to[i].y - mean_to.y;
        re += px * qx + py * qy;
        im += px * qy - py * qx;
        norm += px * px + py * py;
    }
    if (!(norm > 0)) throw std::invalid_argument("estimate_similarity: the source points coincide");
    Similarity s;
    s.a = re / norm;
    s.b = im / norm;
    s.tx = mean_to.x - (s.a * mean_from.x - s.b * mean_from.y);
    s.ty = mean_to.y - (s.b * mean_from.x + s.a * mean_from.y);
    return s;
}

Similarity alignment_transform(const Face& face) {
    std::array<Point2, 5> points;
    for (std::size_t i = 0; i < points.size(); ++i)
        points[i] = {static_cast<double>(face.keypoints[i].x), static_cast<double>(face.keypoints[i].y)};
    const bool coincide = std::all_of(points.begin(), points.end(),
                                      [&](const Point2& p) { return p.x == points[0].x && p.y == points[0].y; });
    if (!coincide) return estimate_similarity(points, kArcFaceTemplate);
    // A face of a few pixels can have its five keypoints on one pixel
    // (align.h): its box is scaled onto the crop, centre on centre.
    Similarity s;
    s.a = static_cast<double>(kAlignedSize) / std::max({face.width, face.height, 1});
    s.tx = (kAlignedSize - 1) / 2.0 - s.a * (face.x + (face.width - 1) / 2.0);
    s.ty = (kAlignedSize - 1) / 2.0 - s.a * (face.y + (face.height - 1) / 2.0);
    return s;
}

Image align_face(const Image& image, const Face& face) {
    const Similarity back = alignment_transform(face).inverse();
    Image crop;
    crop.width = kAlignedSize;
    crop.height = kAlignedSize;
    crop.pixels.assign(static_cast<std::size_t>(kAlignedSize) * kAlignedSize * 3, 0);
    // A source pixel's value, black outside the photo.
    const auto source = [&](int x, int y, int c) -> double {
        if (x < 0 || y < 0 || x >= image.width || y >= image.height) return 0.0;
        return image.at(x, y, c);
    };
    for (int v = 0; v < kAlignedSize; ++v)
        for (int u = 0; u < kAlignedSize; ++u) {
            const Point2 p = back.apply({static_cast<double>(u), static_cast<double>(v)});
            if (!std::isfinite(p.x) || !std::isfinite(p.y)) continue;
            const double fx = std::floor(p.x), fy = std::floor(p.y);
            if (fx < -2 || fy < -2 || fx > image.width + 1 || fy > image.height + 1) continue;  // all black
            const int x = static_cast<int>(fx), y = static_cast<int>(fy);
            const double wx = p.x - fx, wy = p.y - fy;
            std::uint8_t* out = &crop.pixels[(static_cast<std::size_t>(v) * kAlignedSize + u) * 3];
            for (int c = 0; c < 3; ++c) {
                const double top = source(x, y, c) * (1 - wx) + source(x + 1, y, c) * wx;
                const double bottom = source(x, y + 1, c) * (1 - wx) + source(x + 1, y + 1, c) * wx;
                const double value = top * (1 - wy) + bottom * wy;
                out[c] = static_cast<std::uint8_t>(std::lround(std::clamp(value, 0.0, 255.0)));
            }
        }
    return crop;
}

}  // namespace mtcnn
