// How the YAML reader types a plain (unquoted, untagged) scalar: the YAML 1.2 core schema
// (null, true/false, decimal integers, floats), plus yes/no/on/off as booleans, which people
// write in declarations. Anything else is text. A pure function, safe from any thread.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace iotreg::importers {

nlohmann::json resolve_plain_scalar(const std::string& text);

}  // namespace iotreg::importers
