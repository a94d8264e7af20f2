// A zip archive (PKWARE APPNOTE 6.3.x) written in memory, entries stored
// without compression: what POST /api/crops answers (server/media_routes.h).
// PNGs are compressed already, so deflating them again would gain little.
//
// - Each entry: a local file header, the name, the bytes; then the central
//   directory and its end record. CRC-32 as zlib computes it
//   (engine/weights_file.h). No data descriptors, no extra fields, no
//   encryption; every entry dated 1980-01-01 00:00, the earliest MS-DOS
//   date, so the same crops always give the same archive.
// - No Zip64: more than 65535 entries, or an entry or the archive past
//   4 GiB, is ZipTooLarge (the crops of one photo are far below).
// - Names are stored as given (ASCII expected; never a path with "..").
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace server {

class ZipTooLarge : public std::length_error {
public:
    using std::length_error::length_error;
};

class ZipWriter {
public:
    // Appends an entry; std::invalid_argument for an empty name or one of
    // more than 65535 bytes.
    void add(const std::string& name, std::span<const std::uint8_t> data);
    // The whole archive; the writer is left empty.
    std::string finish();

private:
    struct Entry {
        std::string name;
        std::uint32_t crc = 0;
        std::uint32_t size = 0;
        std::uint32_t offset = 0;  // of its local header
    };
    std::vector<Entry> entries_;
    std::string out_;
};

}  // namespace server
