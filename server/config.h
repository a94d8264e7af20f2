// `face-service serve` settings: where each comes from and how it is checked.
//
// Precedence, highest first: command-line flags, environment variables, the
// JSON config file, defaults.
//
//   setting      flag                  environment                   file key           default
//   port         --port N              FACE_SERVICE_PORT, then PORT  "port"             8000
//   host         --host ADDR           FACE_SERVICE_HOST             "host"             0.0.0.0
//   threads      --threads N           FACE_SERVICE_THREADS          "threads"          hardware concurrency
//   mode         --mode NAME           FACE_SERVICE_MODE             "mode"             default
//   confidence   --confidence C        FACE_SERVICE_CONFIDENCE       "confidence"       0.95
//   max body     --max-body BYTES      FACE_SERVICE_MAX_BODY         "max_body"         16 MiB
//   max pixels   --max-pixels N        FACE_SERVICE_MAX_PIXELS       "max_pixels"       50 000 000
//   access log   --access-log KIND     FACE_SERVICE_ACCESS_LOG       "access_log"       json
//   grace        --grace-period S      FACE_SERVICE_GRACE_PERIOD     "grace_period"     20
//   max queue    --max-queue N         FACE_SERVICE_MAX_QUEUE        "max_queue"        2 x threads
//   timeout      --request-timeout S   FACE_SERVICE_REQUEST_TIMEOUT  "request_timeout"  30
//   api keys     --api-keys K1,K2      FACE_SERVICE_API_KEYS         "api_keys"         none: no auth
//   auth probes  --auth-probes BOOL    FACE_SERVICE_AUTH_PROBES      "auth_probes"      false
//   cors         --cors-origins O1,O2  FACE_SERVICE_CORS_ORIGINS     "cors_origins"     none: no CORS
//   max batch    --max-batch N         FACE_SERVICE_MAX_BATCH        "max_batch"        16
//   weights      --weights DIR         (none)                        (none)             embedded
//   the file     --config PATH         FACE_SERVICE_CONFIG           -                  none
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
// - access_log: "json" (one JSON line per request on stderr, server/log.h)
//   or "off" (no request lines; start-up and error lines stay, as JSON).
// - grace_period: whole seconds in [0, 3600] that SIGTERM/SIGINT waits for
//   the requests in flight before cutting them (exit 1). 20 leaves 10 s of
//   Kubernetes' default terminationGracePeriodSeconds (30) for the rest of
//   the shutdown; 0 cuts at once whatever is in flight.
// - max_queue: requests allowed to wait for a request thread, in [0, 65536];
//   past it a request is answered 503 at once (server/http_server.h). When
//   no source sets it, it is 2 x the resolved threads (a request then waits
//   for at most about two others per thread). 0: nothing waits; a request
//   is served only when a thread is free.
// - request_timeout: seconds one detection may take, from when its handler
//   starts (decoding included), a number in [0.001, 3600], or 0 for no
//   limit. Past it the cascade stops at its next check (mtcnn::Deadline)
//   and the request is answered 503 (server/service.h).
// - api_keys: a comma-separated list (spaces around the commas ignored; in
//   the file a JSON string too); empty or unset: no key is asked for. Each
//   key is kMinApiKeyLength to kMaxApiKeyLength characters of printable
//   ASCII (! to ~) other than the comma. Its errors never quote a key (they
//   give its position and what is wrong), and neither does anything else:
//   keys are secrets and messages end up in logs.
// - auth_probes: "true" or "false" (in the file a JSON boolean). false, the
//   default: /healthz, /readyz, /healthcheck and /metrics answer without a
//   key, since a kubelet's or Docker's probe cannot easily send one.
// - cors_origins: a comma-separated list of exact origins
//   ("https://app.example.com", "http://localhost:3000": scheme, host,
//   optional port, no path), or "*" alone for any origin; empty or unset:
//   no CORS headers at all. "null" is refused (sandboxed and file: pages
//   share it).
// - max_batch: the most photos one POST /api/detect/batch may hold, an
//   integer in [1, kMaxBatchLimit]; more are answered 413. The batch's
//   body as a whole stays within max_body (no separate limit: the body is
//   held in memory either way, and the photos' pixels are bounded by
//   max_pixels each; raise max_body for batches of large photos).
// - Every invalid value throws ConfigError naming the setting, the value
//   (never for api_keys) and where it came from; the command line turns it
//   into exit status 2.
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
    bool access_log = true;                      // "json"; false: "off"
    int grace_period = 20;                       // seconds
    int max_queue = 2;                           // resolve_config sets 2 x threads unless given
    double request_timeout = 30;                 // seconds; 0: none
    std::vector<std::string> api_keys;           // empty: no auth
    bool auth_probes = false;                    // the probes and /metrics need a key too
    std::vector<std::string> cors_origins;       // empty: no CORS; {"*"}: any origin
    int max_batch = 16;                          // photos in one POST /api/detect/batch
};

inline constexpr int kMaxThreads = 256;
inline constexpr int kMaxGracePeriod = 3600;  // seconds
inline constexpr int kMaxQueueLimit = 65536;
inline constexpr std::int64_t kMaxBodyLimit = std::int64_t{1} << 30;  // bodies are held in memory
inline constexpr double kMaxRequestTimeout = 3600;                   // seconds
inline constexpr double kMinRequestTimeout = 0.001;                  // seconds, unless 0
// The multipart parser takes at most http::kMaxFormParts (64) parts in all.
inline constexpr int kMaxBatchLimit = 64;
// 16 printable characters from 94 are about 100 bits; 256 bounds the
// constant-time comparison's work (server/access.h).
inline constexpr std::size_t kMinApiKeyLength = 16;
inline constexpr std::size_t kMaxApiKeyLength = 256;

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

// Defaults, with threads = hardware_concurrency (1 when unknown) and
// max_queue = 2 x threads.
ServeConfig default_config(unsigned hardware_concurrency);

// Resolves the settings from `args` (the arguments after `serve`), `env` and
// the config file named by --config or FACE_SERVICE_CONFIG (read with
// `read_file`). Throws ConfigError. `--help` is not handled here.
ServeConfig resolve_config(const std::vector<std::string>& args, const EnvLookup& env, const FileReader& read_file,
                           const ServeConfig& defaults);

// `face-service healthcheck` settings: where to ask GET /healthz.
struct HealthcheckConfig {
    std::string host = "127.0.0.1";
    int port = 8000;
    double timeout = 2.0;  // seconds, for the whole exchange
    // Sent as X-API-Key when the server's probes need one (auth_probes):
    // the first of the api_keys in the same environment or file.
    std::string api_key;
};

// Resolves `args` (after `healthcheck`): --host ADDR, --port N, --timeout
// SECONDS (in (0, 3600]). The port comes from the same sources, in the same
// order, as serve's (--port, FACE_SERVICE_PORT, PORT, the config file,
// 8000), so the check in a container asks the port the server listens on.
// So does the host, except that a wildcard address (0.0.0.0, ::, serve's
// default) is asked on the loopback (127.0.0.1, ::1). Every serve setting
// in the environment or the file is checked too: a server could not have
// started with an invalid one. The key, when the probes need one, comes
// from the same sources too. Throws ConfigError.
HealthcheckConfig resolve_healthcheck_config(const std::vector<std::string>& args, const EnvLookup& env,
                                             const FileReader& read_file);

// The real environment (std::getenv) and file system.
std::optional<std::string> process_env(const std::string& name);
std::string read_text_file(const std::string& path);

}  // namespace server
