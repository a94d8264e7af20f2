// Base64 (server/base64.h): RFC 4648's test vectors, every byte value, and
// the length rule.
#include "server/base64.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

std::string encode(std::string_view text) {
    return server::base64_encode({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
}

TEST(Base64, Rfc4648Vectors) {
    EXPECT_EQ(encode(""), "");
    EXPECT_EQ(encode("f"), "Zg==");
    EXPECT_EQ(encode("fo"), "Zm8=");
    EXPECT_EQ(encode("foo"), "Zm9v");
    EXPECT_EQ(encode("foob"), "Zm9vYg==");
    EXPECT_EQ(encode("fooba"), "Zm9vYmE=");
    EXPECT_EQ(encode("foobar"), "Zm9vYmFy");
}

TEST(Base64, HighBytesUseTheStandardAlphabet) {
    const std::vector<std::uint8_t> bytes{0xFB, 0xFF, 0xBF, 0x00, 0x10, 0x83};
    EXPECT_EQ(server::base64_encode(bytes), "+/+/ABCD");
    const std::vector<std::uint8_t> png_magic{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    EXPECT_EQ(server::base64_encode(png_magic), "iVBORw0KGgo=");
}

TEST(Base64, LengthAndAlphabetForEveryByte) {
    std::vector<std::uint8_t> all;
    for (int i = 0; i < 256; ++i) all.push_back(static_cast<std::uint8_t>(i));
    for (std::size_t n = 0; n <= all.size(); ++n) {
        const std::string out = server::base64_encode(std::span(all).first(n));
        ASSERT_EQ(out.size(), (n + 2) / 3 * 4) << n;
        for (char c : out)
            ASSERT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=') << n;
    }
}

}  // namespace
