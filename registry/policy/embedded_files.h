// Policy files and the policy schema, built into the binary. Private to registry/policy.
#pragma once

#include <span>
#include <string_view>

#include "registry/core/embedded_file.h"

namespace iotreg::policy {

std::span<const EmbeddedFile> shipped_policies();
std::span<const EmbeddedFile> policy_schema_files();

}  // namespace iotreg::policy
