#ifndef EVENTSTORE_BENCH_IN_PROCESS_SERVER_HPP
#define EVENTSTORE_BENCH_IN_PROCESS_SERVER_HPP

// `eventstore serve` on a table, in a thread of the benchmark's process, on a free loopback port;
// stopped (requests in flight finished) when the object goes.

#include <future>
#include <iostream>
#include <stop_token>
#include <string>
#include <thread>

#include "server.hpp"

namespace eventstore::bench {

class InProcessServer {
public:
    InProcessServer(const std::string& dsn, const std::string& table) {
        std::promise<int> listening;
        auto port = listening.get_future();
        m_thread = std::thread([this, dsn, table, &listening] {
            cli::ServeOptions options;
            options.listen = "127.0.0.1:0";
            (void)cli::run_serve({dsn, table}, options, m_stop.get_token(), std::cerr,
                                 [&listening](int p) { listening.set_value(p); });
        });
        m_port = port.get();
    }
    ~InProcessServer() {
        m_stop.request_stop();
        m_thread.join();
    }
    InProcessServer(const InProcessServer&) = delete;
    InProcessServer& operator=(const InProcessServer&) = delete;
    InProcessServer(InProcessServer&&) = delete;
    InProcessServer& operator=(InProcessServer&&) = delete;

    [[nodiscard]] int port() const { return m_port; }

private:
    std::stop_source m_stop;
    std::thread m_thread;
    int m_port = 0;
};

} // namespace eventstore::bench

#endif
