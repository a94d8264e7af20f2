#include "tools/wider_eval.h"

#include <algorithm>
#include <fstream>
#include <limits>
#include <mutex>
#include <random>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "engine/thread_pool.h"
#include "mtcnn/detector.h"
#include "mtcnn/image.h"

namespace tools::eval {
namespace {

constexpr std::array<std::string_view, 3> kSettingNames{"easy", "medium", "hard"};
constexpr std::string_view kSkinNotSure = "Not Sure";

std::size_t index_of(Setting setting) { return static_cast<std::size_t>(setting); }

int skin_label(const nlohmann::json& person) {
    if (person.is_null()) return kNoSkinLabel;
    const auto skin = person.find("skin");
    if (skin == person.end() || skin->is_null()) return kNoSkinLabel;
    const std::string label = skin->get<std::string>();
    if (label == kSkinNotSure) return kNoSkinLabel;
    for (std::size_t t = 0; t < kSkinTypes.size(); ++t)
        if (label == kSkinTypes[t]) return static_cast<int>(t) + 1;
    throw std::runtime_error("unknown skin label '" + label + "'");
}

Photo parse_photo(const nlohmann::json& record) {
    Photo photo;
    photo.image = record.at("image").get<std::string>();
    for (const auto& f : record.at("faces")) {
        if (!f.is_array() || f.size() != 4) throw std::runtime_error("a face is not [x, y, w, h]: " + f.dump());
        const auto b = f.get<std::array<double, 4>>();
        photo.faces.push_back({b[0], b[1], b[2], b[3]});
    }
    const int n = static_cast<int>(photo.faces.size());
    for (Setting s : kSettings) {
        auto& counted = photo.counted[index_of(s)];
        counted = record.at(std::string(setting_name(s))).get<std::vector<int>>();
        for (int i : counted)
            if (i < 0 || i >= n)
                throw std::runtime_error(std::string(setting_name(s)) + " index " + std::to_string(i) +
                                         " outside the " + std::to_string(n) + " faces");
    }
    if (const auto d = record.find("demographics"); d != record.end() && !d->is_null()) {
        if (static_cast<int>(d->size()) != n)
            throw std::runtime_error("demographics has " + std::to_string(d->size()) + " entries for " +
                                     std::to_string(n) + " faces");
        for (const auto& person : *d) photo.skin.push_back(skin_label(person));
    }
    return photo;
}

// Sums over all photos, per threshold k = 1..kThresholds (index k - 1).
struct Accumulator {
    std::vector<long long> proposals = std::vector<long long>(kThresholds, 0);
    std::vector<long long> recalled = std::vector<long long>(kThresholds, 0);
};

double threshold_at(int k) { return 1.0 - static_cast<double>(k) / kThresholds; }  // k = 1..kThresholds

}  // namespace

std::string_view setting_name(Setting setting) { return kSettingNames[index_of(setting)]; }

std::vector<Photo> parse_manifest(const nlohmann::json& manifest) {
    if (!manifest.is_array()) throw std::runtime_error("manifest: not a list of records");
    std::vector<Photo> photos;
    photos.reserve(manifest.size());
    for (std::size_t i = 0; i < manifest.size(); ++i) {
        try {
            photos.push_back(parse_photo(manifest[i]));
        } catch (const std::exception& e) {
            const auto image = manifest[i].is_object() ? manifest[i].find("image") : manifest[i].end();
            const std::string name = image != manifest[i].end() && image->is_string() ? " (" + image->get<std::string>() + ")" : "";
            throw std::runtime_error("manifest record " + std::to_string(i) + name + ": " + e.what());
        }
    }
    return photos;
}

std::vector<Photo> read_manifest(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error(path.string() + ": cannot be read");
    try {
        return parse_manifest(nlohmann::json::parse(in));
    } catch (const std::exception& e) {
        throw std::runtime_error(path.string() + ": " + e.what());
    }
}

double overlap(const Box& a, const Box& b) {
    const double ax2 = a.x + a.w, ay2 = a.y + a.h, bx2 = b.x + b.w, by2 = b.y + b.h;
    const double iw = std::min(ax2, bx2) - std::max(a.x, b.x) + 1;
    const double ih = std::min(ay2, by2) - std::max(a.y, b.y) + 1;
    if (iw <= 0 || ih <= 0) return 0;
    const double inter = iw * ih;
    const double uni = (a.w + 1) * (a.h + 1) + (b.w + 1) * (b.h + 1) - inter;
    return inter / uni;
}

std::vector<std::vector<Detection>> normalise_scores(std::vector<std::vector<Detection>> detections) {
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (const auto& photo : detections)
        for (const Detection& d : photo) lo = std::min(lo, d.score), hi = std::max(hi, d.score);
    const double range = hi - lo;
    for (auto& photo : detections)
        for (Detection& d : photo) d.score = range > 0 ? (d.score - lo) / range : 1.0;
    return detections;
}

ImageMatch match_image(const std::vector<Box>& faces, const std::vector<int>& counted,
                       const std::vector<Detection>& sorted_detections) {
    enum class State { ignored, waiting, recalled };
    std::vector<State> state(faces.size(), State::ignored);
    for (int i : counted) state[static_cast<std::size_t>(i)] = State::waiting;

    ImageMatch m;
    int recalled = 0;
    for (const Detection& d : sorted_detections) {
        double best = -1;
        std::size_t best_face = 0;
        for (std::size_t f = 0; f < faces.size(); ++f)
            if (const double o = overlap(d.box, faces[f]); o > best) best = o, best_face = f;  // first on ties
        bool proposal = true;
        if (best >= kMatchIou) {
            if (state[best_face] == State::ignored)
                proposal = false;
            else if (state[best_face] == State::waiting)
                state[best_face] = State::recalled, ++recalled;
            // already recalled: a proposal that adds no recall
        }
        m.proposal.push_back(proposal);
        m.recalled.push_back(recalled);
    }
    return m;
}

double voc_ap(const std::vector<PrPoint>& curve) {
    // VOCdevkit's VOCap: sentinels (recall 0, precision 0) and (1, 0).
    std::vector<double> rec{0.0}, prec{0.0};
    for (const PrPoint& p : curve) rec.push_back(p.recall), prec.push_back(p.precision);
    rec.push_back(1.0);
    prec.push_back(0.0);
    for (std::size_t i = prec.size() - 1; i > 0; --i) prec[i - 1] = std::max(prec[i - 1], prec[i]);
    double ap = 0;
    for (std::size_t i = 1; i < rec.size(); ++i)
        if (rec[i] != rec[i - 1]) ap += (rec[i] - rec[i - 1]) * prec[i];
    return ap;
}

SettingResult evaluate(const std::vector<Photo>& photos, Setting setting,
                       const std::vector<std::vector<Detection>>& detections) {
    if (detections.size() != photos.size())
        throw std::invalid_argument("evaluate: " + std::to_string(detections.size()) + " detection lists for " +
                                    std::to_string(photos.size()) + " photos");
    const std::vector<std::vector<Detection>> normalised = normalise_scores(detections);

    SettingResult result;
    Accumulator sum;
    for (std::size_t i = 0; i < photos.size(); ++i) {
        const Photo& photo = photos[i];
        const std::vector<int>& counted = photo.counted[index_of(setting)];
        result.faces += static_cast<int>(counted.size());
        if (photo.faces.empty() || normalised[i].empty()) continue;  // evaluation.m skips these

        std::vector<Detection> sorted = normalised[i];
        std::stable_sort(sorted.begin(), sorted.end(),
                         [](const Detection& a, const Detection& b) { return a.score > b.score; });
        const ImageMatch m = match_image(photo.faces, counted, sorted);

        // Walk the thresholds downwards; `taken` detections have score >= t.
        std::size_t taken = 0;
        long long proposals = 0;
        for (int k = 1; k <= kThresholds; ++k) {
            const double t = threshold_at(k);
            while (taken < sorted.size() && sorted[taken].score >= t) proposals += m.proposal[taken++] ? 1 : 0;
            if (taken == 0) continue;
            sum.proposals[k - 1] += proposals;
            sum.recalled[k - 1] += m.recalled[taken - 1];
        }
    }

    result.curve.resize(kThresholds);
    for (int k = 1; k <= kThresholds; ++k) {
        PrPoint& p = result.curve[k - 1];
        p.threshold = threshold_at(k);
        const double tp = static_cast<double>(sum.recalled[k - 1]);
        p.precision = sum.proposals[k - 1] > 0 ? tp / static_cast<double>(sum.proposals[k - 1]) : 0.0;
        p.recall = result.faces > 0 ? tp / result.faces : 0.0;
    }
    result.ap = voc_ap(result.curve);
    return result;
}

namespace {

// One photo's labelled faces and the ones found, per skin type.
struct SkinCounts {
    std::array<int, kSkinTypes.size()> faces{}, found{};
    std::array<double, kSkinTypes.size()> score_sum{};
};

SkinCounts count_photo(const Photo& photo, const std::vector<Detection>& detections, double operating_threshold) {
    SkinCounts c;
    if (photo.skin.empty()) return c;
    struct Pair {
        double iou;
        std::size_t face, det;
    };
    std::vector<Pair> pairs;
    for (std::size_t f = 0; f < photo.faces.size(); ++f) {
        if (photo.skin[f] == kNoSkinLabel) continue;
        ++c.faces[photo.skin[f] - 1];
        for (std::size_t d = 0; d < detections.size(); ++d) {
            if (detections[d].score < operating_threshold) continue;
            if (const double o = overlap(detections[d].box, photo.faces[f]); o >= kMatchIou) pairs.push_back({o, f, d});
        }
    }
    std::stable_sort(pairs.begin(), pairs.end(), [](const Pair& a, const Pair& b) { return a.iou > b.iou; });
    std::vector<bool> face_used(photo.faces.size()), det_used(detections.size());
    for (const Pair& p : pairs) {
        if (face_used[p.face] || det_used[p.det]) continue;
        face_used[p.face] = det_used[p.det] = true;
        const int t = photo.skin[p.face] - 1;
        ++c.found[t];
        c.score_sum[t] += detections[p.det].score;
    }
    return c;
}

// max - min of found / faces over the types with >= min_faces.
std::optional<double> recall_gap(const SkinCounts& total, int min_faces) {
    std::optional<double> lo, hi;
    for (std::size_t t = 0; t < kSkinTypes.size(); ++t) {
        if (total.faces[t] < min_faces || total.faces[t] == 0) continue;
        const double r = static_cast<double>(total.found[t]) / total.faces[t];
        lo = std::min(lo.value_or(r), r);
        hi = std::max(hi.value_or(r), r);
    }
    if (!lo) return std::nullopt;
    return *hi - *lo;
}

double percentile(std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5)];
}

GapSpread gap_spread(const std::vector<SkinCounts>& photos, const SkinCounts& total, int min_faces, int resamples) {
    std::mt19937_64 random(kGapSeed);
    std::uniform_int_distribution<std::size_t> pick(0, photos.size() - 1);
    std::vector<double> resampled, equal;
    int faces = 0, found = 0;
    for (std::size_t t = 0; t < kSkinTypes.size(); ++t) faces += total.faces[t], found += total.found[t];
    const double overall = static_cast<double>(found) / faces;
    for (int r = 0; r < resamples; ++r) {
        SkinCounts sum;
        for (std::size_t i = 0; i < photos.size(); ++i) {
            const SkinCounts& c = photos[pick(random)];
            for (std::size_t t = 0; t < kSkinTypes.size(); ++t) sum.faces[t] += c.faces[t], sum.found[t] += c.found[t];
        }
        if (const auto g = recall_gap(sum, min_faces)) resampled.push_back(*g);
        SkinCounts fair = total;
        for (std::size_t t = 0; t < kSkinTypes.size(); ++t)
            fair.found[t] = std::binomial_distribution<int>(total.faces[t], overall)(random);
        equal.push_back(*recall_gap(fair, min_faces));
    }
    GapSpread s;
    if (!resampled.empty()) s.low = percentile(resampled, 0.05), s.high = percentile(resampled, 0.95);
    s.equal_median = percentile(equal, 0.5);
    s.equal_p95 = percentile(equal, 0.95);
    return s;
}

}  // namespace

Fairness skin_recall(const std::vector<Photo>& photos, const std::vector<std::vector<Detection>>& detections,
                     double operating_threshold, int min_faces, int resamples) {
    if (detections.size() != photos.size())
        throw std::invalid_argument("skin_recall: " + std::to_string(detections.size()) + " detection lists for " +
                                    std::to_string(photos.size()) + " photos");
    std::vector<SkinCounts> per_photo;
    SkinCounts total;
    for (std::size_t i = 0; i < photos.size(); ++i) {
        const SkinCounts c = count_photo(photos[i], detections[i], operating_threshold);
        for (std::size_t t = 0; t < kSkinTypes.size(); ++t) {
            total.faces[t] += c.faces[t];
            total.found[t] += c.found[t];
            total.score_sum[t] += c.score_sum[t];
        }
        per_photo.push_back(c);
    }
    Fairness out;
    out.min_faces = min_faces;
    for (std::size_t t = 0; t < kSkinTypes.size(); ++t) {
        SkinRow& row = out.rows[t];
        row.type = kSkinTypes[t];
        row.faces = total.faces[t];
        row.found = total.found[t];
        row.recall = row.faces > 0 ? static_cast<double>(row.found) / row.faces : 0.0;
        if (row.found > 0) row.mean_score = total.score_sum[t] / row.found;
    }
    out.gap = recall_gap(total, min_faces);
    if (out.gap && resamples > 0) out.spread = gap_spread(per_photo, total, min_faces, resamples);
    return out;
}

std::vector<std::vector<Detection>> detect_photos(const mtcnn::Detector& detector, const std::vector<Photo>& photos,
                                                  const std::filesystem::path& folder,
                                                  const mtcnn::DetectOptions& options, engine::ThreadPool& pool,
                                                  const std::function<void(std::size_t)>& progress) {
    std::vector<std::vector<Detection>> out(photos.size());
    std::mutex progress_mutex;
    std::size_t done = 0;
    pool.parallel_for(photos.size(), [&](std::size_t i) {
        const mtcnn::Image image = mtcnn::load_image_file((folder / photos[i].image).string());
        for (const mtcnn::Face& f : detector.detect(image, options))
            out[i].push_back({{static_cast<double>(f.x), static_cast<double>(f.y), static_cast<double>(f.width),
                               static_cast<double>(f.height)},
                              static_cast<double>(f.confidence)});
        if (progress) {
            std::lock_guard lock(progress_mutex);
            progress(++done);
        }
    });
    return out;
}

}  // namespace tools::eval
