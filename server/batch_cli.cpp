#include "server/batch_cli.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <sstream>
#include <thread>
#include <utility>
#include <variant>

#include "engine/cpu.h"
#include "mtcnn/anonymize.h"
#include "mtcnn/detector.h"
#include "mtcnn/encode.h"
#include "mtcnn/face_json.h"
#include "mtcnn/image.h"
#include "server/ascii.h"

namespace server::batch {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

using ascii::lower;

// Depth first, each folder's entries in byte order of their names;
// `relative` is `folder` from the folder named on the command line.
void walk(const fs::path& folder, const fs::path& relative, Collected& found) {
    std::error_code ec;
    std::vector<fs::directory_entry> entries;
    for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) entries.push_back(*it);
    if (ec) found.problems.push_back(folder.string() + ": " + ec.message());
    std::sort(entries.begin(), entries.end(), [](const fs::directory_entry& a, const fs::directory_entry& b) {
        return a.path().filename().native() < b.path().filename().native();
    });
    for (const fs::directory_entry& entry : entries) {
        std::error_code e;
        // is_symlink first: is_directory follows links, and a followed link
        // to a folder above would walk for ever.
        if (!entry.is_symlink(e) && entry.is_directory(e)) {
            walk(entry.path(), relative / entry.path().filename(), found);
        } else if (is_photo_name(entry.path().filename().native()) && entry.is_regular_file(e)) {
            found.photos.push_back(entry.path().string());
            found.relative.push_back((relative / entry.path().filename()).string());
        }
    }
}

// A JSON string of any bytes: bad UTF-8 becomes U+FFFD rather than the
// exception nlohmann::json's dump() throws by default.
std::string dump(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

// load_image_file's messages start with the path, which the line holds already.
std::string without_path(const std::string& photo, std::string_view error) {
    const std::string prefix = photo + ": ";
    if (error.starts_with(prefix)) error.remove_prefix(prefix.size());
    return std::string(error);
}

std::string seconds_text(double seconds) {
    const long s = std::lround(std::max(0.0, seconds));
    char text[32];
    if (s >= 3600)
        std::snprintf(text, sizeof text, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        std::snprintf(text, sizeof text, "%ld:%02ld", s / 60, s % 60);
    return text;
}

// Photos done, their rate and the time left on stderr (batch_cli.h), from
// a thread of its own so that a slow photo does not freeze it.
class Progress {
public:
    Progress(std::size_t total, bool enabled, std::chrono::milliseconds interval)
        : total_(total), tty_(::isatty(STDERR_FILENO) == 1), interval_(tty_ ? std::chrono::milliseconds(200) : interval) {
        if (enabled && total > 0) thread_ = std::thread([this] { loop(); });
    }
    ~Progress() { stop(); }
    Progress(const Progress&) = delete;
    Progress& operator=(const Progress&) = delete;

    void count(bool failed) {
        done_.fetch_add(1, std::memory_order_relaxed);
        if (failed) failed_.fetch_add(1, std::memory_order_relaxed);
    }
    std::size_t done() const { return done_.load(); }
    std::size_t failed() const { return failed_.load(); }
    double seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

    void stop() {
        if (!thread_.joinable()) return;
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        thread_.join();
        if (tty_) std::cerr << line() << "\n" << std::flush;  // the bar at its end, kept on screen
    }

private:
    void loop() {
        std::unique_lock lock(mutex_);
        while (!wake_.wait_for(lock, interval_, [this] { return stopping_; })) {
            if (tty_)
                std::cerr << line() << std::flush;
            else
                std::cerr << line() << "\n" << std::flush;
        }
    }

    std::string line() const {
        const std::size_t done = done_.load();
        const double elapsed = seconds();
        const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
        const double share = total_ ? static_cast<double>(done) / static_cast<double>(total_) : 1.0;
        const std::string left = rate > 0 ? seconds_text(static_cast<double>(total_ - done) / rate) : "?";
        char figures[160];
        std::snprintf(figures, sizeof figures, "%zu/%zu photos (%.0f%%), %.1f photos/s, %s left", done, total_,
                      share * 100, rate, left.c_str());
        if (!tty_) return std::string("face-service: ") + figures;
        constexpr int kWidth = 30;
        const int filled = static_cast<int>(share * kWidth);
        // \r back to the start of the line, ESC[K clears what a longer line left.
        return "\r\033[K[" + std::string(static_cast<std::size_t>(filled), '#') +
               std::string(static_cast<std::size_t>(kWidth - filled), '.') + "] " + figures;
    }

    const std::size_t total_;
    const bool tty_;
    const std::chrono::milliseconds interval_;
    const Clock::time_point start_ = Clock::now();
    std::atomic<std::size_t> done_{0}, failed_{0};
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

// Runs process(worker, i) for every i < count on `workers` threads (the
// caller's included) and hands the outcomes to `emit` in the order of i,
// one at a time. An exception from either stops the run: no new item
// starts, the running ones finish, what is in order is emitted, and the
// first exception is rethrown.
void run_ordered(std::size_t count, int workers, const std::function<Outcome(int, std::size_t)>& process,
                 const std::function<void(std::size_t, const Outcome&)>& emit) {
    std::mutex mutex;
    std::map<std::size_t, Outcome> finished;  // waiting for an earlier item
    std::size_t next_emit = 0;
    std::atomic<std::size_t> next{0};
    std::atomic<bool> stop{false};
    std::exception_ptr error;
    const auto fail = [&] {
        if (!error) error = std::current_exception();
        stop = true;
    };
    const auto work = [&](int worker) {
        for (std::size_t i = 0; !stop && (i = next++) < count;) {
            Outcome outcome;
            try {
                outcome = process(worker, i);
            } catch (...) {
                std::lock_guard lock(mutex);
                fail();
                return;
            }
            std::lock_guard lock(mutex);
            finished.emplace(i, std::move(outcome));
            try {
                for (auto first = finished.begin(); first != finished.end() && first->first == next_emit;
                     first = finished.erase(first), ++next_emit)
                    emit(first->first, first->second);
            } catch (...) {
                fail();
                return;
            }
        }
    };
    std::vector<std::thread> threads;
    for (int w = 1; w < workers; ++w) threads.emplace_back(work, w);
    work(0);
    for (std::thread& t : threads) t.join();
    if (error) std::rethrow_exception(error);
}

// The results file, open for appending and locked while the run writes it.
class ResultsFile {
public:
    explicit ResultsFile(const std::string& path) : path_(path) {
        fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd_ < 0) throw BatchError(path + ": cannot be opened for writing: " + std::strerror(errno));
        if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
            const int error = errno;
            ::close(fd_);
            throw BatchError(path + (error == EWOULDBLOCK ? ": another run is writing it"
                                                          : ": cannot be locked: " + std::string(std::strerror(error))));
        }
    }
    ~ResultsFile() { ::close(fd_); }
    ResultsFile(const ResultsFile&) = delete;
    ResultsFile& operator=(const ResultsFile&) = delete;

    // One write(2) per line, so a killed run leaves whole lines (and at
    // most a partial last one, from a write cut short).
    void write(std::string_view line) {
        while (!line.empty()) {
            const ssize_t n = ::write(fd_, line.data(), line.size());
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw BatchError(path_ + ": cannot be written: " + std::strerror(errno));
            line.remove_prefix(static_cast<std::size_t>(n));
        }
    }

private:
    std::string path_;
    int fd_ = -1;
};

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot be read: " + std::string(std::strerror(errno)));
    std::ostringstream bytes;
    bytes << in.rdbuf();
    if (in.bad()) throw std::runtime_error("cannot be read");
    return std::move(bytes).str();
}

int available_cores() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

std::string number_text(double value) {
    char text[32];
    const auto [end, ec] = std::to_chars(text, text + sizeof text, value);  // shortest exact form
    return std::string(text, ec == std::errc() ? end : text);
}

}  // namespace

bool is_photo_name(std::string_view name) {
    const auto dot = name.rfind('.');
    if (dot == std::string_view::npos || dot == 0) return false;
    const std::string ext = lower(name.substr(dot + 1));
    for (const char* known : {"jpg", "jpeg", "jpe", "jfif", "png", "bmp", "gif"})
        if (ext == known) return true;
    return false;
}

Collected collect_photos(const std::vector<std::string>& inputs) {
    Collected found;
    for (const std::string& input : inputs) {
        std::error_code ec;
        if (fs::is_directory(input, ec)) {
            walk(input, {}, found);
        } else {  // named: taken whatever its name, or its error reported
            found.photos.push_back(input);
            found.relative.push_back(fs::path(input).filename().string());
        }
    }
    Collected once;
    std::unordered_set<std::string> seen;
    for (std::size_t i = 0; i < found.photos.size(); ++i)
        if (seen.insert(found.photos[i]).second) {
            once.photos.push_back(std::move(found.photos[i]));
            once.relative.push_back(std::move(found.relative[i]));
        }
    once.problems = std::move(found.problems);
    return once;
}

std::string faces_line(const std::string& photo, const json& faces) {
    return "{\"photo\":" + dump(photo) + ",\"faces\":" + dump(faces) + "}\n";
}

std::string error_line(const std::string& photo, std::string_view error) {
    return "{\"photo\":" + dump(photo) + ",\"error\":" + dump(std::string(error)) + "}\n";
}

std::string photo_key(const std::string& photo) { return json::parse(dump(photo)).get<std::string>(); }

Finished read_results(const std::string& path) {
    Finished finished;
    std::error_code ec;
    if (!fs::exists(path, ec)) return finished;
    std::ifstream in(path, std::ios::binary);
    if (!in) throw BatchError(path + ": cannot be read: " + std::strerror(errno));
    std::string line;
    std::uintmax_t whole = 0;  // bytes of the whole lines
    for (std::size_t number = 1; std::getline(in, line); ++number) {
        if (in.eof()) {  // no newline after it: the partial last line of a write cut short
            finished.dropped_partial_line = true;
            break;
        }
        whole += line.size() + 1;
        if (line.empty()) continue;
        const json result = json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (!result.is_object() || !result.contains("photo") || !result["photo"].is_string() ||
            !(result.contains("faces") || result.contains("error")))
            throw BatchError(path + ":" + std::to_string(number) +
                             ": not a line of a results file ({\"photo\": ..., \"faces\": ...}); is --out the right file?");
        finished.photos.insert(result["photo"].get<std::string>());
    }
    if (in.bad()) throw BatchError(path + ": cannot be read");
    in.close();
    if (finished.dropped_partial_line) {
        fs::resize_file(path, whole, ec);
        if (ec) throw BatchError(path + ": cannot cut off its partial last line: " + ec.message());
    }
    return finished;
}

json keep_largest_json(const json& faces, std::size_t n) {
    if (!faces.is_array() || faces.size() <= n) return faces;
    const auto area = [&](std::size_t i) {
        const json& box = faces[i].at("box");
        return box.at(2).get<double>() * box.at(3).get<double>();
    };
    std::vector<std::size_t> order(faces.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        if (area(a) != area(b)) return area(a) > area(b);
        return faces[a].value("confidence", 0.0) > faces[b].value("confidence", 0.0);
    });
    order.resize(n);
    std::sort(order.begin(), order.end());
    json kept = json::array();
    for (std::size_t i : order) kept.push_back(faces[i]);
    return kept;
}

std::chrono::milliseconds retry_wait(const RetryPolicy& policy, int attempt, std::optional<std::string> retry_after) {
    std::chrono::milliseconds wait = policy.first_wait;
    for (int i = 1; i < attempt && wait < policy.longest_wait; ++i) wait *= 2;
    int seconds = 0;  // Retry-After in seconds; its HTTP-date form is not used by our service
    if (retry_after) {
        const auto [end, ec] = std::from_chars(retry_after->data(), retry_after->data() + retry_after->size(), seconds);
        if (ec == std::errc() && end == retry_after->data() + retry_after->size() && seconds > 0)
            wait = std::max<std::chrono::milliseconds>(wait, std::chrono::seconds(std::min(seconds, 3600)));
    }
    return std::min(wait, policy.longest_wait);
}

RemoteDetector::RemoteDetector(const std::string& base_url, std::string query, RetryPolicy policy,
                               std::string_view route)
    : base_url_(base_url), route_(route), target_(route_ + "?" + std::move(query)), policy_(std::move(policy)),
      client_(http_client::parse_base_url(base_url)) {}

Outcome RemoteDetector::detect(const std::string& photo_path, std::string_view bytes) {
    std::variant<std::string, std::string> answer = post(photo_path, bytes);
    if (answer.index() == 1) return {std::nullopt, std::get<1>(answer)};
    json body = json::parse(std::get<0>(answer), nullptr, false);
    if (!body.is_array()) return {std::nullopt, "the service answered 200 without a list of faces"};
    return {std::move(body), {}};
}

std::variant<std::string, std::string> RemoteDetector::post(const std::string& photo_path, std::string_view bytes,
                                                            std::string_view query) {
    using Answer = std::variant<std::string, std::string>;
    const std::string target = query.empty() ? target_ : route_ + "?" + std::string(query);
    std::string last;
    for (int attempt = 1;; ++attempt) {
        std::optional<std::string> retry_after;
        try {
            http_client::Reply reply = client_.post(target, "application/octet-stream", bytes);
            if (reply.status == 200) return Answer(std::in_place_index<0>, std::move(reply.body));
            const json body = json::parse(reply.body, nullptr, false);
            const std::string detail = body.is_object() && body.contains("detail") && body["detail"].is_string()
                                           ? body["detail"].get<std::string>()
                                           : reply.body.substr(0, 200);
            const std::string answer = "answered " + std::to_string(reply.status) + ": " + detail;
            switch (reply.status) {
                case 400: case 413: case 415: case 500:  // about this photo
                    return Answer(std::in_place_index<1>, "the service " + answer);
                case 429: case 502: case 503: case 504:  // busy, starting or between pods: later
                    last = answer;
                    retry_after = reply.header("retry-after");
                    break;
                default:  // 401, 404, 422, ...: no photo would be answered
                    throw BatchError(base_url_ + " " + answer + " (to " + photo_path + ")");
            }
        } catch (const BatchError&) {
            throw;
        } catch (const std::runtime_error& e) {  // could not connect, send or receive
            last = e.what();
        }
        if (attempt >= policy_.attempts)
            throw BatchError(base_url_ + ": no answer for " + photo_path + " after " + std::to_string(attempt) +
                             " tries, the last: " + last);
        const std::chrono::milliseconds wait = retry_wait(policy_, attempt, retry_after);
        if (policy_.sleep)
            policy_.sleep(wait);
        else
            std::this_thread::sleep_for(wait);
    }
}

std::string detect_query(const DetectJob& job) {
    std::string query = "mode=" + std::string(job.mode->name) + "&confidence=" + number_text(job.confidence);
    if (job.min_face) query += "&min_face_size=" + std::to_string(*job.min_face);
    if (job.max_faces) query += "&max_faces=" + std::to_string(*job.max_faces);
    return query;
}

namespace {

// Who does the work: a detector here, or one client per request at once.
struct Workers {
    std::unique_ptr<const mtcnn::Detector> detector;  // here
    std::vector<RemoteDetector> remotes;              // with --server
    int count = 1;                                    // threads
};

Workers make_workers(const DetectJob& job, std::string_view route, const std::string& query, std::size_t photos) {
    Workers w;
    if (job.server_url.empty()) {
        // The photos in parallel, one per core, on one shared detector of
        // one thread (Detector::detect is const and thread-safe). Against one
        // photo at a time on every core (what `detect PHOTO...` does), on 32
        // WIDER FACE photos on a quiet 2-core VM: a median 11.17 s against
        // 12.19 s, faster in 4 of 5 rounds (bench/strategies.sh,
        // bench/RESULTS.md). Photos in parallel share nothing, have no
        // per-level barriers and no serial decode or NMS, so they scale with
        // cores where one photo's pyramid levels and window batches do not (a
        // 1024-pixel photo has too little work for 16 threads).
        w.count = job.threads > 0 ? job.threads : available_cores();
        w.detector = std::make_unique<const mtcnn::Detector>(engine::kernels_for(engine::configured_isa()),
                                                             job.weights_dir, 1);
    } else {
        w.count = std::max(1, job.concurrency);
        w.remotes.reserve(static_cast<std::size_t>(w.count));
        for (int i = 0; i < w.count; ++i) {
            w.remotes.emplace_back(job.server_url, query, RetryPolicy{}, route);
            if (!job.api_key.empty()) w.remotes.back().set_api_key(job.api_key);
        }
    }
    w.count = static_cast<int>(std::clamp<std::size_t>(photos, 1, static_cast<std::size_t>(w.count)));
    return w;
}

// The detection's mode with the job's --min-face.
mtcnn::Mode job_mode(const DetectJob& job) {
    mtcnn::Mode mode = *job.mode;
    if (job.min_face) mode.options.min_face = *job.min_face;
    return mode;
}

// Runs process/emit as run_ordered does, with progress, then the summary
// line ("OUT: 12 photos done (1 errors) in ..."). Rethrows what stopped it.
void run_with_progress(const DetectJob& job, const std::string& out, std::size_t count, std::size_t skipped,
                       int workers, bool show, const std::function<Outcome(int, std::size_t)>& process,
                       const std::function<void(std::size_t, const Outcome&)>& emit) {
    Progress progress(count, show, job.progress_interval);
    std::exception_ptr stopped;
    try {
        run_ordered(count, workers, process, [&](std::size_t i, const Outcome& outcome) {
            emit(i, outcome);
            progress.count(!outcome.faces);
        });
    } catch (...) {
        stopped = std::current_exception();
    }
    progress.stop();
    if (show) {
        const double seconds = progress.seconds();
        char summary[256];
        std::snprintf(summary, sizeof summary, "%zu photos done (%zu errors) in %.1f s, %.1f photos/s", progress.done(),
                      progress.failed(), seconds, seconds > 0 ? static_cast<double>(progress.done()) / seconds : 0.0);
        std::cerr << "face-service: " << out << ": " << summary;
        if (skipped > 0) std::cerr << "; " << skipped << " were there already";
        if (stopped) std::cerr << "; stopped, " << count - progress.done() << " left: run again to resume";
        std::cerr << "\n";
    }
    if (stopped) std::rethrow_exception(stopped);
}

// Every problem of the walk on stderr; 1 when there was one.
int report(const Collected& collected) {
    for (const std::string& problem : collected.problems) std::cerr << "face-service: " << problem << "\n";
    return collected.problems.empty() ? 0 : 1;
}

}  // namespace

int run_detect(const DetectJob& job) {
    Collected collected = collect_photos(job.inputs);
    int status = report(collected);

    // What is left to do, and where it goes.
    std::unique_ptr<ResultsFile> results;
    std::vector<std::string> todo;
    std::size_t skipped = 0;
    if (!job.out.empty()) {
        results = std::make_unique<ResultsFile>(job.out);  // locked before it is read
        const Finished finished = read_results(job.out);
        for (std::string& photo : collected.photos)
            if (finished.photos.contains(photo_key(photo)))
                ++skipped;
            else
                todo.push_back(std::move(photo));
        const std::string record = job.out + ".params.json";
        if (check_parameters(record, job_parameters(job), !finished.photos.empty()) && job.progress)
            std::cerr << "face-service: " << job.out << " had no record of its parameters; " << record
                      << " now holds this run's\n";
        if (job.progress && (skipped > 0 || finished.dropped_partial_line))
            std::cerr << "face-service: resuming " << job.out << ": " << skipped << " of "
                      << skipped + todo.size() << " photos already there"
                      << (finished.dropped_partial_line ? "; its partial last line was cut off" : "") << "\n";
    } else {
        todo = std::move(collected.photos);
    }
    // The bare list only for `detect PHOTO`, as before folders.
    const bool bare_list = job.out.empty() && job.inputs.size() == 1 && todo.size() == 1 && todo[0] == job.inputs[0];

    const mtcnn::Mode mode = job_mode(job);
    Workers workers = make_workers(job, "/api/detect", detect_query(job), todo.size());
    const auto process = [&](int worker, std::size_t i) -> Outcome {
        const std::string& photo = todo[i];
        if (!workers.detector) {
            std::string bytes;
            try {
                bytes = read_file(photo);
            } catch (const std::exception& e) {
                return {std::nullopt, e.what()};
            }
            Outcome outcome = workers.remotes[static_cast<std::size_t>(worker)].detect(photo, bytes);
            if (outcome.faces && job.max_faces)
                outcome.faces = keep_largest_json(*outcome.faces, static_cast<std::size_t>(*job.max_faces));
            return outcome;
        }
        try {
            const mtcnn::Image image = mtcnn::load_image_file(photo);
            std::vector<mtcnn::Face> faces = mtcnn::detect(*workers.detector, image, mode, job.confidence);
            if (job.max_faces) faces = mtcnn::keep_largest(std::move(faces), static_cast<std::size_t>(*job.max_faces));
            return {mtcnn::faces_to_json(faces), {}};
        } catch (const std::bad_alloc&) {
            return {std::nullopt, "out of memory"};
        } catch (const std::exception& e) {
            return {std::nullopt, e.what()};
        }
    };
    const auto emit = [&](std::size_t i, const Outcome& outcome) {
        const std::string& photo = todo[i];
        if (!outcome.faces) status = 1;
        if (results) {
            results->write(outcome.faces ? faces_line(photo, *outcome.faces)
                                         : error_line(photo, without_path(photo, outcome.error)));
        } else if (!outcome.faces) {
            std::cerr << "face-service: " << photo << ": " << outcome.error << "\n";
        } else {
            std::cout << (bare_list ? dump(*outcome.faces) : dump(json{{"photo", photo}, {"faces", *outcome.faces}}))
                      << "\n";
        }
    };
    run_with_progress(job, job.out, todo.size(), skipped, workers.count, results && job.progress, process, emit);
    return status;
}

namespace {

bool is_jpeg_name(const fs::path& name) {
    const std::string ext = lower(name.extension().string());
    return ext == ".jpg" || ext == ".jpeg" || ext == ".jpe" || ext == ".jfif";
}

// Written to TARGET.part, then renamed: a file under its own name is whole.
void write_whole(const std::string& target, std::string_view bytes) {
    fs::create_directories(fs::path(target).parent_path());
    const std::string part = target + ".part";
    std::ofstream out(part, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) throw std::runtime_error(part + ": cannot be written");
    fs::rename(part, target);
}

}  // namespace

json job_parameters(const DetectJob& job) {
    const auto optional = [](const std::optional<int>& n) { return n ? json(*n) : json(nullptr); };
    return {{"mode", job.mode->name},
            {"confidence", job.confidence},
            {"min_face_size", optional(job.min_face)},
            {"max_faces", optional(job.max_faces)}};
}

bool check_parameters(const std::string& record, const json& parameters, bool earlier_output) {
    std::error_code ec;
    if (earlier_output && fs::exists(record, ec)) {
        json recorded;
        try {
            recorded = json::parse(read_file(record));
        } catch (const std::exception&) {
            throw BatchError(record + ": not a record of parameters; delete it to take this run's");
        }
        if (recorded != parameters)
            throw BatchError(record + ": the results so far were made with " + recorded.dump() +
                             ", this run asks for " + parameters.dump() +
                             ": resume with those, or choose another --out");
        return false;
    }
    write_whole(record, parameters.dump() + "\n");
    return earlier_output;
}

std::string anonymized_path(const std::string& out_dir, const std::string& relative) {
    fs::path target = fs::path(out_dir) / relative;
    if (!is_jpeg_name(target) && lower(target.extension().string()) != ".png") target += ".png";
    return target.string();
}

std::string anonymize_query(const AnonymizeJob& job, const std::string& output) {
    std::string query = detect_query(job.detect) + "&method=" + job.method;
    if (job.strength) query += "&strength=" + number_text(*job.strength);
    return query + (is_jpeg_name(output) ? "&format=jpeg" : "&format=png");
}

int run_anonymize(const AnonymizeJob& job) {
    const DetectJob& d = job.detect;
    mtcnn::AnonymizeOptions options;
    options.method = mtcnn::blur_method_from_name(job.method);
    if (job.strength) options.strength = *job.strength;

    Collected collected = collect_photos(d.inputs);
    int status = report(collected);
    struct Todo {
        std::string photo, target;
    };
    std::vector<Todo> todo;
    std::size_t skipped = 0;
    // The output folder may lie inside a folder walked: what it holds is
    // ours, and blurring it again would nest a copy deeper at every run.
    std::error_code ec;
    const std::string inside_out = fs::weakly_canonical(job.out_dir, ec).string() + "/";
    for (std::size_t i = 0; i < collected.photos.size(); ++i) {
        if (fs::weakly_canonical(collected.photos[i], ec).string().starts_with(inside_out)) continue;
        std::string target = anonymized_path(job.out_dir, collected.relative[i]);
        if (fs::exists(target, ec))
            ++skipped;
        else
            todo.push_back({std::move(collected.photos[i]), std::move(target)});
    }
    json parameters = job_parameters(d);
    parameters["method"] = job.method;
    parameters["strength"] = job.strength.value_or(mtcnn::kDefaultStrength);
    const std::string record = (fs::path(job.out_dir) / ".face-service-anonymize.json").string();
    if (check_parameters(record, parameters, skipped > 0) && d.progress)
        std::cerr << "face-service: " << job.out_dir << " had no record of its parameters; " << record
                  << " now holds this run's\n";
    if (d.progress && skipped > 0)
        std::cerr << "face-service: resuming " << job.out_dir << ": " << skipped << " of " << skipped + todo.size()
                  << " photos written already\n";

    const mtcnn::Mode mode = job_mode(d);
    // The format goes in each request's query (by the output's name), so
    // the clients get the query without it.
    Workers workers = make_workers(d, "/api/anonymize", "", todo.size());
    const auto process = [&](int worker, std::size_t i) -> Outcome {
        const Todo& t = todo[i];
        try {
            if (!workers.detector) {
                const std::string bytes = read_file(t.photo);
                auto answer = workers.remotes[static_cast<std::size_t>(worker)].post(t.photo, bytes,
                                                                                    anonymize_query(job, t.target));
                if (answer.index() == 1) return {std::nullopt, std::get<1>(answer)};
                write_whole(t.target, std::get<0>(answer));
                return {json(nullptr), {}};
            }
            const mtcnn::Image image = mtcnn::load_image_file(t.photo);
            std::vector<mtcnn::Face> faces = mtcnn::detect(*workers.detector, image, mode, d.confidence);
            if (d.max_faces) faces = mtcnn::keep_largest(std::move(faces), static_cast<std::size_t>(*d.max_faces));
            const mtcnn::Image blurred = mtcnn::anonymized(image, faces, options);
            const std::vector<std::uint8_t> bytes =
                mtcnn::encode_image(blurred, is_jpeg_name(t.target) ? mtcnn::ImageFormat::jpeg : mtcnn::ImageFormat::png);
            write_whole(t.target, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
            return {json(faces.size()), {}};
        } catch (const BatchError&) {
            throw;
        } catch (const std::bad_alloc&) {
            return {std::nullopt, "out of memory"};
        } catch (const std::exception& e) {
            return {std::nullopt, e.what()};
        }
    };
    const auto emit = [&](std::size_t i, const Outcome& outcome) {
        if (outcome.faces) return;
        status = 1;
        std::cerr << "face-service: " << todo[i].photo << ": " << without_path(todo[i].photo, outcome.error) << "\n";
    };
    run_with_progress(d, job.out_dir, todo.size(), skipped, workers.count, d.progress, process, emit);
    return status;
}

}  // namespace server::batch
