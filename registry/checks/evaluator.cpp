// Running checks: declarations are presented to plugins as sorted field views built without
// copying values; each plugin call is wrapped so that a check that fails to report exactly one
// well-formed finding yields an `error` finding instead of a wrong verdict.
#include <cxxabi.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <typeinfo>

#include "registry/checks/checks.h"
#include "registry/checks/detail/isolated_plugin.h"
#include "registry/checks/detail/loaded_check.h"
#include "registry/checks/detail/worker_protocol.h"
#include "registry/core/sha256.h"
#include "registry/core/utf8.h"
#include "registry/core/varint.h"

namespace iotreg::checks {
namespace {

using detail::kMaxFieldBytes;
using detail::kMaxMessageBytes;

iotreg_text text_of(std::string_view text) { return {text.data(), text.size()}; }

// The C views of one declaration. Built per evaluation into reused buffers; valid while the
// declaration lives and the buffers are not rebuilt.
struct DeclarationViews {
  std::vector<iotreg_field> fields;
  std::vector<iotreg_text> items;  // list items of every list field, back to back
  iotreg_declaration declaration{};
};

// Catalog indexes in ascending path order, per catalog.
const std::vector<std::size_t>& sorted_by_path(const model::FieldCatalog& catalog) {
  thread_local const model::FieldCatalog* cached_catalog = nullptr;
  thread_local std::vector<std::size_t> order;
  if (cached_catalog != &catalog) {
    order.resize(catalog.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return catalog.field(a).path < catalog.field(b).path;
    });
    cached_catalog = &catalog;
  }
  return order;
}

void build_views(const model::Declaration& declaration, DeclarationViews& views) {
  const auto& catalog = declaration.catalog();
  views.fields.clear();
  views.items.clear();
  // Items first, so that their addresses are stable when fields point at them.
  for (std::size_t index : sorted_by_path(catalog)) {
    if (const auto* list = std::get_if<model::StringList>(&declaration.value(index))) {
      for (const auto& item : *list) views.items.push_back(text_of(item));
    }
  }
  std::size_t next_item = 0;
  for (std::size_t index : sorted_by_path(catalog)) {
    const auto& value = declaration.value(index);
    if (std::holds_alternative<std::monostate>(value)) continue;
    iotreg_field field{};
    field.path = text_of(catalog.field(index).path);
    if (const auto* text = std::get_if<std::string>(&value)) {
      field.type = IOTREG_VALUE_TEXT;
      field.text_value = text_of(*text);
    } else if (const auto* flag = std::get_if<bool>(&value)) {
      field.type = IOTREG_VALUE_BOOLEAN;
      field.boolean_value = *flag ? 1 : 0;
    } else if (const auto* number = std::get_if<std::int64_t>(&value)) {
      field.type = IOTREG_VALUE_INTEGER;
      field.integer_value = *number;
    } else if (const auto* list = std::get_if<model::StringList>(&value)) {
      field.type = IOTREG_VALUE_TEXT_LIST;
      field.items = views.items.data() + next_item;
      field.item_count = list->size();
      next_item += list->size();
    }
    views.fields.push_back(field);
  }
  views.declaration = {views.fields.data(), views.fields.size()};
}

// What one plugin call reported.
struct Report {
  int count = 0;
  bool malformed = false;  // a null finding, or a text with a null pointer but a size
  std::uint32_t outcome = 0;
  std::string message;
  std::string field;
};

void collect_report(void* host_context, const iotreg_finding* finding) {
  auto* report = static_cast<Report*>(host_context);
  if (++report->count > 1) return;
  if (!finding) {
    report->malformed = true;
    return;
  }
  report->outcome = finding->outcome;
  auto copy = [&](iotreg_text text, std::size_t limit, std::string& out) {
    if (!text.data) {
      report->malformed = report->malformed || text.size != 0;
      return;
    }
    out.assign(text.data, std::min(text.size, limit + 1));
  };
  copy(finding->message, kMaxMessageBytes, report->message);
  copy(finding->field, kMaxFieldBytes, report->field);
}

// Turns a plugin's report into a finding, or explains why it is an error.
void judge_report(int result, const Report& report, Finding& finding) {
  auto error = [&](std::string why) {
    finding.outcome = Outcome::kError;
    finding.message = std::move(why);
    finding.field.clear();
  };
  if (result != 0) {
    // A check that could not judge may have reported why (the SDK names an exception so).
    if (report.count == 1 && !report.malformed && !report.message.empty()) {
      return error("the check failed while judging: " +
                   detail::printable(report.message, kMaxMessageBytes - 64));
    }
    return error("the check failed while judging (it returned " + std::to_string(result) + ")");
  }
  if (report.count == 0) return error("the check reported no finding");
  if (report.count > 1) {
    return error("the check reported " + std::to_string(report.count) +
                 " findings; exactly one is expected");
  }
  if (report.malformed) return error("the check reported a null finding or a text without data");
  if (report.outcome > IOTREG_NOT_APPLICABLE) {
    return error("the check reported an invalid outcome (" + std::to_string(report.outcome) + ")");
  }
  if (report.message.size() > kMaxMessageBytes || report.field.size() > kMaxFieldBytes) {
    return error("the check reported a message or field longer than allowed");
  }
  if (!is_valid_utf8(report.message) || !is_valid_utf8(report.field)) {
    return error("the check reported text that is not valid UTF-8");
  }
  static constexpr Outcome kOutcomes[] = {Outcome::kPass, Outcome::kFail, Outcome::kWarn,
                                          Outcome::kNotApplicable};
  finding.outcome = kOutcomes[report.outcome];
  finding.message = report.message;
  finding.field = report.field;
}

// Inside a catch block: the exception's type, demangled, and what() for a std::exception.
std::string current_exception_text() {
  const std::type_info* type = abi::__cxa_current_exception_type();
  std::string text = "an exception of unknown type";
  if (type) {
    int status = 0;
    char* demangled = abi::__cxa_demangle(type->name(), nullptr, nullptr, &status);
    text = status == 0 && demangled ? demangled : type->name();
    std::free(demangled);
  }
  try {
    throw;
  } catch (const std::exception& error) {
    text += ": ";
    text += error.what();
  } catch (...) {
  }
  return detail::printable(text, kMaxMessageBytes - 64);
}

}  // namespace

void detail::run_check(RunFunction run, const iotreg_check_input& input, Finding& finding) {
  Report report;
  int result = 0;
  try {
    result = run(&input, &collect_report, &report);
  } catch (...) {  // a plugin written against plugin.h that breaks the no-exception rule
    finding.outcome = Outcome::kError;
    finding.message = "the check let an exception escape: " + current_exception_text();
    finding.field.clear();
    return;
  }
  judge_report(result, report, finding);
}

// Per active check: the plugin function and the policy parameters as C views (which point into
// the Evaluator's policy).
struct Evaluator::Compiled {
  struct Check {
    const PluginSet::LoadedCheck* loaded = nullptr;
    std::vector<std::vector<iotreg_text>> values;
    std::vector<iotreg_parameter> parameters;
  };
  std::vector<Check> checks;                   // parallel to Evaluator::checks_
  std::optional<std::size_t> scope;            // index of the scope check
  std::unique_ptr<detail::Isolator> isolator;  // null when every check runs in process
  bool any_in_process = false;                 // some check runs in process
  mutable std::atomic<std::uint64_t> judged{0};
};

Evaluator::~Evaluator() = default;

Result<std::unique_ptr<Evaluator>> Evaluator::at_date(std::string as_of) const {
  return create(plugins_, policy_, std::move(as_of), isolation_);
}

std::string_view outcome_name(Outcome outcome) {
  switch (outcome) {
    case Outcome::kPass:
      return "pass";
    case Outcome::kFail:
      return "fail";
    case Outcome::kWarn:
      return "warn";
    case Outcome::kNotApplicable:
      return "not_applicable";
    case Outcome::kError:
      return "error";
  }
  return "error";
}

std::string_view status_name(ProductStatus status) {
  switch (status) {
    case ProductStatus::kPending:
      return "pending";
    case ProductStatus::kExcepted:
      return "excepted";
    case ProductStatus::kNonCompliant:
      return "non_compliant";
    case ProductStatus::kCheckError:
      return "check_error";
    case ProductStatus::kCompliant:
      return "compliant";
  }
  return "pending";
}

Result<std::unique_ptr<Evaluator>> Evaluator::create(std::shared_ptr<const PluginSet> plugins,
                                                     policy::Policy policy, std::string as_of,
                                                     Isolation isolation) {
  std::unique_ptr<Evaluator> evaluator(new Evaluator());
  evaluator->compiled_ = std::make_unique<Compiled>();
  for (const auto& settings : policy.checks) {
    bool provided = std::any_of(plugins->loaded_checks().begin(), plugins->loaded_checks().end(),
                                [&](const PluginSet::LoadedCheck& check) {
                                  return check.description.id == settings.check_id;
                                });
    if (!provided) {
      return Status::invalid_argument(
          "policy " + policy.id + " (" + policy.source + ") names check '" + settings.check_id +
          "', which no plugin in " + plugins->directory() + " provides");
    }
  }
  for (const auto& pinned : policy.plugins) {
    auto plugin = std::find_if(
        plugins->plugins().begin(), plugins->plugins().end(),
        [&](const PluginDescription& described) { return described.id == pinned.plugin_id; });
    if (plugin == plugins->plugins().end()) {
      return Status::invalid_argument("policy " + policy.id + " (" + policy.source +
                                      ") names plugin '" + pinned.plugin_id +
                                      "', which is not in " + plugins->directory());
    }
    IOTREG_TRY(detail::check_pin(*plugin, policy));
  }
  evaluator->plugins_ = std::move(plugins);
  evaluator->policy_ = std::move(policy);
  evaluator->as_of_ = std::move(as_of);
  evaluator->isolation_ = isolation;
  const policy::Policy& active_policy = evaluator->policy_;

  // Checks run in the policy's order, those it does not name after them in plugin order; the
  // scope check runs first, since when it excepts a product no other check runs.
  auto rank = [&](const PluginSet::LoadedCheck* check) {
    if (check->description.id == active_policy.scope_check) return std::size_t{0};
    for (std::size_t i = 0; i < active_policy.checks.size(); ++i) {
      if (active_policy.checks[i].check_id == check->description.id) return i + 1;
    }
    return active_policy.checks.size() + 1;
  };
  std::vector<const PluginSet::LoadedCheck*> order;
  for (const auto& loaded : evaluator->plugins_->loaded_checks()) order.push_back(&loaded);
  std::stable_sort(order.begin(), order.end(),
                   [&](const PluginSet::LoadedCheck* a, const PluginSet::LoadedCheck* b) {
                     return rank(a) < rank(b);
                   });
  for (const PluginSet::LoadedCheck* loaded : order) {
    const policy::CheckSettings* settings = active_policy.settings(loaded->description.id);
    if (settings && settings->level == policy::Level::kOff) continue;
    ActiveCheck check;
    check.id = loaded->description.id;
    check.title = loaded->description.title;
    check.version = loaded->description.version;
    check.level = settings ? settings->level : policy::Level::kAdvisory;
    check.requirement = settings && !settings->requirement.empty()
                            ? settings->requirement
                            : loaded->description.requirement;
    check.plugin_id = loaded->plugin_id;
    check.plugin_version = loaded->plugin_version;
    check.plugin_sha256 = loaded->plugin_sha256;
    if (!isolation.worker_program.empty()) {
      const policy::PluginSettings* trust = active_policy.plugin_settings(loaded->plugin_id);
      check.isolated = !loaded->run ||
                       !(trust && trust->trusted ? *trust->trusted : isolation.trusted_by_default);
    } else if (!loaded->run) {
      return Status::invalid_argument("plugin " + loaded->plugin_id + " (" + loaded->plugin_path +
                                      ") is not trusted and no worker program is available to "
                                      "run its checks");
    }
    Compiled::Check compiled;
    compiled.loaded = loaded;
    if (settings) {
      for (const auto& parameter : settings->parameters) {
        std::vector<iotreg_text> values;
        for (const auto& value : parameter.values) values.push_back(text_of(value));
        compiled.values.push_back(std::move(values));
      }
      for (std::size_t i = 0; i < settings->parameters.size(); ++i) {
        compiled.parameters.push_back({text_of(settings->parameters[i].name),
                                       compiled.values[i].data(), compiled.values[i].size()});
      }
    }
    if (check.id == active_policy.scope_check) {
      evaluator->compiled_->scope = evaluator->checks_.size();
    }
    evaluator->checks_.push_back(std::move(check));
    evaluator->compiled_->checks.push_back(std::move(compiled));
  }
  // The untrusted plugins' active checks, in check order.
  std::vector<detail::IsolatedPluginSpec> isolated;
  for (const auto& plugin : evaluator->plugins_->plugins()) {
    detail::IsolatedPluginSpec spec{plugin.id, {plugin.path, plugin.sha256}, {}, {}};
    for (std::size_t i = 0; i < evaluator->checks_.size(); ++i) {
      const ActiveCheck& check = evaluator->checks_[i];
      if (!check.isolated || check.plugin_id != plugin.id) continue;
      const Compiled::Check& compiled = evaluator->compiled_->checks[i];
      spec.checks.push_back(i);
      spec.setup.push_back({check.id, compiled.parameters.data(), compiled.parameters.size()});
    }
    if (!spec.checks.empty()) isolated.push_back(std::move(spec));
  }
  evaluator->compiled_->any_in_process =
      std::any_of(evaluator->checks_.begin(), evaluator->checks_.end(),
                  [](const ActiveCheck& check) { return !check.isolated; });
  if (!isolated.empty()) {
    isolation.separate_workers = isolation.separate_workers || active_policy.separate_workers;
    if (active_policy.deadline_ms > 0) {
      isolation.check_deadline = std::chrono::milliseconds(active_policy.deadline_ms);
    }
    evaluator->compiled_->isolator = std::make_unique<detail::Isolator>(
        std::move(isolated), evaluator->as_of_, active_policy.id, isolation);
  }
  evaluator->key_ = sha256_hex(active_policy.sha256 + "\n" + evaluator->plugins_->fingerprint() +
                               "\n" + evaluator->as_of_);
  return evaluator;
}

std::string Evaluator::provenance_json() const {
  nlohmann::ordered_json checks = nlohmann::ordered_json::array();
  for (const auto& check : checks_) {
    checks.push_back({{"check", check.id},
                      {"title", check.title},
                      {"version", check.version},
                      {"level", policy::level_name(check.level)},
                      {"requirement", check.requirement},
                      {"plugin", check.plugin_id},
                      {"plugin_version", check.plugin_version},
                      {"plugin_sha256", check.plugin_sha256},
                      {"isolated", check.isolated}});
  }
  nlohmann::ordered_json provenance = {{"policy", policy_.id},
                                       {"policy_sha256", policy_.sha256},
                                       {"policy_source", policy_.source},
                                       {"regime", policy::regime_name(policy_.regime)},
                                       {"as_of", as_of_},
                                       {"plugin_set", plugins_->fingerprint()},
                                       {"checks", std::move(checks)}};
  return provenance.dump();
}

bool Evaluator::has_isolated_checks() const { return compiled_->isolator != nullptr; }

std::uint64_t Evaluator::declarations_judged() const {
  return compiled_->judged.load(std::memory_order_relaxed);
}

void Evaluator::begin_run() const {
  if (compiled_->isolator) compiled_->isolator->begin_run();
}

std::vector<PluginOutput> Evaluator::take_plugin_output() const {
  if (!compiled_->isolator) return {};
  return compiled_->isolator->take_output();
}

void Evaluator::evaluate(const model::Declaration& declaration,
                         std::span<const model::Declaration> earlier, Verdict& out) const {
  if (has_isolated_checks()) {
    thread_local std::vector<Verdict> verdicts;
    const Subject subject{&declaration, earlier};
    verdicts.resize(1);
    verdicts[0] = std::move(out);
    evaluate_batch(std::span<const Subject>(&subject, 1), verdicts);
    out = std::move(verdicts[0]);
    return;
  }
  compiled_->judged.fetch_add(1, std::memory_order_relaxed);
  bool excepted = false;
  evaluate_in_process(declaration, earlier, out, excepted);
  roll_up(out, excepted);
}

void Evaluator::evaluate_batch(std::span<const Subject> subjects, std::vector<Verdict>& out) const {
  compiled_->judged.fetch_add(subjects.size(), std::memory_order_relaxed);
  out.resize(subjects.size());
  std::vector<char> excepted(subjects.size(), 0);
  for (std::size_t i = 0; i < subjects.size(); ++i) {
    bool is_excepted = false;
    evaluate_in_process(*subjects[i].declaration, subjects[i].earlier, out[i], is_excepted);
    excepted[i] = is_excepted;
  }
  if (has_isolated_checks()) {
    // Products a trusted scope check excepted are not sent to workers. Items are encoded as
    // the workers need them (encoding overlaps their judging) into buffers kept from one batch
    // to the next.
    thread_local std::vector<std::string> items;
    thread_local std::string path_table;
    std::vector<Verdict*> verdicts;
    std::vector<std::size_t> judged;
    for (std::size_t i = 0; i < subjects.size(); ++i) {
      if (excepted[i]) continue;
      verdicts.push_back(&out[i]);
      judged.push_back(i);
    }
    const model::FieldCatalog* table_catalog =
        judged.empty() ? nullptr : &subjects[judged.front()].declaration->catalog();
    if (table_catalog) {
      protocol::encode_path_table(*table_catalog, sorted_by_path(*table_catalog), path_table);
    }
    items.resize(judged.size());
    auto encode = [&](std::size_t j, std::string& item) {
      const Subject& subject = subjects[judged[j]];
      item.clear();
      protocol::encode_declaration(*subject.declaration,
                                   sorted_by_path(subject.declaration->catalog()), table_catalog,
                                   item);
      put_varint(item, subject.earlier.size());
      for (const auto& version : subject.earlier) {
        protocol::encode_declaration(version, sorted_by_path(version.catalog()), table_catalog,
                                     item);
      }
    };
    compiled_->isolator->judge(path_table, encode, items, verdicts);
    // An untrusted scope check's exception applies once it has answered.
    if (compiled_->scope && checks_[*compiled_->scope].isolated) {
      const std::size_t scope = *compiled_->scope;
      for (std::size_t i : judged) {
        Finding& scope_finding = out[i].findings[scope];
        if (scope_finding.outcome != Outcome::kNotApplicable) continue;
        excepted[i] = 1;
        std::string because =
            "not judged: the scope check excepts the product (" + scope_finding.message + ")";
        for (std::size_t c = 0; c < checks_.size(); ++c) {
          if (c == scope) continue;
          out[i].findings[c] = {static_cast<std::uint32_t>(c), Outcome::kNotApplicable, because,
                                ""};
        }
      }
    }
  }
  for (std::size_t i = 0; i < subjects.size(); ++i) roll_up(out[i], excepted[i] != 0);
}

void Evaluator::evaluate_in_process(const model::Declaration& declaration,
                                    std::span<const model::Declaration> earlier, Verdict& out,
                                    bool& excepted) const {
  excepted = false;
  if (!compiled_->any_in_process) {
    out.findings.resize(checks_.size());  // every finding comes from a worker
    return;
  }
  thread_local DeclarationViews current;
  thread_local std::vector<DeclarationViews> earlier_views;
  thread_local std::vector<iotreg_declaration> earlier_declarations;
  build_views(declaration, current);
  if (earlier_views.size() < earlier.size()) earlier_views.resize(earlier.size());
  earlier_declarations.clear();
  for (std::size_t i = 0; i < earlier.size(); ++i) {
    build_views(earlier[i], earlier_views[i]);
    earlier_declarations.push_back(earlier_views[i].declaration);
  }

  iotreg_check_input input{};
  input.struct_size = sizeof input;
  input.declaration = &current.declaration;
  input.earlier = earlier_declarations.data();
  input.earlier_count = earlier_declarations.size();
  input.as_of = text_of(as_of_);
  input.policy_id = text_of(policy_.id);

  out.findings.resize(checks_.size());
  excepted = false;
  std::string excepted_because;
  for (std::size_t i = 0; i < checks_.size(); ++i) {
    Finding& finding = out.findings[i];
    finding.check = static_cast<std::uint32_t>(i);
    if (excepted) {
      finding.outcome = Outcome::kNotApplicable;
      finding.message = excepted_because;
      finding.field.clear();
      continue;
    }
    if (checks_[i].isolated) continue;  // judged by its worker
    const Compiled::Check& compiled = compiled_->checks[i];
    input.parameters = compiled.parameters.data();
    input.parameter_count = compiled.parameters.size();
    detail::run_check(compiled.loaded->run, input, finding);
    if (compiled_->scope == i && finding.outcome == Outcome::kNotApplicable) {
      excepted = true;
      excepted_because =
          "not judged: the scope check excepts the product (" + finding.message + ")";
    }
  }
}

void Evaluator::roll_up(Verdict& out, bool excepted) const {
  if (excepted) {
    out.status = ProductStatus::kExcepted;
    return;
  }
  bool failed = false, errored = false;
  for (std::size_t i = 0; i < checks_.size(); ++i) {
    if (checks_[i].level != policy::Level::kMandatory) continue;
    failed = failed || out.findings[i].outcome == Outcome::kFail;
    errored = errored || out.findings[i].outcome == Outcome::kError;
  }
  out.status = failed    ? ProductStatus::kNonCompliant
               : errored ? ProductStatus::kCheckError
                         : ProductStatus::kCompliant;
}

}  // namespace iotreg::checks
