#include "mtcnn/detector.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "mtcnn/resize.h"

namespace mtcnn {
namespace {

// The nets were trained on pixels mapped to about [-1, 1].
constexpr float kPixelMean = 127.5f;
constexpr float kPixelScale = 0.0078125f;  // 1 / 128

// Windows per RNet / ONet batch (mirror images included): bounds
// the activations' memory (ONet's first layer holds 46x46x32 floats a
// window) while keeping the batches long.
constexpr int kWindowsPerBatch = 128;

float normalise(float v) {
    return (v - kPixelMean) * kPixelScale;
}

// The crop of `box` (truncated corners) resized to size x size, normalised,
// written to `out` (size*size*3 floats). As in the predecessor, the crop
// covers image pixels x1-1 .. x2-1 (MATLAB's 1-based corners read as
// 0-based), with zeros outside the image. Resampled without materialising the
// crop: rows of taps over the virtual crop, then columns.
bool crop_resized(const Image& image, const Candidate& box, int size, Enlarge enlarge, float* out) {
    const int crop_w = static_cast<int>(box.x2 - box.x1) + 1;
    const int crop_h = static_cast<int>(box.y2 - box.y1) + 1;
    if (crop_w <= 0 || crop_h <= 0) return false;
    const int left = static_cast<int>(box.x1) - 1;
    const int top = static_cast<int>(box.y1) - 1;
    const bool shrink = crop_w >= size && crop_h >= size;
    const auto x_taps = resize_taps(crop_w, size, shrink, enlarge);
    const auto y_taps = resize_taps(crop_h, size, shrink, enlarge);

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

// A size x size window mirrored left to right.
void mirror(const float* in, int size, float* out) {
    for (int y = 0; y < size; ++y)
        for (int x = 0; x < size; ++x)
            std::copy_n(in + (static_cast<std::size_t>(y) * size + x) * 3, 3,
                        out + (static_cast<std::size_t>(y) * size + (size - 1 - x)) * 3);
}

// What a net is shown of each box.
struct Views {
    Enlarge enlarge = Enlarge::area;
    bool mirror = false;
};

// A box's result over its views: the face probability, the box regression,
// and the window of the plain crop (for other outputs such as landmarks).
struct WindowResult {
    float prob = 0;
    std::array<float, 4> reg{};
    std::size_t window = 0;
};

// Runs `net` over the crops of `boxes` in batches of at most kWindowsPerBatch
// windows; calls keep(box, result, workspace) for each box whose crop is not
// empty. With a mirror, each crop's mirror image follows it in the batch, and
// the two probabilities are averaged and so are the regressions (the
// mirror's left edge is the crop's right edge).
template <class Keep>
void run_windows(const engine::Network& net, const Image& image, const std::vector<Candidate>& boxes, int size,
                 const Views& views, Keep keep) {
    engine::Tensor input;
    engine::Workspace ws;
    const std::size_t window = static_cast<std::size_t>(size) * size * 3;
    const int per_box = views.mirror ? 2 : 1;
    const std::size_t boxes_per_batch = static_cast<std::size_t>(kWindowsPerBatch / per_box);
    std::vector<const Candidate*> batch;
    for (std::size_t first = 0; first < boxes.size(); first += boxes_per_batch) {
        const std::size_t count = std::min(boxes_per_batch, boxes.size() - first);
        input.reshape({static_cast<int>(count) * per_box, size, size, 3});
        batch.clear();
        for (std::size_t i = 0; i < count; ++i) {
            float* crop = input.data() + batch.size() * per_box * window;
            if (!crop_resized(image, boxes[first + i], size, views.enlarge, crop)) continue;
            if (views.mirror) mirror(crop, size, crop + window);
            batch.push_back(&boxes[first + i]);
        }
        if (batch.empty()) continue;
        input.reshape({static_cast<int>(batch.size()) * per_box, size, size, 3});
        net.forward(input, ws);
        const float* prob = net.output(ws, "prob").data();
        const float* reg = net.output(ws, "reg").data();
        for (std::size_t i = 0; i < batch.size(); ++i) {
            WindowResult r;
            r.window = i * per_box;
            const float* p = reg + r.window * 4;
            r.prob = prob[r.window * 2 + 1];
            r.reg = {p[0], p[1], p[2], p[3]};
            if (views.mirror) {
                const float* m = p + 4;
                r.prob = (r.prob + prob[(r.window + 1) * 2 + 1]) / 2;
                r.reg = {(p[0] - m[2]) / 2, (p[1] + m[1]) / 2, (p[2] - m[0]) / 2, (p[3] + m[3]) / 2};
            }
            keep(*batch[i], r, ws);
        }
    }
}

// The final score: the weighted geometric mean of the stages' probabilities.
float final_score(const std::array<float, 3>& stages, const std::array<float, 3>& weights) {
    if (weights[0] == 0 && weights[1] == 0) return stages[2];  // ONet's own, exactly
    double log_sum = 0, weight_sum = 0;
    for (int i = 0; i < 3; ++i) {
        if (weights[i] == 0) continue;
        log_sum += weights[i] * std::log(std::max(stages[i], std::numeric_limits<float>::min()));
        weight_sum += weights[i];
    }
    return static_cast<float>(std::exp(log_sum / weight_sum));
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
        resize(image.pixels.data(), image.width, image.height, 3, scaled.data(), w, h, options.enlarge);
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
        for (const Candidate& b : select(boxes, nms(boxes, options.nms[0], Overlap::union_))) total.push_back(b);
    }
    total = select(total, nms(total, options.nms[1], Overlap::union_));
    for (Candidate& b : total) {
        apply_regression(b, false);
        make_square(b);
        truncate_corners(b);
    }
    return total;
}

std::vector<Candidate> Detector::stage_rnet(const Image& image, std::vector<Candidate> boxes,
                                            const DetectOptions& options) const {
    std::vector<Candidate> passed;
    const Views views{options.enlarge, options.rnet_mirror};
    run_windows(nets_.rnet, image, boxes, kRnetSize, views,
                [&](const Candidate& box, const WindowResult& r, const engine::Workspace&) {
                    if (r.prob <= options.thresholds[1]) return;
                    Candidate c = box;
                    c.score = c.stages[1] = r.prob;
                    c.reg = r.reg;
                    passed.push_back(c);
                });
    passed = select(passed, nms(passed, options.nms[2], Overlap::union_));
    for (Candidate& b : passed) {
        apply_regression(b, true);
        make_square(b);
    }
    return passed;
}

std::vector<Candidate> Detector::stage_onet(const Image& image, std::vector<Candidate> boxes,
                                            const DetectOptions& options, int pass) const {
    for (Candidate& b : boxes) truncate_corners(b);
    std::vector<Candidate> passed;
    const Views views{options.enlarge, options.onet_mirror};
    run_windows(nets_.onet, image, boxes, kOnetSize, views,
                [&](const Candidate& box, const WindowResult& r, const engine::Workspace& ws) {
                    Candidate c = box;
                    // The running mean over the passes so far.
                    c.stages[2] = pass == 1 ? r.prob : box.stages[2] + (r.prob - box.stages[2]) / pass;
                    c.score = final_score(c.stages, options.stage_weights);
                    const float threshold =
                        pass == options.onet_passes ? options.thresholds[2] : options.onet_pass_threshold;
                    if (c.score <= threshold) return;
                    c.reg = r.reg;
                    // Landmarks (of the plain crop) are relative to the window,
                    // mapped back with the predecessor's 1-based offset.
                    const float* p = nets_.onet.output(ws, "landmarks").data() + r.window * 10;
                    const float w = c.x2 - c.x1 + 1, h = c.y2 - c.y1 + 1;
                    for (int k = 0; k < 5; ++k) {
                        c.landmarks[k] = w * p[k] + c.x1 - 1;
                        c.landmarks[5 + k] = h * p[5 + k] + c.y1 - 1;
                    }
                    passed.push_back(c);
                });
    for (Candidate& b : passed) apply_regression(b, true);
    return select(passed, nms(passed, options.nms[3], Overlap::minimum));
}

std::vector<Face> Detector::detect(const Image& image, const DetectOptions& options) const {
    std::vector<Candidate> boxes = stage_pnet(image, options);
    if (!boxes.empty()) boxes = stage_rnet(image, std::move(boxes), options);
    for (int pass = 1; pass <= options.onet_passes && !boxes.empty(); ++pass) {
        if (pass > 1)
            for (Candidate& b : boxes) make_square(b);
        boxes = stage_onet(image, std::move(boxes), options, pass);
    }

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
