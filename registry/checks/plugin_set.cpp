// Loading check plugins: every file is verified before anything in it runs (permissions, ELF
// header, SHA-256). A file the policy trusts is loaded with RTLD_NOW from its absolute path and
// its descriptor's ABI version is read before anything else in it; any other file is loaded
// only by a worker process, which sends its descriptor back to be validated here.
#include <sys/stat.h>

#include <algorithm>
#include <boost/dll/shared_library.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>

#include "iotreg/plugin.h"
#include "registry/checks/checks.h"
#include "registry/checks/detail/isolated_plugin.h"
#include "registry/checks/detail/loaded_check.h"
#include "registry/core/sha256.h"
#include "registry/core/utf8.h"

namespace iotreg::checks {
namespace {

namespace fs = std::filesystem;

// Libraries are never unloaded: objects a plugin created may outlive any one PluginSet, and a
// library loaded twice would run its initialisers twice. Keyed by absolute path.
class LibraryRegistry {
 public:
  static LibraryRegistry& instance() {
    static auto* registry = new LibraryRegistry();  // never destroyed, like the libraries
    return *registry;
  }

  // Loads `path` once; later calls return the same library.
  Result<boost::dll::shared_library*> load(const std::string& path) {
    std::lock_guard lock(mutex_);
    auto found = libraries_.find(path);
    if (found != libraries_.end()) return &found->second;
    boost::dll::shared_library library;
    boost::dll::fs::error_code error;
    library.load(boost::dll::fs::path(path),
                 boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, error);
    if (error) return Status::invalid_argument(path + ": cannot be loaded: " + error.message());
    return &libraries_.emplace(path, std::move(library)).first->second;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, boost::dll::shared_library> libraries_;
};

const std::string kEntrySymbol = IOTREG_PLUGIN_ENTRY_SYMBOL;

// A descriptor's NUL-terminated text, read no further than one byte past the longest allowed.
std::optional<std::string> bounded_text(const char* text) {
  if (!text) return std::nullopt;
  return std::string(text, ::strnlen(text, detail::kMaxNameBytes + 1));
}

// A text a descriptor must have: present, at most kMaxNameBytes bytes of UTF-8, and not empty
// unless `allow_empty`.
bool usable_text(const std::optional<std::string>& text, bool allow_empty) {
  return text && text->size() <= detail::kMaxNameBytes && (allow_empty || !text->empty()) &&
         is_valid_utf8(*text);
}

// Check ids are named in policy files: lower-case letters, digits, '.', '_' and '-'.
bool is_valid_check_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    bool allowed =
        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!allowed) return false;
  }
  return id.front() != '.' && id.front() != '_' && id.front() != '-';
}

Status malformed(const std::string& path, const std::string& what) {
  return Status::invalid_argument(path + ": " + kEntrySymbol + " descriptor: " + what);
}

bool has_elf_header(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, sizeof magic);
  return in.gcount() == 4 && std::memcmp(magic,
                                         "\x7f"
                                         "ELF",
                                         4) == 0;
}

bool writable_by_others(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && (info.st_mode & S_IWOTH) != 0;
}

// What can be verified of a plugin file without running anything in it; its SHA-256.
Result<std::string> verify_file(const std::string& path) {
  if (writable_by_others(path)) {
    return Status::invalid_argument(path +
                                    ": refused: the file is writable by other users (chmod o-w)");
  }
  if (!has_elf_header(path)) {
    return Status::invalid_argument(path + ": not a shared library (no ELF header)");
  }
  return sha256_file(path);
}

}  // namespace

namespace detail {

std::string printable(std::string_view text, std::size_t max_bytes) {
  std::string out;
  text = text.substr(0, max_bytes);
  const bool valid = is_valid_utf8(text);
  for (unsigned char byte : text) {
    if (byte < 0x20 || byte == 0x7F || (byte >= 0x80 && !valid)) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", byte);
      out += escaped;
    } else {
      out.push_back(static_cast<char>(byte));
    }
  }
  return out;
}

Status check_pin(const PluginDescription& plugin, const policy::Policy& policy) {
  const policy::PluginSettings* settings = policy.plugin_settings(plugin.id);
  if (!settings || settings->sha256.empty() || settings->sha256 == plugin.sha256) return {};
  return Status::invalid_argument(plugin.path + ": refused: its SHA-256 is " + plugin.sha256 +
                                  "; policy " + policy.id + " pins plugin '" + plugin.id + "' to " +
                                  settings->sha256);
}

Result<PluginDescription> validate_descriptor(const std::string& path, const std::string& sha256,
                                              const DescriptorTexts& texts) {
  if (!usable_text(texts.id, false)) {
    return malformed(path, "plugin id missing, empty, too long or not UTF-8");
  }
  if (!usable_text(texts.version, false)) {
    return malformed(path, "plugin version missing, empty, too long or not UTF-8");
  }
  if (!usable_text(texts.description, true)) {
    return malformed(path, "description too long or not UTF-8");
  }
  if (texts.checks.empty()) return malformed(path, "declares no checks");
  if (texts.checks.size() > kMaxChecksPerPlugin) {
    return malformed(path, "declares " + std::to_string(texts.checks.size()) + " checks; at most " +
                               std::to_string(kMaxChecksPerPlugin) + " are allowed");
  }
  PluginDescription described;
  described.path = path;
  described.sha256 = sha256;
  described.id = *texts.id;
  described.version = *texts.version;
  described.description = *texts.description;
  for (std::size_t i = 0; i < texts.checks.size(); ++i) {
    const DescriptorTexts::Check& check = texts.checks[i];
    std::string which = "check " + std::to_string(i);
    if (!usable_text(check.id, false)) {
      return malformed(path, which + ": id missing, empty, too long or not UTF-8");
    }
    if (!is_valid_check_id(*check.id)) {
      return malformed(path, which + ": id '" + printable(*check.id) +
                                 "' must be 1-64 lower-case letters, digits, '.', '_' or '-'");
    }
    if (!usable_text(check.title, true) || !usable_text(check.requirement, true)) {
      return malformed(path, which + ": title or requirement not UTF-8");
    }
    if (!usable_text(check.version, false)) {
      return malformed(path, which + " (" + *check.id + "): version missing");
    }
    if (!check.has_run) return malformed(path, which + " (" + *check.id + "): no run function");
    described.checks.push_back({*check.id, *check.title, *check.requirement, *check.version});
  }
  return described;
}

Result<LoadedPlugin> load_plugin(const std::string& path, std::string_view expected_sha256) {
  auto hash = verify_file(path);
  if (!hash.is_ok()) return hash.status();
  if (!expected_sha256.empty() && hash.value() != expected_sha256) {
    return Status::invalid_argument(path + ": refused: the file changed after it was verified " +
                                    "(its SHA-256 was " + std::string(expected_sha256) + ", now " +
                                    hash.value() + ")");
  }
  auto library = LibraryRegistry::instance().load(path);
  if (!library.is_ok()) return library.status();
  if (!library.value()->has(kEntrySymbol)) {
    return Status::invalid_argument(path + ": missing entry symbol " + kEntrySymbol +
                                    " (define it with IOTREG_PLUGIN from iotreg/check.hpp)");
  }
  auto entry = library.value()->get<const iotreg_plugin*()>(kEntrySymbol);
  const iotreg_plugin* descriptor = entry();
  if (!descriptor) {
    return Status::invalid_argument(path + ": " + kEntrySymbol + " returned no descriptor");
  }
  if (descriptor->abi_version != IOTREG_PLUGIN_ABI_VERSION) {
    return Status::invalid_argument(path + ": " + kEntrySymbol + " reports plugin ABI version " +
                                    std::to_string(descriptor->abi_version) +
                                    "; this iotreg expects version " +
                                    std::to_string(IOTREG_PLUGIN_ABI_VERSION));
  }
  if (descriptor->struct_size < sizeof(iotreg_plugin)) {
    return Status::invalid_argument(
        path + ": " + kEntrySymbol + " descriptor is " + std::to_string(descriptor->struct_size) +
        " bytes; ABI version 1 needs at least " + std::to_string(sizeof(iotreg_plugin)));
  }
  DescriptorTexts texts;
  texts.id = bounded_text(descriptor->id);
  texts.version = bounded_text(descriptor->version);
  texts.description = bounded_text(descriptor->description);
  if (descriptor->check_count > kMaxChecksPerPlugin) {
    return malformed(path, "declares " + std::to_string(descriptor->check_count) +
                               " checks; at most " + std::to_string(kMaxChecksPerPlugin) +
                               " are allowed");
  }
  const std::size_t check_count = descriptor->checks ? descriptor->check_count : 0;
  for (std::size_t i = 0; i < check_count; ++i) {
    const iotreg_check& check = descriptor->checks[i];
    texts.checks.push_back({bounded_text(check.id), bounded_text(check.title),
                            bounded_text(check.requirement), bounded_text(check.version),
                            check.run != nullptr});
  }
  auto described = validate_descriptor(path, hash.value(), texts);
  if (!described.is_ok()) return described.status();
  LoadedPlugin plugin{std::move(described).value(), {}};
  for (std::size_t i = 0; i < check_count; ++i) {
    plugin.checks.push_back({plugin.description.checks[i], plugin.description.id,
                             plugin.description.version, plugin.description.sha256, path,
                             descriptor->checks[i].run});
  }
  return plugin;
}

}  // namespace detail

namespace {

// A plugin file of the directory, verified and hashed before anything in it runs.
struct Candidate {
  std::string path;
  std::string sha256;
  bool read_by_worker = false;  // not known to be trusted before its descriptor is read
};

bool trusted_by(const policy::PluginSettings* settings, const Isolation& isolation) {
  return settings && settings->trusted ? *settings->trusted : isolation.trusted_by_default;
}

// The policy grants trust by plugin id, which only a file's descriptor tells. A file may be
// loaded here without a worker reading it first only when it is trusted whatever it declares:
// its hash is one the policy pins only trusted plugins to, or the directory is trusted by
// default and the policy neither distrusts a plugin nor pins one to a hash no file has.
void mark_read_by_worker(std::vector<Candidate>& candidates, const policy::Policy& policy,
                         const Isolation& isolation) {
  const bool others_trusted =
      isolation.trusted_by_default &&
      std::all_of(policy.plugins.begin(), policy.plugins.end(),
                  [&](const policy::PluginSettings& settings) {
                    return trusted_by(&settings, isolation) &&
                           (settings.sha256.empty() ||
                            std::any_of(candidates.begin(), candidates.end(),
                                        [&](const Candidate& candidate) {
                                          return candidate.sha256 == settings.sha256;
                                        }));
                  });
  for (auto& candidate : candidates) {
    bool pinned = false, pinned_trusted = true;
    for (const auto& settings : policy.plugins) {
      if (settings.sha256.empty() || settings.sha256 != candidate.sha256) continue;
      pinned = true;
      pinned_trusted = pinned_trusted && trusted_by(&settings, isolation);
    }
    candidate.read_by_worker = pinned ? !pinned_trusted : !others_trusted;
  }
}

bool same_declaration(const PluginDescription& a, const PluginDescription& b) {
  return a.id == b.id && a.version == b.version && a.description == b.description &&
         std::equal(a.checks.begin(), a.checks.end(), b.checks.begin(), b.checks.end(),
                    [](const CheckDescription& x, const CheckDescription& y) {
                      return x.id == y.id && x.title == y.title && x.requirement == y.requirement &&
                             x.version == y.version;
                    });
}

// The plugin of a file a worker read: checked against its pin, then loaded here only if the
// policy trusts the plugin it declared (and it must declare the same here); else kept as a
// description whose checks run only in workers.
Result<detail::LoadedPlugin> admit_read_by_worker(const Candidate& candidate,
                                                  const detail::DescriptorTexts& texts,
                                                  const policy::Policy& policy,
                                                  const Isolation& isolation) {
  auto described = detail::validate_descriptor(candidate.path, candidate.sha256, texts);
  if (!described.is_ok()) return described.status();
  IOTREG_TRY(detail::check_pin(described.value(), policy));
  if (trusted_by(policy.plugin_settings(described->id), isolation)) {
    auto plugin = detail::load_plugin(candidate.path, candidate.sha256);
    if (plugin.is_ok() && !same_declaration(plugin->description, described.value())) {
      return Status::invalid_argument(candidate.path +
                                      ": refused: its descriptor in the registry's process "
                                      "differs from the one it gave a worker process");
    }
    return plugin;
  }
  detail::LoadedPlugin plugin{std::move(described).value(), {}};
  plugin.description.in_process = false;
  for (const auto& check : plugin.description.checks) {
    plugin.checks.push_back({check, plugin.description.id, plugin.description.version,
                             plugin.description.sha256, plugin.description.path, nullptr});
  }
  return plugin;
}

}  // namespace

PluginSet::~PluginSet() = default;

Result<std::shared_ptr<const PluginSet>> PluginSet::load_directory(const std::string& directory) {
  return load(directory, nullptr, nullptr);
}

Result<std::shared_ptr<const PluginSet>> PluginSet::load_directory(const std::string& directory,
                                                                   const policy::Policy& policy,
                                                                   const Isolation& isolation) {
  return load(directory, &policy, &isolation);
}

Result<std::shared_ptr<const PluginSet>> PluginSet::load(const std::string& directory,
                                                         const policy::Policy* policy,
                                                         const Isolation* isolation) {
  std::error_code error;
  fs::path absolute = fs::absolute(directory, error);
  if (error || !fs::is_directory(absolute, error)) {
    return Status::invalid_argument("plugin directory " + directory + " does not exist");
  }
  absolute = fs::canonical(absolute, error);
  if (error) return Status::invalid_argument("plugin directory " + directory + ": cannot be read");
  std::shared_ptr<PluginSet> set(new PluginSet());
  set->directory_ = absolute.string();
  if (writable_by_others(set->directory_)) {
    return Status::invalid_argument("plugin directory " + set->directory_ +
                                    ": refused: writable by other users (chmod o-w)");
  }
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(absolute, error)) {
    if (entry.path().extension() == ".so") files.push_back(entry.path().string());
  }
  if (error) return Status::io_error("plugin directory " + directory + ": " + error.message());
  std::sort(files.begin(), files.end());

  std::vector<std::string> problems;
  // A link that leads out of the directory is refused: only the configured directory's
  // plugins are ever loaded.
  std::erase_if(files, [&](const std::string& file) {
    std::error_code resolve_error;
    fs::path target = fs::canonical(file, resolve_error);
    if (!resolve_error && target.parent_path() == absolute) return false;
    problems.push_back(
        file + ": refused: it leads to " +
        (resolve_error ? std::string("nothing") : detail::printable(target.string())) +
        ", outside the plugin directory");
    return true;
  });

  std::vector<Candidate> candidates;
  for (const auto& file : files) {
    auto hash = verify_file(file);
    if (hash.is_ok()) {
      candidates.push_back({file, std::move(hash).value()});
    } else {
      problems.push_back(hash.status().message());
    }
  }
  if (policy && isolation) mark_read_by_worker(candidates, *policy, *isolation);

  // Files trusted whatever they declare are loaded before any untrusted code runs in a worker.
  // A file is loaded here only if it still has the hash verified above.
  std::vector<std::optional<Result<detail::LoadedPlugin>>> loaded(candidates.size());
  std::vector<detail::WorkerProcess::PluginFile> to_read;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    if (candidates[i].read_by_worker) {
      to_read.push_back({candidates[i].path, candidates[i].sha256});
    } else {
      loaded[i] = detail::load_plugin(candidates[i].path, candidates[i].sha256);
    }
  }
  if (!to_read.empty()) {
    Result<std::vector<Result<detail::DescriptorTexts>>> read =
        Status::invalid_argument("no worker program is set to load it in");
    if (!isolation->worker_program.empty()) read = detail::describe_in_worker(to_read, *isolation);
    if (!read.is_ok()) {
      for (const auto& file : to_read) {
        problems.push_back(file.path + ": refused: it is not trusted whatever it declares, and " +
                           read.status().message());
      }
    }
    for (std::size_t i = 0, next = 0; read.is_ok() && i < candidates.size(); ++i) {
      if (!candidates[i].read_by_worker) continue;
      const auto& texts = read.value()[next++];
      loaded[i] = texts.is_ok()
                      ? admit_read_by_worker(candidates[i], texts.value(), *policy, *isolation)
                      : texts.status();
    }
  }

  std::map<std::string, std::string> plugin_files;  // plugin id -> file
  std::map<std::string, std::string> check_files;   // check id -> file
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    if (!loaded[i]) continue;  // not read: no worker could be started
    if (loaded[i]->is_ok() && policy && !candidates[i].read_by_worker) {
      if (Status pin = detail::check_pin(loaded[i]->value().description, *policy); !pin.is_ok()) {
        loaded[i] = pin;
      }
    }
    if (!loaded[i]->is_ok()) {
      problems.push_back(loaded[i]->status().message());
      continue;
    }
    auto& plugin = loaded[i]->value();
    const std::string& file = candidates[i].path;
    auto [existing_plugin, new_plugin] = plugin_files.emplace(plugin.description.id, file);
    if (!new_plugin) {
      problems.push_back(file + ": plugin id '" + detail::printable(plugin.description.id) +
                         "' is already declared by " + existing_plugin->second);
      continue;
    }
    bool duplicate = false;
    for (const auto& check : plugin.description.checks) {
      auto [existing, added] = check_files.emplace(check.id, file);
      if (!added) {
        problems.push_back(file + ": check id '" + detail::printable(check.id) +
                           "' is already declared by " + existing->second);
        duplicate = true;
      }
    }
    if (duplicate) continue;
    set->plugins_.push_back(std::move(plugin.description));
    for (auto& check : plugin.checks) set->checks_.push_back(std::move(check));
  }
  if (!problems.empty()) {
    std::string message = "cannot load the check plugins of " + set->directory_ + ":";
    for (const auto& problem : problems) message += "\n  " + problem;
    return Status::invalid_argument(message);
  }
  std::string identity;
  for (const auto& plugin : set->plugins_) {
    identity += plugin.id + "\n" + plugin.version + "\n" + plugin.sha256 + "\n";
  }
  set->fingerprint_ = sha256_hex(identity);
  return std::shared_ptr<const PluginSet>(std::move(set));
}

}  // namespace iotreg::checks
