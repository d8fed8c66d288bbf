#ifndef EVENTSTORE_TESTS_INTEGRATION_SERVING_HPP
#define EVENTSTORE_TESTS_INTEGRATION_SERVING_HPP

// A test's table served by `eventstore serve` on a free loopback port, in a thread of the test process
// (cli::BackgroundServer), for tests that talk to it over HTTP.

#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>

#include "fixture.hpp"
#include "server.hpp"

namespace eventstore::test {

class ServedStore : public StoreTest {
protected:
    void SetUp() override {
        StoreTest::SetUp();
        start({});
    }
    void TearDown() override {
        stop_server();
        StoreTest::TearDown();
    }

    // Serves the table with `options` (but on 127.0.0.1 and a free port); returns once it listens.
    void start(const cli::ServeOptions& options) {
        try {
            m_server.emplace(cli::Target{conninfo(), table()}, options, m_log);
        } catch (const std::runtime_error& e) {
            throw std::runtime_error(std::string(e.what()) + ": " + m_log.str());
        }
        m_port = m_server->port();
    }
    // Stops the server (requests in flight finish); its exit code.
    int stop_server() { return m_server ? m_server->stop() : -1; }

    std::ostringstream m_log; // before m_server, which writes to it until it goes
    std::optional<cli::BackgroundServer> m_server;
    int m_port = 0;
};

} // namespace eventstore::test

#endif
