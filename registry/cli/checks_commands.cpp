// `iotreg plugins`, `iotreg flags` and `iotreg flag confirm|dismiss|lift`: the loaded checks and
// the prohibition workflow.
#include <algorithm>
#include <iomanip>
#include <iostream>

#include "registry/actions/actions.h"
#include "registry/checks/fixtures.h"
#include "registry/cli/commands.h"
#include "registry/cli/output.h"
#include "registry/views/views.h"

namespace iotreg::cli {

int run_plugins(const GlobalOptions& options, bool json) {
  // Lists what is loaded even when the policy names checks the directory lacks (an author's
  // directory with only their plugin): levels then come from the policy alone.
  auto loaded_policy = policy::load_policy(options.policy);
  if (!loaded_policy.is_ok()) return report_error(loaded_policy.status());
  const auto& policy = loaded_policy.value();
  auto plugin_set =
      checks::PluginSet::load_directory(plugin_directory(options), policy, isolation(options));
  if (!plugin_set.is_ok()) return report_error(plugin_set.status());
  const auto& plugins = *plugin_set.value();
  auto level_of = [&](const std::string& check_id) -> std::string {
    const policy::CheckSettings* settings = policy.settings(check_id);
    return settings ? std::string(policy::level_name(settings->level))
                    : "advisory (not in the policy)";
  };
  if (json) {
    nlohmann::ordered_json out = {{"directory", plugins.directory()},
                                  {"policy", policy.id},
                                  {"sandbox", checks::worker_sandbox_summary()},
                                  {"plugins", nlohmann::ordered_json::array()}};
    for (const auto& plugin : plugins.plugins()) {
      nlohmann::ordered_json checks = nlohmann::ordered_json::array();
      for (const auto& check : plugin.checks) {
        checks.push_back({{"id", check.id},
                          {"title", check.title},
                          {"version", check.version},
                          {"requirement", check.requirement},
                          {"level", level_of(check.id)}});
      }
      out["plugins"].push_back({{"id", plugin.id},
                                {"version", plugin.version},
                                {"file", plugin.path},
                                {"sha256", plugin.sha256},
                                {"trusted", plugin.in_process},
                                {"description", plugin.description},
                                {"checks", std::move(checks)}});
    }
    std::cout << out.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
    return kExitSuccess;
  }
  std::cout << "Plugins in " << printable(plugins.directory()) << " (policy "
            << printable(policy.id) << "):\n";
  std::cout << "Sandbox of check workers: " << checks::worker_sandbox_summary() << "\n";
  // The check lines' columns (id, version, level, title), aligned over every plugin and
  // separated by at least two spaces, whatever their lengths.
  std::size_t id_width = 0, version_width = 0, level_width = 0;
  for (const auto& plugin : plugins.plugins()) {
    for (const auto& check : plugin.checks) {
      id_width = std::max(id_width, printable(check.id).size());
      version_width = std::max(version_width, printable(check.version).size());
      level_width = std::max(level_width, level_of(check.id).size());
    }
  }
  for (const auto& plugin : plugins.plugins()) {
    std::cout << "\n"
              << printable(plugin.id) << " " << printable(plugin.version) << "\n"
              << "  file    " << printable(plugin.path) << "\n"
              << "  sha256  " << plugin.sha256 << "\n"
              << "  runs    "
              << (plugin.in_process ? "in the registry's process (trusted)"
                                    : "in a worker process (untrusted)")
              << "\n";
    for (const auto& check : plugin.checks) {
      std::cout << "  check   " << std::left << std::setw(static_cast<int>(id_width + 2))
                << printable(check.id) << std::setw(static_cast<int>(version_width + 2))
                << printable(check.version) << std::setw(static_cast<int>(level_width + 2))
                << level_of(check.id) << printable(check.title) << "\n";
    }
  }
  return kExitSuccess;
}

int run_plugin_fixtures(const GlobalOptions& options, const std::string& directory, bool verbose) {
  auto policy = policy::load_policy(options.policy);
  if (!policy.is_ok()) return report_error(policy.status());
  GlobalOptions of_directory = options;
  of_directory.plugin_dir = directory;
  const checks::Isolation where = isolation(of_directory);
  auto plugins = checks::PluginSet::load_directory(directory, policy.value(), where);
  if (!plugins.is_ok()) return report_error(plugins.status());
  auto report = checks::run_fixtures(plugins.value(), where);
  if (!report.is_ok()) return report_error(report.status());
  for (const auto& outcome : report->outcomes) {
    if (outcome.passed && !verbose) continue;
    std::cout << (outcome.passed ? "PASS  " : "FAIL  ") << printable(outcome.plugin_id) << "  "
              << printable(outcome.case_name);
    if (!outcome.policy.empty()) std::cout << "  [" << printable(outcome.policy) << "]";
    if (!outcome.passed) std::cout << "\n      " << printable(outcome.detail);
    std::cout << "\n";
  }
  for (const auto& missing : report->plugins_without_fixtures) {
    std::cout << "NOTE  " << printable(missing.plugin_id) << " ships no fixtures (no file "
              << printable(missing.fixture_file) << ")\n";
  }
  std::size_t failed = report->failed();
  std::cout << report->outcomes.size() - failed << " passed, " << failed << " failed\n";
  return failed == 0 ? kExitSuccess : kExitRejectedOrNotFound;
}

int run_flags(const GlobalOptions& options, const FlagsArguments& arguments) {
  storage::FlagQuery query;
  if (arguments.state) {
    query.state = enforcement::parse_flag_state(*arguments.state);
    if (!query.state) {
      std::cerr << "iotreg: --state must be " << enforcement::flag_state_list() << "\n";
      return kExitUsage;
    }
  }
  if (arguments.remedied) query.remedied = true;
  auto registry = open_registry(options, Access::kRead);
  if (!registry) return kExitUsage;
  auto flags = registry->flags(query);
  if (!flags.is_ok()) return report_error(flags.status());
  if (arguments.json) {
    for (const auto& flag : flags.value()) {
      std::cout << views::dump(views::flag_json(flag)) << "\n";
    }
    return kExitSuccess;
  }
  std::cout << std::left << std::setw(7) << "FLAG" << std::setw(21) << "STATE" << std::setw(9)
            << "PRODUCT" << std::setw(22) << "RAISED"
            << "PRODUCT / REASON\n";
  for (const auto& flag : flags.value()) {
    std::string state(enforcement::flag_state_name(flag.state));
    if (flag.remedied_version != 0) state += " (remedied)";
    std::cout << std::left << std::setw(7) << flag.id << std::setw(21) << state << std::setw(9)
              << flag.product_id << std::setw(22) << flag.raised_at << printable(flag.manufacturer)
              << " / " << printable(flag.brand) << " " << printable(flag.model) << "\n"
              << std::setw(59) << "" << printable(flag.raise_reason) << "\n";
  }
  std::cout << counted(flags->size(), "flag", "flags") << "\n";
  return kExitSuccess;
}

int run_flag_action(const GlobalOptions& options, const FlagActionArguments& arguments) {
  actions::FlagActionRequest request{arguments.action, arguments.ids, arguments.reason,
                                     arguments.notice, cli_actor(options)};
  auto registry = open_registry(options, Access::kWrite);
  if (!registry) return kExitUsage;
  if (auto status = actions::act_on_flags(*registry, request); !status.is_ok()) {
    return report_error(status);
  }
  static constexpr const char* kDone[] = {"confirmed", "dismissed", "lifted"};
  const char* done = kDone[static_cast<int>(arguments.action)];
  for (std::int64_t id : arguments.ids) std::cout << "flag " << id << " " << done << "\n";
  return kExitSuccess;
}

}  // namespace iotreg::cli
