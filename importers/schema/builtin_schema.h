// The text of schemas/declaration.schema.json, embedded at build time so the program needs no
// data files to validate. Generated definition; the declaration lives here.
#pragma once

#include <string_view>

namespace iotreg::importers {

std::string_view builtin_declaration_schema();

}  // namespace iotreg::importers
