#include "mtcnn/nets.h"

#include <cmath>
#include <span>
#include <stdexcept>

extern "C" {
extern const unsigned char face_weights_pnet[], face_weights_pnet_end[];
extern const unsigned char face_weights_rnet[], face_weights_rnet_end[];
extern const unsigned char face_weights_onet[], face_weights_onet_end[];
}

namespace mtcnn {

using engine::NetworkDef;
using engine::PoolParams;
using engine::PoolRounding;

namespace {
constexpr int kChannels = 3;

// fold_transpose runs after validate_weights, so the tensor exists.
engine::WeightTensor& tensor(engine::WeightFile& file, const std::string& name) {
    for (engine::WeightTensor& t : file.tensors)
        if (t.name == name) return t;
    throw engine::WeightFileError(file.source + ": no tensor '" + name + "'");
}

const engine::ConvParams k3x3{3, 3};
const engine::ConvParams k2x2{2, 2};
const engine::ConvParams k1x1{1, 1};
}  // namespace

NetworkDef pnet_def() {
    NetworkDef d("pnet", kChannels);
    int x = d.conv("conv1", NetworkDef::kInput, 3, 10, k3x3, "prelu1");
    x = d.max_pool("pool1", x, {2, 2, PoolRounding::ceil});
    x = d.conv("conv2", x, 10, 16, k3x3, "prelu2");
    x = d.conv("conv3", x, 16, 32, k3x3, "prelu3");
    d.output("prob", d.softmax("prob1", d.conv("conv4-1", x, 32, 2, k1x1)));
    d.output("reg", d.conv("conv4-2", x, 32, 4, k1x1));
    return d;
}

NetworkDef rnet_def() {
    NetworkDef d("rnet", kChannels);
    int x = d.conv("conv1", NetworkDef::kInput, 3, 28, k3x3, "prelu1");
    x = d.max_pool("pool1", x, {3, 2, PoolRounding::ceil});
    x = d.conv("conv2", x, 28, 48, k3x3, "prelu2");
    x = d.max_pool("pool2", x, {3, 2, PoolRounding::floor});
    x = d.conv("conv3", x, 48, 64, k2x2, "prelu3");
    x = d.fully_connected("conv4", x, 3 * 3 * 64, 128, "prelu4");
    d.output("prob", d.softmax("prob1", d.fully_connected("conv5-1", x, 128, 2)));
    d.output("reg", d.fully_connected("conv5-2", x, 128, 4));
    return d;
}

NetworkDef onet_def() {
    NetworkDef d("onet", kChannels);
    int x = d.conv("conv1", NetworkDef::kInput, 3, 32, k3x3, "prelu1");
    x = d.max_pool("pool1", x, {3, 2, PoolRounding::ceil});
    x = d.conv("conv2", x, 32, 64, k3x3, "prelu2");
    x = d.max_pool("pool2", x, {3, 2, PoolRounding::floor});
    x = d.conv("conv3", x, 64, 64, k3x3, "prelu3");
    x = d.max_pool("pool3", x, {2, 2, PoolRounding::ceil});
    x = d.conv("conv4", x, 64, 128, k2x2, "prelu4");
    x = d.fully_connected("conv5", x, 3 * 3 * 128, 256, "prelu5");
    d.output("prob", d.softmax("prob1", d.fully_connected("conv6-1", x, 256, 2)));
    d.output("reg", d.fully_connected("conv6-2", x, 256, 4));
    d.output("landmarks", d.fully_connected("conv6-3", x, 256, 10));
    return d;
}

engine::WeightFile fold_transpose(engine::WeightFile weights, const NetworkDef& def) {
    const auto& layers = def.layers();
    for (std::size_t i = 0; i < layers.size(); ++i) {
        const engine::LayerDef& l = layers[i];
        if (l.kind == engine::LayerKind::conv) {
            engine::WeightTensor& t = tensor(weights, l.name + "/weights");
            const int o_n = t.shape[0], kh = t.shape[1], kw = t.shape[2], in_c = t.shape[3];
            std::vector<float> folded(t.data.size());
            for (int o = 0; o < o_n; ++o)
                for (int a = 0; a < kh; ++a)
                    for (int b = 0; b < kw; ++b)
                        for (int c = 0; c < in_c; ++c)
                            folded[((static_cast<std::size_t>(o) * kw + b) * kh + a) * in_c + c] =
                                t.data[((static_cast<std::size_t>(o) * kh + a) * kw + b) * in_c + c];
            t.data = std::move(folded);
            t.shape = {o_n, kw, kh, in_c};
        } else if (l.kind == engine::LayerKind::fully_connected && l.input >= 0 &&
                   layers[l.input].kind == engine::LayerKind::conv) {
            // The first fully connected layer flattens a square h x h x c map
            // (3x3 in RNet and ONet): source order (x, y, c), ours (y, x, c).
            const int channels = layers[l.input].out_c;
            const int side = static_cast<int>(std::lround(std::sqrt(l.in_c / channels)));
            if (side * side * channels != l.in_c)
                throw std::logic_error(def.name() + ": " + l.name + " does not flatten a square map");
            engine::WeightTensor& t = tensor(weights, l.name + "/weights");
            std::vector<float> folded(t.data.size());
            for (int o = 0; o < l.out_c; ++o)
                for (int y = 0; y < side; ++y)
                    for (int x = 0; x < side; ++x)
                        for (int c = 0; c < channels; ++c)
                            folded[static_cast<std::size_t>(o) * l.in_c + (y * side + x) * channels + c] =
                                t.data[static_cast<std::size_t>(o) * l.in_c + (x * side + y) * channels + c];
            t.data = std::move(folded);
        }
    }
    return weights;
}

engine::WeightFile embedded_weights(const std::string& network) {
    const unsigned char *begin = nullptr, *end = nullptr;
    if (network == "pnet") begin = face_weights_pnet, end = face_weights_pnet_end;
    else if (network == "rnet") begin = face_weights_rnet, end = face_weights_rnet_end;
    else if (network == "onet") begin = face_weights_onet, end = face_weights_onet_end;
    else throw std::invalid_argument("no embedded weights for network " + network);
    return engine::parse_weight_file(
        std::span<const std::byte>(reinterpret_cast<const std::byte*>(begin), static_cast<std::size_t>(end - begin)),
        "embedded " + network + ".bin");
}

namespace {

engine::Network load_one(const NetworkDef& def, const engine::Kernels& kernels, const std::string& dir) {
    engine::WeightFile file =
        dir.empty() ? embedded_weights(def.name()) : engine::read_weight_file(dir + "/" + def.name() + ".bin");
    engine::validate_weights(def, file);  // as stored, before folding relies on the shapes
    return engine::Network(def, fold_transpose(std::move(file), def), kernels);
}

}  // namespace

Nets load_nets(const engine::Kernels& kernels, const std::string& weights_dir) {
    return Nets{load_one(pnet_def(), kernels, weights_dir), load_one(rnet_def(), kernels, weights_dir),
                load_one(onet_def(), kernels, weights_dir)};
}

}  // namespace mtcnn
