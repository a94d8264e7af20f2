// A peer engine for the benchmarks: the MTCNN networks run by OpenCV's DNN
// module (Debian's libopencv-dev), built layer by layer from the same
// engine::NetworkDef and the same converted, transpose-folded weights the
// product runs, behind engine::Forward so that the same cascade
// (mtcnn::Detector) drives it. Bench only: never linked into the product.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include <opencv2/dnn.hpp>

#include "engine/network.h"
#include "engine/weights_file.h"

namespace peer {

// One network as a cv::dnn::Net on OpenCV's own backend and the CPU target
// (DNN_BACKEND_OPENCV, DNN_TARGET_CPU). forward() takes our NHWC tensor,
// runs the net on its NCHW copy and writes each output back into
// ws.tensors as NHWC, in the order of def().outputs(); a fully connected
// output [n, c] becomes [n,1,1,c], as engine::Network gives it.
//
// A cv::dnn::Net keeps its activations inside itself and is not safe to
// run from two threads, so forward() is serialised by a mutex: const and
// safe, but the peer is meant to run on one thread (threads=1 detector,
// cv::setNumThreads(1)).
class OpenCvNetwork final : public engine::Forward {
public:
    // `weights` as engine::Network takes them: validated against `def` and
    // transpose-folded (mtcnn::fold_transpose).
    OpenCvNetwork(engine::NetworkDef def, const engine::WeightFile& weights);

    const engine::NetworkDef& def() const { return def_; }

    void forward(const engine::Tensor& input, engine::Workspace& ws) const override;
    const engine::Tensor& output(const engine::Workspace& ws, const std::string& name) const override;

private:
    engine::NetworkDef def_;
    std::vector<std::string> output_layers_;  // the cv::dnn layer of each def_.outputs() entry
    mutable std::mutex mutex_;
    mutable cv::dnn::Net net_;
    mutable cv::Mat input_;  // the NCHW copy of the last input, reused
};

struct OpenCvNets {
    OpenCvNetwork pnet, rnet, onet;
};

// The weights embedded in the binary (mtcnn::embedded_weights), validated
// and folded exactly as mtcnn::load_nets does for our engine.
OpenCvNets load_opencv_nets();

// "OpenCV 4.6.0, 1 thread, CPU features: ...": for logs.
std::string opencv_description();

}  // namespace peer
