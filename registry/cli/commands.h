// Private to registry/cli: the subcommands and what they share.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "registry/checks/checks.h"
#include "registry/cli/cli.h"
#include "registry/core/calendar.h"
#include "registry/core/status.h"
#include "registry/enforcement/enforcement.h"
#include "registry/storage/storage.h"

namespace iotreg::cli {

struct GlobalOptions {
  std::string registry;    // --db: where the registry is (storage::open_storage)
  std::string policy;      // a policy file or the id of a shipped policy
  std::string plugin_dir;  // empty: the built-in plugin directory
  std::string as_of;       // YYYY-MM-DD; empty: today in time_zone
  std::string actor;       // who acts (--actor); empty: the operating-system user
  std::string time_zone = ZonedCalendar::kDefaultZone;  // whose "today"
};

// The evaluation date the options name: --as-of, else today in --time-zone. Prints the error
// and returns nullopt for an unknown time zone or a malformed date.
std::optional<std::string> evaluation_date(const GlobalOptions& options);

// Loads the plugins and the policy named by the global options and binds them to the
// evaluation date; prints the error and returns null on failure.
std::unique_ptr<checks::Evaluator> load_evaluator(const GlobalOptions& options);
// Where checks run: untrusted plugins in workers started from this executable.
checks::Isolation isolation(const GlobalOptions& options);
// The plugin directory the global options name, or the built-in one.
std::string plugin_directory(const GlobalOptions& options);

enum class Access { kRead, kWrite, kPreview };
// Opens the registry named by the global options; prints the error and returns null on failure.
// For reading, a database file the user may not write is opened read-only; a missing one is
// created (and migrated), as on first use. For a preview (a dry run), a missing one is an empty
// registry in memory, and nothing is created.
std::unique_ptr<storage::Storage> open_registry(const GlobalOptions& options, Access access);
// A registry to write to and, for a dry run, the preview that undoes everything written through
// it when it ends (declared last, so it ends first).
struct WriteTarget {
  std::unique_ptr<storage::Storage> registry;
  std::unique_ptr<storage::Preview> preview;
};
// Prints the error and returns nullopt on failure.
std::optional<WriteTarget> open_for_writing(const GlobalOptions& options, bool dry_run);
// Prints "iotreg: <message>" on stderr and returns the exit status for the Status.
int report_error(const Status& status);

struct ImportArguments {
  std::vector<std::string> files;
  std::string format;              // empty: from each file's extension
  std::string encoding = "utf-8";  // of CSV, JSON and YAML files
  bool dry_run = false;
  std::string report_path;
  bool quiet = false;
  std::uint64_t max_reported = 1000;  // rejected records listed per file
  bool json = false;                  // a JSON summary per file instead of text
};
int run_import(const GlobalOptions& options, const ImportArguments& arguments);

struct ProductsArguments {
  std::optional<std::string> status;
  bool flagged = false;
  bool not_flagged = false;
  std::optional<std::string> flag_state;
  bool remedied = false;
  std::optional<std::string> manufacturer;
  std::optional<std::string> type;
  std::optional<std::string> product_class;
  std::optional<std::string> failing;
  std::optional<std::string> support_ends_before;
  std::optional<std::string> support_ends_after;
  std::optional<std::string> changed_since;
  std::optional<std::string> search;
  std::size_t limit = 0;
  bool json = false;
  bool csv = false;
  bool bom = false;       // the CSV starts with a byte-order mark (for Excel)
  std::string xlsx_path;  // non-empty: write an XLSX workbook there
};
int run_products(const GlobalOptions& options, const ProductsArguments& arguments);

// `iotreg template --xlsx FILE`: a blank declaration workbook.
int run_template(const std::string& xlsx_path);

struct ShowArguments {
  std::int64_t id = 0;
  bool json = false;
};
int run_show(const GlobalOptions& options, const ShowArguments& arguments);

struct CheckArguments {
  bool all = false;
  bool dry_run = false;
  bool json = false;
};
int run_check(const GlobalOptions& options, const CheckArguments& arguments);

int run_plugins(const GlobalOptions& options, bool json);
// Runs the fixtures of the plugins in `directory`: exit 0 when all pass, 1 when any fails.
// Untrusted plugins (any directory but the built-in one) run in workers.
int run_plugin_fixtures(const GlobalOptions& options, const std::string& directory, bool verbose);

struct FlagsArguments {
  std::optional<std::string> state;
  bool remedied = false;
  bool json = false;
};
int run_flags(const GlobalOptions& options, const FlagsArguments& arguments);

struct FlagActionArguments {
  std::vector<std::int64_t> ids;
  std::string reason;
  std::string notice;  // confirm only
  enforcement::OfficerAction action = enforcement::OfficerAction::kConfirm;
};
int run_flag_action(const GlobalOptions& options, const FlagActionArguments& arguments);

struct ChangesArguments {
  std::optional<std::string> since;       // YYYY-MM-DD
  std::optional<std::int64_t> since_run;  // an import run
  std::optional<std::string> cause;       // exactly, e.g. "daily re-check 2026-12-05"
  bool json = false;
};
int run_changes(const GlobalOptions& options, const ChangesArguments& arguments);

struct TokenCreateArguments {
  std::string role;
  std::string name;  // the holder
  std::string manufacturer;
  std::string expires;  // YYYY-MM-DD; empty: never
};
int run_token_create(const GlobalOptions& options, const TokenCreateArguments& arguments);
int run_token_list(const GlobalOptions& options, bool json);
int run_token_revoke(const GlobalOptions& options, std::int64_t id);

struct ServeArguments {
  std::string listen = "127.0.0.1:8080";
  std::size_t threads = 64;
  std::string public_url;
  std::size_t max_body_mib = 64;
  int idle_timeout_seconds = 15;
  int public_max_age_seconds = 60;
  int body_timeout_seconds = 60;
  int grace_seconds = 30;
  std::size_t max_connections = 10000;
  std::size_t max_client_connections = 1024;
  std::size_t reply_cache_mib = 64;
  int session_idle_seconds = 30 * 60;        // a web session unused this long ends
  int session_lifetime_seconds = 12 * 3600;  // a web session ends this long after sign-in
  bool secure_cookies = false;               // mark the session cookie Secure (behind TLS)
  double public_rate = 10;                   // requests a second per client to /public/...
  double public_burst = 60;
  std::size_t public_rate_clients = 100000;
  std::vector<std::string> trusted_proxies;  // whose X-Forwarded-For names the client
};
// Serves until SIGINT or SIGTERM, then finishes requests in flight and exits 0.
int run_serve(const GlobalOptions& options, const ServeArguments& arguments);

struct LookupsArguments {
  std::optional<std::string> since;  // YYYY-MM-DD
  std::size_t limit = 0;             // 0: all
  bool json = false;
};
// Lookups of the public lookup page that found no product, most looked up first.
int run_lookups(const GlobalOptions& options, const LookupsArguments& arguments);

struct DbCopyArguments {
  std::string from;  // a registry location
  std::string to;    // an empty registry's location
};
// Copies a whole registry into an empty one (either backend); exit 2 when the target is not
// empty, 1 when the copy's audit chain does not verify.
int run_db_copy(const GlobalOptions& options, const DbCopyArguments& arguments);

// Exit 0 when the audit log's hash chain is intact, 1 naming the first bad event.
int run_audit_verify(const GlobalOptions& options);

// The person running the command, for the audit log: --actor, else the operating-system user,
// e.g. "alice (command line)".
std::string cli_actor(const GlobalOptions& options);

}  // namespace iotreg::cli
