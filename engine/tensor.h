// Dense float32 tensors in NHWC layout (batch, height, width, channels).
//
// NHWC keeps a pixel's channels contiguous, so a convolution's receptive field
// row (kw pixels x channels) is one contiguous run of floats: the SIMD kernels
// read it directly, without an im2col copy (engine/kernels_impl.h).
#pragma once

#include <cstddef>
#include <new>
#include <string>
#include <vector>

namespace engine {

// Storage aligned to 64 bytes (one cache line, one AVX-512 register).
inline constexpr std::size_t kTensorAlignment = 64;

template <class T>
struct AlignedAllocator {
    using value_type = T;
    AlignedAllocator() = default;
    template <class U>
    AlignedAllocator(const AlignedAllocator<U>&) noexcept {}
    T* allocate(std::size_t n) {
        return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(kTensorAlignment)));
    }
    void deallocate(T* p, std::size_t) noexcept {
        ::operator delete(p, std::align_val_t(kTensorAlignment));
    }
    template <class U>
    bool operator==(const AlignedAllocator<U>&) const noexcept { return true; }
};

using AlignedFloats = std::vector<float, AlignedAllocator<float>>;

struct Shape {
    int n = 0, h = 0, w = 0, c = 0;
    std::size_t elements() const {
        return static_cast<std::size_t>(n) * h * w * c;
    }
    bool operator==(const Shape&) const = default;
    std::string str() const;  // "[n,h,w,c]"
};

class Tensor {
public:
    Tensor() = default;
    explicit Tensor(Shape shape) { reshape(shape); }

    // Sets the shape; keeps the allocation when it is large enough, so a
    // tensor reused across calls stops allocating once warm. Contents are
    // unspecified after a reshape that grows.
    void reshape(Shape shape);

    const Shape& shape() const { return shape_; }
    int n() const { return shape_.n; }
    int h() const { return shape_.h; }
    int w() const { return shape_.w; }
    int c() const { return shape_.c; }
    std::size_t size() const { return shape_.elements(); }

    float* data() { return data_.data(); }
    const float* data() const { return data_.data(); }

    // Pointer to the channels of pixel (n, y, x).
    float* at(int n, int y, int x) { return data() + offset(n, y, x); }
    const float* at(int n, int y, int x) const { return data() + offset(n, y, x); }

private:
    std::size_t offset(int n, int y, int x) const {
        return ((static_cast<std::size_t>(n) * shape_.h + y) * shape_.w + x) * shape_.c;
    }
    Shape shape_;
    AlignedFloats data_;
};

}  // namespace engine
