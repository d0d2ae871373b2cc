// `iotreg import FILE...`: per-record rejections on stderr (FILE:LINE: FIELD: REASON), an
// optional JSON report, a progress bar on a terminal, a summary per file on stdout. Both lists
// of rejections stop after --max-reported records per file and then give the count of the rest.
#include <pwd.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "importers/importer.h"
#include "importers/text_encoding.h"
#include "registry/cli/commands.h"
#include "registry/cli/output.h"
#include "registry/ingest/ingest.h"
#include "registry/views/views.h"

namespace iotreg::cli {
namespace {

// Writes the JSON report incrementally so that memory does not grow with the number of
// rejected records: {"files": [{file, rejected: [...], rejected_not_listed, format, run_id,
// counts, error}], totals}.
class ReportWriter {
 public:
  bool open(const std::string& path) {
    out_.open(path, std::ios::binary | std::ios::trunc);
    if (!out_) return false;
    out_ << "{\"files\":[";
    return true;
  }
  bool active() const { return out_.is_open(); }

  void begin_file(const std::string& file) {
    if (!active()) return;
    if (files_++) out_ << ",";
    out_ << "{\"file\":" << nlohmann::json(file).dump() << ",\"rejected\":[";
    rejected_in_file_ = 0;
  }
  void rejected(const importers::RejectedRecord& record) {
    if (!active()) return;
    if (rejected_in_file_++) out_ << ",";
    out_ << views::dump(views::rejected_record_json(record));
  }
  void end_file(const ingest::FileResult* result, const std::string& file_error, bool dry_run) {
    if (!active()) return;
    out_ << "],\"rejected_not_listed\":" << (result ? result->rejections_not_reported : 0);
    if (result) {
      // The summary's members, as `import --json` and the API give them.
      views::Json summary = views::import_report_json(*result, dry_run);
      summary.erase("file_error");
      summary.erase("rejected_not_listed");
      for (const auto& [name, value] : summary.items()) {
        out_ << "," << nlohmann::json(name).dump() << ":" << views::dump(value);
      }
    }
    out_ << ",\"error\":"
         << (file_error.empty()
                 ? std::string("null")
                 : nlohmann::json(file_error)
                       .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    out_ << "}";
  }
  void finish(const storage::ImportCounts& totals) {
    if (!active()) return;
    out_ << "],\"totals\":" << views::import_counts_json(totals).dump() << "}\n";
    out_.close();
  }

 private:
  std::ofstream out_;
  int files_ = 0;
  std::uint64_t rejected_in_file_ = 0;
};

class CliObserver : public ingest::ImportObserver {
 public:
  CliObserver(ReportWriter& report, bool quiet)
      : report_(report), quiet_(quiet), show_progress_(::isatty(STDERR_FILENO) == 1) {}

  void on_rejected(const std::string& file, const importers::RejectedRecord& record) override {
    report_.rejected(record);
    if (quiet_) return;
    clear_progress();
    for (const auto& issue : record.issues) {
      // FILE:LINE: FIELD: REASON (PRODUCT); items of a JSON array, which have no line, are
      // FILE:[INDEX]; worksheet rows are FILE:SHEET!ROW.
      std::string line = printable(file);
      std::uint64_t at = issue.line ? issue.line : record.where.line;
      if (!record.where.sheet.empty()) {
        line += ":" + printable(importers::sheet_reference(record.where.sheet, at));
      } else if (at) {
        line += ":" + std::to_string(at);
      } else if (record.where.array_index) {
        line += ":[" + std::to_string(*record.where.array_index) + "]";
      }
      line += ": ";
      if (!issue.field.empty()) line += printable(issue.field) + ": ";
      line += printable(issue.reason);
      // The product, when its identity was read: a spreadsheet's line number alone is hard to
      // act on.
      if (record.identity) line += " (" + printable(record.identity->describe()) + ")";
      std::cerr << line << "\n";
    }
  }

  void on_file_error(const std::string& file, const std::string& message) override {
    clear_progress();
    std::cerr << printable(file) << ": " << printable(message) << "\n";
  }

  void on_progress(const std::string& file, std::uint64_t bytes_read, std::uint64_t bytes_total,
                   std::uint64_t records) override {
    if (!show_progress_) return;
    auto now = std::chrono::steady_clock::now();
    if (!started_) {
      started_ = true;
      start_ = now;
    }
    if (now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    double seconds = std::chrono::duration<double>(now - start_).count();
    double rate = seconds > 0 ? static_cast<double>(records) / seconds : 0;
    char line[200];
    if (bytes_total > 0 && bytes_read > 0) {
      double fraction = std::min(1.0, static_cast<double>(bytes_read) / bytes_total);
      int filled = static_cast<int>(fraction * 30);
      double eta = fraction > 0 ? seconds * (1 - fraction) / fraction : 0;
      std::snprintf(line, sizeof line, "\r%.40s [%-30.*s] %3.0f%% %llu records %.0f/s ETA %.0fs",
                    file.c_str(), filled, "##############################", fraction * 100,
                    static_cast<unsigned long long>(records), rate, eta);
    } else {
      std::snprintf(line, sizeof line, "\r%.40s %llu records %.0f/s", file.c_str(),
                    static_cast<unsigned long long>(records), rate);
    }
    std::cerr << line << std::flush;
    drawn_ = true;
  }

  void clear_progress() {
    if (!drawn_) return;
    std::cerr << "\r\033[K" << std::flush;
    drawn_ = false;
  }

 private:
  ReportWriter& report_;
  bool quiet_;
  bool show_progress_;
  bool started_ = false;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
};

void add(storage::ImportCounts& total, const storage::ImportCounts& counts) {
  total.records_read += counts.records_read;
  total.accepted += counts.accepted;
  total.rejected += counts.rejected;
  total.new_products += counts.new_products;
  total.new_versions += counts.new_versions;
  total.unchanged += counts.unchanged;
}

// The same summary for a dry run and a real one, but for its verbs.
void print_summary(const ingest::FileResult& result, bool dry_run) {
  const auto& counts = result.counts;
  std::cout << printable(result.file) << ": " << counted(counts.records_read, "record", "records")
            << ", " << counts.accepted << (dry_run ? " would be accepted (" : " accepted (")
            << counted(counts.new_products, "new product", "new products") << ", "
            << counted(counts.new_versions, "new version", "new versions") << ", "
            << counts.unchanged << " unchanged), " << counts.rejected << " rejected";
  if (!counts.file_error.empty()) std::cout << "; file not read to its end";
  if (dry_run) std::cout << " (dry run: nothing stored)";
  std::cout << "\n";
  if (!result.statuses.empty()) {
    std::cout << "  checked:";
    const char* separator = " ";
    for (const auto& [status, count] : result.statuses) {
      std::cout << separator << count << " " << status;
      separator = ", ";
    }
    std::cout << "\n";
    print_change_summary(result.changes, dry_run);
  }
}

}  // namespace

int run_import(const GlobalOptions& options, const ImportArguments& arguments) {
  ingest::ImportOptions import_options;
  import_options.max_reported_rejections = arguments.max_reported;
  import_options.actor = cli_actor(options);
  if (!arguments.format.empty()) {
    import_options.format = importers::format_from_name(arguments.format);
    if (!import_options.format) {
      std::cerr << "iotreg: unknown --format '" << printable(arguments.format)
                << "' (use csv, jsonl, json, yaml or xlsx)\n";
      return kExitUsage;
    }
  }
  if (auto encoding = importers::text_encoding_from_label(arguments.encoding)) {
    import_options.encoding = *encoding;
  } else {
    std::cerr << "iotreg: unknown --encoding '" << printable(arguments.encoding) << "' (use "
              << importers::text_encoding_names() << ")\n";
    return kExitUsage;
  }
  // Refuse bad arguments before anything is stored.
  int stdin_count = 0;
  for (const auto& file : arguments.files) {
    if (file == "-") {
      if (++stdin_count > 1 || !import_options.format) {
        std::cerr << "iotreg: standard input ('-') can be imported once, with --format\n";
        return kExitUsage;
      }
      continue;
    }
    if (!import_options.format && !importers::format_from_path(file)) {
      std::cerr << "iotreg: " << printable(file)
                << ": unknown format (use a .csv, .jsonl, .json, .yaml, .yml or .xlsx file, "
                   "or --format)\n";
      return kExitUsage;
    }
    if (auto readable = ingest::check_input_file(file); !readable.is_ok()) {
      std::cerr << "iotreg: " << printable(readable.message()) << "\n";
      return kExitUsage;
    }
    // A file that is not a workbook at all is bad usage, like a missing file.
    const auto format =
        import_options.format ? *import_options.format : *importers::format_from_path(file);
    if (format == importers::Format::kXlsx) {
      std::ifstream workbook(file, std::ios::binary);
      if (auto opened = importers::check_xlsx_workbook(workbook); !opened.is_ok()) {
        std::cerr << "iotreg: " << printable(file) << ": " << printable(opened.message())
                  << "; nothing was imported\n";
        return kExitUsage;
      }
    }
  }

  auto evaluator = load_evaluator(options);
  if (!evaluator) return kExitUsage;
  import_options.evaluator = evaluator.get();

  // A dry run is the import itself, every file of it, undone at the end: its summary is what
  // the real run's would be.
  auto target = open_for_writing(options, arguments.dry_run);
  if (!target) return kExitUsage;
  storage::Storage* registry = target->registry.get();
  ReportWriter report;
  if (!arguments.report_path.empty() && !report.open(arguments.report_path)) {
    std::cerr << "iotreg: cannot write the report to " << printable(arguments.report_path) << "\n";
    return kExitUsage;
  }
  CliObserver observer(report, arguments.quiet);
  storage::ImportCounts totals;
  bool file_errors = false;
  for (const auto& file : arguments.files) {
    report.begin_file(file);
    auto result = ingest::import_file(registry, file, import_options, observer);
    observer.clear_progress();
    if (!result.is_ok()) {
      report.end_file(nullptr, result.status().message(), arguments.dry_run);
      report.finish(totals);
      return report_error(result.status());
    }
    report.end_file(&result.value(), result->counts.file_error, arguments.dry_run);
    if (const auto more = result->rejections_not_reported; more > 0 && !arguments.quiet) {
      std::cerr << "... "
                << (more < result->counts.rejected ? "and " + grouped(more) + " more"
                                                   : grouped(more))
                << " rejections in " << printable(file) << "\n";
    }
    if (!arguments.quiet) {
      // FILE:WHERE: warning: ...; worksheet rows as FILE:SHEET!ROW.
      for (const auto& duplicate : result->duplicates) {
        std::cerr << printable(file) << ":"
                  << printable(duplicate.where.sheet.empty()
                                   ? (duplicate.where.line ? std::to_string(duplicate.where.line)
                                                           : duplicate.where.describe())
                                   : importers::sheet_reference(duplicate.where.sheet,
                                                                duplicate.where.line))
                  << ": warning: " << printable(views::duplicate_warning(duplicate)) << "\n";
      }
      if (const auto more = result->duplicates_not_reported; more > 0) {
        std::cerr << "... and " << grouped(more) << " more duplicates in " << printable(file)
                  << "\n";
      }
    }
    add(totals, result->counts);
    file_errors = file_errors || !result->counts.file_error.empty();
    if (arguments.json) {
      views::Json summary = {{"file", result->file}};
      summary.update(views::import_report_json(result.value(), arguments.dry_run));
      std::cout << views::dump(summary) << "\n";
    } else {
      print_summary(result.value(), arguments.dry_run);
    }
  }
  report.finish(totals);
  return totals.rejected > 0 || file_errors ? kExitRejectedOrNotFound : kExitSuccess;
}

}  // namespace iotreg::cli
