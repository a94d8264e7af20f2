// `face-service healthcheck`: the Docker HEALTHCHECK of an image FROM
// scratch, which has no curl or shell to ask the server with. One GET
// /healthz over a fresh connection; healthy means a 200 status line.
#pragma once

#include <chrono>
#include <string>

namespace server {

// GET /healthz on host:port (a numeric address or "localhost"), the whole
// exchange within `timeout`. Returns "" for a 200, else a one-line reason
// ("connection refused by 127.0.0.1:8000", "GET /healthz answered 503",
// "no answer from 127.0.0.1:8000 within 2 s"). A non-empty `api_key` is
// sent as X-API-Key (a server whose probes need a key, server/access.h).
std::string check_health(const std::string& host, int port, std::chrono::milliseconds timeout,
                         const std::string& api_key = {});

}  // namespace server
