/* cmd_passes.c — `qpipe passes`: every pass (built-in and plugin) with its origin and parameter table. */
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "plugin/params.h"
#include "plugin/registry.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: qpipe passes [--plugin-path DIRS] [PASS...]\n\n"
            "Lists the passes a pipeline can name: built-in ones and those of every plugin on the search\n"
            "path, each with its version, origin, summary and parameter table (name, type, default,\n"
            "range or choices, help). With PASS names, only those.\n\n"
            "  --plugin-path DIRS  colon-separated directories (or .so files) searched first; may repeat\n"
            "  -h, --help          this text\n\n"
            "Search path, first match wins: --plugin-path, $%s, <dir of qpipe>/plugins,\n"
            "the install's plugin dir. A plugin that fails to load is an error.\n\n"
            "Exit codes: 0 success, 1 bad input (a plugin that fails to load, an unknown PASS), 2 usage error.\n",
            QP_PLUGIN_PATH_ENV);
}

char *cli_exe_dir(void) {
    char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0) return NULL;
    path[n] = '\0';
    char *slash = strrchr(path, '/');
    if (!slash) return NULL;
    *slash = '\0';
    return strdup(path[0] ? path : "/");
}

int cli_load_registry(const char *cmd, const char *plugin_path, qp_registry **out) {
    *out = NULL;
    qp_registry *reg = NULL;
    qp_status st = qp_registry_new(&reg);
    if (st == QP_OK) st = qp_registry_add_builtins(reg);
    if (st == QP_OK) {
        char *exe_dir = cli_exe_dir();
        st = qp_registry_load_search_path(reg, plugin_path, exe_dir);
        free(exe_dir);
    }
    if (st != QP_OK) {
        qp_registry_free(reg);
        return cli_fail(cmd, st);
    }
    *out = reg;
    return QP_EXIT_OK;
}

static int max_int(int a, int b) { return a > b ? a : b; }

static void print_pass(const qp_pass_def *def, const char *origin) {
    printf("%s %s  [%s]\n    %s\n", def->name, def->version, origin, def->summary);
    if (def->n_params == 0) {
        printf("    (no parameters)\n");
        return;
    }
    qp_param_info *info = calloc((size_t)def->n_params, sizeof *info);
    if (!info) return;
    int w_name = 9, w_type = 4, w_default = 7, w_range = 13;
    for (int k = 0; k < def->n_params; k++) {
        qp_params_describe(&def->params[k], &info[k]);
        w_name = max_int(w_name, (int)strlen(def->params[k].name));
        w_type = max_int(w_type, (int)strlen(info[k].type));
        w_default = max_int(w_default, (int)strlen(info[k].default_text));
        w_range = max_int(w_range, (int)strlen(info[k].range));
    }
    printf("    %-*s  %-*s  %-*s  %-*s  %s\n", w_name, "parameter", w_type, "type", w_default, "default", w_range,
           "range/choices", "help");
    for (int k = 0; k < def->n_params; k++)
        printf("    %-*s  %-*s  %-*s  %-*s  %s\n", w_name, def->params[k].name, w_type, info[k].type, w_default,
               info[k].default_text, w_range, info[k].range, def->params[k].help ? def->params[k].help : "");
    free(info);
}

/* Appends "a" to a colon list in *paths (--plugin-path may repeat). */
static int append_path(char **paths, const char *more) {
    size_t old = *paths ? strlen(*paths) : 0;
    char *joined = realloc(*paths, old + strlen(more) + 2);
    if (!joined) return -1;
    if (old) joined[old++] = ':';
    strcpy(joined + old, more);
    *paths = joined;
    return 0;
}

int cmd_passes(int argc, char **argv) {
    static const struct option options[] = {
        {"plugin-path", required_argument, 0, 'p'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    char *plugin_path = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (append_path(&plugin_path, optarg) != 0) {
                free(plugin_path);
                return cli_fail("passes", qp_error(QP_ERR_NOMEM, "out of memory"));
            }
            break;
        case 'h': free(plugin_path); usage(stdout); return QP_EXIT_OK;
        default: free(plugin_path); return cli_usage_error("passes", "unknown option");
        }
    }
    qp_registry *reg = NULL;
    int rc = cli_load_registry("passes", plugin_path, &reg);
    free(plugin_path);
    if (rc != QP_EXIT_OK) return rc;

    if (optind < argc) {
        for (int i = optind; i < argc; i++)
            if (!qp_registry_find(reg, argv[i], NULL)) {
                rc = cli_fail("passes", qp_registry_unknown_pass(reg, NULL, argv[i]));
                qp_registry_free(reg);
                return rc;
            }
        for (int i = optind; i < argc; i++) {
            const char *origin = NULL;
            const qp_pass_def *def = qp_registry_find(reg, argv[i], &origin);
            if (i > optind) printf("\n");
            print_pass(def, origin);
        }
        qp_registry_free(reg);
        return QP_EXIT_OK;
    }

    int n = qp_registry_count(reg);
    for (int i = 0; i < n; i++) {
        const char *origin = NULL;
        const qp_pass_def *def = qp_registry_pass(reg, i, &origin);
        print_pass(def, origin);
        printf("\n");
    }
    printf("%d pass%s.\nplugin search path (first match wins):\n", n, n == 1 ? "" : "es");
    for (int i = 0; i < qp_registry_num_search_entries(reg); i++) {
        const char *entry = qp_registry_search_entry(reg, i);
        struct stat sb;
        printf("  %s%s\n", entry, stat(entry, &sb) == 0 ? "" : " (not found)");
    }
    if (qp_registry_num_notes(reg) > 0) {
        printf("notes:\n");
        for (int i = 0; i < qp_registry_num_notes(reg); i++) printf("  %s\n", qp_registry_note(reg, i));
    }
    qp_registry_free(reg);
    return QP_EXIT_OK;
}
