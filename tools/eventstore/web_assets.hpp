#ifndef EVENTSTORE_TOOLS_EVENTSTORE_WEB_ASSETS_HPP
#define EVENTSTORE_TOOLS_EVENTSTORE_WEB_ASSETS_HPP

// The event browser's files (tools/eventstore/web/), compiled into the program by embed_web.cmake.

#include <string_view>
#include <vector>

namespace eventstore::cli {

struct WebAsset {
    std::string_view path;         // "/index.html"
    std::string_view content_type; // "text/html; charset=utf-8"
    std::string_view content;
};

const std::vector<WebAsset>& web_assets();

} // namespace eventstore::cli

#endif
