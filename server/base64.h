// Base64 (RFC 4648 section 4: the standard alphabet, '=' padding, no line
// breaks), for binary data inside JSON: the face crops of
// /api/detect?crops=true (server/media_routes.h).
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace server {

std::string base64_encode(std::span<const std::uint8_t> bytes);

}  // namespace server
