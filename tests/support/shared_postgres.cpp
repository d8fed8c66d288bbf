// The PostgreSQL cluster shared by the test processes of one ctest run (the ctest fixture
// "shared_postgres" of tests/CMakeLists.txt), so that each test process creates a database instead of
// starting a cluster of its own:
//
//   eventstore_shared_postgres start <dir>   starts a throwaway cluster (support/postgres_server.hpp: unix
//                                            socket only, in a temporary folder) in a process of its own,
//                                            writes its conninfo where shared_server_conninfo_file() says,
//                                            and returns once the cluster accepts connections
//   eventstore_shared_postgres stop <dir>    stops it, removes the folder and the file
//
// Both steps must run under the same ctest process (its pid names the files, so that two ctest runs of
// one build do not meet). The cluster also stops when that ctest process ends without running the stop
// step (interrupted or killed). EVENTSTORE_TEST_SHARED_SERVER=0 makes `start` do nothing, and every test
// process then starts a cluster of its own, as it does outside ctest.

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/postgres_server.hpp"

namespace {

using eventstore::test::PostgresServer;
using eventstore::test::shared_server_conninfo_file;

volatile std::sig_atomic_t stop_requested = 0;

extern "C" void request_stop(int /*signal*/) { stop_requested = 1; }

std::string pid_file(const std::string& dir, pid_t ctest) { return dir + "/ctest-" + std::to_string(ctest) + ".pid"; }

bool alive(pid_t pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

void write_file(const std::string& path, const std::string& text) {
    const std::string staging = path + ".tmp";
    std::ofstream(staging) << text;
    std::filesystem::rename(staging, path); // readers never see half a file
}

void write_all(int fd, const std::string& text) {
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n <= 0 && errno != EINTR) {
            return;
        }
        done += n > 0 ? static_cast<std::size_t>(n) : 0;
    }
}

// The serving process: owns the cluster until told to stop or until ctest is gone. Reports "ok" or
// the error through `report`, then closes it.
[[noreturn]] void serve(const std::string& dir, pid_t ctest, int report) {
    ::setsid();
    // ctest waits for the end of the test's output, so the server must not hold the pipes it inherited.
    const int devnull = ::open("/dev/null", O_RDWR);
    const int log = ::open((dir + "/shared-postgres.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(devnull, STDIN_FILENO);
    ::dup2(log >= 0 ? log : devnull, STDOUT_FILENO);
    ::dup2(log >= 0 ? log : devnull, STDERR_FILENO);
    ::close(devnull);
    if (log >= 0) {
        ::close(log);
    }
    std::signal(SIGTERM, request_stop);
    std::signal(SIGINT, request_stop);
    std::signal(SIGHUP, request_stop);
    int status = 0;
    try {
        PostgresServer server;
        write_file(pid_file(dir, ctest), std::to_string(::getpid()) + "\n");
        write_file(shared_server_conninfo_file(dir, ctest), server.conninfo() + "\n");
        write_all(report, "ok\n");
        ::close(report);
        while (stop_requested == 0 && alive(ctest)) {
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
        std::filesystem::remove(shared_server_conninfo_file(dir, ctest));
    } catch (const std::exception& e) {
        write_all(report, std::string("could not start the shared PostgreSQL cluster: ") + e.what() + "\n");
        status = 1;
    }
    // The server is stopped and its folder removed by now (PostgresServer's destructor).
    std::error_code ignored;
    std::filesystem::remove(pid_file(dir, ctest), ignored);
    std::_Exit(status);
}

int start(const std::string& dir) {
    if (const char* shared = std::getenv("EVENTSTORE_TEST_SHARED_SERVER");
        shared != nullptr && std::string(shared) == "0") {
        std::cout << "EVENTSTORE_TEST_SHARED_SERVER=0: no shared cluster; each test process starts its own\n";
        return 0;
    }
    std::filesystem::create_directories(dir);
    const pid_t ctest = ::getppid();
    // Close-on-exec: the cluster's processes must not hold the write end, or the report never ends.
    std::array<int, 2> fds{-1, -1};
    if (::pipe2(fds.data(), O_CLOEXEC) != 0) {
        std::cerr << "pipe2: " << std::strerror(errno) << '\n';
        return 1;
    }
    std::cout.flush();
    std::cerr.flush();
    const pid_t child = ::fork();
    if (child < 0) {
        std::cerr << "fork: " << std::strerror(errno) << '\n';
        return 1;
    }
    if (child == 0) {
        ::close(fds[0]);
        serve(dir, ctest, fds[1]);
    }
    ::close(fds[1]);
    // One line: "ok", or what went wrong.
    std::string report;
    std::array<char, 512> buffer{};
    while (report.find('\n') == std::string::npos) {
        const ssize_t n = ::read(fds[0], buffer.data(), buffer.size());
        if (n > 0) {
            report.append(buffer.data(), static_cast<std::size_t>(n));
        } else if (n == 0 || errno != EINTR) {
            break;
        }
    }
    ::close(fds[0]);
    if (report != "ok\n") {
        std::cerr << (report.empty() ? std::string("the shared PostgreSQL cluster's process ended without a word\n")
                                     : report);
        return 1;
    }
    std::ifstream conninfo(shared_server_conninfo_file(dir, ctest));
    std::cout << "shared PostgreSQL cluster for ctest " << ctest << ": " << conninfo.rdbuf();
    return 0;
}

int stop(const std::string& dir) {
    const pid_t ctest = ::getppid();
    std::ifstream in(pid_file(dir, ctest));
    pid_t server = 0;
    if (!(in >> server) || server <= 0) {
        std::cout << "no shared PostgreSQL cluster for ctest " << ctest << " (nothing to stop)\n";
        return 0;
    }
    ::kill(server, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (alive(server) && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (alive(server)) {
        std::cerr << "the shared PostgreSQL cluster's process " << server << " did not stop within 60 s\n";
        return 1;
    }
    std::cout << "stopped the shared PostgreSQL cluster for ctest " << ctest << '\n';
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    const std::string command = argc == 3 ? argv[1] : "";
    if (command == "start") {
        return start(argv[2]);
    }
    if (command == "stop") {
        return stop(argv[2]);
    }
    std::cerr << "usage: eventstore_shared_postgres start|stop <dir>\n";
    return 2;
}
