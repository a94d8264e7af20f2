// face-service: the command line. `detect` runs the cascade on photos and
// prints JSON; `serve` runs the HTTP API (server/service.h).
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <exception>
#include <optional>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "engine/cpu.h"
#include "mtcnn/detector.h"
#include "mtcnn/face_json.h"
#include "mtcnn/image.h"
#include "mtcnn/modes.h"
#include "server/config.h"
#include "server/http_server.h"
#include "server/service.h"

namespace {

constexpr const char* kUsage = R"(usage:
  face-service detect PHOTO... [--mode NAME] [--confidence C] [--min-face N] [--weights DIR]
      Detects faces and prints them as JSON, highest confidence first: for one
      photo the list of faces; for several, one line per photo:
      {"photo": PATH, "faces": [...]}.
      --mode NAME     faithful (the predecessor's cascade and raw scores),
                      default, or accurate (slower); default: default
      --confidence C  the least confidence of a face printed, in [0, 1] (default 0.95)
      --min-face N    smallest face to look for, in pixels (default: the mode's,
                      20 faithful, 12 default, 10 accurate; at least 8)
      --weights DIR   read DIR/{pnet,rnet,onet}.bin instead of the embedded weights
  face-service serve [--port N] [--host ADDR] [--threads N] [--mode NAME] [--confidence C]
                     [--max-body BYTES] [--max-pixels N] [--config FILE] [--weights DIR]
      Serves the page at GET / and the HTTP API: POST /api/detect (the photo
      as the body, or a multipart form field `image`; ?mode=NAME&confidence=C),
      GET /healthz, /readyz, /healthcheck. Flags beat the environment (FACE_SERVICE_PORT, then PORT;
      FACE_SERVICE_HOST, _THREADS, _MODE, _CONFIDENCE, _MAX_BODY, _MAX_PIXELS,
      FACE_SERVICE_CONFIG), which beats the JSON config file
      ({"port": 8000, "host": "0.0.0.0", "threads": 4, "mode": "default", "confidence": 0.95,
        "max_body": 16777216, "max_pixels": 50000000}), which beats the defaults
      (port 8000, host 0.0.0.0, threads = cores, mode default, confidence 0.95,
      max body 16 MiB, max pixels 50000000). SIGINT or SIGTERM stops it.
  face-service --help
)";

constexpr double kDefaultConfidence = 0.95;  // the predecessor service's default
constexpr int kSmallestMinFace = 8;          // below this the first pyramid level grows past 1.5x

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

int detect_command(const std::vector<std::string>& args) {
    std::vector<std::string> photos;
    const mtcnn::Mode* base = &mtcnn::find_mode(mtcnn::kDefaultMode);
    double confidence = kDefaultConfidence;
    std::optional<int> min_face;
    std::string weights_dir;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&]() -> const std::string& {
            if (i + 1 >= args.size()) throw UsageError(a + " needs a value");
            return args[++i];
        };
        if (a == "--mode") {
            try {
                base = &mtcnn::find_mode(value());
            } catch (const mtcnn::UnknownMode& e) {
                throw UsageError(e.what());
            }
        } else if (a == "--confidence") {
            confidence = parse_number(a, value());
            if (!(confidence >= 0.0 && confidence <= 1.0)) throw UsageError("--confidence must be in [0, 1]");
        } else if (a == "--min-face") {
            const double n = parse_number(a, value());
            if (n != static_cast<int>(n) || n < kSmallestMinFace)
                throw UsageError("--min-face must be an integer of at least " + std::to_string(kSmallestMinFace));
            min_face = static_cast<int>(n);
        } else if (a == "--weights") {
            weights_dir = value();
        } else if (a.starts_with("--")) {
            throw UsageError("unknown option " + a);
        } else {
            photos.push_back(a);
        }
    }
    if (photos.empty()) throw UsageError("detect needs at least one photo");
    mtcnn::Mode mode = *base;
    if (min_face) mode.options.min_face = *min_face;

    // One photo at a time, each on every core.
    const mtcnn::Detector detector(engine::kernels_for(engine::configured_isa()), weights_dir,
                                   static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    int status = 0;
    for (const std::string& path : photos) {
        try {
            const mtcnn::Image image = mtcnn::load_image_file(path);
            const nlohmann::json faces = mtcnn::faces_to_json(mtcnn::detect(detector, image, mode, confidence));
            if (photos.size() == 1)
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

// Loads the detector while the socket already answers (/readyz 503), then
// serves until SIGINT or SIGTERM.
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
    server::http::Server http(http_options);
    server::FaceService service({config.mode, config.confidence, config.max_pixels, config.threads});
    service.install(http);
    http.listen();

    std::thread signals([&http, stop_signals] {
        int signal = 0;
        sigwait(&stop_signals, &signal);
        http.stop();
    });
    std::thread serving([&http] { http.run(); });
    // Joins both threads however the server stops: a load failure wakes the
    // signal thread with a SIGTERM of its own (blocked everywhere, so only
    // its sigwait takes it).
    auto finish = [&] {
        serving.join();
        pthread_kill(signals.native_handle(), SIGTERM);
        signals.join();
    };
    try {
        const auto load_time = service.load(engine::kernels_for(isa), config.weights_dir);
        const bool ipv6 = config.host.find(':') != std::string::npos;
        std::cerr << "face-service: serving http://" << (ipv6 ? "[" + config.host + "]" : config.host) << ":"
                  << http.port() << " with "
                  << config.threads << " threads, ISA " << engine::isa_name(isa) << ", mode " << config.mode
                  << ", ready in "
                  << load_time.count() << " ms" << std::endl;
    } catch (...) {
        http.stop();
        finish();
        throw;
    }
    finish();
    return 0;
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
        if (args[0] == "serve") {
            const std::vector<std::string> rest(args.begin() + 1, args.end());
            for (const std::string& a : rest)
                if (a == "--help" || a == "-h") {
                    std::cout << kUsage;
                    return 0;
                }
            return serve_command(rest);
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
