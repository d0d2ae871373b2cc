// XLSX exports: products as an Excel workbook with typed cells, through libxlsxwriter.
//
// XlsxWorkbook owns one lxw_workbook, written by close() (a workbook destroyed without close()
// leaves no file);
// TemporaryFile owns a file name under $TMPDIR and removes the file when destroyed;
// ProductXlsxWriter writes the export columns of views.h (the same as CSV) as one sheet, with
// numbers as numbers, booleans as booleans and dates as Excel dates, a bold frozen header row,
// an autofilter and column widths, in libxlsxwriter's constant-memory mode, so memory does not
// grow with the number of products. Every cell of text is written as a string, never as a
// formula, whatever it starts with. None of them is thread-safe; one thread uses each.
#pragma once

#include <xlsxwriter.h>

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>

#include "registry/core/status.h"
#include "registry/views/views.h"

namespace iotreg::views {

class XlsxWorkbook {
 public:
  // Starts a workbook that close() writes to `path`. Constant-memory mode writes rows to
  // temporary files as they come, in order.
  static Result<std::unique_ptr<XlsxWorkbook>> create(const std::string& path,
                                                      bool constant_memory);
  ~XlsxWorkbook();
  XlsxWorkbook(const XlsxWorkbook&) = delete;
  XlsxWorkbook& operator=(const XlsxWorkbook&) = delete;

  lxw_workbook* get() { return workbook_; }
  // Writes the file; kIoError naming the path and libxlsxwriter's reason when it cannot, and
  // then no file is left.
  Status close();

 private:
  XlsxWorkbook(lxw_workbook* workbook, std::string path) : workbook_(workbook), path_(path) {}
  lxw_workbook* workbook_;
  std::string path_;
};

// Why a libxlsxwriter call failed, as a Status naming `what` was being done.
Status xlsx_status(lxw_error error, const std::string& what);

class TemporaryFile {
 public:
  // A new empty file, iotreg-XXXXXX.xlsx in $TMPDIR (or /tmp).
  static Result<std::unique_ptr<TemporaryFile>> create();
  ~TemporaryFile();
  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;

  const std::string& path() const { return path_; }
  // Copies the file's bytes to `out`; false when reading or writing failed.
  bool copy_to(std::ostream& out) const;

 private:
  explicit TemporaryFile(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

class ProductXlsxWriter {
 public:
  // A workbook of one sheet, "Products", with the header row written; `path` is written by
  // finish().
  static Result<std::unique_ptr<ProductXlsxWriter>> create(const std::string& path);
  // One product's row, with its findings as FindingsPrinter gives them.
  Status add(const storage::ProductSummary& product, const PrintedFindings& findings);
  // Sets the autofilter over the rows written and writes the file.
  Status finish();

 private:
  explicit ProductXlsxWriter(std::unique_ptr<XlsxWorkbook> workbook)
      : workbook_(std::move(workbook)) {}
  std::unique_ptr<XlsxWorkbook> workbook_;
  lxw_worksheet* sheet_ = nullptr;
  lxw_format* date_ = nullptr;
  lxw_format* timestamp_ = nullptr;
  std::uint32_t next_row_ = 1;
};

}  // namespace iotreg::views
