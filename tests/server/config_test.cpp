// `face-service serve` settings: flags > environment > config file > defaults,
// PORT below FACE_SERVICE_PORT, and every invalid value refused with a
// message that names the setting and where it came from.
#include "server/config.h"

#include <gtest/gtest.h>

#include <cctype>
#include <map>
#include <ostream>
#include <string>
#include <vector>

namespace {

using server::ConfigError;
using server::ServeConfig;

struct Inputs {
    std::vector<std::string> args = {};
    std::map<std::string, std::string> env = {};
    std::map<std::string, std::string> files = {};  // path -> text
};

// The environment and the files of `in`, as resolve_config and
// resolve_healthcheck_config read them.
server::EnvLookup env_of(const Inputs& in) {
    return [&in](const std::string& name) -> std::optional<std::string> {
        const auto it = in.env.find(name);
        if (it == in.env.end()) return std::nullopt;
        return it->second;
    };
}

server::FileReader files_of(const Inputs& in) {
    return [&in](const std::string& path) -> std::string {
        const auto it = in.files.find(path);
        if (it == in.files.end()) throw std::runtime_error("No such file or directory");
        return it->second;
    };
}

ServeConfig resolve(const Inputs& in) {
    const server::EnvLookup env = env_of(in);
    const server::FileReader read = files_of(in);
    return server::resolve_config(in.args, env, read, server::default_config(8));
}

// The ConfigError message, or "" when none is thrown.
std::string error_of(const Inputs& in) {
    try {
        resolve(in);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

const char* kFullFile =
    R"({"port": 8001, "host": "127.0.0.1", "threads": 3, "confidence": 0.5, "max_body": 1000, "max_pixels": 2000})";

TEST(ServeConfig, Defaults) {
    const ServeConfig c = resolve({});
    EXPECT_EQ(c.port, 8000);
    EXPECT_EQ(c.host, "0.0.0.0");
    EXPECT_EQ(c.threads, 8);  // the hardware concurrency passed in
    EXPECT_DOUBLE_EQ(c.confidence, 0.95);
    EXPECT_EQ(c.max_body, 16 * 1024 * 1024);
    EXPECT_EQ(c.max_pixels, 50'000'000);
    EXPECT_EQ(c.weights_dir, "");
    EXPECT_EQ(c.mode, "default");
    EXPECT_TRUE(c.access_log);
    EXPECT_EQ(c.grace_period, 20);
    EXPECT_EQ(c.max_queue, 16);  // 2 x threads
    EXPECT_DOUBLE_EQ(c.request_timeout, 30);
    EXPECT_TRUE(c.api_keys.empty());
    EXPECT_FALSE(c.auth_probes);
    EXPECT_TRUE(c.cors_origins.empty());
    EXPECT_EQ(c.max_batch, 16);
}

TEST(ServeConfig, MaxQueueDefaultFollowsTheResolvedThreads) {
    EXPECT_EQ(resolve({{"--threads", "3"}}).max_queue, 6);
    EXPECT_EQ(resolve({{}, {{"FACE_SERVICE_THREADS", "1"}}}).max_queue, 2);
    EXPECT_EQ(server::default_config(4).max_queue, 8);
    // Given, it is kept whatever the threads, 0 included.
    EXPECT_EQ(resolve({{"--threads", "3", "--max-queue", "0"}}).max_queue, 0);
    EXPECT_EQ(resolve({{"--threads", "3"}, {{"FACE_SERVICE_MAX_QUEUE", "100"}}}).max_queue, 100);
    EXPECT_EQ(resolve({{"--config", "/c.json"}, {}, {{"/c.json", R"({"max_queue": 1, "threads": 7})"}}}).max_queue, 1);
}

TEST(ServeConfig, AccessLogGracePeriodMaxQueueFromEverySource) {
    const Inputs file{{"--config", "/c.json"}, {}, {{"/c.json", R"({"access_log": "off", "grace_period": 5, "max_queue": 3})"}}};
    ServeConfig c = resolve(file);
    EXPECT_FALSE(c.access_log);
    EXPECT_EQ(c.grace_period, 5);
    EXPECT_EQ(c.max_queue, 3);

    Inputs env = file;
    env.env = {{"FACE_SERVICE_ACCESS_LOG", "json"}, {"FACE_SERVICE_GRACE_PERIOD", "0"}, {"FACE_SERVICE_MAX_QUEUE", "4"}};
    c = resolve(env);
    EXPECT_TRUE(c.access_log);
    EXPECT_EQ(c.grace_period, 0);
    EXPECT_EQ(c.max_queue, 4);

    Inputs flags = env;
    flags.args.insert(flags.args.end(), {"--access-log=off", "--grace-period", "3600", "--max-queue", "65536"});
    c = resolve(flags);
    EXPECT_FALSE(c.access_log);
    EXPECT_EQ(c.grace_period, 3600);
    EXPECT_EQ(c.max_queue, 65536);
}

TEST(ServeConfig, UnknownHardwareConcurrencyMeansOneThread) {
    EXPECT_EQ(server::default_config(0).threads, 1);
    EXPECT_EQ(server::default_config(100000).threads, server::kMaxThreads);
}

TEST(ServeConfig, FileBeatsDefaults) {
    const ServeConfig c = resolve({{"--config", "/etc/fs.json"}, {}, {{"/etc/fs.json", kFullFile}}});
    EXPECT_EQ(c.port, 8001);
    EXPECT_EQ(c.host, "127.0.0.1");
    EXPECT_EQ(c.threads, 3);
    EXPECT_DOUBLE_EQ(c.confidence, 0.5);
    EXPECT_EQ(c.max_body, 1000);
    EXPECT_EQ(c.max_pixels, 2000);
}

TEST(ServeConfig, FileNamedByEnvironment) {
    const ServeConfig c = resolve({{}, {{"FACE_SERVICE_CONFIG", "/c.json"}}, {{"/c.json", R"({"port": 9000})"}}});
    EXPECT_EQ(c.port, 9000);
    EXPECT_EQ(c.threads, 8);  // not in the file: default
}

TEST(ServeConfig, ConfigFlagBeatsConfigVariable) {
    const ServeConfig c = resolve({{"--config", "/a.json"},
                                   {{"FACE_SERVICE_CONFIG", "/b.json"}},
                                   {{"/a.json", R"({"port": 1111})"}, {"/b.json", R"({"port": 2222})"}}});
    EXPECT_EQ(c.port, 1111);
}

TEST(ServeConfig, EnvironmentBeatsFile) {
    const ServeConfig c = resolve({{"--config", "/c.json"},
                                   {{"FACE_SERVICE_PORT", "8002"},
                                    {"FACE_SERVICE_HOST", "::1"},
                                    {"FACE_SERVICE_THREADS", "2"},
                                    {"FACE_SERVICE_CONFIDENCE", "0.7"},
                                    {"FACE_SERVICE_MAX_BODY", "3000"},
                                    {"FACE_SERVICE_MAX_PIXELS", "4000"}},
                                   {{"/c.json", kFullFile}}});
    EXPECT_EQ(c.port, 8002);
    EXPECT_EQ(c.host, "::1");
    EXPECT_EQ(c.threads, 2);
    EXPECT_DOUBLE_EQ(c.confidence, 0.7);
    EXPECT_EQ(c.max_body, 3000);
    EXPECT_EQ(c.max_pixels, 4000);
}

TEST(ServeConfig, FlagsBeatEnvironmentAndFile) {
    const ServeConfig c = resolve({{"--config", "/c.json", "--port", "8003", "--host", "localhost", "--threads", "5",
                                    "--confidence", "0.8", "--max-body=5000", "--max-pixels", "6000", "--weights", "/w"},
                                   {{"FACE_SERVICE_PORT", "8002"},
                                    {"PORT", "8004"},
                                    {"FACE_SERVICE_HOST", "::1"},
                                    {"FACE_SERVICE_THREADS", "2"},
                                    {"FACE_SERVICE_CONFIDENCE", "0.7"},
                                    {"FACE_SERVICE_MAX_BODY", "3000"},
                                    {"FACE_SERVICE_MAX_PIXELS", "4000"}},
                                   {{"/c.json", kFullFile}}});
    EXPECT_EQ(c.port, 8003);
    EXPECT_EQ(c.host, "localhost");
    EXPECT_EQ(c.threads, 5);
    EXPECT_DOUBLE_EQ(c.confidence, 0.8);
    EXPECT_EQ(c.max_body, 5000);
    EXPECT_EQ(c.max_pixels, 6000);
    EXPECT_EQ(c.weights_dir, "/w");
}

TEST(ServeConfig, PortVariableIsBelowFaceServicePort) {
    EXPECT_EQ(resolve({{}, {{"PORT", "8123"}}}).port, 8123);
    EXPECT_EQ(resolve({{}, {{"PORT", "8123"}, {"FACE_SERVICE_PORT", "8124"}}}).port, 8124);
    // PORT still beats the file and loses to the flag.
    EXPECT_EQ(resolve({{"--config", "/c.json"}, {{"PORT", "8123"}}, {{"/c.json", kFullFile}}}).port, 8123);
    EXPECT_EQ(resolve({{"--port", "8125"}, {{"PORT", "8123"}}}).port, 8125);
}

TEST(ServeConfig, EmptyVariableCountsAsUnset) {
    EXPECT_EQ(resolve({{}, {{"PORT", ""}, {"FACE_SERVICE_PORT", ""}}}).port, 8000);
    EXPECT_EQ(resolve({{}, {{"FACE_SERVICE_PORT", ""}, {"PORT", "8123"}}}).port, 8123);
}

TEST(ServeConfig, LastRepeatedFlagWins) { EXPECT_EQ(resolve({{"--port", "1", "--port=2"}}).port, 2); }

TEST(ServeConfig, AcceptsBoundaryValues) {
    EXPECT_EQ(resolve({{"--port", "1"}}).port, 1);
    EXPECT_EQ(resolve({{"--port", "65535"}}).port, 65535);
    EXPECT_DOUBLE_EQ(resolve({{"--confidence", "0"}}).confidence, 0.0);
    EXPECT_DOUBLE_EQ(resolve({{"--confidence", "1"}}).confidence, 1.0);
    EXPECT_DOUBLE_EQ(resolve({{"--confidence", "1e-1"}}).confidence, 0.1);
    EXPECT_EQ(resolve({{"--threads", "256"}}).threads, 256);
    EXPECT_EQ(resolve({{"--max-body", "1"}}).max_body, 1);
    EXPECT_EQ(resolve({{"--max-body", "1073741824"}}).max_body, std::int64_t{1} << 30);
    EXPECT_EQ(resolve({{"--max-pixels", "134217728"}}).max_pixels, std::int64_t{1} << 27);
    EXPECT_EQ(resolve({{"--host", "::"}}).host, "::");
}

// Each invalid value, from each kind of source, is refused; the message names
// the setting, the value and the source.
struct InvalidCase {
    const char* flag;
    const char* env;
    const char* file_key;  // nullptr: the value is not tried in the file
    const char* value;
    const char* name_in_message;
};

void PrintTo(const InvalidCase& c, std::ostream* os) { *os << c.flag << " / " << c.env << " '" << c.value << "'"; }

class InvalidValue : public testing::TestWithParam<InvalidCase> {};

TEST_P(InvalidValue, FromFlagNamesFlag) {
    const InvalidCase& p = GetParam();
    const std::string msg = error_of({{p.flag, p.value}});
    EXPECT_NE(msg.find(std::string("invalid ") + p.name_in_message), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::string("'") + p.value + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::string(p.flag) + " (command line)"), std::string::npos) << msg;
}

TEST_P(InvalidValue, FromEnvironmentNamesVariable) {
    const InvalidCase& p = GetParam();
    const std::string msg = error_of({{}, {{p.env, p.value}}});
    EXPECT_NE(msg.find(std::string("invalid ") + p.name_in_message), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::string(p.env) + " (environment)"), std::string::npos) << msg;
}

// A shadowed invalid value is still an error: it would surface the day the override goes.
TEST_P(InvalidValue, EvenWhenOverridden) {
    const InvalidCase& p = GetParam();
    EXPECT_NE(error_of({{p.flag, "1"}, {{p.env, p.value}}}), "");
}

const InvalidCase kInvalidCases[] = {
    {"--port", "FACE_SERVICE_PORT", nullptr, "abc", "port"},
    {"--port", "FACE_SERVICE_PORT", "port", "0", "port"},
    {"--port", "FACE_SERVICE_PORT", "port", "65536", "port"},
    {"--port", "FACE_SERVICE_PORT", "port", "80.5", "port"},
    {"--port", "FACE_SERVICE_PORT", "port", "-1", "port"},
    {"--port", "FACE_SERVICE_PORT", nullptr, "8000x", "port"},
    {"--port", "PORT", nullptr, " 8000", "port"},
    {"--threads", "FACE_SERVICE_THREADS", "threads", "0", "threads"},
    {"--threads", "FACE_SERVICE_THREADS", "threads", "257", "threads"},
    {"--threads", "FACE_SERVICE_THREADS", nullptr, "four", "threads"},
    {"--confidence", "FACE_SERVICE_CONFIDENCE", nullptr, "abc", "confidence"},
    {"--confidence", "FACE_SERVICE_CONFIDENCE", nullptr, "nan", "confidence"},
    {"--confidence", "FACE_SERVICE_CONFIDENCE", nullptr, "inf", "confidence"},
    {"--confidence", "FACE_SERVICE_CONFIDENCE", "confidence", "1.5", "confidence"},
    {"--confidence", "FACE_SERVICE_CONFIDENCE", "confidence", "-0.1", "confidence"},
    {"--max-body", "FACE_SERVICE_MAX_BODY", "max_body", "0", "max body"},
    {"--max-body", "FACE_SERVICE_MAX_BODY", "max_body", "1073741825", "max body"},
    {"--max-body", "FACE_SERVICE_MAX_BODY", nullptr, "16MiB", "max body"},
    {"--max-pixels", "FACE_SERVICE_MAX_PIXELS", "max_pixels", "0", "max pixels"},
    {"--max-pixels", "FACE_SERVICE_MAX_PIXELS", "max_pixels", "134217729", "max pixels"},
    {"--max-pixels", "FACE_SERVICE_MAX_PIXELS", "max_pixels", "1e6", "max pixels"},
    {"--mode", "FACE_SERVICE_MODE", nullptr, "fast", "mode"},
    {"--mode", "FACE_SERVICE_MODE", nullptr, "Default", "mode"},
    {"--host", "FACE_SERVICE_HOST", nullptr, "example.com", "host"},
    {"--host", "FACE_SERVICE_HOST", nullptr, "300.1.1.1", "host"},
    {"--access-log", "FACE_SERVICE_ACCESS_LOG", nullptr, "JSON", "access log"},
    {"--access-log", "FACE_SERVICE_ACCESS_LOG", nullptr, "on", "access log"},
    {"--grace-period", "FACE_SERVICE_GRACE_PERIOD", "grace_period", "-1", "grace period"},
    {"--grace-period", "FACE_SERVICE_GRACE_PERIOD", "grace_period", "3601", "grace period"},
    {"--grace-period", "FACE_SERVICE_GRACE_PERIOD", "grace_period", "1.5", "grace period"},
    {"--grace-period", "FACE_SERVICE_GRACE_PERIOD", nullptr, "20s", "grace period"},
    {"--max-queue", "FACE_SERVICE_MAX_QUEUE", "max_queue", "-1", "max queue"},
    {"--max-queue", "FACE_SERVICE_MAX_QUEUE", "max_queue", "65537", "max queue"},
    {"--max-queue", "FACE_SERVICE_MAX_QUEUE", nullptr, "ten", "max queue"},
    {"--request-timeout", "FACE_SERVICE_REQUEST_TIMEOUT", "request_timeout", "-1", "request timeout"},
    {"--request-timeout", "FACE_SERVICE_REQUEST_TIMEOUT", "request_timeout", "3601", "request timeout"},
    {"--request-timeout", "FACE_SERVICE_REQUEST_TIMEOUT", "request_timeout", "0.0001", "request timeout"},
    {"--request-timeout", "FACE_SERVICE_REQUEST_TIMEOUT", nullptr, "30s", "request timeout"},
    {"--request-timeout", "FACE_SERVICE_REQUEST_TIMEOUT", nullptr, "inf", "request timeout"},
    {"--request-timeout", "FACE_SERVICE_REQUEST_TIMEOUT", nullptr, "nan", "request timeout"},
    {"--auth-probes", "FACE_SERVICE_AUTH_PROBES", nullptr, "yes", "auth probes"},
    {"--auth-probes", "FACE_SERVICE_AUTH_PROBES", nullptr, "True", "auth probes"},
    {"--auth-probes", "FACE_SERVICE_AUTH_PROBES", nullptr, "1", "auth probes"},
    {"--cors-origins", "FACE_SERVICE_CORS_ORIGINS", nullptr, "example.com", "cors origins"},
    {"--cors-origins", "FACE_SERVICE_CORS_ORIGINS", nullptr, "https://example.com/", "cors origins"},
    {"--cors-origins", "FACE_SERVICE_CORS_ORIGINS", nullptr, "https://example.com/app", "cors origins"},
    {"--cors-origins", "FACE_SERVICE_CORS_ORIGINS", nullptr, "https://Example.com", "cors origins"},
    {"--cors-origins", "FACE_SERVICE_CORS_ORIGINS", nullptr, "ftp://example.com", "cors origins"},
    {"--cors-origins", "FACE_SERVICE_CORS_ORIGINS", nullptr, "https://example.com:0", "cors origins"},
    {"--cors-origins", "FACE_SERVICE_CORS_ORIGINS", nullptr, "https://example.com:", "cors origins"},
    {"--cors-origins", "FACE_SERVICE_CORS_ORIGINS", nullptr, "https://a.com,,https://b.com", "cors origins"},
    {"--cors-origins", "FACE_SERVICE_CORS_ORIGINS", nullptr, "*,https://a.com", "cors origins"},
    {"--cors-origins", "FACE_SERVICE_CORS_ORIGINS", nullptr, "null", "cors origins"},
    {"--cors-origins", "FACE_SERVICE_CORS_ORIGINS", nullptr, "https://user@a.com", "cors origins"},
    {"--max-batch", "FACE_SERVICE_MAX_BATCH", "max_batch", "0", "max batch"},
    {"--max-batch", "FACE_SERVICE_MAX_BATCH", "max_batch", "65", "max batch"},
    {"--max-batch", "FACE_SERVICE_MAX_BATCH", "max_batch", "2.5", "max batch"},
    {"--max-batch", "FACE_SERVICE_MAX_BATCH", nullptr, "many", "max batch"},
};

// "0_port_abc", "17_max_body_16MiB": readable test names.
std::string case_name(const testing::TestParamInfo<InvalidCase>& info) {
    std::string name = std::to_string(info.index) + "_" + std::string(info.param.flag + 2) + "_" + info.param.value;
    for (char& c : name)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    return name;
}

INSTANTIATE_TEST_SUITE_P(ServeConfig, InvalidValue, testing::ValuesIn(kInvalidCases), case_name);

TEST(ServeConfig, ModeFromEverySource) {
    EXPECT_EQ(resolve({.args = {"--mode", "faithful"}}).mode, "faithful");
    EXPECT_EQ(resolve({.args = {"--mode=accurate"}}).mode, "accurate");
    EXPECT_EQ(resolve({.env = {{"FACE_SERVICE_MODE", "faithful"}}}).mode, "faithful");
    EXPECT_EQ(resolve({.args = {"--config", "c.json"}, .files = {{"c.json", R"({"mode": "accurate"})"}}}).mode,
              "accurate");
    EXPECT_EQ(resolve({.args = {"--mode", "accurate"}, .env = {{"FACE_SERVICE_MODE", "faithful"}}}).mode, "accurate");
    const std::string msg = error_of({.env = {{"FACE_SERVICE_MODE", "fast"}}});
    EXPECT_EQ(msg, "invalid mode 'fast' from FACE_SERVICE_MODE (environment): must be one of faithful, default, accurate");
    EXPECT_NE(error_of({.args = {"--config", "c.json"}, .files = {{"c.json", R"({"mode": 1})"}}}).find("JSON string"),
              std::string::npos);
    EXPECT_EQ(error_of({.args = {"--config", "c.json"}, .files = {{"c.json", R"({"mode": "fast"})"}}}),
              "invalid mode 'fast' from \"mode\" in config file c.json: must be one of faithful, default, accurate");
}

TEST(ServeConfig, InvalidFileValueNamesKeyAndFile) {
    for (const InvalidCase& p : kInvalidCases) {
        if (!p.file_key) continue;  // not a JSON value of the right type
        const std::string msg =
            error_of({{"--config", "/c.json"}, {}, {{"/c.json", std::string("{\"") + p.file_key + "\": " + p.value + "}"}}});
        EXPECT_NE(msg.find(std::string("invalid ") + p.name_in_message), std::string::npos) << msg;
        EXPECT_NE(msg.find(std::string("\"") + p.file_key + "\" in config file /c.json"), std::string::npos) << msg;
    }
}

TEST(ServeConfig, AccessLogMessageNamesTheChoices) {
    EXPECT_EQ(error_of({{}, {{"FACE_SERVICE_ACCESS_LOG", "yes"}}}),
              "invalid access log 'yes' from FACE_SERVICE_ACCESS_LOG (environment): must be json or off");
    EXPECT_NE(error_of({{"--config", "/c.json"}, {}, {{"/c.json", R"({"access_log": true})"}}}).find("JSON string"),
              std::string::npos);
}

TEST(ServeConfig, RequestTimeoutFromEverySource) {
    EXPECT_DOUBLE_EQ(resolve({.args = {"--request-timeout", "0"}}).request_timeout, 0);  // no limit
    EXPECT_DOUBLE_EQ(resolve({.args = {"--request-timeout=0.001"}}).request_timeout, 0.001);
    EXPECT_DOUBLE_EQ(resolve({.args = {"--request-timeout", "3600"}}).request_timeout, 3600);
    EXPECT_DOUBLE_EQ(resolve({.env = {{"FACE_SERVICE_REQUEST_TIMEOUT", "2.5"}}}).request_timeout, 2.5);
    EXPECT_DOUBLE_EQ(
        resolve({.args = {"--config", "c.json"}, .files = {{"c.json", R"({"request_timeout": 12})"}}}).request_timeout, 12);
    // Flag > environment > file.
    const Inputs all{.args = {"--config", "c.json", "--request-timeout", "1"},
                     .env = {{"FACE_SERVICE_REQUEST_TIMEOUT", "2"}},
                     .files = {{"c.json", R"({"request_timeout": 3})"}}};
    EXPECT_DOUBLE_EQ(resolve(all).request_timeout, 1);
    Inputs no_flag = all;
    no_flag.args = {"--config", "c.json"};
    EXPECT_DOUBLE_EQ(resolve(no_flag).request_timeout, 2);
    EXPECT_NE(error_of({.args = {"--config", "c.json"}, .files = {{"c.json", R"({"request_timeout": "30"})"}}})
                  .find("must be a JSON number"),
              std::string::npos);
    EXPECT_EQ(error_of({.env = {{"FACE_SERVICE_REQUEST_TIMEOUT", "-5"}}}),
              "invalid request timeout '-5' from FACE_SERVICE_REQUEST_TIMEOUT (environment): must be 0 (no limit) "
              "or a number of seconds in [0.001, 3600]");
}

TEST(ServeConfig, MaxBatchFromEverySource) {
    EXPECT_EQ(resolve({.args = {"--max-batch", "1"}}).max_batch, 1);
    EXPECT_EQ(resolve({.args = {"--max-batch=64"}}).max_batch, server::kMaxBatchLimit);
    EXPECT_EQ(resolve({.env = {{"FACE_SERVICE_MAX_BATCH", "8"}}}).max_batch, 8);
    EXPECT_EQ(resolve({.args = {"--config", "c.json"}, .files = {{"c.json", R"({"max_batch": 32})"}}}).max_batch, 32);
    // Flag > environment > file.
    const Inputs all{.args = {"--config", "c.json", "--max-batch", "2"},
                     .env = {{"FACE_SERVICE_MAX_BATCH", "3"}},
                     .files = {{"c.json", R"({"max_batch": 4})"}}};
    EXPECT_EQ(resolve(all).max_batch, 2);
    Inputs no_flag = all;
    no_flag.args = {"--config", "c.json"};
    EXPECT_EQ(resolve(no_flag).max_batch, 3);
    Inputs file_only = no_flag;
    file_only.env.clear();
    EXPECT_EQ(resolve(file_only).max_batch, 4);
    EXPECT_NE(error_of({.args = {"--config", "c.json"}, .files = {{"c.json", R"({"max_batch": "16"})"}}})
                  .find("must be a JSON number"),
              std::string::npos);
    EXPECT_EQ(error_of({.env = {{"FACE_SERVICE_MAX_BATCH", "100"}}}),
              "invalid max batch '100' from FACE_SERVICE_MAX_BATCH (environment): must be an integer in [1, 64]");
}

const std::string kKey1 = "k1-0123456789abcdef";  // 19 characters
const std::string kKey2 = "K2_!#$%&'()*+-./:;<=>?@[]^_`{|}~";  // every punctuation mark but the comma

TEST(ServeConfig, ApiKeysFromEverySource) {
    EXPECT_EQ(resolve({.args = {"--api-keys", kKey1}}).api_keys, std::vector<std::string>{kKey1});
    EXPECT_EQ(resolve({.args = {"--api-keys=" + kKey1 + "," + kKey2}}).api_keys,
              (std::vector<std::string>{kKey1, kKey2}));
    // Spaces around the commas are not part of the keys.
    EXPECT_EQ(resolve({.env = {{"FACE_SERVICE_API_KEYS", " " + kKey1 + " ,\t" + kKey2 + " "}}}).api_keys,
              (std::vector<std::string>{kKey1, kKey2}));
    EXPECT_EQ(resolve({.args = {"--config", "c.json"}, .files = {{"c.json", R"({"api_keys": ")" + kKey2 + "\"}"}}})
                  .api_keys,
              std::vector<std::string>{kKey2});
    EXPECT_EQ(resolve({.args = {"--api-keys", std::string(16, 'a')}}).api_keys.front().size(), 16u);
    EXPECT_EQ(resolve({.args = {"--api-keys", std::string(256, 'a')}}).api_keys.front().size(), 256u);
    // Flag > environment > file; an empty flag turns the keys off.
    const Inputs all{.args = {"--config", "c.json", "--api-keys", kKey1},
                     .env = {{"FACE_SERVICE_API_KEYS", kKey2}},
                     .files = {{"c.json", R"({"api_keys": "file-key-0123456789"})"}}};
    EXPECT_EQ(resolve(all).api_keys, std::vector<std::string>{kKey1});
    Inputs no_flag = all;
    no_flag.args = {"--config", "c.json"};
    EXPECT_EQ(resolve(no_flag).api_keys, std::vector<std::string>{kKey2});
    no_flag.env.clear();
    EXPECT_EQ(resolve(no_flag).api_keys, std::vector<std::string>{"file-key-0123456789"});
    Inputs off = all;
    off.args = {"--config", "c.json", "--api-keys", ""};
    EXPECT_TRUE(resolve(off).api_keys.empty());
}

// A key is a secret: an invalid one is named by its position, and its text
// is never in the message.
TEST(ServeConfig, InvalidApiKeysAreRefusedWithoutQuotingThem) {
    const std::string short_key = "short-secret-123";  // 16: the shortest valid
    struct Case {
        std::string value;
        std::string expected;  // in the message
    };
    const std::vector<Case> cases = {
        {short_key.substr(1), "key 1 of 1 has 15 characters; each key must have 16 to 256"},
        {kKey1 + "," + short_key.substr(2), "key 2 of 2 has 14 characters"},
        {kKey1 + ",," + kKey2, "key 2 of 3 has 0 characters"},
        {kKey1 + ",", "key 2 of 2 has 0 characters"},
        {std::string(257, 'x'), "key 1 of 1 has 257 characters"},
        {"secret with spaces inside", "key 1 of 1 has a character that is not printable ASCII, or a space"},
        {"secret-\x01-0123456789", "not printable ASCII"},
        {"secret-\xc3\xa9-0123456789", "not printable ASCII"},
        {"secret-\x7f-0123456789", "not printable ASCII"},
    };
    for (const Case& c : cases) {
        for (const Inputs& in : {Inputs{.args = {"--api-keys", c.value}}, Inputs{.env = {{"FACE_SERVICE_API_KEYS", c.value}}}}) {
            const std::string msg = error_of(in);
            EXPECT_NE(msg.find("invalid api keys from "), std::string::npos) << msg;
            EXPECT_NE(msg.find(c.expected), std::string::npos) << msg;
            EXPECT_EQ(msg.find("secret"), std::string::npos) << msg;
            EXPECT_EQ(msg.find(kKey1), std::string::npos) << msg;
            EXPECT_EQ(msg.find("xxxxxxxx"), std::string::npos) << msg;
        }
    }
    EXPECT_EQ(error_of({.env = {{"FACE_SERVICE_API_KEYS", "secret"}}}),
              "invalid api keys from FACE_SERVICE_API_KEYS (environment): key 1 of 1 has 6 characters; each key must "
              "have 16 to 256");
    // The file's wrong type is not quoted either.
    const std::string msg = error_of(
        {.args = {"--config", "c.json"}, .files = {{"c.json", R"({"api_keys": ["secret-0123456789abc"]})"}}});
    EXPECT_EQ(msg, "invalid api keys from \"api_keys\" in config file c.json: must be a JSON string");
    // Refused even when a flag overrides it.
    EXPECT_NE(error_of({.args = {"--api-keys", kKey1}, .env = {{"FACE_SERVICE_API_KEYS", "secret"}}}), "");
}

TEST(ServeConfig, AuthProbesFromEverySource) {
    EXPECT_TRUE(resolve({.args = {"--auth-probes", "true"}}).auth_probes);
    EXPECT_FALSE(resolve({.args = {"--auth-probes=false"}}).auth_probes);
    EXPECT_TRUE(resolve({.env = {{"FACE_SERVICE_AUTH_PROBES", "true"}}}).auth_probes);
    EXPECT_TRUE(resolve({.args = {"--config", "c.json"}, .files = {{"c.json", R"({"auth_probes": true})"}}}).auth_probes);
    EXPECT_FALSE(resolve({.args = {"--config", "c.json", "--auth-probes", "false"},
                          .env = {{"FACE_SERVICE_AUTH_PROBES", "true"}},
                          .files = {{"c.json", R"({"auth_probes": true})"}}})
                     .auth_probes);
    EXPECT_TRUE(resolve({.args = {"--config", "c.json"},
                         .env = {{"FACE_SERVICE_AUTH_PROBES", "true"}},
                         .files = {{"c.json", R"({"auth_probes": false})"}}})
                    .auth_probes);
    EXPECT_EQ(error_of({.args = {"--config", "c.json"}, .files = {{"c.json", R"({"auth_probes": "true"})"}}}),
              "invalid auth probes \"true\" from \"auth_probes\" in config file c.json: must be a JSON boolean (true "
              "or false)");
    EXPECT_EQ(error_of({.env = {{"FACE_SERVICE_AUTH_PROBES", "on"}}}),
              "invalid auth probes 'on' from FACE_SERVICE_AUTH_PROBES (environment): must be true or false");
}

TEST(ServeConfig, CorsOriginsFromEverySource) {
    using V = std::vector<std::string>;
    EXPECT_EQ(resolve({.args = {"--cors-origins", "*"}}).cors_origins, V{"*"});
    EXPECT_EQ(resolve({.args = {"--cors-origins", "https://app.example.com, http://localhost:3000"}}).cors_origins,
              (V{"https://app.example.com", "http://localhost:3000"}));
    EXPECT_EQ(resolve({.env = {{"FACE_SERVICE_CORS_ORIGINS", "http://127.0.0.1:8080,http://[::1]:8080"}}}).cors_origins,
              (V{"http://127.0.0.1:8080", "http://[::1]:8080"}));
    EXPECT_EQ(resolve({.args = {"--config", "c.json"},
                       .files = {{"c.json", R"({"cors_origins": "https://a-b.example.org:65535"})"}}})
                  .cors_origins,
              V{"https://a-b.example.org:65535"});
    EXPECT_EQ(resolve({.args = {"--cors-origins", "https://a.com"}, .env = {{"FACE_SERVICE_CORS_ORIGINS", "*"}}})
                  .cors_origins,
              V{"https://a.com"});
    EXPECT_EQ(resolve({.args = {"--config", "c.json"},
                       .env = {{"FACE_SERVICE_CORS_ORIGINS", "*"}},
                       .files = {{"c.json", R"({"cors_origins": "https://a.com"})"}}})
                  .cors_origins,
              V{"*"});
    EXPECT_TRUE(resolve({.args = {"--cors-origins", ""}}).cors_origins.empty());
    const std::string msg = error_of({.env = {{"FACE_SERVICE_CORS_ORIGINS", "https://a.com/"}}});
    EXPECT_NE(msg.find("invalid cors origins 'https://a.com/' from FACE_SERVICE_CORS_ORIGINS (environment): must be *"),
              std::string::npos)
        << msg;
}

TEST(ServeConfig, FileTypesAreChecked) {
    EXPECT_NE(error_of({{"--config", "/c.json"}, {}, {{"/c.json", R"({"port": "8000"})"}}}).find("must be a JSON number"),
              std::string::npos);
    EXPECT_NE(error_of({{"--config", "/c.json"}, {}, {{"/c.json", R"({"host": 1})"}}}).find("must be a JSON string"),
              std::string::npos);
}

TEST(ServeConfig, UnknownFileKeyIsRefused) {
    const std::string msg = error_of({{"--config", "/c.json"}, {}, {{"/c.json", R"({"prot": 8000})"}}});
    EXPECT_NE(msg.find("unknown setting \"prot\" in config file /c.json"), std::string::npos) << msg;
}

TEST(ServeConfig, BrokenFileIsRefused) {
    EXPECT_NE(error_of({{"--config", "/c.json"}, {}, {{"/c.json", "{port: 1"}}}).find("/c.json is not valid JSON"),
              std::string::npos);
    EXPECT_NE(error_of({{"--config", "/c.json"}, {}, {{"/c.json", "[1, 2]"}}}).find("must hold a JSON object"),
              std::string::npos);
    const std::string missing = error_of({{"--config", "/missing.json"}});
    EXPECT_NE(missing.find("cannot read config file /missing.json (from --config (command line))"), std::string::npos)
        << missing;
    const std::string from_env = error_of({{}, {{"FACE_SERVICE_CONFIG", "/missing.json"}}});
    EXPECT_NE(from_env.find("FACE_SERVICE_CONFIG (environment)"), std::string::npos) << from_env;
}

TEST(ServeConfig, BadCommandLineIsRefused) {
    EXPECT_NE(error_of({{"--prot", "1"}}).find("unknown option --prot"), std::string::npos);
    EXPECT_NE(error_of({{"--port"}}).find("--port needs a value"), std::string::npos);
    EXPECT_NE(error_of({{"photo.jpg"}}).find("serve takes no arguments"), std::string::npos);
}

TEST(ServeConfig, ReadsRealEnvironment) {
    ::setenv("FACE_SERVICE_CONFIG_TEST_VARIABLE", "x", 1);
    EXPECT_EQ(server::process_env("FACE_SERVICE_CONFIG_TEST_VARIABLE"), std::optional<std::string>("x"));
    ::unsetenv("FACE_SERVICE_CONFIG_TEST_VARIABLE");
    EXPECT_EQ(server::process_env("FACE_SERVICE_CONFIG_TEST_VARIABLE"), std::nullopt);
    EXPECT_THROW(server::read_text_file("/nonexistent/face-service.json"), std::runtime_error);
}

}  // namespace

namespace {

server::HealthcheckConfig healthcheck(const Inputs& in) {
    const server::EnvLookup env = env_of(in);
    const server::FileReader read = files_of(in);
    return server::resolve_healthcheck_config(in.args, env, read);
}

std::string healthcheck_error(const Inputs& in) {
    try {
        healthcheck(in);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

TEST(HealthcheckConfig, Defaults) {
    const server::HealthcheckConfig c = healthcheck({});
    EXPECT_EQ(c.host, "127.0.0.1");
    EXPECT_EQ(c.port, 8000);
    EXPECT_DOUBLE_EQ(c.timeout, 2.0);
}

TEST(HealthcheckConfig, PortResolvedLikeServe) {
    EXPECT_EQ(healthcheck({{}, {{"PORT", "8123"}}}).port, 8123);
    EXPECT_EQ(healthcheck({{}, {{"PORT", "8123"}, {"FACE_SERVICE_PORT", "8124"}}}).port, 8124);
    EXPECT_EQ(healthcheck({{}, {{"FACE_SERVICE_CONFIG", "/c.json"}}, {{"/c.json", R"({"port": 9000})"}}}).port, 9000);
    EXPECT_EQ(healthcheck({{"--port", "8125"}, {{"FACE_SERVICE_PORT", "8124"}}}).port, 8125);
    EXPECT_EQ(healthcheck({{"--port=8126"}}).port, 8126);
}

TEST(HealthcheckConfig, HostAndTimeout) {
    EXPECT_EQ(healthcheck({{"--host", "::1"}}).host, "::1");
    EXPECT_EQ(healthcheck({{}, {{"FACE_SERVICE_HOST", "10.1.2.3"}}}).host, "10.1.2.3");  // where serve listens
    EXPECT_EQ(healthcheck({{}, {{"FACE_SERVICE_HOST", "::"}}}).host, "::1");  // a wildcard: asked on the loopback
    EXPECT_EQ(healthcheck({{}, {{"FACE_SERVICE_HOST", "0.0.0.0"}}}).host, "127.0.0.1");
    EXPECT_DOUBLE_EQ(healthcheck({{"--timeout", "0.5"}}).timeout, 0.5);
    EXPECT_DOUBLE_EQ(healthcheck({{"--timeout=10"}}).timeout, 10.0);
}

// The probe sends a key only when the server's probes need one.
TEST(HealthcheckConfig, ApiKeyWhenTheProbesNeedOne) {
    EXPECT_EQ(healthcheck({}).api_key, "");
    EXPECT_EQ(healthcheck({{}, {{"FACE_SERVICE_API_KEYS", kKey1 + "," + kKey2}}}).api_key, "");
    EXPECT_EQ(healthcheck({{}, {{"FACE_SERVICE_API_KEYS", kKey1 + "," + kKey2}, {"FACE_SERVICE_AUTH_PROBES", "true"}}})
                  .api_key,
              kKey1);
    EXPECT_EQ(healthcheck({{},
                           {{"FACE_SERVICE_CONFIG", "/c.json"}},
                           {{"/c.json", R"({"auth_probes": true, "api_keys": "file-key-0123456789"})"}}})
                  .api_key,
              "file-key-0123456789");
    EXPECT_NE(healthcheck_error({{}, {{"FACE_SERVICE_API_KEYS", "short"}}}).find("invalid api keys"), std::string::npos);
}

TEST(HealthcheckConfig, InvalidArgumentsAreRefused) {
    for (const char* t : {"0", "-1", "abc", "", "nan", "inf", "3601"})
        EXPECT_NE(healthcheck_error({{"--timeout", t}}).find("invalid timeout"), std::string::npos) << t;
    EXPECT_NE(healthcheck_error({{"--port", "0"}}).find("invalid port '0' from --port"), std::string::npos);
    EXPECT_NE(healthcheck_error({{"--host", "example.com"}}).find("invalid host"), std::string::npos);
    EXPECT_NE(healthcheck_error({{"--threads", "2"}}).find("unknown option --threads"), std::string::npos);
    EXPECT_NE(healthcheck_error({{"extra"}}).find("takes no arguments"), std::string::npos);
    EXPECT_NE(healthcheck_error({{"--timeout"}}).find("--timeout needs a value"), std::string::npos);
    EXPECT_NE(healthcheck_error({{}, {{"PORT", "x"}}}).find("invalid port 'x' from PORT"), std::string::npos);
}

}  // namespace
