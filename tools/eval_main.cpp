// widerface-eval: runs the cascade over the WIDER FACE dev sample
// (../shared/eval/widerface-dev, README there) and reports AP easy / medium /
// hard by the official protocol and recall per perceived skin type
// (tools/wider_eval.h). Without the manifest it says so and exits 0: the
// data set is not part of the repository.
//
// One detector run serves both measurements: the AP run keeps ONet's boxes
// down to --threshold, and the fairness table keeps those with confidence >=
// --confidence. That equals a run at ONet threshold C, because the last NMS
// visits boxes by falling score, so a box under C never suppresses one above.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "engine/cpu.h"
#include "engine/thread_pool.h"
#include "mtcnn/detector.h"
#include "tools/cli.h"
#include "tools/wider_eval.h"

namespace {

namespace fs = std::filesystem;
namespace ev = tools::eval;

constexpr const char* kUsage = R"(usage:
  widerface-eval [--manifest PATH] [--min-face N] [--factor F] [--pnet-threshold P]
                 [--rnet-threshold R] [--threshold T] [--confidence C]
                 [--json OUT.json] [--curve OUT.csv] [--detections OUT.json] [--limit N]
      --manifest PATH   the dev sample's manifest (default
                        ../shared/eval/widerface-dev/manifest.json); photos are
                        read relative to its folder
      --min-face N      smallest face to look for, in pixels (default 20, at least 8)
      --factor F        scale between pyramid levels (default 0.709, in [0.5, 0.95];
                        larger is a denser, slower pyramid)
      --pnet-threshold P  PNet's (stage 1) threshold (default 0.6, in [0, 1])
      --rnet-threshold R  RNet's (stage 2) threshold (default 0.7, in [0, 1])
      --threshold T     ONet's threshold for the AP run (default 0.02)
      --confidence C    operating threshold for the skin-type table (default 0.7)
      --json OUT.json   write every number as JSON
      --curve OUT.csv   write the precision/recall curves (setting,threshold,precision,recall)
      --detections OUT.json  write every photo's boxes: [{"image", "boxes": [[x, y, w, h,
                        confidence], ...]}, ...] in manifest order (raw confidences)
      --limit N         only the first N photos of the manifest
The defaults are the predecessor's settings. The MTCNN authors' recipe for their
WIDER FACE figures is --min-face 10 --factor 0.79 --pnet-threshold 0.5
--rnet-threshold 0.5 (ONet 0.3; keep --threshold low for the whole curve).
"max recall" is the recall at the lowest threshold: the most the run can reach.
)";

constexpr const char* kDefaultManifest = "../shared/eval/widerface-dev/manifest.json";
constexpr double kDefaultThreshold = 0.02;  // README: 0.02 or lower, so the whole curve exists
constexpr double kDefaultConfidence = 0.7;
constexpr float kPnetThreshold = 0.6f, kRnetThreshold = 0.7f;
constexpr double kSmallestFactor = 0.5, kLargestFactor = 0.95;  // beyond: a needlessly coarse or huge pyramid
constexpr int kSmallestMinFace = 8;  // as face-service: below it the first pyramid level grows past 1.5x
constexpr int kProgressSteps = 10;   // progress lines per run

using tools::cli::UsageError;
using tools::cli::parse_number;

struct Args {
    fs::path manifest = kDefaultManifest;
    mtcnn::DetectOptions options;
    double confidence = kDefaultConfidence;
    std::string json_out, curve_out, detections_out;
    std::size_t limit = 0;  // 0: all
};

double parse_unit(const std::string& flag, const std::string& text) {
    const double v = parse_number(flag, text);
    if (!(v >= 0.0 && v <= 1.0)) throw UsageError(flag + " must be in [0, 1]");
    return v;
}

Args parse_args(const std::vector<std::string>& args) {
    Args a;
    a.options.thresholds = {kPnetThreshold, kRnetThreshold, static_cast<float>(kDefaultThreshold)};
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& flag = args[i];
        auto value = [&]() -> const std::string& {
            if (i + 1 >= args.size()) throw UsageError(flag + " needs a value");
            return args[++i];
        };
        if (flag == "--manifest") {
            a.manifest = value();
        } else if (flag == "--min-face") {
            const double n = parse_number(flag, value());
            if (n != static_cast<int>(n) || n < kSmallestMinFace)
                throw UsageError("--min-face must be an integer of at least " + std::to_string(kSmallestMinFace));
            a.options.min_face = static_cast<int>(n);
        } else if (flag == "--factor") {
            const double f = parse_number(flag, value());
            if (!(f >= kSmallestFactor && f <= kLargestFactor)) throw UsageError("--factor must be in [0.5, 0.95]");
            a.options.scale_factor = f;
        } else if (flag == "--pnet-threshold") {
            a.options.thresholds[0] = static_cast<float>(parse_unit(flag, value()));
        } else if (flag == "--rnet-threshold") {
            a.options.thresholds[1] = static_cast<float>(parse_unit(flag, value()));
        } else if (flag == "--threshold") {
            a.options.thresholds[2] = static_cast<float>(parse_unit(flag, value()));
        } else if (flag == "--confidence") {
            a.confidence = parse_unit(flag, value());
        } else if (flag == "--json") {
            a.json_out = value();
        } else if (flag == "--curve") {
            a.curve_out = value();
        } else if (flag == "--detections") {
            a.detections_out = value();
        } else if (flag == "--limit") {
            const double n = parse_number(flag, value());
            if (n != static_cast<long long>(n) || n < 1) throw UsageError("--limit must be a positive integer");
            a.limit = static_cast<std::size_t>(n);
        } else {
            throw UsageError("unknown argument " + flag);
        }
    }
    if (a.confidence < a.options.thresholds[2])
        throw UsageError("--confidence must not be below --threshold (the table filters the AP run's boxes)");
    return a;
}

nlohmann::json optional_json(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(); }

void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
    out.close();
    if (!out) throw std::runtime_error(path + ": cannot be written");
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
    const mtcnn::Detector detector(engine::kernels_for(isa));
    const int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    engine::ThreadPool pool(threads);
    const auto& th = args.options.thresholds;
    std::cerr << "widerface-eval: " << photos.size() << " photos from " << args.manifest.string() << ", ISA "
              << engine::isa_name(isa) << ", " << threads << " threads, min face " << args.options.min_face
              << ", factor " << args.options.scale_factor << ", thresholds " << th[0] << " / " << th[1] << " / " << th[2] << "\n";

    const std::size_t step = std::max<std::size_t>(1, photos.size() / kProgressSteps);
    const auto start = std::chrono::steady_clock::now();
    const auto detections =
        ev::detect_photos(detector, photos, args.manifest.parent_path(), args.options, pool, [&](std::size_t done) {
            if (done % step == 0 || done == photos.size()) std::cerr << "  " << done << "/" << photos.size() << "\n";
        });
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
    if (fair.gap)
        std::printf("gap (max - min recall, types with >= %d faces): %.3f\n", fair.min_faces, *fair.gap);
    else
        std::printf("gap: no skin type has %d faces\n", fair.min_faces);
    std::printf("\n%zu photos in %.1f s: %.1f ms per photo (wall clock, %d threads, %s)\n", photos.size(), seconds,
                ms_per_photo, threads, engine::isa_name(isa));

    if (!args.json_out.empty()) {
        nlohmann::json j;
        j["manifest"] = args.manifest.string();
        j["photos"] = photos.size();
        j["seconds"] = seconds;
        j["ms_per_photo"] = ms_per_photo;
        j["threads"] = threads;
        j["isa"] = engine::isa_name(isa);
        j["min_face"] = args.options.min_face;
        j["factor"] = args.options.scale_factor;
        j["thresholds"] = {th[0], th[1], th[2]};
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
        j["skin_gap_min_faces"] = fair.min_faces;
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
    if (!args.detections_out.empty()) {
        nlohmann::json j = nlohmann::json::array();
        for (std::size_t i = 0; i < photos.size(); ++i) {
            nlohmann::json boxes = nlohmann::json::array();
            for (const ev::Detection& d : detections[i])
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
