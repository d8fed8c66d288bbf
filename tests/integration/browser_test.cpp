// The event browser (GET /) in a real browser: headless Chromium loads the page from `eventstore
// serve` over a table of known events, and the tests check what it shows, page, filter, open an event,
// follow the log live and ask for a token. EVENTSTORE_SCREENSHOT=path keeps a screenshot of the page
// (docs/images/event-browser.png is made so).

#include <chrono>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "serving.hpp"
#include "support/browser.hpp"
#include "support/process.hpp"

namespace {

using json = nlohmann::json;
using eventstore::Filter;
using eventstore::StorableEvent;
using eventstore::test::Browser;

const std::vector<std::string> types{"BookAdded", "ReaderRegistered", "BookCopyLentToReader"};

// Position p (1..n): type types[(p-1) % 3], tags book:b(p % 4) and (for lendings) reader:r(p % 5),
// payload {"title": "T<p>", "n": p, "shelf": "s<p % 2>"}; metadata {"correlation": "c<p>"}.
StorableEvent known_event(int p) {
    const std::string& type = types[static_cast<std::size_t>(p - 1) % types.size()];
    StorableEvent event =
        eventstore::build_storable_event(type, std::chrono::system_clock::now(),
                                         R"({"title": "T)" + std::to_string(p) + R"(", "n": )" + std::to_string(p) +
                                             R"(, "shelf": "s)" + std::to_string(p % 2) + "\"}",
                                         R"({"correlation": "c)" + std::to_string(p) + "\"}");
    event.tags = {"book:b" + std::to_string(p % 4)};
    if (type == "BookCopyLentToReader") {
        event.tags.push_back("reader:r" + std::to_string(p % 5));
    }
    return event;
}

// The rows' positions, top to bottom.
constexpr const char* shown_positions =
    "Array.from(document.querySelectorAll('#events tbody tr[data-position]'), r => Number(r.dataset.position))";

std::vector<int> positions(int from, int down_to, int step = 1) {
    std::vector<int> result;
    for (int p = from; p >= down_to; p -= step) {
        result.push_back(p);
    }
    return result;
}

class EventBrowser : public eventstore::test::ServedStore {
protected:
    void SetUp() override {
        ServedStore::SetUp();
        std::vector<StorableEvent> events;
        for (int p = 1; p <= 60; ++p) {
            events.push_back(known_event(p));
        }
        (void)store().append(unconditional(), 0, events);
    }
    void TearDown() override {
        (void)m_browser.evaluate("0"); // collects what the page reported meanwhile
        EXPECT_TRUE(m_browser.page_errors().empty()) << json(m_browser.page_errors()).dump(2);
        ServedStore::TearDown();
    }

    static Filter unconditional() { return eventstore::build_event_filter().matching().all_tags_of("none").finalize(); }

    [[nodiscard]] std::string url(const std::string& fragment = "") const {
        return "http://127.0.0.1:" + std::to_string(m_port) + "/" + (fragment.empty() ? "" : "#" + fragment);
    }
    // Opens the page and waits for its first rows (the newest matching event's position on top).
    void open(const std::string& fragment, int top) {
        m_browser.open(url(fragment));
        shows_on_top(top);
    }
    void shows_on_top(int position) {
        m_browser.wait_until(std::string(shown_positions) + "[0] === " + std::to_string(position),
                             "position " + std::to_string(position) + " on top");
    }
    std::vector<int> rows() { return m_browser.evaluate(shown_positions).get<std::vector<int>>(); }
    // Sets the filter form's fields (name -> value; "1" ticks a checkbox) and presses Apply.
    void apply(const std::map<std::string, std::string>& fields) {
        std::string script = "(() => { const f = document.getElementById('filters');";
        for (const auto& [name, value] : fields) {
            script += "{ const i = f.elements[" + json(name).dump() +
                      "]; if (i.type === 'checkbox') i.checked = " + (value.empty() ? "false" : "true") +
                      "; else i.value = " + json(value).dump() + "; }";
        }
        script += "document.getElementById('apply').click(); return true; })()";
        (void)m_browser.evaluate(script);
    }
    void click(const std::string& selector) {
        (void)m_browser.evaluate("document.querySelector(" + json(selector).dump() + ").click(), true");
    }
    std::string text(const std::string& id) {
        return m_browser.evaluate("document.getElementById(" + json(id).dump() + ").textContent").get<std::string>();
    }

    Browser m_browser;
};

TEST_F(EventBrowser, ShowsTheNewestEventsFirstWithCountsPerTypeAndPages) {
    open("", 60);
    EXPECT_EQ(rows(), positions(60, 11));
    m_browser.wait_until("document.querySelectorAll('#types button').length === 3", "the counts per type");
    const json counts = m_browser.evaluate("Object.fromEntries(Array.from(document.querySelectorAll('#types button'), "
                                           "b => [b.dataset.type, b.querySelector('.count').textContent]))");
    EXPECT_EQ(counts, json({{"BookAdded", "20"}, {"ReaderRegistered", "20"}, {"BookCopyLentToReader", "20"}}));
    EXPECT_NE(text("store").find("60 events"), std::string::npos) << text("store");
    // A row shows the event's time, type, tags and payload.
    const json top = m_browser.evaluate("Array.from(document.querySelector('#events tbody tr').cells, c => "
                                        "c.textContent)");
    EXPECT_EQ(top[2], "BookCopyLentToReader");
    EXPECT_EQ(top[3], "book:b0reader:r0");
    EXPECT_EQ(top[4], R"({"n": 60, "shelf": "s0", "title": "T60"})");

    if (const auto path = eventstore::test::process::env("EVENTSTORE_SCREENSHOT")) {
        click("#events tbody tr:nth-child(3)");
        m_browser.wait_until("!document.getElementById('detail').hidden", "the detail pane");
        std::ofstream(*path, std::ios::binary) << m_browser.screenshot();
    }
    const std::string png = m_browser.screenshot();
    ASSERT_GT(png.size(), 8U);
    EXPECT_EQ(png.substr(1, 3), "PNG");

    click("#older");
    m_browser.wait_until(std::string(shown_positions) + "[0] === 10", "the older page");
    EXPECT_EQ(rows(), positions(10, 1));
    EXPECT_TRUE(m_browser.evaluate("document.getElementById('older').disabled"));
    click("#newer");
    shows_on_top(60);
    EXPECT_EQ(rows(), positions(60, 11));
    EXPECT_TRUE(m_browser.evaluate("document.getElementById('newer').disabled"));
}

TEST_F(EventBrowser, FiltersByTypeTagPayloadPositionsAndTime) {
    open("", 60);
    apply({{"types", "ReaderRegistered"}});
    shows_on_top(59);
    EXPECT_EQ(rows(), positions(59, 2, 3));
    EXPECT_NE(m_browser.evaluate("location.hash").get<std::string>().find("types=ReaderRegistered"), std::string::npos);

    // Tags: all of them (book:b0 is 4, 8, ..., 60; of those only 60 is a lending to reader r0).
    apply({{"types", ""}, {"tags", "book:b0"}});
    shows_on_top(60);
    EXPECT_EQ(rows(), positions(60, 4, 4));
    apply({{"tags", "book:b0, reader:r0"}});
    m_browser.wait_until(std::string(shown_positions) + ".length === 1", "one row");
    EXPECT_EQ(rows(), (std::vector<int>{60}));

    // Payload predicates, any of them or all of them.
    apply({{"tags", ""}, {"where", "title=T7, title=T9"}});
    shows_on_top(9);
    EXPECT_EQ(rows(), (std::vector<int>{9, 7}));
    apply({{"where", "title=T7, shelf=s1"}, {"all", "1"}});
    shows_on_top(7);
    EXPECT_EQ(rows(), (std::vector<int>{7}));

    // Positions from and to, inclusive, with a type.
    apply({{"where", ""}, {"all", ""}, {"types", "BookAdded"}, {"from", "10"}, {"to", "22"}});
    shows_on_top(22);
    EXPECT_EQ(rows(), (std::vector<int>{22, 19, 16, 13, 10}));

    // A time range that holds every event, then one that holds none.
    apply({{"types", ""}, {"from", ""}, {"to", ""}, {"occurred_from", "2000-01-01T00:00:00Z"}});
    shows_on_top(60);
    apply({{"occurred_from", "2001-01-01T00:00:00Z"}, {"occurred_until", "2002-01-01T00:00:00Z"}});
    m_browser.wait_until("document.querySelector('#events tbody tr.empty')", "no rows");
    EXPECT_EQ(rows(), std::vector<int>{});

    // A bad time is the server's 400, shown in the status line.
    apply({{"occurred_from", "yesterday"}, {"occurred_until", ""}});
    m_browser.wait_until("document.getElementById('status').classList.contains('error')", "the error");
    EXPECT_NE(text("status").find("yesterday"), std::string::npos) << text("status");

    // Clear shows everything again; a type's count is a filter of that type.
    click("#clear");
    shows_on_top(60);
    click("#types button[data-type=BookCopyLentToReader]");
    m_browser.wait_until(std::string(shown_positions) + ".length === 20", "the lendings");
    EXPECT_EQ(rows(), positions(60, 3, 3));
    click("#clear");
    m_browser.wait_until(std::string(shown_positions) + ".length === 50", "all events");
    EXPECT_EQ(rows(), positions(60, 11));
}

TEST_F(EventBrowser, ShowsAnEventInFullAndNeverAsMarkup) {
    StorableEvent odd = eventstore::build_storable_event(
        "ReaderRegistered", std::chrono::system_clock::now(),
        R"({"name": "<img src=x onerror=\"document.title='owned'\">", "card": 12345678901234567890123})",
        R"({"correlation": "c61", "nested": {"a": [1, 2]}})");
    odd.tags = {"reader:<b>r</b>"};
    odd.id = "0b4c4b3e-9f5e-4f0f-8f43-5f2a3d9b1c61";
    (void)store().append(unconditional(), 0, odd);
    open("", 61);
    click("#events tbody tr");
    m_browser.wait_until("!document.getElementById('detail').hidden", "the detail pane");
    EXPECT_EQ(text("detail-title"), "ReaderRegistered");
    EXPECT_EQ(text("detail-position"), "61");
    EXPECT_EQ(text("detail-tags"), "reader:<b>r</b>");
    EXPECT_EQ(text("detail-id"), odd.id);
    EXPECT_EQ(text("detail-occurred").size(), std::string("2026-11-29T21:15:12.123456Z").size());
    // Pretty, and every digit as stored (a JSON parser in the page would round the card number).
    EXPECT_EQ(text("detail-payload"), "{\n  \"card\": 12345678901234567890123,\n  \"name\": \"<img src=x "
                                      "onerror=\\\"document.title='owned'\\\">\"\n}");
    EXPECT_EQ(text("detail-metadata"),
              "{\n  \"nested\": {\n    \"a\": [\n      1,\n      2\n    ]\n  },\n  \"correlation\": \"c61\"\n}");
    EXPECT_EQ(m_browser.evaluate("document.querySelectorAll('img, b').length"), 0);
    EXPECT_NE(m_browser.evaluate("document.title"), "owned");

    // The address names the open event, and a link to one opens it, also when another page holds it.
    EXPECT_EQ(m_browser.evaluate("location.hash"), "#event=61");
    m_browser.open(url("event=5"));
    m_browser.wait_until("document.getElementById('detail-position').textContent === '5'", "event 5 in detail");
    EXPECT_EQ(text("detail-payload"), "{\n  \"n\": 5,\n  \"shelf\": \"s1\",\n  \"title\": \"T5\"\n}");
}

TEST_F(EventBrowser, LiveModeShowsMatchingEventsAsTheyAreAppended) {
    open("types=BookAdded", 58);
    click("#live");
    m_browser.wait_until("document.getElementById('status').textContent === 'live'", "live mode");
    (void)store().append(unconditional(), 0, known_event(62)); // ReaderRegistered: not shown
    (void)store().append(unconditional(), 0, known_event(61)); // BookAdded at position 62
    shows_on_top(62);
    EXPECT_EQ(rows()[1], 58);
    EXPECT_EQ(rows().size(), 21U);
    EXPECT_TRUE(m_browser.evaluate("document.querySelector('#events tbody tr').classList.contains('fresh')"));
    // Unticked, it stops following.
    click("#live");
    m_browser.wait_until("document.getElementById('status').textContent === ''", "live mode to end");
}

TEST_F(EventBrowser, AsksForTheTokenOfAServerThatHasOne) {
    stop_server();
    eventstore::cli::ServeOptions options;
    options.token = "s3cret";
    start(options);
    m_browser.open(url());
    m_browser.wait_until("!document.getElementById('token-form').hidden", "the token form");
    EXPECT_EQ(rows(), std::vector<int>{});
    (void)m_browser.evaluate("document.querySelector('#token-form input').value = 's3cret', "
                             "document.querySelector('#token-form button').click(), true");
    shows_on_top(60);
    EXPECT_EQ(rows().size(), 50U);
}

} // namespace
