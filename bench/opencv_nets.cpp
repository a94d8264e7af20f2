#include "bench/opencv_nets.h"

#include <algorithm>
#include <stdexcept>

#include <opencv2/core/utility.hpp>

#include "mtcnn/nets.h"

namespace peer {
namespace {

using engine::LayerDef;
using engine::LayerKind;

// A 1 x n row of floats (OpenCV's shape for bias and PReLU slope blobs).
cv::Mat row(const std::vector<float>& values) {
    cv::Mat m(1, static_cast<int>(values.size()), CV_32F);
    std::copy(values.begin(), values.end(), m.ptr<float>());
    return m;
}

// Convolution weights: ours [o][kh][kw][in_c] (OHWI, engine/layers_ref.cpp),
// OpenCV's [o][in_c][kh][kw] (OIHW).
cv::Mat conv_weights(const engine::WeightTensor& t) {
    const int o_n = t.shape[0], kh = t.shape[1], kw = t.shape[2], in_c = t.shape[3];
    const int sizes[] = {o_n, in_c, kh, kw};
    cv::Mat m(4, sizes, CV_32F);
    float* dst = m.ptr<float>();
    for (int o = 0; o < o_n; ++o)
        for (int y = 0; y < kh; ++y)
            for (int x = 0; x < kw; ++x)
                for (int c = 0; c < in_c; ++c)
                    dst[((static_cast<std::size_t>(o) * in_c + c) * kh + y) * kw + x] =
                        t.data[((static_cast<std::size_t>(o) * kh + y) * kw + x) * in_c + c];
    return m;
}

// Fully connected weights [o][in]. Ours flatten the input map in NHWC order,
// (position, channel) with position = y * w + x; OpenCV flattens its NCHW
// blob as (channel, position). `channels`: the input map's channels (equal
// to `in` after another fully connected layer, where nothing moves).
cv::Mat fc_weights(const engine::WeightTensor& t, int channels) {
    const int o_n = t.shape[0], in = t.shape[1];
    if (in % channels != 0)
        throw std::logic_error("fully connected input of " + std::to_string(in) + " features from " +
                               std::to_string(channels) + " channels");
    const int positions = in / channels;
    cv::Mat m(o_n, in, CV_32F);
    for (int o = 0; o < o_n; ++o) {
        const float* src = t.data.data() + static_cast<std::size_t>(o) * in;
        float* dst = m.ptr<float>(o);
        for (int p = 0; p < positions; ++p)
            for (int c = 0; c < channels; ++c) dst[c * positions + p] = src[p * channels + c];
    }
    return m;
}

}  // namespace

OpenCvNetwork::OpenCvNetwork(engine::NetworkDef def, const engine::WeightFile& weights) : def_(std::move(def)) {
    engine::validate_weights(def_, weights);
    const std::vector<LayerDef>& layers = def_.layers();
    std::vector<int> ids(layers.size());        // the cv::dnn layer holding each layer's output
    std::vector<std::string> names(layers.size());
    std::vector<int> channels(layers.size());  // each layer's output channels
    net_.setInputsNames({"data"});
    for (std::size_t i = 0; i < layers.size(); ++i) {
        const LayerDef& l = layers[i];
        const int from = l.input == engine::NetworkDef::kInput ? 0 : ids[l.input];
        const int in_channels = l.input == engine::NetworkDef::kInput ? def_.in_channels() : channels[l.input];
        cv::dnn::LayerParams p;
        p.name = l.name;
        switch (l.kind) {
            case LayerKind::conv:
                p.type = "Convolution";
                p.set("num_output", l.out_c);
                p.set("kernel_h", l.conv.kh);
                p.set("kernel_w", l.conv.kw);
                p.set("stride_h", l.conv.stride_h);
                p.set("stride_w", l.conv.stride_w);
                p.set("pad_h", l.conv.pad_h);
                p.set("pad_w", l.conv.pad_w);
                p.set("bias_term", true);
                p.blobs = {conv_weights(weights.get(l.name + "/weights")), row(weights.get(l.name + "/biases").data)};
                channels[i] = l.out_c;
                break;
            case LayerKind::fully_connected:
                p.type = "InnerProduct";
                p.set("num_output", l.out_c);
                p.set("bias_term", true);
                p.set("axis", 1);  // flatten everything after the batch
                p.blobs = {fc_weights(weights.get(l.name + "/weights"), in_channels),
                           row(weights.get(l.name + "/biases").data)};
                channels[i] = l.out_c;
                break;
            case LayerKind::max_pool:
                p.type = "Pooling";
                p.set("pool", "max");
                p.set("kernel_size", l.pool.kernel);
                p.set("stride", l.pool.stride);
                p.set("pad", 0);
                // OpenCV's ceil mode is Caffe's, as ours: windows from 0,
                // clipped at the far edge (its default is ceil; set both).
                p.set("ceil_mode", l.pool.rounding == engine::PoolRounding::ceil);
                channels[i] = in_channels;
                break;
            case LayerKind::softmax:
                p.type = "Softmax";
                p.set("axis", 1);  // the channels, in NCHW and in [n, c]
                channels[i] = in_channels;
                break;
        }
        int id = net_.addLayer(p.name, p.type, p);
        net_.connect(from, 0, id, 0);
        names[i] = l.name;
        if (!l.prelu.empty()) {
            // A layer of its own; OpenCV fuses it into the convolution.
            cv::dnn::LayerParams a;
            a.name = l.prelu;
            a.type = "PReLU";
            a.blobs = {row(weights.get(l.prelu + "/alpha").data)};
            const int prelu = net_.addLayer(a.name, a.type, a);
            net_.connect(id, 0, prelu, 0);
            id = prelu;
            names[i] = l.prelu;
        }
        ids[i] = id;
    }
    for (const auto& [name, layer] : def_.outputs()) output_layers_.push_back(names[layer]);
    net_.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    net_.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
}

void OpenCvNetwork::forward(const engine::Tensor& input, engine::Workspace& ws) const {
    if (input.c() != def_.in_channels())
        throw std::invalid_argument(def_.name() + ": input " + input.shape().str() + " needs " +
                                    std::to_string(def_.in_channels()) + " channels");
    const std::lock_guard<std::mutex> lock(mutex_);
    const int n = input.n(), h = input.h(), w = input.w(), c = input.c();
    const int sizes[] = {n, c, h, w};
    input_.create(4, sizes, CV_32F);
    float* dst = input_.ptr<float>();
    for (int b = 0; b < n; ++b)
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) {
                const float* pixel = input.at(b, y, x);
                for (int k = 0; k < c; ++k)
                    dst[((static_cast<std::size_t>(b) * c + k) * h + y) * w + x] = pixel[k];
            }
    net_.setInput(input_, "data");
    std::vector<cv::Mat> outs;
    net_.forward(outs, output_layers_);

    ws.tensors.resize(outs.size());
    for (std::size_t i = 0; i < outs.size(); ++i) {
        const cv::Mat& m = outs[i];
        if (!m.isContinuous() || m.type() != CV_32F || (m.dims != 2 && m.dims != 4))
            throw std::logic_error(def_.name() + ": unexpected OpenCV output " + output_layers_[i]);
        const int on = m.size[0], oc = m.size[1];
        const int oh = m.dims == 4 ? m.size[2] : 1, ow = m.dims == 4 ? m.size[3] : 1;
        engine::Tensor& t = ws.tensors[i];
        t.reshape({on, oh, ow, oc});
        const float* src = m.ptr<float>();
        for (int b = 0; b < on; ++b)
            for (int k = 0; k < oc; ++k)
                for (int y = 0; y < oh; ++y)
                    for (int x = 0; x < ow; ++x)
                        t.at(b, y, x)[k] = src[((static_cast<std::size_t>(b) * oc + k) * oh + y) * ow + x];
    }
}

const engine::Tensor& OpenCvNetwork::output(const engine::Workspace& ws, const std::string& name) const {
    const auto& outputs = def_.outputs();
    for (std::size_t i = 0; i < outputs.size(); ++i)
        if (outputs[i].first == name) return ws.tensors.at(i);
    throw std::invalid_argument(def_.name() + ": no output named " + name);
}

namespace {

engine::WeightFile folded(const engine::NetworkDef& def) {
    engine::WeightFile file = mtcnn::embedded_weights(def.name());
    engine::validate_weights(def, file);  // as stored, before folding relies on the shapes
    return mtcnn::fold_transpose(std::move(file), def);
}

}  // namespace

OpenCvNets load_opencv_nets() {
    const engine::NetworkDef p = mtcnn::pnet_def(), r = mtcnn::rnet_def(), o = mtcnn::onet_def();
    return OpenCvNets{OpenCvNetwork(p, folded(p)), OpenCvNetwork(r, folded(r)), OpenCvNetwork(o, folded(o))};
}

std::string opencv_description() {
    const int threads = cv::getNumThreads();
    return "OpenCV " + cv::getVersionString() + ", " + std::to_string(threads) + " thread" +
           (threads == 1 ? "" : "s") + ", CPU features:" + cv::getCPUFeaturesLine();
}

}  // namespace peer
