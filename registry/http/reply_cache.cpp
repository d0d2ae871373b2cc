#include "registry/http/detail/reply_cache.h"

namespace iotreg::http {

struct ReplyCache::Pending {
  explicit Pending(std::int64_t state) : version(state) {}
  const std::int64_t version;  // of the state the reply is computed from
  bool done = false;
  std::optional<std::string> body;
};

ReplyCache::Computation::Computation(ReplyCache* cache, std::string key,
                                     std::shared_ptr<Pending> pending)
    : cache_(cache), key_(std::move(key)), pending_(std::move(pending)) {}

ReplyCache::Computation::Computation(Computation&& other) noexcept
    : cache_(other.cache_), key_(std::move(other.key_)), pending_(std::move(other.pending_)) {}

ReplyCache::Computation::~Computation() {
  if (pending_) cache_->finish(key_, pending_, nullptr);
}

void ReplyCache::Computation::finish(const std::string* body) {
  if (!pending_) return;
  cache_->finish(key_, pending_, body);
  pending_.reset();
}

ReplyCache::ReplyCache(std::size_t capacity_bytes, std::chrono::milliseconds max_wait)
    : capacity_(capacity_bytes), max_wait_(max_wait) {}

std::variant<std::string, ReplyCache::Computation> ReplyCache::find_or_start(
    std::int64_t version, const std::string& key) {
  std::unique_lock lock(mutex_);
  start_locked(version);
  const auto give_up_at = std::chrono::steady_clock::now() + max_wait_;
  bool join = true;
  while (join) {
    // A kept reply is of the newest state seen, which is at least as new as the caller's.
    if (auto found = replies_.find(key); found != replies_.end()) return found->second;
    auto computing = computing_.find(key);
    if (closed_ || computing == computing_.end() || computing->second->version < version) break;
    // Wait on this computation itself: the key may be taken over by a newer one meanwhile.
    const std::shared_ptr<Pending> pending = computing->second;
    ++waiting_;
    const bool ended =
        computed_.wait_until(lock, give_up_at, [&] { return pending->done || closed_; });
    --waiting_;
    if (pending->body) return *pending->body;
    // Ended without a reply to share: look again (another waiter may be computing it by now).
    // Waited too long, or closing: compute it without waiting any more.
    join = ended && !closed_;
  }
  auto pending = std::make_shared<Pending>(version);
  auto& newest = computing_[key];
  if (!newest || newest->version <= version) newest = pending;
  return Computation(this, key, std::move(pending));
}

void ReplyCache::finish(const std::string& key, const std::shared_ptr<Pending>& pending,
                        const std::string* body) {
  std::lock_guard lock(mutex_);
  pending->done = true;
  if (body) pending->body = *body;
  if (auto computing = computing_.find(key);
      computing != computing_.end() && computing->second == pending) {
    computing_.erase(computing);
  }
  computed_.notify_all();
  if (!body || pending->version != version_ || body->size() + key.size() > capacity_) return;
  if (bytes_ + body->size() + key.size() > capacity_) {
    replies_.clear();  // simplest eviction: the next requests refill what is in use
    bytes_ = 0;
  }
  if (replies_.emplace(key, *body).second) bytes_ += body->size() + key.size();
}

std::optional<access::Principal> ReplyCache::find_principal(std::int64_t version,
                                                            const std::string& token_hash,
                                                            const std::string& today) {
  std::lock_guard lock(mutex_);
  start_locked(version);
  auto found = principals_.find(token_hash);
  if (found == principals_.end() || found->second.first != today) return std::nullopt;
  return found->second.second;
}

void ReplyCache::add_principal(std::int64_t version, const std::string& token_hash,
                               const std::string& today, const access::Principal& principal) {
  std::lock_guard lock(mutex_);
  start_locked(version);
  if (version != version_ || principals_.size() > 10000) return;
  principals_[token_hash] = {today, principal};
}

void ReplyCache::close() {
  std::lock_guard lock(mutex_);
  closed_ = true;
  computed_.notify_all();
}

std::size_t ReplyCache::waiting() const {
  std::lock_guard lock(mutex_);
  return waiting_;
}

void ReplyCache::start_locked(std::int64_t version) {
  if (version <= version_) return;  // an older version's reader must not empty a newer cache
  version_ = version;
  replies_.clear();
  principals_.clear();
  bytes_ = 0;
}

}  // namespace iotreg::http
