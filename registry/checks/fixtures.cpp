#include "registry/checks/fixtures.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>

#include "importers/importer.h"
#include "importers/schema/compiled_schema.h"
#include "registry/checks/detail/loaded_check.h"

namespace iotreg::checks {
namespace {

// Keeps the one declaration a fixture's YAML document holds, or why it was rejected.
class SingleDeclaration : public importers::RecordSink {
 public:
  void accept(const model::Declaration& declaration, const importers::RecordLocation&) override {
    if (!declaration_) declaration_ = declaration;
  }
  void reject(importers::RejectedRecord&& rejected) override {
    for (const auto& issue : rejected.issues) {
      if (!problem_.empty()) problem_ += "; ";
      problem_ += issue.field + ": " + issue.reason;
    }
  }
  std::optional<model::Declaration> declaration_;
  std::string problem_;
};

// Emits a node keeping quoted scalars quoted, so that "1234" stays text when read back.
void emit(YAML::Emitter& out, const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      out << YAML::BeginMap;
      for (const auto& member : node) {
        out << YAML::Key;
        emit(out, member.first);
        out << YAML::Value;
        emit(out, member.second);
      }
      out << YAML::EndMap;
      return;
    case YAML::NodeType::Sequence:
      out << YAML::BeginSeq;
      for (const auto& item : node) emit(out, item);
      out << YAML::EndSeq;
      return;
    case YAML::NodeType::Scalar:
      if (node.Tag() == "!") out << YAML::DoubleQuoted;
      out << node.Scalar();
      return;
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      out << YAML::Null;
      return;
  }
}

Result<model::Declaration> declaration_from(const YAML::Node& node, const std::string& what) {
  if (!node.IsMap()) return Status::invalid_argument(what + " must be a mapping");
  YAML::Emitter emitter;
  emit(emitter, node);
  std::istringstream text(emitter.c_str());
  SingleDeclaration sink;
  auto status = importers::read_declarations(text, importers::Format::kYaml,
                                             *importers::CompiledSchema::builtin(), sink);
  if (!sink.problem_.empty()) {
    return Status::invalid_argument(what + " is not a valid declaration: " + sink.problem_);
  }
  if (!status.is_ok()) return Status::invalid_argument(what + ": " + status.message());
  if (!sink.declaration_) return Status::invalid_argument(what + " is empty");
  return std::move(*sink.declaration_);
}

// The policy, keeping only the checks `plugins` provides, so that one plugin's fixtures run
// under a shipped policy that names many checks.
policy::Policy narrowed(policy::Policy policy, const PluginSet& plugins) {
  auto provided = [&](const std::string& check_id) {
    return std::any_of(
        plugins.loaded_checks().begin(), plugins.loaded_checks().end(),
        [&](const PluginSet::LoadedCheck& check) { return check.description.id == check_id; });
  };
  std::erase_if(policy.checks, [&](const policy::CheckSettings& settings) {
    return !provided(settings.check_id);
  });
  if (!policy.scope_check.empty() && !provided(policy.scope_check)) policy.scope_check.clear();
  return policy;
}

std::optional<Outcome> outcome_from(const std::string& text) {
  for (Outcome outcome :
       {Outcome::kPass, Outcome::kFail, Outcome::kWarn, Outcome::kNotApplicable, Outcome::kError}) {
    if (outcome_name(outcome) == text) return outcome;
  }
  return std::nullopt;
}

class FixtureRunner {
 public:
  FixtureRunner(std::shared_ptr<const PluginSet> plugins, Isolation isolation)
      : plugins_(std::move(plugins)), isolation_(std::move(isolation)) {}

  void run_file(const PluginDescription& plugin, const std::string& file, FixtureReport& report) {
    auto fail = [&](const std::string& case_name, const std::string& policy,
                    const std::string& detail) {
      report.outcomes.push_back({plugin.id, file, case_name, policy, false, detail});
    };
    YAML::Node root;
    try {
      root = YAML::LoadFile(file);
    } catch (const YAML::Exception& error) {
      return fail("(file)", "",
                  "line " + std::to_string(error.mark.line + 1) + ": not valid YAML: " + error.msg);
    }
    const YAML::Node& const_root = root;
    if (!const_root.IsMap() || !const_root["cases"] || !const_root["cases"].IsSequence()) {
      return fail("(file)", "", "must be a mapping with a 'cases' list");
    }
    std::size_t number = 0;
    for (const auto& entry : const_root["cases"]) {
      ++number;
      std::string name = "case " + std::to_string(number);
      try {
        run_case(plugin, file, entry, name, report);
      } catch (const YAML::Exception& error) {
        fail(name, "", "line " + std::to_string(error.mark.line + 1) + ": " + error.msg);
      }
    }
  }

 private:
  void run_case(const PluginDescription& plugin, const std::string& file, const YAML::Node& entry,
                std::string& name, FixtureReport& report) {
    auto fail = [&](const std::string& policy, const std::string& detail) {
      report.outcomes.push_back({plugin.id, file, name, policy, false, detail});
    };
    if (!entry.IsMap()) return fail("", "a case must be a mapping");
    if (entry["name"]) name = entry["name"].as<std::string>();
    std::string as_of = entry["as_of"] ? entry["as_of"].as<std::string>() : kDefaultFixtureAsOf;
    auto declaration = declaration_from(entry["declaration"], "declaration");
    if (!declaration.is_ok()) return fail("", declaration.status().message());
    std::vector<model::Declaration> earlier;
    if (entry["earlier"]) {
      if (!entry["earlier"].IsSequence()) return fail("", "earlier must be a list");
      for (std::size_t i = 0; i < entry["earlier"].size(); ++i) {
        auto version = declaration_from(entry["earlier"][i], "earlier[" + std::to_string(i) + "]");
        if (!version.is_ok()) return fail("", version.status().message());
        earlier.push_back(std::move(version).value());
      }
    }
    const YAML::Node& expect = entry["expect"];
    if (!expect || !expect.IsMap() || expect.size() == 0) {
      return fail("", "expect must map policy ids to {check: outcome}");
    }
    for (const auto& by_policy : expect) {
      std::string policy_id = by_policy.first.as<std::string>();
      auto evaluator = evaluator_for(policy_id, as_of);
      if (!evaluator.is_ok()) {
        fail(policy_id, evaluator.status().message());
        continue;
      }
      Verdict verdict;
      evaluator.value()->evaluate(declaration.value(), earlier, verdict);
      if (!by_policy.second.IsMap()) {
        fail(policy_id, "expect." + policy_id + " must map check ids to outcomes");
        continue;
      }
      std::string problems;
      for (const auto& by_check : by_policy.second) {
        std::string check_id = by_check.first.as<std::string>();
        std::string wanted = by_check.second.as<std::string>();
        auto wanted_outcome = outcome_from(wanted);
        const auto& checks = evaluator.value()->checks();
        auto found = std::find_if(checks.begin(), checks.end(),
                                  [&](const ActiveCheck& check) { return check.id == check_id; });
        std::string problem;
        if (!wanted_outcome) {
          problem = check_id + ": unknown outcome '" + wanted + "'";
        } else if (found == checks.end()) {
          problem = check_id + ": not run under " + policy_id + " by the plugins in " +
                    plugins_->directory();
        } else {
          const Finding& finding =
              verdict.findings[static_cast<std::size_t>(found - checks.begin())];
          if (finding.outcome != *wanted_outcome) {
            problem = check_id + ": expected " + wanted + ", got " +
                      std::string(outcome_name(finding.outcome)) + " (" + finding.message + ")";
          } else if (const YAML::Node& contains = entry["message_contains"];
                     contains && contains[policy_id] && contains[policy_id][check_id]) {
            std::string text = contains[policy_id][check_id].as<std::string>();
            if (finding.message.find(text) == std::string::npos) {
              problem =
                  check_id + ": message '" + finding.message + "' does not contain '" + text + "'";
            }
          }
        }
        if (!problem.empty()) problems += (problems.empty() ? "" : "; ") + problem;
      }
      report.outcomes.push_back({plugin.id, file, name, policy_id, problems.empty(), problems});
    }
  }

  Result<const Evaluator*> evaluator_for(const std::string& policy_id, const std::string& as_of) {
    std::string key = policy_id + "\n" + as_of;
    if (auto cached = evaluators_.find(key); cached != evaluators_.end()) {
      return cached->second.get();
    }
    auto policy = policy::load_policy(policy_id);
    if (!policy.is_ok()) return policy.status();
    auto evaluator = Evaluator::create(plugins_, narrowed(std::move(policy).value(), *plugins_),
                                       as_of, isolation_);
    if (!evaluator.is_ok()) return evaluator.status();
    return evaluators_.emplace(key, std::move(evaluator).value()).first->second.get();
  }

  std::shared_ptr<const PluginSet> plugins_;
  Isolation isolation_;
  std::map<std::string, std::unique_ptr<Evaluator>> evaluators_;
};

}  // namespace

std::size_t FixtureReport::failed() const {
  return static_cast<std::size_t>(
      std::count_if(outcomes.begin(), outcomes.end(),
                    [](const FixtureOutcome& outcome) { return !outcome.passed; }));
}

Result<FixtureReport> run_fixtures(const std::shared_ptr<const PluginSet>& plugins,
                                   const Isolation& isolation) {
  FixtureReport report;
  FixtureRunner runner(plugins, isolation);
  for (const auto& plugin : plugins->plugins()) {
    std::filesystem::path file(plugin.path);
    file.replace_extension(".fixtures.yaml");
    std::error_code error;
    if (!std::filesystem::is_regular_file(file, error)) {
      report.plugins_without_fixtures.push_back({plugin.id, file.string()});
      continue;
    }
    runner.run_file(plugin, file.string(), report);
  }
  return report;
}

Status verify_fixtures(const std::shared_ptr<const PluginSet>& plugins,
                       const Isolation& isolation) {
  auto report = run_fixtures(plugins, isolation);
  if (!report.is_ok()) return report.status();
  if (report->failed() == 0 && report->plugins_without_fixtures.empty()) return Status::ok();
  std::string message =
      "the policy asks to verify plugin fixtures, and these plugins fail theirs or ship none:";
  for (const auto& missing : report->plugins_without_fixtures) {
    message += "\n  " + missing.plugin_id + " refused: it ships no fixtures (no file " +
               missing.fixture_file + ")";
  }
  for (const auto& outcome : report->outcomes) {
    if (outcome.passed) continue;
    message += "\n  " + outcome.plugin_id + " refused: " + outcome.fixture_file + ": case '" +
               outcome.case_name + "'" +
               (outcome.policy.empty() ? "" : " under " + outcome.policy) + ": " + outcome.detail;
  }
  return Status::invalid_argument(message);
}

}  // namespace iotreg::checks
