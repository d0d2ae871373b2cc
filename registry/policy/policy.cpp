// valijson reports internal problems by exception when this is set (it aborts otherwise); every
// translation unit that includes valijson in one binary must agree on it.
#define VALIJSON_USE_EXCEPTIONS 1

#include "registry/policy/policy.h"

#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "importers/yaml/yaml_scalars.h"
#include "registry/core/sha256.h"
#include "registry/policy/embedded_files.h"

namespace iotreg::policy {
namespace {

using json = nlohmann::json;

constexpr std::size_t kMaxPolicyBytes = 1 << 20;

// YAML to JSON with the declaration reader's scalar typing, remembering the line of every
// value by its dotted path so that schema errors can point into the file.
class YamlToJson {
 public:
  Status convert(const YAML::Node& node, const std::string& path, json& out) {
    lines_[path] = node.Mark().line + 1;
    switch (node.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        out = nullptr;
        return Status::ok();
      case YAML::NodeType::Scalar:
        out = node.Tag() == "?" ? importers::resolve_plain_scalar(node.Scalar())
                                : json(node.Scalar());
        // Only true and false are booleans in a policy: `level: off` is the word off.
        if (out.is_boolean() && node.Scalar() != "true" && node.Scalar() != "false") {
          out = node.Scalar();
        }
        return Status::ok();
      case YAML::NodeType::Sequence: {
        out = json::array();
        std::size_t index = 0;
        for (const auto& item : node) {
          json value;
          std::string item_path = path + "[" + std::to_string(index++) + "]";
          if (auto status = convert(item, item_path, value); !status.is_ok()) return status;
          out.push_back(std::move(value));
        }
        return Status::ok();
      }
      case YAML::NodeType::Map: {
        out = json::object();
        for (const auto& member : node) {
          if (!member.first.IsScalar()) {
            return error_at(member.first.Mark().line + 1, path, "keys must be text");
          }
          const std::string& key = member.first.Scalar();
          std::string member_path = path.empty() ? key : path + "." + key;
          if (out.contains(key)) {
            return error_at(member.first.Mark().line + 1, member_path, "appears twice");
          }
          json value;
          if (auto status = convert(member.second, member_path, value); !status.is_ok()) {
            return status;
          }
          out[key] = std::move(value);
        }
        return Status::ok();
      }
    }
    return Status::ok();
  }

  int line_of(const std::string& path) const {
    auto it = lines_.find(path);
    return it == lines_.end() ? 0 : it->second;
  }

  Status error_at(int line, const std::string& path, const std::string& what) const {
    return Status::invalid_argument(source_ + ":" + std::to_string(line) + ": " +
                                    (path.empty() ? "(top level)" : path) + ": " + what);
  }

  explicit YamlToJson(std::string source) : source_(std::move(source)) {}

 private:
  std::string source_;
  std::map<std::string, int> lines_;
};

const valijson::Schema& policy_schema() {
  static const auto schema = [] {
    auto parsed = std::make_unique<valijson::Schema>();
    json document = json::parse(policy_schema_files().front().text);
    valijson::SchemaParser parser;
    valijson::adapters::NlohmannJsonAdapter adapter(document);
    parser.populateSchema(adapter, *parsed);
    return parsed;
  }();
  return *schema;
}

// valijson's context ("<root>", "[checks]", "[scope]", "[0]") as a dotted path.
std::string dotted_path(const std::vector<std::string>& context) {
  std::string path;
  for (const auto& part : context) {
    if (part == "<root>" || part.size() < 2) continue;
    std::string inner = part.substr(1, part.size() - 2);
    bool index = !inner.empty() && inner.find_first_not_of("0123456789") == std::string::npos;
    if (index) {
      path += "[" + inner + "]";
    } else {
      if (!path.empty()) path += ".";
      path += inner;
    }
  }
  return path;
}

std::string scalar_text(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  return value.dump();
}

Level parse_level(const std::string& text) {
  if (text == "mandatory") return Level::kMandatory;
  if (text == "advisory") return Level::kAdvisory;
  return Level::kOff;
}

const EmbeddedFile* shipped(std::string_view id) {
  for (const auto& file : shipped_policies()) {
    if (file.name.substr(0, file.name.rfind('.')) == id) return &file;
  }
  return nullptr;
}

}  // namespace

std::string_view regime_name(Regime regime) {
  return regime == Regime::kProhibition ? "prohibition" : "labelling";
}

std::string_view level_name(Level level) {
  switch (level) {
    case Level::kMandatory:
      return "mandatory";
    case Level::kAdvisory:
      return "advisory";
    case Level::kOff:
      return "off";
  }
  return "off";
}

const CheckSettings* Policy::settings(std::string_view check_id) const {
  for (const auto& check : checks) {
    if (check.check_id == check_id) return &check;
  }
  return nullptr;
}

const PluginSettings* Policy::plugin_settings(std::string_view plugin_id) const {
  for (const auto& plugin : plugins) {
    if (plugin.plugin_id == plugin_id) return &plugin;
  }
  return nullptr;
}

Result<Policy> parse_policy(std::string_view yaml_text, std::string_view source) {
  const std::string source_name(source);
  if (yaml_text.size() > kMaxPolicyBytes) {
    return Status::invalid_argument(source_name + ": a policy file is at most 1 MiB");
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& error) {
    return Status::invalid_argument(source_name + ":" + std::to_string(error.mark.line + 1) +
                                    ": not valid YAML: " + error.msg);
  }
  YamlToJson converter(source_name);
  json document;
  if (auto status = converter.convert(root, "", document); !status.is_ok()) return status;

  valijson::ValidationResults results;
  try {
    valijson::Validator validator;
    valijson::adapters::NlohmannJsonAdapter adapter(document);
    validator.validate(policy_schema(), adapter, &results);
  } catch (const std::exception& error) {
    return Status::invalid_argument(source_name +
                                    ": policy could not be validated: " + error.what());
  }
  // valijson reports the outer failure and its causes; the deepest one is the most precise.
  valijson::ValidationResults::Error error, deepest;
  bool failed = false;
  while (results.popError(error)) {
    if (!failed || error.context.size() > deepest.context.size()) deepest = error;
    failed = true;
  }
  if (failed) {
    std::string path = dotted_path(deepest.context);
    return converter.error_at(converter.line_of(path), path, deepest.description);
  }

  Policy policy;
  policy.source = source_name;
  policy.sha256 = sha256_hex(yaml_text);
  policy.id = document.at("id").get<std::string>();
  policy.title = document.value("title", policy.id);
  policy.regime = document.at("regime").get<std::string>() == "labelling" ? Regime::kLabelling
                                                                          : Regime::kProhibition;
  policy.scope_check = document.value("scope_check", "");
  // In the order of the file (JSON objects do not keep it).
  std::vector<std::string> check_order;
  const YAML::Node& read_only_root = root;
  for (const auto& member : read_only_root["checks"]) check_order.push_back(member.first.Scalar());
  for (const auto& check_id : check_order) {
    const json& entry = document.at("checks").at(check_id);
    CheckSettings settings;
    settings.check_id = check_id;
    settings.level = parse_level(entry.at("level").get<std::string>());
    settings.requirement = entry.value("requirement", "");
    if (entry.contains("parameters")) {
      for (const auto& [name, value] : entry.at("parameters").items()) {
        Parameter parameter{name, {}};
        if (value.is_array()) {
          for (const auto& item : value) parameter.values.push_back(scalar_text(item));
        } else {
          parameter.values.push_back(scalar_text(value));
        }
        settings.parameters.push_back(std::move(parameter));
      }
    }
    policy.checks.push_back(std::move(settings));
  }
  policy.verify_fixtures = document.value("verify_fixtures", false);
  policy.separate_workers = document.value("separate_workers", false);
  policy.deadline_ms = document.value("deadline_ms", std::uint32_t{0});
  if (document.contains("plugins")) {
    for (const auto& [plugin_id, entry] : document.at("plugins").items()) {
      PluginSettings settings;
      settings.plugin_id = plugin_id;
      if (entry.contains("trusted")) settings.trusted = entry.at("trusted").get<bool>();
      settings.sha256 = entry.value("sha256", "");
      policy.plugins.push_back(std::move(settings));
    }
  }
  if (!policy.scope_check.empty()) {
    const CheckSettings* scope = policy.settings(policy.scope_check);
    if (!scope || scope->level == Level::kOff) {
      return converter.error_at(converter.line_of("scope_check"), "scope_check",
                                "names check '" + policy.scope_check +
                                    "', which the policy does not run (list it under checks, "
                                    "not off)");
    }
  }
  return policy;
}

Result<Policy> load_policy(const std::string& path_or_id) {
  struct stat info {};
  if (::stat(path_or_id.c_str(), &info) != 0) {
    if (const EmbeddedFile* file = shipped(path_or_id)) {
      return parse_policy(file->text, "builtin:" + path_or_id);
    }
    std::string known;
    for (const auto& id : shipped_policy_ids()) known += (known.empty() ? "" : ", ") + id;
    return Status::invalid_argument("policy " + path_or_id +
                                    ": no such file, and not a shipped policy (" + known + ")");
  }
  if (!S_ISREG(info.st_mode)) {
    return Status::invalid_argument("policy " + path_or_id + ": not a regular file");
  }
  if (static_cast<std::uint64_t>(info.st_size) > kMaxPolicyBytes) {
    return Status::invalid_argument(path_or_id + ": a policy file is at most 1 MiB");
  }
  std::ifstream in(path_or_id, std::ios::binary);
  if (!in) return Status::io_error("policy " + path_or_id + ": cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_policy(text.str(), path_or_id);
}

std::vector<std::string> shipped_policy_ids() {
  std::vector<std::string> ids;
  for (const auto& file : shipped_policies()) {
    ids.emplace_back(file.name.substr(0, file.name.rfind('.')));
  }
  return ids;
}

}  // namespace iotreg::policy
