#ifndef EVENTSTORE_TESTS_SUPPORT_BROWSER_HPP
#define EVENTSTORE_TESTS_SUPPORT_BROWSER_HPP

// A real browser for the event browser's tests: headless Chromium (Debian's `chromium`; another with
// EVENTSTORE_CHROMIUM), driven over the DevTools protocol on a pipe (--remote-debugging-pipe: no
// port), with a profile of its own in a temporary folder. Stopped and removed with the object.

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <sys/types.h>

namespace eventstore::test {

class Browser {
public:
    Browser();
    ~Browser();
    Browser(const Browser&) = delete;
    Browser& operator=(const Browser&) = delete;
    Browser(Browser&&) = delete;
    Browser& operator=(Browser&&) = delete;

    // Loads `url` in the page and waits until it has loaded (its deferred scripts ran).
    void open(const std::string& url);
    // The value of a JavaScript expression in the page (a promise's result once it settles). Throws
    // std::runtime_error when it throws.
    nlohmann::json evaluate(const std::string& expression);
    // Evaluates `expression` until it is true; throws, naming `what` and the page's status line, when
    // it is not within `timeout`.
    void wait_until(const std::string& expression, const std::string& what,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10));
    // The page as a PNG image (its bytes) at the window's size.
    std::string screenshot();
    // Uncaught exceptions and console errors of the page so far.
    [[nodiscard]] const std::vector<std::string>& page_errors() const { return m_errors; }

private:
    void start(const std::string& chromium);
    void shut_down() noexcept;
    nlohmann::json call(const std::string& method, const nlohmann::json& params = nlohmann::json::object());
    void send(const nlohmann::json& message);
    nlohmann::json receive(std::chrono::steady_clock::time_point deadline);
    void note_event(const nlohmann::json& event);

    std::string m_profile; // the temporary folder: profile and Chromium's log
    pid_t m_pid = -1;
    int m_to = -1;   // our end of the pipe Chromium reads commands from (its fd 3)
    int m_from = -1; // our end of the pipe it writes answers to (its fd 4)
    std::string m_received;
    std::string m_session;
    int m_next_id = 1;
    std::vector<std::string> m_errors;
};

} // namespace eventstore::test

#endif
