/* registry.h — the one table of passes (built-in and plugin) the pipeline names, and the plugin loader. */
#ifndef QPIPE_PLUGIN_REGISTRY_H
#define QPIPE_PLUGIN_REGISTRY_H

#include <stddef.h>

#include "qpipe/qp_plugin.h"
#include "qpipe/qp_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Origin of the passes compiled into libqpipe. Plugin passes have their .so path as origin. */
#define QP_ORIGIN_BUILTIN "built-in"

/* Environment variable searched after --plugin-path. */
#define QP_PLUGIN_PATH_ENV "QPIPE_PLUGIN_PATH"

typedef struct qp_registry qp_registry;

QP_API qp_status qp_registry_new(qp_registry **out);
/* Frees the registry and closes the plugins it loaded: every qp_pass_def it handed out (and any
 * qp_params made from one) is invalid afterwards. */
QP_API void qp_registry_free(qp_registry *reg);

/* Registers one pass after checking it: name [a-z0-9_]+ and not taken, run set, version and
 * summary set, and a sound parameter table (names [a-z0-9_]+ and unique, known types, ENUM with
 * choices, defaults that pass their own validation). `def` must outlive the registry; origin is
 * copied. Messages start with the origin. */
QP_API qp_status qp_registry_add(qp_registry *reg, const qp_pass_def *def, const char *origin);
/* Registers host/lib/passes/builtin.h's table with origin QP_ORIGIN_BUILTIN. */
QP_API qp_status qp_registry_add_builtins(qp_registry *reg);

/* Loads one plugin file: dlopen(RTLD_NOW | RTLD_LOCAL), the entry symbol, the ABI check, then
 * every pass it describes, all or nothing. A file already loaded (same realpath) is skipped with
 * QP_OK. A plugin whose entry returns NULL has declined: QP_OK, no passes, and a note (see
 * qp_registry_num_notes). The handle stays open until qp_registry_free. */
QP_API qp_status qp_registry_load_file(qp_registry *reg, const char *path);

/* Loads every plugin reachable through `entries`, in order. An entry is a directory (every
 * "*.so" in it, sorted by name, hidden files skipped) or a plugin file. An entry that does not
 * exist is skipped silently; a plugin that fails to load is an error. A plugin file name already
 * loaded from an earlier entry shadows later files of that name (like PATH: a build tree's
 * calib_kl.so hides an installed one), and a file reached twice (same realpath) loads once. */
QP_API qp_status qp_registry_load_paths(qp_registry *reg, char *const *entries, int n_entries);

/* The search path, in order: the colon-separated cli_paths (--plugin-path), then env_paths
 * ($QPIPE_PLUGIN_PATH), then "<exe_dir>/plugins" (the build tree), then the install dir relative
 * to exe_dir (a relocated install), then install_dir. NULL or empty parts are left out; empty
 * list items are ignored; equal entries are listed once. *entries is NULL-terminated; free it
 * with qp_plugin_search_path_free. */
QP_API qp_status qp_plugin_search_path(const char *cli_paths, const char *env_paths, const char *exe_dir,
                                       const char *install_dir, char ***entries, int *n_entries);
QP_API void qp_plugin_search_path_free(char **entries);

/* What the CLI calls: qp_plugin_search_path(cli_paths, $QPIPE_PLUGIN_PATH, exe_dir,
 * QP_PLUGIN_INSTALL_DIR) then qp_registry_load_paths. exe_dir is the directory of the running
 * qpipe executable (the caller knows it; the library does not guess), or NULL. */
QP_API qp_status qp_registry_load_search_path(qp_registry *reg, const char *cli_paths, const char *exe_dir);

/* The directories and files qp_registry_load_search_path searched (for `qpipe passes`). */
QP_API int qp_registry_num_search_entries(const qp_registry *reg);
QP_API const char *qp_registry_search_entry(const qp_registry *reg, int i);

/* Passes, sorted by name. */
QP_API int qp_registry_count(const qp_registry *reg);
QP_API const qp_pass_def *qp_registry_pass(const qp_registry *reg, int i, const char **origin);
/* NULL when no pass has that name; *origin (optional) is "built-in" or the plugin path. */
QP_API const qp_pass_def *qp_registry_find(const qp_registry *reg, const char *name, const char **origin);

/* Plugins that loaded without passes or were passed over: "<path>: declined to load (its entry
 * returned NULL)", "<path>: shadowed by <earlier path>". For `qpipe passes`. */
QP_API int qp_registry_num_notes(const qp_registry *reg);
QP_API const char *qp_registry_note(const qp_registry *reg, int i);

/* ---- messages for names that are not registered ------------------------------------------ */

/* Writes "a, b, c" (every registered pass, sorted; "none" when empty) into buf, ending in
 * ", ..." when it does not fit. Returns buf. */
QP_API const char *qp_registry_known_list(const qp_registry *reg, char *buf, size_t size);
/* The registered name closest to `name` by edit distance, NULL when none is close enough to be a
 * likely typo. */
QP_API const char *qp_registry_closest(const qp_registry *reg, const char *name);
/* Records and returns QP_ERR_INVALID_ARG with the standard message:
 * "<where>: unknown pass 'calib_kll' (did you mean 'calib_kl'? known: calib_kl, calib_minmax)".
 * where ("file:line:col") may be NULL. */
QP_API qp_status qp_registry_unknown_pass(const qp_registry *reg, const char *where, const char *name);

/* The candidate closest to `name` by edit distance (optimal string alignment), NULL when the best
 * needs more than max(1, strlen(name) / 3) edits. Shared by every "did you mean" message. */
const char *qp_closest_name(const char *name, const char *const *candidates, int n_candidates);

#ifdef __cplusplus
}
#endif
#endif
