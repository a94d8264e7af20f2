// The three MTCNN networks: their definitions (weights/README.md), the
// transpose folding, and loading from the weights embedded in the binary or
// from a directory of weight files.
#pragma once

#include <string>

#include "engine/kernels.h"
#include "engine/network.h"
#include "engine/weights_file.h"

namespace mtcnn {

// PNet input: any size >= 12x12, 3 channels; outputs "prob" [n,h',w',2] and
// "reg" [n,h',w',4]. RNet: 24x24 -> "prob", "reg". ONet: 48x48 -> "prob",
// "reg", "landmarks" [n,1,1,10].
engine::NetworkDef pnet_def();
engine::NetworkDef rnet_def();
engine::NetworkDef onet_def();

inline constexpr int kRnetSize = 24;
inline constexpr int kOnetSize = 48;

// The nets were trained on transposed images (their first spatial axis is
// the photo's x). Rather than transposing every image and every output, the
// transpose is folded into the weights once: every convolution kernel's kh and
// kw are swapped, and the inputs of the first fully connected layer after
// the convolutions are reordered from (x, y, c) to (y, x, c). `def` says which
// layers those are; the result is equivalent (tests/mtcnn/nets_test.cpp).
// `weights` must have passed engine::validate_weights(def, weights).
engine::WeightFile fold_transpose(engine::WeightFile weights, const engine::NetworkDef& def);

struct Nets {
    engine::Network pnet, rnet, onet;
};

// Loads the weights embedded in the binary (weights_dir empty) or
// weights_dir/{pnet,rnet,onet}.bin; validates them (engine::WeightFileError
// naming the file) and folds the transpose.
Nets load_nets(const engine::Kernels& kernels, const std::string& weights_dir = {});

// The embedded bytes of "pnet", "rnet" or "onet".
engine::WeightFile embedded_weights(const std::string& network);

}  // namespace mtcnn
