# Build-time embedding of data files as C++ string literals.
#
# iotreg_embed_migrations(OUTPUT <file.cpp> HEADER <include> NAMESPACE <ns> FILES <sql files...>)
# writes the definition of <ns>::migrations(), declared in HEADER, with one entry per
# NNNN_name.sql file, numbered from 1 without gaps.
function(iotreg_embed_migrations)
  cmake_parse_arguments(ARG "" "OUTPUT;HEADER;NAMESPACE" "FILES" ${ARGN})
  list(SORT ARG_FILES)
  set(entries "")
  set(expected 1)
  foreach(file IN LISTS ARG_FILES)
    get_filename_component(name "${file}" NAME_WE)
    string(REGEX MATCH "^([0-9]+)_" _ "${name}")
    if(NOT CMAKE_MATCH_1)
      message(FATAL_ERROR "migration ${file} must be named NNNN_description.sql")
    endif()
    math(EXPR version "${CMAKE_MATCH_1}")
    if(NOT version EQUAL expected)
      message(FATAL_ERROR "migration ${file}: expected number ${expected}")
    endif()
    math(EXPR expected "${expected} + 1")
    file(READ "${file}" sql)
    string(APPEND entries "    {${version}, \"${name}\", R\"iotreg_sql(${sql})iotreg_sql\"},\n")
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${file}")
  endforeach()
  file(CONFIGURE OUTPUT "${ARG_OUTPUT}" CONTENT
"#include \"${ARG_HEADER}\"

namespace ${ARG_NAMESPACE} {

std::span<const Migration> migrations() {
  static constexpr Migration kMigrations[] = {
${entries}  };
  return kMigrations;
}

}  // namespace ${ARG_NAMESPACE}
" @ONLY)
endfunction()

# iotreg_embed_schema(OUTPUT <file.cpp> TEMPLATE <in> FILE <schema.json>)
function(iotreg_embed_schema)
  cmake_parse_arguments(ARG "" "OUTPUT;TEMPLATE;FILE" "" ${ARGN})
  file(READ "${ARG_FILE}" SCHEMA_TEXT)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${ARG_FILE}" "${ARG_TEMPLATE}")
  configure_file("${ARG_TEMPLATE}" "${ARG_OUTPUT}" @ONLY)
endfunction()

# iotreg_embed_files(OUTPUT <file.cpp> HEADER <include> NAMESPACE <ns> FUNCTION <name>
#                    FILES <files...>) writes `std::span<const EmbeddedFile> <ns>::<name>()`, one
# entry per file: its name without directory and its text.
function(iotreg_embed_files)
  cmake_parse_arguments(ARG "" "OUTPUT;HEADER;NAMESPACE;FUNCTION" "FILES" ${ARGN})
  set(entries "")
  foreach(file IN LISTS ARG_FILES)
    get_filename_component(name "${file}" NAME)
    file(READ "${file}" text)
    string(APPEND entries "    {\"${name}\", R\"iotreg_text(${text})iotreg_text\"},\n")
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${file}")
  endforeach()
  file(CONFIGURE OUTPUT "${ARG_OUTPUT}" CONTENT
"#include \"${ARG_HEADER}\"

namespace ${ARG_NAMESPACE} {

std::span<const EmbeddedFile> ${ARG_FUNCTION}() {
  static constexpr EmbeddedFile kFiles[] = {
${entries}  };
  return kFiles;
}

}  // namespace ${ARG_NAMESPACE}
" @ONLY)
endfunction()
