#include "server/zip.h"

#include <cstddef>
#include <limits>
#include <utility>

#include "engine/weights_file.h"

namespace server {
namespace {

constexpr std::uint32_t kLocalHeader = 0x04034b50;
constexpr std::uint32_t kCentralHeader = 0x02014b50;
constexpr std::uint32_t kEndOfCentralDirectory = 0x06054b50;
constexpr std::uint16_t kVersion = 20;               // 2.0: what a stored entry needs
constexpr std::uint16_t kStored = 0;                 // compression method
constexpr std::uint16_t kDosTime = 0;                // 00:00:00
constexpr std::uint16_t kDosDate = (0 << 9) | (1 << 5) | 1;  // 1980-01-01
constexpr std::uint64_t kMax32 = std::numeric_limits<std::uint32_t>::max();

void put16(std::string& out, std::uint16_t v) {
    out += static_cast<char>(v & 0xFF);
    out += static_cast<char>(v >> 8);
}

void put32(std::string& out, std::uint32_t v) {
    put16(out, static_cast<std::uint16_t>(v & 0xFFFF));
    put16(out, static_cast<std::uint16_t>(v >> 16));
}

}  // namespace

void ZipWriter::add(const std::string& name, std::span<const std::uint8_t> data) {
    if (name.empty() || name.size() > 0xFFFF) throw std::invalid_argument("a zip entry's name must have 1 to 65535 bytes");
    if (entries_.size() >= 0xFFFF) throw ZipTooLarge("more than 65535 zip entries");
    if (data.size() > kMax32 || out_.size() + 30 + name.size() + data.size() > kMax32)
        throw ZipTooLarge("a zip archive past 4 GiB");
    Entry e;
    e.name = name;
    e.crc = engine::crc32(std::as_bytes(data));
    e.size = static_cast<std::uint32_t>(data.size());
    e.offset = static_cast<std::uint32_t>(out_.size());
    put32(out_, kLocalHeader);
    put16(out_, kVersion);
    put16(out_, 0);  // flags
    put16(out_, kStored);
    put16(out_, kDosTime);
    put16(out_, kDosDate);
    put32(out_, e.crc);
    put32(out_, e.size);  // compressed
    put32(out_, e.size);  // uncompressed
    put16(out_, static_cast<std::uint16_t>(name.size()));
    put16(out_, 0);  // extra field length
    out_ += name;
    out_.append(reinterpret_cast<const char*>(data.data()), data.size());
    entries_.push_back(std::move(e));
}

std::string ZipWriter::finish() {
    const std::uint64_t directory_offset = out_.size();
    for (const Entry& e : entries_) {
        put32(out_, kCentralHeader);
        put16(out_, kVersion);  // made by (MS-DOS attributes)
        put16(out_, kVersion);  // needed to extract
        put16(out_, 0);         // flags
        put16(out_, kStored);
        put16(out_, kDosTime);
        put16(out_, kDosDate);
        put32(out_, e.crc);
        put32(out_, e.size);
        put32(out_, e.size);
        put16(out_, static_cast<std::uint16_t>(e.name.size()));
        put16(out_, 0);  // extra field length
        put16(out_, 0);  // comment length
        put16(out_, 0);  // disk number start
        put16(out_, 0);  // internal attributes
        put32(out_, 0);  // external attributes
        put32(out_, e.offset);
        out_ += e.name;
    }
    const std::uint64_t directory_size = out_.size() - directory_offset;
    if (out_.size() + 22 > kMax32) throw ZipTooLarge("a zip archive past 4 GiB");
    put32(out_, kEndOfCentralDirectory);
    put16(out_, 0);  // this disk
    put16(out_, 0);  // the disk where the directory starts
    put16(out_, static_cast<std::uint16_t>(entries_.size()));
    put16(out_, static_cast<std::uint16_t>(entries_.size()));
    put32(out_, static_cast<std::uint32_t>(directory_size));
    put32(out_, static_cast<std::uint32_t>(directory_offset));
    put16(out_, 0);  // comment length
    entries_.clear();
    return std::exchange(out_, {});
}

}  // namespace server
