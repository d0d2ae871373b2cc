// Running untrusted plugins in worker processes: reading their descriptors, and judging
// batches of declarations with their checks. A fault is charged to the check the worker's
// progress page says was running; when it cannot say (a malformed reply), the batch is bisected
// and each declaration that faults alone is judged by one worker per plugin to find the plugin
// at fault.
#include "registry/checks/detail/isolated_plugin.h"

#include <algorithm>
#include <iostream>
#include <optional>

#include "registry/checks/detail/loaded_check.h"
#include "registry/checks/detail/worker_protocol.h"

namespace iotreg::checks::detail {
namespace {

constexpr std::size_t kPerFindingOverhead = 32;
// A descriptor's texts, as a worker sends them, and the frame around them.
constexpr std::size_t kMaxDescriptionBytes =
    64 + (3 + 4 * kMaxChecksPerPlugin) * (kMaxNameBytes + 1 + 10);
constexpr std::size_t kMaxRefusalBytes = 4096;

// What describing some files in one worker gave: their descriptions, the worker's fault while
// loading them, or a failure to start a worker at all (no plugin's doing).
struct Described {
  std::vector<Result<DescriptorTexts>> plugins;
  std::string fault;
  Status start_failure;
};

Described describe_together(const std::vector<WorkerProcess::PluginFile>& files,
                            const Isolation& isolation) {
  Described out;
  auto started = WorkerProcess::start(isolation.worker_program, files, isolation.memory_limit_bytes,
                                      isolation.sandbox);
  if (!started.is_ok()) {
    out.start_failure = started.status();
    return out;
  }
  WorkerProcess& worker = *started.value();
  std::string request;
  protocol::put_frame_header(request, 1);
  request.push_back(static_cast<char>(protocol::kDescribe));
  std::string reply;
  out.fault = worker.send({request}, isolation.load_deadline);
  if (out.fault.empty()) {
    out.fault = worker.receive(reply, files.size() * (kMaxDescriptionBytes + kMaxRefusalBytes));
  }
  if (out.fault.empty()) {
    out.fault = protocol::decode_description(reply, files.size(), out.plugins);
    if (!out.fault.empty()) worker.stop({});
  }
  if (!out.fault.empty()) return out;
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (out.plugins[i].is_ok()) continue;
    // The worker's words about the file, made safe to print, under the name the host knows.
    std::string refusal = printable(out.plugins[i].status().message(), kMaxRefusalBytes);
    const std::string named = printable(files[i].path + ": ", kMaxRefusalBytes);
    if (refusal.compare(0, named.size(), named) != 0) {
      refusal = files[i].path + ": refused: " + refusal;
    }
    out.plugins[i] = Status::invalid_argument(refusal);
  }
  return out;
}

}  // namespace

Result<std::vector<Result<DescriptorTexts>>> describe_in_worker(
    const std::vector<WorkerProcess::PluginFile>& files, const Isolation& isolation) {
  Described together = describe_together(files, isolation);
  if (!together.start_failure.is_ok()) return together.start_failure;
  if (together.fault.empty()) return std::move(together.plugins);
  std::vector<Result<DescriptorTexts>> described;
  for (const auto& file : files) {
    Described alone =
        files.size() == 1 ? std::move(together) : describe_together({file}, isolation);
    if (!alone.start_failure.is_ok()) return alone.start_failure;
    if (alone.fault.empty()) {
      described.push_back(std::move(alone.plugins.front()));
    } else {
      described.push_back(Status::invalid_argument(
          file.path + ": refused: the plugin " + alone.fault +
          " while a worker process loaded it (it is not trusted, so it is not loaded into the "
          "registry itself)"));
    }
  }
  return described;
}

// The checks of one or more plugins, run by one worker process at a time (started on first
// use, replaced after a fault).
class WorkerChecks {
 public:
  WorkerChecks(std::vector<WorkerProcess::PluginFile> files, std::vector<std::size_t> checks,
               std::string setup_payload, const Isolation& isolation,
               WorkerProcess::StderrSink on_stderr)
      : files_(std::move(files)),
        checks_(std::move(checks)),
        setup_payload_(std::move(setup_payload)),
        isolation_(isolation),
        on_stderr_(std::move(on_stderr)) {}

  // Tells the sink what the worker wrote on standard error so far.
  void report_stderr() {
    if (worker_) worker_->report_stderr();
  }

  using Answer = WorkerAnswer;

  // The Evaluator's indexes of the checks this worker runs, in setup order.
  const std::vector<std::size_t>& checks() const { return checks_; }

  // Judges `which` of `items`, setting their findings in `verdicts`.
  Answer judge(const std::string& path_table, const std::vector<std::string>& items,
               const std::vector<std::size_t>& which, const std::vector<Verdict*>& verdicts) {
    std::string fault = send(path_table, items, which);
    if (!fault.empty()) return {std::move(fault), 0, std::nullopt};
    return receive(which, verdicts);
  }

  // Sends `which` to the worker (started if need be); empty on success, else the fault.
  std::string send(const std::string& path_table, const std::vector<std::string>& items,
                   const std::vector<std::size_t>& which) {
    frame_.clear();
    if (!worker_) {
      auto started = WorkerProcess::start(isolation_.worker_program, files_,
                                          isolation_.memory_limit_bytes, isolation_.sandbox);
      if (!started.is_ok()) return "could not be started (" + started.status().message() + ")";
      worker_ = std::move(started).value();
      worker_->set_stderr_sink(on_stderr_);
      batches_ = 0;
      protocol::put_frame_header(frame_, setup_payload_.size());
      frame_ += setup_payload_;
    }
    // The items go out from where they are, without being copied into one message.
    std::size_t items_bytes = 0;
    for (std::size_t i : which) items_bytes += items[i].size();
    protocol::encode_batch_header(path_table, which.size(), items_bytes, frame_);
    parts_.clear();
    parts_.push_back(frame_);
    for (std::size_t i : which) parts_.push_back(items[i]);
    std::string fault = worker_->send(parts_, isolation_.load_deadline);
    if (!fault.empty()) {
      worker_.reset();
      return fault;
    }
    // Each check has its deadline on each declaration; the batch, at most all of them.
    const auto latest =
        std::chrono::steady_clock::now() + isolation_.load_deadline +
        isolation_.check_deadline * static_cast<long>(which.size() * checks_.size());
    worker_->watch_checks(++batches_, isolation_.check_deadline, latest);
    return {};
  }

  // Reads the findings of `which` (as sent) into `verdicts`, as the worker streams them back.
  Answer receive(const std::vector<std::size_t>& which, const std::vector<Verdict*>& verdicts) {
    Answer answer;
    while (answer.answered < which.size()) {
      const std::size_t awaited = which.size() - answer.answered;
      const std::size_t max_reply =
          64 + awaited * checks_.size() * (kMaxMessageBytes + kMaxFieldBytes + kPerFindingOverhead);
      answer.fault = worker_->receive(reply_, max_reply);
      if (!answer.fault.empty()) {
        WorkerProcess::Running running;
        if (worker_->faulted_in_check() && worker_->running(batches_, running) &&
            running.declaration >= answer.answered && running.declaration < which.size() &&
            running.check < checks_.size()) {
          answer.in_progress = {running.declaration, running.check};
        }
      } else {
        answer.fault = protocol::decode_results(reply_, awaited, checks_.size(), findings_);
        if (!answer.fault.empty()) worker_->stop({});
      }
      if (!answer.fault.empty()) {
        worker_.reset();
        return answer;
      }
      const std::size_t got = findings_.size() / checks_.size();
      for (std::size_t j = 0; j < got; ++j) {
        Verdict& verdict = *verdicts[which[answer.answered + j]];
        for (std::size_t k = 0; k < checks_.size(); ++k) {
          Finding& finding = verdict.findings[checks_[k]];
          Finding& judged = findings_[j * checks_.size() + k];
          finding.outcome = judged.outcome;
          finding.message.swap(judged.message);  // the buffers change places, nothing is freed
          finding.field.swap(judged.field);
          finding.check = static_cast<std::uint32_t>(checks_[k]);
        }
      }
      answer.answered += got;
    }
    return answer;
  }

 private:
  std::vector<WorkerProcess::PluginFile> files_;
  std::vector<std::size_t> checks_;
  std::string setup_payload_;
  Isolation isolation_;
  WorkerProcess::StderrSink on_stderr_;
  std::unique_ptr<WorkerProcess> worker_;
  std::uint64_t batches_ = 0;  // sent to worker_
  std::string frame_, reply_;
  std::vector<std::string_view> parts_;
  std::vector<Finding> findings_;
};

struct Isolator::Plugin {
  IsolatedPluginSpec spec;
  std::unique_ptr<WorkerChecks> alone;  // judges single declarations to find a fault's cause
  std::size_t faulty_declarations = 0;
  std::string disabled;   // why; empty while enabled
  bool excluded = false;  // disabled when the shared workers were built: they do not load it
};

struct Isolator::Group {
  std::vector<Plugin*> plugins;
  std::vector<std::unique_ptr<WorkerChecks>> workers;  // each loads the enabled plugins
  bool rebuild_needed = false;  // a plugin was disabled since the workers were built
};

Isolator::Isolator(std::vector<IsolatedPluginSpec> plugins, std::string as_of,
                   std::string policy_id, const Isolation& isolation)
    : as_of_(std::move(as_of)), policy_id_(std::move(policy_id)), isolation_(isolation) {
  for (auto& spec : plugins) {
    auto plugin = std::make_unique<Plugin>();
    std::string payload;
    protocol::encode_setup(as_of_, policy_id_, spec.setup, payload);
    plugin->alone = std::make_unique<WorkerChecks>(std::vector{spec.file}, spec.checks,
                                                   std::move(payload), isolation_, output_sink());
    plugin->spec = std::move(spec);
    plugins_.push_back(std::move(plugin));
  }
  for (const auto& plugin : plugins_) {
    if (groups_.empty() || isolation_.separate_workers)
      groups_.push_back(std::make_unique<Group>());
    groups_.back()->plugins.push_back(plugin.get());
  }
  for (auto& group : groups_) rebuild(*group);
}

Isolator::~Isolator() = default;

void Isolator::rebuild(Group& group) {
  group.workers.clear();
  group.rebuild_needed = false;
  std::vector<WorkerProcess::PluginFile> files;
  std::vector<std::size_t> checks;
  std::vector<protocol::SetupCheck> setup;
  for (Plugin* plugin : group.plugins) {
    plugin->excluded = !plugin->disabled.empty();
    if (plugin->excluded) continue;
    files.push_back(plugin->spec.file);
    checks.insert(checks.end(), plugin->spec.checks.begin(), plugin->spec.checks.end());
    setup.insert(setup.end(), plugin->spec.setup.begin(), plugin->spec.setup.end());
  }
  if (files.empty()) return;
  std::string payload;
  protocol::encode_setup(as_of_, policy_id_, setup, payload);
  for (std::size_t i = 0; i < std::max<std::size_t>(1, isolation_.worker_processes); ++i) {
    group.workers.push_back(
        std::make_unique<WorkerChecks>(files, checks, payload, isolation_, output_sink()));
  }
}

void Isolator::begin_run() {
  std::lock_guard lock(mutex_);
  for (auto& group : groups_) {
    bool any_disabled = false;
    for (Plugin* plugin : group->plugins) {
      any_disabled = any_disabled || !plugin->disabled.empty();
      plugin->faulty_declarations = 0;
      plugin->disabled.clear();
    }
    if (any_disabled) rebuild(*group);
  }
}

void Isolator::set_error(const Plugin& plugin, Verdict& verdict, const std::string& message) {
  for (std::size_t check : plugin.spec.checks) {
    Finding& finding = verdict.findings[check];
    finding.check = static_cast<std::uint32_t>(check);
    finding.outcome = Outcome::kError;
    finding.message = message;
    finding.field.clear();
  }
}

void Isolator::judge(const std::string& path_table,
                     const std::function<void(std::size_t, std::string&)>& encode,
                     std::vector<std::string>& items, const std::vector<Verdict*>& verdicts) {
  std::lock_guard lock(mutex_);
  path_table_ = &path_table;
  const std::size_t per_batch = std::max<std::size_t>(1, isolation_.declarations_per_batch);
  std::vector<std::vector<std::size_t>> chunks;
  for (std::size_t begin = 0; begin < items.size(); begin += per_batch) {
    chunks.emplace_back();
    for (std::size_t i = begin; i < std::min(items.size(), begin + per_batch); ++i) {
      chunks.back().push_back(i);
    }
  }
  // Each declaration is encoded once, just before it is first sent.
  std::vector<char> encoded(items.size(), 0);
  const std::function<void(std::size_t)> encode_once = [&](std::size_t i) {
    if (encoded[i]) return;
    encode(i, items[i]);
    encoded[i] = 1;
  };
  for (auto& group : groups_) judge_group(*group, chunks, encode_once, items, verdicts);
  for (auto& group : groups_) {
    for (auto& worker : group->workers) worker->report_stderr();
  }
  for (auto& plugin : plugins_) plugin->alone->report_stderr();
}

WorkerProcess::StderrSink Isolator::output_sink() {
  return [this](const std::string& plugin_files, const std::string& text) {
    keep_output(plugin_files, text);
  };
}

void Isolator::keep_output(const std::string& plugin_files, const std::string& text) {
  log_worker_stderr(plugin_files, text);
  auto same = std::find_if(output_.begin(), output_.end(), [&](const PluginOutput& output) {
    return output.plugin_files == plugin_files;
  });
  if (same == output_.end()) {
    output_.push_back({plugin_files, text});
  } else if (same->text.size() + text.size() <= kMaxWorkerStderrBytes * 4) {
    same->text += text;
  }
}

std::vector<PluginOutput> Isolator::take_output() {
  std::lock_guard lock(mutex_);
  return std::exchange(output_, {});
}

void Isolator::judge_group(Group& group, const std::vector<std::vector<std::size_t>>& chunks,
                           const std::function<void(std::size_t)>& encode_once,
                           std::vector<std::string>& items, const std::vector<Verdict*>& verdicts) {
  // The checks of the group's plugins its workers do not load err on every declaration of a
  // chunk once it is done. (A chunk sent before its plugin was disabled keeps what the plugin
  // found.)
  auto finish = [&](std::size_t chunk) {
    for (const Plugin* plugin : group.plugins) {
      if (!plugin->excluded) continue;
      for (std::size_t i : chunks[chunk]) set_error(*plugin, *verdicts[i], plugin->disabled);
    }
  };
  // Each worker is kept busy: as soon as it answers it gets the next chunk, encoded while the
  // others judge theirs. A plugin disabled on the way stops new chunks until every worker has
  // answered; then the group's workers are rebuilt without it.
  std::size_t next = 0;
  std::vector<std::optional<std::size_t>> in_flight;
  auto dispatch = [&](std::size_t w) {
    while (next < chunks.size() && !group.rebuild_needed) {
      const std::size_t chunk = next++;
      for (std::size_t i : chunks[chunk]) encode_once(i);
      if (group.workers[w]->send(*path_table_, items, chunks[chunk]).empty()) {
        in_flight[w] = chunk;
        return;
      }
      bisect(group, *group.workers[w], items, verdicts, chunks[chunk]);
      finish(chunk);
    }
  };
  for (;;) {
    if (group.workers.empty()) {  // every plugin of the group is disabled
      for (; next < chunks.size(); ++next) finish(next);
      break;
    }
    in_flight.assign(group.workers.size(), std::nullopt);
    for (std::size_t w = 0; w < group.workers.size(); ++w) dispatch(w);
    for (bool waiting = true; waiting;) {
      waiting = false;
      for (std::size_t w = 0; w < group.workers.size(); ++w) {
        if (!in_flight[w]) continue;
        waiting = true;
        const std::size_t chunk = *in_flight[w];
        in_flight[w].reset();
        WorkerChecks::Answer answer = group.workers[w]->receive(chunks[chunk], verdicts);
        if (!answer.fault.empty()) {
          recover(group, *group.workers[w], items, verdicts, chunks[chunk], std::move(answer));
        }
        finish(chunk);
        dispatch(w);
      }
    }
    if (!group.rebuild_needed) break;
    rebuild(group);
  }
}

void Isolator::recover(Group& group, WorkerChecks& shared, const std::vector<std::string>& items,
                       const std::vector<Verdict*>& verdicts, std::vector<std::size_t> which,
                       WorkerAnswer answer) {
  while (!answer.fault.empty()) {
    if (!answer.in_progress) {
      which.erase(which.begin(), which.begin() + static_cast<std::ptrdiff_t>(answer.answered));
      return bisect(group, shared, items, verdicts, which);
    }
    const auto [declaration, check] = *answer.in_progress;
    const std::size_t item = which[declaration];
    charge(group, items, verdicts, item, shared.checks()[check], answer.fault);
    which.erase(which.begin() + static_cast<std::ptrdiff_t>(declaration));
    which.erase(which.begin(), which.begin() + static_cast<std::ptrdiff_t>(answer.answered));
    if (which.empty()) return;
    answer = shared.judge(*path_table_, items, which, verdicts);
  }
}

void Isolator::bisect(Group& group, WorkerChecks& shared, const std::vector<std::string>& items,
                      const std::vector<Verdict*>& verdicts,
                      const std::vector<std::size_t>& which) {
  if (which.empty()) return;
  if (which.size() == 1) return attribute(group, items, verdicts, which.front());
  const auto middle = which.begin() + static_cast<std::ptrdiff_t>(which.size() / 2);
  for (std::vector<std::size_t> half : {std::vector<std::size_t>(which.begin(), middle),
                                        std::vector<std::size_t>(middle, which.end())}) {
    WorkerChecks::Answer answer = shared.judge(*path_table_, items, half, verdicts);
    if (!answer.fault.empty()) {
      recover(group, shared, items, verdicts, std::move(half), std::move(answer));
    }
  }
}

void Isolator::charge(Group& group, const std::vector<std::string>& items,
                      const std::vector<Verdict*>& verdicts, std::size_t item, std::size_t check,
                      const std::string& fault) {
  const std::vector<std::size_t> which = {item};
  for (Plugin* plugin : group.plugins) {
    const auto& checks = plugin->spec.checks;
    if (!plugin->disabled.empty()) {
      set_error(*plugin, *verdicts[item], plugin->disabled);
    } else if (std::find(checks.begin(), checks.end(), check) != checks.end()) {
      fault_on(group, *plugin, *verdicts[item], fault);
    } else if (std::string alone = plugin->alone->judge(*path_table_, items, which, verdicts).fault;
               !alone.empty()) {
      fault_on(group, *plugin, *verdicts[item], alone);
    }
  }
}

void Isolator::attribute(Group& group, const std::vector<std::string>& items,
                         const std::vector<Verdict*>& verdicts, std::size_t item) {
  const std::vector<std::size_t> which = {item};
  for (Plugin* plugin : group.plugins) {
    if (!plugin->disabled.empty()) {
      set_error(*plugin, *verdicts[item], plugin->disabled);
      continue;
    }
    std::string fault = plugin->alone->judge(*path_table_, items, which, verdicts).fault;
    if (!fault.empty()) fault_on(group, *plugin, *verdicts[item], fault);
  }
}

void Isolator::fault_on(Group& group, Plugin& plugin, Verdict& verdict, const std::string& fault) {
  set_error(plugin, verdict,
            "the plugin " + plugin.spec.id + " " + fault + " while judging this declaration");
  if (++plugin.faulty_declarations > isolation_.max_faulty_declarations) {
    plugin.disabled = "the plugin " + plugin.spec.id +
                      " was disabled for the rest of the run after faulting on " +
                      std::to_string(plugin.faulty_declarations) +
                      " declarations (the last time it " + fault + ")";
    std::cerr << "iotreg: " << plugin.disabled << "\n";
    group.rebuild_needed = true;
  }
}

}  // namespace iotreg::checks::detail
