// A weight file for a network definition, every tensor filled with uniform
// random values in [-0.5, 0.5): for tests that need some weights of the
// right shapes. Its source is "<network>.bin".
#pragma once

#include <random>

#include "engine/network.h"
#include "engine/weights_file.h"

namespace testing_support {

inline engine::WeightFile random_weights(const engine::NetworkDef& def, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-0.5f, 0.5f);
    engine::WeightFile file;
    file.network = def.name();
    file.source = def.name() + ".bin";
    for (const auto& [name, shape] : def.expected_tensors()) {
        engine::WeightTensor t{name, shape, {}};
        std::size_t count = 1;
        for (int d : shape) count *= d;
        for (std::size_t i = 0; i < count; ++i) t.data.push_back(dist(rng));
        file.tensors.push_back(std::move(t));
    }
    return file;
}

}  // namespace testing_support
