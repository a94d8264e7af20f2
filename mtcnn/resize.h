// Resampling as the predecessor did it: OpenCV's cv2.resize with INTER_AREA,
// for the pyramid (8-bit in, rounded 8-bit values out) and for the RNet/ONet
// crops (float in and out).
//
// When both axes shrink, every output pixel is the area-weighted mean of the
// source pixels its footprint covers. Otherwise OpenCV's INTER_AREA becomes a
// linear blend whose weight is the overlap of the output pixel with the
// source pixel boundary (sharper than bilinear); both rules are reproduced
// here so that the known answers of ../shared/golden match.
#pragma once

#include <cstdint>
#include <vector>

namespace mtcnn {

// One output coordinate's source taps along one axis.
struct ResizeTap {
    int source;
    float weight;
};

// Taps for every output coordinate: taps[d] lists (source index, weight).
std::vector<std::vector<ResizeTap>> area_taps(int source_size, int dest_size, bool shrink_both_axes);

// Interleaved `channels`-channel images, row-major, no padding.
void resize_area(const float* src, int src_w, int src_h, int channels, float* dst, int dst_w, int dst_h);
void resize_area(const std::uint8_t* src, int src_w, int src_h, int channels, std::uint8_t* dst, int dst_w,
                 int dst_h);

}  // namespace mtcnn
