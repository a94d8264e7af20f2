// Box arithmetic of the MTCNN cascade, following the predecessor (the `mtcnn`
// Python package 0.1.x, itself a port of facenet's detect_face.py and of the
// authors' MATLAB code): corners (x1, y1, x2, y2) with the MATLAB "+1"
// convention for widths and areas.
#pragma once

#include <array>
#include <vector>

namespace mtcnn {

struct Candidate {
    float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
    float score = 0;                    // what NMS ranks by
    std::array<float, 3> stages{};      // PNet's, RNet's and ONet's face probabilities
    std::array<float, 4> reg{};        // regression offsets (dx1, dy1, dx2, dy2), in box sizes
    std::array<float, 10> landmarks{};  // x of the five points, then y
};

enum class Overlap { union_, minimum };  // IoU, or intersection over the smaller area

// The overlap of two boxes, with the +1 convention for areas.
float overlap(const Candidate& a, const Candidate& b, Overlap kind);

// Greedy non-maximum suppression: repeatedly keeps the highest score and
// drops the boxes overlapping it by more than `threshold`. Returns the kept
// indices, highest score first (ties: the earlier index first).
std::vector<int> nms(const std::vector<Candidate>& boxes, float threshold, Overlap kind);

// Keeps boxes[i] for i in `picks`, in that order.
std::vector<Candidate> select(const std::vector<Candidate>& boxes, const std::vector<int>& picks);

// Moves the corners by reg * size. PNet's regression uses size = x2 - x1; the
// later stages use x2 - x1 + 1 (`plus_one`), as the predecessor did.
void apply_regression(Candidate& box, bool plus_one);

// Makes the box a square of side max(w, h) around the same centre.
void make_square(Candidate& box);

// Truncates the corners toward zero (numpy's fix), as the predecessor did
// before cropping.
void truncate_corners(Candidate& box);

// The pyramid: the scales at which PNet's 12-pixel window sees faces of
// min_face pixels and up, each `factor` times the previous, while the
// smaller image side stays at least 12 pixels.
std::vector<double> pyramid_scales(int width, int height, int min_face, double factor);

// PNet's output grid maps back to the image: cell (row, col) of the map for
// `scale` is the 12x12 window at (2 col, 2 row) in the scaled image.
Candidate cell_box(int row, int col, double scale, float score, const std::array<float, 4>& reg);

}  // namespace mtcnn
