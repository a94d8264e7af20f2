#include "engine/tensor.h"

namespace engine {

std::string Shape::str() const {
    return "[" + std::to_string(n) + "," + std::to_string(h) + "," + std::to_string(w) + "," +
           std::to_string(c) + "]";
}

void Tensor::reshape(Shape shape) {
    shape_ = shape;
    if (data_.size() < shape.elements()) data_.resize(shape.elements());
}

}  // namespace engine
