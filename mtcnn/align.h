// Aligned face crops: 112 x 112 pixels in which a face's five keypoints sit
// as close as a similarity transform allows to the reference points that
// ArcFace-style recognisers are trained on (insightface's 112 x 112
// template), so a crop can be fed to such a model as it is.
//
// - The transform is the least-squares similarity (rotation, uniform scale,
//   translation; never a reflection) from the keypoints onto the template:
//   Umeyama 1991, "Least-squares estimation of transformation parameters
//   between two point patterns". In 2-D its closed form is that of complex
//   least squares: with the points centred on their means, q ~ z p has the
//   solution z = sum(conj(p_i) q_i) / sum |p_i|^2, |z| the scale and
//   arg z the angle; Umeyama's reflection guard never triggers.
// - Keypoint order: Face::keypoints is left_eye, right_eye, nose,
//   mouth_left, mouth_right with "left" the image's left (smaller x), and
//   the template's first point (38.29, 51.70) is likewise the eye on the
//   image's left: the order maps one to one.
// - Coordinates are pixel indices (pixel (i, j)'s centre is (i, j)), as the
//   keypoints and the template use them.
// - Sampling: each crop pixel is the inverse transform's source point,
//   bilinearly interpolated; a source pixel outside the photo counts as
//   black (0, 0, 0), so a face at the edge has black beyond it, as
//   insightface's crops (cv2.warpAffine's constant border) do.
#pragma once

#include <array>
#include <span>

#include "mtcnn/detector.h"
#include "mtcnn/image.h"

namespace mtcnn {

inline constexpr int kAlignedSize = 112;

struct Point2 {
    double x = 0, y = 0;
};

// Left eye, right eye, nose, mouth left, mouth right in a 112 x 112 crop.
inline constexpr std::array<Point2, 5> kArcFaceTemplate{{
    {38.2946, 51.6963},
    {73.5318, 51.5014},
    {56.0252, 71.7366},
    {41.5493, 92.3655},
    {70.7299, 92.2041},
}};

// x' = a x - b y + tx, y' = b x + a y + ty: scale sqrt(a^2 + b^2), angle
// atan2(b, a).
struct Similarity {
    double a = 1, b = 0, tx = 0, ty = 0;

    Point2 apply(Point2 p) const { return {a * p.x - b * p.y + tx, b * p.x + a * p.y + ty}; }
    Similarity inverse() const;
};

// The least-squares similarity taking `from[i]` onto `to[i]` (Umeyama).
// std::invalid_argument when the spans differ in size, hold fewer than two
// points, or `from`'s points all coincide.
Similarity estimate_similarity(std::span<const Point2> from, std::span<const Point2> to);

// The transform from the photo to the aligned crop of `face`; when its five
// keypoints coincide (a face of a few pixels), the one that scales its box
// onto the crop, centre on centre.
Similarity alignment_transform(const Face& face);

// The kAlignedSize x kAlignedSize crop of `face` (above).
Image align_face(const Image& image, const Face& face);

}  // namespace mtcnn
