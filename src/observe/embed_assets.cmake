# Writes a C++ source holding the dashboard's files as byte arrays (see web_assets.h).
# cmake -DWEB_DIR=<web/> -DOUTPUT=<file.cpp> -DFILES=<a;b;...> -P embed_assets.cmake
# FILES are paths relative to WEB_DIR; each is served at "/<path>".
set(body "")
set(table "")
set(index 0)
foreach(rel IN LISTS FILES)
  file(READ "${WEB_DIR}/${rel}" hex HEX)
  # A trailing 0 keeps empty files legal (no zero-length arrays); it is not part of the body.
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
  string(APPEND body "const unsigned char k${index}[] = {\n${bytes}0};\n")
  get_filename_component(ext "${rel}" LAST_EXT)
  if(ext STREQUAL ".html")
    set(type "text/html; charset=utf-8")
  elseif(ext STREQUAL ".js")
    set(type "text/javascript; charset=utf-8")
  elseif(ext STREQUAL ".css")
    set(type "text/css; charset=utf-8")
  elseif(ext STREQUAL ".svg")
    set(type "image/svg+xml")
  elseif(ext STREQUAL ".png")
    set(type "image/png")
  else()
    set(type "text/plain; charset=utf-8")
  endif()
  string(APPEND table "    {\"/${rel}\", \"${type}\", {reinterpret_cast<const char*>(k${index}), sizeof k${index} - 1}},\n")
  math(EXPR index "${index} + 1")
endforeach()

set(content "// Generated from web/ by src/observe/embed_assets.cmake at build time; do not edit.
#include \"observe/web_assets.h\"

namespace kmirror::observe {
namespace {
${body}
const WebAsset kAssets[] = {
${table}};
}  // namespace

std::span<const WebAsset> web_assets() { return kAssets; }

}  // namespace kmirror::observe
")
# Rewrite only on change so an unrelated rebuild recompiles nothing.
if(EXISTS "${OUTPUT}")
  file(READ "${OUTPUT}" old)
  if(old STREQUAL content)
    return()
  endif()
endif()
file(WRITE "${OUTPUT}" "${content}")
