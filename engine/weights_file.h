// The engine's weight file format (weights/README.md): parse, validate, write.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace engine {

// Every problem with a weight file: the message names the file (or the
// label the bytes came with) and what is wrong.
class WeightFileError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct WeightTensor {
    std::string name;
    std::vector<int> shape;   // rank 1..4
    std::vector<float> data;  // product(shape) values
};

struct WeightFile {
    std::string network;  // "pnet", "rnet" or "onet"
    std::vector<WeightTensor> tensors;

    // The tensor called `name`; throws WeightFileError naming `source` and
    // the tensor when there is none.
    const WeightTensor& get(const std::string& name) const;
    std::string source;  // file path or label, for messages
};

inline constexpr std::uint32_t kWeightFormatVersion = 1;

// Byte layout of a version-1 file (weights/README.md "Layout"), for code that
// inspects or builds files by hand (tests, tools). All integers little-endian.
namespace weight_layout {
inline constexpr char kMagic[] = "FSWEIGHT";         // 8 bytes, no NUL in the file
inline constexpr std::size_t kMagicSize = 8;
inline constexpr std::size_t kHeaderSize = 64;
inline constexpr std::size_t kVersionOffset = 8;      // u32
inline constexpr std::size_t kCountOffset = 12;       // u32
inline constexpr std::size_t kFileSizeOffset = 16;    // u64
inline constexpr std::size_t kChecksumOffset = 24;    // u32, read as zero for the CRC
inline constexpr std::size_t kHeaderReservedOffset = 28;  // u32
inline constexpr std::size_t kNetworkOffset = 32;
inline constexpr std::size_t kNetworkSize = 32;       // ASCII, NUL-padded

inline constexpr std::size_t kEntrySize = 128;        // table entries from kHeaderSize
inline constexpr std::size_t kEntryNameSize = 80;     // ASCII, NUL-padded, >= 1 NUL
inline constexpr std::size_t kEntryRankOffset = 80;   // u32
inline constexpr std::size_t kEntryDimsOffset = 84;   // u32[4]
inline constexpr std::size_t kEntryReservedOffset = 100;  // u32
inline constexpr std::size_t kEntryDataOffset = 104;  // u64
inline constexpr std::size_t kEntryCountOffset = 112; // u64
inline constexpr std::size_t kEntryReserved2Offset = 120; // u64

inline constexpr std::size_t kMaxRank = 4;
inline constexpr std::uint32_t kMinTensors = 1;
inline constexpr std::uint32_t kMaxTensors = 256;
inline constexpr std::size_t kDataAlignment = 64;     // bytes
}  // namespace weight_layout

// Validates magic, version, size, checksum and the table; `source` names the
// bytes in error messages.
WeightFile parse_weight_file(std::span<const std::byte> bytes, const std::string& source);
WeightFile read_weight_file(const std::string& path);

// The exact bytes of a version-1 file (deterministic: same input, same bytes).
std::vector<std::byte> serialize_weight_file(const std::string& network,
                                             const std::vector<WeightTensor>& tensors);

// CRC-32 (IEEE 802.3 polynomial, reflected, as zlib's crc32).
std::uint32_t crc32(std::span<const std::byte> bytes);

}  // namespace engine
