// Resampling as the predecessor did it: OpenCV's cv2.resize with INTER_AREA,
// for the pyramid (8-bit in, rounded 8-bit values out) and for the RNet/ONet
// crops (float in and out).
//
// When both axes shrink, every output pixel is the area-weighted mean of the
// source pixels its footprint covers. Otherwise OpenCV's INTER_AREA becomes a
// linear blend whose weight is the overlap of the output pixel with the
// source pixel boundary (sharper than bilinear); both rules are reproduced
// here so that the known answers of ../shared/golden match.
//
// Enlarging may instead be bilinear (Enlarge::bilinear): what the MTCNN
// authors' MATLAB code did (imresize 'bilinear'), and what the nets saw in
// training; INTER_AREA's enlarging is close to nearest neighbour, which turns
// a 15-pixel face into blocks for ONet's 48x48 input (bench/ACCURACY.md
// measures the difference).
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

// Bilinear taps with pixel centres at half-integers (OpenCV's INTER_LINEAR,
// MATLAB's imresize without antialiasing): output d samples source
// coordinate (d + 0.5) * source_size / dest_size - 0.5, clamped to the edge
// pixels.
std::vector<std::vector<ResizeTap>> linear_taps(int source_size, int dest_size);

enum class Enlarge { area, bilinear };

// The taps resize() uses: area_taps when both axes shrink, otherwise
// INTER_AREA's enlarging rule or linear_taps, by `enlarge`.
std::vector<std::vector<ResizeTap>> resize_taps(int source_size, int dest_size, bool shrink_both_axes,
                                                Enlarge enlarge);

// One axis's taps flattened for a row of RGB pixels: output pixel d sums the
// taps [start[d], start[d + 1]) of `source` (pixel indices) and `weight`.
struct RowTaps {
    std::vector<int> start{0};
    std::vector<int> source;
    std::vector<float> weight;

    void clear() {
        start.assign(1, 0);
        source.clear();
        weight.clear();
    }
    void add(int pixel, float w) {
        source.push_back(pixel);
        weight.push_back(w);
    }
    void end_pixel() { start.push_back(static_cast<int>(source.size())); }
    int pixels() const { return static_cast<int>(start.size()) - 1; }
};

// What resize() works out from the sizes alone: both axes' taps, x's also
// flattened for RGB rows, and the most source rows one output row reads.
// Made once per pyramid level and shared by its bands (resize_rows), on
// any number of threads: it is read-only.
struct ResizePlan {
    ResizePlan(int src_w, int src_h, int dst_w, int dst_h, Enlarge enlarge);
    int src_w, src_h, dst_w, dst_h;
    std::vector<std::vector<ResizeTap>> x_taps, y_taps;
    RowTaps rgb_x_taps;
    int span = 1;
};

// out[3 d + c] = the sum over d's taps, in their order, of weight * in[3
// source + c], for c < 3 and every output pixel d (0 without taps). `in` must
// be readable one float past the last pixel a tap names: each tap is one
// 4-float vector operation on (R, G, B, next R).
void resize_row_rgb(const float* in, const RowTaps& taps, float* out);

// Interleaved `channels`-channel images, row-major, no padding.
void resize(const float* src, int src_w, int src_h, int channels, float* dst, int dst_w, int dst_h,
            Enlarge enlarge = Enlarge::area);
void resize(const std::uint8_t* src, int src_w, int src_h, int channels, std::uint8_t* dst, int dst_w, int dst_h,
            Enlarge enlarge = Enlarge::area);

// Output rows [first_row, first_row + rows) of the 8-bit resize() above
// (clipped to the image), the same values, into dst (rows x dst_w x
// channels): a pyramid level made a band at a time, never held whole.
void resize_rows(const ResizePlan& plan, const std::uint8_t* src, int channels, std::uint8_t* dst, int first_row,
                 int rows);

}  // namespace mtcnn
