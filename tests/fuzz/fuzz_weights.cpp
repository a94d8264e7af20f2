// libFuzzer target: the weight-file loader, engine::parse_weight_file.
//
// Each input is parsed twice: as it is (the magic, version, size and
// checksum checks), and with its size field and CRC-32 rewritten to match
// the bytes, so that mutations get past the checksum to the table, the
// shapes, offsets and padding (a fuzzer would almost never guess a CRC).
// WeightFileError is the documented answer; any other exception, a sanitizer
// report or a broken invariant (abort) is a bug. A file that parses must
// survive serialize_weight_file and parse again to the same tensors, bit for
// bit.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "engine/weights_file.h"

namespace {

namespace L = engine::weight_layout;

void check(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "fuzz_weights: invariant broken: %s\n", what);
    std::abort();
}

void put_le(std::vector<std::byte>& bytes, std::size_t offset, std::uint64_t value, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) bytes[offset + i] = static_cast<std::byte>((value >> (8 * i)) & 0xFF);
}

bool same_tensors(const engine::WeightFile& a, const engine::WeightFile& b) {
    if (a.network != b.network || a.tensors.size() != b.tensors.size()) return false;
    for (std::size_t i = 0; i < a.tensors.size(); ++i) {
        const engine::WeightTensor& x = a.tensors[i];
        const engine::WeightTensor& y = b.tensors[i];
        if (x.name != y.name || x.shape != y.shape || x.data.size() != y.data.size()) return false;
        // Bit patterns, so that NaNs and -0.0 compare as stored.
        if (std::memcmp(x.data.data(), y.data.data(), x.data.size() * sizeof(float)) != 0) return false;
    }
    return true;
}

void parse(std::span<const std::byte> bytes) {
    engine::WeightFile file;
    try {
        file = engine::parse_weight_file(bytes, "fuzz");
    } catch (const engine::WeightFileError&) {
        return;
    }
    check(!file.tensors.empty() && file.tensors.size() <= L::kMaxTensors, "tensor count outside the format");
    std::size_t values = 0;
    for (const engine::WeightTensor& t : file.tensors) {
        std::size_t product = 1;
        for (int d : t.shape) product *= static_cast<std::size_t>(d);
        check(!t.shape.empty() && t.shape.size() <= L::kMaxRank && product == t.data.size(),
              "a tensor's shape does not match its data");
        values += t.data.size();
    }
    check(values * sizeof(float) <= bytes.size(), "more data than the file holds");

    std::vector<std::byte> again;
    try {
        again = engine::serialize_weight_file(file.network, file.tensors);
    } catch (const engine::WeightFileError&) {
        check(false, "a parsed file cannot be serialized");
    }
    try {
        check(same_tensors(file, engine::parse_weight_file(again, "fuzz (serialized)")),
              "serialize + parse changed the tensors");
    } catch (const engine::WeightFileError&) {
        check(false, "a serialized file does not parse");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
    parse(bytes);
    if (size < L::kHeaderSize) return 0;

    // Sealed: the declared size and the checksum made right for these bytes
    // (the checksum field reads as zero while the CRC is taken).
    std::vector<std::byte> sealed(bytes.begin(), bytes.end());
    put_le(sealed, L::kFileSizeOffset, sealed.size(), 8);
    put_le(sealed, L::kChecksumOffset, 0, 4);
    put_le(sealed, L::kChecksumOffset, engine::crc32(sealed), 4);
    parse(sealed);
    return 0;
}
