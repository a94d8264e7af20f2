// tools/tflite: the reader on a tiny model built by hand (so the test needs
// no downloaded file), then on every truncation, on corrupted copies and on
// garbage, where it must throw TfliteError and never read out of bounds (run
// under AddressSanitizer to make "never" checkable). Each parse gets its own
// exactly-sized buffer so that an over-read is an ASan error, not a read of
// the rest of a larger buffer.
#include "tools/tflite.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <typeinfo>
#include <vector>

namespace {

using tools::BuiltinOp;
using tools::Padding;
using tools::TfliteError;

constexpr std::uint32_t kTestSeed = 20261128;  // fixed: the same corruptions on every run

// A FlatBuffer writer for tests. It lays objects out parent first, so every
// reference (an unsigned forward offset) is patched once its target exists.
class Builder {
public:
    struct Field {
        int index;
        std::vector<std::uint8_t> value;  // little-endian scalar, or 4 bytes for a reference
        bool ref = false;
    };
    static Field u8(int index, std::uint8_t v) { return {index, {v}}; }
    static Field i32(int index, std::int32_t v) {
        const auto u = static_cast<std::uint32_t>(v);
        return {index, {static_cast<std::uint8_t>(u), static_cast<std::uint8_t>(u >> 8),
                        static_cast<std::uint8_t>(u >> 16), static_cast<std::uint8_t>(u >> 24)}};
    }
    static Field ref(int index) { return {index, {0, 0, 0, 0}, true}; }

    Builder() {
        put_u32(0);  // root reference, patched by finish()
        for (char c : std::string("TFL3")) buf_.push_back(static_cast<std::uint8_t>(c));
    }

    // Writes vtable then table; returns the table position and, per
    // reference field index, the position to patch.
    std::size_t table(const std::vector<Field>& fields, std::map<int, std::size_t>* refs = nullptr) {
        int max_index = -1;
        for (const Field& f : fields) max_index = std::max(max_index, f.index);
        std::vector<std::uint16_t> slots(static_cast<std::size_t>(max_index + 1), 0);
        std::size_t table_size = 4;  // the soffset
        std::vector<std::size_t> field_offsets;
        for (const Field& f : fields) {
            table_size = (table_size + 3) / 4 * 4;
            field_offsets.push_back(table_size);
            slots[static_cast<std::size_t>(f.index)] = static_cast<std::uint16_t>(table_size);
            table_size += f.value.size();
        }
        align(4);
        const std::size_t vtable = buf_.size();
        put_u16(static_cast<std::uint16_t>(4 + 2 * slots.size()));
        put_u16(static_cast<std::uint16_t>(table_size));
        for (std::uint16_t s : slots) put_u16(s);
        align(4);
        const std::size_t table = buf_.size();
        put_u32(static_cast<std::uint32_t>(table - vtable));  // soffset: vtable = table - soffset
        buf_.resize(table + table_size, 0);
        for (std::size_t i = 0; i < fields.size(); ++i) {
            std::memcpy(buf_.data() + table + field_offsets[i], fields[i].value.data(), fields[i].value.size());
            if (fields[i].ref && refs) (*refs)[fields[i].index] = table + field_offsets[i];
        }
        return table;
    }

    std::size_t ints(const std::vector<std::int32_t>& v) {
        align(4);
        const std::size_t at = buf_.size();
        put_u32(static_cast<std::uint32_t>(v.size()));
        for (std::int32_t x : v) put_u32(static_cast<std::uint32_t>(x));
        return at;
    }
    std::size_t bytes(const std::vector<std::uint8_t>& v) {
        align(4);
        const std::size_t at = buf_.size();
        put_u32(static_cast<std::uint32_t>(v.size()));
        buf_.insert(buf_.end(), v.begin(), v.end());
        return at;
    }
    std::size_t string(const std::string& s) {
        const std::size_t at = bytes(std::vector<std::uint8_t>(s.begin(), s.end()));
        buf_.push_back(0);  // FlatBuffers strings carry a NUL the reader does not need
        return at;
    }
    // A vector of `n` references; returns the slot positions to patch.
    std::vector<std::size_t> refs(std::size_t n, std::size_t* at) {
        align(4);
        *at = buf_.size();
        put_u32(static_cast<std::uint32_t>(n));
        std::vector<std::size_t> slots;
        for (std::size_t i = 0; i < n; ++i) {
            slots.push_back(buf_.size());
            put_u32(0);
        }
        return slots;
    }
    void patch(std::size_t slot, std::size_t target) {
        ASSERT_GT(target, slot);
        const auto rel = static_cast<std::uint32_t>(target - slot);
        for (int i = 0; i < 4; ++i) buf_[slot + i] = static_cast<std::uint8_t>(rel >> (8 * i));
    }
    std::vector<std::byte> finish(std::size_t root) {
        patch(0, root);
        std::vector<std::byte> out(buf_.size());
        std::memcpy(out.data(), buf_.data(), buf_.size());
        return out;
    }

private:
    void align(std::size_t a) {
        while (buf_.size() % a) buf_.push_back(0);
    }
    void put_u16(std::uint16_t v) {
        buf_.push_back(static_cast<std::uint8_t>(v));
        buf_.push_back(static_cast<std::uint8_t>(v >> 8));
    }
    void put_u32(std::uint32_t v) {
        for (int i = 0; i < 4; ++i) buf_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    }
    std::vector<std::uint8_t> buf_;
};

std::vector<std::uint8_t> float_bytes(float f) {
    std::uint32_t u = 0;
    std::memcpy(&u, &f, 4);
    return {static_cast<std::uint8_t>(u), static_cast<std::uint8_t>(u >> 8), static_cast<std::uint8_t>(u >> 16),
            static_cast<std::uint8_t>(u >> 24)};
}

// Knobs for building invalid variants of the tiny model.
struct TinyModel {
    std::int32_t conv_input = 0;        // tensor index of the conv's first input
    std::uint32_t pool_opcode = 1;      // opcode index of the max-pool
    std::uint32_t bias_buffer = 2;      // buffer index of the bias tensor
    std::uint8_t pool_options_tag = 5;  // Pool2DOptions
};

// A model of 5 tensors and 2 operators:
//   conv = CONV_2D(input, weights, bias) VALID 1x1; pool = MAX_POOL_2D(conv) 2x2/2 SAME.
// Operator codes: CONV_2D (deprecated field only), MAX_POOL_2D, and GELU
// (150, in the int32 field with the deprecated one at its 127 placeholder).
// Ends with an int vector that the reader reads, so every truncation cuts
// something it needs.
std::vector<std::byte> build_tiny(const TinyModel& m = {}) {
    Builder b;
    std::map<int, std::size_t> model_refs;
    const std::size_t model = b.table({Builder::i32(0, 3), Builder::ref(1), Builder::ref(2), Builder::ref(3),
                                       Builder::ref(4)},
                                      &model_refs);
    b.patch(model_refs[3], b.string("tiny test model"));

    // operator_codes
    std::size_t codes_at = 0;
    const auto code_slots = b.refs(3, &codes_at);
    b.patch(model_refs[1], codes_at);
    b.patch(code_slots[0], b.table({Builder::u8(0, 3)}));
    b.patch(code_slots[1], b.table({Builder::u8(0, 17), Builder::i32(2, 1), Builder::i32(3, 17)}));
    b.patch(code_slots[2], b.table({Builder::u8(0, 127), Builder::i32(3, 150)}));

    // buffers: 0 empty sentinel, 1 weights (one float), 2 bias (one float)
    std::size_t buffers_at = 0;
    const auto buffer_slots = b.refs(3, &buffers_at);
    b.patch(model_refs[4], buffers_at);
    b.patch(buffer_slots[0], b.table({}));
    std::map<int, std::size_t> r1, r2;
    b.patch(buffer_slots[1], b.table({Builder::ref(0)}, &r1));
    b.patch(r1[0], b.bytes(float_bytes(0.5f)));
    b.patch(buffer_slots[2], b.table({Builder::ref(0)}, &r2));
    b.patch(r2[0], b.bytes(float_bytes(-0.25f)));

    // subgraphs: one
    std::size_t subgraphs_at = 0;
    const auto subgraph_slots = b.refs(1, &subgraphs_at);
    b.patch(model_refs[2], subgraphs_at);
    std::map<int, std::size_t> sg;
    b.patch(subgraph_slots[0],
            b.table({Builder::ref(0), Builder::ref(1), Builder::ref(2), Builder::ref(3), Builder::ref(4)}, &sg));
    b.patch(sg[4], b.string("main"));

    struct T {
        std::string name;
        std::vector<std::int32_t> shape;
        std::uint32_t buffer;
    };
    const std::vector<T> tensors = {{"input", {1, 2, 2, 1}, 0},
                                    {"weights", {1, 1, 1, 1}, 1},
                                    {"bias", {1}, m.bias_buffer},
                                    {"conv", {1, 2, 2, 1}, 0},
                                    {"pool", {1, 1, 1, 1}, 0}};
    std::size_t tensors_at = 0;
    const auto tensor_slots = b.refs(tensors.size(), &tensors_at);
    b.patch(sg[0], tensors_at);
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        std::map<int, std::size_t> tr;
        // type FLOAT32 (0) left to its default; buffer 0 written explicitly.
        b.patch(tensor_slots[i], b.table({Builder::ref(0), Builder::i32(2, static_cast<std::int32_t>(tensors[i].buffer)),
                                          Builder::ref(3)},
                                         &tr));
        b.patch(tr[0], b.ints(tensors[i].shape));
        b.patch(tr[3], b.string(tensors[i].name));
    }

    std::size_t ops_at = 0;
    const auto op_slots = b.refs(2, &ops_at);
    b.patch(sg[3], ops_at);
    std::map<int, std::size_t> conv;
    b.patch(op_slots[0], b.table({Builder::i32(0, 0), Builder::ref(1), Builder::ref(2), Builder::u8(3, 1),
                                  Builder::ref(4)},
                                 &conv));
    b.patch(conv[1], b.ints({m.conv_input, 1, 2}));
    b.patch(conv[2], b.ints({3}));
    // Conv2DOptions: padding VALID, stride 1x1, dilation left to default.
    b.patch(conv[4], b.table({Builder::u8(0, 1), Builder::i32(1, 1), Builder::i32(2, 1)}));
    std::map<int, std::size_t> pool;
    b.patch(op_slots[1], b.table({Builder::i32(0, static_cast<std::int32_t>(m.pool_opcode)), Builder::ref(1),
                                  Builder::ref(2), Builder::u8(3, m.pool_options_tag), Builder::ref(4)},
                                 &pool));
    b.patch(pool[1], b.ints({3}));
    b.patch(pool[2], b.ints({4}));
    // Pool2DOptions: padding SAME (absent: the default), stride 2x2, filter 2x2.
    b.patch(pool[4], b.table({Builder::i32(1, 2), Builder::i32(2, 2), Builder::i32(3, 2), Builder::i32(4, 2)}));

    b.patch(sg[1], b.ints({0}));
    b.patch(sg[2], b.ints({4}));  // last: a vector the reader reads in full
    return b.finish(model);
}

// Parses a copy of `bytes` in a buffer of exactly that size.
tools::Model parse_copy(const std::vector<std::byte>& bytes) {
    const std::vector<std::byte> exact(bytes);
    return tools::parse_model(exact);
}

std::string error_of(const std::vector<std::byte>& bytes) {
    try {
        parse_copy(bytes);
    } catch (const TfliteError& e) {
        return e.what();
    }
    ADD_FAILURE() << "accepted";
    return {};
}

float as_float(std::span<const std::byte> data) {
    float f = 0;
    std::memcpy(&f, data.data(), sizeof f);
    return f;
}

TEST(Tflite, ReadsAHandBuiltModel) {
    const std::vector<std::byte> bytes = build_tiny();
    const tools::Model model = tools::parse_model(bytes);
    EXPECT_EQ(model.version, 3u);
    EXPECT_EQ(model.description, "tiny test model");
    ASSERT_EQ(model.subgraphs.size(), 1u);
    const tools::Subgraph& g = model.subgraphs[0];
    EXPECT_EQ(g.name, "main");
    EXPECT_EQ(g.inputs, (std::vector<std::int32_t>{0}));
    EXPECT_EQ(g.outputs, (std::vector<std::int32_t>{4}));

    ASSERT_EQ(g.tensors.size(), 5u);
    EXPECT_EQ(g.tensors[0].name, "input");
    EXPECT_EQ(g.tensors[0].shape, (std::vector<std::int32_t>{1, 2, 2, 1}));
    EXPECT_EQ(g.tensors[0].type, tools::TensorType::kFloat32);
    EXPECT_TRUE(g.tensors[0].data.empty());
    EXPECT_EQ(g.tensors[1].name, "weights");
    ASSERT_EQ(g.tensors[1].data.size(), 4u);
    EXPECT_EQ(as_float(g.tensors[1].data), 0.5f);
    EXPECT_EQ(g.tensors[2].buffer, 2u);
    ASSERT_EQ(g.tensors[2].data.size(), 4u);
    EXPECT_EQ(as_float(g.tensors[2].data), -0.25f);
    // Data are views into the input.
    EXPECT_GE(g.tensors[1].data.data(), bytes.data());
    EXPECT_LE(g.tensors[1].data.data() + 4, bytes.data() + bytes.size());

    ASSERT_EQ(g.operators.size(), 2u);
    const tools::Operator& conv = g.operators[0];
    EXPECT_EQ(conv.builtin_code, static_cast<std::int32_t>(BuiltinOp::kConv2d));
    EXPECT_EQ(conv.inputs, (std::vector<std::int32_t>{0, 1, 2}));
    EXPECT_EQ(conv.outputs, (std::vector<std::int32_t>{3}));
    ASSERT_TRUE(conv.conv2d.has_value());
    EXPECT_EQ(conv.conv2d->padding, Padding::kValid);
    EXPECT_EQ(conv.conv2d->stride_w, 1);
    EXPECT_EQ(conv.conv2d->stride_h, 1);
    EXPECT_EQ(conv.conv2d->dilation_w, 1);  // schema default
    EXPECT_EQ(conv.conv2d->fused_activation, tools::kActivationNone);
    EXPECT_FALSE(conv.pool2d.has_value());

    const tools::Operator& pool = g.operators[1];
    EXPECT_EQ(pool.builtin_code, static_cast<std::int32_t>(BuiltinOp::kMaxPool2d));
    ASSERT_TRUE(pool.pool2d.has_value());
    EXPECT_EQ(pool.pool2d->padding, Padding::kSame);  // absent field: schema default
    EXPECT_EQ(pool.pool2d->stride_w, 2);
    EXPECT_EQ(pool.pool2d->filter_h, 2);
}

TEST(Tflite, ResolvesExtendedBuiltinCodes) {
    // Operator code 2 (GELU = 150) is referenced by no operator here; point the
    // pool at it to see the int32 field win over the deprecated placeholder.
    TinyModel m;
    m.pool_opcode = 2;
    m.pool_options_tag = 0;  // untagged options on a non-layer operator are ignored
    const tools::Model model = parse_copy(build_tiny(m));
    EXPECT_EQ(model.subgraphs[0].operators[1].builtin_code, 150);
    EXPECT_EQ(tools::builtin_op_name(150), "op 150");
}

TEST(Tflite, RejectsEmptyAndTinyBuffers) {
    EXPECT_NE(error_of({}).find("too small"), std::string::npos);
    EXPECT_NE(error_of(std::vector<std::byte>(7)).find("too small"), std::string::npos);
}

TEST(Tflite, RejectsAMissingIdentifier) {
    std::vector<std::byte> bytes = build_tiny();
    bytes[5] = std::byte{'X'};
    EXPECT_NE(error_of(bytes).find("TFL3"), std::string::npos);
}

TEST(Tflite, RejectsARootOffsetOutsideTheBuffer) {
    std::vector<std::byte> bytes = build_tiny();
    bytes[3] = std::byte{0x7F};
    EXPECT_NE(error_of(bytes).find("outside"), std::string::npos);
}

TEST(Tflite, RejectsEveryTruncation) {
    const std::vector<std::byte> bytes = build_tiny();
    for (std::size_t size = 0; size < bytes.size(); ++size) {
        const std::vector<std::byte> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(size));
        EXPECT_THROW(tools::parse_model(cut), TfliteError) << "truncated to " << size << " of " << bytes.size();
    }
}

TEST(Tflite, RejectsATensorIndexOutOfRange) {
    TinyModel m;
    m.conv_input = 5;
    const std::string message = error_of(build_tiny(m));
    EXPECT_NE(message.find("tensor index 5 is out of range"), std::string::npos) << message;
    m.conv_input = -2;  // only -1 marks an absent input
    EXPECT_NE(error_of(build_tiny(m)).find("tensor index -2"), std::string::npos);
    m.conv_input = -1;
    EXPECT_EQ(parse_copy(build_tiny(m)).subgraphs[0].operators[0].inputs[0], -1);
}

TEST(Tflite, RejectsAnOpcodeIndexOutOfRange) {
    TinyModel m;
    m.pool_opcode = 3;
    EXPECT_NE(error_of(build_tiny(m)).find("opcode index 3"), std::string::npos);
}

TEST(Tflite, RejectsABufferIndexOutOfRange) {
    TinyModel m;
    m.bias_buffer = 9;
    const std::string message = error_of(build_tiny(m));
    EXPECT_NE(message.find("buffer index 9"), std::string::npos) << message;
    EXPECT_NE(message.find("'bias'"), std::string::npos) << message;
}

TEST(Tflite, RejectsOptionsOfTheWrongType) {
    TinyModel m;
    m.pool_options_tag = 1;  // Conv2DOptions on a MAX_POOL_2D
    EXPECT_NE(error_of(build_tiny(m)).find("MAX_POOL_2D carries builtin options of type 1"), std::string::npos);
}

TEST(Tflite, RejectsAHugeVectorLength) {
    std::vector<std::byte> bytes = build_tiny();
    // The last 8 bytes are the subgraph outputs vector: length 1, element 4.
    const std::size_t length_at = bytes.size() - 8;
    ASSERT_EQ(bytes[length_at], std::byte{1});
    bytes[length_at + 3] = std::byte{0x40};
    EXPECT_NE(error_of(bytes).find("outside"), std::string::npos);
}

// Corrupting bytes of a valid model, one to four at a time: every result is
// either a model or a TfliteError; nothing else escapes, nothing crashes.
TEST(Tflite, SurvivesCorruption) {
    const std::vector<std::byte> valid = build_tiny();
    std::mt19937 rng(kTestSeed);
    std::uniform_int_distribution<std::size_t> position(0, valid.size() - 1);
    std::uniform_int_distribution<int> value(0, 255);
    std::uniform_int_distribution<int> flips(1, 4);
    constexpr int kTrials = 20000;
    int rejected = 0;
    for (int trial = 0; trial < kTrials; ++trial) {
        std::vector<std::byte> bytes = valid;
        for (int f = flips(rng); f > 0; --f) bytes[position(rng)] = static_cast<std::byte>(value(rng));
        try {
            parse_copy(bytes);
        } catch (const TfliteError&) {
            ++rejected;
        } catch (const std::exception& e) {
            FAIL() << "trial " << trial << ": unexpected " << typeid(e).name() << ": " << e.what();
        }
    }
    EXPECT_GT(rejected, 0);  // the corruption does reach the checks
}

TEST(Tflite, RejectsGarbage) {
    std::mt19937 rng(kTestSeed);
    std::uniform_int_distribution<std::size_t> length(0, 512);
    std::uniform_int_distribution<int> value(0, 255);
    for (int trial = 0; trial < 2000; ++trial) {
        std::vector<std::byte> bytes(length(rng));
        for (std::byte& x : bytes) x = static_cast<std::byte>(value(rng));
        // Half of them get the identifier, so the reader gets past it.
        if (trial % 2 == 0 && bytes.size() >= 8) std::memcpy(bytes.data() + 4, "TFL3", 4);
        try {
            parse_copy(bytes);
        } catch (const TfliteError&) {
        } catch (const std::exception& e) {
            FAIL() << "trial " << trial << ": unexpected " << e.what();
        }
    }
}

// The real PNet file, when the npm package has been unpacked where the
// converter's instructions put it (not in CI).
TEST(Tflite, ReadsTheRealPnetWhenPresent) {
    const std::filesystem::path path = "/tmp/npmpkg/package/android/src/main/assets/pnet.tflite";
    if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is absent";
    std::ifstream in(path, std::ios::binary);
    const std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::byte> bytes(chars.size());
    std::memcpy(bytes.data(), chars.data(), chars.size());
    const tools::Model model = tools::parse_model(bytes);
    ASSERT_EQ(model.subgraphs.size(), 1u);
    const tools::Subgraph& g = model.subgraphs[0];
    int convs = 0;
    for (const tools::Operator& op : g.operators) convs += op.builtin_code == static_cast<std::int32_t>(BuiltinOp::kConv2d);
    EXPECT_EQ(convs, 5);
    bool found = false;
    for (const tools::Tensor& t : g.tensors) {
        if (t.name == "pnet/conv1/weights/read") {
            found = true;
            EXPECT_EQ(t.shape, (std::vector<std::int32_t>{10, 3, 3, 3}));
            EXPECT_EQ(t.data.size(), 10u * 3 * 3 * 3 * 4);
        }
    }
    EXPECT_TRUE(found);
}

}  // namespace
