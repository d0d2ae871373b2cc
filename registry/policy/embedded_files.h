// Policy files and the policy schema, built into the binary. Private to registry/policy.
#pragma once

#include <span>
#include <string_view>

namespace iotreg::policy {

struct EmbeddedFile {
  std::string_view name;  // file name without directory, e.g. "dcms-2019.yaml"
  std::string_view text;
};

std::span<const EmbeddedFile> shipped_policies();
std::span<const EmbeddedFile> policy_schema_files();

}  // namespace iotreg::policy
