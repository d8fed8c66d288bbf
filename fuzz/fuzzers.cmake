# libFuzzer targets, run by scripts/fuzz.sh from their seed corpora in corpus/<target>/. Included by
# the top-level CMakeLists.txt when EVENTSTORE_BUILD_FUZZERS is ON, before any target is defined:
# libFuzzer needs clang, and its coverage feedback and the sanitizers must reach the library itself,
# so every target of such a build is instrumented.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "EVENTSTORE_BUILD_FUZZERS needs clang and libFuzzer: configure with "
                      "-DCMAKE_CXX_COMPILER=clang++-14 (scripts/fuzz.sh does)")
endif()
add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
add_link_options(-fsanitize=address,undefined)

function(eventstore_fuzz_target name)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "" "LINK")
  add_executable(${name} ${PROJECT_SOURCE_DIR}/fuzz/${name}.cpp)
  target_link_libraries(${name} PRIVATE ${ARG_LINK})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(${name} PRIVATE ${EVENTSTORE_WARNINGS})
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
endfunction()

# The targets, once the library's targets exist (at the end of the top-level CMakeLists.txt):
# json_fuzz, the strict JSON reader (src/core/json.cpp); filter_fuzz, the filter builder, its
# serialisation and hash, and the engine's WHERE clause and lock planning.
cmake_language(DEFER DIRECTORY ${PROJECT_SOURCE_DIR} CALL eventstore_fuzz_target json_fuzz LINK eventstore::eventstore)
cmake_language(DEFER DIRECTORY ${PROJECT_SOURCE_DIR} CALL eventstore_fuzz_target filter_fuzz LINK eventstore::postgres)
# event_line_fuzz: the eventstore program's event lines (tools/eventstore/ndjson.hpp), when it is built.
if(EVENTSTORE_BUILD_PROGRAM)
  cmake_language(DEFER DIRECTORY ${PROJECT_SOURCE_DIR} CALL eventstore_fuzz_target event_line_fuzz LINK eventstore_cli)
endif()
