#include "registry/cli/cli.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/dll/runtime_symbol_info.hpp>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "importers/schema/compiled_schema.h"
#include "registry/checks/fixtures.h"
#include "registry/cli/commands.h"
#include "registry/core/clock.h"
#include "registry/core/utf8.h"
#include "registry/views/product_filters.h"

namespace iotreg::cli {

std::unique_ptr<storage::Storage> open_registry(const GlobalOptions& options, Access access) {
  const storage::OpenMode mode = access == Access::kRead      ? storage::OpenMode::kRead
                                 : access == Access::kPreview ? storage::OpenMode::kPreview
                                                              : storage::OpenMode::kReadWrite;
  auto opened = storage::open_storage(options.registry, mode);
  if (!opened.is_ok()) {
    report_error(opened.status());
    return nullptr;
  }
  return std::move(opened).value();
}

std::optional<WriteTarget> open_for_writing(const GlobalOptions& options, bool dry_run) {
  WriteTarget target;
  target.registry = open_registry(options, dry_run ? Access::kPreview : Access::kWrite);
  if (!target.registry) return std::nullopt;
  if (dry_run) {
    auto begun = target.registry->begin_preview();
    if (!begun.is_ok()) {
      report_error(begun.status());
      return std::nullopt;
    }
    target.preview = std::move(begun).value();
  }
  return target;
}

namespace {

// The built-in plugins: <dir of the binary>/plugins in a build tree, else the installed
// <prefix>/lib/iotreg/plugins.
std::string builtin_plugin_dir() {
  boost::dll::fs::error_code error;
  auto binary_dir = boost::dll::program_location(error).parent_path();
  auto in_build_tree = binary_dir / "plugins";
  if (!error && boost::dll::fs::is_directory(in_build_tree, error)) return in_build_tree.string();
  return (binary_dir.parent_path() / "lib" / "iotreg" / "plugins").string();
}

// Refuses an argument that is not text (an argument cannot hold NUL; see text_problem).
const CLI::Validator kText(
    [](std::string& value) {
      std::string problem = text_problem(value);
      return problem.empty() ? problem : "the value " + problem;
    },
    "TEXT");

// Digits only: CLI11 alone would read "-1" as a huge unsigned number.
CLI::Validator count_validator() {
  return CLI::Validator(
      [](std::string& value) {
        const bool digits = !value.empty() && value.size() <= 18 &&
                            value.find_first_not_of("0123456789") == std::string::npos;
        return digits ? std::string() : std::string("must be a whole number, 0 or more");
      },
      "COUNT");
}

}  // namespace

std::string cli_actor(const GlobalOptions& options) {
  if (!options.actor.empty()) return enforcement::cli_actor(options.actor);
  if (const passwd* entry = ::getpwuid(::geteuid()); entry && entry->pw_name && *entry->pw_name) {
    return enforcement::cli_actor(entry->pw_name);
  }
  if (const char* user = std::getenv("USER"); user && *user) return enforcement::cli_actor(user);
  return enforcement::cli_actor("user " + std::to_string(::geteuid()));
}

std::string plugin_directory(const GlobalOptions& options) {
  return options.plugin_dir.empty() ? builtin_plugin_dir() : options.plugin_dir;
}

checks::Isolation isolation(const GlobalOptions& options) {
  checks::Isolation isolation;
  boost::dll::fs::error_code error;
  auto program = boost::dll::program_location(error);
  if (!error) isolation.worker_program = program.string();
  // The built-in plugins are trusted unless the policy says otherwise; any other directory's
  // plugins run in workers unless the policy trusts them.
  std::error_code same_error;
  isolation.trusted_by_default =
      options.plugin_dir.empty() ||
      std::filesystem::equivalent(options.plugin_dir, builtin_plugin_dir(), same_error);
  return isolation;
}

std::optional<std::string> evaluation_date(const GlobalOptions& options) {
  if (!options.as_of.empty()) {
    if (importers::is_calendar_date(options.as_of)) return options.as_of;
    std::cerr << "iotreg: --as-of must be a calendar date written YYYY-MM-DD\n";
    return std::nullopt;
  }
  auto calendar = ZonedCalendar::load(options.time_zone);
  if (!calendar.is_ok()) {
    std::cerr << "iotreg: --time-zone: " << calendar.status().message() << "\n";
    return std::nullopt;
  }
  return calendar->date_at(system_clock()->now());
}

std::unique_ptr<checks::Evaluator> load_evaluator(const GlobalOptions& options) {
  std::optional<std::string> as_of = evaluation_date(options);
  if (!as_of) return nullptr;
  auto policy = policy::load_policy(options.policy);
  if (!policy.is_ok()) {
    report_error(policy.status());
    return nullptr;
  }
  const checks::Isolation where = isolation(options);
  auto plugins =
      checks::PluginSet::load_directory(plugin_directory(options), policy.value(), where);
  if (!plugins.is_ok()) {
    report_error(plugins.status());
    return nullptr;
  }
  if (policy->verify_fixtures) {
    if (auto verified = checks::verify_fixtures(plugins.value(), where); !verified.is_ok()) {
      report_error(verified);
      return nullptr;
    }
  }
  auto evaluator = checks::Evaluator::create(std::move(plugins).value(), std::move(policy).value(),
                                             *as_of, where);
  if (!evaluator.is_ok()) {
    report_error(evaluator.status());
    return nullptr;
  }
  return std::move(evaluator).value();
}

int report_error(const Status& status) {
  std::cerr << "iotreg: " << status.message() << "\n";
  return status.code() == Status::Code::kNotFound ? kExitRejectedOrNotFound : kExitUsage;
}

int run(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == "__check-worker") {
    return checks::run_check_worker(argc - 2, argv + 2);
  }
  CLI::App app{"iotreg: registry of consumer connectable product security declarations"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every command");

  GlobalOptions global;
  const char* env_db = std::getenv("IOTREG_DB");
  global.registry = env_db && *env_db ? env_db : "iotreg.db";
  app.add_option("--db", global.registry,
                 std::string("The registry: ") + storage::kLocationForms +
                     " (default: $IOTREG_DB, else ./iotreg.db)");
  global.policy = std::string(policy::kDefaultPolicyId);
  app.add_option("--policy", global.policy,
                 "Policy file, or a shipped policy: dcms-2019 (default) or psti-2023");
  app.add_option("--plugins", global.plugin_dir,
                 "Directory of check plugins (default: the built-in plugins)");
  app.add_option("--as-of", global.as_of,
                 "Evaluation date YYYY-MM-DD (default: today in --time-zone)");
  app.add_option("--time-zone", global.time_zone,
                 "Time zone (IANA name) whose date is today: the default evaluation date, and "
                 "whose midnight starts the server's daily re-check")
      ->capture_default_str()
      ->check(kText);
  app.add_option("--actor", global.actor,
                 "Who acts, as the audit log names them (default: the operating-system user)")
      ->check(kText);

  ImportArguments import_arguments;
  auto* import = app.add_subcommand("import",
                                    "Import declarations from CSV, JSON Lines, JSON, "
                                    "YAML or XLSX files");
  import->add_option("files", import_arguments.files, "Files to import ('-' reads standard input)")
      ->required();
  import->add_option("--format", import_arguments.format,
                     "Format for every file: csv, jsonl, json, yaml or xlsx (default: from the "
                     "extension)");
  import->add_option("--encoding", import_arguments.encoding,
                     "Text encoding of CSV, JSON and YAML files: utf-8 (the default) or "
                     "windows-1252 (also cp1252, latin1), decoded to UTF-8 as they are read");
  import->add_flag("--dry-run", import_arguments.dry_run,
                   "Do everything an import does and report it, then undo it: nothing is stored");
  import->add_flag("--json", import_arguments.json,
                   "Print each file's summary as one line of JSON instead of text");
  import->add_option("--report", import_arguments.report_path,
                     "Write the row-level report as JSON to this file");
  import->add_flag("--quiet", import_arguments.quiet, "Print no per-record rejections on stderr");
  import
      ->add_option("--max-reported", import_arguments.max_reported,
                   "List at most N rejected records per file on stderr and in the report, then "
                   "how many more there are (default 1000; 0: only the count)")
      ->check(count_validator());

  ProductsArguments products_arguments;
  auto* products = app.add_subcommand("products", "List registered products");
  products->add_option("--status", products_arguments.status,
                       "Only products with this status (pending, compliant, non_compliant, "
                       "check_error, excepted)");
  auto* flagged = products->add_flag("--flagged", products_arguments.flagged,
                                     "Only products flagged for sale prohibition");
  products->add_flag("--not-flagged", products_arguments.not_flagged, "Only unflagged products")
      ->excludes(flagged);
  products->add_option(
      "--flag-state", products_arguments.flag_state,
      "Only products whose newest flag is in this state: " + enforcement::flag_state_list());
  products->add_flag("--remedied", products_arguments.remedied,
                     "Only products whose confirmed flag is remedied (compliant since)");
  products
      ->add_option("--manufacturer", products_arguments.manufacturer,
                   "Only manufacturers whose name contains this text (ASCII case and spacing do "
                   "not matter)")
      ->check(kText);
  products
      ->add_option("--type", products_arguments.type,
                   "Only products of this declared type (ASCII case does not matter)")
      ->check(kText);
  products
      ->add_option(
          "--class", products_arguments.product_class,
          "Only products of this class, from their declared type: " + views::product_class_list())
      ->check(kText);
  products
      ->add_option("--failing", products_arguments.failing,
                   "Only products whose latest verdict failed this check (an id of `iotreg "
                   "plugins`)")
      ->check(kText);
  products->add_option("--support-ends-before", products_arguments.support_ends_before,
                       "Only products whose security updates end before this date (YYYY-MM-DD)");
  products->add_option("--support-ends-after", products_arguments.support_ends_after,
                       "Only products whose security updates end after this date (YYYY-MM-DD)");
  products->add_option("--changed-since", products_arguments.changed_since,
                       "Only products declared, or whose status or flag changed, on or after "
                       "this UTC date (YYYY-MM-DD)");
  products
      ->add_option("--search", products_arguments.search,
                   "Words to find in manufacturer, brand, model or type (prefixes match)")
      ->check(kText);
  products->add_option("--limit", products_arguments.limit, "At most this many products");
  auto* json =
      products->add_flag("--json", products_arguments.json, "JSON Lines: one product per line");
  auto* csv =
      products->add_flag("--csv", products_arguments.csv, "CSV with a header line")->excludes(json);
  products
      ->add_flag("--bom", products_arguments.bom,
                 "Start the CSV with a byte-order mark, so that Excel reads it as UTF-8")
      ->needs(csv);
  products
      ->add_option("--xlsx", products_arguments.xlsx_path,
                   "Write the products as an XLSX workbook to this file (typed cells, a frozen "
                   "header, an autofilter)")
      ->excludes(json)
      ->excludes(csv);

  std::string template_path;
  auto* template_command =
      app.add_subcommand("template", "Write a blank declaration workbook to fill in");
  template_command
      ->add_option("--xlsx", template_path,
                   "The workbook to write: one column per field, a notes row, drop-downs")
      ->required();

  ShowArguments show_arguments;
  auto* show = app.add_subcommand("show", "Show one product with its declaration history");
  show->add_option("id", show_arguments.id, "Product id")->required();
  show->add_flag("--json", show_arguments.json, "Print JSON");

  CheckArguments check_arguments;
  auto* check = app.add_subcommand(
      "check", "Re-check products whose verdict is stale for the policy, plugins and as-of date");
  check->add_flag("--all", check_arguments.all, "Re-check every product");
  check->add_flag("--dry-run", check_arguments.dry_run,
                  "Store nothing; report which products would change status or flag, per "
                  "manufacturer (impact preview of a policy or plugin change)");
  check->add_flag("--json", check_arguments.json, "Print JSON");

  bool plugins_json = false;
  auto* plugins = app.add_subcommand("plugins", "List the loaded check plugins and their checks");
  plugins->add_flag("--json", plugins_json, "Print JSON");
  std::string fixtures_dir;
  bool fixtures_verbose = false;
  auto* plugins_test = plugins->add_subcommand(
      "test", "Run the fixtures shipped next to each plugin in DIR (<plugin>.fixtures.yaml)");
  plugins_test->add_option("dir", fixtures_dir, "Plugin directory")->required();
  plugins_test->add_flag("--verbose", fixtures_verbose, "Also list the cases that pass");

  FlagsArguments flags_arguments;
  auto* flags = app.add_subcommand("flags", "List sale-prohibition flags");
  flags->add_option("--state", flags_arguments.state,
                    "Only flags in this state: " + enforcement::flag_state_list());
  flags->add_flag("--remedied", flags_arguments.remedied,
                  "Only confirmed flags whose product has become compliant (the remedy queue)");
  flags->add_flag("--json", flags_arguments.json, "JSON Lines: one flag per line");

  FlagActionArguments flag_arguments;
  auto* flag = app.add_subcommand("flag", "Act on sale-prohibition flags (several: all or none)");
  flag->require_subcommand(1);
  auto* confirm = flag->add_subcommand(
      "confirm", "Confirm raised flags: the prohibition is in force (a stop notice)");
  auto* dismiss = flag->add_subcommand("dismiss", "Dismiss raised or confirmed flags: no action");
  auto* lift = flag->add_subcommand("lift", "Lift confirmed flags: the prohibition ends");
  for (auto* action : {confirm, dismiss, lift}) {
    action->add_option("ids", flag_arguments.ids, "Flag ids")->required();
    action->add_option("--reason", flag_arguments.reason, "Why (recorded in the audit log)")
        ->required()
        ->check(kText);
  }
  confirm->add_option("--notice", flag_arguments.notice, "The stop notice's reference")
      ->check(kText);

  ChangesArguments changes_arguments;
  auto* changes = app.add_subcommand(
      "changes", "Status and flag changes, newest first, since a date or an import run");
  auto* since = changes->add_option("--since", changes_arguments.since,
                                    "Changes on or after this date, YYYY-MM-DD (UTC)");
  changes
      ->add_option("--since-run", changes_arguments.since_run, "Changes since import run N began")
      ->excludes(since);
  changes
      ->add_option("--cause", changes_arguments.cause,
                   "Only changes of this cause, exactly: 'import run 12', 're-check run 4', "
                   "'daily re-check 2026-12-05' or an officer as the audit log names them")
      ->check(kText);
  changes->add_flag("--json", changes_arguments.json, "JSON Lines: one change per line");

  auto* token = app.add_subcommand("token", "API bearer tokens");
  token->require_subcommand(1);
  TokenCreateArguments token_arguments;
  auto* token_create = token->add_subcommand(
      "create", "Create a token; it is printed once, as the last line, and stored only hashed");
  token_create->add_option("--role", token_arguments.role, "officer, manufacturer or admin")
      ->required();
  token_create
      ->add_option("--name", token_arguments.name,
                   "The person who will hold the token (audit events name them)")
      ->required()
      ->check(kText);
  token_create
      ->add_option("--manufacturer", token_arguments.manufacturer,
                   "The manufacturer a manufacturer token acts for")
      ->check(kText);
  token_create->add_option("--expires", token_arguments.expires,
                           "Last valid day, YYYY-MM-DD (default: does not expire)");
  bool token_list_json = false;
  auto* token_list = token->add_subcommand("list", "List tokens (never the tokens themselves)");
  token_list->add_flag("--json", token_list_json, "JSON Lines");
  std::int64_t token_id = 0;
  auto* token_revoke = token->add_subcommand("revoke", "Revoke a token");
  token_revoke->add_option("id", token_id, "Token id")->required();

  ServeArguments serve_arguments;
  auto* serve = app.add_subcommand("serve",
                                   "Serve the HTTP API, public product pages and the "
                                   "officer web UI until SIGINT or SIGTERM");
  serve->add_option("--listen", serve_arguments.listen, "HOST:PORT to listen on (port 0: any)")
      ->capture_default_str();
  serve
      ->add_option("--threads", serve_arguments.threads,
                   "Requests answered at once (idle and slow connections use none)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  serve->add_option("--public-url", serve_arguments.public_url,
                    "Base URL consumers reach the public pages at, for label QR codes "
                    "(default: the listening address)");
  serve
      ->add_option("--public-max-age", serve_arguments.public_max_age_seconds,
                   "Seconds a shared cache (a CDN) may keep a public page or label before asking "
                   "again: the longest a confirmed prohibition can take to show there")
      ->capture_default_str()
      ->check(CLI::Range(0, 86400));
  serve
      ->add_option("--idle-timeout", serve_arguments.idle_timeout_seconds,
                   "Seconds from a connection's start, or its previous reply, until its request "
                   "head is complete (408 after); also the longest a reply may stall")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  serve
      ->add_option("--session-idle-timeout", serve_arguments.session_idle_seconds,
                   "Seconds a web session may go unused before it ends")
      ->capture_default_str()
      ->check(CLI::Range(1, 7 * 24 * 3600));
  serve
      ->add_option("--session-lifetime", serve_arguments.session_lifetime_seconds,
                   "Seconds from signing in to the web UI until the session ends, however used")
      ->capture_default_str()
      ->check(CLI::Range(1, 30 * 24 * 3600));
  serve->add_flag("--secure-cookies", serve_arguments.secure_cookies,
                  "Mark the session cookie Secure (when clients reach the server over HTTPS, "
                  "through a TLS proxy)");
  serve
      ->add_option("--body-timeout", serve_arguments.body_timeout_seconds,
                   "Seconds from a request's head until its whole body has arrived (408 after)")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  serve
      ->add_option("--grace", serve_arguments.grace_seconds,
                   "Seconds SIGTERM waits for requests in progress before cutting them")
      ->capture_default_str()
      ->check(CLI::Range(0, 3600));
  serve
      ->add_option("--max-connections", serve_arguments.max_connections,
                   "Open connections at most (also bounded by the open-files limit)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  serve
      ->add_option("--max-client-connections", serve_arguments.max_client_connections,
                   "Open connections per client address at most; a new one closes the "
                   "address's oldest idle one")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  serve
      ->add_option("--reply-cache", serve_arguments.reply_cache_mib,
                   "MiB of read-only replies kept until the registry changes (0: none)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65536));
  serve
      ->add_option("--max-body", serve_arguments.max_body_mib,
                   "Largest request body in MiB (larger: 413)")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  serve
      ->add_option("--public-rate", serve_arguments.public_rate,
                   "Requests a second the public pages (/public/...) answer each client (an IPv4 "
                   "address, an IPv6 /64) in the long run; more get 429 with Retry-After. "
                   "Officers' and admins' requests are not limited (0: no limit)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e6));
  serve
      ->add_option("--public-burst", serve_arguments.public_burst,
                   "Requests a client may send to the public pages at once before "
                   "--public-rate applies")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 1e6));
  serve
      ->add_option("--public-rate-clients", serve_arguments.public_rate_clients,
                   "Clients the rate limit remembers at most (the least recently seen are "
                   "forgotten first)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000000));
  serve
      ->add_option("--trusted-proxy", serve_arguments.trusted_proxies,
                   "A proxy (address or CIDR network) whose X-Forwarded-For names the client "
                   "for the rate limit; repeatable. No other request's X-Forwarded-For is "
                   "believed")
      ->check(kText);

  LookupsArguments lookups_arguments;
  auto* lookups = app.add_subcommand(
      "lookups",
      "What consumers looked up on the public lookup page (a GTIN, or a brand and model) and "
      "did not find, most looked up first");
  lookups
      ->add_option("--since", lookups_arguments.since,
                   "Only those looked up on or after this date, YYYY-MM-DD (UTC)")
      ->check(kText);
  lookups->add_option("--limit", lookups_arguments.limit, "At most this many (0: all)")
      ->check(CLI::Range(0, 100000000));
  lookups->add_flag("--json", lookups_arguments.json, "JSON Lines: one entry per line");

  auto* db = app.add_subcommand("db", "The registry as a whole");
  db->require_subcommand(1);
  DbCopyArguments db_copy_arguments;
  auto* db_copy =
      db->add_subcommand("copy", std::string("Copy a whole registry into an empty one: each is ") +
                                     storage::kLocationForms);
  db_copy->add_option("--from", db_copy_arguments.from, "The registry to copy")->required();
  db_copy->add_option("--to", db_copy_arguments.to, "An empty registry (created when needed)")
      ->required();

  auto* audit = app.add_subcommand("audit", "The tamper-evident audit log");
  audit->require_subcommand(1);
  auto* audit_verify = audit->add_subcommand(
      "verify", "Check the audit log's hash chain; names the first edited, deleted or moved event");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForAllHelp& help) {
    return app.exit(help);
  } catch (const CLI::ParseError& error) {
    std::cerr << "iotreg: " << error.what() << "\n"
              << "Run 'iotreg --help' for usage.\n";
    return kExitUsage;
  }

  if (products_arguments.status) {
    static const char* kStatuses[] = {"pending", "excepted", "non_compliant", "check_error",
                                      "compliant"};
    bool known = false;
    for (const char* status : kStatuses) known = known || *products_arguments.status == status;
    if (!known) {
      std::cerr << "iotreg: --status must be one of pending, excepted, non_compliant, "
                   "check_error, compliant\n";
      return kExitUsage;
    }
  }

  if (*import) return run_import(global, import_arguments);
  if (*products) return run_products(global, products_arguments);
  if (*template_command) return run_template(template_path);
  if (*show) return run_show(global, show_arguments);
  if (*check) return run_check(global, check_arguments);
  if (*audit_verify) return run_audit_verify(global);
  if (*db_copy) return run_db_copy(global, db_copy_arguments);
  if (*serve) return run_serve(global, serve_arguments);
  if (*token_create) return run_token_create(global, token_arguments);
  if (*token_list) return run_token_list(global, token_list_json);
  if (*token_revoke) return run_token_revoke(global, token_id);
  if (*plugins_test) return run_plugin_fixtures(global, fixtures_dir, fixtures_verbose);
  if (*plugins) return run_plugins(global, plugins_json);
  if (*flags) return run_flags(global, flags_arguments);
  if (*changes) return run_changes(global, changes_arguments);
  if (*lookups) return run_lookups(global, lookups_arguments);
  if (*flag) {
    flag_arguments.action = confirm->parsed()   ? enforcement::OfficerAction::kConfirm
                            : dismiss->parsed() ? enforcement::OfficerAction::kDismiss
                                                : enforcement::OfficerAction::kLift;
    return run_flag_action(global, flag_arguments);
  }
  return kExitUsage;
}

}  // namespace iotreg::cli
