// The engine's weight file format (weights/README.md): parse, validate, write.
//
// Every multi-byte field is read and written byte by byte in little-endian
// order, so the code never depends on the host's struct layout, padding or
// endianness. Parsing checks everything the README specifies before it
// trusts any number from the file: a file either loads completely or fails
// with a WeightFileError that names the file, the problem and, when the
// problem is in one tensor, that tensor.
#include "engine/weights_file.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <type_traits>
#include <unordered_map>

namespace engine {

namespace {

namespace L = weight_layout;

constexpr std::size_t kFloatSize = sizeof(std::uint32_t);  // float32 on disk
static_assert(sizeof(float) == kFloatSize, "the format stores IEEE-754 binary32");
static_assert(std::numeric_limits<float>::is_iec559, "the format stores IEEE-754 binary32");

// Table-driven CRC-32, IEEE 802.3 polynomial in reflected form, as zlib's
// crc32(): init 0xFFFFFFFF, final XOR 0xFFFFFFFF, least significant bit first.
constexpr std::uint32_t kCrcPolynomialReflected = 0xEDB88320u;
constexpr std::uint32_t kCrcInitXor = 0xFFFFFFFFu;
constexpr std::size_t kCrcTableSize = 256;  // one entry per byte value
constexpr int kBitsPerByte = 8;

constexpr std::array<std::uint32_t, kCrcTableSize> make_crc_table() {
    std::array<std::uint32_t, kCrcTableSize> table{};
    for (std::uint32_t n = 0; n < kCrcTableSize; ++n) {
        std::uint32_t c = n;
        for (int bit = 0; bit < kBitsPerByte; ++bit) {
            c = (c & 1u) ? (kCrcPolynomialReflected ^ (c >> 1)) : (c >> 1);
        }
        table[n] = c;
    }
    return table;
}
constexpr auto kCrcTable = make_crc_table();

// Continues a CRC over more bytes; `state` is the running register (already
// inverted), so a checksum can be taken over pieces (used to read the checksum
// field as zero without copying the file).
std::uint32_t crc_update(std::uint32_t state, std::span<const std::byte> bytes) {
    for (std::byte b : bytes) {
        state = kCrcTable[(state ^ std::to_integer<std::uint32_t>(b)) & 0xFFu] ^ (state >> kBitsPerByte);
    }
    return state;
}

std::uint32_t checksum_of_file(std::span<const std::byte> file) {
    constexpr std::array<std::byte, sizeof(std::uint32_t)> zero_field{};
    std::uint32_t state = kCrcInitXor;
    state = crc_update(state, file.first(L::kChecksumOffset));
    state = crc_update(state, zero_field);
    state = crc_update(state, file.subspan(L::kChecksumOffset + zero_field.size()));
    return state ^ kCrcInitXor;
}

// Little-endian field access. Callers have already checked the range.
template <typename T>
T read_le(std::span<const std::byte> bytes, std::size_t offset) {
    static_assert(std::is_unsigned_v<T>);
    T value = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) {
        value |= static_cast<T>(std::to_integer<T>(bytes[offset + i]) << (kBitsPerByte * i));
    }
    return value;
}

template <typename T>
void write_le(std::vector<std::byte>& bytes, std::size_t offset, T value) {
    static_assert(std::is_unsigned_v<T>);
    for (std::size_t i = 0; i < sizeof(T); ++i) {
        bytes[offset + i] = static_cast<std::byte>((value >> (kBitsPerByte * i)) & 0xFFu);
    }
}

std::string hex32(std::uint32_t v) {
    std::ostringstream out;
    out << "0x" << std::hex;
    out.width(8);
    out.fill('0');
    out << v;
    return out.str();
}

std::size_t align_up(std::size_t n, std::size_t alignment) {
    return (n + alignment - 1) / alignment * alignment;
}

// Names are plain ASCII identifiers such as "conv4-1/weights": printable,
// no spaces, so they can be printed in messages and compared byte-wise.
bool is_name_char(char c) {
    constexpr char kFirstPrintable = '!';
    constexpr char kLastPrintable = '~';
    return c >= kFirstPrintable && c <= kLastPrintable;
}

// A NUL-padded ASCII field: the text up to the first NUL, which must be
// non-empty and printable, with only NULs after it. `need_nul` is true for
// fields that must keep at least one NUL (tensor names). On failure sets
// `problem` (a phrase completing "name ...") and returns an empty string.
std::string read_padded_name(std::span<const std::byte> field, bool need_nul, std::string& problem) {
    std::string text;
    std::size_t i = 0;
    for (; i < field.size() && field[i] != std::byte{0}; ++i) {
        const char c = static_cast<char>(std::to_integer<unsigned char>(field[i]));
        if (!is_name_char(c)) {
            problem = "contains a byte that is not printable ASCII (" +
                      std::to_string(std::to_integer<unsigned>(field[i])) + ") at position " +
                      std::to_string(i);
            return {};
        }
        text.push_back(c);
    }
    if (i == field.size() && need_nul) {
        problem = "is not NUL-terminated within its " + std::to_string(field.size()) + " bytes";
        return {};
    }
    if (text.empty()) {
        problem = "is empty";
        return {};
    }
    for (; i < field.size(); ++i) {
        if (field[i] != std::byte{0}) {
            problem = "has non-zero bytes after its terminating NUL";
            return {};
        }
    }
    return text;
}

// Checks a name for serialization against the same rules parsing applies.
void check_name_for_write(const std::string& context, const std::string& what, const std::string& name,
                          std::size_t field_size, bool need_nul) {
    const std::size_t max_len = need_nul ? field_size - 1 : field_size;
    if (name.empty() || name.size() > max_len) {
        throw WeightFileError(context + ": " + what + " '" + name + "' must have 1.." +
                              std::to_string(max_len) + " characters");
    }
    if (!std::all_of(name.begin(), name.end(), is_name_char)) {
        throw WeightFileError(context + ": " + what + " '" + name +
                              "' must be printable ASCII without spaces");
    }
}

// a * b, or false when it does not fit in a u64.
bool checked_mul(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
    if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) return false;
    out = a * b;
    return true;
}

[[noreturn]] void fail(const std::string& source, const std::string& what) {
    throw WeightFileError(source + ": " + what);
}

[[noreturn]] void fail_entry(const std::string& source, std::size_t index, const std::string& name,
                             const std::string& what) {
    std::string where = "table entry " + std::to_string(index);
    if (!name.empty()) where = "tensor '" + name + "' (" + where + ")";
    throw WeightFileError(source + ": " + where + ": " + what);
}

}  // namespace

std::uint32_t crc32(std::span<const std::byte> bytes) {
    return crc_update(kCrcInitXor, bytes) ^ kCrcInitXor;
}

const WeightTensor& WeightFile::get(const std::string& name) const {
    for (const WeightTensor& t : tensors) {
        if (t.name == name) return t;
    }
    throw WeightFileError(source + ": no tensor named '" + name + "' in network '" + network + "'");
}

WeightFile parse_weight_file(std::span<const std::byte> bytes, const std::string& source) {
    const std::size_t size = bytes.size();
    if (size == 0) {
        fail(source, "empty file (0 bytes); truncated, expected at least the " +
                         std::to_string(L::kHeaderSize) + "-byte header");
    }
    if (size < L::kHeaderSize) {
        fail(source, "truncated: " + std::to_string(size) + " bytes, smaller than the " +
                         std::to_string(L::kHeaderSize) + "-byte header");
    }
    if (std::memcmp(bytes.data(), L::kMagic, L::kMagicSize) != 0) {
        fail(source, "bad magic: not a weight file (expected the bytes \"" + std::string(L::kMagic) +
                         "\" at offset 0)");
    }
    const auto version = read_le<std::uint32_t>(bytes, L::kVersionOffset);
    if (version != kWeightFormatVersion) {
        fail(source, "unsupported format version " + std::to_string(version) + " (this build reads version " +
                         std::to_string(kWeightFormatVersion) + "); regenerate it with convert-weights");
    }
    const auto count = read_le<std::uint32_t>(bytes, L::kCountOffset);
    if (count < L::kMinTensors || count > L::kMaxTensors) {
        fail(source, "tensor count " + std::to_string(count) + " is outside " + std::to_string(L::kMinTensors) +
                         ".." + std::to_string(L::kMaxTensors));
    }
    const auto declared_size = read_le<std::uint64_t>(bytes, L::kFileSizeOffset);
    if (declared_size != size) {
        fail(source, std::string(size < declared_size ? "truncated: " : "size mismatch: ") + "the header declares " +
                         std::to_string(declared_size) + " bytes but the file has " + std::to_string(size));
    }
    const auto stored_crc = read_le<std::uint32_t>(bytes, L::kChecksumOffset);
    const std::uint32_t actual_crc = checksum_of_file(bytes);
    if (stored_crc != actual_crc) {
        fail(source, "checksum mismatch: the header says " + hex32(stored_crc) + ", the contents give " +
                         hex32(actual_crc) + " (file corrupted)");
    }
    if (read_le<std::uint32_t>(bytes, L::kHeaderReservedOffset) != 0) {
        fail(source, "reserved header field at offset " + std::to_string(L::kHeaderReservedOffset) +
                         " is not zero");
    }

    WeightFile file;
    file.source = source;
    {
        std::string problem;
        file.network = read_padded_name(bytes.subspan(L::kNetworkOffset, L::kNetworkSize), false, problem);
        if (!problem.empty()) fail(source, "network name " + problem);
    }

    // The table must fit before any entry is read; the data may start only
    // after it (64 + n * 128 is already a multiple of 64).
    const std::size_t table_end = L::kHeaderSize + std::size_t{count} * L::kEntrySize;
    if (table_end > size) {
        fail(source, "truncated: the table of " + std::to_string(count) + " entries needs " +
                         std::to_string(table_end) + " bytes, the file has " + std::to_string(size));
    }

    std::unordered_map<std::string, std::size_t> seen;  // name -> entry index
    std::size_t previous_end = table_end;                 // end of the previous region
    file.tensors.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        const auto entry = bytes.subspan(L::kHeaderSize + i * L::kEntrySize, L::kEntrySize);
        std::string problem;
        std::string name = read_padded_name(entry.first(L::kEntryNameSize), true, problem);
        if (!problem.empty()) fail_entry(source, i, "", "name " + problem);
        if (const auto [it, inserted] = seen.emplace(name, i); !inserted) {
            fail_entry(source, i, name, "duplicate tensor name (also entry " + std::to_string(it->second) + ")");
        }

        const auto rank = read_le<std::uint32_t>(entry, L::kEntryRankOffset);
        if (rank < 1 || rank > L::kMaxRank) {
            fail_entry(source, i, name, "rank " + std::to_string(rank) + " is outside 1.." +
                                            std::to_string(L::kMaxRank));
        }
        WeightTensor tensor;
        tensor.name = std::move(name);
        std::uint64_t product = 1;
        for (std::size_t d = 0; d < L::kMaxRank; ++d) {
            const auto dim = read_le<std::uint32_t>(entry, L::kEntryDimsOffset + d * sizeof(std::uint32_t));
            if (d >= rank) {
                if (dim != 0) {
                    fail_entry(source, i, tensor.name, "unused dim " + std::to_string(d) + " is " +
                                                           std::to_string(dim) + ", must be 0 for rank " +
                                                           std::to_string(rank));
                }
                continue;
            }
            if (dim == 0 || dim > static_cast<std::uint32_t>(std::numeric_limits<int>::max())) {
                fail_entry(source, i, tensor.name, "dim " + std::to_string(d) + " is " + std::to_string(dim) +
                                                       ", must be 1.." +
                                                       std::to_string(std::numeric_limits<int>::max()));
            }
            // Four u32 factors can overflow a u64; such a shape cannot fit in a file.
            if (!checked_mul(product, dim, product)) {
                fail_entry(source, i, tensor.name, "element count overflows (dims too large)");
            }
            tensor.shape.push_back(static_cast<int>(dim));
        }
        if (read_le<std::uint32_t>(entry, L::kEntryReservedOffset) != 0 ||
            read_le<std::uint64_t>(entry, L::kEntryReserved2Offset) != 0) {
            fail_entry(source, i, tensor.name, "reserved fields are not zero");
        }
        const auto element_count = read_le<std::uint64_t>(entry, L::kEntryCountOffset);
        if (element_count != product) {
            fail_entry(source, i, tensor.name, "element count " + std::to_string(element_count) +
                                                   " does not match the product of the dims (" +
                                                   std::to_string(product) + ")");
        }
        const auto offset = read_le<std::uint64_t>(entry, L::kEntryDataOffset);
        if (offset % L::kDataAlignment != 0) {
            fail_entry(source, i, tensor.name, "data offset " + std::to_string(offset) +
                                                   " is misaligned (not a multiple of " +
                                                   std::to_string(L::kDataAlignment) + ")");
        }
        if (offset < table_end) {
            fail_entry(source, i, tensor.name, "data offset " + std::to_string(offset) +
                                                   " overlaps the header and table (which end at " +
                                                   std::to_string(table_end) + ")");
        }
        std::uint64_t data_bytes = 0;
        if (!checked_mul(element_count, kFloatSize, data_bytes) || offset > size || data_bytes > size - offset) {
            fail_entry(source, i, tensor.name, "data (offset " + std::to_string(offset) + ", " +
                                                   std::to_string(element_count) +
                                                   " floats) is out of range of the " + std::to_string(size) +
                                                   "-byte file (truncated?)");
        }
        // README: tensors follow the table in table order, gaps are zero.
        if (offset < previous_end) {
            fail_entry(source, i, tensor.name, "data offset " + std::to_string(offset) +
                                                   " overlaps the previous tensor's data (which ends at " +
                                                   std::to_string(previous_end) + ")");
        }
        for (std::size_t g = previous_end; g < offset; ++g) {
            if (bytes[g] != std::byte{0}) {
                fail_entry(source, i, tensor.name, "non-zero padding byte at offset " + std::to_string(g) +
                                                       " before its data");
            }
        }
        tensor.data.resize(static_cast<std::size_t>(element_count));
        for (std::size_t k = 0; k < tensor.data.size(); ++k) {
            tensor.data[k] = std::bit_cast<float>(
                read_le<std::uint32_t>(bytes, static_cast<std::size_t>(offset) + k * kFloatSize));
        }
        previous_end = static_cast<std::size_t>(offset + data_bytes);
        file.tensors.push_back(std::move(tensor));
    }
    if (previous_end != size) {
        fail(source, std::to_string(size - previous_end) + " unexpected bytes after the last tensor's data "
                                                            "(file size " + std::to_string(size) +
                         ", data ends at " + std::to_string(previous_end) + ")");
    }
    return file;
}

WeightFile read_weight_file(const std::string& path) {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (ec) fail(path, "cannot open: " + ec.message());
    if (!std::filesystem::is_regular_file(status)) fail(path, "cannot open: not a regular file");

    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path, std::string("cannot open: ") + std::strerror(errno));
    std::vector<std::byte> bytes;
    constexpr std::size_t kChunk = 1 << 16;
    std::array<char, kChunk> buffer{};
    while (in) {
        in.read(buffer.data(), buffer.size());
        const auto got = static_cast<std::size_t>(in.gcount());
        const auto* first = reinterpret_cast<const std::byte*>(buffer.data());
        bytes.insert(bytes.end(), first, first + got);
    }
    if (in.bad() || !in.eof()) fail(path, "read error");
    return parse_weight_file(bytes, path);
}

std::vector<std::byte> serialize_weight_file(const std::string& network,
                                             const std::vector<WeightTensor>& tensors) {
    const std::string context = "serialize_weight_file(" + network + ")";
    check_name_for_write(context, "network name", network, L::kNetworkSize, false);
    if (tensors.size() < L::kMinTensors || tensors.size() > L::kMaxTensors) {
        throw WeightFileError(context + ": tensor count " + std::to_string(tensors.size()) + " is outside " +
                              std::to_string(L::kMinTensors) + ".." + std::to_string(L::kMaxTensors));
    }

    // Validate everything and lay the data out before writing any byte.
    const std::size_t table_end = L::kHeaderSize + tensors.size() * L::kEntrySize;
    std::vector<std::size_t> offsets;
    offsets.reserve(tensors.size());
    std::size_t end = table_end;
    std::unordered_map<std::string, std::size_t> seen;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        const WeightTensor& t = tensors[i];
        check_name_for_write(context, "tensor name", t.name, L::kEntryNameSize, true);
        if (const auto [it, inserted] = seen.emplace(t.name, i); !inserted) {
            throw WeightFileError(context + ": duplicate tensor name '" + t.name + "' (tensors " +
                                  std::to_string(it->second) + " and " + std::to_string(i) + ")");
        }
        if (t.shape.empty() || t.shape.size() > L::kMaxRank) {
            throw WeightFileError(context + ": tensor '" + t.name + "': rank " + std::to_string(t.shape.size()) +
                                  " is outside 1.." + std::to_string(L::kMaxRank));
        }
        std::uint64_t product = 1;
        for (int dim : t.shape) {
            if (dim <= 0) {
                throw WeightFileError(context + ": tensor '" + t.name + "': dim " + std::to_string(dim) +
                                      " is not positive");
            }
            if (!checked_mul(product, static_cast<std::uint64_t>(dim), product)) {
                throw WeightFileError(context + ": tensor '" + t.name + "': element count overflows");
            }
        }
        if (product != t.data.size()) {
            throw WeightFileError(context + ": tensor '" + t.name + "': " + std::to_string(t.data.size()) +
                                  " values for a shape of " + std::to_string(product) + " elements");
        }
        const std::size_t offset = align_up(end, L::kDataAlignment);
        offsets.push_back(offset);
        end = offset + t.data.size() * kFloatSize;
    }

    std::vector<std::byte> out(end, std::byte{0});  // gaps and reserved fields stay zero
    std::memcpy(out.data(), L::kMagic, L::kMagicSize);
    write_le<std::uint32_t>(out, L::kVersionOffset, kWeightFormatVersion);
    write_le<std::uint32_t>(out, L::kCountOffset, static_cast<std::uint32_t>(tensors.size()));
    write_le<std::uint64_t>(out, L::kFileSizeOffset, out.size());
    std::memcpy(out.data() + L::kNetworkOffset, network.data(), network.size());

    for (std::size_t i = 0; i < tensors.size(); ++i) {
        const WeightTensor& t = tensors[i];
        const std::size_t entry = L::kHeaderSize + i * L::kEntrySize;
        std::memcpy(out.data() + entry, t.name.data(), t.name.size());
        write_le<std::uint32_t>(out, entry + L::kEntryRankOffset, static_cast<std::uint32_t>(t.shape.size()));
        for (std::size_t d = 0; d < t.shape.size(); ++d) {
            write_le<std::uint32_t>(out, entry + L::kEntryDimsOffset + d * sizeof(std::uint32_t),
                                    static_cast<std::uint32_t>(t.shape[d]));
        }
        write_le<std::uint64_t>(out, entry + L::kEntryDataOffset, offsets[i]);
        write_le<std::uint64_t>(out, entry + L::kEntryCountOffset, t.data.size());
        for (std::size_t k = 0; k < t.data.size(); ++k) {
            write_le<std::uint32_t>(out, offsets[i] + k * kFloatSize, std::bit_cast<std::uint32_t>(t.data[k]));
        }
    }
    // The checksum field is still zero here, which is how the CRC reads it.
    write_le<std::uint32_t>(out, L::kChecksumOffset, crc32(out));
    return out;
}

}  // namespace engine
