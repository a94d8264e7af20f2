#include "server/config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "mtcnn/image.h"
#include "mtcnn/modes.h"
#include "server/http_message.h"

namespace server {
namespace {

static_assert(kMaxBatchLimit == static_cast<int>(http::kMaxFormParts), "a batch's photos are form parts");

// One value for one setting, as text, and where it came from ("--port
// (command line)", "FACE_SERVICE_PORT (environment)", "\"port\" in FILE").
struct Given {
    std::string text;
    std::string origin;
};

enum class Setting {
    port,
    host,
    threads,
    mode,
    confidence,
    max_body,
    max_pixels,
    access_log,
    grace_period,
    max_queue,
    request_timeout,
    api_keys,
    auth_probes,
    cors_origins,
    max_batch,
    weights
};

// A setting's JSON type in the config file.
enum class Kind { number, string, boolean };

struct SettingInfo {
    Setting setting;
    const char* name;  // in messages
    const char* flag;
    const char* file_key;  // nullptr: not settable from the file
    Kind kind;             // in the file
    bool secret = false;   // never quoted in a message
};

constexpr std::array<SettingInfo, 16> kSettings{{
    {Setting::port, "port", "--port", "port", Kind::number},
    {Setting::host, "host", "--host", "host", Kind::string},
    {Setting::threads, "threads", "--threads", "threads", Kind::number},
    {Setting::mode, "mode", "--mode", "mode", Kind::string},
    {Setting::confidence, "confidence", "--confidence", "confidence", Kind::number},
    {Setting::max_body, "max body", "--max-body", "max_body", Kind::number},
    {Setting::max_pixels, "max pixels", "--max-pixels", "max_pixels", Kind::number},
    {Setting::access_log, "access log", "--access-log", "access_log", Kind::string},
    {Setting::grace_period, "grace period", "--grace-period", "grace_period", Kind::number},
    {Setting::max_queue, "max queue", "--max-queue", "max_queue", Kind::number},
    {Setting::request_timeout, "request timeout", "--request-timeout", "request_timeout", Kind::number},
    {Setting::api_keys, "api keys", "--api-keys", "api_keys", Kind::string, true},
    {Setting::auth_probes, "auth probes", "--auth-probes", "auth_probes", Kind::boolean},
    {Setting::cors_origins, "cors origins", "--cors-origins", "cors_origins", Kind::string},
    {Setting::max_batch, "max batch", "--max-batch", "max_batch", Kind::number},
    {Setting::weights, "weights", "--weights", nullptr, Kind::string},
}};

// Environment variables, highest precedence first within the environment.
std::vector<const char*> env_names(Setting s) {
    switch (s) {
        case Setting::port: return {"FACE_SERVICE_PORT", "PORT"};
        case Setting::host: return {"FACE_SERVICE_HOST"};
        case Setting::threads: return {"FACE_SERVICE_THREADS"};
        case Setting::mode: return {"FACE_SERVICE_MODE"};
        case Setting::confidence: return {"FACE_SERVICE_CONFIDENCE"};
        case Setting::max_body: return {"FACE_SERVICE_MAX_BODY"};
        case Setting::max_pixels: return {"FACE_SERVICE_MAX_PIXELS"};
        case Setting::access_log: return {"FACE_SERVICE_ACCESS_LOG"};
        case Setting::grace_period: return {"FACE_SERVICE_GRACE_PERIOD"};
        case Setting::max_queue: return {"FACE_SERVICE_MAX_QUEUE"};
        case Setting::request_timeout: return {"FACE_SERVICE_REQUEST_TIMEOUT"};
        case Setting::api_keys: return {"FACE_SERVICE_API_KEYS"};
        case Setting::auth_probes: return {"FACE_SERVICE_AUTH_PROBES"};
        case Setting::cors_origins: return {"FACE_SERVICE_CORS_ORIGINS"};
        case Setting::max_batch: return {"FACE_SERVICE_MAX_BATCH"};
        case Setting::weights: return {};
    }
    return {};
}

[[noreturn]] void invalid(const SettingInfo& info, const Given& g, const std::string& rule) {
    const std::string value = info.secret ? "" : " '" + g.text + "'";
    throw ConfigError("invalid " + std::string(info.name) + value + " from " + g.origin + ": " + rule);
}

// The items of a comma-separated list, without the spaces and tabs around
// them; none for an empty text.
std::vector<std::string> split_list(const std::string& text) {
    std::vector<std::string> items;
    if (text.find_first_not_of(" \t") == std::string::npos) return items;
    std::size_t from = 0;
    while (true) {
        const std::size_t comma = text.find(',', from);
        std::string item = text.substr(from, comma == std::string::npos ? std::string::npos : comma - from);
        const std::size_t first = item.find_first_not_of(" \t");
        item = first == std::string::npos ? "" : item.substr(first, item.find_last_not_of(" \t") - first + 1);
        items.push_back(std::move(item));
        if (comma == std::string::npos) return items;
        from = comma + 1;
    }
}

// Keys are secrets: a problem is told by the key's position, never its text.
std::vector<std::string> parse_api_keys(const SettingInfo& info, const Given& g) {
    std::vector<std::string> keys = split_list(g.text);
    for (std::size_t i = 0; i < keys.size(); ++i) {
        const std::string which = "key " + std::to_string(i + 1) + " of " + std::to_string(keys.size());
        const std::string& key = keys[i];
        if (key.size() < kMinApiKeyLength || key.size() > kMaxApiKeyLength)
            invalid(info, g,
                    which + " has " + std::to_string(key.size()) + " characters; each key must have " +
                        std::to_string(kMinApiKeyLength) + " to " + std::to_string(kMaxApiKeyLength));
        if (!std::all_of(key.begin(), key.end(), [](char c) { return c > ' ' && c <= '~'; }))
            invalid(info, g,
                    which + " has a character that is not printable ASCII, or a space inside it; keys are "
                            "printable ASCII (! to ~) without commas or spaces");
    }
    return keys;
}

// "scheme://host[:port]" as a browser sends it in Origin: lower-case http
// or https, then a host of letters, digits, '.', '-', or an IPv6 address
// in brackets, then an optional port; no path, query or user.
bool valid_origin(const std::string& origin) {
    std::string rest;
    if (origin.starts_with("http://")) rest = origin.substr(7);
    else if (origin.starts_with("https://")) rest = origin.substr(8);
    else return false;
    std::string host = rest, port;
    if (rest.starts_with("[")) {
        const std::size_t close = rest.find(']');
        if (close == std::string::npos) return false;
        host = rest.substr(0, close + 1);
        rest = rest.substr(close + 1);
        if (!rest.empty() && !rest.starts_with(":")) return false;
        if (!rest.empty()) port = rest.substr(1);
        if (host.size() < 3 || !std::all_of(host.begin() + 1, host.end() - 1, [](char c) {
                return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
            }))
            return false;
        if (!rest.empty() && port.empty()) return false;
    } else {
        if (const std::size_t colon = rest.find(':'); colon != std::string::npos) {
            host = rest.substr(0, colon);
            port = rest.substr(colon + 1);
            if (port.empty()) return false;
        }
        if (host.empty() || !std::all_of(host.begin(), host.end(), [](char c) {
                return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
            }))
            return false;
    }
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return false;
    return port.empty() || (std::stoi(port) >= 1 && std::stoi(port) <= 65535);
}

std::vector<std::string> parse_cors_origins(const SettingInfo& info, const Given& g) {
    std::vector<std::string> origins = split_list(g.text);
    const std::string rule =
        "must be * alone, or a comma-separated list of origins such as https://app.example.com or "
        "http://localhost:3000 (lower-case scheme and host, optional port, no path or trailing slash)";
    if (origins.size() == 1 && origins[0] == "*") return origins;
    for (const std::string& origin : origins)
        if (!valid_origin(origin)) invalid(info, g, rule);
    return origins;
}

double parse_timeout(const SettingInfo& info, const Given& g) {
    double v = 0;
    const char* first = g.text.data();
    const char* last = first + g.text.size();
    const auto [end, ec] = std::from_chars(first, last, v);
    if (g.text.empty() || ec != std::errc() || end != last || !std::isfinite(v) ||
        !(v == 0 || (v >= kMinRequestTimeout && v <= kMaxRequestTimeout)))
        invalid(info, g, "must be 0 (no limit) or a number of seconds in [0.001, 3600]");
    return v;
}

std::int64_t parse_integer(const SettingInfo& info, const Given& g, std::int64_t lo, std::int64_t hi) {
    const std::string rule = "must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
    std::int64_t v = 0;
    const char* first = g.text.data();
    const char* last = first + g.text.size();
    const auto [end, ec] = std::from_chars(first, last, v);
    if (g.text.empty() || ec != std::errc() || end != last || v < lo || v > hi) invalid(info, g, rule);
    return v;
}

double parse_unit_interval(const SettingInfo& info, const Given& g) {
    double v = 0;
    const char* first = g.text.data();
    const char* last = first + g.text.size();
    const auto [end, ec] = std::from_chars(first, last, v);
    if (g.text.empty() || ec != std::errc() || end != last || !std::isfinite(v) || v < 0.0 || v > 1.0)
        invalid(info, g, "must be a number in [0, 1]");
    return v;
}

bool is_ip_address(const std::string& host) {
    unsigned char buf[sizeof(in6_addr)];
    return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

void apply(ServeConfig& config, const SettingInfo& info, const Given& g) {
    switch (info.setting) {
        case Setting::port: config.port = static_cast<int>(parse_integer(info, g, 1, 65535)); break;
        case Setting::host:
            if (g.text != "localhost" && !is_ip_address(g.text))
                invalid(info, g, "must be a numeric IPv4 or IPv6 address, or localhost");
            config.host = g.text;
            break;
        case Setting::threads: config.threads = static_cast<int>(parse_integer(info, g, 1, kMaxThreads)); break;
        case Setting::mode:
            try {
                config.mode = mtcnn::find_mode(g.text).name;
            } catch (const mtcnn::UnknownMode&) {
                invalid(info, g, "must be one of " + mtcnn::mode_names());
            }
            break;
        case Setting::confidence: config.confidence = parse_unit_interval(info, g); break;
        case Setting::max_body: config.max_body = parse_integer(info, g, 1, kMaxBodyLimit); break;
        case Setting::max_pixels: config.max_pixels = parse_integer(info, g, 1, mtcnn::kMaxImagePixels); break;
        case Setting::access_log:
            if (g.text != "json" && g.text != "off") invalid(info, g, "must be json or off");
            config.access_log = g.text == "json";
            break;
        case Setting::grace_period:
            config.grace_period = static_cast<int>(parse_integer(info, g, 0, kMaxGracePeriod));
            break;
        case Setting::max_queue: config.max_queue = static_cast<int>(parse_integer(info, g, 0, kMaxQueueLimit)); break;
        case Setting::request_timeout: config.request_timeout = parse_timeout(info, g); break;
        case Setting::api_keys: config.api_keys = parse_api_keys(info, g); break;
        case Setting::auth_probes:
            if (g.text != "true" && g.text != "false") invalid(info, g, "must be true or false");
            config.auth_probes = g.text == "true";
            break;
        case Setting::cors_origins: config.cors_origins = parse_cors_origins(info, g); break;
        case Setting::max_batch: config.max_batch = static_cast<int>(parse_integer(info, g, 1, kMaxBatchLimit)); break;
        case Setting::weights:
            if (g.text.empty()) invalid(info, g, "must be a directory");
            config.weights_dir = g.text;
            break;
    }
}

const SettingInfo* find_flag(const std::string& flag) {
    for (const SettingInfo& info : kSettings)
        if (flag == info.flag) return &info;
    return nullptr;
}

struct FlagValues {
    std::map<Setting, Given> values;
    std::optional<Given> config_path;
};

FlagValues parse_flags(const std::vector<std::string>& args) {
    FlagValues out;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (!a.starts_with("--")) throw ConfigError("serve takes no arguments, got '" + a + "'");
        std::string flag = a;
        std::optional<std::string> value;
        if (const auto eq = a.find('='); eq != std::string::npos) {
            flag = a.substr(0, eq);
            value = a.substr(eq + 1);
        }
        const SettingInfo* info = find_flag(flag);
        if (!info && flag != "--config") throw ConfigError("unknown option " + flag);
        if (!value) {
            if (i + 1 >= args.size()) throw ConfigError(flag + " needs a value");
            value = args[++i];
        }
        Given g{*value, flag + " (command line)"};
        if (info)
            out.values[info->setting] = std::move(g);
        else
            out.config_path = std::move(g);
    }
    return out;
}

std::map<Setting, Given> parse_file(const std::string& text, const std::string& path) {
    nlohmann::json doc;
    try {
        doc = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        throw ConfigError("config file " + path + " is not valid JSON: " + e.what());
    }
    if (!doc.is_object()) throw ConfigError("config file " + path + " must hold a JSON object");
    std::map<Setting, Given> out;
    for (const auto& [key, value] : doc.items()) {
        const SettingInfo* info = nullptr;
        for (const SettingInfo& s : kSettings)
            if (s.file_key && key == s.file_key) info = &s;
        if (!info) throw ConfigError("unknown setting \"" + key + "\" in config file " + path);
        const std::string origin = "\"" + key + "\" in config file " + path;
        const bool right_type = info->kind == Kind::number    ? value.is_number()
                                : info->kind == Kind::boolean ? value.is_boolean()
                                                              : value.is_string();
        if (!right_type)
            throw ConfigError("invalid " + std::string(info->name) + (info->secret ? "" : " " + value.dump()) +
                              " from " + origin + ": must be a JSON " +
                              (info->kind == Kind::number    ? "number"
                               : info->kind == Kind::boolean ? "boolean (true or false)"
                                                             : "string"));
        out[info->setting] = Given{value.is_string() ? value.get<std::string>() : value.dump(), origin};
    }
    return out;
}

std::optional<std::string> lookup(const EnvLookup& env, const std::string& name) {
    std::optional<std::string> v = env(name);
    if (v && v->empty()) return std::nullopt;  // empty counts as unset
    return v;
}

}  // namespace

ServeConfig default_config(unsigned hardware_concurrency) {
    ServeConfig c;
    c.threads = static_cast<int>(std::clamp<unsigned>(hardware_concurrency, 1, kMaxThreads));
    c.max_queue = 2 * c.threads;
    return c;
}

ServeConfig resolve_config(const std::vector<std::string>& args, const EnvLookup& env, const FileReader& read_file,
                           const ServeConfig& defaults) {
    const FlagValues flags = parse_flags(args);

    std::optional<Given> config_path = flags.config_path;
    if (!config_path)
        if (auto v = lookup(env, "FACE_SERVICE_CONFIG")) config_path = Given{*v, "FACE_SERVICE_CONFIG (environment)"};
    std::map<Setting, Given> file;
    if (config_path) {
        if (config_path->text.empty()) throw ConfigError("empty config file path from " + config_path->origin);
        std::string text;
        try {
            text = read_file(config_path->text);
        } catch (const std::exception& e) {
            throw ConfigError("cannot read config file " + config_path->text + " (from " + config_path->origin +
                              "): " + e.what());
        }
        file = parse_file(text, config_path->text);
    }

    // Every value given is checked, even one that a higher source overrides:
    // a broken file or variable is reported now rather than when the
    // override goes away. Then they are applied lowest precedence first.
    ServeConfig config = defaults;
    bool max_queue_given = false;
    for (const SettingInfo& info : kSettings) {
        const auto given = [&](const Given& g) {
            apply(config, info, g);
            max_queue_given = max_queue_given || info.setting == Setting::max_queue;
        };
        if (auto it = file.find(info.setting); it != file.end()) given(it->second);
        const std::vector<const char*> names = env_names(info.setting);
        for (auto name = names.rbegin(); name != names.rend(); ++name)
            if (auto v = lookup(env, *name)) given(Given{*v, std::string(*name) + " (environment)"});
        if (auto it = flags.values.find(info.setting); it != flags.values.end()) given(it->second);
    }
    // The default follows the threads actually configured.
    if (!max_queue_given) config.max_queue = 2 * config.threads;
    return config;
}

constexpr double kMaxHealthcheckTimeout = 3600;  // seconds

HealthcheckConfig resolve_healthcheck_config(const std::vector<std::string>& args, const EnvLookup& env,
                                             const FileReader& read_file) {
    // --host and --port go to serve's rules as they are; --timeout is ours.
    std::vector<std::string> serve_args;
    std::optional<std::string> timeout;
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string flag = args[i];
        std::optional<std::string> value;
        if (const auto eq = flag.find('='); eq != std::string::npos) {
            value = flag.substr(eq + 1);
            flag.resize(eq);
        }
        if (flag != "--host" && flag != "--port" && flag != "--timeout")
            throw ConfigError(args[i].starts_with("--") ? "unknown option " + flag
                                                        : "healthcheck takes no arguments, got '" + args[i] + "'");
        if (!value) {
            if (i + 1 >= args.size()) throw ConfigError(flag + " needs a value");
            value = args[++i];
        }
        if (flag == "--timeout") {
            timeout = *value;
        } else {
            serve_args.push_back(flag);
            serve_args.push_back(*value);
        }
    }
    const ServeConfig serve = resolve_config(serve_args, env, read_file, default_config(1));
    HealthcheckConfig config;
    config.port = serve.port;
    config.host = serve.host == "0.0.0.0" ? "127.0.0.1" : serve.host == "::" ? "::1" : serve.host;
    if (serve.auth_probes && !serve.api_keys.empty()) config.api_key = serve.api_keys.front();
    if (timeout) {
        double t = 0;
        const char* first = timeout->data();
        const char* last = first + timeout->size();
        const auto [end, ec] = std::from_chars(first, last, t);
        if (timeout->empty() || ec != std::errc() || end != last || !(t > 0 && t <= kMaxHealthcheckTimeout))
            throw ConfigError("invalid timeout '" + *timeout + "' from --timeout (command line): must be a number of "
                              "seconds in (0, 3600]");
        config.timeout = t;
    }
    return config;
}

std::optional<std::string> process_env(const std::string& name) {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
}

std::string read_text_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(std::strerror(errno));
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw std::runtime_error("read error");
    return text.str();
}

}  // namespace server
