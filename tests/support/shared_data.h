// Where the tests find ../shared (evaluation photos, golden answers): the
// FACE_SHARED_DIR environment variable, else the path CMake saw. Tests that
// need it skip cleanly when it is absent.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace testing_support {

inline std::filesystem::path shared_dir() {
    if (const char* env = std::getenv("FACE_SHARED_DIR"); env && *env) return env;
    return FACE_SHARED_DIR;
}

// A positive integer from the environment, or `fallback`.
inline int env_int(const char* name, int fallback) {
    const char* v = std::getenv(name);
    if (!v || !*v) return fallback;
    const int n = std::atoi(v);
    return n > 0 ? n : fallback;
}

}  // namespace testing_support
