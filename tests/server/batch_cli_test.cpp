// `face-service detect` over folders (server/batch_cli.h): walking, the
// results file's lines, resuming after a truncated last line, and --server's
// retries, against a fake service on a free port (no detector, no photo is
// decoded: the fake answers from the bytes' name).
#include "server/batch_cli.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "server/http_server.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using server::batch::BatchError;

// A fresh folder under the system's temporary one, removed at the end.
class TempDir {
public:
    TempDir() {
        std::string pattern = (fs::temp_directory_path() / "batch_cli_test.XXXXXX").string();
        if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        fs::permissions(path_ / "locked", fs::perms::owner_all, ec);
        fs::remove_all(path_, ec);
    }
    const fs::path& path() const { return path_; }
    std::string file(const std::string& relative, const std::string& bytes = "x") const {
        const fs::path p = path_ / relative;
        fs::create_directories(p.parent_path());
        std::ofstream(p, std::ios::binary) << bytes;
        return p.string();
    }

private:
    fs::path path_;
};

std::string read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<std::string> relative(const std::vector<std::string>& paths, const fs::path& base) {
    std::vector<std::string> out;
    for (const std::string& p : paths) out.push_back(fs::path(p).lexically_relative(base).string());
    return out;
}

TEST(IsPhotoName, ByExtensionAnyCase) {
    for (const char* yes : {"a.jpg", "A.JPG", "b.Jpeg", "c.jpe", "d.jfif", "e.png", "f.PNG", "g.bmp", "h.gif",
                            "dots.in.name.jpg"})
        EXPECT_TRUE(server::batch::is_photo_name(yes)) << yes;
    for (const char* no : {"a.txt", "jpg", ".jpg", "a.jpg.part", "a.tif", "a.webp", "a.", "README"})
        EXPECT_FALSE(server::batch::is_photo_name(no)) << no;
}

TEST(CollectPhotos, WalksFoldersInNameOrderDepthFirst) {
    TempDir dir;
    dir.file("b.jpg");
    dir.file("a/z.PNG");
    dir.file("a/deeper/y.gif");
    dir.file("a/notes.txt");
    dir.file("a-b.bmp");  // '-' sorts before 'a/...' in whole paths, after "a" as a name
    dir.file("C.jpeg");
    const auto found = server::batch::collect_photos({dir.path().string()});
    EXPECT_TRUE(found.problems.empty());
    EXPECT_EQ(relative(found.photos, dir.path()),
              (std::vector<std::string>{"C.jpeg", "a/deeper/y.gif", "a/z.PNG", "a-b.bmp", "b.jpg"}));
    EXPECT_EQ(found.relative, relative(found.photos, dir.path()));
}

TEST(CollectPhotos, NeverFollowsLinksToFoldersButTakesLinksToFiles) {
    TempDir dir;
    dir.file("photos/in/a.jpg");
    fs::create_directory_symlink(dir.path() / "photos", dir.path() / "photos/in/loop");  // a cycle
    fs::create_directory_symlink(dir.path() / "photos/in", dir.path() / "photos/elsewhere");
    fs::create_symlink(dir.path() / "photos/in/a.jpg", dir.path() / "photos/link.jpg");
    const auto found = server::batch::collect_photos({(dir.path() / "photos").string()});
    EXPECT_EQ(relative(found.photos, dir.path() / "photos"), (std::vector<std::string>{"in/a.jpg", "link.jpg"}));
    // A link named on the command line is walked: the user asked for it.
    const auto named = server::batch::collect_photos({(dir.path() / "photos/elsewhere").string()});
    EXPECT_EQ(relative(named.photos, dir.path() / "photos"), (std::vector<std::string>{"elsewhere/a.jpg"}));
}

TEST(CollectPhotos, NamedFilesWhateverTheirNameAndEachPathOnce) {
    TempDir dir;
    const std::string photo = dir.file("f/a.jpg");
    const std::string text = dir.file("notes.txt");
    const std::string missing = (dir.path() / "missing.jpg").string();
    const auto found = server::batch::collect_photos({text, (dir.path() / "f").string(), photo, missing});
    EXPECT_EQ(found.photos, (std::vector<std::string>{text, photo, missing}));
    EXPECT_EQ(found.relative, (std::vector<std::string>{"notes.txt", "a.jpg", "missing.jpg"}));
}

TEST(CollectPhotos, AnUnreadableFolderIsAProblemNotAStop) {
    if (::geteuid() == 0) GTEST_SKIP() << "root reads every folder";
    TempDir dir;
    dir.file("locked/a.jpg");
    dir.file("open/b.jpg");
    fs::permissions(dir.path() / "locked", fs::perms::none);
    const auto found = server::batch::collect_photos({dir.path().string()});
    EXPECT_EQ(relative(found.photos, dir.path()), (std::vector<std::string>{"open/b.jpg"}));
    ASSERT_EQ(found.problems.size(), 1u);
    EXPECT_NE(found.problems[0].find("locked"), std::string::npos) << found.problems[0];
}

TEST(ResultLines, PhotoFirstOneLineEach) {
    const json faces = json::parse(R"([{"box":[1,2,3,4],"confidence":0.5}])");
    EXPECT_EQ(server::batch::faces_line("d/a.jpg", faces),
              "{\"photo\":\"d/a.jpg\",\"faces\":[{\"box\":[1,2,3,4],\"confidence\":0.5}]}\n");
    EXPECT_EQ(server::batch::faces_line("b.jpg", json::array()), "{\"photo\":\"b.jpg\",\"faces\":[]}\n");
    EXPECT_EQ(server::batch::error_line("q\"\n.jpg", "not a photo"),
              "{\"photo\":\"q\\\"\\n.jpg\",\"error\":\"not a photo\"}\n");
}

TEST(ResultLines, NamesThatAreNotUtf8ReadBackAsTheirKey) {
    const std::string name = "bad\xff\xfe.jpg";
    const std::string line = server::batch::faces_line(name, json::array());
    const json back = json::parse(line);
    EXPECT_EQ(back["photo"].get<std::string>(), "bad\xEF\xBF\xBD\xEF\xBF\xBD.jpg");
    EXPECT_EQ(server::batch::photo_key(name), back["photo"].get<std::string>());
    EXPECT_EQ(server::batch::photo_key("plain.jpg"), "plain.jpg");
}

TEST(ReadResults, NoFileIsNothingDone) {
    TempDir dir;
    const auto finished = server::batch::read_results((dir.path() / "none.jsonl").string());
    EXPECT_TRUE(finished.photos.empty());
    EXPECT_FALSE(finished.dropped_partial_line);
}

TEST(ReadResults, FacesAndErrorsAreDoneAndATruncatedLastLineIsCutOff) {
    TempDir dir;
    const std::string whole = server::batch::faces_line("a.jpg", json::array()) + "\n" +  // an empty line is tolerated
                              server::batch::error_line("b.jpg", "unreadable");
    const std::string partial = server::batch::faces_line("c.jpg", json::array());
    const std::string path = dir.file("r.jsonl", whole + partial.substr(0, partial.size() - 7));
    const auto finished = server::batch::read_results(path);
    EXPECT_EQ(finished.photos, (std::unordered_set<std::string>{"a.jpg", "b.jpg"}));
    EXPECT_TRUE(finished.dropped_partial_line);
    EXPECT_EQ(read(path), whole);

    // A last line whole but for its newline is cut off too: the write was cut short.
    dir.file("r.jsonl", whole + partial.substr(0, partial.size() - 1));
    EXPECT_EQ(server::batch::read_results(path).photos.size(), 2u);
    EXPECT_EQ(read(path), whole);
    EXPECT_FALSE(server::batch::read_results(path).dropped_partial_line);
}

TEST(ReadResults, AnotherFileIsRefusedAndLeftAlone) {
    TempDir dir;
    for (const std::string& bad : {std::string("hello\n"), std::string("{\"photo\": 3, \"faces\": []}\n"),
                                   std::string("{\"faces\": []}\n"), std::string("[1, 2]\n"),
                                   std::string("{\"photo\": \"a.jpg\"}\n")}) {
        const std::string text = server::batch::faces_line("a.jpg", json::array()) + bad + "partial";
        const std::string path = dir.file("other.txt", text);
        try {
            server::batch::read_results(path);
            ADD_FAILURE() << "accepted " << bad;
        } catch (const BatchError& e) {
            EXPECT_NE(std::string(e.what()).find("other.txt:2: not a line of a results file"), std::string::npos)
                << e.what();
        }
        EXPECT_EQ(read(path), text);
    }
}

TEST(KeepLargestJson, TheNLargestInTheirOrder) {
    const json faces = json::parse(R"([
        {"box":[0,0,10,10],"confidence":0.99},
        {"box":[0,0,30,30],"confidence":0.98},
        {"box":[0,0,20,20],"confidence":0.97},
        {"box":[0,0,20,20],"confidence":0.985},
        {"box":[0,0,40,20],"confidence":0.96}])");
    const json two = server::batch::keep_largest_json(faces, 2);
    ASSERT_EQ(two.size(), 2u);
    EXPECT_EQ(two[0]["box"][2], 30);
    EXPECT_EQ(two[1]["box"][2], 40);  // 800 px, the second largest, and second in the list's order
    const json three = server::batch::keep_largest_json(faces, 3);
    ASSERT_EQ(three.size(), 3u);
    EXPECT_EQ(three[1]["confidence"], 0.985);  // equal areas: the higher confidence, in its place
    EXPECT_EQ(server::batch::keep_largest_json(faces, 5), faces);
    EXPECT_EQ(server::batch::keep_largest_json(json::array(), 1), json::array());
}

TEST(RetryWait, DoublesToTheCapAndHonoursRetryAfter) {
    using std::chrono::milliseconds;
    const server::batch::RetryPolicy p;  // 0.5 s doubling to 30 s
    EXPECT_EQ(server::batch::retry_wait(p, 1, std::nullopt), milliseconds(500));
    EXPECT_EQ(server::batch::retry_wait(p, 2, std::nullopt), milliseconds(1000));
    EXPECT_EQ(server::batch::retry_wait(p, 4, std::nullopt), milliseconds(4000));
    EXPECT_EQ(server::batch::retry_wait(p, 12, std::nullopt), milliseconds(30'000));
    EXPECT_EQ(server::batch::retry_wait(p, 1, "3"), milliseconds(3000));
    EXPECT_EQ(server::batch::retry_wait(p, 4, "1"), milliseconds(4000));  // the backoff when longer
    EXPECT_EQ(server::batch::retry_wait(p, 1, "86400"), milliseconds(30'000));
    EXPECT_EQ(server::batch::retry_wait(p, 1, "Wed, 21 Oct 2015 07:28:00 GMT"), milliseconds(500));
    EXPECT_EQ(server::batch::retry_wait(p, 1, "-5"), milliseconds(500));
}

// A stand-in for `face-service serve`: POST /api/detect answers with one
// face whose width is the body's length, or with the statuses `script`
// lists first (each once, in order, with Retry-After: 2 on a 503).
class FakeService {
public:
    explicit FakeService(std::vector<int> script = {}) : script_(std::move(script)), server_(options()) {
        server_.route("POST", "/api/detect", [this](const server::http::Request& r) {
            std::lock_guard lock(mutex_);
            queries_.push_back(r.query);
            bodies_.push_back(r.body);
            keys_.push_back(std::string(r.header("x-api-key").value_or("")));
            if (next_ < script_.size()) {
                const int status = script_[next_++];
                server::http::Response e = server::http::error_response(status, "scripted " + std::to_string(status));
                if (status == 503) e.headers.push_back({"Retry-After", "2"});
                return e;
            }
            return server::http::json_response(
                200, json::array({{{"box", {0, 0, static_cast<int>(r.body.size()), 1}}, {"confidence", 0.99}}}));
        });
        server_.listen();
        thread_ = std::thread([this] { server_.run(); });
    }
    ~FakeService() {
        server_.stop();
        thread_.join();
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(server_.port()); }
    std::vector<std::string> queries() const {
        std::lock_guard lock(mutex_);
        return queries_;
    }
    std::vector<std::string> bodies() const {
        std::lock_guard lock(mutex_);
        return bodies_;
    }
    std::vector<std::string> keys() const {
        std::lock_guard lock(mutex_);
        return keys_;
    }

private:
    static server::http::ServerOptions options() {
        server::http::ServerOptions o;
        o.host = "127.0.0.1";
        o.port = 0;
        o.threads = 4;
        return o;
    }
    std::vector<int> script_;
    std::size_t next_ = 0;
    mutable std::mutex mutex_;
    std::vector<std::string> queries_, bodies_, keys_;
    server::http::Server server_;
    std::thread thread_;
};

server::batch::RetryPolicy recording(std::vector<std::chrono::milliseconds>& waits) {
    server::batch::RetryPolicy p;
    p.sleep = [&waits](std::chrono::milliseconds w) { waits.push_back(w); };
    return p;
}

TEST(RemoteDetector, RetriesA503AfterItsRetryAfterThenAnswers) {
    FakeService service({503, 503});
    std::vector<std::chrono::milliseconds> waits;
    server::batch::RemoteDetector remote(service.url(), "mode=default&confidence=0.9", recording(waits));
    const auto outcome = remote.detect("p.jpg", "12345");
    ASSERT_TRUE(outcome.faces) << outcome.error;
    EXPECT_EQ((*outcome.faces)[0]["box"][2], 5);
    EXPECT_EQ(waits, (std::vector<std::chrono::milliseconds>{std::chrono::seconds(2), std::chrono::seconds(2)}));
    EXPECT_EQ(service.queries(), (std::vector<std::string>(3, "mode=default&confidence=0.9")));
}

TEST(RemoteDetector, AnswersAboutThePhotoAreItsError) {
    FakeService service({415, 400});
    server::batch::RemoteDetector remote(service.url(), "mode=default");
    EXPECT_EQ(remote.detect("p.jpg", "x").error, "the service answered 415: scripted 415");
    EXPECT_EQ(remote.detect("p.jpg", "x").error, "the service answered 400: scripted 400");
    EXPECT_TRUE(remote.detect("p.jpg", "x").faces);
}

TEST(RemoteDetector, AnswersNoPhotoWouldChangeStopTheRun) {
    FakeService service({401});
    std::vector<std::chrono::milliseconds> waits;
    server::batch::RemoteDetector remote(service.url(), "mode=default", recording(waits));
    EXPECT_THROW(remote.detect("p.jpg", "x"), BatchError);
    EXPECT_TRUE(waits.empty());
}

TEST(RemoteDetector, GivesUpOnAServiceThatStaysAway) {
    std::string url;
    {
        FakeService gone;
        url = gone.url();
    }  // its port is closed now
    std::vector<std::chrono::milliseconds> waits;
    server::batch::RemoteDetector remote(url, "mode=default", recording(waits));
    try {
        remote.detect("p.jpg", "x");
        ADD_FAILURE() << "no error";
    } catch (const BatchError& e) {
        EXPECT_NE(std::string(e.what()).find("after 6 tries"), std::string::npos) << e.what();
    }
    using std::chrono::milliseconds;
    EXPECT_EQ(waits, (std::vector<milliseconds>{milliseconds(500), milliseconds(1000), milliseconds(2000),
                                                milliseconds(4000), milliseconds(8000)}));
}

TEST(DetectQuery, TheParametersOfTheRun) {
    server::batch::DetectJob job;
    job.mode = &mtcnn::find_mode("faithful");
    job.confidence = 0.7;
    EXPECT_EQ(server::batch::detect_query(job), "mode=faithful&confidence=0.7");
    job.min_face = 24;
    job.max_faces = 3;
    EXPECT_EQ(server::batch::detect_query(job), "mode=faithful&confidence=0.7&min_face_size=24&max_faces=3");
}

// A whole run through the fake service: every photo once, in order; a run
// again skips them all; a truncated last line is redone; the file ends the same.
TEST(RunDetect, WritesEveryPhotoOnceAndResumes) {
    TempDir dir;
    dir.file("photos/b/two.jpg", "22");
    dir.file("photos/a.png", "1");
    dir.file("photos/b/three.gif", "333");
    dir.file("photos/skip.txt", "not a photo");
    FakeService service;
    server::batch::DetectJob job;
    job.inputs = {(dir.path() / "photos").string()};
    job.out = (dir.path() / "results.jsonl").string();
    job.mode = &mtcnn::find_mode("default");
    job.server_url = service.url();
    job.concurrency = 2;
    job.progress = false;
    job.max_faces = 1;
    job.api_key = "key-0123456789abcdef";
    EXPECT_EQ(server::batch::run_detect(job), 0);
    EXPECT_EQ(service.keys(), std::vector<std::string>(3, "key-0123456789abcdef"));
    const std::string first = read(job.out);
    const std::string p = (dir.path() / "photos").string();
    const auto line = [](const std::string& photo, int width) {
        return server::batch::faces_line(photo, json::array({{{"box", {0, 0, width, 1}}, {"confidence", 0.99}}}));
    };
    EXPECT_EQ(first, line(p + "/a.png", 1) + line(p + "/b/three.gif", 3) + line(p + "/b/two.jpg", 2));
    EXPECT_EQ(service.queries().size(), 3u);
    EXPECT_EQ(service.queries()[0], "mode=default&confidence=0.95&max_faces=1");

    EXPECT_EQ(server::batch::run_detect(job), 0);  // nothing left
    EXPECT_EQ(service.queries().size(), 3u);
    EXPECT_EQ(read(job.out), first);

    // A crash in the middle of the last line: that photo alone is posted again.
    dir.file("results.jsonl", first.substr(0, first.size() - 10));
    EXPECT_EQ(server::batch::run_detect(job), 0);
    EXPECT_EQ(service.queries().size(), 4u);
    EXPECT_EQ(service.bodies().back(), "22");
    EXPECT_EQ(read(job.out), first);
}

TEST(RunDetect, ARunStoppedByTheServiceKeepsWhatWasDoneInOrder) {
    TempDir dir;
    for (const char* name : {"1.jpg", "2.jpg", "3.jpg", "4.jpg"}) dir.file(std::string("p/") + name, name);
    FakeService service({200, 401});  // 200 scripted: an error body, then no photo is accepted
    server::batch::DetectJob job;
    job.inputs = {(dir.path() / "p").string()};
    job.out = (dir.path() / "r.jsonl").string();
    job.mode = &mtcnn::find_mode("default");
    job.server_url = service.url();
    job.concurrency = 1;
    job.progress = false;
    EXPECT_THROW(server::batch::run_detect(job), BatchError);
    const std::string kept = read(job.out);
    EXPECT_EQ(kept, server::batch::error_line((dir.path() / "p/1.jpg").string(),
                                              "the service answered 200 without a list of faces"));
}

TEST(JobParameters, WhatShapesTheLines) {
    server::batch::DetectJob job;
    job.mode = &mtcnn::find_mode("faithful");
    job.confidence = 0.7;
    EXPECT_EQ(server::batch::job_parameters(job),
              json::parse(R"({"mode": "faithful", "confidence": 0.7, "min_face_size": null, "max_faces": null})"));
    job.min_face = 24;
    job.max_faces = 3;
    job.server_url = "http://127.0.0.1:1";  // not a parameter of the lines
    EXPECT_EQ(server::batch::job_parameters(job),
              json::parse(R"({"mode": "faithful", "confidence": 0.7, "min_face_size": 24, "max_faces": 3})"));
}

// The record is written when nothing came before, checked when something
// did, and taken up when earlier output has none.
TEST(CheckParameters, WrittenCheckedOrTakenUp) {
    TempDir dir;
    const std::string record = (dir.path() / "r.jsonl.params.json").string();
    const json one = {{"mode", "default"}, {"confidence", 0.95}};
    const json other = {{"mode", "faithful"}, {"confidence", 0.95}};
    EXPECT_FALSE(server::batch::check_parameters(record, one, false));
    EXPECT_EQ(json::parse(read(record)), one);
    EXPECT_FALSE(fs::exists(record + ".part"));
    EXPECT_FALSE(server::batch::check_parameters(record, one, true));  // the same: resume
    try {
        server::batch::check_parameters(record, other, true);
        ADD_FAILURE() << "other parameters were taken";
    } catch (const BatchError& e) {
        EXPECT_NE(std::string(e.what()).find(R"(made with {"confidence":0.95,"mode":"default"}, this run asks for )"
                                             R"({"confidence":0.95,"mode":"faithful"})"),
                  std::string::npos)
            << e.what();
    }
    EXPECT_EQ(json::parse(read(record)), one);  // left as it was
    EXPECT_FALSE(server::batch::check_parameters(record, other, false));  // a fresh start replaces it
    EXPECT_EQ(json::parse(read(record)), other);

    fs::remove(record);
    EXPECT_TRUE(server::batch::check_parameters(record, one, true));  // earlier output without a record
    EXPECT_EQ(json::parse(read(record)), one);

    dir.file("r.jsonl.params.json", "not json");
    EXPECT_THROW(server::batch::check_parameters(record, one, true), BatchError);
}

// A results file is resumed only with the parameters that began it; the
// refused run writes nothing and posts nothing.
TEST(RunDetect, ResumingWithOtherParametersIsRefused) {
    TempDir dir;
    dir.file("p/1.jpg", "1");
    dir.file("p/2.jpg", "22");
    FakeService service;
    server::batch::DetectJob job;
    job.inputs = {(dir.path() / "p").string()};
    job.out = (dir.path() / "r.jsonl").string();
    job.mode = &mtcnn::find_mode("default");
    job.server_url = service.url();
    job.progress = false;
    EXPECT_EQ(server::batch::run_detect(job), 0);
    const std::string first = read(job.out);
    EXPECT_EQ(json::parse(read(job.out + ".params.json")), server::batch::job_parameters(job));

    dir.file("r.jsonl", first.substr(0, first.find('\n') + 1));  // the second photo still to do
    job.confidence = 0.5;
    EXPECT_THROW(server::batch::run_detect(job), BatchError);
    EXPECT_EQ(service.queries().size(), 2u);
    EXPECT_EQ(read(job.out), first.substr(0, first.find('\n') + 1));
    job.confidence = 0.95;
    EXPECT_EQ(server::batch::run_detect(job), 0);
    EXPECT_EQ(read(job.out), first);
}

TEST(RunDetect, ASecondRunAtOnceIsRefused) {
    TempDir dir;
    const std::string out = (dir.path() / "r.jsonl").string();
    FakeService service;
    server::batch::DetectJob job;
    job.inputs = {dir.file("a.jpg")};
    job.out = out;
    job.mode = &mtcnn::find_mode("default");
    job.server_url = service.url();
    job.progress = false;
    const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::flock(fd, LOCK_EX), 0);  // another run holds it
    EXPECT_THROW(server::batch::run_detect(job), BatchError);
    ::close(fd);
    EXPECT_EQ(server::batch::run_detect(job), 0);
}


TEST(AnonymizedPath, SameRelativePathPngAppendedForTheOthers) {
    EXPECT_EQ(server::batch::anonymized_path("out", "a/b.jpg"), "out/a/b.jpg");
    EXPECT_EQ(server::batch::anonymized_path("out", "a/b.JPEG"), "out/a/b.JPEG");
    EXPECT_EQ(server::batch::anonymized_path("out/", "c.png"), "out/c.png");
    EXPECT_EQ(server::batch::anonymized_path("out", "d.gif"), "out/d.gif.png");
    EXPECT_EQ(server::batch::anonymized_path("out", "e.BMP"), "out/e.BMP.png");
    EXPECT_EQ(server::batch::anonymized_path("out", "named"), "out/named.png");
}

TEST(AnonymizeQuery, DetectionParametersMethodAndTheOutputsFormat) {
    server::batch::AnonymizeJob job;
    job.detect.mode = &mtcnn::find_mode("default");
    job.detect.confidence = 0.9;
    EXPECT_EQ(server::batch::anonymize_query(job, "o/a.jpg"), "mode=default&confidence=0.9&method=gaussian&format=jpeg");
    job.method = "pixelate";
    job.strength = 0.25;
    job.detect.max_faces = 2;
    EXPECT_EQ(server::batch::anonymize_query(job, "o/a.gif.png"),
              "mode=default&confidence=0.9&max_faces=2&method=pixelate&strength=0.25&format=png");
}

// Through a fake /api/anonymize that answers the bytes reversed: each
// output under its relative path, whole (no .part left), and a run again
// posts nothing.
TEST(RunAnonymize, WritesEachPhotoOnceUnderItsPathAndResumes) {
    TempDir dir;
    dir.file("in/a.jpg", "abc");
    dir.file("in/sub/b.gif", "xyz");
    std::atomic<int> posts{0};
    server::http::ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.threads = 2;
    server::http::Server http(o);
    http.route("POST", "/api/anonymize", [&](const server::http::Request& r) {
        ++posts;
        server::http::Response out;
        out.content_type = "image/png";
        out.body = std::string(r.body.rbegin(), r.body.rend()) + "|" + r.query;
        return out;
    });
    http.listen();
    std::thread serving([&] { http.run(); });
    server::batch::AnonymizeJob job;
    job.detect.inputs = {(dir.path() / "in").string()};
    job.detect.mode = &mtcnn::find_mode("default");
    job.detect.server_url = "http://127.0.0.1:" + std::to_string(http.port());
    job.detect.progress = false;
    job.out_dir = (dir.path() / "out").string();
    EXPECT_EQ(server::batch::run_anonymize(job), 0);
    EXPECT_EQ(read((dir.path() / "out/a.jpg").string()), "cba|mode=default&confidence=0.95&method=gaussian&format=jpeg");
    EXPECT_EQ(read((dir.path() / "out/sub/b.gif.png").string()),
              "zyx|mode=default&confidence=0.95&method=gaussian&format=png");
    EXPECT_FALSE(fs::exists(dir.path() / "out/a.jpg.part"));
    EXPECT_EQ(posts.load(), 2);
    fs::remove(dir.path() / "out/sub/b.gif.png");
    dir.file("out/sub/b.gif.png.part", "a partial write");  // a run killed while writing it
    EXPECT_EQ(server::batch::run_anonymize(job), 0);
    EXPECT_EQ(posts.load(), 3);
    EXPECT_EQ(read((dir.path() / "out/sub/b.gif.png").string()),
              "zyx|mode=default&confidence=0.95&method=gaussian&format=png");
    EXPECT_FALSE(fs::exists(dir.path() / "out/sub/b.gif.png.part"));
    EXPECT_EQ(json::parse(read((dir.path() / "out/.face-service-anonymize.json").string())),
              json::parse(R"({"mode": "default", "confidence": 0.95, "min_face_size": null, "max_faces": null,
                              "method": "gaussian", "strength": 0.15})"));

    // Resuming with another method is refused before a photo is posted.
    fs::remove(dir.path() / "out/sub/b.gif.png");
    job.method = "pixelate";
    EXPECT_THROW(server::batch::run_anonymize(job), BatchError);
    EXPECT_EQ(posts.load(), 3);
    job.method = "gaussian";
    EXPECT_EQ(server::batch::run_anonymize(job), 0);
    EXPECT_EQ(posts.load(), 4);

    // An output folder inside the folder walked: its photos are not walked again.
    job.out_dir = (dir.path() / "in/blurred").string();
    EXPECT_EQ(server::batch::run_anonymize(job), 0);
    EXPECT_EQ(posts.load(), 6);
    EXPECT_EQ(server::batch::run_anonymize(job), 0);
    EXPECT_EQ(posts.load(), 6);
    EXPECT_FALSE(fs::exists(dir.path() / "in/blurred/blurred"));
    http.stop();
    serving.join();
}

}  // namespace
