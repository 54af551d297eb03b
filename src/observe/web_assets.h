// The dashboard's static files (web/), compiled into the binary at build time by
// embed_assets.cmake so the page works offline and needs nothing on disk.
#pragma once

#include <span>
#include <string_view>

namespace kmirror::observe {

struct WebAsset {
  std::string_view path;  // URL path, e.g. "/app.js"
  std::string_view content_type;
  std::string_view body;
};

std::span<const WebAsset> web_assets();

}  // namespace kmirror::observe
