#ifndef EVENTSTORE_TOOLS_EVENTSTORE_SERVER_HPP
#define EVENTSTORE_TOOLS_EVENTSTORE_SERVER_HPP

// `eventstore serve`: the store over HTTP, in the DCB test suite's contract (docs/http.md).

#include <cstddef>
#include <functional>
#include <iosfwd>
#include <stop_token>
#include <string>
#include <thread>

#include "commands.hpp"

namespace eventstore::cli {

struct ServeOptions {
    // host:port; port 0 picks a free one (tests). A host other than loopback needs a token.
    std::string listen = "127.0.0.1:3000";
    // When set, every request but GET /health must carry "Authorization: Bearer <token>".
    std::string token;
    // Connections served at once: a kept-alive connection holds its thread between its requests, and
    // a connection beyond these waits for one. Database calls are bounded further by the store's pool
    // (at most 16 connections).
    std::size_t threads = 64;
    std::size_t max_body = 1U << 20U; // bytes of a request body; a larger one is refused (413)
};

// Serves until `stop` is requested (the program: SIGINT or SIGTERM), then lets the requests in flight
// finish and returns. `on_listening` gets the port once the server accepts connections.
int run_serve(const Target& target, const ServeOptions& options, std::stop_token stop, std::ostream& err,
              const std::function<void(int port)>& on_listening = {});

// run_serve in a thread of this process, on 127.0.0.1 and a free port, for tests and benchmarks.
// The constructor returns once the server listens, or throws std::runtime_error when it ended before
// (what it said is on `log`). Stopped (requests in flight finished) by stop() or the destructor.
class BackgroundServer {
public:
    BackgroundServer(const Target& target, ServeOptions options, std::ostream& log);
    ~BackgroundServer();
    BackgroundServer(const BackgroundServer&) = delete;
    BackgroundServer& operator=(const BackgroundServer&) = delete;
    BackgroundServer(BackgroundServer&&) = delete;
    BackgroundServer& operator=(BackgroundServer&&) = delete;

    [[nodiscard]] int port() const { return m_port; }
    // Stops the server and waits for it; its exit code.
    int stop();

private:
    std::stop_source m_stop;
    std::thread m_thread;
    int m_port = 0;
    int m_code = -1;
};

} // namespace eventstore::cli

#endif
