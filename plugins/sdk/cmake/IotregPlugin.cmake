# iotreg_add_check_plugin(<name> SOURCES <file>... [FIXTURES <file>] [OUTPUT_DIRECTORY <dir>])
#
# Builds a loadable iotreg check plugin <name>.so from C++ sources that use iotreg/check.hpp
# (or the C ABI of iotreg/plugin.h): a MODULE library with hidden visibility, so that only the
# entry point is exported. FIXTURES names a YAML file of fixture cases that is copied next to
# the plugin as <name>.fixtures.yaml, where `iotreg plugins test DIR` finds it. The same
# function builds the registry's built-in plugins and plugins written outside the registry.
# It installs nothing: where a plugin goes is its author's decision (iotreg_install_check_plugin).
function(iotreg_add_check_plugin name)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "FIXTURES;OUTPUT_DIRECTORY" "SOURCES")
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "iotreg_add_check_plugin(${name}): SOURCES is required")
  endif()
  add_library(${name} MODULE ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE iotreg::sdk)
  target_compile_features(${name} PRIVATE cxx_std_17)
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${ARG_OUTPUT_DIRECTORY}")
  endif()
  if(ARG_FIXTURES)
    get_filename_component(fixtures "${ARG_FIXTURES}" ABSOLUTE)
    # Read back by iotreg_install_check_plugin.
    set_target_properties(${name} PROPERTIES IOTREG_FIXTURES "${fixtures}")
    add_custom_command(TARGET ${name} POST_BUILD
      COMMAND ${CMAKE_COMMAND} -E copy_if_different "${fixtures}"
              "$<TARGET_FILE_DIR:${name}>/${name}.fixtures.yaml"
      VERBATIM)
  endif()
endfunction()

# iotreg_install_check_plugin(<name> DESTINATION <dir>)
#
# Installs a plugin made by iotreg_add_check_plugin into <dir> (relative to the install prefix,
# or absolute), with its fixture file next to it as <name>.fixtures.yaml, so that the installed
# directory can be passed to `iotreg --plugins` and to `iotreg plugins test`.
function(iotreg_install_check_plugin name)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "DESTINATION" "")
  if(NOT ARG_DESTINATION)
    message(FATAL_ERROR "iotreg_install_check_plugin(${name}): DESTINATION is required")
  endif()
  install(TARGETS ${name} LIBRARY DESTINATION "${ARG_DESTINATION}")
  get_target_property(fixtures ${name} IOTREG_FIXTURES)
  if(fixtures)
    install(FILES "${fixtures}" DESTINATION "${ARG_DESTINATION}" RENAME "${name}.fixtures.yaml")
  endif()
endfunction()
