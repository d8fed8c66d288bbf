#include "server.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>

#include <eventstore/error.hpp>
#include <eventstore/postgres.hpp>
#include <eventstore/prometheus.hpp>

#include "ndjson.hpp"
#include "web_assets.hpp"

namespace eventstore::cli {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// A request the server refuses, with the status and message to answer.
struct Refused : std::runtime_error {
    Refused(int status_code, const std::string& message) : std::runtime_error(message), status(status_code) {}
    int status;
};

std::vector<std::string> strings_of(const json& value, const char* what) {
    if (value.is_null()) {
        return {};
    }
    if (!value.is_array()) {
        throw Refused(400, std::string(what) + " must be an array of strings");
    }
    std::vector<std::string> strings;
    for (const json& s : value) {
        if (!s.is_string()) {
            throw Refused(400, std::string(what) + " must be an array of strings");
        }
        strings.push_back(s.get<std::string>());
    }
    return strings;
}

// A DCB query: {"items": [{"types": [...], "tags": [...]}, ...]}. No items, or an item with neither,
// matches every event.
Filter filter_of_query(const json& query) {
    if (query.is_null()) {
        return Filter();
    }
    if (!query.is_object() || (query.contains("items") && !query["items"].is_array())) {
        throw Refused(400, R"(a query is {"items": [{"types": [...], "tags": [...]}, ...]})");
    }
    const json items = query.value("items", json::array());
    detail::FilterDraft draft;
    bool first = true;
    for (const json& item : items) {
        if (!item.is_object()) {
            throw Refused(400, R"(a query item is {"types": [...], "tags": [...]})");
        }
        const auto types = strings_of(item.value("types", json()), "types");
        const auto tags = strings_of(item.value("tags", json()), "tags");
        if (types.empty() && tags.empty()) {
            return Filter(); // this item matches everything, and so does the query
        }
        if (!first) {
            draft.start_next_item();
        }
        first = false;
        if (!types.empty()) {
            draft.add_event_types(types);
        }
        if (!tags.empty()) {
            draft.add_tags(tags);
        }
    }
    return std::move(draft).finalize();
}

json parse_json(const std::string& text, const char* what) {
    try {
        return json::parse(text);
    } catch (const json::parse_error& e) {
        throw Refused(400, std::string(what) + " is not JSON: " + e.what());
    }
}

SequenceNumber position_of(const json& value, const char* what) {
    if (value.is_null()) {
        return 0;
    }
    if (!value.is_number_integer() || value.get<std::int64_t>() < 0) {
        throw Refused(400, std::string(what) + " must be a non-negative integer");
    }
    return value.get<SequenceNumber>();
}

// A query parameter that is a position or a count; `fallback` when absent.
std::uint64_t number_param(const httplib::Request& request, const char* name, std::uint64_t fallback = 0) {
    if (!request.has_param(name)) {
        return fallback;
    }
    const std::string text = request.get_param_value(name);
    std::uint64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) {
        throw Refused(400, std::string(name) + " must be a non-negative integer, not \"" + text + "\"");
    }
    return value;
}

std::vector<std::string> param_values(const httplib::Request& request, const char* name) {
    std::vector<std::string> values;
    for (std::size_t i = 0; i < request.get_param_value_count(name); ++i) {
        values.push_back(request.get_param_value(name, i));
    }
    return values;
}

// The browser's filter, in the CLI's terms (docs/cli.md): type, tag and where repeated, all_where,
// after (positions above it), occurred_from and occurred_until.
FilterFlags browser_flags(const httplib::Request& request) {
    FilterFlags flags;
    flags.types = param_values(request, "type");
    flags.tags = param_values(request, "tag");
    flags.where = param_values(request, "where");
    flags.all_where = request.has_param("all_where") && request.get_param_value("all_where") != "0";
    flags.after = number_param(request, "after");
    flags.occurred_from = request.get_param_value("occurred_from");
    flags.occurred_until = request.get_param_value("occurred_until");
    return flags;
}

Filter browser_filter(const FilterFlags& flags) {
    try {
        return filter_of(flags);
    } catch (const std::invalid_argument& bad) {
        throw Refused(400, bad.what());
    }
}

// An event as the DCB suite reads it.
json dcb_event(const StorableEvent& event) {
    return json{{"type", event.event_type},
                {"tags", event.tags},
                {"data", event.payload_json},
                {"position", event.sequence_number}};
}

// An event as the browser shows it: all of it, payload and metadata as their stored text (a number
// is never rounded by the browser's JSON parser).
json browser_event(const StorableEvent& event) {
    return json{{"position", event.sequence_number},
                {"type", event.event_type},
                {"tags", event.tags},
                {"occurred_at", format_time(event.occurred_at)},
                {"id", event.id},
                {"payload", event.payload_json},
                {"metadata", event.metadata_json.empty() ? std::string("{}") : event.metadata_json}};
}

class Server {
public:
    Server(const Target& target, const ServeOptions& options) : m_dsn(target.dsn) {
        m_metrics = std::make_shared<prometheus::Collector>();
        postgres::PoolOptions pool;
        pool.max_connections = std::min<std::size_t>(options.threads, 16);
        pool.metrics = m_metrics;
        m_store = postgres::new_event_store_from_pool(postgres::ConnectionPool::create(target.dsn, pool),
                                                      postgres::with_table_name(target.table),
                                                      postgres::with_metrics(m_metrics));
    }

    // GET /read?query=...&options=...: a bare array of {type, tags, data, position}.
    std::string read(const httplib::Request& request) {
        const Filter filter = filter_of_query(
            request.has_param("query") ? parse_json(request.get_param_value("query"), "query") : json());
        ReadOptions read_options;
        if (request.has_param("options")) {
            const json options = parse_json(request.get_param_value("options"), "options");
            if (!options.is_object() && !options.is_null()) {
                throw Refused(400, R"(options is {"from": n, "limit": n, "backwards": bool})");
            }
            if (options.is_object()) {
                read_options.from = position_of(options.value("from", json()), "options.from");
                read_options.limit = position_of(options.value("limit", json()), "options.limit");
                const json backwards = options.value("backwards", json(false));
                if (!backwards.is_boolean()) {
                    throw Refused(400, "options.backwards must be true or false");
                }
                read_options.backwards = backwards.get<bool>();
            }
        }
        json events = json::array();
        for (const StorableEvent& event : m_store->query(filter, read_options).events) {
            events.push_back(dcb_event(event));
        }
        return events.dump();
    }

    // GET /api/events: the browser's page, newest first: {"events": [...], "more": bool}, the matching
    // events below `before` (0: the newest), at most `limit` (50; up to 1000) of them.
    std::string browse(const httplib::Request& request) const {
        constexpr std::uint64_t max_limit = 1000;
        FilterFlags flags = browser_flags(request);
        const std::uint64_t before = number_param(request, "before");
        const std::uint64_t limit = number_param(request, "limit", 50);
        if (limit == 0 || limit > max_limit) {
            throw Refused(400, "limit must be between 1 and 1000");
        }
        json events = json::array();
        bool more = false;
        flags.backwards = true;
        flags.limit = limit + 1; // one more says whether there is an older page
        std::vector<StorableEvent> found;
        if (flags.types.empty() && flags.tags.empty() && flags.where.empty() && flags.occurred_from.empty() &&
            flags.occurred_until.empty()) {
            // The whole log (above `after`): the store walks the primary key down from `before`.
            flags.from = before > 0 ? before - 1 : 0;
            if (before != 1) { // nothing lies below position 1
                found = m_store->query(browser_filter(flags), read_options_of(flags)).events;
            }
        } else {
            found = read_in_windows(flags, before, limit);
        }
        more = found.size() > limit;
        found.resize(std::min<std::size_t>(found.size(), limit));
        for (const StorableEvent& event : found) {
            events.push_back(browser_event(event));
        }
        return json{{"events", events}, {"more", more}}.dump();
    }

    // The newest page of a boundary with hundreds of thousands of events, read with the store's
    // backwards limited read, sorts all of them (the read guards against walking a whole table for a
    // rare boundary: docs/design/query-plans.md): 0.75 s for a type with 375,000 of 2.5M events. A
    // window of positions below the page's top bounds that work: the newest 4,096 positions first,
    // then 16 times as many, until the page is full or the window reaches the filter's `after`. Each
    // window is planned with its bounds (the primary key's range for a common type, the type's index
    // for a rare one).
    std::vector<StorableEvent> read_in_windows(FilterFlags flags, std::uint64_t before, std::uint64_t limit) const {
        // Never above the log's head: a `before` far above it would only widen windows over nothing.
        const SequenceNumber head =
            m_store->query(Filter(), ReadOptions{.backwards = true, .limit = 1}).max_sequence_number;
        const SequenceNumber top = before > 0 ? std::min<SequenceNumber>(before - 1, head) : head;
        const SequenceNumber bottom = flags.after;
        std::vector<StorableEvent> found;
        for (SequenceNumber window = 4096; top > bottom;
             window = window > (top - bottom) / 16 ? top - bottom : window * 16) {
            flags.after = top - bottom > window ? top - window : bottom;
            flags.from = top;
            found = m_store->query(browser_filter(flags), read_options_of(flags)).events;
            if (found.size() > limit || flags.after == bottom) {
                break;
            }
        }
        return found;
    }

    // GET /api/stats?top=n: stats_json's object with the n most frequent types (default all).
    // Counting scans the table: a request within a second of the last count gets its answer, and
    // concurrent ones wait for one count.
    std::string stats(const httplib::Request& request) {
        const std::uint64_t top = number_param(request, "top", SIZE_MAX);
        const std::lock_guard lock(m_stats_mutex);
        if (!m_stats || Clock::now() - m_stats_at > std::chrono::seconds(1)) {
            m_stats = stats_of(m_dsn, m_store->table_name());
            m_stats_at = Clock::now();
        }
        return stats_json(*m_stats, top);
    }

    // POST /append {events, condition?}: 200 {durationInMicroseconds, appendConditionFailed}.
    std::string append(const httplib::Request& request) {
        const auto started = Clock::now();
        const json body = parse_json(request.body, "the request body");
        if (!body.is_object() || !body.contains("events") || !body["events"].is_array() || body["events"].empty()) {
            throw Refused(400,
                          "an append is {\"events\": [{\"type\": ..., \"tags\": [...], \"data\": \"{...}\"}, ...], "
                          "\"condition\": {\"failIfEventsMatch\": query, \"after\": n}}");
        }
        std::vector<StorableEvent> events;
        const auto now = std::chrono::system_clock::now();
        for (const json& e : body["events"]) {
            if (!e.is_object() || !e.contains("type") || !e["type"].is_string()) {
                throw Refused(400, R"(an event is {"type": string, "tags": [...], "data": string})");
            }
            const json data = e.value("data", json("{}"));
            if (!data.is_string()) {
                throw Refused(400, "an event's data is a string holding a JSON object");
            }
            try {
                StorableEvent event = build_storable_event_with_empty_metadata(e["type"].get<std::string>(), now,
                                                                               data.get<std::string>());
                event.tags = strings_of(e.value("tags", json()), "tags");
                events.push_back(std::move(event));
            } catch (const Error& error) {
                throw Refused(400, error.what());
            }
        }
        bool failed = false;
        if (body.contains("condition") && !body["condition"].is_null()) {
            const json& condition = body["condition"];
            if (!condition.is_object()) {
                throw Refused(400, R"(a condition is {"failIfEventsMatch": query, "after": n})");
            }
            const Filter filter = filter_of_query(condition.value("failIfEventsMatch", json()));
            failed = append_unless_matched(filter, position_of(condition.value("after", json()), "after"), events);
        } else {
            (void)m_store->append(unconditional_filter(), 0, events);
        }
        const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count();
        return json{{"durationInMicroseconds", micros}, {"appendConditionFailed", failed}}.dump();
    }

    std::string metrics() const { return m_metrics->exposition(); }

    // GET /subscribe?query=...&after=n (or the Last-Event-ID header, to resume): Server-Sent Events, one
    // event per message with the position as its id, from the matching events above `after` on, live,
    // never skipping one. A comment every 15 s keeps proxies from closing a quiet stream and finds
    // clients that left. Ends when the client leaves or the server stops.
    // GET /api/live: the same for the browser, its filter as GET /api/events takes it (`after` the
    // position to follow from) and its events as there.
    void subscribe(const httplib::Request& request, httplib::Response& response, const std::stop_token& server_stop,
                   bool browser) {
        Filter filter;
        SequenceNumber after = 0;
        if (browser) {
            FilterFlags flags = browser_flags(request);
            after = flags.after;
            flags.after = 0;
            filter = browser_filter(flags);
        } else {
            filter = filter_of_query(request.has_param("query") ? parse_json(request.get_param_value("query"), "query")
                                                                : json());
            if (request.has_param("after")) {
                after = position_of(parse_json(request.get_param_value("after"), "after"), "after");
            }
        }
        if (request.has_header("Last-Event-ID")) {
            after =
                position_of(parse_json(request.get_header_value("Last-Event-ID"), "Last-Event-ID"), "Last-Event-ID");
        }
        response.set_header("Cache-Control", "no-store");
        response.set_chunked_content_provider(
            "text/event-stream",
            [this, filter, after, server_stop, browser](std::size_t /*offset*/, httplib::DataSink& sink) mutable {
                stream_events(filter, after, server_stop, browser ? browser_event : dcb_event,
                              browser ? browser_heartbeat : heartbeat, sink);
                sink.done();
                return true;
            });
    }

private:
    // A quiet stream gets a comment this often: proxies keep it open, and a client that left is
    // found by the write failing. The browser's live view is closed and reopened at each change of
    // its filter, so its streams are checked more often, which frees their threads sooner.
    static constexpr auto heartbeat = std::chrono::seconds(15);
    static constexpr auto browser_heartbeat = std::chrono::seconds(2);

    void stream_events(const Filter& filter, SequenceNumber after, const std::stop_token& server_stop,
                       json (*shape)(const StorableEvent&), std::chrono::seconds quiet, httplib::DataSink& sink) {
        std::stop_source left; // the client went away
        const std::stop_callback on_server_stop(server_stop, [&left] { left.request_stop(); });
        const auto send = [&](const std::string& message) {
            if (!sink.is_writable() || !sink.write(message.data(), message.size())) {
                left.request_stop();
            }
        };
        send(": subscribed\n\n");
        while (!left.stop_requested()) {
            try {
                after = m_store->subscribe(Context().with_stop_token(left.get_token()).with_timeout(quiet), filter,
                                           after, [&](StorableEvent&& event) {
                                               send("id: " + std::to_string(event.sequence_number) +
                                                    "\ndata: " + shape(event).dump() + "\n\n");
                                               after = event.sequence_number;
                                           });
            } catch (const Error& error) {
                send("event: error\ndata: " + json{{"error", error.what()}}.dump() + "\n\n");
                return;
            }
            send(": still here\n\n");
        }
    }

    // The specification's condition: no event matching `filter` after `after`. Our append's condition
    // is "the newest matching position is exactly h": read h, fail when it is above `after`, else
    // append on h; a conflict means a matching event arrived since, so read again (docs/dcb.md).
    bool append_unless_matched(const Filter& filter, SequenceNumber after, std::span<const StorableEvent> events) {
        for (;;) {
            const SequenceNumber newest =
                m_store->query(filter, ReadOptions{.backwards = true, .limit = 1}).max_sequence_number;
            if (newest > after) {
                return true;
            }
            try {
                (void)m_store->append(filter, newest, events);
                return false;
            } catch (const ConcurrencyConflict&) {
                // a matching event arrived after the read: look again
            }
        }
    }

    std::string m_dsn;
    std::shared_ptr<prometheus::Collector> m_metrics;
    std::unique_ptr<postgres::EventStore> m_store;
    std::mutex m_stats_mutex;
    std::optional<Stats> m_stats;
    Clock::time_point m_stats_at;
};

bool loopback(const std::string& host) { return host == "127.0.0.1" || host == "::1" || host == "localhost"; }

// The host of a Host header: "127.0.0.1:3000" -> "127.0.0.1", "[::1]:3000" -> "::1".
std::string host_of(const std::string& header) {
    if (!header.empty() && header.front() == '[') {
        const auto end = header.find(']');
        return end == std::string::npos ? header : header.substr(1, end - 1);
    }
    return header.substr(0, header.find(':'));
}

// Compares without stopping at the first difference, so that the time taken says nothing of the token.
bool same_token(const std::string& given, const std::string& expected) {
    unsigned char difference = given.size() == expected.size() ? 0 : 1;
    for (std::size_t i = 0; i < given.size(); ++i) {
        difference |= static_cast<unsigned char>(given[i] ^ expected[i % expected.size()]);
    }
    return difference == 0;
}

void answer_json(httplib::Response& response, int status, const std::string& body) {
    response.status = status;
    response.set_content(body, "application/json");
}

// The browser's files: the page asks for nothing from elsewhere, and nothing may frame it.
void serve_asset(const WebAsset& asset, httplib::Response& response) {
    response.set_header("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'");
    response.set_header("X-Content-Type-Options", "nosniff");
    response.set_header("Referrer-Policy", "no-referrer");
    response.set_header("Cache-Control", "no-cache");
    response.set_content(std::string(asset.content), std::string(asset.content_type));
}

// Paths served without the token: the browser's files hold no events (the page then asks for the
// token), and a health check should not need a secret.
bool open_path(const std::string& path) {
    if (path == "/" || path == "/health") {
        return true;
    }
    const auto& assets = web_assets();
    return std::any_of(assets.begin(), assets.end(), [&path](const WebAsset& asset) { return asset.path == path; });
}

} // namespace

int run_serve(const Target& target, const ServeOptions& options, std::stop_token stop, std::ostream& err,
              const std::function<void(int port)>& on_listening) {
    const auto colon = options.listen.rfind(':');
    if (colon == std::string::npos) {
        err << "eventstore: --listen " << options.listen << ": expected HOST:PORT (127.0.0.1:3000)\n";
        return exit_usage;
    }
    std::string host = options.listen.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    int port = 0;
    try {
        port = std::stoi(options.listen.substr(colon + 1));
    } catch (const std::exception&) {
        err << "eventstore: --listen " << options.listen << ": the port is not a number\n";
        return exit_usage;
    }
    if (!loopback(host) && options.token.empty()) {
        err << "eventstore: listening on " << host
            << " lets other machines in: give a --token that requests must carry (Authorization: Bearer ...)\n";
        return exit_usage;
    }
    if (options.threads == 0) {
        err << "eventstore: --threads must be at least 1\n";
        return exit_usage;
    }
    Server server(target, options);
    httplib::Server http;
    // cpp-httplib owns the queue it is given.
    http.new_task_queue = [threads = options.threads] { return new httplib::ThreadPool(threads); }; // NOLINT
    http.set_payload_max_length(options.max_body);
    http.set_tcp_nodelay(true); // small responses on kept-alive connections: no wait for delayed ACKs
    // cpp-httplib (Debian's build) listens with a backlog of 5 connections, which 20 clients connecting
    // at once overflowed: the listening socket is noted here, and listen() called again on it below
    // with a larger backlog (Linux takes the new one).
    int listening_socket = -1;
    http.set_socket_options([&listening_socket](socket_t sock) {
        httplib::default_socket_options(sock);
        listening_socket = sock;
    });
    http.set_read_timeout(std::chrono::seconds(10));
    http.set_write_timeout(std::chrono::seconds(10));
    http.set_keep_alive_max_count(1000);
    // An idle kept-alive connection holds its thread this long, and a stop waits for it.
    http.set_keep_alive_timeout(2);
    http.set_pre_routing_handler([&options](const httplib::Request& request, httplib::Response& response) {
        // A request refused here has not had its body read: the connection cannot carry another
        // request (the rest of the body would be read as one), so it is closed after the answer.
        const auto refuse = [&response](int status, const std::string& body) {
            response.set_header("Connection", "close");
            answer_json(response, status, body);
            return httplib::Server::HandlerResponse::Handled;
        };
        if (options.token.empty()) {
            // Without a token the server listens on loopback only. A web page elsewhere could still
            // reach it through a name of its own that resolves to 127.0.0.1 (DNS rebinding): such a
            // request names that host, so only loopback names are answered.
            if (request.has_header("Host") && !loopback(host_of(request.get_header_value("Host")))) {
                return refuse(403,
                              json{{"error", "this server answers requests addressed to 127.0.0.1, localhost or [::1] "
                                             "only: give --token to serve other names"}}
                                  .dump());
            }
            return httplib::Server::HandlerResponse::Unhandled;
        }
        if (open_path(request.path)) {
            return httplib::Server::HandlerResponse::Unhandled;
        }
        const std::string given = request.get_header_value("Authorization");
        if (given.rfind("Bearer ", 0) == 0 && same_token(given.substr(7), options.token)) {
            return httplib::Server::HandlerResponse::Unhandled;
        }
        response.set_header("WWW-Authenticate", "Bearer");
        return refuse(401, R"({"error":"this server needs Authorization: Bearer <token>"})");
    });
    const auto guarded = [&err](auto&& handle) {
        return [&err, handle](const httplib::Request& request, httplib::Response& response) {
            try {
                answer_json(response, 200, handle(request));
            } catch (const Refused& refused) {
                answer_json(response, refused.status, json{{"error", refused.what()}}.dump());
            } catch (const BadLine& bad) {
                answer_json(response, 400, json{{"error", bad.what()}}.dump());
            } catch (const Error& error) {
                // Bad input the library refused is the client's; anything else is ours or the database's.
                const bool input = error.is(Errc::invalid_tag) || error.is(Errc::invalid_event_type) ||
                                   error.is(Errc::invalid_payload_json) || error.is(Errc::invalid_filter);
                if (!input) {
                    err << "eventstore: " << request.method << ' ' << request.path << ": " << error.what() << '\n';
                }
                answer_json(response, input ? 400 : 503, json{{"error", error.what()}}.dump());
            }
        };
    };
    http.Get("/read", guarded([&server](const httplib::Request& request) { return server.read(request); }));
    http.Post("/append", guarded([&server](const httplib::Request& request) { return server.append(request); }));
    std::stop_source serving;
    const std::stop_callback forward_stop(stop, [&serving] { serving.request_stop(); });
    http.Get("/api/events", guarded([&server](const httplib::Request& request) { return server.browse(request); }));
    http.Get("/api/stats", guarded([&server](const httplib::Request& request) { return server.stats(request); }));
    for (const bool browser : {false, true}) {
        http.Get(browser ? "/api/live" : "/subscribe",
                 [&server, &serving, browser](const httplib::Request& request, httplib::Response& response) {
                     try {
                         server.subscribe(request, response, serving.get_token(), browser);
                     } catch (const Refused& refused) {
                         answer_json(response, refused.status, json{{"error", refused.what()}}.dump());
                     } catch (const Error& error) { // a filter the library refuses (an empty tag)
                         answer_json(response, 400, json{{"error", error.what()}}.dump());
                     }
                 });
    }
    for (const WebAsset& asset : web_assets()) {
        const auto handler = [&asset](const httplib::Request& /*request*/, httplib::Response& response) {
            serve_asset(asset, response);
        };
        std::string pattern; // cpp-httplib takes a regular expression
        for (const char c : asset.path) {
            pattern += c == '.' ? std::string("\\.") : std::string(1, c);
        }
        http.Get(pattern, handler);
        if (asset.path == "/index.html") {
            http.Get("/", handler);
        }
    }
    http.Get("/health", [](const httplib::Request& /*request*/, httplib::Response& response) {
        answer_json(response, 200, R"({"status":"ok"})");
    });
    http.Get("/metrics", [&server](const httplib::Request& /*request*/, httplib::Response& response) {
        response.set_content(server.metrics(), "text/plain; version=0.0.4; charset=utf-8");
    });
    http.set_error_handler([](const httplib::Request& /*request*/, httplib::Response& response) {
        if (response.body.empty()) {
            const std::string message =
                response.status == 404
                    ? "no such endpoint: GET /read, POST /append, GET /subscribe, GET /health, GET /metrics, "
                      "GET / (the event browser) and its GET /api/events, /api/stats, /api/live"
                : response.status == 413 ? "the request body is too large"
                                         : "bad request";
            answer_json(response, response.status, json{{"error", message}}.dump());
        }
    });
    const int bound = port == 0 ? http.bind_to_any_port(host) : (http.bind_to_port(host, port) ? port : -1);
    if (bound < 0) {
        err << "eventstore: cannot listen on " << options.listen << " (in use, or not an address of this machine)\n";
        return exit_failed;
    }
    constexpr int backlog = 256;
    if (listening_socket >= 0) {
        (void)::listen(listening_socket, backlog);
    }
    // A stop request ends the accept loop once it runs; requests in flight finish first (the thread
    // pool drains before listen returns).
    std::atomic<bool> ended{false};
    std::thread stopper([&] {
        while (!ended) {
            if (stop.stop_requested() && http.is_running()) {
                http.stop();
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    });
    err << "eventstore: serving " << target.table << " on http://" << options.listen.substr(0, colon) << ':' << bound
        << '\n';
    if (on_listening) {
        on_listening(bound);
    }
    const bool clean = http.listen_after_bind() || stop.stop_requested();
    ended = true;
    stopper.join();
    return clean ? exit_ok : exit_failed;
}

BackgroundServer::BackgroundServer(const Target& target, ServeOptions options, std::ostream& log) {
    options.listen = "127.0.0.1:0";
    // Shared with the thread, which runs on after the constructor returns.
    auto listening = std::make_shared<std::promise<int>>();
    auto port = listening->get_future();
    m_thread = std::thread([this, target, options, listening, &log] {
        bool listened = false;
        m_code = run_serve(target, options, m_stop.get_token(), log, [listening, &listened](int p) {
            listened = true;
            listening->set_value(p);
        });
        if (!listened) {
            listening->set_value(0);
        }
    });
    m_port = port.get();
    if (m_port == 0) {
        m_thread.join();
        throw std::runtime_error("eventstore serve ended before listening (exit code " + std::to_string(m_code) + ")");
    }
}

BackgroundServer::~BackgroundServer() { (void)stop(); }

int BackgroundServer::stop() {
    if (m_thread.joinable()) {
        m_stop.request_stop();
        m_thread.join();
    }
    return m_code;
}

} // namespace eventstore::cli
