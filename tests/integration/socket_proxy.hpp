#ifndef EVENTSTORE_TESTS_INTEGRATION_SOCKET_PROXY_HPP
#define EVENTSTORE_TESTS_INTEGRATION_SOCKET_PROXY_HPP

// A unix-socket proxy between the store and the test server, for the failures a network inflicts:
// a server that accepts connections and never answers, a connection dropped after a request reached
// the server but before its reply came back, and sessions closed while they sit idle.
//
//     SocketProxy proxy(conninfo());               // forwards to the server of `conninfo`
//     auto pool = ConnectionPool::create(proxy.conninfo());
//     proxy.drop_reply_to_next_request();          // the next request is served, its reply lost

#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <libpq-fe.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace eventstore::test {

class SocketProxy {
public:
    explicit SocketProxy(const std::string& conninfo) : m_conninfo(conninfo) {
        PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), nullptr);
        if (options == nullptr) {
            throw std::runtime_error("SocketProxy: cannot parse " + conninfo);
        }
        std::string host;
        for (const PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
            if (o->val != nullptr && std::strcmp(o->keyword, "host") == 0) {
                host = o->val;
            }
            if (o->val != nullptr && std::strcmp(o->keyword, "port") == 0) {
                m_port = o->val;
            }
        }
        PQconninfoFree(options);
        if (host.empty() || host.front() != '/') {
            throw std::runtime_error("SocketProxy: needs a unix-socket conninfo, got " + conninfo);
        }
        if (m_port.empty()) {
            m_port = "5432";
        }
        m_target = host + "/.s.PGSQL." + m_port;
        std::string dir_template = (std::filesystem::temp_directory_path() / "esproxy.XXXXXX").string();
        if (::mkdtemp(dir_template.data()) == nullptr) {
            throw std::runtime_error("SocketProxy: mkdtemp failed");
        }
        m_dir = dir_template;
        m_listener = listen_on(m_dir + "/.s.PGSQL." + m_port);
        m_thread = std::thread([this] { loop(); });
    }

    SocketProxy(const SocketProxy&) = delete;
    SocketProxy& operator=(const SocketProxy&) = delete;

    ~SocketProxy() {
        m_stop = true;
        m_thread.join();
        for (const Pair& p : m_pairs) {
            close_pair(p);
        }
        ::close(m_listener);
        std::error_code ignored;
        std::filesystem::remove_all(m_dir, ignored);
    }

    // The conninfo it was made with, pointing at the proxy instead.
    [[nodiscard]] std::string conninfo() const { return m_conninfo + " host=" + m_dir; }

    // From now on, connections are accepted and then left without an answer (a server that hangs).
    void mute() { m_mute = true; }
    // The next request a client sends goes to the server, which serves it, but the connection is cut
    // before the reply comes back: the client cannot know what happened.
    void drop_reply_to_next_request() { m_drop_next = true; }
    // Closes every connection now, as a proxy or a restarted server would.
    void close_all() { m_close_all = true; }
    // Connections accepted so far.
    [[nodiscard]] int accepted() const { return m_accepted; }

private:
    struct Pair {
        int client = -1;
        int server = -1; // -1 while muted
        bool dropping = false;
        std::chrono::steady_clock::time_point drop_at;
    };

    static int listen_on(const std::string& path) {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
        if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 64) != 0) {
            throw std::runtime_error("SocketProxy: cannot listen on " + path);
        }
        return fd;
    }

    int connect_upstream() const {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, m_target.c_str(), sizeof(addr.sun_path) - 1);
        if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
            return fd;
        }
        if (fd >= 0) {
            ::close(fd);
        }
        return -1;
    }

    static void close_pair(const Pair& p) {
        ::close(p.client);
        if (p.server >= 0) {
            ::close(p.server);
        }
    }

    // Copies what is readable on `from` to `to`; false when `from` ended.
    static bool pump(int from, int to) {
        std::array<char, 65536> buf{};
        const ssize_t n = ::read(from, buf.data(), buf.size());
        if (n <= 0) {
            return false;
        }
        for (ssize_t done = 0; done < n;) {
            const ssize_t w = ::write(to, buf.data() + done, static_cast<std::size_t>(n - done));
            if (w <= 0) {
                return false;
            }
            done += w;
        }
        return true;
    }

    void loop() {
        using Clock = std::chrono::steady_clock;
        while (!m_stop) {
            if (m_close_all.exchange(false)) {
                for (const Pair& p : m_pairs) {
                    close_pair(p);
                }
                m_pairs.clear();
            }
            std::vector<pollfd> fds{{m_listener, POLLIN, 0}};
            for (const Pair& p : m_pairs) {
                fds.push_back({p.client, static_cast<short>(p.server >= 0 ? POLLIN : 0), 0});
                fds.push_back({p.server, POLLIN, 0}); // a negative fd is ignored by poll
            }
            if (::poll(fds.data(), fds.size(), 10) < 0) {
                continue;
            }
            std::vector<Pair> kept;
            for (std::size_t i = 0; i < m_pairs.size(); ++i) {
                Pair p = m_pairs[i];
                const short from_client = fds[1 + 2 * i].revents;
                const short from_server = fds[2 + 2 * i].revents;
                bool alive = true;
                if (p.server >= 0 && (from_client & (POLLIN | POLLHUP)) != 0) {
                    const bool arm = m_drop_next.exchange(false);
                    alive = pump(p.client, p.server);
                    if (arm) {
                        // Let the server serve the request (and commit) before the cut.
                        p.dropping = true;
                        p.drop_at = Clock::now() + std::chrono::milliseconds(300);
                    }
                }
                if (alive && p.server >= 0 && (from_server & (POLLIN | POLLHUP)) != 0) {
                    if (p.dropping) {
                        std::array<char, 65536> sink{};
                        alive = ::read(p.server, sink.data(), sink.size()) > 0; // the reply, lost
                    } else {
                        alive = pump(p.server, p.client);
                    }
                }
                if (p.dropping && Clock::now() >= p.drop_at) {
                    alive = false;
                }
                if (alive) {
                    kept.push_back(p);
                } else {
                    close_pair(p);
                }
            }
            m_pairs = std::move(kept);
            // New connections join after the pairs polled above, whose events `fds` holds.
            if ((fds[0].revents & POLLIN) != 0) {
                const int client = ::accept(m_listener, nullptr, nullptr);
                if (client >= 0) {
                    ++m_accepted;
                    Pair pair;
                    pair.client = client;
                    pair.server = m_mute ? -1 : connect_upstream();
                    m_pairs.push_back(pair);
                }
            }
        }
    }

    std::string m_conninfo;
    std::string m_port;
    std::string m_target;
    std::string m_dir;
    int m_listener = -1;
    std::vector<Pair> m_pairs; // the loop's own
    std::atomic<bool> m_stop{false};
    std::atomic<bool> m_mute{false};
    std::atomic<bool> m_drop_next{false};
    std::atomic<bool> m_close_all{false};
    std::atomic<int> m_accepted{0};
    std::thread m_thread;
};

} // namespace eventstore::test

#endif
