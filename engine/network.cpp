#include "engine/network.h"

#include <algorithm>
#include <set>
#include <stdexcept>

namespace engine {
namespace {

std::string shape_str(const std::vector<int>& shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i) s += ',';
        s += std::to_string(shape[i]);
    }
    return s + "]";
}

}  // namespace

int NetworkDef::add(LayerDef layer) {
    if (layer.input < kInput || layer.input >= static_cast<int>(layers_.size()))
        throw std::invalid_argument(name_ + ": layer " + layer.name + " reads a layer that does not exist yet");
    layers_.push_back(std::move(layer));
    return static_cast<int>(layers_.size()) - 1;
}

int NetworkDef::conv(const std::string& name, int input, int in_c, int out_c, ConvParams p, const std::string& prelu) {
    return add(LayerDef{name, LayerKind::conv, input, in_c, out_c, p, {}, prelu});
}

int NetworkDef::fully_connected(const std::string& name, int input, int in_features, int out_c,
                                const std::string& prelu) {
    return add(LayerDef{name, LayerKind::fully_connected, input, in_features, out_c, {}, {}, prelu});
}

int NetworkDef::max_pool(const std::string& name, int input, PoolParams p) {
    return add(LayerDef{name, LayerKind::max_pool, input, 0, 0, {}, p, {}});
}

int NetworkDef::softmax(const std::string& name, int input) {
    return add(LayerDef{name, LayerKind::softmax, input, 0, 0, {}, {}, {}});
}

void NetworkDef::output(const std::string& name, int layer) {
    if (layer < 0 || layer >= static_cast<int>(layers_.size()))
        throw std::invalid_argument(name_ + ": output " + name + " names no layer");
    outputs_.emplace_back(name, layer);
}

std::vector<std::pair<std::string, std::vector<int>>> NetworkDef::expected_tensors() const {
    std::vector<std::pair<std::string, std::vector<int>>> tensors;
    for (const LayerDef& l : layers_) {
        if (l.kind == LayerKind::conv)
            tensors.push_back({l.name + "/weights", {l.out_c, l.conv.kh, l.conv.kw, l.in_c}});
        else if (l.kind == LayerKind::fully_connected)
            tensors.push_back({l.name + "/weights", {l.out_c, l.in_c}});
        else
            continue;
        tensors.push_back({l.name + "/biases", {l.out_c}});
        if (!l.prelu.empty()) tensors.push_back({l.prelu + "/alpha", {l.out_c}});
    }
    return tensors;
}

std::vector<LayerFlops> layer_flops(const NetworkDef& def, const Shape& input) {
    if (input.c != def.in_channels())
        throw std::invalid_argument(def.name() + ": input " + input.str() + " needs " +
                                    std::to_string(def.in_channels()) + " channels");
    std::vector<LayerFlops> result;
    for (const LayerDef& l : def.layers()) {
        const Shape& in = l.input == NetworkDef::kInput ? input : result[l.input].output;
        LayerFlops f{l.name, in, 0};
        switch (l.kind) {
            case LayerKind::conv: {
                if (in.c != l.in_c)
                    throw std::invalid_argument(def.name() + ": " + l.name + " takes " + std::to_string(l.in_c) +
                                                " channels, its input " + in.str() + " has " + std::to_string(in.c));
                f.output = conv_output_shape(in, l.conv, l.out_c);
                const std::int64_t per_output = std::int64_t{2} * l.conv.kh * l.conv.kw * l.in_c;
                f.flops = per_output * static_cast<std::int64_t>(f.output.elements());
                break;
            }
            case LayerKind::fully_connected: {
                const std::int64_t features = static_cast<std::int64_t>(in.h) * in.w * in.c;
                if (features != l.in_c)
                    throw std::invalid_argument(def.name() + ": " + l.name + " takes " + std::to_string(l.in_c) +
                                                " features, its input " + in.str() + " has " +
                                                std::to_string(features));
                f.output = {in.n, 1, 1, l.out_c};
                f.flops = std::int64_t{2} * in.n * l.in_c * l.out_c;
                break;
            }
            case LayerKind::max_pool: f.output = pool_output_shape(in, l.pool); break;
            case LayerKind::softmax: break;  // the input's shape
        }
        result.push_back(std::move(f));
    }
    return result;
}

std::int64_t forward_flops(const NetworkDef& def, const Shape& input) {
    std::int64_t total = 0;
    for (const LayerFlops& f : layer_flops(def, input)) total += f.flops;
    return total;
}

void validate_weights(const NetworkDef& def, const WeightFile& weights) {
    const std::string where = weights.source + ": ";
    if (weights.network != def.name())
        throw WeightFileError(where + "holds network '" + weights.network + "', expected '" + def.name() + "'");
    std::set<std::string> expected;
    for (const auto& [name, shape] : def.expected_tensors()) {
        expected.insert(name);
        const WeightTensor& t = weights.get(name);
        if (t.shape != shape)
            throw WeightFileError(where + "tensor '" + name + "' has shape " + shape_str(t.shape) + ", the " +
                                  def.name() + " definition expects " + shape_str(shape));
    }
    for (const WeightTensor& t : weights.tensors)
        if (!expected.count(t.name))
            throw WeightFileError(where + "tensor '" + t.name + "' is not part of the " + def.name() + " definition");
}

Network::Network(NetworkDef def, const WeightFile& weights, const Kernels& kernels)
    : def_(std::move(def)), kernels_(&kernels) {
    validate_weights(def_, weights);

    for (const LayerDef& l : def_.layers()) {
        Bound b;
        if (l.kind == LayerKind::conv || l.kind == LayerKind::fully_connected) {
            b.weights = weights.get(l.name + "/weights").data;
            b.bias = weights.get(l.name + "/biases").data;
            if (!l.prelu.empty()) b.alpha = weights.get(l.prelu + "/alpha").data;
            const int k = static_cast<int>(b.weights.size() / l.out_c);
            b.packed = pack_weights(b.weights.data(), l.out_c, k, b.bias.data(), b.alpha.empty() ? nullptr : b.alpha.data());
        }
        bound_.push_back(std::move(b));
    }
    // A convolution read only by the max pooling right after it runs fused
    // with it (conv2d_max_pool).
    const auto& layers = def_.layers();
    pooled_next_.assign(layers.size(), false);
    for (std::size_t i = 0; i + 1 < layers.size(); ++i) {
        if (layers[i].kind != LayerKind::conv || layers[i + 1].kind != LayerKind::max_pool ||
            layers[i + 1].input != static_cast<int>(i))
            continue;
        bool other_reader = false;
        for (std::size_t j = i + 2; j < layers.size(); ++j) other_reader |= layers[j].input == static_cast<int>(i);
        for (const auto& [name, layer] : def_.outputs()) other_reader |= layer == static_cast<int>(i);
        pooled_next_[i] = !other_reader;
    }
}

const Tensor& Network::input_of(const LayerDef& layer, const Tensor& input, const Workspace& ws) const {
    return layer.input == NetworkDef::kInput ? input : ws.tensors[layer.input];
}

void Network::forward(const Tensor& input, Workspace& ws) const {
    if (input.c() != def_.in_channels())
        throw std::invalid_argument(def_.name() + ": input " + input.shape().str() + " needs " +
                                    std::to_string(def_.in_channels()) + " channels");
    ws.tensors.resize(def_.layers().size());
    for (std::size_t i = 0; i < def_.layers().size(); ++i) {
        const LayerDef& l = def_.layers()[i];
        const Tensor& in = input_of(l, input, ws);
        Tensor& out = ws.tensors[i];
        switch (l.kind) {
            case LayerKind::conv:
                if (pooled_next_[i]) {
                    conv2d_max_pool(*kernels_, in, l.conv, bound_[i].packed, def_.layers()[i + 1].pool, out,
                                    ws.tensors[i + 1]);
                    ++i;
                } else {
                    conv2d(*kernels_, in, l.conv, bound_[i].packed, out);
                }
                break;
            case LayerKind::fully_connected: fully_connected(*kernels_, in, bound_[i].packed, out); break;
            case LayerKind::max_pool: max_pool(*kernels_, in, l.pool, out); break;
            case LayerKind::softmax:
                out.reshape(in.shape());
                std::copy(in.data(), in.data() + in.size(), out.data());
                softmax(*kernels_, out);
                break;
        }
    }
}

void Network::forward_reference(const Tensor& input, Workspace& ws) const {
    ws.tensors.resize(def_.layers().size());
    for (std::size_t i = 0; i < def_.layers().size(); ++i) {
        const LayerDef& l = def_.layers()[i];
        const Tensor& in = input_of(l, input, ws);
        Tensor& out = ws.tensors[i];
        const Bound& b = bound_[i];
        switch (l.kind) {
            case LayerKind::conv: ref::conv2d(in, l.conv, l.out_c, b.weights.data(), b.bias.data(), out); break;
            case LayerKind::fully_connected: ref::fully_connected(in, l.out_c, b.weights.data(), b.bias.data(), out); break;
            case LayerKind::max_pool: ref::max_pool(in, l.pool, out); break;
            case LayerKind::softmax:
                out.reshape(in.shape());
                std::copy(in.data(), in.data() + in.size(), out.data());
                ref::softmax(out);
                break;
        }
        if (!b.alpha.empty()) ref::prelu(out, b.alpha.data());
    }
}

const Tensor& Network::output(const Workspace& ws, const std::string& name) const {
    for (const auto& [output_name, layer] : def_.outputs())
        if (output_name == name) return ws.tensors.at(layer);
    throw std::invalid_argument(def_.name() + ": no output named " + name);
}

}  // namespace engine
