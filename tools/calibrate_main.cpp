// calibrate: fits the map from a mode's raw score to calibrated confidence
// (mtcnn/calibration.h) on the WIDER FACE dev sample, reports how well
// calibrated the raw and the mapped scores are, and writes the knot table as
// a C++ include file for one detector mode.
//
// Input: the boxes `widerface-eval --mode NAME --detections OUT.json` wrote
// (the mode's raw final scores, mtcnn/detector.h, run at a low threshold so
// that the whole score range is seen)
// and the manifest with the ground truth.
//
// Labels: a detection is a real face when it matches a face of its photo one
// to one at IoU >= 0.5 (tools::eval::overlap, the +1 pixel convention).
// Every annotated face counts, whatever its setting (easy, medium, hard or
// "invalid"): an annotated face is a real face, and a detector that finds a
// tiny or blurred one is right. Detections are taken in falling score order
// (stable on ties), each taking the not yet matched face of highest IoU
// (ties: the first face); an unmatched detection or a second box on a face
// is negative, as a user would count it.
//
// Honesty: the in-sample ECE of an isotonic fit flatters it (the fit has
// seen the labels it is scored on), so the report leads with a 2-fold
// cross-validation over photos: fit on the even-indexed photos, score the
// odd ones, and the other way round; the pooled out-of-fold confidences give
// the ECE, the reliability table and the precisions. The table written out
// is the fit on all photos.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "mtcnn/calibration.h"
#include "tools/cli.h"
#include "tools/wider_eval.h"

namespace {

namespace fs = std::filesystem;
namespace ev = tools::eval;

constexpr const char* kUsage = R"(usage:
  calibrate --detections DETS.json [--manifest PATH] [--min-score S] [--name NAME]
            [--out PATH] [--max-knots K]
      --detections DETS.json  boxes written by `widerface-eval --detections`
      --manifest PATH   the dev sample's manifest (default
                        ../shared/eval/widerface-dev/manifest.json)
      --min-score S     only detections with raw score >= S take part (default 0: all,
                        in [0, 1])
      --name NAME       the detector mode the table is for ([a-z0-9_]+, default faithful)
      --out PATH        the knot table to write (default mtcnn/calibration_NAME.inc)
      --max-knots K     at most K knots (default 64, in [2, 64])
)";

constexpr const char* kDefaultManifest = "../shared/eval/widerface-dev/manifest.json";
constexpr double kDefaultMinScore = 0.0;  // all that widerface-eval's AP run keeps
constexpr const char* kDefaultName = "faithful";
constexpr float kReportedConfidences[] = {0.5f, 0.7f, 0.9f, 0.95f, 0.99f};

using tools::cli::UsageError;
using tools::cli::parse_number;

struct Args {
    fs::path manifest = kDefaultManifest;
    fs::path detections;
    double min_score = kDefaultMinScore;
    std::string name = kDefaultName;
    fs::path out;
    int max_knots = mtcnn::kMaxCalibrationKnots;
    std::string command;  // for the table's header
};

std::string shell_quoted(const std::string& s) {
    if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=,:+") ==
                          std::string::npos)
        return s;
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

Args parse_args(const std::vector<std::string>& args) {
    Args a;
    a.command = "calibrate";
    for (const std::string& s : args) {
        a.command += ' ';
        a.command += shell_quoted(s);
    }
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& flag = args[i];
        const auto value = [&] { return tools::cli::flag_value(args, i); };
        if (flag == "--manifest") {
            a.manifest = value();
        } else if (flag == "--detections") {
            a.detections = value();
        } else if (flag == "--min-score") {
            a.min_score = parse_number(flag, value());
            if (!(a.min_score >= 0.0 && a.min_score <= 1.0)) throw UsageError("--min-score must be in [0, 1]");
        } else if (flag == "--name") {
            a.name = value();
            if (a.name.empty() || a.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos)
                throw UsageError("--name must be lower-case letters, digits and _, got '" + a.name + "'");
        } else if (flag == "--out") {
            a.out = value();
        } else if (flag == "--max-knots") {
            const double k = parse_number(flag, value());
            if (k != static_cast<int>(k) || k < 2 || k > mtcnn::kMaxCalibrationKnots)
                throw UsageError("--max-knots must be an integer in [2, " +
                                 std::to_string(mtcnn::kMaxCalibrationKnots) + "]");
            a.max_knots = static_cast<int>(k);
        } else {
            throw UsageError("unknown argument " + flag);
        }
    }
    if (a.detections.empty()) throw UsageError("--detections is required");
    if (a.out.empty()) a.out = fs::path("mtcnn") / ("calibration_" + a.name + ".inc");
    return a;
}

// One photo's detections as (raw score, real face), by the rule at the top.
std::vector<mtcnn::ScoredLabel> label_photo(const std::vector<ev::Box>& faces, std::vector<ev::Detection> detections) {
    std::stable_sort(detections.begin(), detections.end(),
                     [](const ev::Detection& a, const ev::Detection& b) { return a.score > b.score; });
    std::vector<bool> taken(faces.size(), false);
    std::vector<mtcnn::ScoredLabel> labels;
    for (const ev::Detection& d : detections) {
        int best = -1;
        double best_iou = 0;
        for (std::size_t f = 0; f < faces.size(); ++f) {
            if (taken[f]) continue;
            const double iou = ev::overlap(d.box, faces[f]);
            if (iou > best_iou) best_iou = iou, best = static_cast<int>(f);
        }
        const bool real = best >= 0 && best_iou >= ev::kMatchIou;
        if (real) taken[static_cast<std::size_t>(best)] = true;
        labels.emplace_back(static_cast<float>(d.score), real);
    }
    return labels;
}

// Per photo of the detections file (in its order), the labelled detections
// with raw score >= min_score.
std::vector<std::vector<mtcnn::ScoredLabel>> read_labelled(const Args& args, std::size_t& faces_total) {
    const std::vector<ev::Photo> photos = ev::read_manifest(args.manifest);
    std::unordered_map<std::string, const ev::Photo*> by_image;
    for (const ev::Photo& p : photos) by_image.emplace(p.image, &p);

    std::ifstream in(args.detections);
    if (!in) throw std::runtime_error(args.detections.string() + ": cannot be read");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error(args.detections.string() + ": not JSON: " + e.what());
    }
    if (!j.is_array()) throw std::runtime_error(args.detections.string() + ": expected a list of photos");

    std::vector<std::vector<mtcnn::ScoredLabel>> labelled;
    faces_total = 0;
    for (std::size_t i = 0; i < j.size(); ++i) {
        const nlohmann::json& rec = j[i];
        const std::string where = args.detections.string() + ": record " + std::to_string(i);
        if (!rec.is_object() || !rec.contains("image") || !rec["image"].is_string() || !rec.contains("boxes") ||
            !rec["boxes"].is_array())
            throw std::runtime_error(where + ": needs \"image\" (a string) and \"boxes\" (a list)");
        const std::string image = rec["image"].get<std::string>();
        const auto it = by_image.find(image);
        if (it == by_image.end())
            throw std::runtime_error(where + ": " + image + " is not in " + args.manifest.string());
        std::vector<ev::Detection> detections;
        for (const nlohmann::json& b : rec["boxes"]) {
            if (!b.is_array() || b.size() != 5 ||
                !std::all_of(b.begin(), b.end(), [](const nlohmann::json& v) { return v.is_number(); }))
                throw std::runtime_error(where + " (" + image + "): a box must be [x, y, w, h, score]");
            const ev::Detection d{{b[0].get<double>(), b[1].get<double>(), b[2].get<double>(), b[3].get<double>()},
                                  b[4].get<double>()};
            if (d.score >= args.min_score) detections.push_back(d);
        }
        labelled.push_back(label_photo(it->second->faces, std::move(detections)));
        faces_total += it->second->faces.size();
    }
    if (labelled.empty()) throw std::runtime_error(args.detections.string() + ": no photos");
    return labelled;
}

std::vector<mtcnn::ScoredLabel> flatten(const std::vector<std::vector<mtcnn::ScoredLabel>>& per_photo, int parity) {
    std::vector<mtcnn::ScoredLabel> all;
    for (std::size_t i = 0; i < per_photo.size(); ++i)
        if (parity < 0 || static_cast<int>(i % 2) == parity) all.insert(all.end(), per_photo[i].begin(), per_photo[i].end());
    return all;
}

std::vector<mtcnn::ScoredLabel> apply(const mtcnn::Calibration& cal, std::vector<mtcnn::ScoredLabel> labels) {
    for (mtcnn::ScoredLabel& l : labels) l.first = cal.calibrate(l.first);
    return labels;
}

void print_table(const char* title, const std::vector<mtcnn::ScoredLabel>& confidences) {
    std::printf("\n%s: ECE %.4f\n  bin            count  mean conf  frac real    gap\n", title,
                mtcnn::expected_calibration_error(confidences));
    for (const mtcnn::ReliabilityBin& b : mtcnn::reliability_table(confidences)) {
        if (b.count == 0) {
            std::printf("  [%.1f, %.1f%c %7zu          -          -      -\n", b.lower, b.upper,
                        b.upper >= 1.0 ? ']' : ')', b.count);
            continue;
        }
        std::printf("  [%.1f, %.1f%c %7zu     %6.4f     %6.4f  %+.3f\n", b.lower, b.upper, b.upper >= 1.0 ? ']' : ')',
                    b.count, b.mean_confidence, b.fraction_positive, b.fraction_positive - b.mean_confidence);
    }
}

// What "confidence >= c" really keeps.
void print_precision(const char* title, const std::vector<mtcnn::ScoredLabel>& confidences) {
    std::printf("\n%s\n  confidence >=   kept   real  precision  mean conf\n", title);
    for (float c : kReportedConfidences) {
        std::size_t kept = 0, real = 0;
        double sum = 0;
        for (const auto& [conf, positive] : confidences)
            if (conf >= c) kept += 1, real += positive ? 1 : 0, sum += conf;
        if (kept == 0) {
            std::printf("  %13.2f  %5zu  %5zu          -          -\n", c, kept, real);
            continue;
        }
        std::printf("  %13.2f  %5zu  %5zu     %6.4f     %6.4f\n", c, kept, real,
                    static_cast<double>(real) / static_cast<double>(kept), sum / static_cast<double>(kept));
    }
}

// A float as a C++ literal that reads back to the same float.
std::string float_literal(float v) {
    char buf[64];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);  // shortest round-trip form
    std::string s(buf, end);
    if (s.find_first_of(".e") == std::string::npos) s += ".0";
    return s + "f";
}

std::string today_utc() {
    const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[16];
    std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
    return buf;
}

struct Summary {
    std::size_t photos = 0, faces = 0, detections = 0, real = 0;
    double ece_raw = 0, ece_in_sample = 0, ece_cross_validated = 0;
};

void write_table(const Args& args, const mtcnn::Calibration& cal, const Summary& s) {
    std::string text;
    text += "// Calibrated confidence for detector mode \"" + args.name +
            "\": the raw final score -> confidence, knots\n"
            "// {raw, calibrated} of a monotone piecewise-linear map (mtcnn/calibration.h).\n"
            "// Isotonic fit on the WIDER FACE dev sample by tools/calibrate; regenerate, do not edit.\n";
    text += "// command: " + args.command + "\n";
    text += "// mode: " + args.name + "\n";
    char min_score[32];
    std::snprintf(min_score, sizeof min_score, "%g", args.min_score);
    text += "// detections: " + std::to_string(s.detections) + " (raw score >= " + min_score + ") on " + std::to_string(s.photos) + " photos, " + std::to_string(s.real) +
            " real faces (IoU >= 0.5 with an annotated face, one to one)\n";
    char ece[160];
    std::snprintf(ece, sizeof ece, "// ECE (%d bins): raw %.4f, in-sample %.4f, 2-fold cross-validated %.4f\n",
                  mtcnn::kCalibrationBins, s.ece_raw, s.ece_in_sample, s.ece_cross_validated);
    text += ece;
    text += "// date: " + today_utc() + "\n{\n";
    for (const mtcnn::CalibrationKnot& k : cal.knots())
        text += "    {" + float_literal(k.raw) + ", " + float_literal(k.calibrated) + "},\n";
    text += "}\n";
    std::ofstream out(args.out, std::ios::binary);
    out << text;
    out.close();
    if (!out) throw std::runtime_error(args.out.string() + ": cannot be written");
}

int run(const Args& args) {
    Summary s;
    const auto per_photo = read_labelled(args, s.faces);
    const std::vector<mtcnn::ScoredLabel> all = flatten(per_photo, -1);
    s.photos = per_photo.size();
    s.detections = all.size();
    for (const auto& l : all) s.real += l.second ? 1 : 0;
    if (all.empty()) throw std::runtime_error("no detection with raw score >= " + std::to_string(args.min_score));
    std::printf("calibrate: mode %s, %zu photos, %zu annotated faces, %zu detections with raw score >= %g, %zu real "
                "(%.4f)\n",
                args.name.c_str(), s.photos, s.faces, s.detections, args.min_score, s.real,
                static_cast<double>(s.real) / static_cast<double>(s.detections));

    // 2-fold cross-validation over photos: each half scored by the fit on the other.
    const std::vector<mtcnn::ScoredLabel> even = flatten(per_photo, 0), odd = flatten(per_photo, 1);
    if (even.empty() || odd.empty())
        std::fprintf(stderr, "calibrate: warning: one half of the photos has no detection; the cross-validated "
                             "figures score the other half with the identity map\n");
    const mtcnn::Calibration fit_even = mtcnn::fit_isotonic(even, args.max_knots);
    const mtcnn::Calibration fit_odd = mtcnn::fit_isotonic(odd, args.max_knots);
    std::vector<mtcnn::ScoredLabel> cross = apply(fit_even, odd);
    const std::vector<mtcnn::ScoredLabel> cross_even = apply(fit_odd, even);
    cross.insert(cross.end(), cross_even.begin(), cross_even.end());

    const mtcnn::Calibration cal = mtcnn::fit_isotonic(all, args.max_knots);
    const std::vector<mtcnn::ScoredLabel> in_sample = apply(cal, all);
    s.ece_raw = mtcnn::expected_calibration_error(all);
    s.ece_in_sample = mtcnn::expected_calibration_error(in_sample);
    s.ece_cross_validated = mtcnn::expected_calibration_error(cross);

    print_table("raw score (baseline)", all);
    print_table("calibrated, 2-fold cross-validated over photos", cross);
    print_table("calibrated, in-sample (the table written)", in_sample);
    print_precision("precision of the raw score as a threshold", all);
    print_precision("precision, calibrated, 2-fold cross-validated", cross);
    print_precision("precision, calibrated, in-sample", in_sample);

    std::printf("\nraw threshold for a requested confidence (table written):\n");
    for (float c : kReportedConfidences) {
        const float t = cal.raw_threshold(c);
        if (t > 1.0f)
            std::printf("  %.2f -> nothing passes (the largest confidence is %.4f)\n", c, cal.calibrate(1.0f));
        else
            std::printf("  %.2f -> raw >= %.9g\n", c, t);
    }
    std::printf("\nECE (%d bins): raw %.4f, calibrated in-sample %.4f, calibrated 2-fold cross-validated %.4f\n",
                mtcnn::kCalibrationBins, s.ece_raw, s.ece_in_sample, s.ece_cross_validated);

    write_table(args, cal, s);
    std::printf("wrote %zu knots to %s\n", cal.knots().size(), args.out.string().c_str());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return tools::cli::run_main("calibrate", kUsage, argc, argv,
                                [](const std::vector<std::string>& args) { return run(parse_args(args)); });
}
