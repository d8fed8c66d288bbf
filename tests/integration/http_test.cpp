// `eventstore serve` over real HTTP (cpp-httplib's client): the DCB test suite's three checks as tests
// (consistency, monotonic reads, parallel writes), and what the server refuses. Each check runs
// EVENTSTORE_HTTP_CHECK_SECONDS (default 2) seconds.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "serving.hpp"

namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::chrono::milliseconds check_time() {
    const char* set = std::getenv("EVENTSTORE_HTTP_CHECK_SECONDS"); // NOLINT(concurrency-mt-unsafe): read only
    return std::chrono::milliseconds(set != nullptr ? static_cast<int>(std::atof(set) * 1000) : 2000);
}

class Http : public eventstore::test::ServedStore {
protected:
    [[nodiscard]] httplib::Client client() const {
        httplib::Client c("127.0.0.1", m_port);
        c.set_read_timeout(30, 0);
        c.set_keep_alive(true); // as the DCB suite's k6 clients do
        c.set_tcp_nodelay(true);
        return c;
    }

    static json read(httplib::Client& c, const json& query, const json& options = json::object()) {
        const auto response =
            c.Get("/read", httplib::Params{{"query", query.dump()}, {"options", options.dump()}}, httplib::Headers{});
        if (!response || response->status != 200) {
            throw std::runtime_error("GET /read: " +
                                     (response ? response->body : httplib::to_string(response.error())));
        }
        return json::parse(response->body);
    }
    // Whether the append's condition failed.
    static bool append(httplib::Client& c, const json& body) {
        const auto response = c.Post("/append", body.dump(), "application/json");
        if (!response || response->status != 200) {
            throw std::runtime_error("POST /append: " +
                                     (response ? response->body : httplib::to_string(response.error())));
        }
        return json::parse(response->body).at("appendConditionFailed").get<bool>();
    }
};

// A random query of 0-3 items, each of 0-2 types and 0-3 tags, as the suite's consistency check uses.
json random_query(std::mt19937& random) {
    static const std::vector<std::string> types{"A", "B", "C"};
    static const std::vector<std::string> tags{"t:0", "t:1", "t:2", "t:3", "t:4"};
    json items = json::array();
    const int n = std::uniform_int_distribution<int>(0, 3)(random);
    for (int i = 0; i < n; ++i) {
        json item = json::object();
        json ts = json::array();
        for (int k = std::uniform_int_distribution<int>(0, 2)(random); k > 0; --k) {
            ts.push_back(types[random() % types.size()]);
        }
        json gs = json::array();
        for (int k = std::uniform_int_distribution<int>(0, 3)(random); k > 0; --k) {
            gs.push_back(tags[random() % tags.size()]);
        }
        item["types"] = ts;
        item["tags"] = gs;
        items.push_back(item);
    }
    return json{{"items", items}};
}

// Whether an event (type, tags) matches a DCB query.
bool matches(const json& query, const json& event) {
    const json& items = query.at("items");
    if (items.empty()) {
        return true;
    }
    for (const json& item : items) {
        const json& types = item.at("types");
        const json& tags = item.at("tags");
        if (types.empty() && tags.empty()) {
            return true;
        }
        const bool type_ok = types.empty() || std::find(types.begin(), types.end(), event.at("type")) != types.end();
        bool tags_ok = true;
        for (const json& tag : tags) {
            tags_ok =
                tags_ok && std::find(event.at("tags").begin(), event.at("tags").end(), tag) != event.at("tags").end();
        }
        if (type_ok && tags_ok) {
            return true;
        }
    }
    return false;
}

// 1. Consistency: 20 clients append 1-2 events each conditioned on the newest position their query
// matched (a backwards limit-1 read); afterwards every append that succeeded is checked against the
// log: no event matching its condition lies between its `after` and its own events, and every append
// that failed had a matching event after its `after`.
TEST_F(Http, ConsistencyEveryConditionHeld) {
    struct Attempt {
        json query;
        std::uint64_t after;
        std::string id;
        bool failed;
    };
    std::mutex mutex;
    std::vector<Attempt> attempts;
    std::vector<std::string> errors;
    const auto until = Clock::now() + check_time();
    std::vector<std::thread> clients;
    clients.reserve(20);
    for (int c = 0; c < 20; ++c) {
        clients.emplace_back([&, c] {
            std::mt19937 random(static_cast<unsigned>(c) + 1);
            auto http = client();
            try {
                for (int n = 0; Clock::now() < until; ++n) {
                    const json query = random_query(random);
                    const json newest = read(http, query, {{"backwards", true}, {"limit", 1}});
                    const std::uint64_t after = newest.empty() ? 0 : newest[0].at("position").get<std::uint64_t>();
                    const std::string id = std::to_string(c) + "-" + std::to_string(n);
                    json events = json::array();
                    for (int e = std::uniform_int_distribution<int>(1, 2)(random); e > 0; --e) {
                        json tags = json::array();
                        for (int k = std::uniform_int_distribution<int>(0, 3)(random); k > 0; --k) {
                            tags.push_back("t:" + std::to_string(random() % 5));
                        }
                        std::sort(tags.begin(), tags.end());
                        tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
                        events.push_back({{"type", std::string(1, static_cast<char>('A' + random() % 3))},
                                          {"tags", tags},
                                          {"data", json{{"attempt", id}}.dump()}});
                    }
                    const bool failed = append(
                        http, {{"events", events}, {"condition", {{"failIfEventsMatch", query}, {"after", after}}}});
                    const std::lock_guard lock(mutex);
                    attempts.push_back({query, after, id, failed});
                }
            } catch (const std::exception& e) {
                const std::lock_guard lock(mutex);
                errors.emplace_back(e.what());
            }
        });
    }
    for (auto& t : clients) {
        t.join();
    }
    ASSERT_TRUE(errors.empty()) << errors.front();
    auto http = client();
    const json log = read(http, json{{"items", json::array()}});
    std::map<std::string, std::uint64_t> first_position; // attempt id -> its first event's position
    for (const json& event : log) {
        const std::string id = json::parse(event.at("data").get<std::string>()).at("attempt");
        first_position.emplace(id, event.at("position").get<std::uint64_t>());
    }
    int succeeded = 0;
    int failed = 0;
    for (const Attempt& a : attempts) {
        const auto stored = first_position.find(a.id);
        ASSERT_EQ(stored != first_position.end(), !a.failed) << "attempt " << a.id;
        if (a.failed) {
            ++failed;
            const bool explained = std::any_of(log.begin(), log.end(), [&](const json& e) {
                return e.at("position").get<std::uint64_t>() > a.after && matches(a.query, e);
            });
            EXPECT_TRUE(explained) << "attempt " << a.id << " failed with no matching event after " << a.after;
            continue;
        }
        ++succeeded;
        for (const json& e : log) {
            const auto position = e.at("position").get<std::uint64_t>();
            EXPECT_FALSE(position > a.after && position < stored->second && matches(a.query, e))
                << "attempt " << a.id << " (after " << a.after << ", stored at " << stored->second << ") missed "
                << e.dump();
        }
    }
    EXPECT_GT(succeeded, 0);
    std::cout << "consistency: " << attempts.size() << " appends, " << succeeded << " succeeded, " << failed
              << " conditions failed\n";
}

// 2. Monotonic reads: while 5 writers append, a reader of the whole log never sees a position appear
// below one it has already seen.
TEST_F(Http, MonotonicReadsNeverSeeALowerPositionAppearLater) {
    const auto until = Clock::now() + check_time();
    std::vector<std::thread> writers;
    writers.reserve(5);
    std::atomic<int> write_errors{0};
    for (int w = 0; w < 5; ++w) {
        writers.emplace_back([&, w] {
            auto http = client();
            json event = json::object();
            event["type"] = "W";
            event["tags"] = json::array({"writer:" + std::to_string(w)});
            event["data"] = "{}";
            json body = json::object();
            body["events"] = json::array({event});
            try {
                while (Clock::now() < until) {
                    (void)append(http, body);
                }
            } catch (const std::exception&) {
                ++write_errors;
            }
        });
    }
    std::set<std::uint64_t> seen;
    std::uint64_t highest = 0;
    int violations = 0;
    int reads = 0;
    auto http = client();
    while (Clock::now() < until) {
        const json log = read(http, json{{"items", json::array()}});
        ++reads;
        for (const json& e : log) {
            const auto position = e.at("position").get<std::uint64_t>();
            if (seen.insert(position).second && position < highest) {
                ++violations;
            }
        }
        if (!log.empty()) {
            highest = std::max(highest, log.back().at("position").get<std::uint64_t>());
        }
    }
    for (auto& t : writers) {
        t.join();
    }
    EXPECT_EQ(write_errors.load(), 0);
    EXPECT_EQ(violations, 0);
    EXPECT_GT(reads, 1);
    EXPECT_GT(seen.size(), 0U);
}

// 3. Parallel writes: 20 clients append unrelated events, each conditioned on its own unique tag:
// none fails (no false conflict) and none errs.
TEST_F(Http, ParallelWritesOnUniqueTagsNeverFail) {
    const auto until = Clock::now() + check_time();
    std::atomic<int> appends{0};
    std::atomic<int> failed{0};
    std::atomic<int> errors{0};
    std::vector<std::thread> clients;
    clients.reserve(20);
    for (int c = 0; c < 20; ++c) {
        clients.emplace_back([&, c] {
            auto http = client();
            try {
                for (int n = 0; Clock::now() < until; ++n) {
                    const std::string tag = "unique:" + std::to_string(c) + "-" + std::to_string(n);
                    json item = json::object();
                    item["tags"] = json::array({tag});
                    json query = json::object();
                    query["items"] = json::array({item});
                    json event = json::object();
                    event["type"] = "P";
                    event["tags"] = json::array({tag});
                    event["data"] = "{}";
                    json condition = json::object();
                    condition["failIfEventsMatch"] = query;
                    json body = json::object();
                    body["events"] = json::array({event});
                    body["condition"] = condition;
                    failed += append(http, body) ? 1 : 0;
                    ++appends;
                }
            } catch (const std::exception& e) {
                if (++errors == 1) {
                    std::cout << "first error: " << e.what() << '\n';
                }
            }
        });
    }
    for (auto& t : clients) {
        t.join();
    }
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(failed.load(), 0);
    EXPECT_EQ(count_rows(), appends.load());
    std::cout << "parallel writes: " << appends.load() << " appends, 0 failed\n";
}

// GET /subscribe: the events so far and then the new ones as Server-Sent Events, each with its position
// as id; resumed from Last-Event-ID; a server stop ends an open stream and the server exits normally.
TEST_F(Http, SubscribeStreamsEventsAndResumesFromLastEventId) {
    auto http = client();
    const json one{{"type", "A"}, {"tags", json::array({"t:1"})}, {"data", R"({"n":1})"}};
    const json two{{"type", "B"}, {"tags", json::array()}, {"data", R"({"n":2})"}};
    json body = json::object();
    body["events"] = json::array({one});
    (void)append(http, body);

    // Reads the stream until `wanted` events have come; returns their positions and what else came.
    const auto stream = [this](const httplib::Headers& headers, std::size_t wanted) {
        std::vector<std::uint64_t> ids;
        std::string text;
        auto c = client();
        c.set_read_timeout(10, 0);
        (void)c.Get("/subscribe", headers, [&](const char* data, std::size_t length) {
            text.append(data, length);
            for (std::size_t at = text.find("id: "); at != std::string::npos; at = text.find("id: ")) {
                const std::size_t end = text.find('\n', at);
                if (end == std::string::npos) {
                    break;
                }
                ids.push_back(std::stoull(text.substr(at + 4, end - at - 4)));
                text.erase(0, end);
            }
            return ids.size() < wanted;
        });
        return ids;
    };
    std::vector<std::uint64_t> live;
    std::thread reader([&] { live = stream({}, 2); });
    std::this_thread::sleep_for(200ms);
    body["events"] = json::array({two});
    (void)append(http, body);
    reader.join();
    EXPECT_EQ(live, (std::vector<std::uint64_t>{1, 2}));
    EXPECT_EQ(stream({{"Last-Event-ID", "1"}}, 1), (std::vector<std::uint64_t>{2}));

    // An open stream does not keep the server from stopping.
    std::thread open([&] { (void)stream({{"Last-Event-ID", "2"}}, 1); });
    std::this_thread::sleep_for(200ms);
    const auto stopping = Clock::now();
    EXPECT_EQ(stop_server(), 0);
    EXPECT_LT(Clock::now() - stopping, 4s); // idle kept-alive connections: 2 s
    std::cout << "stopped with a stream open in "
              << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - stopping).count() << " ms\n";
    open.join();
}

TEST_F(Http, BadRequestsAre4xxWithAMessageAndWriteNothing) {
    auto http = client();
    const auto status_and_error = [](const httplib::Result& r) {
        return std::to_string(r->status) + " " + json::parse(r->body).at("error").get<std::string>();
    };
    EXPECT_EQ(
        status_and_error(http.Post("/append", "{", "application/json")).rfind("400 the request body is not JSON", 0),
        0U);
    EXPECT_EQ(status_and_error(http.Post("/append", R"({"events":[{"type":"A","data":"[1]"}]})", "application/json"))
                  .substr(0, 4),
              "400 ");
    EXPECT_EQ(status_and_error(http.Post("/append", R"({"events":[{"type":"A","data":{"x":1}}]})", "application/json")),
              "400 an event's data is a string holding a JSON object");
    EXPECT_EQ(status_and_error(
                  http.Post("/append", R"({"events":[{"type":"A","tags":[""],"data":"{}"}]})", "application/json"))
                  .substr(0, 4),
              "400 ");
    EXPECT_EQ(status_and_error(http.Get("/read", httplib::Params{{"query", "{\"items\":5}"}}, httplib::Headers{})),
              "400 a query is {\"items\": [{\"types\": [...], \"tags\": [...]}, ...]}");
    EXPECT_EQ(status_and_error(http.Get("/read", httplib::Params{{"options", "{\"limit\":-1}"}}, httplib::Headers{})),
              "400 options.limit must be a non-negative integer");
    EXPECT_EQ(http.Get("/nothing")->status, 404);
    EXPECT_EQ(count_rows(), 0);
    EXPECT_EQ(http.Get("/health")->status, 200);
}

// Without a token the server is loopback's only: a request naming another host (a web page that had
// its own name resolve to 127.0.0.1, "DNS rebinding") is refused.
TEST_F(Http, WithoutATokenOnlyLoopbackNamesAreAnswered) {
    auto http = client();
    for (const std::string& host :
         std::vector<std::string>{"evil.example", "evil.example:" + std::to_string(m_port), "10.0.0.1"}) {
        const auto refused = http.Get("/api/events", httplib::Headers{{"Host", host}});
        ASSERT_TRUE(refused) << host;
        EXPECT_EQ(refused->status, 403) << host;
        EXPECT_NE(refused->body.find("--token"), std::string::npos) << refused->body;
        EXPECT_EQ(http.Post("/append", httplib::Headers{{"Host", host}}, R"({"events":[{"type":"A","data":"{}"}]})",
                            "application/json")
                      ->status,
                  403);
    }
    for (const std::string& host :
         std::vector<std::string>{"localhost:" + std::to_string(m_port), "127.0.0.1", "[::1]:3000"}) {
        const auto answered = http.Get("/api/events", httplib::Headers{{"Host", host}});
        ASSERT_TRUE(answered) << host;
        EXPECT_EQ(answered->status, 200) << host;
    }
    EXPECT_EQ(count_rows(), 0);
}

TEST_F(Http, ATokenIsRequiredWhenSetAndBodiesAreBounded) {
    stop_server();
    eventstore::cli::ServeOptions options;
    options.token = "s3cret";
    options.max_body = 1000;
    start(options);
    auto http = client();
    EXPECT_EQ(http.Get("/read")->status, 401);
    // A refused body is never read as the next request on a kept-alive connection.
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(http.Post("/append", R"({"events":[{"type":"A","data":"{}"}]})", "application/json")->status, 401);
        EXPECT_EQ(http.Get("/health")->status, 200);
    }
    EXPECT_EQ(http.Get("/api/events")->status, 401);
    EXPECT_EQ(http.Get("/api/stats")->status, 401);
    EXPECT_EQ(http.Get("/api/live")->status, 401);
    EXPECT_EQ(http.Get("/health")->status, 200);
    // The browser's page and files hold no events: they load, and the page asks for the token.
    EXPECT_EQ(http.Get("/")->status, 200);
    EXPECT_EQ(http.Get("/browser.js")->status, 200);
    http.set_bearer_token_auth("wrong");
    EXPECT_EQ(http.Get("/read")->status, 401);
    http.set_bearer_token_auth("s3cret");
    EXPECT_EQ(http.Get("/read")->status, 200);
    const std::string big = R"({"events":[{"type":"A","data":")" + std::string(2000, 'x') + R"("}]})";
    EXPECT_EQ(http.Post("/append", big, "application/json")->status, 413);
    EXPECT_EQ(count_rows(), 0);
    EXPECT_EQ(stop_server(), 0); // a stop request ends the server normally
    std::ostringstream err;
    eventstore::cli::ServeOptions open;
    open.listen = "0.0.0.0:0";
    EXPECT_EQ(eventstore::cli::run_serve({conninfo(), table()}, open, std::stop_token(), err),
              eventstore::cli::exit_usage);
    EXPECT_NE(err.str().find("--token"), std::string::npos) << err.str();
}

// The event browser's API (GET /api/events): newest first below `before`, with `more`, in windows of
// positions that grow until the page is full, so a rare type far below the head is still found.
TEST_F(Http, TheBrowsersEventsComeNewestFirstInPagesAcrossALargeLog) {
    std::vector<eventstore::StorableEvent> events;
    for (int p = 1; p <= 5000; ++p) {
        const bool rare = p == 10 || p == 20 || p == 30;
        events.push_back(eventstore::build_storable_event_with_empty_metadata(
            rare ? "Rare" : "Common", std::chrono::system_clock::now(), R"({"p": ")" + std::to_string(p) + "\"}"));
    }
    (void)store().append(eventstore::build_event_filter().matching().all_tags_of("none").finalize(), 0, events);
    auto http = client();
    const auto page = [&](const std::string& query) {
        const auto response = http.Get("/api/events?" + query);
        if (!response || response->status != 200) {
            throw std::runtime_error("GET /api/events?" + query + ": " + (response ? response->body : "no answer"));
        }
        const json body = json::parse(response->body);
        std::vector<int> positions;
        for (const json& e : body.at("events")) {
            positions.push_back(e.at("position").get<int>());
        }
        return std::make_pair(positions, body.at("more").get<bool>());
    };
    using Page = std::pair<std::vector<int>, bool>;
    EXPECT_EQ(page("type=Rare"), Page({30, 20, 10}, false)); // 4,970 positions above them
    EXPECT_EQ(page("type=Rare&limit=2"), Page({30, 20}, true));
    EXPECT_EQ(page("type=Rare&limit=2&before=20"), Page({10}, false));
    EXPECT_EQ(page("type=Rare&after=10"), Page({30, 20}, false));
    EXPECT_EQ(page("type=Rare&before=1"), Page({}, false));
    EXPECT_EQ(page("limit=3"), Page({5000, 4999, 4998}, true));
    EXPECT_EQ(page("limit=2&before=3"), Page({2, 1}, false));
    EXPECT_EQ(page("where=p%3D4444"), Page({4444}, false));
    // A bound far above the head is the head (no window is widened over nothing, none overflows).
    EXPECT_EQ(page("limit=1&before=18446744073709551615"), Page({5000}, true));
    EXPECT_EQ(page("type=Rare&before=18446744073709551615"), Page({30, 20, 10}, false));
    const auto first = http.Get("/api/events?type=Rare&limit=1");
    const json event = json::parse(first->body).at("events").at(0);
    EXPECT_EQ(event.at("payload"), R"({"p": "30"})"); // the stored text
    EXPECT_EQ(event.at("metadata"), "{}");
    EXPECT_EQ(event.at("occurred_at").get<std::string>().size(), std::string("2026-11-29T21:15:12.123456Z").size());

    const json stats = json::parse(http.Get("/api/stats?top=1")->body);
    EXPECT_EQ(stats.at("events"), 5000);
    EXPECT_EQ(stats.at("type_count"), 2);
    EXPECT_EQ(stats.at("types"), json({{"Common", 4997}}));

    for (const char* bad :
         {"limit=0", "limit=1001", "before=-1", "after=x", "where=novalue", "occurred_from=soon", "tag="}) {
        const auto response = http.Get(std::string("/api/events?") + bad);
        EXPECT_EQ(response->status, 400) << bad;
        EXPECT_FALSE(json::parse(response->body).at("error").get<std::string>().empty()) << bad;
    }
    for (const char* bad : {"after=x", "where=novalue", "tag="}) {
        const auto response = http.Get(std::string("/api/live?") + bad);
        EXPECT_EQ(response->status, 400) << bad;
        EXPECT_FALSE(json::parse(response->body).at("error").get<std::string>().empty()) << bad;
    }
}

} // namespace
