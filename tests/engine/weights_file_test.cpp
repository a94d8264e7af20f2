// engine/weights_file: the format of weights/README.md, byte for byte; the
// committed weights; and one rejection test per validation rule, each
// tampering a valid file and re-sealing its checksum so that the rule under
// test, not the CRC, is what fires.
#include "engine/weights_file.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

namespace L = engine::weight_layout;
using engine::WeightFileError;
using engine::WeightTensor;

constexpr std::uint32_t kTestSeed = 20261128;  // fixed: the same data on every run
const std::string kSource = "test/label.bin";

std::vector<std::byte> as_bytes(std::string_view s) {
    std::vector<std::byte> out(s.size());
    std::memcpy(out.data(), s.data(), s.size());
    return out;
}

// Tensors of rank 1..4 with odd sizes (so gaps appear between them) and
// random values, including bit patterns that must survive exactly.
std::vector<WeightTensor> sample_tensors() {
    std::mt19937 rng(kTestSeed);
    std::uniform_real_distribution<float> value(-4.0f, 4.0f);
    std::vector<WeightTensor> tensors = {
        {"conv1/weights", {10, 3, 3, 3}, {}},
        {"conv1/biases", {10}, {}},
        {"prelu1/alpha", {7}, {}},
        {"conv4/weights", {5, 13}, {}},
        {"odd", {3, 1, 5}, {}},
    };
    for (WeightTensor& t : tensors) {
        std::size_t n = 1;
        for (int d : t.shape) n *= static_cast<std::size_t>(d);
        for (std::size_t i = 0; i < n; ++i) t.data.push_back(value(rng));
    }
    tensors[1].data[0] = -0.0f;
    tensors[1].data[1] = std::numeric_limits<float>::denorm_min();
    tensors[1].data[2] = std::numeric_limits<float>::infinity();
    return tensors;
}

std::uint32_t get_u32(const std::vector<std::byte>& b, std::size_t off) {
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < 4; ++i) v |= std::to_integer<std::uint32_t>(b.at(off + i)) << (8 * i);
    return v;
}
std::uint64_t get_u64(const std::vector<std::byte>& b, std::size_t off) {
    return get_u32(b, off) | (std::uint64_t{get_u32(b, off + 4)} << 32);
}
void set_u32(std::vector<std::byte>& b, std::size_t off, std::uint32_t v) {
    for (std::size_t i = 0; i < 4; ++i) b.at(off + i) = static_cast<std::byte>((v >> (8 * i)) & 0xFF);
}
void set_u64(std::vector<std::byte>& b, std::size_t off, std::uint64_t v) {
    set_u32(b, off, static_cast<std::uint32_t>(v));
    set_u32(b, off + 4, static_cast<std::uint32_t>(v >> 32));
}
void set_name(std::vector<std::byte>& b, std::size_t entry, const std::string& name) {
    const std::size_t at = L::kHeaderSize + entry * L::kEntrySize;
    for (std::size_t i = 0; i < L::kEntryNameSize; ++i) {
        b.at(at + i) = i < name.size() ? static_cast<std::byte>(name[i]) : std::byte{0};
    }
}
std::size_t entry_at(std::size_t entry, std::size_t field) { return L::kHeaderSize + entry * L::kEntrySize + field; }

// Makes the checksum valid again after tampering (the field reads as zero).
void reseal(std::vector<std::byte>& b) {
    set_u32(b, L::kChecksumOffset, 0);
    set_u32(b, L::kChecksumOffset, engine::crc32(b));
}

// The error message parsing `bytes` gives; a test failure if it parses.
std::string parse_error(const std::vector<std::byte>& bytes) {
    try {
        engine::parse_weight_file(bytes, kSource);
    } catch (const WeightFileError& e) {
        return e.what();
    }
    ADD_FAILURE() << "the file was accepted";
    return {};
}

void expect_rejected(const std::vector<std::byte>& bytes, const std::vector<std::string>& words) {
    const std::string message = parse_error(bytes);
    EXPECT_TRUE(message.starts_with(kSource + ": ")) << message;
    for (const std::string& w : words) EXPECT_NE(message.find(w), std::string::npos) << "'" << w << "' in: " << message;
}

class WeightFileTest : public ::testing::Test {
protected:
    std::vector<WeightTensor> tensors = sample_tensors();
    std::vector<std::byte> file = engine::serialize_weight_file("pnet", tensors);
};

TEST(Crc32, MatchesZlibCheckValue) {
    EXPECT_EQ(engine::crc32(as_bytes("123456789")), 0xCBF43926u);  // the CRC-32/ISO-HDLC check value
    EXPECT_EQ(engine::crc32({}), 0u);
    EXPECT_EQ(engine::crc32(as_bytes("The quick brown fox jumps over the lazy dog")), 0x414FA339u);
}

TEST_F(WeightFileTest, RoundTripKeepsNamesShapesAndBits) {
    const engine::WeightFile parsed = engine::parse_weight_file(file, kSource);
    EXPECT_EQ(parsed.network, "pnet");
    EXPECT_EQ(parsed.source, kSource);
    ASSERT_EQ(parsed.tensors.size(), tensors.size());
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        EXPECT_EQ(parsed.tensors[i].name, tensors[i].name);
        EXPECT_EQ(parsed.tensors[i].shape, tensors[i].shape);
        ASSERT_EQ(parsed.tensors[i].data.size(), tensors[i].data.size());
        for (std::size_t k = 0; k < tensors[i].data.size(); ++k) {
            ASSERT_EQ(std::bit_cast<std::uint32_t>(parsed.tensors[i].data[k]),
                      std::bit_cast<std::uint32_t>(tensors[i].data[k]))
                << tensors[i].name << "[" << k << "]";
        }
    }
    EXPECT_EQ(&parsed.get("odd"), &parsed.tensors[4]);
    EXPECT_EQ(engine::serialize_weight_file(parsed.network, parsed.tensors), file);  // deterministic
}

TEST_F(WeightFileTest, LayoutFollowsTheReadme) {
    ASSERT_GE(file.size(), L::kHeaderSize);
    EXPECT_EQ(std::memcmp(file.data(), "FSWEIGHT", 8), 0);
    EXPECT_EQ(get_u32(file, L::kVersionOffset), 1u);
    EXPECT_EQ(get_u32(file, L::kCountOffset), tensors.size());
    EXPECT_EQ(get_u64(file, L::kFileSizeOffset), file.size());
    EXPECT_EQ(get_u32(file, L::kHeaderReservedOffset), 0u);
    std::vector<std::byte> zeroed = file;
    set_u32(zeroed, L::kChecksumOffset, 0);
    EXPECT_EQ(get_u32(file, L::kChecksumOffset), engine::crc32(zeroed));
    EXPECT_EQ(std::memcmp(file.data() + L::kNetworkOffset, "pnet\0\0\0\0", 8), 0);

    // Data: 64-aligned, in table order, minimal zero gaps, nothing after.
    std::size_t end = L::kHeaderSize + tensors.size() * L::kEntrySize;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        const std::uint64_t offset = get_u64(file, entry_at(i, L::kEntryDataOffset));
        EXPECT_EQ(offset % 64, 0u);
        EXPECT_EQ(offset, (end + 63) / 64 * 64) << tensors[i].name;
        for (std::size_t g = end; g < offset; ++g) EXPECT_EQ(file[g], std::byte{0});
        EXPECT_EQ(get_u32(file, entry_at(i, L::kEntryRankOffset)), tensors[i].shape.size());
        EXPECT_EQ(get_u64(file, entry_at(i, L::kEntryCountOffset)), tensors[i].data.size());
        EXPECT_EQ(get_u32(file, entry_at(i, L::kEntryDimsOffset)), static_cast<std::uint32_t>(tensors[i].shape[0]));
        // The first value, little-endian.
        EXPECT_EQ(get_u32(file, static_cast<std::size_t>(offset)), std::bit_cast<std::uint32_t>(tensors[i].data[0]));
        end = static_cast<std::size_t>(offset) + tensors[i].data.size() * 4;
    }
    EXPECT_EQ(end, file.size());
}

// --- the committed weights ---------------------------------------------------

using Expected = std::vector<std::pair<std::string, std::vector<int>>>;

void expect_weights(const std::string& network, const Expected& expected) {
    const std::string path = std::string(FACE_SOURCE_DIR) + "/weights/" + network + ".bin";
    const engine::WeightFile w = engine::read_weight_file(path);
    EXPECT_EQ(w.network, network);
    EXPECT_EQ(w.source, path);
    ASSERT_EQ(w.tensors.size(), expected.size()) << path;
    for (std::size_t i = 0; i < expected.size(); ++i) {
        EXPECT_EQ(w.tensors[i].name, expected[i].first) << path;
        EXPECT_EQ(w.tensors[i].shape, expected[i].second) << path << " " << expected[i].first;
        for (float v : w.tensors[i].data) ASSERT_TRUE(std::isfinite(v)) << path << " " << expected[i].first;
    }
}

TEST(CommittedWeights, PnetHasTheDocumentedTensors) {
    expect_weights("pnet", {
        {"conv1/biases", {10}}, {"conv1/weights", {10, 3, 3, 3}},
        {"conv2/biases", {16}}, {"conv2/weights", {16, 3, 3, 10}},
        {"conv3/biases", {32}}, {"conv3/weights", {32, 3, 3, 16}},
        {"conv4-1/biases", {2}}, {"conv4-1/weights", {2, 1, 1, 32}},
        {"conv4-2/biases", {4}}, {"conv4-2/weights", {4, 1, 1, 32}},
        {"prelu1/alpha", {10}}, {"prelu2/alpha", {16}}, {"prelu3/alpha", {32}},
    });
}

TEST(CommittedWeights, RnetHasTheDocumentedTensors) {
    expect_weights("rnet", {
        {"conv1/biases", {28}}, {"conv1/weights", {28, 3, 3, 3}},
        {"conv2/biases", {48}}, {"conv2/weights", {48, 3, 3, 28}},
        {"conv3/biases", {64}}, {"conv3/weights", {64, 2, 2, 48}},
        {"conv4/biases", {128}}, {"conv4/weights", {128, 576}},
        {"conv5-1/biases", {2}}, {"conv5-1/weights", {2, 128}},
        {"conv5-2/biases", {4}}, {"conv5-2/weights", {4, 128}},
        {"prelu1/alpha", {28}}, {"prelu2/alpha", {48}}, {"prelu3/alpha", {64}}, {"prelu4/alpha", {128}},
    });
}

TEST(CommittedWeights, OnetHasTheDocumentedTensors) {
    expect_weights("onet", {
        {"conv1/biases", {32}}, {"conv1/weights", {32, 3, 3, 3}},
        {"conv2/biases", {64}}, {"conv2/weights", {64, 3, 3, 32}},
        {"conv3/biases", {64}}, {"conv3/weights", {64, 3, 3, 64}},
        {"conv4/biases", {128}}, {"conv4/weights", {128, 2, 2, 64}},
        {"conv5/biases", {256}}, {"conv5/weights", {256, 1152}},
        {"conv6-1/biases", {2}}, {"conv6-1/weights", {2, 256}},
        {"conv6-2/biases", {4}}, {"conv6-2/weights", {4, 256}},
        {"conv6-3/biases", {10}}, {"conv6-3/weights", {10, 256}},
        {"prelu1/alpha", {32}}, {"prelu2/alpha", {64}}, {"prelu3/alpha", {64}}, {"prelu4/alpha", {128}},
        {"prelu5/alpha", {256}},
    });
}

TEST(CommittedWeights, GetNamesTheFileAndTheMissingTensor) {
    const std::string path = std::string(FACE_SOURCE_DIR) + "/weights/pnet.bin";
    const engine::WeightFile w = engine::read_weight_file(path);
    EXPECT_EQ(w.get("conv1/weights").shape, (std::vector<int>{10, 3, 3, 3}));
    try {
        w.get("conv9/weights");
        FAIL() << "no error for a missing tensor";
    } catch (const WeightFileError& e) {
        const std::string message = e.what();
        EXPECT_TRUE(message.starts_with(path)) << message;
        EXPECT_NE(message.find("conv9/weights"), std::string::npos) << message;
    }
}

// --- rejections ----------------------------------------------------------------

TEST_F(WeightFileTest, RejectsAnEmptyFile) { expect_rejected({}, {"empty"}); }

TEST_F(WeightFileTest, RejectsEveryTruncation) {
    for (std::size_t size = 0; size < file.size(); ++size) {
        const std::vector<std::byte> cut(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(size));
        const std::string message = parse_error(cut);
        ASSERT_TRUE(message.starts_with(kSource + ": ")) << "size " << size << ": " << message;
        ASSERT_TRUE(message.find("truncated") != std::string::npos || message.find("empty") != std::string::npos)
            << "size " << size << ": " << message;
    }
}

TEST_F(WeightFileTest, RejectsAWrongMagic) {
    file[3] = std::byte{'X'};
    reseal(file);
    expect_rejected(file, {"magic"});
}

TEST_F(WeightFileTest, RejectsAFlippedDataByte) {
    const std::size_t data = static_cast<std::size_t>(get_u64(file, entry_at(2, L::kEntryDataOffset)));
    file[data + 1] ^= std::byte{0x10};
    expect_rejected(file, {"checksum"});
}

TEST_F(WeightFileTest, RejectsAFlippedTableByte) {
    file[entry_at(0, 2)] ^= std::byte{0x01};  // inside the first name
    expect_rejected(file, {"checksum"});
}

TEST_F(WeightFileTest, RejectsAnotherVersion) {
    set_u32(file, L::kVersionOffset, 2);
    reseal(file);
    expect_rejected(file, {"version 2"});
}

TEST_F(WeightFileTest, RejectsATensorCountOutOfRange) {
    for (std::uint32_t count : {0u, 257u}) {
        set_u32(file, L::kCountOffset, count);
        reseal(file);
        expect_rejected(file, {"tensor count " + std::to_string(count)});
    }
}

TEST_F(WeightFileTest, RejectsADeclaredSizeThatDiffers) {
    std::vector<std::byte> longer = file;
    longer.resize(file.size() + 64, std::byte{0});
    expect_rejected(longer, {"size", std::to_string(file.size())});  // header declares the old size
}

TEST_F(WeightFileTest, RejectsBytesAfterTheLastTensor) {
    file.resize(file.size() + 64, std::byte{0});
    set_u64(file, L::kFileSizeOffset, file.size());
    reseal(file);
    expect_rejected(file, {"after the last tensor"});
}

TEST_F(WeightFileTest, RejectsATableLongerThanTheFile) {
    // 200 entries need 64 + 200 * 128 bytes, more than this file has.
    set_u32(file, L::kCountOffset, 200);
    reseal(file);
    expect_rejected(file, {"truncated", "table"});
}

TEST_F(WeightFileTest, RejectsAnOffsetOutOfRange) {
    const std::size_t last = tensors.size() - 1;
    set_u64(file, entry_at(last, L::kEntryDataOffset), get_u64(file, entry_at(last, L::kEntryDataOffset)) + 64);
    reseal(file);
    expect_rejected(file, {"tensor 'odd'", "out of range"});
}

TEST_F(WeightFileTest, RejectsAHugeOffset) {
    set_u64(file, entry_at(1, L::kEntryDataOffset), 0xFFFFFFFFFFFFFFC0ull);  // aligned; offset + size overflows
    reseal(file);
    expect_rejected(file, {"tensor 'conv1/biases'", "out of range"});
}

TEST_F(WeightFileTest, RejectsAMisalignedOffset) {
    set_u64(file, entry_at(1, L::kEntryDataOffset), get_u64(file, entry_at(1, L::kEntryDataOffset)) + 4);
    reseal(file);
    expect_rejected(file, {"tensor 'conv1/biases'", "misaligned"});
}

TEST_F(WeightFileTest, RejectsDataOverlappingTheTable) {
    set_u64(file, entry_at(0, L::kEntryDataOffset), L::kHeaderSize);
    reseal(file);
    expect_rejected(file, {"tensor 'conv1/weights'", "overlaps the header and table"});
}

TEST_F(WeightFileTest, RejectsOverlappingTensors) {
    set_u64(file, entry_at(1, L::kEntryDataOffset), get_u64(file, entry_at(0, L::kEntryDataOffset)));
    reseal(file);
    expect_rejected(file, {"tensor 'conv1/biases'", "overlaps the previous tensor"});
}

TEST_F(WeightFileTest, RejectsNonZeroPadding) {
    // conv1/weights holds 270 floats (1080 bytes): its data is followed by a gap.
    const std::size_t end = static_cast<std::size_t>(get_u64(file, entry_at(0, L::kEntryDataOffset))) + 1080;
    ASSERT_NE(end % 64, 0u);
    file[end] = std::byte{1};
    reseal(file);
    expect_rejected(file, {"tensor 'conv1/biases'", "padding"});
}

TEST_F(WeightFileTest, RejectsACountThatDoesNotMatchTheDims) {
    set_u64(file, entry_at(2, L::kEntryCountOffset), 8);  // prelu1/alpha has dims [7]
    reseal(file);
    expect_rejected(file, {"tensor 'prelu1/alpha'", "element count 8", "product of the dims (7)"});
}

TEST_F(WeightFileTest, RejectsDimsThatDoNotMatchTheCount) {
    set_u32(file, entry_at(3, L::kEntryDimsOffset + 4), 12);  // conv4/weights [5, 13] -> [5, 12]
    reseal(file);
    expect_rejected(file, {"tensor 'conv4/weights'", "element count 65", "(60)"});
}

TEST_F(WeightFileTest, RejectsAZeroDim) {
    set_u32(file, entry_at(3, L::kEntryDimsOffset), 0);
    reseal(file);
    expect_rejected(file, {"tensor 'conv4/weights'", "dim 0 is 0"});
}

TEST_F(WeightFileTest, RejectsANonZeroUnusedDim) {
    set_u32(file, entry_at(3, L::kEntryDimsOffset + 8), 1);  // rank 2: dims[2] must be 0
    reseal(file);
    expect_rejected(file, {"tensor 'conv4/weights'", "unused dim 2"});
}

TEST_F(WeightFileTest, RejectsARankOutOfRange) {
    for (std::uint32_t rank : {0u, 5u}) {
        set_u32(file, entry_at(1, L::kEntryRankOffset), rank);
        reseal(file);
        expect_rejected(file, {"tensor 'conv1/biases'", "rank " + std::to_string(rank)});
    }
}

TEST_F(WeightFileTest, RejectsDimsWhoseProductOverflows) {
    set_u32(file, entry_at(0, L::kEntryDimsOffset + 0), 0x7FFFFFFF);
    set_u32(file, entry_at(0, L::kEntryDimsOffset + 4), 0x7FFFFFFF);
    set_u32(file, entry_at(0, L::kEntryDimsOffset + 8), 0x7FFFFFFF);
    reseal(file);
    expect_rejected(file, {"tensor 'conv1/weights'", "overflow"});
}

TEST_F(WeightFileTest, RejectsDuplicateNames) {
    set_name(file, 3, "conv1/biases");
    reseal(file);
    expect_rejected(file, {"tensor 'conv1/biases' (table entry 3)", "duplicate", "entry 1"});
}

TEST_F(WeightFileTest, RejectsANameWithoutNul) {
    set_name(file, 2, std::string(L::kEntryNameSize, 'a'));
    reseal(file);
    expect_rejected(file, {"table entry 2", "NUL"});
}

TEST_F(WeightFileTest, RejectsAnEmptyName) {
    set_name(file, 2, "");
    reseal(file);
    expect_rejected(file, {"table entry 2", "empty"});
}

TEST_F(WeightFileTest, RejectsGarbageAfterANameNul) {
    file[entry_at(2, 20)] = std::byte{'x'};  // "prelu1/alpha" is 12 chars
    reseal(file);
    expect_rejected(file, {"table entry 2", "after its terminating NUL"});
}

TEST_F(WeightFileTest, RejectsNonZeroReservedFields) {
    std::vector<std::byte> header = file;
    set_u32(header, L::kHeaderReservedOffset, 1);
    reseal(header);
    expect_rejected(header, {"reserved"});

    std::vector<std::byte> entry = file;
    set_u64(entry, entry_at(4, L::kEntryReserved2Offset), 1);
    reseal(entry);
    expect_rejected(entry, {"tensor 'odd'", "reserved"});
}

TEST(ReadWeightFile, NamesAPathItCannotOpen) {
    const std::string path = "/nonexistent/dir/pnet.bin";
    try {
        engine::read_weight_file(path);
        FAIL() << "no error";
    } catch (const WeightFileError& e) {
        const std::string message = e.what();
        EXPECT_TRUE(message.starts_with(path + ": ")) << message;
        EXPECT_NE(message.find("cannot open"), std::string::npos) << message;
    }
}

TEST(SerializeWeightFile, RejectsWhatItCouldNotWrite) {
    const auto fails = [](const std::string& network, std::vector<WeightTensor> t, const std::string& word) {
        try {
            engine::serialize_weight_file(network, t);
            ADD_FAILURE() << "accepted: " << word;
        } catch (const WeightFileError& e) {
            EXPECT_NE(std::string(e.what()).find(word), std::string::npos) << e.what();
        }
    };
    fails("pnet", {}, "tensor count 0");
    fails("pnet", {{"a", {2}, {1.0f}}}, "1 values for a shape of 2");
    fails("pnet", {{"a", {1}, {1.0f}}, {"a", {1}, {2.0f}}}, "duplicate");
    fails("pnet", {{std::string(80, 'n'), {1}, {1.0f}}}, "1..79");
    fails("pnet", {{"a", {1, 1, 1, 1, 1}, {1.0f}}}, "rank 5");
    fails("pnet", {{"a", {0}, {}}}, "not positive");
    fails("", {{"a", {1}, {1.0f}}}, "network name");
    fails("p net", {{"a", {1}, {1.0f}}}, "network name");
}

}  // namespace
