// Loading check plugins: every file is verified before it is loaded (permissions, ELF header),
// loaded with RTLD_NOW from its absolute path, and its descriptor's ABI version is read before
// anything else in it.
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
#include "registry/checks/detail/loaded_check.h"
#include "registry/core/sha256.h"
#include "registry/core/utf8.h"

namespace iotreg::checks {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxChecksPerPlugin = 256;
constexpr std::size_t kMaxNameBytes = 200;

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

// Untrusted text from a plugin, made printable: invalid UTF-8 and control bytes escaped.
std::string printable(std::string_view text) {
  std::string out;
  for (unsigned char byte : text.substr(0, kMaxNameBytes)) {
    if (byte < 0x20 || byte == 0x7F || (byte >= 0x80 && !is_valid_utf8(text))) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", byte);
      out += escaped;
    } else {
      out.push_back(static_cast<char>(byte));
    }
  }
  return out;
}

// Reads a NUL-terminated string from a descriptor; empty optional when unusable.
std::optional<std::string> descriptor_text(const char* text, bool allow_empty) {
  if (!text) return std::nullopt;
  std::size_t size = ::strnlen(text, kMaxNameBytes + 1);
  if (size > kMaxNameBytes || (!allow_empty && size == 0)) return std::nullopt;
  std::string_view view(text, size);
  if (!is_valid_utf8(view)) return std::nullopt;
  return std::string(view);
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

struct LoadedPlugin {
  PluginDescription description;
  std::vector<PluginSet::LoadedCheck> checks;
};

Result<LoadedPlugin> load_plugin(const std::string& path) {
  const std::string symbol = IOTREG_PLUGIN_ENTRY_SYMBOL;
  if (writable_by_others(path)) {
    return Status::invalid_argument(path +
                                    ": refused: the file is writable by other users (chmod o-w)");
  }
  if (!has_elf_header(path)) {
    return Status::invalid_argument(path + ": not a shared library (no ELF header)");
  }
  auto hash = sha256_file(path);
  if (!hash.is_ok()) return hash.status();
  auto library = LibraryRegistry::instance().load(path);
  if (!library.is_ok()) return library.status();
  if (!library.value()->has(symbol)) {
    return Status::invalid_argument(path + ": missing entry symbol " + symbol +
                                    " (define it with IOTREG_PLUGIN from iotreg/check.hpp)");
  }
  auto entry = library.value()->get<const iotreg_plugin*()>(symbol);
  const iotreg_plugin* descriptor = entry();
  if (!descriptor) {
    return Status::invalid_argument(path + ": " + symbol + " returned no descriptor");
  }
  if (descriptor->abi_version != IOTREG_PLUGIN_ABI_VERSION) {
    return Status::invalid_argument(path + ": " + symbol + " reports plugin ABI version " +
                                    std::to_string(descriptor->abi_version) +
                                    "; this iotreg expects version " +
                                    std::to_string(IOTREG_PLUGIN_ABI_VERSION));
  }
  if (descriptor->struct_size < sizeof(iotreg_plugin)) {
    return Status::invalid_argument(
        path + ": " + symbol + " descriptor is " + std::to_string(descriptor->struct_size) +
        " bytes; ABI version 1 needs at least " + std::to_string(sizeof(iotreg_plugin)));
  }
  auto malformed = [&](const std::string& what) {
    return Status::invalid_argument(path + ": " + symbol + " descriptor: " + what);
  };
  LoadedPlugin plugin;
  PluginDescription& described = plugin.description;
  described.path = path;
  described.sha256 = hash.value();
  auto id = descriptor_text(descriptor->id, false);
  auto version = descriptor_text(descriptor->version, false);
  auto description = descriptor_text(descriptor->description, true);
  if (!id) return malformed("plugin id missing, empty, too long or not UTF-8");
  if (!version) return malformed("plugin version missing, empty, too long or not UTF-8");
  if (!description) return malformed("description too long or not UTF-8");
  described.id = *id;
  described.version = *version;
  described.description = *description;
  if (descriptor->check_count == 0 || !descriptor->checks) {
    return malformed("declares no checks");
  }
  if (descriptor->check_count > kMaxChecksPerPlugin) {
    return malformed("declares " + std::to_string(descriptor->check_count) + " checks; at most " +
                     std::to_string(kMaxChecksPerPlugin) + " are allowed");
  }
  for (std::size_t i = 0; i < descriptor->check_count; ++i) {
    const iotreg_check& check = descriptor->checks[i];
    std::string which = "check " + std::to_string(i);
    auto check_id = descriptor_text(check.id, false);
    auto title = descriptor_text(check.title, true);
    auto requirement = descriptor_text(check.requirement, true);
    auto check_version = descriptor_text(check.version, false);
    if (!check_id) return malformed(which + ": id missing, empty, too long or not UTF-8");
    if (!is_valid_check_id(*check_id)) {
      return malformed(which + ": id '" + printable(*check_id) +
                       "' must be 1-64 lower-case letters, digits, '.', '_' or '-'");
    }
    if (!title || !requirement) return malformed(which + ": title or requirement not UTF-8");
    if (!check_version) return malformed(which + " (" + *check_id + "): version missing");
    if (!check.run) return malformed(which + " (" + *check_id + "): no run function");
    described.checks.push_back({*check_id, *title, *requirement, *check_version});
    plugin.checks.push_back({described.checks.back(), described.id, described.version,
                             described.sha256, described.path, check.run});
  }
  return plugin;
}

}  // namespace

namespace detail {

Result<std::vector<PluginSet::LoadedCheck>> load_plugin_checks(const std::string& path) {
  auto loaded = load_plugin(path);
  if (!loaded.is_ok()) return loaded.status();
  return std::move(loaded.value().checks);
}

}  // namespace detail

PluginSet::~PluginSet() = default;

Result<std::shared_ptr<const PluginSet>> PluginSet::load_directory(const std::string& directory) {
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
    problems.push_back(file + ": refused: it leads to " +
                       (resolve_error ? std::string("nothing") : printable(target.string())) +
                       ", outside the plugin directory");
    return true;
  });
  std::map<std::string, std::string> plugin_files;  // plugin id -> file
  std::map<std::string, std::string> check_files;   // check id -> file
  for (const auto& file : files) {
    auto loaded = load_plugin(file);
    if (!loaded.is_ok()) {
      problems.push_back(loaded.status().message());
      continue;
    }
    auto& plugin = loaded.value();
    auto [existing_plugin, new_plugin] = plugin_files.emplace(plugin.description.id, file);
    if (!new_plugin) {
      problems.push_back(file + ": plugin id '" + printable(plugin.description.id) +
                         "' is already declared by " + existing_plugin->second);
      continue;
    }
    bool duplicate = false;
    for (const auto& check : plugin.description.checks) {
      auto [existing, added] = check_files.emplace(check.id, file);
      if (!added) {
        problems.push_back(file + ": check id '" + printable(check.id) +
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
