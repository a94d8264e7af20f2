// `face-service detect` over folders (main.cpp keeps the argument parsing):
// the photos of folders and files, detected here on every core or posted to
// a running service, the answers written to a JSON Lines file that a second
// run resumes.
//
// Decisions (tests/server/batch_cli_test.cpp and tests/cli/batch_test.py pin
// them):
// - Walking: a folder is walked recursively, its entries in byte order of
//   their names, depth first, so a folder always gives the same list. Files
//   are taken by extension, case-insensitive: .jpg .jpeg .jpe .jfif .png .bmp
//   .gif (the decoder reads the format from the bytes, mtcnn/image.h; the
//   extension only picks what to try). Symbolic links to folders are never
//   followed, so a link loop cannot happen and nothing is visited twice;
//   links to files are taken like files. A file named on the command line
//   is taken whatever its name, a folder named there is walked even when it
//   is a link. A path met twice is taken once (the first time).
// - The results file (--out): one line per photo, in the order above,
//   {"photo": PATH, "faces": [...]} or {"photo": PATH, "error": "..."}, PATH
//   as reached from the argument (argument + "/" + relative path). Each line
//   is one write(2) on a file opened for appending, so what a killed run
//   leaves is whole lines and at most one partial last line. Lines are
//   written in the photos' order (a photo that finishes early waits for the
//   ones before it), so an interrupted run that is resumed writes the same
//   file, byte for byte, as one that was never interrupted.
// - Resuming: a run with an existing --out reads it first; every photo with
//   a line (faces or error) is skipped. A last line without its newline (a
//   crash in the middle of a write) is cut off the file and its photo done
//   again. Any other line that is not such a JSON object means --out is not
//   a results file: the run refuses to touch it. The file is locked
//   (flock) while a run writes it; a second run at once is refused.
// - The parameters that shape the lines (mode, confidence, min_face_size,
//   max_faces) are recorded beside the file, in OUT.params.json; a run that
//   resumes a file with lines and asks for other ones is refused before it
//   writes anything, so one file never mixes two settings. A file without a
//   record (written before records, or the record deleted) takes the run's.
//   The weights and --server are not recorded: the same cascade gives the
//   same faces here or through a service.
// - An unreadable photo is an error line (and exit status 1), not a stop.
//   With --server, a reply about the photo (400, 413, 415, 500) is an error
//   line too; 429, 502, 503, 504 and connection failures are retried with
//   exponential backoff (0.5 s doubling to 30 s, at least the Retry-After
//   the service sent), and a run whose service stays away after the last
//   try, or that answers 401, 404, 422 (a wrong URL, key or parameter,
//   which no photo would change), stops with exit status 1: run it again to
//   resume.
// - Progress on stderr (only with --out): a bar with photos per second and
//   the time left, redrawn every 0.2 s, when stderr is a terminal; otherwise
//   a plain line every 5 s. Then one summary line.
// - Threads: here, one photo per core, each on one thread of a shared
//   detector (make_workers in batch_cli.cpp says why); with --server,
//   --concurrency requests at once, each on its own keep-alive connection.
//   Either way the lines come out in the photos' order.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <variant>
#include <vector>

#include "mtcnn/modes.h"
#include "server/http_client.h"

namespace server::batch {

// A run that cannot go on: a results file that is not one, a service that
// stays away. main() prints it and exits 1.
class BatchError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Whether a file name has one of the photo extensions above.
bool is_photo_name(std::string_view name);

struct Collected {
    std::vector<std::string> photos;
    // Each photo's path from the folder named on the command line that holds
    // it ("a/b.jpg" for FOLDER/a/b.jpg), or its file name when named itself.
    std::vector<std::string> relative;
    std::vector<std::string> problems;  // "PATH: reason" for what could not be walked or is missing
};

// The photos of `inputs` (files and folders), as described above.
Collected collect_photos(const std::vector<std::string>& inputs);

// One line of a results file, newline included. Names that are not UTF-8
// have their bad bytes replaced by U+FFFD (JSON holds only Unicode).
std::string faces_line(const std::string& photo, const nlohmann::json& faces);
std::string error_line(const std::string& photo, std::string_view error);

// `photo` as its line reads back (the U+FFFD replacement above).
std::string photo_key(const std::string& photo);

struct Finished {
    std::unordered_set<std::string> photos;  // photo_key()s with a line
    bool dropped_partial_line = false;       // a last line without its newline was cut off
};

// The photos in the results file at `path` (none when it does not exist),
// cutting off a partial last line as above. BatchError for a line that is
// not a result, naming the file and line.
Finished read_results(const std::string& path);

// The `n` largest faces (box area) of a JSON list as /api/detect returns it,
// in their order: what mtcnn::keep_largest does to Face values, for the
// answers of a service that may not know max_faces.
nlohmann::json keep_largest_json(const nlohmann::json& faces, std::size_t n);

// How --server insists (above). `sleep` is a parameter for the tests.
struct RetryPolicy {
    int attempts = 6;  // tries of one photo in all
    std::chrono::milliseconds first_wait{500};
    std::chrono::milliseconds longest_wait{30'000};
    std::function<void(std::chrono::milliseconds)> sleep;  // empty: std::this_thread::sleep_for
};

// The wait before try `attempt` + 1 (attempt counts from 1): the backoff,
// and at least `retry_after` seconds when the service sent them, both
// capped at longest_wait.
std::chrono::milliseconds retry_wait(const RetryPolicy& policy, int attempt, std::optional<std::string> retry_after);

// What happened to one photo.
struct Outcome {
    std::optional<nlohmann::json> faces;  // set on success
    std::string error;                    // otherwise
};

// Posts photos to a running service's `route` (/api/detect, or
// /api/anonymize) with the query `query` ("mode=default&confidence=0.95...").
// One per thread (each keeps its own connection). BatchError once the
// service stays away or refuses the run.
class RemoteDetector {
public:
    RemoteDetector(const std::string& base_url, std::string query, RetryPolicy policy = {},
                   std::string_view route = "/api/detect");
    Outcome detect(const std::string& photo_path, std::string_view bytes);
    // The body of the 200 reply (index 0), or the error about this photo
    // (index 1); detect() reads the body as faces. `query`, when given,
    // replaces the constructor's for this request.
    std::variant<std::string, std::string> post(const std::string& photo_path, std::string_view bytes,
                                                std::string_view query = {});
    // Sent with every request as X-API-Key (server/access.h).
    void set_api_key(const std::string& key) { client_.add_header("X-API-Key", key); }

private:
    std::string base_url_;
    std::string route_;   // "/api/detect"
    std::string target_;  // route_?query
    RetryPolicy policy_;
    http_client::Client client_;
};

struct DetectJob {
    std::vector<std::string> inputs;  // files and folders
    std::string out;                  // results file; empty: print as `detect PHOTO...` does
    const mtcnn::Mode* mode = &mtcnn::find_mode(mtcnn::kDefaultMode);
    double confidence = 0.95;         // the predecessor service's default
    std::optional<int> min_face;
    std::optional<int> max_faces;
    std::string weights_dir;
    std::string server_url;  // empty: detect here
    std::string api_key;     // with server_url, sent as X-API-Key when not empty
    int concurrency = 4;     // requests at once with server_url
    int threads = 0;         // cores to use here; 0: all
    bool progress = true;    // with `out`
    std::chrono::milliseconds progress_interval{5000};  // when stderr is not a terminal
};

// The query of a request for `job` ("mode=...&confidence=...[&min_face_size=N][&max_faces=N]",
// server/service.h).
std::string detect_query(const DetectJob& job);

// The parameters a run records beside its output, as JSON:
// {"mode", "confidence", "min_face_size", "max_faces"}, the last two null
// when not given; anonymize adds "method" and "strength".
nlohmann::json job_parameters(const DetectJob& job);

// The record of `parameters` at `record`. Without `earlier_output` (nothing
// written yet that the parameters shaped), it is written (replacing one
// there). With it, an existing record must hold the same parameters:
// BatchError naming both otherwise, or for a record that is not one; a
// missing record is written. Returns whether it was missing with earlier
// output (the caller says so). Written to RECORD.part, then renamed.
bool check_parameters(const std::string& record, const nlohmann::json& parameters, bool earlier_output);

// Runs the job; the exit status (0, or 1 when a photo failed). Throws
// BatchError. Without `out`, prints what `detect PHOTO...` prints: the list
// for a single photo named on the command line, else one
// {"faces": [...], "photo": PATH} line per photo, and unreadable photos on
// stderr.
int run_detect(const DetectJob& job);

// `face-service anonymize PHOTO_OR_FOLDER... --out FOLDER`: every photo
// written into FOLDER with its faces blurred (mtcnn/anonymize.h), under its
// relative path (Collected::relative), re-encoded from the pixels (no
// metadata of the original): JPEG (quality 90) for .jpg .jpeg .jpe .jfif
// names, PNG for .png, and PNG with ".png" appended for the others (BMP,
// GIF: "a.gif" -> "a.gif.png", so no two photos of a folder share an
// output). Each is written to NAME.part beside it and renamed at the end, so
// a file under its own name is complete: a run again skips the photos whose
// output exists. Photos without faces are written too (the copy has no
// metadata). An unreadable photo is reported on stderr (exit status 1) and
// written nowhere; a run again tries it again. Folders named at once share
// FOLDER: the same relative path in two of them is written once. Photos
// inside FOLDER itself (when it lies in a folder walked) are left alone.
// The parameters, method and strength included, are recorded in
// FOLDER/.face-service-anonymize.json and checked when a run resumes, as
// for `detect` above.
struct AnonymizeJob {
    DetectJob detect;                   // the photos, the detection's parameters, --server; not `out`
    std::string out_dir;
    std::string method = "gaussian";    // mtcnn::blur_method_from_name
    std::optional<double> strength;     // (0, 1]; none: mtcnn::kDefaultStrength
};

// Where the photo at `relative` is written (above).
std::string anonymized_path(const std::string& out_dir, const std::string& relative);

// The query of /api/anonymize for `job` and an output named `output`.
std::string anonymize_query(const AnonymizeJob& job, const std::string& output);

// Runs the job; the exit status (0, or 1 when a photo failed). Throws BatchError.
int run_anonymize(const AnonymizeJob& job);

}  // namespace server::batch
