// A minimal, read-only, bounds-checked TFLite flatbuffer reader (tflite.h).
//
// FlatBuffer encoding, as far as this reader needs it (all little-endian):
// - the buffer starts with a u32 offset to the root table, then the 4-byte
//   file identifier ("TFL3" for TFLite);
// - a table starts with an i32 `soffset`; its vtable is at table - soffset;
//   the vtable is u16 vtable size in bytes, u16 table size in bytes, then one
//   u16 per field: the field's offset inside the table, 0 when absent (the
//   schema default applies);
// - a reference field (table, vector, string) holds a u32 offset relative to
//   the field's own position, always forward;
// - a vector (and a string) is a u32 element count followed by the elements;
//   a vector of tables holds one u32 reference per element;
// - a union is two fields: a u8 type tag, then a reference to the table.
// Field indices below follow the declaration order in schema.fbs.
#include "tools/tflite.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

namespace tools {

namespace {

constexpr std::size_t kIdentifierOffset = 4;
constexpr std::array<char, 4> kIdentifier = {'T', 'F', 'L', '3'};
constexpr std::size_t kRootHeaderSize = kIdentifierOffset + kIdentifier.size();
constexpr std::size_t kVtableHeaderSize = 4;  // u16 vtable size + u16 table size
constexpr std::size_t kVtableSlotSize = 2;    // one u16 per field
constexpr std::size_t kSoffsetSize = 4;       // the i32 that starts every table
constexpr std::size_t kRefSize = 4;           // u32 forward offset
constexpr int kBitsPerByte = 8;

// Field indices (schema.fbs declaration order).
namespace model_field {
constexpr int kVersion = 0, kOperatorCodes = 1, kSubgraphs = 2, kDescription = 3, kBuffers = 4;
}
namespace subgraph_field {
constexpr int kTensors = 0, kInputs = 1, kOutputs = 2, kOperators = 3, kName = 4;
}
namespace tensor_field {
constexpr int kShape = 0, kType = 1, kBuffer = 2, kName = 3;
}
namespace buffer_field {
constexpr int kData = 0, kOffset = 1, kSize = 2;
}
namespace operator_field {
constexpr int kOpcodeIndex = 0, kInputs = 1, kOutputs = 2, kOptionsType = 3, kOptions = 4;
}
namespace opcode_field {
constexpr int kDeprecatedBuiltinCode = 0, kCustomCode = 1, kBuiltinCode = 3;
}
namespace conv_field {
constexpr int kPadding = 0, kStrideW = 1, kStrideH = 2, kActivation = 3, kDilationW = 4, kDilationH = 5;
}
namespace pool_field {
constexpr int kPadding = 0, kStrideW = 1, kStrideH = 2, kFilterW = 3, kFilterH = 4, kActivation = 5;
}
namespace fc_field {
constexpr int kActivation = 0, kWeightsFormat = 1, kKeepNumDims = 2;
}

// BuiltinOptions union tags (schema.fbs `union BuiltinOptions`, 1-based).
constexpr std::uint8_t kConv2dOptionsTag = 1;
constexpr std::uint8_t kPool2dOptionsTag = 5;
constexpr std::uint8_t kFullyConnectedOptionsTag = 8;

// Buffer.offset is "only valid if > 1" (schema.fbs): 0 and 1 mean the data
// lives in the `data` vector.
constexpr std::uint64_t kMinExternalBufferOffset = 2;

struct Table {
    std::size_t pos = 0;       // start of the table (its soffset)
    std::size_t vtable = 0;    // start of its vtable
    std::size_t vtable_size = 0;
    std::size_t table_size = 0;
};

struct VectorRef {
    std::size_t start = 0;  // first element
    std::size_t count = 0;
};

class Reader {
public:
    explicit Reader(std::span<const std::byte> bytes) : bytes_(bytes), budget_(bytes.size()) {}

    // Throws unless [pos, pos + len) lies inside the buffer.
    void need(std::uint64_t pos, std::uint64_t len, const std::string& what) const {
        if (pos > bytes_.size() || len > bytes_.size() - pos) {
            throw TfliteError("TFLite: " + what + ": bytes " + std::to_string(pos) + ".." +
                              std::to_string(pos + len) + " lie outside the " + std::to_string(bytes_.size()) +
                              "-byte buffer (truncated or corrupt)");
        }
    }

    template <typename T>
    T read(std::size_t pos, const std::string& what) const {
        need(pos, sizeof(T), what);
        using U = std::make_unsigned_t<T>;
        U value = 0;
        for (std::size_t i = 0; i < sizeof(T); ++i) {
            value = static_cast<U>(value | (static_cast<U>(std::to_integer<std::uint8_t>(bytes_[pos + i]))
                                            << (kBitsPerByte * i)));
        }
        return static_cast<T>(value);
    }

    Table table_at(std::size_t pos, const std::string& what) const {
        Table t;
        t.pos = pos;
        const auto soffset = read<std::int32_t>(pos, what + " (table offset)");
        const std::int64_t vtable = static_cast<std::int64_t>(pos) - soffset;
        if (vtable < 0) throw TfliteError("TFLite: " + what + ": vtable offset points before the buffer");
        t.vtable = static_cast<std::size_t>(vtable);
        need(t.vtable, kVtableHeaderSize, what + " (vtable header)");
        t.vtable_size = read<std::uint16_t>(t.vtable, what);
        t.table_size = read<std::uint16_t>(t.vtable + kVtableSlotSize, what);
        if (t.vtable_size < kVtableHeaderSize || t.vtable_size % kVtableSlotSize != 0) {
            throw TfliteError("TFLite: " + what + ": malformed vtable (size " + std::to_string(t.vtable_size) + ")");
        }
        if (t.table_size < kSoffsetSize) {
            throw TfliteError("TFLite: " + what + ": malformed vtable (table size " +
                              std::to_string(t.table_size) + ")");
        }
        need(t.vtable, t.vtable_size, what + " (vtable)");
        need(t.pos, t.table_size, what + " (table)");
        return t;
    }

    // Position of field `index` holding `size` bytes, or nullopt when absent.
    std::optional<std::size_t> field(const Table& t, int index, std::size_t size, const std::string& what) const {
        const std::size_t slot = kVtableHeaderSize + static_cast<std::size_t>(index) * kVtableSlotSize;
        if (slot + kVtableSlotSize > t.vtable_size) return std::nullopt;  // older writer: field absent
        const auto offset = read<std::uint16_t>(t.vtable + slot, what);
        if (offset == 0) return std::nullopt;
        if (offset < kSoffsetSize || offset + size > t.table_size) {
            throw TfliteError("TFLite: " + what + ": field " + std::to_string(index) + " (offset " +
                              std::to_string(offset) + ") lies outside its " + std::to_string(t.table_size) +
                              "-byte table");
        }
        return t.pos + offset;
    }

    template <typename T>
    T scalar(const Table& t, int index, T fallback, const std::string& what) const {
        const auto pos = field(t, index, sizeof(T), what);
        return pos ? read<T>(*pos, what) : fallback;
    }

    // Follows the u32 forward reference stored at `pos`.
    std::size_t deref(std::size_t pos, const std::string& what) const {
        const auto rel = read<std::uint32_t>(pos, what + " (reference)");
        const std::uint64_t target = std::uint64_t{pos} + rel;
        need(target, 0, what + " (reference target)");
        return static_cast<std::size_t>(target);
    }

    std::optional<Table> table_field(const Table& t, int index, const std::string& what) const {
        const auto pos = field(t, index, kRefSize, what);
        if (!pos) return std::nullopt;
        return table_at(deref(*pos, what), what);
    }

    // A vector of `elem_size`-byte elements; absent vectors are empty. Each
    // element decoded is charged against the budget (see tflite.h).
    VectorRef vector_field(const Table& t, int index, std::size_t elem_size, const std::string& what) {
        const auto pos = field(t, index, kRefSize, what);
        if (!pos) return {};
        return vector_at(deref(*pos, what), elem_size, what);
    }

    VectorRef vector_at(std::size_t pos, std::size_t elem_size, const std::string& what) {
        VectorRef v;
        v.count = read<std::uint32_t>(pos, what + " (vector length)");
        v.start = pos + sizeof(std::uint32_t);
        need(v.start, std::uint64_t{v.count} * elem_size, what + " (vector of " + std::to_string(v.count) + ")");
        return v;
    }

    void charge(std::size_t elements, const std::string& what) {
        if (elements > budget_) {
            throw TfliteError("TFLite: " + what + ": more decoded elements than the buffer can hold "
                                                  "(aliased vectors?)");
        }
        budget_ -= elements;
    }

    std::string string_field(const Table& t, int index, const std::string& what) {
        const VectorRef v = vector_field(t, index, 1, what);
        charge(v.count, what);
        std::string s(v.count, '\0');
        if (v.count != 0) std::memcpy(s.data(), bytes_.data() + v.start, v.count);
        return s;
    }

    std::vector<std::int32_t> int_vector_field(const Table& t, int index, const std::string& what) {
        const VectorRef v = vector_field(t, index, sizeof(std::int32_t), what);
        charge(v.count, what);
        std::vector<std::int32_t> out(v.count);
        for (std::size_t i = 0; i < v.count; ++i) out[i] = read<std::int32_t>(v.start + i * sizeof(std::int32_t), what);
        return out;
    }

    // Element `i` of a vector of tables.
    Table table_element(const VectorRef& v, std::size_t i, const std::string& what) const {
        const std::size_t slot = v.start + i * kRefSize;
        return table_at(deref(slot, what), what);
    }

    std::span<const std::byte> bytes() const { return bytes_; }

private:
    std::span<const std::byte> bytes_;
    std::size_t budget_;
};

struct OpCode {
    std::int32_t builtin = 0;
    std::string custom;
};

std::vector<OpCode> read_opcodes(Reader& r, const Table& model) {
    const std::string what = "operator_codes";
    const VectorRef v = r.vector_field(model, model_field::kOperatorCodes, kRefSize, what);
    r.charge(v.count, what);
    std::vector<OpCode> codes(v.count);
    for (std::size_t i = 0; i < v.count; ++i) {
        const std::string w = what + "[" + std::to_string(i) + "]";
        const Table t = r.table_element(v, i, w);
        // Codes >= 127 live only in the int32 `builtin_code`; older files set
        // only the int8 `deprecated_builtin_code`. TFLite takes the larger.
        const auto deprecated = r.scalar<std::int8_t>(t, opcode_field::kDeprecatedBuiltinCode, 0, w);
        const auto builtin = r.scalar<std::int32_t>(t, opcode_field::kBuiltinCode, 0, w);
        codes[i].builtin = std::max<std::int32_t>(deprecated, builtin);
        codes[i].custom = r.string_field(t, opcode_field::kCustomCode, w + ".custom_code");
    }
    return codes;
}

std::vector<std::span<const std::byte>> read_buffers(Reader& r, const Table& model) {
    const std::string what = "buffers";
    const VectorRef v = r.vector_field(model, model_field::kBuffers, kRefSize, what);
    r.charge(v.count, what);
    std::vector<std::span<const std::byte>> buffers(v.count);
    for (std::size_t i = 0; i < v.count; ++i) {
        const std::string w = what + "[" + std::to_string(i) + "]";
        const Table t = r.table_element(v, i, w);
        const auto offset = r.scalar<std::uint64_t>(t, buffer_field::kOffset, 0, w);
        if (offset >= kMinExternalBufferOffset) {
            // Models over 2 GB keep data after the flatbuffer, at an offset
            // from the start of the file.
            const auto size = r.scalar<std::uint64_t>(t, buffer_field::kSize, 0, w);
            r.need(offset, size, w + " (external data)");
            buffers[i] = r.bytes().subspan(static_cast<std::size_t>(offset), static_cast<std::size_t>(size));
        } else {
            const VectorRef data = r.vector_field(t, buffer_field::kData, 1, w + ".data");
            buffers[i] = r.bytes().subspan(data.start, data.count);
        }
    }
    return buffers;
}

void check_indices(const std::vector<std::int32_t>& indices, std::size_t tensor_count, bool allow_absent,
                   const std::string& what) {
    for (std::int32_t index : indices) {
        const bool absent = allow_absent && index == -1;
        if (!absent && (index < 0 || static_cast<std::size_t>(index) >= tensor_count)) {
            throw TfliteError("TFLite: " + what + ": tensor index " + std::to_string(index) + " is out of range (" +
                              std::to_string(tensor_count) + " tensors)");
        }
    }
}

Operator read_operator(Reader& r, const Table& t, const std::vector<OpCode>& codes, std::size_t tensor_count,
                       const std::string& what) {
    Operator op;
    const auto opcode_index = r.scalar<std::uint32_t>(t, operator_field::kOpcodeIndex, 0, what);
    if (opcode_index >= codes.size()) {
        throw TfliteError("TFLite: " + what + ": opcode index " + std::to_string(opcode_index) +
                          " is out of range (" + std::to_string(codes.size()) + " operator codes)");
    }
    op.builtin_code = codes[opcode_index].builtin;
    op.custom_code = codes[opcode_index].custom;
    op.inputs = r.int_vector_field(t, operator_field::kInputs, what + ".inputs");
    op.outputs = r.int_vector_field(t, operator_field::kOutputs, what + ".outputs");
    check_indices(op.inputs, tensor_count, true, what + ".inputs");
    check_indices(op.outputs, tensor_count, false, what + ".outputs");
    op.options_type = r.scalar<std::uint8_t>(t, operator_field::kOptionsType, 0, what);

    const auto options = r.table_field(t, operator_field::kOptions, what + ".builtin_options");
    // The options of the three layer operators the converter inspects; a
    // table tagged with another type would be misread, so it is an error.
    auto expect_tag = [&](std::uint8_t tag) {
        if (options && op.options_type != tag) {
            throw TfliteError("TFLite: " + what + ": " + builtin_op_name(op.builtin_code) +
                              " carries builtin options of type " + std::to_string(op.options_type) +
                              ", expected " + std::to_string(tag));
        }
    };
    const std::string ow = what + ".builtin_options";
    switch (static_cast<BuiltinOp>(op.builtin_code)) {
    case BuiltinOp::kConv2d: {
        expect_tag(kConv2dOptionsTag);
        Conv2dOptions o;
        if (options) {
            o.padding = static_cast<Padding>(r.scalar<std::int8_t>(*options, conv_field::kPadding, 0, ow));
            o.stride_w = r.scalar<std::int32_t>(*options, conv_field::kStrideW, 0, ow);
            o.stride_h = r.scalar<std::int32_t>(*options, conv_field::kStrideH, 0, ow);
            o.fused_activation = r.scalar<std::int8_t>(*options, conv_field::kActivation, kActivationNone, ow);
            o.dilation_w = r.scalar<std::int32_t>(*options, conv_field::kDilationW, 1, ow);
            o.dilation_h = r.scalar<std::int32_t>(*options, conv_field::kDilationH, 1, ow);
        }
        op.conv2d = o;
        break;
    }
    case BuiltinOp::kMaxPool2d: {
        expect_tag(kPool2dOptionsTag);
        Pool2dOptions o;
        if (options) {
            o.padding = static_cast<Padding>(r.scalar<std::int8_t>(*options, pool_field::kPadding, 0, ow));
            o.stride_w = r.scalar<std::int32_t>(*options, pool_field::kStrideW, 0, ow);
            o.stride_h = r.scalar<std::int32_t>(*options, pool_field::kStrideH, 0, ow);
            o.filter_w = r.scalar<std::int32_t>(*options, pool_field::kFilterW, 0, ow);
            o.filter_h = r.scalar<std::int32_t>(*options, pool_field::kFilterH, 0, ow);
            o.fused_activation = r.scalar<std::int8_t>(*options, pool_field::kActivation, kActivationNone, ow);
        }
        op.pool2d = o;
        break;
    }
    case BuiltinOp::kFullyConnected: {
        expect_tag(kFullyConnectedOptionsTag);
        FullyConnectedOptions o;
        if (options) {
            o.fused_activation = r.scalar<std::int8_t>(*options, fc_field::kActivation, kActivationNone, ow);
            o.weights_format = r.scalar<std::int8_t>(*options, fc_field::kWeightsFormat, 0, ow);
            o.keep_num_dims = r.scalar<std::uint8_t>(*options, fc_field::kKeepNumDims, 0, ow) != 0;
        }
        op.fully_connected = o;
        break;
    }
    default:
        break;
    }
    return op;
}

Subgraph read_subgraph(Reader& r, const Table& t, const std::vector<OpCode>& codes,
                       const std::vector<std::span<const std::byte>>& buffers, const std::string& what) {
    Subgraph g;
    g.name = r.string_field(t, subgraph_field::kName, what + ".name");

    const VectorRef tv = r.vector_field(t, subgraph_field::kTensors, kRefSize, what + ".tensors");
    r.charge(tv.count, what + ".tensors");
    g.tensors.resize(tv.count);
    for (std::size_t i = 0; i < tv.count; ++i) {
        const std::string w = what + ".tensors[" + std::to_string(i) + "]";
        const Table tt = r.table_element(tv, i, w);
        Tensor& tensor = g.tensors[i];
        tensor.shape = r.int_vector_field(tt, tensor_field::kShape, w + ".shape");
        tensor.type = static_cast<TensorType>(r.scalar<std::int8_t>(tt, tensor_field::kType, 0, w));
        tensor.buffer = r.scalar<std::uint32_t>(tt, tensor_field::kBuffer, 0, w);
        tensor.name = r.string_field(tt, tensor_field::kName, w + ".name");
        // Buffer 0 is the schema's always-empty sentinel; a model without a
        // buffers vector may still use it.
        if (tensor.buffer < buffers.size()) {
            tensor.data = buffers[tensor.buffer];
        } else if (tensor.buffer != 0) {
            throw TfliteError("TFLite: " + w + " ('" + tensor.name + "'): buffer index " +
                              std::to_string(tensor.buffer) + " is out of range (" + std::to_string(buffers.size()) +
                              " buffers)");
        }
    }

    g.inputs = r.int_vector_field(t, subgraph_field::kInputs, what + ".inputs");
    g.outputs = r.int_vector_field(t, subgraph_field::kOutputs, what + ".outputs");
    check_indices(g.inputs, g.tensors.size(), false, what + ".inputs");
    check_indices(g.outputs, g.tensors.size(), false, what + ".outputs");

    const VectorRef ov = r.vector_field(t, subgraph_field::kOperators, kRefSize, what + ".operators");
    r.charge(ov.count, what + ".operators");
    g.operators.reserve(ov.count);
    for (std::size_t i = 0; i < ov.count; ++i) {
        const std::string w = what + ".operators[" + std::to_string(i) + "]";
        g.operators.push_back(read_operator(r, r.table_element(ov, i, w), codes, g.tensors.size(), w));
    }
    return g;
}

}  // namespace

Model parse_model(std::span<const std::byte> bytes) {
    if (bytes.size() < kRootHeaderSize) {
        throw TfliteError("TFLite: buffer of " + std::to_string(bytes.size()) +
                          " bytes is too small for a model (truncated or empty)");
    }
    if (std::memcmp(bytes.data() + kIdentifierOffset, kIdentifier.data(), kIdentifier.size()) != 0) {
        throw TfliteError("TFLite: missing the \"TFL3\" file identifier (not a TFLite model)");
    }
    Reader r(bytes);
    const Table root = r.table_at(r.deref(0, "root"), "model");

    Model model;
    model.version = r.scalar<std::uint32_t>(root, model_field::kVersion, 0, "model.version");
    model.description = r.string_field(root, model_field::kDescription, "model.description");
    const std::vector<OpCode> codes = read_opcodes(r, root);
    const auto buffers = read_buffers(r, root);

    const VectorRef sv = r.vector_field(root, model_field::kSubgraphs, kRefSize, "subgraphs");
    r.charge(sv.count, "subgraphs");
    for (std::size_t i = 0; i < sv.count; ++i) {
        const std::string w = "subgraphs[" + std::to_string(i) + "]";
        model.subgraphs.push_back(read_subgraph(r, r.table_element(sv, i, w), codes, buffers, w));
    }
    return model;
}

std::string builtin_op_name(std::int32_t code) {
    switch (static_cast<BuiltinOp>(code)) {
    case BuiltinOp::kAdd: return "ADD";
    case BuiltinOp::kConv2d: return "CONV_2D";
    case BuiltinOp::kFullyConnected: return "FULLY_CONNECTED";
    case BuiltinOp::kMaxPool2d: return "MAX_POOL_2D";
    case BuiltinOp::kMul: return "MUL";
    case BuiltinOp::kRelu: return "RELU";
    case BuiltinOp::kCustom: return "CUSTOM";
    case BuiltinOp::kSub: return "SUB";
    case BuiltinOp::kDiv: return "DIV";
    case BuiltinOp::kExp: return "EXP";
    case BuiltinOp::kNeg: return "NEG";
    case BuiltinOp::kSum: return "SUM";
    case BuiltinOp::kReduceMax: return "REDUCE_MAX";
    }
    return "op " + std::to_string(code);
}

std::string tensor_type_name(TensorType type) {
    switch (type) {
    case TensorType::kFloat32: return "FLOAT32";
    case TensorType::kFloat16: return "FLOAT16";
    case TensorType::kInt32: return "INT32";
    case TensorType::kUInt8: return "UINT8";
    case TensorType::kInt64: return "INT64";
    }
    return "type " + std::to_string(static_cast<int>(type));
}

}  // namespace tools
