// The HTTP status of the server::http::HttpError that `f` throws, or 0 when
// it throws none.
#pragma once

#include "server/http_message.h"

namespace testing_support {

template <typename F>
int status_of(F f) {
    try {
        f();
    } catch (const server::http::HttpError& e) {
        return e.status();
    }
    return 0;
}

}  // namespace testing_support
