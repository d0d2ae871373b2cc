#include "registry/cli/cli.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include "registry/cli/commands.h"

namespace iotreg::cli {

std::unique_ptr<storage::Storage> open_registry(const GlobalOptions& options, Access access) {
  auto mode = storage::OpenMode::kReadWrite;
  if (access == Access::kRead && ::access(options.db_path.c_str(), F_OK) == 0 &&
      ::access(options.db_path.c_str(), W_OK) != 0) {
    mode = storage::OpenMode::kReadOnly;
  }
  auto opened = storage::open_sqlite_storage(options.db_path, mode);
  if (!opened.is_ok()) {
    report_error(opened.status());
    return nullptr;
  }
  return std::move(opened).value();
}

int report_error(const Status& status) {
  std::cerr << "iotreg: " << status.message() << "\n";
  return status.code() == Status::Code::kNotFound ? kExitRejectedOrNotFound : kExitUsage;
}

int run(int argc, char** argv) {
  CLI::App app{"iotreg: registry of consumer connectable product security declarations"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every command");

  GlobalOptions global;
  const char* env_db = std::getenv("IOTREG_DB");
  global.db_path = env_db && *env_db ? env_db : "iotreg.db";
  app.add_option("--db", global.db_path,
                 "Registry database file (default: $IOTREG_DB, else ./iotreg.db)");

  ImportArguments import_arguments;
  auto* import = app.add_subcommand("import",
                                    "Import declarations from CSV, JSON Lines, JSON or "
                                    "YAML files");
  import->add_option("files", import_arguments.files, "Files to import ('-' reads standard input)")
      ->required();
  import->add_option("--format", import_arguments.format,
                     "Format for every file: csv, jsonl, json or yaml (default: from the "
                     "extension)");
  import->add_flag("--dry-run", import_arguments.dry_run, "Validate only; store nothing");
  import->add_option("--report", import_arguments.report_path,
                     "Write the row-level report as JSON to this file");
  import->add_flag("--quiet", import_arguments.quiet, "Print no per-record rejections on stderr");

  ProductsArguments products_arguments;
  auto* products = app.add_subcommand("products", "List registered products");
  products->add_option("--status", products_arguments.status,
                       "Only products with this status (pending, compliant, non_compliant, "
                       "check_error, excepted)");
  auto* flagged = products->add_flag("--flagged", products_arguments.flagged,
                                     "Only products flagged for sale prohibition");
  products->add_flag("--not-flagged", products_arguments.not_flagged, "Only unflagged products")
      ->excludes(flagged);
  products->add_option("--manufacturer", products_arguments.manufacturer,
                       "Only this manufacturer (case and spacing do not matter)");
  products->add_option("--search", products_arguments.search,
                       "Words to find in manufacturer, brand, model or type (prefixes match)");
  products->add_option("--limit", products_arguments.limit, "At most this many products");
  auto* json =
      products->add_flag("--json", products_arguments.json, "JSON Lines: one product per line");
  products->add_flag("--csv", products_arguments.csv, "CSV with a header line")->excludes(json);

  ShowArguments show_arguments;
  auto* show = app.add_subcommand("show", "Show one product with its declaration history");
  show->add_option("id", show_arguments.id, "Product id")->required();
  show->add_flag("--json", show_arguments.json, "Print JSON");

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
  if (*show) return run_show(global, show_arguments);
  return kExitUsage;
}

}  // namespace iotreg::cli
