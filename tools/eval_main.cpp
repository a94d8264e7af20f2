// widerface-eval: runs the cascade over the WIDER FACE dev sample
// (../shared/eval/widerface-dev, README there), in this process or through a
// running face-service's HTTP API (--url), and reports AP easy / medium /
// hard by the official protocol and recall per perceived skin type
// (tools/wider_eval.h). Without the manifest it says so and exits 0: the
// data set is not part of the repository.
//
// Scores are what the API answers: the mode's calibrated confidence
// (mtcnn/modes.h). The tuning options (--min-face ... --onet-passes) change the
// mode's cascade for experiments; the mode's calibration was fitted to its
// own settings, so with any of them the scores are the raw final scores.
//
// One detector run serves both measurements: the AP run keeps the boxes
// down to --threshold, and the fairness table keeps those with confidence >=
// --confidence. That equals a run at threshold C, because the last NMS visits
// boxes by falling score, so a box under C never suppresses one above.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "engine/cpu.h"
#include "engine/thread_pool.h"
#include "mtcnn/detector.h"
#include "mtcnn/modes.h"
#include "server/http_client.h"
#include "tools/cli.h"
#include "tools/pr_plot.h"
#include "tools/wider_eval.h"

namespace {

namespace fs = std::filesystem;
namespace ev = tools::eval;

constexpr const char* kUsage = R"(usage:
  widerface-eval [--manifest PATH] [--mode NAME] [--url http://HOST:PORT] [--threads N]
                 [--threshold T] [--confidence C] [--limit N]
                 [--json OUT.json] [--curve OUT.csv] [--plot OUT.svg] [--detections OUT.json]
                 [tuning options]
      --manifest PATH   the dev sample's manifest (default
                        ../shared/eval/widerface-dev/manifest.json); photos are
                        read relative to its folder
      --mode NAME       faithful, default or accurate (default: default)
      --url URL         send every photo to a running face-service at URL
                        (POST /api/detect?mode=NAME&confidence=T) instead of
                        running the cascade here
      --threads N       photos in flight at once (default: the number of cores)
      --threshold T     the lowest confidence asked for, so that the whole
                        precision/recall curve exists (default 0: all)
      --confidence C    operating threshold for the skin-type table (default 0.95,
                        the service's default confidence)
      --limit N         only the first N photos of the manifest
      --json OUT.json   write every number as JSON
      --curve OUT.csv   write the precision/recall curves (setting,threshold,precision,recall)
      --plot OUT.svg    draw them
      --detections OUT.json  write every photo's boxes with the cascade's raw final
                        scores, for tools/calibrate: [{"image", "boxes": [[x, y, w, h,
                        score], ...]}, ...] in manifest order (not with --url)
  tuning options: change the mode's cascade (mtcnn/detector.h; not with --url; the
  scores are then raw, since the mode's calibration belongs to its own settings)
      --min-face N      smallest face to look for, in pixels (at least 8)
      --factor F        scale between pyramid levels (in [0.5, 0.95])
      --pnet-threshold P, --rnet-threshold R   stage thresholds (in [0, 1])
      --nms A,B,C,D     NMS overlaps: PNet within and across levels, RNet, final
      --enlarge area|bilinear   how small crops are enlarged
      --stage-weights P,R,O     the final score's weights on the stages' probabilities
      --mirror, --no-mirror     ONet also sees the mirrored crop, or not
      --rnet-mirror, --no-rnet-mirror   RNet too
      --onet-passes N   ONet runs N times, each on the boxes of the last
      --onet-pass-threshold T   the score the passes before the last keep
"max recall" is the recall at the lowest threshold: the most the run can reach.
)";

constexpr const char* kDefaultManifest = "../shared/eval/widerface-dev/manifest.json";
// README: 0.02 or lower, so that the whole curve exists. 0 keeps everything
// the cascade scores: a calibrated confidence under 0.02 still belongs to a
// real face now and then (about 2.5% of them in the default mode).
constexpr double kDefaultThreshold = 0.0;
constexpr double kDefaultConfidence = 0.95;  // the service's default
constexpr double kSmallestFactor = 0.5, kLargestFactor = 0.95;  // beyond: a needlessly coarse or huge pyramid
constexpr int kProgressSteps = 10;   // progress lines per run
// Operating points of the skin-type sweep (those at or above --threshold).
constexpr double kSweepConfidences[] = {0.02, 0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99};

using tools::cli::UsageError;
using tools::cli::parse_number;

struct Args {
    fs::path manifest = kDefaultManifest;
    const mtcnn::Mode* mode = &mtcnn::find_mode(mtcnn::kDefaultMode);
    mtcnn::DetectOptions options;  // the mode's, with the tuning options applied
    bool tuned = false;            // a tuning option was given
    std::string url;
    int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    double threshold = kDefaultThreshold;
    double confidence = kDefaultConfidence;
    std::string json_out, curve_out, plot_out, detections_out;
    std::size_t limit = 0;  // 0: all
};

double parse_unit(const std::string& flag, const std::string& text) {
    const double v = parse_number(flag, text);
    if (!(v >= 0.0 && v <= 1.0)) throw UsageError(flag + " must be in [0, 1]");
    return v;
}

std::vector<double> parse_list(const std::string& flag, const std::string& text, std::size_t n) {
    std::vector<double> out;
    std::size_t start = 0;
    while (true) {
        const std::size_t comma = text.find(',', start);
        out.push_back(parse_number(flag, text.substr(start, comma - start)));
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    if (out.size() != n) throw UsageError(flag + " needs " + std::to_string(n) + " comma-separated numbers");
    return out;
}

int parse_count(const std::string& flag, const std::string& text, int smallest) {
    const double n = parse_number(flag, text);
    if (n != static_cast<int>(n) || n < smallest)
        throw UsageError(flag + " must be an integer of at least " + std::to_string(smallest));
    return static_cast<int>(n);
}

// A tuning option: `flag` applied to `o`, consuming its value through
// `value`; false when `flag` is not one.
template <class Value>
bool apply_tuning(const std::string& flag, Value value, mtcnn::DetectOptions& o) {
    if (flag == "--min-face") {
        o.min_face = parse_count(flag, value(), mtcnn::kSmallestMinFace);
    } else if (flag == "--factor") {
        const double f = parse_number(flag, value());
        if (!(f >= kSmallestFactor && f <= kLargestFactor)) throw UsageError("--factor must be in [0.5, 0.95]");
        o.scale_factor = f;
    } else if (flag == "--pnet-threshold") {
        o.thresholds[0] = static_cast<float>(parse_unit(flag, value()));
    } else if (flag == "--rnet-threshold") {
        o.thresholds[1] = static_cast<float>(parse_unit(flag, value()));
    } else if (flag == "--nms") {
        const auto v = parse_list(flag, value(), 4);
        for (std::size_t k = 0; k < 4; ++k) {
            if (!(v[k] > 0 && v[k] <= 1)) throw UsageError("--nms overlaps must be in (0, 1]");
            o.nms[k] = static_cast<float>(v[k]);
        }
    } else if (flag == "--enlarge") {
        const std::string& v = value();
        if (v != "area" && v != "bilinear") throw UsageError("--enlarge must be area or bilinear");
        o.enlarge = v == "area" ? mtcnn::Enlarge::area : mtcnn::Enlarge::bilinear;
    } else if (flag == "--stage-weights") {
        const auto v = parse_list(flag, value(), 3);
        if (!(v[0] >= 0 && v[1] >= 0 && v[2] >= 0) || v[0] + v[1] + v[2] <= 0)
            throw UsageError("--stage-weights must be >= 0 and not all 0");
        for (std::size_t k = 0; k < 3; ++k) o.stage_weights[k] = static_cast<float>(v[k]);
    } else if (flag == "--mirror" || flag == "--no-mirror") {
        o.onet_mirror = flag == "--mirror";
    } else if (flag == "--rnet-mirror" || flag == "--no-rnet-mirror") {
        o.rnet_mirror = flag == "--rnet-mirror";
    } else if (flag == "--onet-passes") {
        o.onet_passes = parse_count(flag, value(), 1);
    } else if (flag == "--onet-pass-threshold") {
        o.onet_pass_threshold = static_cast<float>(parse_unit(flag, value()));
    } else {
        return false;
    }
    return true;
}

Args parse_args(const std::vector<std::string>& args) {
    Args a;
    // The mode first: the tuning options change its settings, wherever they stand.
    for (std::size_t i = 0; i + 1 < args.size(); ++i)
        if (args[i] == "--mode") try {
                a.mode = &mtcnn::find_mode(args[i + 1]);
            } catch (const mtcnn::UnknownMode& e) {
                throw UsageError(e.what());
            }
    a.options = a.mode->options;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& flag = args[i];
        const auto value = [&] { return tools::cli::flag_value(args, i); };
        if (flag == "--manifest") {
            a.manifest = value();
        } else if (flag == "--mode") {
            value();  // read above
        } else if (flag == "--url") {
            a.url = value();
        } else if (flag == "--threads") {
            a.threads = parse_count(flag, value(), 1);
        } else if (flag == "--threshold") {
            a.threshold = parse_unit(flag, value());
        } else if (flag == "--confidence") {
            a.confidence = parse_unit(flag, value());
        } else if (flag == "--json") {
            a.json_out = value();
        } else if (flag == "--curve") {
            a.curve_out = value();
        } else if (flag == "--plot") {
            a.plot_out = value();
        } else if (flag == "--detections") {
            a.detections_out = value();
        } else if (flag == "--limit") {
            a.limit = static_cast<std::size_t>(parse_count(flag, value(), 1));
        } else if (apply_tuning(flag, value, a.options)) {
            a.tuned = true;
        } else {
            throw UsageError("unknown argument " + flag);
        }
    }
    if (a.confidence < a.threshold)
        throw UsageError("--confidence must not be below --threshold (the table filters the AP run's boxes)");
    if (!a.url.empty() && a.tuned) throw UsageError("the tuning options change the cascade here; not with --url");
    if (!a.url.empty() && !a.detections_out.empty())
        throw UsageError("--detections writes raw scores, which the API does not return; not with --url");
    if (!a.url.empty()) try {
            server::http_client::parse_base_url(a.url);
        } catch (const std::invalid_argument& e) {
            throw UsageError(std::string("--url: ") + e.what());
        }
    return a;
}

nlohmann::json optional_json(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(); }

void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
    out.close();
    if (!out) throw std::runtime_error(path + ": cannot be written");
}

// The confidences a request in `args.mode` would get: calibrated, unless the
// tuning options changed the cascade the calibration was fitted to.
const mtcnn::Calibration& scoring(const Args& args) {
    static const mtcnn::Calibration raw;
    return args.tuned ? raw : args.mode->calibration;
}

// Every photo through the service: `threads` clients, each with its own
// keep-alive connection, take the photos in turn.
std::vector<std::vector<ev::Detection>> post_photos(const Args& args, const std::vector<ev::Photo>& photos,
                                                     const std::function<void(std::size_t)>& progress) {
    const server::http_client::Endpoint endpoint = server::http_client::parse_base_url(args.url);
    char target[160];
    std::snprintf(target, sizeof target, "/api/detect?mode=%s&confidence=%.6g",
                  std::string(args.mode->name).c_str(), args.threshold);
    {
        server::http_client::Client client(endpoint);
        const auto ready = client.get("/readyz");
        if (ready.status != 200)
            throw std::runtime_error(args.url + "/readyz answered " + std::to_string(ready.status) + ": " + ready.body);
    }
    std::vector<std::vector<ev::Detection>> out(photos.size());
    std::atomic<std::size_t> next{0};
    std::mutex progress_mutex;
    std::size_t done = 0;
    engine::ThreadPool pool(args.threads);
    pool.parallel_for(static_cast<std::size_t>(args.threads), [&](std::size_t) {
        server::http_client::Client client(endpoint);
        for (std::size_t i = next++; i < photos.size(); i = next++) {
            const fs::path path = args.manifest.parent_path() / photos[i].image;
            std::ifstream in(path, std::ios::binary);
            const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
            if (!in.good() && !in.eof()) throw std::runtime_error(path.string() + ": cannot be read");
            const auto reply = client.post(target, "application/octet-stream", bytes);
            if (reply.status != 200)
                throw std::runtime_error(path.string() + ": the service answered " + std::to_string(reply.status) +
                                         ": " + reply.body);
            for (const nlohmann::json& face : nlohmann::json::parse(reply.body)) {
                const auto box = face.at("box").get<std::array<double, 4>>();
                out[i].push_back({{box[0], box[1], box[2], box[3]}, face.at("confidence").get<double>()});
            }
            std::lock_guard lock(progress_mutex);
            progress(++done);
        }
    });
    return out;
}

int run(const Args& args) {
    if (!fs::exists(args.manifest)) {
        std::cout << "widerface-eval: skipped, no manifest at " << args.manifest.string()
                  << " (the WIDER FACE dev sample lives outside the repository)\n";
        return 0;
    }
    std::vector<ev::Photo> photos = ev::read_manifest(args.manifest);
    if (args.limit > 0 && args.limit < photos.size()) photos.resize(args.limit);
    if (photos.empty()) throw std::runtime_error(args.manifest.string() + ": no photos");

    const engine::Isa isa = engine::configured_isa();
    const auto& o = args.options;
    const std::string where = args.url.empty() ? std::string("in process, ISA ") + engine::isa_name(isa) : args.url;
    const std::string mode = std::string(args.mode->name) + (args.tuned ? " (tuned, raw scores)" : "");
    std::cerr << "widerface-eval: " << photos.size() << " photos from " << args.manifest.string() << ", mode " << mode
              << ", " << where << ", " << args.threads << " threads; min face " << o.min_face << ", factor "
              << o.scale_factor << ", thresholds " << o.thresholds[0] << " / " << o.thresholds[1]
              << ", confidence >= " << args.threshold << "\n";

    const std::size_t step = std::max<std::size_t>(1, photos.size() / kProgressSteps);
    auto progress = [&](std::size_t done) {
        if (done % step == 0 || done == photos.size()) std::cerr << "  " << done << "/" << photos.size() << "\n";
    };
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::vector<ev::Detection>> raw, detections;
    if (args.url.empty()) {
        const mtcnn::Detector detector(engine::kernels_for(isa));
        engine::ThreadPool pool(args.threads);
        // The raw final scores (for --detections), then what the API would answer.
        const mtcnn::Mode run_mode{args.mode->name, args.options, scoring(args)};
        raw = ev::detect_photos(detector, photos, args.manifest.parent_path(),
                                mtcnn::options_for(run_mode, args.threshold), pool, progress);
        detections = raw;
        for (auto& photo : detections)
            for (ev::Detection& d : photo) d.score = run_mode.calibration.calibrate(static_cast<float>(d.score));
    } else {
        detections = post_photos(args, photos, progress);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double ms_per_photo = 1000.0 * seconds / static_cast<double>(photos.size());

    std::vector<ev::SettingResult> results;
    for (ev::Setting s : ev::kSettings) results.push_back(ev::evaluate(photos, s, detections));
    const ev::Fairness fair = ev::skin_recall(photos, detections, args.confidence);

    // The recall at the lowest threshold: the most any threshold reaches,
    // bounded by what the cascade proposes at all.
    std::printf("\nsetting   faces     AP  max recall\n");
    for (std::size_t i = 0; i < results.size(); ++i)
        std::printf("%-7s %7d  %.4f  %10.4f\n", std::string(ev::setting_name(ev::kSettings[i])).c_str(),
                    results[i].faces, results[i].ap, results[i].curve.empty() ? 0.0 : results[i].curve.back().recall);
    std::printf("\nskin  faces  found  recall  mean score   (confidence >= %.2f, IoU >= %.1f, one-to-one)\n",
                args.confidence, ev::kMatchIou);
    for (const ev::SkinRow& r : fair.rows) {
        std::printf("%-4s %6d %6d  %6.3f", std::string(r.type).c_str(), r.faces, r.found, r.recall);
        if (r.mean_score)
            std::printf("  %10.3f\n", *r.mean_score);
        else
            std::printf("  %10s\n", "-");
    }
    if (fair.gap) {
        std::printf("gap (max - min recall, types with >= %d faces): %.3f\n", fair.min_faces, *fair.gap);
        std::printf("  90%% interval over resampled photos: %.3f to %.3f; a detector finding every type at the\n"
                    "  overall recall would show %.3f by chance (median; 95th percentile %.3f)\n",
                    fair.spread->low, fair.spread->high, fair.spread->equal_median, fair.spread->equal_p95);
    } else
        std::printf("gap: no skin type has %d faces\n", fair.min_faces);
    // The same detections at other operating points: how the gap depends on
    // the confidence a client asks for.
    std::vector<std::pair<double, ev::Fairness>> sweep;
    for (double c : kSweepConfidences)
        if (c >= args.threshold) sweep.emplace_back(c, ev::skin_recall(photos, detections, c, ev::kGapMinFaces, 0));
    std::printf("\nrecall per skin type at other confidences\nconfidence");
    for (std::string_view t : ev::kSkinTypes) std::printf(" %6s", std::string(t).c_str());
    std::printf("    gap\n");
    for (const auto& [c, f] : sweep) {
        std::printf("%10.2f", c);
        for (const ev::SkinRow& r : f.rows) std::printf(" %6.3f", r.recall);
        if (f.gap)
            std::printf(" %6.3f\n", *f.gap);
        else
            std::printf(" %6s\n", "-");
    }
    std::printf("\n%zu photos in %.1f s: %.1f ms per photo (wall clock, %d threads, %s)\n", photos.size(), seconds,
                ms_per_photo, args.threads, where.c_str());

    if (!args.json_out.empty()) {
        nlohmann::json j;
        j["manifest"] = args.manifest.string();
        j["photos"] = photos.size();
        j["seconds"] = seconds;
        j["ms_per_photo"] = ms_per_photo;
        j["threads"] = args.threads;
        j["where"] = where;
        j["mode"] = args.mode->name;
        j["tuned"] = args.tuned;
        j["min_face"] = o.min_face;
        j["factor"] = o.scale_factor;
        j["stage_thresholds"] = {o.thresholds[0], o.thresholds[1]};
        j["threshold"] = args.threshold;
        j["confidence"] = args.confidence;
        for (std::size_t i = 0; i < results.size(); ++i) {
            const std::string name(ev::setting_name(ev::kSettings[i]));
            j["ap"][name] = results[i].ap;
            j["faces"][name] = results[i].faces;
            j["max_recall"][name] = results[i].curve.empty() ? 0.0 : results[i].curve.back().recall;
        }
        for (const ev::SkinRow& r : fair.rows)
            j["skin"].push_back({{"type", r.type},
                                 {"faces", r.faces},
                                 {"found", r.found},
                                 {"recall", r.recall},
                                 {"mean_score", optional_json(r.mean_score)}});
        j["skin_gap"] = optional_json(fair.gap);
        if (fair.spread)
            j["skin_gap_spread"] = {{"low", fair.spread->low},
                                    {"high", fair.spread->high},
                                    {"equal_recall_median", fair.spread->equal_median},
                                    {"equal_recall_p95", fair.spread->equal_p95}};
        j["skin_gap_min_faces"] = fair.min_faces;
        for (const auto& [c, f] : sweep) {
            nlohmann::json recalls = nlohmann::json::object();
            for (const ev::SkinRow& r : f.rows) recalls[std::string(r.type)] = r.recall;
            j["skin_sweep"].push_back({{"confidence", c}, {"recall", recalls}, {"gap", optional_json(f.gap)}});
        }
        write_file(args.json_out, j.dump(2) + "\n");
    }
    if (!args.curve_out.empty()) {
        std::string csv = "setting,threshold,precision,recall\n";
        char line[128];
        for (std::size_t i = 0; i < results.size(); ++i)
            for (const ev::PrPoint& p : results[i].curve) {
                std::snprintf(line, sizeof line, "%s,%.3f,%.6f,%.6f\n",
                              std::string(ev::setting_name(ev::kSettings[i])).c_str(), p.threshold, p.precision,
                              p.recall);
                csv += line;
            }
        write_file(args.curve_out, csv);
    }
    if (!args.plot_out.empty()) {
        std::vector<tools::pr_plot::Series> series;
        for (std::size_t i = 0; i < results.size(); ++i)
            series.push_back({std::string(ev::setting_name(ev::kSettings[i])), results[i].ap, results[i].curve});
        write_file(args.plot_out, tools::pr_plot::render_svg("WIDER FACE dev sample (" + std::to_string(photos.size()) +
                                                                 " photos), mode " + mode,
                                                             series));
    }
    if (!args.detections_out.empty()) {
        nlohmann::json j = nlohmann::json::array();
        for (std::size_t i = 0; i < photos.size(); ++i) {
            nlohmann::json boxes = nlohmann::json::array();
            for (const ev::Detection& d : raw[i])
                boxes.push_back({d.box.x, d.box.y, d.box.w, d.box.h, d.score});
            j.push_back({{"image", photos[i].image}, {"boxes", std::move(boxes)}});
        }
        write_file(args.detections_out, j.dump() + "\n");
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return tools::cli::run_main("widerface-eval", kUsage, argc, argv,
                                [](const std::vector<std::string>& args) { return run(parse_args(args)); });
}
