// face-service: the command line. `detect` runs the cascade on photos and
// prints JSON, and over folders writes a resumable results file;
// `anonymize` writes the photos with their faces blurred (both
// server/batch_cli.h); `serve` runs the HTTP API (server/service.h);
// `healthcheck` asks a running server's GET /healthz (server/healthcheck.h).
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/cpu.h"
#include "mtcnn/anonymize.h"
#include "mtcnn/detector.h"
#include "mtcnn/face_json.h"
#include "mtcnn/image.h"
#include "mtcnn/modes.h"
#include "server/batch_cli.h"
#include "server/config.h"
#include "server/healthcheck.h"
#include "server/http_client.h"
#include "server/http_server.h"
#include "server/log.h"
#include "server/service.h"

namespace {

constexpr const char* kUsage = R"(usage:
  face-service detect PHOTO_OR_FOLDER... [--out FILE] [--mode NAME] [--confidence C] [--min-face N]
                      [--max-faces N] [--server URL [--concurrency N]] [--weights DIR]
      Detects faces and prints them as JSON, highest confidence first: for one
      photo the list of faces; for several, one line per photo:
      {"faces": [...], "photo": PATH}. Folders are walked recursively for
      .jpg .jpeg .jpe .jfif .png .bmp .gif files (any case; links to folders
      are not followed), in name order.
      --out FILE      writes one JSON line per photo to FILE instead,
                      {"photo": PATH, "faces": [...]} or {"photo": PATH, "error": "..."},
                      on every core, with progress on stderr; run again with
                      the same FILE to resume: the photos in it are skipped
                      (FILE.params.json records the parameters; resuming with
                      others is refused)
      --mode NAME     faithful (the predecessor's cascade and raw scores),
                      default, or accurate (slower); default: default
      --confidence C  the least confidence of a face printed, in [0, 1] (default 0.95)
      --min-face N    smallest face to look for, in pixels (default: the mode's,
                      20 faithful, 12 default, 10 accurate; at least 8)
      --max-faces N   keep the N largest faces of each photo (at least 1)
      --server URL    posts each photo to URL/api/detect (http://HOST[:PORT]) of a
                      running face-service instead, N at once (--concurrency,
                      default 4); 429/502/503/504 and lost connections are
                      retried with backoff, honouring Retry-After; the API
                      key, if the service wants one, from FACE_SERVICE_API_KEY
      --weights DIR   read DIR/{pnet,rnet,onet}.bin instead of the embedded weights
  face-service anonymize PHOTO_OR_FOLDER... --out FOLDER [--method gaussian|pixelate|solid] [--strength S]
                      [--mode NAME] [--confidence C] [--min-face N] [--max-faces N]
                      [--server URL [--concurrency N]] [--weights DIR]
      Writes each photo into FOLDER, under its path inside the folder named
      (a photo named itself: its file name), with every face found blurred
      over its padded ellipse, re-encoded without the original's metadata:
      JPEG (quality 90) for .jpg .jpeg .jpe .jfif, PNG for .png, PNG with
      ".png" appended for the others. Each is written to NAME.part and
      renamed when whole; run again to resume: photos whose output exists
      are skipped (FOLDER/.face-service-anonymize.json records the
      parameters; resuming with others is refused). The detection flags
      and --server are detect's (URL/api/anonymize); --method (default
      gaussian) and --strength (in (0, 1], default 0.15, a fraction of the
      face's width: the blur's sigma or the blocks' side) are
      /api/anonymize's.
  face-service serve [--port N] [--host ADDR] [--threads N] [--mode NAME] [--confidence C]
                     [--max-body BYTES] [--max-pixels N] [--access-log json|off] [--grace-period S]
                     [--max-queue N] [--request-timeout S] [--api-keys K1,K2] [--auth-probes true|false]
                     [--cors-origins O1,O2|*] [--max-batch N] [--config FILE] [--weights DIR]
      Serves the page at GET / and the HTTP API: POST /api/detect (the photo
      as the body, or a multipart form field `image`; ?mode=NAME&confidence=C
      &min_face_size=N&max_faces=N&crops=true), POST /api/detect/batch (a
      form of `image` fields), POST /api/anonymize, POST /api/crops (a zip),
      GET /healthz, /readyz, /healthcheck, and /metrics (Prometheus text).
      Flags beat the environment (FACE_SERVICE_PORT, then PORT;
      FACE_SERVICE_HOST, _THREADS, _MODE, _CONFIDENCE, _MAX_BODY, _MAX_PIXELS,
      _ACCESS_LOG, _GRACE_PERIOD, _MAX_QUEUE, _REQUEST_TIMEOUT, _API_KEYS, _AUTH_PROBES,
      _CORS_ORIGINS, _MAX_BATCH, FACE_SERVICE_CONFIG), which beats
      the JSON config file
      ({"port": 8000, "host": "0.0.0.0", "threads": 4, "mode": "default", "confidence": 0.95,
        "max_body": 16777216, "max_pixels": 50000000, "access_log": "json",
        "grace_period": 20, "max_queue": 8, "request_timeout": 30, "api_keys": "K1,K2",
        "auth_probes": false, "cors_origins": "https://app.example.com", "max_batch": 16}),
      which beats the defaults
      (port 8000, host 0.0.0.0, threads = cores, mode default, confidence 0.95,
      max body 16 MiB, max pixels 50000000, access log json, grace period 20 s,
      max queue 2 x threads, request timeout 30 s, no API keys, no CORS, max batch 16).
      Logs are JSON lines on stderr, one per request with --access-log json
      (the probes and /metrics are not logged).
      --max-queue N   requests that may wait for a thread; past them a request
                      gets 503 with Retry-After: 1 at once (0: none waits)
      --request-timeout S  seconds one detection may take (0: no limit); past
                      them it stops and the request gets 503 with Retry-After: 1
      --api-keys K1,K2  every request then needs one of the keys (16 to 256
                      printable ASCII characters each), as Authorization: Bearer K
                      or X-API-Key: K; the page, OPTIONS and (unless
                      --auth-probes true) the probes and /metrics stay open
      --cors-origins O1,O2  origins (https://host[:port]) whose scripts may call
                      the API, or * for any; default: no CORS headers
      --max-batch N   photos one POST /api/detect/batch may hold (1 to 64)
      SIGINT or SIGTERM: new connections are refused at once, the requests in
      flight finish (exit 0); those still running after the grace period are
      cut (exit 1).
  face-service healthcheck [--host ADDR] [--port N] [--timeout SECONDS]
      GET /healthz on ADDR (default 127.0.0.1) and port N (default: serve's,
      from FACE_SERVICE_PORT, PORT, the config file, or 8000) within SECONDS
      (default 2): exit 0 on a 200, else 1 with the reason on stderr (also for
      bad arguments: Docker reserves exit 2 in a HEALTHCHECK).
  face-service --help
)";

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

double parse_number(const std::string& flag, const std::string& text) {
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size())
        throw UsageError(flag + " needs a number, got '" + text + "'");
    return value;
}

// A whole number of at least `least`, for `flag`.
int parse_count(const std::string& flag, const std::string& text, int least) {
    const double n = parse_number(flag, text);
    if (n != static_cast<int>(n) || n < least)
        throw UsageError(flag + " must be an integer of at least " + std::to_string(least));
    return static_cast<int>(n);
}

// The flags `detect` and `anonymize` share, into `job`: true when args[i]
// was one (i is then on its value).
bool take_detect_flag(const std::vector<std::string>& args, std::size_t& i, server::batch::DetectJob& job,
                      std::optional<int>& concurrency) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string& {
        if (i + 1 >= args.size()) throw UsageError(a + " needs a value");
        return args[++i];
    };
    if (a == "--mode") {
        try {
            job.mode = &mtcnn::find_mode(value());
        } catch (const mtcnn::UnknownMode& e) {
            throw UsageError(e.what());
        }
    } else if (a == "--confidence") {
        job.confidence = parse_number(a, value());
        if (!(job.confidence >= 0.0 && job.confidence <= 1.0)) throw UsageError("--confidence must be in [0, 1]");
    } else if (a == "--min-face") {
        job.min_face = parse_count(a, value(), mtcnn::kSmallestMinFace);
    } else if (a == "--max-faces") {
        job.max_faces = parse_count(a, value(), 1);
    } else if (a == "--server") {
        job.server_url = value();
        try {
            server::http_client::parse_base_url(job.server_url);
        } catch (const std::invalid_argument& e) {
            throw UsageError(std::string("--server: ") + e.what());
        }
        // From the environment: a command line is visible to every user (ps).
        job.api_key = server::process_env("FACE_SERVICE_API_KEY").value_or("");
    } else if (a == "--concurrency") {
        concurrency = parse_count(a, value(), 1);
    } else if (a == "--weights") {
        job.weights_dir = value();
    } else {
        return false;
    }
    return true;
}

int detect_command(const std::vector<std::string>& args) {
    server::batch::DetectJob job;
    std::optional<int> concurrency;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (take_detect_flag(args, i, job, concurrency)) continue;
        if (a == "--out") {
            if (i + 1 >= args.size() || args[i + 1].empty()) throw UsageError("--out needs a file name");
            job.out = args[++i];
        } else if (a.starts_with("--")) {
            throw UsageError("unknown option " + a);
        } else {
            job.inputs.push_back(a);
        }
    }
    if (job.inputs.empty()) throw UsageError("detect needs at least one photo or folder");
    if (concurrency && job.server_url.empty()) throw UsageError("--concurrency needs --server");
    if (concurrency) job.concurrency = *concurrency;

    // Folders, a results file or a service: server/batch_cli.h. Photos alone
    // are printed as they always were, below.
    const bool folders = std::any_of(job.inputs.begin(), job.inputs.end(), [](const std::string& p) {
        std::error_code ec;
        return std::filesystem::is_directory(p, ec);
    });
    if (folders || !job.out.empty() || !job.server_url.empty()) return server::batch::run_detect(job);

    mtcnn::Mode mode = *job.mode;
    if (job.min_face) mode.options.min_face = *job.min_face;

    // One photo at a time, each on every core.
    const mtcnn::Detector detector(engine::kernels_for(engine::configured_isa()), job.weights_dir,
                                   static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    int status = 0;
    for (const std::string& path : job.inputs) {
        try {
            const mtcnn::Image image = mtcnn::load_image_file(path);
            std::vector<mtcnn::Face> found = mtcnn::detect(detector, image, mode, job.confidence);
            if (job.max_faces) found = mtcnn::keep_largest(std::move(found), static_cast<std::size_t>(*job.max_faces));
            const nlohmann::json faces = mtcnn::faces_to_json(found);
            if (job.inputs.size() == 1)
                std::cout << faces.dump() << "\n";
            else
                std::cout << nlohmann::json{{"photo", path}, {"faces", faces}}.dump() << "\n";
        } catch (const std::exception& e) {
            std::cerr << "face-service: " << path << ": " << e.what() << "\n";
            status = 1;
        }
    }
    return status;
}

int anonymize_command(const std::vector<std::string>& args) {
    server::batch::AnonymizeJob anon;
    server::batch::DetectJob& job = anon.detect;
    std::optional<int> concurrency;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (take_detect_flag(args, i, job, concurrency)) continue;
        auto value = [&]() -> const std::string& {
            if (i + 1 >= args.size()) throw UsageError(a + " needs a value");
            return args[++i];
        };
        if (a == "--out") {
            anon.out_dir = value();
            if (anon.out_dir.empty()) throw UsageError("--out needs a folder");
        } else if (a == "--method") {
            anon.method = value();
            try {
                mtcnn::blur_method_from_name(anon.method);
            } catch (const std::invalid_argument& e) {
                throw UsageError(e.what());
            }
        } else if (a == "--strength") {
            const double s = parse_number(a, value());
            if (!(s > 0.0 && s <= mtcnn::kMaxStrength)) throw UsageError("--strength must be in (0, 1]");
            anon.strength = s;
        } else if (a.starts_with("--")) {
            throw UsageError("unknown option " + a);
        } else {
            job.inputs.push_back(a);
        }
    }
    if (job.inputs.empty()) throw UsageError("anonymize needs at least one photo or folder");
    if (anon.out_dir.empty()) throw UsageError("anonymize needs --out FOLDER");
    if (concurrency && job.server_url.empty()) throw UsageError("--concurrency needs --server");
    if (concurrency) job.concurrency = *concurrency;
    return server::batch::run_anonymize(anon);
}

// Loads the detector while the socket already answers (/readyz 503), then
// serves until SIGINT or SIGTERM, and drains (server/http_server.h).
int serve_command(const std::vector<std::string>& args) {
    const server::ServeConfig config = server::resolve_config(
        args, server::process_env, server::read_text_file, server::default_config(std::thread::hardware_concurrency()));
    const engine::Isa isa = engine::configured_isa();

    // The signals are blocked in every thread (the mask is inherited) and
    // taken by one thread with sigwait, so stop() never runs in a handler.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    server::http::ServerOptions http_options;
    http_options.host = config.host;
    http_options.port = config.port;
    http_options.threads = config.threads;
    http_options.max_body = static_cast<std::uint64_t>(config.max_body);
    http_options.max_queue = config.max_queue;
    http_options.grace_period = std::chrono::seconds(config.grace_period);
    server::http::Server http(http_options);
    server::FaceService service({config.mode, config.confidence, config.max_pixels, config.threads, isa,
                                 config.access_log, std::chrono::duration<double>(config.request_timeout),
                                 config.api_keys, config.auth_probes, config.cors_origins,
                                 static_cast<std::size_t>(config.max_batch)});
    service.install(http);
    http.listen();

    std::atomic<bool> finishing{false};  // the SIGTERM below is ours, not a stop request
    std::thread signals([&] {
        int signal = 0;
        sigwait(&stop_signals, &signal);
        if (!finishing) {
            const auto load = http.load();
            server::log_event(server::LogLevel::info,
                              std::string("stopping on ") + (signal == SIGINT ? "SIGINT" : "SIGTERM") +
                                  ": refusing new connections, finishing the requests in flight",
                              {{"in_flight", load.in_flight + load.queued}, {"grace_period_s", config.grace_period}});
        }
        http.stop();
    });
    int cut = 0;
    std::thread serving([&] { cut = http.run(); });
    // Joins both threads however the server stops: a load failure wakes the
    // signal thread with a SIGTERM of its own (blocked everywhere, so only
    // its sigwait takes it).
    auto finish = [&] {
        serving.join();
        finishing = true;
        pthread_kill(signals.native_handle(), SIGTERM);
        signals.join();
    };
    try {
        const auto load_time = service.load(config.weights_dir);
        const bool ipv6 = config.host.find(':') != std::string::npos;
        const std::string url =
            "http://" + (ipv6 ? "[" + config.host + "]" : config.host) + ":" + std::to_string(http.port());
        // bench/http_load.sh and tests/server/http_test.sh read "ready in N ms".
        server::log_event(server::LogLevel::info,
                          "serving " + url + " with " + std::to_string(config.threads) + " threads, ISA " +
                              engine::isa_name(isa) + ", mode " + config.mode + ", ready in " +
                              std::to_string(load_time.count()) + " ms",
                          {{"url", url},
                           {"threads", config.threads},
                           {"isa", engine::isa_name(isa)},
                           {"mode", config.mode},
                           {"ready_ms", load_time.count()},
                           {"max_queue", config.max_queue},
                           {"grace_period_s", config.grace_period},
                           {"access_log", config.access_log ? "json" : "off"},
                           {"request_timeout_s", config.request_timeout},
                           {"api_keys", config.api_keys.size()},  // how many, never which
                           {"auth_probes", config.auth_probes},
                           {"cors_origins", config.cors_origins}});
    } catch (const std::exception& e) {
        server::log_event(server::LogLevel::error, "start-up failed", {{"error", e.what()}});
        http.stop();
        finish();
        return 1;
    }
    finish();
    if (cut > 0) {
        server::log_event(server::LogLevel::error,
                          "grace period of " + std::to_string(config.grace_period) + " s over: " +
                              std::to_string(cut) + " requests cut",
                          {{"cut", cut}});
        // Without waiting for the handlers still running (a long detection):
        // the platform's own kill would come next. Nothing is on disk to flush.
        std::_Exit(1);
    }
    server::log_event(server::LogLevel::info, "stopped: every request finished");
    return 0;
}

// Exit 0 when healthy, 1 otherwise, never 2 (Docker reserves it).
int healthcheck_command(const std::vector<std::string>& args) {
    try {
        const server::HealthcheckConfig config =
            server::resolve_healthcheck_config(args, server::process_env, server::read_text_file);
        const std::string reason =
            server::check_health(config.host, config.port,
                                 std::chrono::milliseconds(static_cast<long long>(config.timeout * 1000)), config.api_key);
        if (reason.empty()) return 0;
        std::cerr << "face-service healthcheck: " << reason << "\n";
    } catch (const std::exception& e) {
        std::cerr << "face-service healthcheck: " << e.what() << "\n";
    }
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    try {
        if (args.empty() || args[0] == "--help" || args[0] == "-h") {
            std::cout << kUsage;
            return args.empty() ? 2 : 0;
        }
        if (args[0] == "detect") return detect_command({args.begin() + 1, args.end()});
        if (args[0] == "anonymize") return anonymize_command({args.begin() + 1, args.end()});
        if (args[0] == "serve" || args[0] == "healthcheck") {
            const std::vector<std::string> rest(args.begin() + 1, args.end());
            for (const std::string& a : rest)
                if (a == "--help" || a == "-h") {
                    std::cout << kUsage;
                    return 0;
                }
            return args[0] == "serve" ? serve_command(rest) : healthcheck_command(rest);
        }
        throw UsageError("unknown command " + args[0]);
    } catch (const server::ConfigError& e) {
        std::cerr << "face-service: " << e.what() << "\n";
        return 2;
    } catch (const UsageError& e) {
        std::cerr << "face-service: " << e.what() << "\n" << kUsage;
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "face-service: " << e.what() << "\n";
        return 1;
    }
}
