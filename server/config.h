// `face-service serve` settings: where each comes from and how it is checked.
//
// Precedence, highest first: command-line flags, environment variables, the
// JSON config file, defaults.
//
//   setting     flag                  environment                      file key      default
//   port        --port N              FACE_SERVICE_PORT, then PORT     "port"        8000
//   host        --host ADDR           FACE_SERVICE_HOST                "host"        0.0.0.0
//   threads     --threads N           FACE_SERVICE_THREADS             "threads"     hardware concurrency
//   mode        --mode NAME           FACE_SERVICE_MODE                "mode"        default
//   confidence  --confidence C        FACE_SERVICE_CONFIDENCE          "confidence"  0.95
//   max body    --max-body BYTES      FACE_SERVICE_MAX_BODY            "max_body"    16 MiB
//   max pixels  --max-pixels N        FACE_SERVICE_MAX_PIXELS          "max_pixels"  50 000 000
//   weights     --weights DIR         (none)                           (none)        embedded
//   the file    --config PATH         FACE_SERVICE_CONFIG              -             none
//
// Decisions:
// - An empty environment variable counts as unset (`PORT= cmd` is common in
//   shells and process managers).
// - Flags take `--name VALUE` or `--name=VALUE`; a repeated flag: the last wins.
// - The file is one JSON object; an unknown key is an error (a typo such as
//   "prot" would otherwise be silently ignored). Numbers must be JSON numbers
//   and the host a JSON string.
// - host is a numeric IPv4 or IPv6 address, or "localhost" (127.0.0.1): no
//   name lookup, which a fully static glibc binary cannot do reliably.
// - mode is one of mtcnn::modes() (mtcnn/modes.h): what a request without
//   `mode=` gets.
// - Every invalid value throws ConfigError naming the setting, the value and
//   where it came from; the command line turns it into exit status 2.
//
// Everything here is pure (the environment and the file system are passed
// in), so tests/server/config_test.cpp can pin each rule.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace server {

struct ServeConfig {
    std::string host = "0.0.0.0";
    int port = 8000;
    int threads = 1;  // defaults() sets the hardware concurrency
    std::string mode = "default";                // mtcnn::kDefaultMode
    double confidence = 0.95;                    // the predecessor service's default
    std::int64_t max_body = 16 * 1024 * 1024;    // bytes
    std::int64_t max_pixels = 50'000'000;        // width * height, checked from the header
    std::string weights_dir;                     // empty: the embedded weights
};

inline constexpr int kMaxThreads = 256;
inline constexpr std::int64_t kMaxBodyLimit = std::int64_t{1} << 30;  // bodies are held in memory

// An invalid setting: the message names it and where it came from, e.g.
// "invalid port 'abc' from FACE_SERVICE_PORT (environment): must be an integer in [1, 65535]".
class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The value of an environment variable, or nullopt when it is not set.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
// The whole text of a file; throws std::runtime_error when it cannot be read.
using FileReader = std::function<std::string(const std::string& path)>;

// Defaults, with threads = hardware_concurrency (1 when unknown).
ServeConfig default_config(unsigned hardware_concurrency);

// Resolves the settings from `args` (the arguments after `serve`), `env` and
// the config file named by --config or FACE_SERVICE_CONFIG (read with
// `read_file`). Throws ConfigError. `--help` is not handled here.
ServeConfig resolve_config(const std::vector<std::string>& args, const EnvLookup& env, const FileReader& read_file,
                           const ServeConfig& defaults);

// The real environment (std::getenv) and file system.
std::optional<std::string> process_env(const std::string& name);
std::string read_text_file(const std::string& path);

}  // namespace server
