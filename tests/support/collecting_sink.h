// Test support: a RecordSink that keeps everything it is given, for assertions.
#pragma once

#include <sstream>
#include <string>
#include <vector>

#include "importers/importer.h"

namespace iotreg::testing {

struct AcceptedRecord {
  std::string canonical_json;
  importers::RecordLocation where;
};

class CollectingSink : public importers::RecordSink {
 public:
  void accept(const model::Declaration& declaration,
              const importers::RecordLocation& where) override {
    accepted.push_back({declaration.to_canonical_json(), where});
  }
  void reject(importers::RejectedRecord&& record) override { rejected.push_back(record); }

  // "field: reason" of every issue of rejected record `index`.
  std::vector<std::string> issues(std::size_t index) const {
    std::vector<std::string> out;
    for (const auto& issue : rejected.at(index).issues)
      out.push_back(issue.field + ": " + issue.reason);
    return out;
  }

  std::vector<AcceptedRecord> accepted;
  std::vector<importers::RejectedRecord> rejected;
};

struct ReadResult {
  Status status;
  CollectingSink sink;
};

inline ReadResult read_text(const std::string& text, importers::Format format,
                            importers::ReaderLimits limits = {}) {
  ReadResult result;
  std::istringstream in(text);
  result.status = importers::read_declarations(in, format, *importers::CompiledSchema::builtin(),
                                               result.sink, limits);
  return result;
}

}  // namespace iotreg::testing
