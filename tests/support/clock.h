// Elapsed time in the tests that time a server's answers.
#pragma once

#include <chrono>

namespace testing_support {

using Clock = std::chrono::steady_clock;

inline long long ms_since(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

}  // namespace testing_support
