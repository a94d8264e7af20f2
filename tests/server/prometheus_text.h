// A strict checker of the Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/), for the
// tests of GET /metrics: stricter than Prometheus itself where our output
// has no reason to use a leniency (empty lines, timestamps, untyped
// samples, trailing commas).
//
// - every line is `# HELP name text`, `# TYPE name counter|gauge|histogram`
//   or a sample `name{label="value",...} value`, and ends with \n;
// - metric names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
//   [a-zA-Z_][a-zA-Z0-9_]* (not starting with __); label values use only
//   the escapes \\ \" \n; HELP text only \\ and \n;
// - HELP and TYPE once per family, before its samples, which form one
//   group; no series twice;
// - counters end in _total and are >= 0;
// - a histogram's series for each label set: _bucket with le ascending and
//   ending in +Inf, cumulative counts non-decreasing, _count equal to the
//   +Inf bucket, and _sum.
#pragma once

#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace testing_support {

struct PromSample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};

struct Exposition {
    std::vector<std::string> errors;  // empty: valid
    std::vector<PromSample> samples;
    std::map<std::string, std::string> types;  // family -> type

    // The value of the sample with exactly these labels, or nullopt.
    std::optional<double> value(std::string_view name, const std::map<std::string, std::string>& labels = {}) const {
        for (const PromSample& s : samples)
            if (s.name == name && s.labels == labels) return s.value;
        return std::nullopt;
    }
};

namespace prom_detail {

inline bool is_name(std::string_view s, bool colons) {
    if (s.empty()) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colons && c == ':');
        if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
    }
    return true;
}

// A sample value: a decimal or exponent float, +Inf, -Inf, NaN.
inline std::optional<double> parse_value(const std::string& s) {
    if (s == "+Inf") return HUGE_VAL;
    if (s == "-Inf") return -HUGE_VAL;
    if (s == "NaN") return NAN;
    if (s.empty() || s.find_first_not_of("0123456789.eE+-") != std::string::npos) return std::nullopt;
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (end != s.c_str() + s.size()) return std::nullopt;
    return v;
}

// The family a sample belongs to, given the declared types.
inline std::string family_of(const std::string& name, const std::map<std::string, std::string>& types) {
    if (types.contains(name)) return name;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        const std::string_view sv(suffix);
        if (name.size() > sv.size() && name.ends_with(sv)) {
            const std::string base = name.substr(0, name.size() - sv.size());
            if (auto it = types.find(base); it != types.end() && it->second == "histogram") return base;
        }
    }
    return "";
}

}  // namespace prom_detail

inline Exposition check_exposition(std::string_view text) {
    using namespace prom_detail;
    Exposition out;
    auto error = [&](int line, const std::string& what) {
        out.errors.push_back("line " + std::to_string(line) + ": " + what);
    };
    if (text.empty() || text.back() != '\n') out.errors.push_back("the text does not end with a newline");

    std::set<std::string> help_seen, families_done, series_seen;
    std::string current;  // the family whose samples are being read
    std::vector<std::pair<int, PromSample>> numbered;
    int number = 0;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        const std::string line(text.substr(start, end - start));
        start = end + 1;
        ++number;
        if (line.empty()) {
            error(number, "empty line");
            continue;
        }
        if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
            const bool help = line[2] == 'H';
            const std::string rest = line.substr(7);
            const std::size_t sp = rest.find(' ');
            const std::string name = rest.substr(0, sp);
            const std::string arg = sp == std::string::npos ? "" : rest.substr(sp + 1);
            if (!is_name(name, true)) error(number, "bad metric name '" + name + "'");
            if (families_done.contains(name) || name == current)
                error(number, name + ": HELP/TYPE after its samples");
            if (help) {
                if (!help_seen.insert(name).second) error(number, name + ": HELP twice");
                for (std::size_t i = 0; i < arg.size(); ++i)
                    if (arg[i] == '\\' && (i + 1 >= arg.size() || (arg[i + 1] != '\\' && arg[i + 1] != 'n')))
                        error(number, name + ": bad escape in HELP");
                    else if (arg[i] == '\\')
                        ++i;
            } else {
                if (arg != "counter" && arg != "gauge" && arg != "histogram") error(number, name + ": bad type '" + arg + "'");
                if (!out.types.emplace(name, arg).second) error(number, name + ": TYPE twice");
                if (arg == "counter" && !name.ends_with("_total")) error(number, name + ": a counter not ending in _total");
            }
            continue;
        }
        if (line.starts_with("#")) {
            error(number, "a comment that is neither HELP nor TYPE");
            continue;
        }

        // A sample: name, optional {labels}, one space, the value.
        PromSample s;
        std::size_t i = 0;
        while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
        s.name = line.substr(0, i);
        if (!is_name(s.name, true)) error(number, "bad metric name '" + s.name + "'");
        std::string series = s.name + "{";
        if (i < line.size() && line[i] == '{') {
            ++i;
            while (i < line.size() && line[i] != '}') {
                std::size_t eq = line.find('=', i);
                if (eq == std::string::npos) {
                    error(number, "label without =");
                    break;
                }
                const std::string label = line.substr(i, eq - i);
                if (!is_name(label, false) || label.starts_with("__")) error(number, "bad label name '" + label + "'");
                i = eq + 1;
                if (i >= line.size() || line[i] != '"') {
                    error(number, "label value not quoted");
                    break;
                }
                std::string value;
                for (++i; i < line.size() && line[i] != '"'; ++i) {
                    if (line[i] == '\\') {
                        const char next = i + 1 < line.size() ? line[i + 1] : '\0';
                        if (next == '\\') value += '\\';
                        else if (next == '"') value += '"';
                        else if (next == 'n') value += '\n';
                        else error(number, "bad escape in a label value");
                        ++i;
                    } else {
                        value += line[i];
                    }
                }
                if (i >= line.size()) {
                    error(number, "unterminated label value");
                    break;
                }
                ++i;  // the closing quote
                if (!s.labels.emplace(label, value).second) error(number, "label " + label + " twice");
                if (i < line.size() && line[i] == ',') {
                    ++i;
                    if (i < line.size() && line[i] == '}') error(number, "trailing comma in labels");
                }
                else if (i < line.size() && line[i] != '}') error(number, "labels not separated by commas");
            }
            if (i >= line.size()) {
                error(number, "labels not closed");
                continue;
            }
            ++i;  // '}'
        }
        for (const auto& [k, v] : s.labels) series += k + "=" + v + ",";
        if (i >= line.size() || line[i] != ' ') {
            error(number, "no space before the value");
            continue;
        }
        const std::string value_text = line.substr(i + 1);
        const auto value = parse_value(value_text);
        if (!value) {
            error(number, "bad value '" + value_text + "' (or a timestamp)");
            continue;
        }
        s.value = *value;

        const std::string family = family_of(s.name, out.types);
        if (family.empty()) {
            error(number, s.name + ": a sample without a TYPE before it");
            continue;
        }
        if (!help_seen.contains(family)) error(number, family + ": a sample without a HELP before it");
        if (family != current) {
            if (families_done.contains(family)) error(number, family + ": its samples are not one group");
            if (!current.empty()) families_done.insert(current);
            current = family;
        }
        if (!series_seen.insert(series).second) error(number, "series twice: " + series);
        if (out.types[family] == "counter" && !(s.value >= 0)) error(number, s.name + ": a negative counter");
        numbered.emplace_back(number, s);
        out.samples.push_back(s);
    }

    // Histograms, per family and label set without le.
    for (const auto& [family, type] : out.types) {
        if (type != "histogram") continue;
        std::map<std::map<std::string, std::string>, std::vector<std::pair<double, double>>> buckets;  // (le, count)
        std::map<std::map<std::string, std::string>, double> counts, sums;
        for (const auto& [line, s] : numbered) {
            if (s.name == family + "_bucket") {
                auto labels = s.labels;
                const auto le = labels.find("le");
                if (le == labels.end()) {
                    error(line, "a bucket without le");
                    continue;
                }
                const auto bound = parse_value(le->second);
                if (!bound || std::isnan(*bound)) error(line, "bad le '" + le->second + "'");
                labels.erase(le);
                buckets[labels].emplace_back(bound.value_or(NAN), s.value);
            } else if (s.name == family + "_count") {
                if (s.labels.contains("le")) error(line, "le on _count");
                counts[s.labels] = s.value;
            } else if (s.name == family + "_sum") {
                if (s.labels.contains("le")) error(line, "le on _sum");
                sums[s.labels] = s.value;
            } else if (s.name == family) {
                error(line, family + ": a histogram sample without _bucket, _sum or _count");
            }
        }
        std::set<std::map<std::string, std::string>> label_sets;
        for (const auto& [l, b] : buckets) label_sets.insert(l);
        for (const auto& [l, c] : counts) label_sets.insert(l);
        for (const auto& [l, c] : sums) label_sets.insert(l);
        for (const auto& labels : label_sets) {
            std::ostringstream where;
            where << family;
            for (const auto& [k, v] : labels) where << " " << k << "=" << v;
            const auto& b = buckets[labels];
            if (b.empty() || !std::isinf(b.back().first) || b.back().first < 0) {
                out.errors.push_back(where.str() + ": buckets do not end with le=\"+Inf\"");
                continue;
            }
            for (std::size_t k = 1; k < b.size(); ++k) {
                if (!(b[k].first > b[k - 1].first)) out.errors.push_back(where.str() + ": le not ascending");
                if (b[k].second < b[k - 1].second) out.errors.push_back(where.str() + ": bucket counts decrease");
            }
            if (!counts.contains(labels)) out.errors.push_back(where.str() + ": no _count");
            else if (counts[labels] != b.back().second) out.errors.push_back(where.str() + ": _count is not the +Inf bucket");
            if (!sums.contains(labels)) out.errors.push_back(where.str() + ": no _sum");
        }
    }
    return out;
}

}  // namespace testing_support
