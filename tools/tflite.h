// A minimal, read-only, bounds-checked reader for TFLite model files.
//
// It reads the parts of tensorflow/lite/schema/schema.fbs (schema version 3)
// that the weight converter needs: tensors (name, shape, type, the bytes of
// their buffer), operators (builtin code, input and output tensor indices,
// and the options of CONV_2D, MAX_POOL_2D and FULLY_CONNECTED). Everything
// else in the file is skipped.
//
// The input is untrusted: every offset, vtable and vector length is checked
// against the buffer before it is followed, so a malformed file throws a
// TfliteError and is never read out of bounds. FlatBuffer references are
// unsigned forward offsets, so following them cannot loop; the total number
// of decoded vector elements is capped by the input size, so aliased vectors
// cannot blow up memory either.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace tools {

// Every problem with a TFLite buffer: truncation, an offset or length outside
// the buffer, a malformed vtable, an index out of range.
class TfliteError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// schema.fbs `enum TensorType : byte` (the values this project meets).
enum class TensorType : std::int8_t {
    kFloat32 = 0,
    kFloat16 = 1,
    kInt32 = 2,
    kUInt8 = 3,
    kInt64 = 4,
};

// schema.fbs `enum BuiltinOperator : int32` (the values this project meets).
enum class BuiltinOp : std::int32_t {
    kAdd = 0,
    kConv2d = 3,
    kFullyConnected = 9,
    kMaxPool2d = 17,
    kMul = 18,
    kRelu = 19,
    kCustom = 32,
    kSub = 41,
    kDiv = 42,
    kExp = 47,
    kNeg = 59,
    kSum = 74,
    kReduceMax = 82,
};

// schema.fbs `enum Padding : byte`.
enum class Padding : std::int8_t { kSame = 0, kValid = 1 };

// schema.fbs `enum ActivationFunctionType : byte`; 0 is NONE.
inline constexpr std::int8_t kActivationNone = 0;

// Options tables, with the schema's defaults for absent fields.
struct Conv2dOptions {
    Padding padding = Padding::kSame;
    std::int32_t stride_w = 0;
    std::int32_t stride_h = 0;
    std::int8_t fused_activation = kActivationNone;
    std::int32_t dilation_w = 1;
    std::int32_t dilation_h = 1;
};

struct Pool2dOptions {
    Padding padding = Padding::kSame;
    std::int32_t stride_w = 0;
    std::int32_t stride_h = 0;
    std::int32_t filter_w = 0;
    std::int32_t filter_h = 0;
    std::int8_t fused_activation = kActivationNone;
};

struct FullyConnectedOptions {
    std::int8_t fused_activation = kActivationNone;
    std::int8_t weights_format = 0;  // 0 = DEFAULT (dense [out, in])
    bool keep_num_dims = false;
};

struct Tensor {
    std::string name;
    std::vector<std::int32_t> shape;
    TensorType type = TensorType::kFloat32;  // raw schema value; may be one not listed above
    std::uint32_t buffer = 0;                // index into the model's buffers
    // The bytes of its buffer (empty for activations). A view into the
    // bytes given to parse_model, which must outlive the Model.
    std::span<const std::byte> data;
};

struct Operator {
    std::int32_t builtin_code = 0;  // BuiltinOp value (resolved from both opcode fields)
    std::string custom_code;        // for CUSTOM operators
    std::vector<std::int32_t> inputs;   // tensor indices; -1 marks an absent optional input
    std::vector<std::int32_t> outputs;  // tensor indices
    std::uint8_t options_type = 0;      // BuiltinOptions union tag, 0 = none
    // Filled for CONV_2D, MAX_POOL_2D and FULLY_CONNECTED (schema defaults
    // when the operator carries no options table).
    std::optional<Conv2dOptions> conv2d;
    std::optional<Pool2dOptions> pool2d;
    std::optional<FullyConnectedOptions> fully_connected;
};

struct Subgraph {
    std::string name;
    std::vector<Tensor> tensors;
    std::vector<std::int32_t> inputs;
    std::vector<std::int32_t> outputs;
    std::vector<Operator> operators;  // in execution order
};

struct Model {
    std::uint32_t version = 0;  // schema version, 3 for current files
    std::string description;
    std::vector<Subgraph> subgraphs;  // the first is the main graph
};

// Parses a TFLite flatbuffer (with the "TFL3" file identifier). Tensor data
// are views into `bytes`. Throws TfliteError on any malformed input.
Model parse_model(std::span<const std::byte> bytes);

// A readable name for a builtin operator code ("CONV_2D"), or "op N".
std::string builtin_op_name(std::int32_t code);

// A readable name for a tensor type ("FLOAT32"), or "type N".
std::string tensor_type_name(TensorType type);

}  // namespace tools
