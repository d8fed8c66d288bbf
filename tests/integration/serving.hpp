#ifndef EVENTSTORE_TESTS_INTEGRATION_SERVING_HPP
#define EVENTSTORE_TESTS_INTEGRATION_SERVING_HPP

// A test's table served by `eventstore serve` (run_serve) on a free loopback port, in a thread of the
// test process, for tests that talk to it over HTTP.

#include <future>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <stop_token>
#include <thread>

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
    void start(cli::ServeOptions options) {
        options.listen = "127.0.0.1:0";
        m_stop = std::stop_source();
        auto listening = std::make_shared<std::promise<int>>();
        auto port = listening->get_future();
        m_server = std::thread([this, options, listening] {
            bool listened = false;
            m_code = cli::run_serve({conninfo(), table()}, options, m_stop.get_token(), m_log,
                                    [listening, &listened](int p) {
                                        listened = true;
                                        listening->set_value(p);
                                    });
            if (!listened) { // it ended before listening
                listening->set_value(0);
            }
        });
        m_port = port.get();
        if (m_port == 0) {
            throw std::runtime_error("eventstore serve did not start: " + m_log.str());
        }
    }
    // Stops the server (requests in flight finish); its exit code.
    int stop_server() {
        if (m_server.joinable()) {
            m_stop.request_stop();
            m_server.join();
        }
        return m_code;
    }

    std::stop_source m_stop;
    std::thread m_server;
    std::ostringstream m_log;
    int m_code = -1;
    int m_port = 0;
};

} // namespace eventstore::test

#endif
