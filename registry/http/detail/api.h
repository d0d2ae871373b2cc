// Private to registry/http: the request and reply types, the server-wide state and the handlers
// the route table (router.cpp) dispatches to.
//
// A handler receives a Context for one request on one worker thread and returns a Reply; it
// never throws on bad input (a throw is a bug, answered with 500 by the connection). Handlers
// are stateless; everything shared lives in ServerState, whose members are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "registry/access/access.h"
#include "registry/checks/checks.h"
#include "registry/http/detail/client_address.h"
#include "registry/http/detail/lookup_tally.h"
#include "registry/http/detail/rate_limiter.h"
#include "registry/http/detail/reply_cache.h"
#include "registry/http/server.h"
#include "registry/storage/storage.h"
#include "registry/views/views.h"

namespace iotreg::http {

using Json = views::Json;

// What a handler answers. With `stream` set, the body is produced by it, chunked, instead of
// `body`; it returns false when it failed part-way (the connection is then cut, so the client
// sees an incomplete reply rather than a truncated one that looks whole).
struct Reply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::function<bool(std::ostream&)> stream;
  // Why a 5xx reply failed, for the server's log only: never sent, as it may name files or SQL.
  std::string log_detail;
  // A time no earlier than the last change of the content, if the handler knows one: sent as
  // Last-Modified with a 200 to a GET or HEAD, and compared with If-Modified-Since.
  std::optional<std::chrono::system_clock::time_point> last_modified;

  static Reply json(int status, const Json& value);
  // The error envelope {"error": {"status", "code", "message"}}.
  static Reply error(int status, std::string_view message);
  static Reply error(int status, std::string_view message, Json extra);
  // The reply for a failed storage or validation Status: 404, 400, 503 with Retry-After for a
  // busy or full registry, else 500. A 5xx says only what the client can do; the Status goes to
  // log_detail.
  static Reply from_status(const Status& status);
};

// How long an import or re-check waits for the one before it, and the 503 it gets after.
inline constexpr std::chrono::seconds kWriterWait{30};
Reply busy_reply();

// The short name of an HTTP status used in the error envelope, e.g. "not_found".
std::string_view error_code(int status);

// Roles a route admits, as a bit set.
enum RoleBits : unsigned {
  kPublic = 1u << 0,  // no token needed
  kOfficer = 1u << 1,
  kManufacturer = 1u << 2,
  kAdmin = 1u << 3,
};

// Serve-wide request counters and latency histograms (Prometheus text format).
class Metrics {
 public:
  void record(const std::string& route, int status, double seconds);
  // The metrics text; `products_by_status` is appended as the iotreg_products gauge.
  std::string render(const std::map<std::string, std::uint64_t>& products_by_status) const;

 private:
  static constexpr double kBuckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,   0.25,   0.5,   1,    2.5,   5};
  struct Histogram {
    std::uint64_t counts[std::size(kBuckets)] = {};
    std::uint64_t total = 0;
    double sum = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;
  std::map<std::string, Histogram> latency_;
};

// Registry connections for the worker threads, opened on first use and kept until the server
// stops: at most one per thread that uses the registry at once (the workers, the daily re-check,
// the lookup tally). Their page caches share one budget, so that the server's memory does not
// grow with --threads. Thread-safe.
class ConnectionPool {
 public:
  // All connections' page caches together, whatever the number of threads.
  static constexpr std::size_t kPageCacheBudgetBytes = std::size_t{64} << 20;

  ConnectionPool(std::string registry, std::size_t threads)
      : registry_(std::move(registry)),
        page_cache_bytes_(kPageCacheBudgetBytes / (threads + kOtherThreads)) {}
  std::size_t page_cache_bytes() const { return page_cache_bytes_; }
  // Lends a connection; give it back with release(). Fails when the database cannot be opened.
  Result<std::unique_ptr<storage::Storage>> acquire();
  void release(std::unique_ptr<storage::Storage> connection);
  // Makes the work on every lent connection fail soon (Storage::interrupt).
  void interrupt_all();
  // Closes every idle connection.
  void close_all();

 private:
  static constexpr std::size_t kOtherThreads = 2;  // the daily re-check and the lookup tally
  std::string registry_;                           // where the registry is (storage::open_storage)
  std::size_t page_cache_bytes_;                   // of each connection
  std::mutex mutex_;
  std::vector<std::unique_ptr<storage::Storage>> idle_;
  std::vector<storage::Storage*> lent_;
};

// The evaluation the server judges with. After midnight the daily re-check moves it to the new
// date; a request keeps the one it started with for as long as it runs. Thread-safe.
class CurrentEvaluator {
 public:
  explicit CurrentEvaluator(std::shared_ptr<const checks::Evaluator> evaluator)
      : current_(std::move(evaluator)) {}
  std::shared_ptr<const checks::Evaluator> get() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  void replace(std::shared_ptr<const checks::Evaluator> evaluator) {
    std::lock_guard lock(mutex_);
    current_ = std::move(evaluator);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const checks::Evaluator> current_;
};

struct ServerState {
  ServerOptions options;
  CurrentEvaluator evaluator;
  std::string base_url;          // where the public pages are, for QR codes
  std::timed_mutex write_mutex;  // one import or re-check at a time; reads never wait for it
  ConnectionPool pool;
  ReplyCache replies{options.reply_cache_bytes};
  views::ProvenanceCache provenance;
  Metrics metrics;
  // The public endpoints' rate limit (public_limit.h), and the proxies whose X-Forwarded-For
  // names the client (set once before the server starts).
  RateLimiter public_limit{options.public_rate, options.public_burst, options.public_rate_clients};
  TrustedProxies trusted_proxies;
  LookupTally unregistered_lookups;  // stopped before the pool it flushes through
  std::atomic<bool> stopping{false};
  // When this server started: the pages it builds may differ from an earlier build's.
  const std::chrono::system_clock::time_point started = std::chrono::system_clock::now();

  ServerState(ServerOptions server_options, std::unique_ptr<checks::Evaluator> checks)
      : options(std::move(server_options)),
        evaluator(std::move(checks)),
        pool(options.registry, options.threads) {}
};

struct Request {
  std::string method;
  std::string path;                                        // decoded, without the query
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
  std::string content_type;                                // without parameters, lower case
  std::string content_type_field;  // the whole Content-Type field, parameters included
  std::string authorization;
  std::string session_id;         // the session cookie's value, if any
  bool requested_with = false;    // an X-Requested-With field was sent (the CSRF rule, router.cpp)
  std::string if_none_match;      // the If-None-Match field, if any
  std::string if_modified_since;  // the If-Modified-Since field, if any
  std::string body;
};

// One request being handled: the request, who sent it and a registry connection on loan.
class Context {
 public:
  Context(const Request& request, ServerState& server) : request_(request), server_(server) {}
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  const Request& request() const { return request_; }
  ServerState& server() { return server_; }
  // The registry connection, borrowed from the pool on first use.
  Result<storage::Storage*> storage();

  void set_principal(access::Principal principal) { principal_ = std::move(principal); }
  const std::optional<access::Principal>& principal() const { return principal_; }
  bool is_manufacturer() const;
  // A manufacturer token's manufacturer key: every query is confined to it.
  std::optional<std::string> only_manufacturer_key() const;
  // How the audit log names the sender: "Jane Smith (officer, token 3)".
  std::string actor() const;

  // The numeric path parameters of the matched route ({id}), in order.
  std::vector<std::int64_t>& ids() { return ids_; }

 private:
  const Request& request_;
  ServerState& server_;
  std::unique_ptr<storage::Storage> storage_;
  std::optional<access::Principal> principal_;
  std::vector<std::int64_t> ids_;
};

// Query parameters of a request, checked against the names an endpoint knows.
class QueryParameters {
 public:
  // A 400 reply naming the first unknown or repeated parameter, or the parameters.
  static std::variant<QueryParameters, Reply> parse(const Request& request,
                                                    std::initializer_list<std::string_view> known);
  std::optional<std::string> get(std::string_view name) const;

 private:
  std::map<std::string, std::string, std::less<>> values_;
};

// Keyset pagination: `limit` (1..500, default 50) and the opaque `cursor` of one list kind.
struct Page {
  std::size_t limit = 50;
  std::int64_t after_id = 0;
};
std::variant<Page, Reply> parse_page(const QueryParameters& parameters, std::string_view kind);
// The cursor that continues a list of `kind` after the item with `last_id`.
std::string make_cursor(std::string_view kind, std::int64_t last_id);
// {"items": items, "next_cursor": cursor or null}; there is a next page when the handler
// fetched limit + 1 items (the extra one is dropped here).
Json page_json(Json items, std::size_t limit, std::string_view kind, std::int64_t last_id);

// A JSON object body with only the `known` members, each of the given JSON type; a 400 reply
// otherwise. An empty body is an empty object.
std::variant<Json, Reply> parse_json_object(
    const Request& request,
    std::initializer_list<std::pair<std::string_view, Json::value_t>> known);

// Declares `name` as the value of a std::variant<T, Reply> expression, or returns its Reply.
#define IOTREG_HTTP_TRY_ASSIGN(name, expression)                         \
  auto name##_or_reply = (expression);                                   \
  if (auto* reply = std::get_if<Reply>(&name##_or_reply)) return *reply; \
  auto& name = std::get<0>(name##_or_reply)

using Handler = Reply (*)(Context&);

// Handlers, by endpoint (api_*.cpp, public_pages.cpp).
Reply get_me(Context& context);
Reply create_session(Context& context);
Reply delete_session(Context& context);
Reply list_products(Context& context);
Reply get_product(Context& context);
Reply export_products(Context& context);
Reply get_stats(Context& context);
Reply post_declarations(Context& context);
Reply list_flags(Context& context);
Reply confirm_flag(Context& context);
Reply dismiss_flag(Context& context);
Reply lift_flag(Context& context);
Reply act_on_flags(Context& context);
Reply list_changes(Context& context);
Reply list_audit(Context& context);
Reply list_checks(Context& context);
Reply run_checks(Context& context);
Reply list_tokens(Context& context);
Reply create_token(Context& context);
Reply revoke_token(Context& context);
Reply get_healthz(Context& context);
Reply get_metrics(Context& context);
Reply get_public_product(Context& context);
Reply get_public_label(Context& context);
Reply get_public_lookup(Context& context);
Reply list_unregistered_lookups(Context& context);
Reply get_accessibility_statement(Context& context);
Reply get_web_index(Context& context);
Reply get_web_asset(Context& context);

// The one file of a multipart/form-data body (RFC 7578): its media type (from the part's
// Content-Type, else from its file name's extension; "" when neither says), its file name and
// its bytes.
struct UploadedFile {
  std::string media_type;  // lower case, without parameters
  std::string filename;
  std::string body;
};
// The file part of a multipart/form-data request; a 400 reply saying what is wrong with the body
// (no boundary, a body that is not made of parts, no file part, more than one, another field).
std::variant<UploadedFile, Reply> read_uploaded_file(const Request& request);

// Whether the request's token may submit declarations (a large body is read only then).
bool may_send_declarations(Context& context);
// Whether the request carries a valid officer's or admin's token or session (the public
// endpoints' rate limit does not apply to them).
bool sent_by_staff(Context& context);

// Routes the request: matches the route, authenticates, checks the role, runs the handler.
// `route_name` receives the matched route's pattern (for metrics), or "unmatched".
Reply dispatch(Context& context, std::string& route_name);

}  // namespace iotreg::http
