// A network: a definition (layers wired by index, with the weights each one
// needs, by name and shape) and, once loaded, an immutable object whose
// forward() is const, so one loaded network serves concurrent callers. Each
// caller owns a Workspace (the per-layer tensors), reused between calls so a
// warm workspace stops allocating.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/kernels.h"
#include "engine/layers.h"
#include "engine/tensor.h"
#include "engine/weights_file.h"

namespace engine {

enum class LayerKind { conv, fully_connected, max_pool, softmax };

struct LayerDef {
    std::string name;  // weights are "<name>/weights", "<name>/biases"
    LayerKind kind = LayerKind::conv;
    int input = -1;    // index of the producing layer; -1: the network input
    int in_c = 0;      // conv: input channels; fully connected: input features
    int out_c = 0;
    ConvParams conv;
    PoolParams pool;
    std::string prelu;  // fused PReLU after conv / fully connected: "<prelu>/alpha"; empty: none
};

class NetworkDef {
public:
    NetworkDef(std::string name, int in_channels) : name_(std::move(name)), in_channels_(in_channels) {}

    static constexpr int kInput = -1;
    int conv(const std::string& name, int input, int in_c, int out_c, ConvParams p, const std::string& prelu = {});
    int fully_connected(const std::string& name, int input, int in_features, int out_c, const std::string& prelu = {});
    int max_pool(const std::string& name, int input, PoolParams p);
    int softmax(const std::string& name, int input);
    void output(const std::string& name, int layer);

    const std::string& name() const { return name_; }
    int in_channels() const { return in_channels_; }
    const std::vector<LayerDef>& layers() const { return layers_; }
    const std::vector<std::pair<std::string, int>>& outputs() const { return outputs_; }

    // Every weight tensor the definition needs: name and shape.
    std::vector<std::pair<std::string, std::vector<int>>> expected_tensors() const;

private:
    int add(LayerDef layer);
    std::string name_;
    int in_channels_;
    std::vector<LayerDef> layers_;
    std::vector<std::pair<std::string, int>> outputs_;
};

// The floating-point work of one forward() over `input` (NHWC), layer by
// layer, at the shapes forward() computes (conv_output_shape,
// pool_output_shape): 2 FLOP per multiply-add of a convolution or fully
// connected layer, that is 2 * kh * kw * in_c * out_c per output pixel
// (padding taps included, as the kernels run them) and 2 * in * out per
// batch item. FLOPs, not MACs. Bias adds, PReLU, max pooling and softmax
// are O(outputs), not O(outputs * k), and count 0: at one operation an
// element (a comparison per pooled input) they would add 1.5-2.5% to
// MTCNN's nets, which is what the OpenVINO model zoo's figures include
// (bench/RESULTS.md "Roofline"). Throws std::invalid_argument where
// forward() would refuse the input (channels, a fully connected layer's
// features).
struct LayerFlops {
    std::string name;
    Shape output;
    std::int64_t flops = 0;
};
std::vector<LayerFlops> layer_flops(const NetworkDef& def, const Shape& input);
// The sum of layer_flops().
std::int64_t forward_flops(const NetworkDef& def, const Shape& input);

// Checks that `weights` holds exactly the tensors `def` needs, with the right
// shapes and network name; WeightFileError naming the file and the tensor
// otherwise.
void validate_weights(const NetworkDef& def, const WeightFile& weights);

// One tensor per layer, each layer's output after forward(), except that of
// a convolution fused with the max pooling after it (Network::forward): it
// holds the last batch item's convolution output only.
struct Workspace {
    std::vector<Tensor> tensors;
};

// What a caller such as the MTCNN cascade needs of a network: a forward pass
// over an NHWC batch and its outputs by name. Network is one; a benchmark
// drives the same cascade with a peer engine through it (bench/).
class Forward {
public:
    virtual ~Forward() = default;
    virtual void forward(const Tensor& input, Workspace& ws) const = 0;
    // The tensor of output `name` after a forward() with `ws`.
    virtual const Tensor& output(const Workspace& ws, const std::string& name) const = 0;
};

class Network final : public Forward {
public:
    // Validates `weights` (validate_weights) and packs them for `kernels`.
    Network(NetworkDef def, const WeightFile& weights, const Kernels& kernels);

    const NetworkDef& def() const { return def_; }
    Isa isa() const { return kernels_->isa; }

    // Runs the optimised kernels on `input` (NHWC, def().in_channels()).
    void forward(const Tensor& input, Workspace& ws) const override;
    // The same network through the reference layers (tests only).
    void forward_reference(const Tensor& input, Workspace& ws) const;

    const Tensor& output(const Workspace& ws, const std::string& name) const override;

private:
    struct Bound {
        std::vector<float> weights, bias, alpha;  // as stored, for the reference
        PackedWeights packed;
    };
    const Tensor& input_of(const LayerDef& layer, const Tensor& input, const Workspace& ws) const;
    NetworkDef def_;
    const Kernels* kernels_;
    std::vector<Bound> bound_;  // one per layer (empty for pooling / softmax)
    std::vector<bool> pooled_next_;  // per layer: a convolution fused with the pooling after it
};

}  // namespace engine
