// Headless Chromium over the DevTools protocol (support/browser.hpp).

#include "support/browser.hpp"

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/process.hpp"

extern char** environ; // NOLINT(readability-redundant-declaration): POSIX leaves its declaration to us

namespace eventstore::test {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr auto call_timeout = std::chrono::seconds(30);

// A pipe whose ends are at 10 or above (they must not land on 3 or 4, which the child's dup2
// fills) and closed on exec (no other child inherits them).
std::array<int, 2> make_pipe() {
    std::array<int, 2> ends{};
    if (::pipe2(ends.data(), O_CLOEXEC) != 0) {
        throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    }
    for (int& end : ends) {
        const int moved = ::fcntl(end, F_DUPFD_CLOEXEC, 10);
        ::close(end);
        end = moved;
    }
    if (ends[0] < 0 || ends[1] < 0) {
        for (const int end : ends) {
            if (end >= 0) {
                ::close(end);
            }
        }
        throw std::runtime_error(std::string("fcntl: ") + std::strerror(errno));
    }
    return ends;
}

std::string base64_decode(const std::string& text) {
    std::string out;
    unsigned int bits = 0;
    int count = 0;
    for (const char c : text) {
        int value = -1;
        if (c >= 'A' && c <= 'Z') {
            value = c - 'A';
        } else if (c >= 'a' && c <= 'z') {
            value = c - 'a' + 26;
        } else if (c >= '0' && c <= '9') {
            value = c - '0' + 52;
        } else if (c == '+') {
            value = 62;
        } else if (c == '/') {
            value = 63;
        } else {
            continue; // padding
        }
        bits = (bits << 6U) | static_cast<unsigned int>(value);
        count += 6;
        if (count >= 8) {
            count -= 8;
            out += static_cast<char>((bits >> static_cast<unsigned int>(count)) & 0xFFU);
        }
    }
    return out;
}

} // namespace

Browser::Browser() {
    const std::string chromium = process::env("EVENTSTORE_CHROMIUM").value_or("/usr/bin/chromium");
    if (!process::is_executable(chromium)) {
        throw std::runtime_error(chromium + " is missing: install Debian's chromium (scripts/install-deps.sh does)");
    }
    std::string pattern = (std::filesystem::temp_directory_path() / "eventstore-browser.XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw std::runtime_error(std::string("mkdtemp failed: ") + std::strerror(errno));
    }
    m_profile = pattern;
    try {
        start(chromium);
    } catch (...) {
        shut_down();
        throw;
    }
}

void Browser::start(const std::string& chromium) {
    // A Chromium that ended while we write a command must not end the test process with SIGPIPE:
    // the write fails and says so.
    static const bool sigpipe_ignored = [] { return std::signal(SIGPIPE, SIG_IGN) != SIG_ERR; }();
    (void)sigpipe_ignored;
    const auto commands = make_pipe(); // we write [1], Chromium reads [0] as fd 3
    m_to = commands[1];
    const auto answers = make_pipe(); // Chromium writes [1] as fd 4, we read [0]
    m_from = answers[0];
    // Without the background-networking switches Chromium keeps trying to reach Google's hosts,
    // which a machine without a network refuses many times a second.
    std::vector<std::string> argv{chromium,
                                  "--headless",
                                  "--remote-debugging-pipe",
                                  "--user-data-dir=" + m_profile + "/profile",
                                  "--disable-gpu",
                                  "--disable-quic",
                                  "--no-first-run",
                                  "--no-default-browser-check",
                                  "--disable-background-networking",
                                  "--disable-component-update",
                                  "--disable-sync",
                                  "--disable-extensions",
                                  "--hide-scrollbars",
                                  "--window-size=1280,800",
                                  "about:blank"};
    if (process::running_as_root()) {
        argv.insert(argv.begin() + 1, "--no-sandbox"); // Chromium refuses its sandbox to root
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    // A process group of its own, so that its helper processes go with it.
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attributes, 0);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    const std::string log = m_profile + "/chromium.log";
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    posix_spawn_file_actions_adddup2(&actions, commands[0], 3);
    posix_spawn_file_actions_adddup2(&actions, answers[1], 4);
    std::vector<char*> c_argv;
    c_argv.reserve(argv.size() + 1);
    for (auto& a : argv) {
        c_argv.push_back(a.data());
    }
    c_argv.push_back(nullptr);
    const int rc = posix_spawn(&m_pid, c_argv[0], &actions, &attributes, c_argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    ::close(commands[0]);
    ::close(answers[1]);
    if (rc != 0) {
        m_pid = -1;
        throw std::runtime_error("cannot run " + chromium + ": " + std::strerror(rc));
    }
    // A page of our own, attached in "flat" mode: its commands carry the session's id.
    const json target = call("Target.createTarget", {{"url", "about:blank"}});
    const json attached = call("Target.attachToTarget", {{"targetId", target.at("targetId")}, {"flatten", true}});
    m_session = attached.at("sessionId").get<std::string>();
    call("Runtime.enable");
    call("Page.enable");
    call("Emulation.setDeviceMetricsOverride",
         {{"width", 1280}, {"height", 800}, {"deviceScaleFactor", 1}, {"mobile", false}});
}

Browser::~Browser() { shut_down(); }

void Browser::shut_down() noexcept {
    if (m_pid > 0 && m_to >= 0) {
        // Asked to close, Chromium ends with its helpers; closing the pipe asks it too.
        const std::string close = R"({"id":0,"method":"Browser.close"})" + std::string(1, '\0');
        (void)::write(m_to, close.data(), close.size());
    }
    for (int* fd : {&m_to, &m_from}) {
        if (*fd >= 0) {
            ::close(*fd);
            *fd = -1;
        }
    }
    if (m_pid > 0) {
        const auto deadline = Clock::now() + std::chrono::seconds(5);
        int status = 0;
        while (::waitpid(m_pid, &status, WNOHANG) == 0) {
            if (Clock::now() > deadline) {
                ::kill(-m_pid, SIGKILL);
                ::waitpid(m_pid, &status, 0);
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        ::kill(-m_pid, SIGKILL); // helpers that outlived it
        m_pid = -1;
    }
    std::error_code ignored;
    std::filesystem::remove_all(m_profile, ignored);
}

void Browser::send(const json& message) {
    const std::string text = message.dump() + '\0';
    std::size_t written = 0;
    while (written < text.size()) {
        const ssize_t n = ::write(m_to, text.data() + written, text.size() - written);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            throw std::runtime_error("Chromium stopped reading commands: " +
                                     process::tail_of(m_profile + "/chromium.log"));
        }
        written += static_cast<std::size_t>(n);
    }
}

json Browser::receive(Clock::time_point deadline) {
    for (;;) {
        if (const auto end = m_received.find('\0'); end != std::string::npos) {
            json message = json::parse(m_received.substr(0, end));
            m_received.erase(0, end + 1);
            return message;
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
            throw std::runtime_error("Chromium did not answer in time");
        }
        pollfd fd{m_from, POLLIN, 0};
        const int ready = ::poll(&fd, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        if (ready <= 0) {
            continue; // the deadline check above ends it
        }
        std::array<char, 65536> buffer{};
        const ssize_t n = ::read(m_from, buffer.data(), buffer.size());
        if (n <= 0) {
            throw std::runtime_error("Chromium ended: " + process::tail_of(m_profile + "/chromium.log"));
        }
        m_received.append(buffer.data(), static_cast<std::size_t>(n));
    }
}

void Browser::note_event(const json& event) {
    const std::string method = event.value("method", "");
    if (method == "Runtime.exceptionThrown") {
        const json& details = event["params"]["exceptionDetails"];
        m_errors.push_back(details.value("/exception/description"_json_pointer, details.value("text", "exception")));
    } else if (method == "Runtime.consoleAPICalled" && event["params"].value("type", "") == "error") {
        m_errors.push_back("console.error: " + event["params"]["args"].dump());
    }
}

json Browser::call(const std::string& method, const json& params) {
    const int id = m_next_id++;
    json message{{"id", id}, {"method", method}, {"params", params}};
    if (!m_session.empty()) {
        message["sessionId"] = m_session;
    }
    send(message);
    const auto deadline = Clock::now() + call_timeout;
    for (;;) {
        json answer = receive(deadline);
        if (!answer.contains("id")) {
            note_event(answer);
            continue;
        }
        if (answer["id"] != id) {
            continue;
        }
        if (answer.contains("error")) {
            throw std::runtime_error(method + ": " + answer["error"].dump());
        }
        return answer.value("result", json::object());
    }
}

void Browser::open(const std::string& url) {
    const json navigated = call("Page.navigate", {{"url", url}});
    if (navigated.contains("errorText")) {
        throw std::runtime_error("cannot load " + url + ": " + navigated["errorText"].get<std::string>());
    }
    // Page.navigate may answer before the new document replaces the old one.
    wait_until("location.href === " + json(url).dump() + " && document.readyState === 'complete'", "the page to load");
}

json Browser::evaluate(const std::string& expression) {
    const json result =
        call("Runtime.evaluate", {{"expression", expression}, {"returnByValue", true}, {"awaitPromise", true}});
    if (result.contains("exceptionDetails")) {
        const json& details = result["exceptionDetails"];
        throw std::runtime_error(
            expression +
            " threw: " + details.value("/exception/description"_json_pointer, details.value("text", "an exception")));
    }
    return result["result"].value("value", json());
}

void Browser::wait_until(const std::string& expression, const std::string& what, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    std::string failure; // the last evaluation's error: a page being replaced has no context for a moment
    for (;;) {
        try {
            if (evaluate("Boolean(" + expression + ")") == true) {
                return;
            }
            failure.clear();
        } catch (const std::runtime_error& e) {
            failure = e.what();
        }
        if (Clock::now() > deadline) {
            std::string status;
            try {
                status = evaluate("(document.getElementById('status') || {}).textContent || ''").get<std::string>();
            } catch (const std::exception&) {
                status = "?";
            }
            std::string message = "waited " + std::to_string(timeout.count()) + " ms for " + what;
            message += " (the page's status: \"" + status + "\"";
            if (!failure.empty()) {
                message += "; last: " + failure;
            }
            throw std::runtime_error(message + ")");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

std::string Browser::screenshot() {
    const json shot = call("Page.captureScreenshot", {{"format", "png"}});
    return base64_decode(shot.at("data").get<std::string>());
}

} // namespace eventstore::test
