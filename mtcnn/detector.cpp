#include "mtcnn/detector.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>

#include "mtcnn/resize.h"

namespace mtcnn {
namespace {

// The nets were trained on pixels mapped to about [-1, 1].
constexpr float kPixelMean = 127.5f;
constexpr float kPixelScale = 0.0078125f;  // 1 / 128

// Windows per RNet / ONet batch (mirror images included): long enough for
// the fully connected layers, short enough that a batch's activations stay
// small (ONet's first layer holds 46x46x32 floats a window: 4.3 MB for 16).
// 8, 16 and 32 took the same time within noise; the answers do not depend
// on it.
constexpr int kWindowsPerBatch = 16;

// PNet runs on horizontal bands of this many output rows (of 2 input rows
// each): a band's activations stay small, and the bands of every pyramid
// level are the units shared among the threads.
constexpr int kPnetBandRows = 32;
// Input rows a band needs beyond its 2 x kPnetBandRows: PNet's 12x12
// receptive field minus its stride of 2.
constexpr int kPnetBandOverlap = 10;

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

    // The horizontal taps that land in the image, relative to the first
    // such pixel, and each crop row's pixels from there as floats (with a
    // float of slack, resize_row_rgb); the buffers are the thread's, reused
    // from window to window. The sums are those of the taps in x_taps' order.
    const int first_x = std::max(left, 0), last_x = std::min(left + crop_w, image.width);  // [first_x, last_x)
    thread_local RowTaps taps;
    taps.clear();
    for (int d = 0; d < size; ++d) {
        for (const ResizeTap& t : x_taps[d]) {
            const int x = left + t.source;
            if (x >= 0 && x < image.width) taps.add(x - first_x, t.weight);
        }
        taps.end_pixel();
    }
    thread_local std::vector<float> line;
    line.resize(static_cast<std::size_t>(std::max(last_x - first_x, 0)) * 3 + 1);
    thread_local std::vector<float> rows;
    rows.resize(static_cast<std::size_t>(crop_h) * size * 3);
    for (int r = 0; r < crop_h; ++r) {
        const int y = top + r;
        float* dst = rows.data() + static_cast<std::size_t>(r) * size * 3;
        if (y < 0 || y >= image.height || first_x >= last_x) {
            std::fill(dst, dst + size * 3, 0.0f);
            continue;
        }
        const std::uint8_t* src = image.pixels.data() + (static_cast<std::size_t>(y) * image.width + first_x) * 3;
        std::copy(src, src + static_cast<std::size_t>(last_x - first_x) * 3, line.begin());
        resize_row_rgb(line.data(), taps, dst);
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

// A box's result over its views: the face probability, the box regression
// and (ONet) the landmarks of the plain crop.
struct WindowResult {
    bool valid = false;  // false: the crop was empty
    float prob = 0;
    std::array<float, 4> reg{};
    std::array<float, 10> landmarks{};
};

// Runs `net` over the crops of `boxes` in batches of at most kWindowsPerBatch
// windows, spread over the pool; returns one result per box, in order (or
// throws DetectionTimeout, checked before each batch). With
// a mirror, each crop's mirror image follows it in the batch, and the two
// probabilities are averaged and so are the regressions (the mirror's left
// edge is the crop's right edge).
std::vector<WindowResult> run_windows(const engine::Forward& net, engine::ThreadPool& pool, const Image& image,
                                      const std::vector<Candidate>& boxes, int size, const Views& views,
                                      bool landmarks, std::int64_t& windows_run, const Deadline& deadline) {
    const std::size_t window = static_cast<std::size_t>(size) * size * 3;
    const int per_box = views.mirror ? 2 : 1;
    const std::size_t threads = static_cast<std::size_t>(pool.size());
    // The same batches whatever the threads, so the results are too.
    const std::size_t per_batch = kWindowsPerBatch / per_box;
    const std::size_t batches = (boxes.size() + per_batch - 1) / per_batch;
    std::vector<WindowResult> results(boxes.size());
    std::atomic<std::int64_t> run{0};
    // Worker t takes batches t, t + T, ... with one input and workspace.
    pool.parallel_for(std::min(threads, batches), [&](std::size_t worker) {
        engine::Tensor input;
        engine::Workspace ws;
        std::vector<std::size_t> batch;
        for (std::size_t b = worker; b < batches; b += threads) {
            deadline.check();
            const std::size_t first = b * per_batch, count = std::min(per_batch, boxes.size() - first);
            input.reshape({static_cast<int>(count) * per_box, size, size, 3});
            batch.clear();
            for (std::size_t i = first; i < first + count; ++i) {
                float* crop = input.data() + batch.size() * per_box * window;
                if (!crop_resized(image, boxes[i], size, views.enlarge, crop)) continue;
                if (views.mirror) mirror(crop, size, crop + window);
                batch.push_back(i);
            }
            if (batch.empty()) continue;
            input.reshape({static_cast<int>(batch.size()) * per_box, size, size, 3});
            net.forward(input, ws);
            run += static_cast<std::int64_t>(batch.size()) * per_box;
            const float* prob = net.output(ws, "prob").data();
            const float* reg = net.output(ws, "reg").data();
            const float* marks = landmarks ? net.output(ws, "landmarks").data() : nullptr;
            for (std::size_t k = 0; k < batch.size(); ++k) {
                WindowResult& r = results[batch[k]];
                const std::size_t w = k * per_box;
                const float* p = reg + w * 4;
                r.valid = true;
                r.prob = prob[w * 2 + 1];
                r.reg = {p[0], p[1], p[2], p[3]};
                if (views.mirror) {
                    const float* m = p + 4;
                    r.prob = (r.prob + prob[(w + 1) * 2 + 1]) / 2;
                    r.reg = {(p[0] - m[2]) / 2, (p[1] + m[1]) / 2, (p[2] - m[0]) / 2, (p[3] + m[3]) / 2};
                }
                if (marks) std::copy_n(marks + w * 10, 10, r.landmarks.begin());
            }
        }
    });
    windows_run += run;
    return results;
}

// PNet's face cells of one pyramid level.
struct Cell {
    int row, col;
    float score;
    std::array<float, 4> reg;
};

// The input rows of the band of output rows from `first_row`: from row
// 2 first_row of a level `h` rows high, this many (fewer than
// kPnetBandOverlap + 2: the band has no output).
int pnet_band_rows(int h, int first_row) { return std::min(h - 2 * first_row, 2 * kPnetBandRows + kPnetBandOverlap); }

// PNet over output rows [first_row, first_row + kPnetBandRows) of a level:
// the cells scoring at least `threshold`. `pixels` holds the band's input
// rows (w x rows x 3 bytes, pnet_band_rows), which overlap its neighbours',
// so its outputs are those of the whole level.
std::vector<Cell> pnet_band(const engine::Forward& pnet, const std::uint8_t* pixels, int w, int rows, int first_row,
                            float threshold, engine::Tensor& input, engine::Workspace& ws) {
    std::vector<Cell> cells;
    input.reshape({1, rows, w, 3});
    for (std::size_t i = 0; i < static_cast<std::size_t>(rows) * w * 3; ++i) input.data()[i] = normalise(pixels[i]);
    pnet.forward(input, ws);
    const engine::Tensor& prob = pnet.output(ws, "prob");
    const engine::Tensor& reg = pnet.output(ws, "reg");
    for (int row = 0; row < prob.h(); ++row)
        for (int col = 0; col < prob.w(); ++col) {
            const float score = prob.at(0, row, col)[1];
            if (score < threshold) continue;
            const float* r = reg.at(0, row, col);
            cells.push_back({first_row + row, col, score, {r[0], r[1], r[2], r[3]}});
        }
    return cells;
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

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

Detector::Detector(const engine::Kernels& kernels, const std::string& weights_dir, int threads)
    : owned_(std::make_unique<const Nets>(load_nets(kernels, weights_dir))),
      pnet_(&owned_->pnet),
      rnet_(&owned_->rnet),
      onet_(&owned_->onet),
      pool_(std::make_unique<engine::ThreadPool>(threads)) {}

Detector::Detector(const engine::Forward& pnet, const engine::Forward& rnet, const engine::Forward& onet,
                   int threads)
    : pnet_(&pnet), rnet_(&rnet), onet_(&onet), pool_(std::make_unique<engine::ThreadPool>(threads)) {}

std::vector<Candidate> Detector::stage_pnet(const Image& image, const DetectOptions& options, DetectStats& stats,
                                            const Deadline& deadline) const {
    // A level is never held whole: each band resamples its own rows from
    // the photo (a 48-megapixel photo's pyramid would take 380 MB).
    struct Level {
        double scale;
        int w, h;
        ResizePlan plan;
        std::vector<std::vector<Cell>> bands;
    };
    std::vector<Level> levels;
    for (double scale : pyramid_scales(image.width, image.height, options.min_face, options.scale_factor)) {
        const int w = static_cast<int>(std::ceil(image.width * scale));
        const int h = static_cast<int>(std::ceil(image.height * scale));
        const int out_rows = (h - kPnetBandOverlap) / 2;  // an upper bound: the last band may be empty
        levels.push_back({scale, w, h, ResizePlan(image.width, image.height, w, h, options.enlarge),
                          std::vector<std::vector<Cell>>((out_rows + kPnetBandRows - 1) / kPnetBandRows)});
        stats.pnet_pixels += static_cast<std::int64_t>(w) * h;
    }
    stats.pyramid_levels = static_cast<int>(levels.size());

    // Every level's bands, largest level first, as one list of work items.
    std::vector<std::pair<std::size_t, std::size_t>> items;
    for (std::size_t i = 0; i < levels.size(); ++i)
        for (std::size_t b = 0; b < levels[i].bands.size(); ++b) items.emplace_back(i, b);
    // A band that finds the deadline passed throws; the pool rethrows the
    // first such error once every band has returned (the others at once).
    pool_->parallel_for(items.size(), [&](std::size_t k) {
        deadline.check();
        Level& l = levels[items[k].first];
        const int first_row = static_cast<int>(items[k].second) * kPnetBandRows;
        const int rows = pnet_band_rows(l.h, first_row);
        if (rows < kPnetBandOverlap + 2) return;
        // A few MB each: freed, then reused from the allocator by the next band.
        std::vector<std::uint8_t> pixels(static_cast<std::size_t>(rows) * l.w * 3);
        engine::Tensor input;
        engine::Workspace ws;
        resize_rows(l.plan, image.pixels.data(), 3, pixels.data(), 2 * first_row, rows);
        l.bands[items[k].second] =
            pnet_band(*pnet_, pixels.data(), l.w, rows, first_row, options.thresholds[0], input, ws);
    });

    std::vector<Candidate> total;
    for (const Level& l : levels) {
        std::vector<Cell> cells;
        for (const auto& band : l.bands) cells.insert(cells.end(), band.begin(), band.end());
        // Column-major like the predecessor's np.where on the transposed map,
        // so equal scores meet NMS in the same order.
        std::stable_sort(cells.begin(), cells.end(), [](const Cell& a, const Cell& b) { return a.col < b.col; });
        std::vector<Candidate> boxes;
        for (const Cell& c : cells) boxes.push_back(cell_box(c.row, c.col, l.scale, c.score, c.reg));
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
                                            const DetectOptions& options, DetectStats& stats,
                                            const Deadline& deadline) const {
    const Views views{options.enlarge, options.rnet_mirror};
    const std::vector<WindowResult> results =
        run_windows(*rnet_, *pool_, image, boxes, kRnetSize, views, false, stats.rnet_windows, deadline);
    std::vector<Candidate> passed;
    for (std::size_t i = 0; i < boxes.size(); ++i) {
        const WindowResult& r = results[i];
        if (!r.valid || r.prob <= options.thresholds[1]) continue;
        Candidate c = boxes[i];
        c.score = c.stages[1] = r.prob;
        c.reg = r.reg;
        passed.push_back(c);
    }
    passed = select(passed, nms(passed, options.nms[2], Overlap::union_));
    for (Candidate& b : passed) {
        apply_regression(b, true);
        make_square(b);
    }
    return passed;
}

std::vector<Candidate> Detector::stage_onet(const Image& image, std::vector<Candidate> boxes,
                                            const DetectOptions& options, int pass, DetectStats& stats,
                                            const Deadline& deadline) const {
    for (Candidate& b : boxes) truncate_corners(b);
    const Views views{options.enlarge, options.onet_mirror};
    const std::vector<WindowResult> results =
        run_windows(*onet_, *pool_, image, boxes, kOnetSize, views, true, stats.onet_windows, deadline);
    const float threshold = pass == options.onet_passes ? options.thresholds[2] : options.onet_pass_threshold;
    std::vector<Candidate> passed;
    for (std::size_t i = 0; i < boxes.size(); ++i) {
        const WindowResult& r = results[i];
        if (!r.valid) continue;
        Candidate c = boxes[i];
        // The running mean over the passes so far.
        c.stages[2] = pass == 1 ? r.prob : c.stages[2] + (r.prob - c.stages[2]) / pass;
        c.score = final_score(c.stages, options.stage_weights);
        if (c.score <= threshold) continue;
        c.reg = r.reg;
        // Landmarks (of the plain crop) are relative to the window, mapped
        // back with the predecessor's 1-based offset.
        const float w = c.x2 - c.x1 + 1, h = c.y2 - c.y1 + 1;
        for (int k = 0; k < 5; ++k) {
            c.landmarks[k] = w * r.landmarks[k] + c.x1 - 1;
            c.landmarks[5 + k] = h * r.landmarks[5 + k] + c.y1 - 1;
        }
        passed.push_back(c);
    }
    for (Candidate& b : passed) apply_regression(b, true);
    return select(passed, nms(passed, options.nms[3], Overlap::minimum));
}

std::vector<Face> Detector::detect(const Image& image, const DetectOptions& options, DetectStats* stats_out,
                                   const Deadline& deadline) const {
    DetectStats stats;
    deadline.check();
    auto start = Clock::now();
    std::vector<Candidate> boxes = stage_pnet(image, options, stats, deadline);
    stats.pnet_seconds = seconds_since(start);
    start = Clock::now();
    if (!boxes.empty()) boxes = stage_rnet(image, std::move(boxes), options, stats, deadline);
    stats.rnet_seconds = seconds_since(start);
    start = Clock::now();
    for (int pass = 1; pass <= options.onet_passes && !boxes.empty(); ++pass) {
        if (pass > 1)
            for (Candidate& b : boxes) make_square(b);
        boxes = stage_onet(image, std::move(boxes), options, pass, stats, deadline);
    }
    stats.onet_seconds = seconds_since(start);
    if (stats_out) *stats_out = stats;

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
