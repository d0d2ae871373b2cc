# The installed plugin SDK, end to end, as an outside plugin author meets it (cmake -P script).
#
# 1. installs the registry's build tree into a fresh prefix and checks the layout;
# 2. the installed iotreg loads its installed built-in plugins when given no --plugins;
# 3. plugins/template builds against that prefix alone (found by CMAKE_PREFIX_PATH);
# 4. the installed iotreg loads the template plugin from its build directory;
# 5. `iotreg plugins test` passes the template's fixtures and the installed built-ins' fixtures;
# 6. an import with the built-ins and the template plugin records the template check's findings;
# 7. a policy that makes the template check mandatory, with a parameter, flags a product.
# Everything happens in one scratch directory, removed on success and on failure; nothing is
# fetched from the network.
#
# Inputs (-D): BUILD_DIR (the registry's build tree, already built), SOURCE_DIR, WORK_ROOT (a
# directory in which the scratch directory is made), GENERATOR, CXX_COMPILER, BUILTIN_PLUGINS
# (the names of the installed built-in plugins, separated by commas), and PACKAGE_DIR and
# PLUGIN_DIR (where the CMake package and the built-in plugins go, relative to the prefix).
cmake_minimum_required(VERSION 3.25)

foreach(input BUILD_DIR SOURCE_DIR WORK_ROOT GENERATOR CXX_COMPILER BUILTIN_PLUGINS PACKAGE_DIR
              PLUGIN_DIR)
  if(NOT DEFINED ${input})
    message(FATAL_ERROR "out_of_tree.cmake: -D${input}=... is required")
  endif()
endforeach()
string(REPLACE "," ";" BUILTIN_PLUGINS "${BUILTIN_PLUGINS}")

string(RANDOM LENGTH 8 ALPHABET "abcdefghijklmnopqrstuvwxyz0123456789" suffix)
set(work "${WORK_ROOT}/sdk-out-of-tree-${suffix}")
set(prefix "${work}/prefix")
set(template_build "${work}/template-build")
set(iotreg "${prefix}/bin/iotreg")
file(REMOVE_RECURSE "${work}")
file(MAKE_DIRECTORY "${work}")

# Removes the scratch directory and stops the test with `message`.
function(fail message)
  file(REMOVE_RECURSE "${work}")
  message(FATAL_ERROR "${message}")
endfunction()

# Runs a command in the scratch directory; fails the test unless it exits 0. The command's
# standard output is returned in `out_var`.
function(run out_var)
  execute_process(COMMAND ${ARGN}
    WORKING_DIRECTORY "${work}"
    RESULT_VARIABLE status
    OUTPUT_VARIABLE out
    ERROR_VARIABLE err)
  if(NOT status EQUAL 0)
    list(JOIN ARGN " " command)
    fail("command failed (${status}): ${command}\n--- stdout\n${out}\n--- stderr\n${err}")
  endif()
  set(${out_var} "${out}" PARENT_SCOPE)
endfunction()

function(require_file path)
  if(NOT EXISTS "${path}")
    fail("not installed: ${path}")
  endif()
endfunction()

# Fails unless JSON text `json` holds `expected` at the given member path.
function(require_json_equal json expected)
  list(JOIN ARGN "." member)
  string(JSON actual ERROR_VARIABLE error GET "${json}" ${ARGN})
  if(error)
    fail("JSON has no ${member}: ${error}\n${json}")
  endif()
  if(NOT actual STREQUAL expected)
    fail("JSON ${member} is '${actual}', expected '${expected}'\n${json}")
  endif()
endfunction()

# Fails unless `products` (the output of `products --json`: one JSON object per line) lists
# product `model` with status `status` and an example-check finding of `outcome` whose message
# holds `words`. Lines are walked with string(FIND), not as a CMake list: JSON text may hold
# `;` and brackets, which CMake lists would split on.
function(require_product products model status outcome words)
  set(rest "${products}")
  while(NOT rest STREQUAL "")
    string(FIND "${rest}" "\n" end)
    if(end EQUAL -1)
      set(line "${rest}")
      set(rest "")
    else()
      string(SUBSTRING "${rest}" 0 ${end} line)
      math(EXPR next "${end} + 1")
      string(SUBSTRING "${rest}" ${next} -1 rest)
    endif()
    if(line STREQUAL "")
      continue()
    endif()
    string(JSON line_model GET "${line}" model)
    if(NOT line_model STREQUAL model)
      continue()
    endif()
    require_json_equal("${line}" "${status}" status)
    string(JSON finding_count LENGTH "${line}" findings)
    if(finding_count GREATER 0)
      math(EXPR last "${finding_count} - 1")
      foreach(index RANGE ${last})
        string(JSON check GET "${line}" findings ${index} check)
        if(check STREQUAL "example-check")
          require_json_equal("${line}" "${outcome}" findings ${index} outcome)
          string(JSON message GET "${line}" findings ${index} message)
          string(FIND "${message}" "${words}" at)
          if(at EQUAL -1)
            fail("product ${model}: example-check says '${message}', without '${words}'")
          endif()
          return()
        endif()
      endforeach()
    endif()
    fail("product ${model} has no example-check finding\n${line}")
  endwhile()
  fail("products --json does not list product ${model}\n${products}")
endfunction()

# 1. Install the build tree into the scratch prefix and check the layout.
run(ignored "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${prefix}")
require_file("${iotreg}")
require_file("${prefix}/include/iotreg/plugin.h")
require_file("${prefix}/include/iotreg/check.hpp")
foreach(file iotregConfig.cmake iotregConfigVersion.cmake iotregTargets.cmake
             IotregPlugin.cmake)
  require_file("${prefix}/${PACKAGE_DIR}/${file}")
endforeach()
set(installed_plugins "${prefix}/${PLUGIN_DIR}")
foreach(plugin IN LISTS BUILTIN_PLUGINS)
  require_file("${installed_plugins}/${plugin}.so")
  require_file("${installed_plugins}/${plugin}.fixtures.yaml")
endforeach()
require_file("${prefix}/share/iotreg/policies/dcms-2019.yaml")
require_file("${prefix}/share/iotreg/policies/psti-2023.yaml")

# 2. The installed binary loads the installed built-in plugins when given no --plugins.
run(builtin_json "${iotreg}" --db "${work}/unused.db" plugins --json)
file(REAL_PATH "${installed_plugins}" installed_plugins_real)
require_json_equal("${builtin_json}" "${installed_plugins_real}" directory)
string(JSON plugin_count LENGTH "${builtin_json}" plugins)
list(LENGTH BUILTIN_PLUGINS builtin_count)
if(NOT plugin_count EQUAL builtin_count)
  fail("the installed iotreg lists ${plugin_count} plugins, expected ${builtin_count}\n"
       "${builtin_json}")
endif()
math(EXPR last "${plugin_count} - 1")
foreach(index RANGE ${last})
  string(JSON file GET "${builtin_json}" plugins ${index} file)
  get_filename_component(name "${file}" NAME_WE)
  if(NOT name IN_LIST BUILTIN_PLUGINS)
    fail("the installed iotreg loaded ${file}, which is no built-in plugin\n${builtin_json}")
  endif()
endforeach()

# 3. Build the template against the installed package only, warnings as errors.
run(ignored "${CMAKE_COMMAND}"
  -S "${SOURCE_DIR}/plugins/template" -B "${template_build}"
  -G "${GENERATOR}"
  "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
  -DCMAKE_BUILD_TYPE=Release
  "-DCMAKE_CXX_FLAGS=-Wall -Wextra -Wpedantic -Werror"
  "-DCMAKE_PREFIX_PATH=${prefix}"
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
  -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
file(STRINGS "${template_build}/CMakeCache.txt" found_dir REGEX "^iotreg_DIR:")
string(REGEX REPLACE "^iotreg_DIR:[A-Z]+=" "" found_dir "${found_dir}")
if(NOT found_dir STREQUAL "${prefix}/${PACKAGE_DIR}")
  fail("the template found iotreg in '${found_dir}', not in the scratch prefix")
endif()
run(ignored "${CMAKE_COMMAND}" --build "${template_build}" -j2)
require_file("${template_build}/example-check.so")
require_file("${template_build}/example-check.fixtures.yaml")

# 4. The installed binary loads the template plugin from its build directory. The default
#    policy names the built-in checks, which that directory lacks: use a policy of its own,
#    which makes the template check mandatory and sets its parameter.
file(WRITE "${work}/example-strict.yaml" [=[
id: example-strict
regime: prohibition
checks:
  example-check:
    level: mandatory
    requirement: Example guidance §1
    parameters: {fail_when_missing: true}
]=])
run(template_json "${iotreg}" --db "${work}/unused.db" --policy "${work}/example-strict.yaml"
    --plugins "${template_build}" plugins --json)
require_json_equal("${template_json}" "example.example-check" plugins 0 id)
require_json_equal("${template_json}" "example-check" plugins 0 checks 0 id)
require_json_equal("${template_json}" "mandatory" plugins 0 checks 0 level)
string(JSON sha256 GET "${template_json}" plugins 0 sha256)
if(NOT sha256 MATCHES "^[0-9a-f]+$")
  fail("the template plugin's sha256 is '${sha256}'\n${template_json}")
endif()
string(LENGTH "${sha256}" sha256_length)
if(NOT sha256_length EQUAL 64)
  fail("the template plugin's sha256 is '${sha256}'\n${template_json}")
endif()

# 5. The fixtures shipped next to the template plugin, and next to the installed built-ins, pass
#    when run by the installed binary.
run(ignored "${iotreg}" plugins test "${template_build}")
run(ignored "${iotreg}" plugins test "${installed_plugins}")

# 6. Import under the default policy with the built-in plugins and the template plugin in one
#    directory: the template check, which the policy does not name, runs as advisory.
set(all_plugins "${work}/all-plugins")
file(MAKE_DIRECTORY "${all_plugins}")
file(GLOB builtin_files "${installed_plugins}/*")
file(COPY ${builtin_files} "${template_build}/example-check.so"
     "${template_build}/example-check.fixtures.yaml" DESTINATION "${all_plugins}")
file(WRITE "${work}/x.yaml" [=[
manufacturer: {name: Acme Ltd}
product: {brand: Acme, model: X1}
declaration: {reference: ACME-DOC-2026-014}
---
manufacturer: {name: Acme Ltd}
product: {brand: Acme, model: X2}
]=])
run(ignored "${iotreg}" --db "${work}/default.db" --plugins "${all_plugins}" --as-of 2026-11-29
    import "${work}/x.yaml")
run(products "${iotreg}" --db "${work}/default.db" products --json)
# Both declarations lack what the built-in mandatory checks require.
require_product("${products}" X1 non_compliant pass "ACME-DOC-2026-014")
require_product("${products}" X2 non_compliant warn "declaration.reference")

# 7. Import under the policy of step 4 with the template plugin alone: the product without a
#    reference fails and is flagged, the other is compliant.
run(ignored "${iotreg}" --db "${work}/strict.db" --policy "${work}/example-strict.yaml"
    --plugins "${template_build}" --as-of 2026-11-29 import "${work}/x.yaml")
run(products "${iotreg}" --db "${work}/strict.db" products --json)
require_product("${products}" X1 compliant pass "ACME-DOC-2026-014")
require_product("${products}" X2 non_compliant fail "declaration.reference")
run(flagged "${iotreg}" --db "${work}/strict.db" products --flagged --json)
require_json_equal("${flagged}" X2 model)
require_json_equal("${flagged}" "Example guidance §1" findings 0 requirement)

file(REMOVE_RECURSE "${work}")
