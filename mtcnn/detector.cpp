#include "mtcnn/detector.h"

#include <algorithm>
#include <cmath>

#include "mtcnn/resize.h"

namespace mtcnn {
namespace {

// The nets were trained on pixels mapped to about [-1, 1].
constexpr float kPixelMean = 127.5f;
constexpr float kPixelScale = 0.0078125f;  // 1 / 128

// Overlap thresholds of the predecessor's NMS steps.
constexpr float kNmsWithinScale = 0.5f;
constexpr float kNmsAcrossScales = 0.7f;
constexpr float kNmsRnet = 0.7f;
constexpr float kNmsOnet = 0.7f;

// Windows per RNet / ONet batch: bounds the activations' memory (ONet's first
// layer holds 46x46x32 floats a window) while keeping the batches long.
constexpr int kWindowsPerBatch = 128;

float normalise(float v) {
    return (v - kPixelMean) * kPixelScale;
}

// The crop of `box` (truncated corners) resized to size x size, normalised,
// written to `out` (size*size*3 floats). As in the predecessor, the crop
// covers image pixels x1-1 .. x2-1 (MATLAB's 1-based corners read as
// 0-based), with zeros outside the image. Resampled without materialising the
// crop: rows of taps over the virtual crop, then columns.
bool crop_resized(const Image& image, const Candidate& box, int size, float* out) {
    const int crop_w = static_cast<int>(box.x2 - box.x1) + 1;
    const int crop_h = static_cast<int>(box.y2 - box.y1) + 1;
    if (crop_w <= 0 || crop_h <= 0) return false;
    const int left = static_cast<int>(box.x1) - 1;
    const int top = static_cast<int>(box.y1) - 1;
    const bool shrink = crop_w >= size && crop_h >= size;
    const auto x_taps = area_taps(crop_w, size, shrink);
    const auto y_taps = area_taps(crop_h, size, shrink);

    std::vector<float> rows(static_cast<std::size_t>(crop_h) * size * 3, 0.0f);
    for (int r = 0; r < crop_h; ++r) {
        const int y = top + r;
        if (y < 0 || y >= image.height) continue;
        float* dst = rows.data() + static_cast<std::size_t>(r) * size * 3;
        for (int d = 0; d < size; ++d)
            for (const ResizeTap& t : x_taps[d]) {
                const int x = left + t.source;
                if (x < 0 || x >= image.width) continue;
                for (int c = 0; c < 3; ++c) dst[d * 3 + c] += t.weight * image.at(x, y, c);
            }
    }
    for (int d = 0; d < size; ++d) {
        float* dst = out + static_cast<std::size_t>(d) * size * 3;
        std::fill(dst, dst + size * 3, 0.0f);
        for (const ResizeTap& t : y_taps[d]) {
            const float* src = rows.data() + static_cast<std::size_t>(t.source) * size * 3;
            for (int i = 0; i < size * 3; ++i) dst[i] += t.weight * src[i];
        }
        for (int i = 0; i < size * 3; ++i) dst[i] = normalise(dst[i]);
    }
    return true;
}

// Runs `net` over the crops of `boxes` in batches; calls
// keep(box, outputs, index in batch) for each.
template <class Keep>
void run_windows(const engine::Network& net, const Image& image, const std::vector<Candidate>& boxes, int size,
                 Keep keep) {
    engine::Tensor input;
    engine::Workspace ws;
    const std::size_t window = static_cast<std::size_t>(size) * size * 3;
    for (std::size_t first = 0; first < boxes.size(); first += kWindowsPerBatch) {
        const std::size_t count = std::min<std::size_t>(kWindowsPerBatch, boxes.size() - first);
        input.reshape({static_cast<int>(count), size, size, 3});
        std::vector<const Candidate*> batch;
        for (std::size_t i = 0; i < count; ++i)
            if (crop_resized(image, boxes[first + i], size, input.data() + batch.size() * window))
                batch.push_back(&boxes[first + i]);
        if (batch.empty()) continue;
        input.reshape({static_cast<int>(batch.size()), size, size, 3});
        net.forward(input, ws);
        for (std::size_t i = 0; i < batch.size(); ++i) keep(*batch[i], ws, i);
    }
}

// `box` with the face probability and regression the net gave window i.
Candidate scored(const Candidate& box, const engine::Network& net, const engine::Workspace& ws, std::size_t i) {
    Candidate c = box;
    c.score = net.output(ws, "prob").data()[i * 2 + 1];
    const float* r = net.output(ws, "reg").data() + i * 4;
    c.reg = {r[0], r[1], r[2], r[3]};
    return c;
}

}  // namespace

Detector::Detector(const engine::Kernels& kernels, const std::string& weights_dir)
    : nets_(load_nets(kernels, weights_dir)) {}

std::vector<Candidate> Detector::stage_pnet(const Image& image, const DetectOptions& options) const {
    std::vector<Candidate> total;
    std::vector<std::uint8_t> scaled;
    engine::Tensor input;
    engine::Workspace ws;
    for (double scale : pyramid_scales(image.width, image.height, options.min_face, options.scale_factor)) {
        const int w = static_cast<int>(std::ceil(image.width * scale));
        const int h = static_cast<int>(std::ceil(image.height * scale));
        scaled.resize(static_cast<std::size_t>(w) * h * 3);
        resize_area(image.pixels.data(), image.width, image.height, 3, scaled.data(), w, h);
        input.reshape({1, h, w, 3});
        for (std::size_t i = 0; i < scaled.size(); ++i) input.data()[i] = normalise(scaled[i]);
        nets_.pnet.forward(input, ws);
        const engine::Tensor& prob = nets_.pnet.output(ws, "prob");
        const engine::Tensor& reg = nets_.pnet.output(ws, "reg");

        // Column-major like the predecessor's np.where on the transposed map,
        // so equal scores meet NMS in the same order.
        std::vector<Candidate> boxes;
        for (int col = 0; col < prob.w(); ++col)
            for (int row = 0; row < prob.h(); ++row) {
                const float score = prob.at(0, row, col)[1];
                if (score < options.thresholds[0]) continue;
                const float* r = reg.at(0, row, col);
                boxes.push_back(cell_box(row, col, scale, score, {r[0], r[1], r[2], r[3]}));
            }
        for (const Candidate& b : select(boxes, nms(boxes, kNmsWithinScale, Overlap::union_))) total.push_back(b);
    }
    total = select(total, nms(total, kNmsAcrossScales, Overlap::union_));
    for (Candidate& b : total) {
        apply_regression(b, false);
        make_square(b);
        truncate_corners(b);
    }
    return total;
}

std::vector<Candidate> Detector::stage_rnet(const Image& image, std::vector<Candidate> boxes, float threshold) const {
    std::vector<Candidate> passed;
    run_windows(nets_.rnet, image, boxes, kRnetSize, [&](const Candidate& box, const engine::Workspace& ws, std::size_t i) {
        const Candidate c = scored(box, nets_.rnet, ws, i);
        if (c.score > threshold) passed.push_back(c);
    });
    passed = select(passed, nms(passed, kNmsRnet, Overlap::union_));
    for (Candidate& b : passed) {
        apply_regression(b, true);
        make_square(b);
    }
    return passed;
}

std::vector<Candidate> Detector::stage_onet(const Image& image, std::vector<Candidate> boxes, float threshold) const {
    for (Candidate& b : boxes) truncate_corners(b);
    std::vector<Candidate> passed;
    run_windows(nets_.onet, image, boxes, kOnetSize, [&](const Candidate& box, const engine::Workspace& ws, std::size_t i) {
        Candidate c = scored(box, nets_.onet, ws, i);
        if (c.score <= threshold) return;
        // Landmarks are relative to the window, mapped back with the
        // predecessor's 1-based offset.
        const float* p = nets_.onet.output(ws, "landmarks").data() + i * 10;
        const float w = c.x2 - c.x1 + 1, h = c.y2 - c.y1 + 1;
        for (int k = 0; k < 5; ++k) {
            c.landmarks[k] = w * p[k] + c.x1 - 1;
            c.landmarks[5 + k] = h * p[5 + k] + c.y1 - 1;
        }
        passed.push_back(c);
    });
    for (Candidate& b : passed) apply_regression(b, true);
    return select(passed, nms(passed, kNmsOnet, Overlap::minimum));
}

std::vector<Face> Detector::detect(const Image& image, const DetectOptions& options) const {
    std::vector<Candidate> boxes = stage_pnet(image, options);
    if (!boxes.empty()) boxes = stage_rnet(image, std::move(boxes), options.thresholds[1]);
    if (!boxes.empty()) boxes = stage_onet(image, std::move(boxes), options.thresholds[2]);

    std::vector<Face> faces;
    for (const Candidate& b : boxes) {
        Face f;
        // Truncation toward zero, as the predecessor's int().
        f.x = std::max(0, static_cast<int>(b.x1));
        f.y = std::max(0, static_cast<int>(b.y1));
        f.width = std::max(0, static_cast<int>(std::min(b.x2, static_cast<float>(image.width)) - f.x));
        f.height = std::max(0, static_cast<int>(std::min(b.y2, static_cast<float>(image.height)) - f.y));
        f.confidence = b.score;
        for (int k = 0; k < 5; ++k)
            f.keypoints[k] = {static_cast<int>(b.landmarks[k]), static_cast<int>(b.landmarks[5 + k])};
        faces.push_back(f);
    }
    std::stable_sort(faces.begin(), faces.end(), [](const Face& a, const Face& b) { return a.confidence > b.confidence; });
    return faces;
}

}  // namespace mtcnn
