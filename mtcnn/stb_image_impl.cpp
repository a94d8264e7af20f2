// The one translation unit that compiles stb_image (Debian's libstb-dev ships
// the header; we do not link its libstb.a, so that the decoder is built with
// only the formats we accept and with our own size guard). Compiled with -w:
// third-party code, its warnings are not ours to fix (mtcnn/CMakeLists.txt).
//
// The configuration here is the attack surface of every upload:
// - STBI_ONLY_*: PNG, BMP and GIF. JPEG goes to libjpeg-turbo (image.cpp),
//   so stb's JPEG parser, like its PSD, TGA, HDR, PIC and PNM parsers, is not
//   even compiled in.
// - STBI_NO_STDIO: image.cpp reads files itself; only memory decoding exists.
// - STBI_NO_LINEAR: we never ask for float pixels.
// - STBI_MAX_DIMENSIONS: the same side limit that decode_image enforces
//   (kMaxImageSide), so a header that declares a
//   huge side is refused before stb allocates anything.
// stb keeps its failure reason in a thread_local (C++11 and later) and we
// never call its global setters (flip, unpremultiply, iPhone PNG
// conversion), so concurrent decodes do not interfere.
#include "mtcnn/image.h"

#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_MAX_DIMENSIONS (mtcnn::kMaxImageSide)
#include <stb/stb_image.h>
