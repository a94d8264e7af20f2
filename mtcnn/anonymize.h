// Anonymising a photo: every face's region blurred, pixelated or filled, in
// place or into a copy. The pixels only: whoever sends the result encodes it
// again (mtcnn/encode.h), which carries no EXIF, GPS or other metadata.
//
// Decisions (tests/mtcnn/anonymize_test.cpp pins each of them):
// - The region is the face's box padded to cover hair, ears and chin
//   (Padding: 25% of the box's width on each side, 50% of its height above,
//   25% below), then the ellipse inscribed in that padded rectangle
//   (RegionShape::ellipse, the default: a face is round, and the corners of
//   a rectangle would blank out more of the background than needed) or the
//   rectangle itself. With these paddings the whole face box lies inside
//   the ellipse. The ellipse is that of the padded rectangle before it is
//   clipped to the photo, so a face at the edge keeps its shape; only
//   pixels inside the photo change.
// - Nothing outside a face's region changes. Overlapping regions are
//   processed one after the other, in the faces' order.
// - `strength` is a fraction of the face box's width, for both methods
//   that have one (default 0.15; (0, 1]):
//     gaussian: the blur's standard deviation, sigma = strength * width
//       (at least 1 pixel). Three successive box filters of the widths that
//       give that variance (Wells 1986; Kovesi, "Fast almost-Gaussian
//       filtering", 2010): a close approximation whose cost does not grow
//       with sigma, so a face 2,000 pixels wide costs what a small one does
//       per pixel. Sampled from the padded rectangle only (clipped to the
//       photo, edges repeated), so no pixel from beyond it is smeared in.
//     pixelate: the side of the square blocks, strength * width (at least
//       1 pixel), laid from the clipped rectangle's top-left corner; each
//       block becomes the mean of its pixels within that rectangle.
//     solid: black; strength is not used.
//   At the default a 100-pixel face is blurred with sigma 15 pixels, or
//   pixelated into 15-pixel blocks (an eye is about one block).
// - Mild blurs can be partly undone (deconvolution), pixelation of few
//   large blocks cannot recover what the block averages lost, and solid
//   leaves nothing: choose by what must not be recoverable.
#pragma once

#include <span>
#include <stdexcept>
#include <string_view>

#include "mtcnn/detector.h"
#include "mtcnn/image.h"

namespace mtcnn {

enum class BlurMethod { gaussian, pixelate, solid };
enum class RegionShape { ellipse, rectangle };

// "gaussian", "pixelate", "solid"; and the inverse (std::invalid_argument
// naming the methods for any other name).
std::string_view blur_method_name(BlurMethod method);
BlurMethod blur_method_from_name(std::string_view name);
inline constexpr std::string_view kBlurMethodNames = "gaussian, pixelate, solid";

// Fractions of the face box's width (left, right) and height (top, bottom)
// added on each side.
struct Padding {
    double left = 0.25, right = 0.25, top = 0.50, bottom = 0.25;
};

inline constexpr double kDefaultStrength = 0.15;
inline constexpr double kMaxStrength = 1.0;

struct AnonymizeOptions {
    BlurMethod method = BlurMethod::gaussian;
    double strength = kDefaultStrength;  // (0, kMaxStrength]; see above
    Padding padding{};
    RegionShape shape = RegionShape::ellipse;
};

// The options' strength is outside (0, kMaxStrength], or a padding is
// negative, NaN or infinite.
class InvalidAnonymizeOptions : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

// Where one face's pixels change: the padded rectangle [x0, x1) x [y0, y1)
// clipped to the photo (empty when the face lies outside it), and the shape
// inside it, in the coordinates of pixel centres (x + 0.5, y + 0.5).
struct FaceRegion {
    int x0 = 0, y0 = 0, x1 = 0, y1 = 0;  // clipped
    double cx = 0, cy = 0, rx = 0, ry = 0;  // the unclipped padded rectangle's centre and half sides
    RegionShape shape = RegionShape::ellipse;

    bool empty() const { return x0 >= x1 || y0 >= y1; }
    bool contains(int x, int y) const;
};

FaceRegion face_region(const Face& face, const Padding& padding, RegionShape shape, int width, int height);

// Every face's region of `image` changed by options.method. Throws
// InvalidAnonymizeOptions before touching a pixel, and DetectionTimeout
// (checked before each face) once `deadline` has passed.
void anonymize(Image& image, std::span<const Face> faces, const AnonymizeOptions& options = {},
               const Deadline& deadline = {});

// The same, into a copy.
Image anonymized(const Image& image, std::span<const Face> faces, const AnonymizeOptions& options = {},
                 const Deadline& deadline = {});

}  // namespace mtcnn
