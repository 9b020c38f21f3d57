# check_doc.cmake — regenerates the supported-ops table and compares it with the committed one.
execute_process(COMMAND ${RUNNER} --jobs 2 --markdown ${OUT} OUTPUT_QUIET RESULT_VARIABLE rc)
if(NOT EXISTS ${OUT})
  message(FATAL_ERROR "qp_conformance did not write ${OUT} (exit ${rc})")
endif()
file(READ ${OUT} generated)
file(READ ${DOC} committed)
if(NOT generated STREQUAL committed)
  message(FATAL_ERROR "docs/supported_ops.md is stale: regenerate it with\n"
                      "  ${RUNNER} --markdown ${DOC}")
endif()
message(STATUS "docs/supported_ops.md matches the conformance run")
