/* loader.c — finds plugin shared objects on the search path, dlopens them and checks their ABI. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "plugin/registry_internal.h"

#ifndef QP_PLUGIN_INSTALL_DIR
#define QP_PLUGIN_INSTALL_DIR ""
#endif

void qp_registry_free(qp_registry *reg) {
    if (!reg) return;
    for (int i = 0; i < reg->n_passes; i++) free(reg->passes[i].origin);
    free(reg->passes);
    /* Passes point into the plugins' static storage: close only after the table is gone. */
    for (int i = reg->n_plugins - 1; i >= 0; i--) {
        if (reg->plugins[i].handle) dlclose(reg->plugins[i].handle);
        free(reg->plugins[i].path);
        free(reg->plugins[i].realpath);
    }
    free(reg->plugins);
    for (int i = 0; i < reg->n_notes; i++) free(reg->notes[i]);
    free(reg->notes);
    qp_plugin_search_path_free(reg->search);
    free(reg);
}

static qp_status remember_plugin(qp_registry *reg, void *handle, const char *path, const char *real) {
    if (reg->n_plugins == reg->cap_plugins) {
        int cap = reg->cap_plugins ? reg->cap_plugins * 2 : 8;
        registry_plugin *bigger = realloc(reg->plugins, (size_t)cap * sizeof *bigger);
        if (!bigger) return qp_error(QP_ERR_NOMEM, "out of memory loading %s", path);
        reg->plugins = bigger;
        reg->cap_plugins = cap;
    }
    char *path_copy = strdup(path), *real_copy = strdup(real);
    if (!path_copy || !real_copy) {
        free(path_copy);
        free(real_copy);
        return qp_error(QP_ERR_NOMEM, "out of memory loading %s", path);
    }
    reg->plugins[reg->n_plugins++] = (registry_plugin){handle, path_copy, real_copy};
    return QP_OK;
}

static const registry_plugin *find_loaded(const qp_registry *reg, const char *real) {
    for (int i = 0; i < reg->n_plugins; i++)
        if (strcmp(reg->plugins[i].realpath, real) == 0) return &reg->plugins[i];
    return NULL;
}

/* dlopen's message, without the file name it usually starts with (the caller names the file). */
static const char *dl_reason(const char *message, const char *opened) {
    if (!message) return "unknown dlopen error";
    size_t n = strlen(opened);
    if (strncmp(message, opened, n) == 0 && strncmp(message + n, ": ", 2) == 0) return message + n + 2;
    return message;
}

/* Checks the plugin behind an open handle and registers its passes. On QP_OK the registry owns
 * the handle; *declined says the plugin asked not to be loaded (the caller closes the handle). */
static qp_status load_opened(qp_registry *reg, void *handle, const char *path, const char *real, int *declined) {
    *declined = 0;
    dlerror();
    void *symbol = dlsym(handle, QP_PLUGIN_ENTRY_SYMBOL);
    if (!symbol) return qp_error(QP_ERR_ABI, "%s: not a qpipe plugin (no %s symbol)", path, QP_PLUGIN_ENTRY_SYMBOL);
    qp_plugin_entry_fn entry;
    memcpy(&entry, &symbol, sizeof entry); /* object pointer to function pointer, as POSIX allows */
    const qp_plugin_desc *desc = entry(QP_ABI_VERSION_MAJOR, QP_ABI_VERSION_MINOR);
    if (!desc) {
        /* Declining is the plugin's call (wrong CPU, host too old for it): not an error, but visible. */
        *declined = 1;
        qp_status st = qp_registry_add_note(reg, "%s: declined to load (its %s returned NULL)", path,
                                            QP_PLUGIN_ENTRY_SYMBOL);
        return st == QP_OK ? remember_plugin(reg, NULL, path, real) : st;
    }
    if (desc->abi_major != QP_ABI_VERSION_MAJOR)
        return qp_error(QP_ERR_ABI,
                        "%s: built for qpipe plugin ABI %u.%u, but this qpipe implements ABI %d.%d (major versions "
                        "must match: rebuild the plugin against this qpipe)",
                        path, (unsigned)desc->abi_major, (unsigned)desc->abi_minor, QP_ABI_VERSION_MAJOR,
                        QP_ABI_VERSION_MINOR);
    if (desc->abi_minor > QP_ABI_VERSION_MINOR)
        return qp_error(QP_ERR_ABI,
                        "%s: built for a newer host (plugin ABI %u.%u, this qpipe implements ABI %d.%d): upgrade "
                        "qpipe or rebuild the plugin against this one",
                        path, (unsigned)desc->abi_major, (unsigned)desc->abi_minor, QP_ABI_VERSION_MAJOR,
                        QP_ABI_VERSION_MINOR);
    if (desc->n_passes < 0 || (desc->n_passes > 0 && !desc->passes))
        return qp_error(QP_ERR_INVALID_ARG, "%s: plugin descriptor has a bad pass table (n_passes %d, passes %s)",
                        path, desc->n_passes, desc->passes ? "set" : "NULL");
    /* Remember the handle first: once passes are in the table, the handle must stay open. */
    qp_status st = remember_plugin(reg, handle, path, real);
    if (st != QP_OK) return st;
    st = qp_registry_add_batch(reg, desc->passes, desc->n_passes, path);
    if (st != QP_OK) {
        registry_plugin *last = &reg->plugins[--reg->n_plugins];
        free(last->path);
        free(last->realpath);
    }
    return st;
}

qp_status qp_registry_load_file(qp_registry *reg, const char *path) {
    if (!reg || !path || !*path) return qp_error(QP_ERR_INVALID_ARG, "qp_registry_load_file: no path");
    char *real = realpath(path, NULL);
    if (!real) return qp_error(QP_ERR_IO, "%s: cannot open plugin: %s", path, strerror(errno));
    if (find_loaded(reg, real)) {
        free(real);
        return QP_OK;
    }
    /* A bare name would make dlopen search LD_LIBRARY_PATH instead of opening this file. */
    char opened[PATH_MAX + 2];
    snprintf(opened, sizeof opened, "%s%s", strchr(path, '/') ? "" : "./", path);
    void *handle = dlopen(opened, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *reason = dl_reason(dlerror(), opened);
        qp_status st;
        if (strstr(reason, "undefined symbol"))
            st = qp_error(QP_ERR_ABI,
                          "%s: cannot load plugin: %s (it calls something this qpipe or its libraries do not "
                          "provide: built against a newer qpipe?)",
                          path, reason);
        else
            st = qp_error(QP_ERR_IO, "%s: cannot load plugin: %s", path, reason);
        free(real);
        return st;
    }
    int declined = 0;
    qp_status st = load_opened(reg, handle, path, real, &declined);
    free(real);
    if (st != QP_OK || declined) dlclose(handle);
    return st;
}

/* ---- search path ------------------------------------------------------------------------- */

typedef struct string_list {
    char **items; /* NULL-terminated */
    int n, cap;
} string_list;

static int list_contains(const string_list *list, const char *s) {
    for (int i = 0; i < list->n; i++)
        if (strcmp(list->items[i], s) == 0) return 1;
    return 0;
}

static qp_status list_push_owned(string_list *list, char *s) {
    if (!s) return qp_error(QP_ERR_NOMEM, "out of memory building the plugin search path");
    if (list->n + 2 > list->cap) {
        int cap = list->cap ? list->cap * 2 : 16;
        char **bigger = realloc(list->items, (size_t)cap * sizeof *bigger);
        if (!bigger) {
            free(s);
            return qp_error(QP_ERR_NOMEM, "out of memory building the plugin search path");
        }
        list->items = bigger;
        list->cap = cap;
    }
    list->items[list->n++] = s;
    list->items[list->n] = NULL;
    return QP_OK;
}

static qp_status list_add_unique(string_list *list, const char *s, size_t len) {
    char *copy = strndup(s, len);
    if (copy && list_contains(list, copy)) {
        free(copy);
        return QP_OK;
    }
    return list_push_owned(list, copy);
}

static qp_status list_add_colon_separated(string_list *list, const char *paths) {
    if (!paths) return QP_OK;
    for (const char *start = paths; *start;) {
        const char *colon = strchr(start, ':');
        size_t len = colon ? (size_t)(colon - start) : strlen(start);
        if (len) {
            qp_status st = list_add_unique(list, start, len);
            if (st != QP_OK) return st;
        }
        start += len + (colon ? 1 : 0);
    }
    return QP_OK;
}

static void list_free(string_list *list) {
    for (int i = 0; i < list->n; i++) free(list->items[i]);
    free(list->items);
    *list = (string_list){0};
}

void qp_plugin_search_path_free(char **entries) {
    if (!entries) return;
    for (char **e = entries; *e; e++) free(*e);
    free(entries);
}

qp_status qp_plugin_search_path(const char *cli_paths, const char *env_paths, const char *exe_dir,
                                const char *install_dir, char ***entries, int *n_entries) {
    if (!entries) return qp_error(QP_ERR_INVALID_ARG, "qp_plugin_search_path: entries is NULL");
    string_list list = {0};
    qp_status st = list_add_colon_separated(&list, cli_paths);
    if (st == QP_OK) st = list_add_colon_separated(&list, env_paths);
    if (st == QP_OK && exe_dir && *exe_dir) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s/plugins", exe_dir);
        st = list_add_unique(&list, dir, strlen(dir));
#ifdef QP_PLUGIN_RELATIVE_DIR
        if (st == QP_OK) {
            snprintf(dir, sizeof dir, "%s/%s", exe_dir, QP_PLUGIN_RELATIVE_DIR);
            st = list_add_unique(&list, dir, strlen(dir));
        }
#endif
    }
    if (st == QP_OK && install_dir && *install_dir) st = list_add_unique(&list, install_dir, strlen(install_dir));
    if (st == QP_OK && !list.items && !(list.items = calloc(1, sizeof *list.items)))
        st = qp_error(QP_ERR_NOMEM, "out of memory building the plugin search path");
    if (st != QP_OK) {
        list_free(&list);
        return st;
    }
    *entries = list.items;
    if (n_entries) *n_entries = list.n;
    return QP_OK;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int ends_with_so(const char *name) {
    size_t n = strlen(name);
    return n > 3 && strcmp(name + n - 3, ".so") == 0;
}

/* The plugin files of one directory, sorted (strcmp: the same order in every locale). */
static qp_status list_directory(const char *dir, string_list *files) {
    DIR *d = opendir(dir);
    if (!d) return qp_error(QP_ERR_IO, "%s: cannot read plugin directory: %s", dir, strerror(errno));
    qp_status st = QP_OK;
    struct dirent *e;
    while (st == QP_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || !ends_with_so(e->d_name)) continue;
        st = list_push_owned(files, strdup(e->d_name));
    }
    closedir(d);
    if (st == QP_OK && files->n > 1) qsort(files->items, (size_t)files->n, sizeof *files->items, compare_names);
    return st;
}

/* First path seen for each plugin file name in this search: a later same-named file is shadowed. */
typedef struct seen_names {
    string_list names, paths, reals;
} seen_names;

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static qp_status load_one(qp_registry *reg, seen_names *seen, const char *path) {
    const char *name = base_name(path);
    for (int i = 0; i < seen->names.n; i++) {
        if (strcmp(seen->names.items[i], name) != 0) continue;
        char *real = realpath(path, NULL);
        int same = real && strcmp(real, seen->reals.items[i]) == 0;
        free(real);
        if (same) return QP_OK;
        return qp_registry_add_note(reg, "%s: shadowed by %s (earlier on the search path)", path,
                                    seen->paths.items[i]);
    }
    qp_status st = qp_registry_load_file(reg, path);
    if (st != QP_OK) return st;
    char *real = realpath(path, NULL);
    if (!real) return QP_OK; /* vanished after loading: nothing to shadow by */
    st = list_push_owned(&seen->names, strdup(name));
    if (st == QP_OK) st = list_push_owned(&seen->paths, strdup(path));
    if (st == QP_OK) st = list_push_owned(&seen->reals, real);
    else free(real);
    return st;
}

qp_status qp_registry_load_paths(qp_registry *reg, char *const *entries, int n_entries) {
    if (!reg || n_entries < 0 || (n_entries > 0 && !entries))
        return qp_error(QP_ERR_INVALID_ARG, "qp_registry_load_paths: bad arguments");
    seen_names seen = {{0}, {0}, {0}};
    string_list dirs_done = {0};
    qp_status st = QP_OK;
    for (int i = 0; i < n_entries && st == QP_OK; i++) {
        const char *entry = entries[i];
        struct stat sb;
        if (!entry || !*entry) continue;
        if (stat(entry, &sb) != 0) {
            if (errno == ENOENT || errno == ENOTDIR) continue; /* an absent directory is normal */
            st = qp_error(QP_ERR_IO, "%s: cannot read plugin path entry: %s", entry, strerror(errno));
            break;
        }
        if (!S_ISDIR(sb.st_mode)) {
            st = load_one(reg, &seen, entry);
            continue;
        }
        char *real = realpath(entry, NULL);
        if (!real) continue;
        if (list_contains(&dirs_done, real)) {
            free(real);
            continue;
        }
        st = list_push_owned(&dirs_done, real);
        string_list files = {0};
        if (st == QP_OK) st = list_directory(entry, &files);
        for (int k = 0; k < files.n && st == QP_OK; k++) {
            char path[PATH_MAX];
            int len = snprintf(path, sizeof path, "%s%s%s", entry, entry[strlen(entry) - 1] == '/' ? "" : "/",
                               files.items[k]);
            if (len < 0 || (size_t)len >= sizeof path) {
                st = qp_error(QP_ERR_IO, "%s/%s: path too long", entry, files.items[k]);
                break;
            }
            struct stat fb;
            if (stat(path, &fb) != 0 || !S_ISREG(fb.st_mode)) continue; /* a folder named x.so, a dangling link */
            st = load_one(reg, &seen, path);
        }
        list_free(&files);
    }
    list_free(&seen.names);
    list_free(&seen.paths);
    list_free(&seen.reals);
    list_free(&dirs_done);
    return st;
}

qp_status qp_registry_load_search_path(qp_registry *reg, const char *cli_paths, const char *exe_dir) {
    if (!reg) return qp_error(QP_ERR_INVALID_ARG, "qp_registry_load_search_path: reg is NULL");
    char **entries = NULL;
    int n = 0;
    qp_status st = qp_plugin_search_path(cli_paths, getenv(QP_PLUGIN_PATH_ENV), exe_dir, QP_PLUGIN_INSTALL_DIR,
                                         &entries, &n);
    if (st != QP_OK) return st;
    qp_plugin_search_path_free(reg->search);
    reg->search = entries;
    reg->n_search = n;
    return qp_registry_load_paths(reg, entries, n);
}
