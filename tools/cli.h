// What the tools' command lines share: a usage error, number parsing, and
// main()'s exit-status mapping (0 done, 1 failed, 2 usage error).
#pragma once

#include <charconv>
#include <exception>
#include <functional>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace tools::cli {

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

inline double parse_number(const std::string& flag, const std::string& text) {
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size())
        throw UsageError(flag + " needs a number, got '" + text + "'");
    return value;
}

// The value after the flag args[i], moving i onto it; UsageError naming the
// flag when there is none.
inline const std::string& flag_value(const std::vector<std::string>& args, std::size_t& i) {
    if (i + 1 >= args.size()) throw UsageError(args[i] + " needs a value");
    return args[++i];
}

// `--help` / `-h` anywhere prints `usage`; otherwise runs `command`, mapping
// UsageError to status 2 (with the usage) and other errors to status 1.
inline int run_main(const char* program, const char* usage, int argc, char** argv,
                    const std::function<int(const std::vector<std::string>&)>& command) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    try {
        for (const std::string& a : args)
            if (a == "--help" || a == "-h") {
                std::cout << usage;
                return 0;
            }
        return command(args);
    } catch (const UsageError& e) {
        std::cerr << program << ": " << e.what() << "\n" << usage;
        return 2;
    } catch (const std::exception& e) {
        std::cerr << program << ": " << e.what() << "\n";
        return 1;
    }
}

}  // namespace tools::cli
