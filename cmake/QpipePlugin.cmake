# QpipePlugin.cmake — qp_add_plugin(): the one way a qpipe plugin is built, in qpipe's tree and by third parties.
include_guard(GLOBAL)
include(GNUInstallDirs)

# qp_add_plugin(<name> <source>... [OUTPUT_NAME <file name without .so>]
#               [OUTPUT_DIRECTORY <dir>] [NO_INSTALL])
#
# Makes <name>.so, a MODULE library that
#   - compiles against the plugin API headers only and links libqpipe only (target qpipe::qpipe),
#   - exports only its entry symbol (hidden visibility; QP_PLUGIN_DEFINE marks the entry),
#   - refuses to link with unresolved symbols, so calling something libqpipe does not export fails
#     at build time rather than when qpipe loads the plugin,
#   - installs into <prefix>/${CMAKE_INSTALL_LIBDIR}/qpipe/plugins unless NO_INSTALL.
# QP_PLUGIN_COMPILE_OPTIONS, when set, adds compile options (qpipe's tree uses its warning set).
function(qp_add_plugin name)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "NO_INSTALL" "OUTPUT_NAME;OUTPUT_DIRECTORY" "")
  if(NOT ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "qp_add_plugin(${name}): no source files")
  endif()
  add_library(${name} MODULE ${ARG_UNPARSED_ARGUMENTS})
  target_link_libraries(${name} PRIVATE qpipe::qpipe)
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(ARG_OUTPUT_NAME)
    set_target_properties(${name} PROPERTIES OUTPUT_NAME ${ARG_OUTPUT_NAME})
  endif()
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIRECTORY})
  endif()
  if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
    target_link_options(${name} PRIVATE "LINKER:--no-undefined")
  endif()
  if(QP_PLUGIN_COMPILE_OPTIONS)
    target_compile_options(${name} PRIVATE ${QP_PLUGIN_COMPILE_OPTIONS})
  endif()
  # In qpipe's own tree qpipe::qpipe names libqpipe by file (so no host include or link flag leaks
  # into plugins); that needs the build order spelled out.
  if(TARGET qpipe_plugin_sdk)
    add_dependencies(${name} qpipe)
  endif()
  if(NOT ARG_NO_INSTALL)
    install(TARGETS ${name} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/qpipe/plugins)
  endif()
endfunction()
