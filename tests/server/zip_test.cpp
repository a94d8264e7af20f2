// The stored zip writer (server/zip.h): its records laid out as APPNOTE
// says, CRC-32s as zlib computes them, and the archive read back by
// Python's zipfile (its CRC check included; skipped without python3).
#include "server/zip.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace {

std::uint32_t le32(const std::string& s, std::size_t at) {
    return static_cast<std::uint8_t>(s[at]) | static_cast<std::uint8_t>(s[at + 1]) << 8 |
           static_cast<std::uint8_t>(s[at + 2]) << 16 | static_cast<std::uint32_t>(static_cast<std::uint8_t>(s[at + 3])) << 24;
}
std::uint16_t le16(const std::string& s, std::size_t at) {
    return static_cast<std::uint16_t>(static_cast<std::uint8_t>(s[at]) | static_cast<std::uint8_t>(s[at + 1]) << 8);
}

std::vector<std::uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }

TEST(Zip, EmptyArchiveIsTheEndRecordAlone) {
    server::ZipWriter zip;
    const std::string out = zip.finish();
    ASSERT_EQ(out.size(), 22u);
    EXPECT_EQ(le32(out, 0), 0x06054b50u);
    EXPECT_EQ(le16(out, 8), 0);  // entries
}

TEST(Zip, RecordsAsTheSpecificationSays) {
    server::ZipWriter zip;
    zip.add("a.txt", bytes("hello"));
    zip.add("b.bin", bytes(std::string("\x00\xff", 2)));
    const std::string out = zip.finish();
    // Local header of a.txt at 0: signature, stored, CRC-32 of "hello"
    // (0x3610a686, as zlib.crc32 gives), sizes, name, data.
    EXPECT_EQ(le32(out, 0), 0x04034b50u);
    EXPECT_EQ(le16(out, 8), 0);  // method: stored
    EXPECT_EQ(le32(out, 14), 0x3610a686u);
    EXPECT_EQ(le32(out, 18), 5u);
    EXPECT_EQ(le32(out, 22), 5u);
    EXPECT_EQ(le16(out, 26), 5);
    EXPECT_EQ(out.substr(30, 5), "a.txt");
    EXPECT_EQ(out.substr(35, 5), "hello");
    // The end record points at the central directory: two entries.
    const std::size_t end = out.size() - 22;
    EXPECT_EQ(le32(out, end), 0x06054b50u);
    EXPECT_EQ(le16(out, end + 8), 2);
    EXPECT_EQ(le16(out, end + 10), 2);
    const std::uint32_t dir = le32(out, end + 16);
    EXPECT_EQ(dir + le32(out, end + 12), end);
    EXPECT_EQ(le32(out, dir), 0x02014b50u);
    EXPECT_EQ(le32(out, dir + 42), 0u);  // a.txt's local header offset
    EXPECT_EQ(out.substr(dir + 46, 5), "a.txt");
    // Writing the same entries again gives the same bytes (fixed dates).
    server::ZipWriter again;
    again.add("a.txt", bytes("hello"));
    again.add("b.bin", bytes(std::string("\x00\xff", 2)));
    EXPECT_EQ(again.finish(), out);
}

TEST(Zip, RefusesEmptyNames) {
    server::ZipWriter zip;
    EXPECT_THROW(zip.add("", bytes("x")), std::invalid_argument);
}

TEST(Zip, PythonsZipfileReadsIt) {
    if (std::system("python3 -c 'import zipfile' >/dev/null 2>&1") != 0) GTEST_SKIP() << "no python3";
    std::mt19937 rng(9);
    server::ZipWriter zip;
    std::vector<std::vector<std::uint8_t>> contents;
    for (int i = 0; i < 5; ++i) {
        std::vector<std::uint8_t> data(static_cast<std::size_t>(i) * 1000 + 1);
        for (auto& b : data) b = static_cast<std::uint8_t>(rng());
        contents.push_back(data);
        zip.add("face-" + std::to_string(i + 1) + ".png", data);
    }
    const std::string archive = zip.finish();
    const auto dir = std::filesystem::temp_directory_path() / ("zip_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto path = dir / "t.zip";
    std::ofstream(path, std::ios::binary).write(archive.data(), static_cast<std::streamsize>(archive.size()));
    // zipfile checks each entry's CRC-32 as it reads it (testzip); the
    // script prints each name, size and sum of bytes.
    const std::string script =
        "import sys, zipfile\n"
        "z = zipfile.ZipFile(sys.argv[1])\n"
        "assert z.testzip() is None\n"
        "for i in z.infolist():\n"
        "    d = z.read(i.filename)\n"
        "    print(i.filename, i.compress_type, len(d), sum(d))\n";
    std::ofstream(dir / "read.py") << script;
    const std::string command = "python3 " + (dir / "read.py").string() + " " + path.string();
    FILE* pipe = ::popen(command.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::string output;
    char buffer[256];
    while (std::fgets(buffer, sizeof buffer, pipe)) output += buffer;
    const int status = ::pclose(pipe);
    std::filesystem::remove_all(dir);
    ASSERT_EQ(status, 0) << output;
    std::string expected;
    for (std::size_t i = 0; i < contents.size(); ++i) {
        long sum = 0;
        for (auto b : contents[i]) sum += b;
        expected += "face-" + std::to_string(i + 1) + ".png 0 " + std::to_string(contents[i].size()) + " " +
                    std::to_string(sum) + "\n";
    }
    EXPECT_EQ(output, expected);
}

}  // namespace
