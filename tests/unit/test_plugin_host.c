/* test_plugin_host.c — the pass registry, the plugin loader (fixture plugins), the search path and pass parameters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_support.h"

#include "fixture_plugins.h"
#include "passes/builtin.h"
#include "plugin/params.h"
#include "plugin/registry.h"

#ifndef QP_FIXTURE_PLUGIN_DIR
#error "QP_FIXTURE_PLUGIN_DIR comes from tests/fixtures/plugins/CMakeLists.txt"
#endif

#define FIXTURE(dir) QP_FIXTURE_PLUGIN_DIR "/" dir
#define GOOD_SO FIXTURE("good/good.so")

#define assert_message_contains(text)                                                                  \
    do {                                                                                               \
        if (!strstr(qp_error_message(), (text)))                                                       \
            fail_msg("message '%s' lacks '%s'", qp_error_message(), (text));                           \
    } while (0)

static qp_status run_ok(qp_session *session, const qp_params *params, void *user) {
    (void)session;
    (void)params;
    (void)user;
    return QP_OK;
}

static qp_registry *new_registry(void) {
    qp_registry *reg = NULL;
    assert_int_equal(qp_registry_new(&reg), QP_OK);
    assert_non_null(reg);
    return reg;
}

/* ---- registry ------------------------------------------------------------------------------ */

static void test_registry_add_find_sorted(void **state) {
    (void)state;
    static const qp_pass_def zeta = {.name = "zeta", .version = "1", .summary = "z", .run = run_ok};
    static const qp_pass_def alpha = {.name = "alpha", .version = "2", .summary = "a", .run = run_ok};
    static const qp_pass_def mid_9 = {.name = "mid_9", .version = "3", .summary = "m", .run = run_ok};
    qp_registry *reg = new_registry();
    assert_int_equal(qp_registry_add(reg, &zeta, "z.so"), QP_OK);
    assert_int_equal(qp_registry_add(reg, &alpha, QP_ORIGIN_BUILTIN), QP_OK);
    assert_int_equal(qp_registry_add(reg, &mid_9, "m.so"), QP_OK);
    assert_int_equal(qp_registry_count(reg), 3);
    const char *origin = NULL;
    assert_ptr_equal(qp_registry_pass(reg, 0, &origin), &alpha);
    assert_string_equal(origin, "built-in");
    assert_ptr_equal(qp_registry_pass(reg, 1, NULL), &mid_9);
    assert_ptr_equal(qp_registry_pass(reg, 2, &origin), &zeta);
    assert_string_equal(origin, "z.so");
    assert_null(qp_registry_pass(reg, 3, NULL));
    assert_ptr_equal(qp_registry_find(reg, "mid_9", &origin), &mid_9);
    assert_string_equal(origin, "m.so");
    assert_null(qp_registry_find(reg, "mid", NULL));
    qp_registry_free(reg);
}

static void test_registry_refuses_duplicate(void **state) {
    (void)state;
    static const qp_pass_def a = {.name = "calib_kl", .version = "1", .summary = "s", .run = run_ok};
    static const qp_pass_def b = {.name = "calib_kl", .version = "2", .summary = "s", .run = run_ok};
    qp_registry *reg = new_registry();
    assert_int_equal(qp_registry_add(reg, &a, "/p/A.so"), QP_OK);
    assert_int_equal(qp_registry_add(reg, &b, "/p/B.so"), QP_ERR_INVALID_ARG);
    assert_string_equal(qp_error_message(), "pass 'calib_kl' from /p/B.so is already provided by /p/A.so");
    assert_int_equal(qp_registry_count(reg), 1);
    const char *origin = NULL;
    assert_ptr_equal(qp_registry_find(reg, "calib_kl", &origin), &a);
    assert_string_equal(origin, "/p/A.so");
    qp_registry_free(reg);
}

static void test_registry_refuses_bad_passes(void **state) {
    (void)state;
    static const qp_pass_def bad[] = {
        {.name = "Calib", .version = "1", .summary = "s", .run = run_ok},
        {.name = "", .version = "1", .summary = "s", .run = run_ok},
        {.name = "a-b", .version = "1", .summary = "s", .run = run_ok},
        {.name = NULL, .version = "1", .summary = "s", .run = run_ok},
        {.name = "no_run", .version = "1", .summary = "s", .run = NULL},
        {.name = "no_version", .version = NULL, .summary = "s", .run = run_ok},
        {.name = "no_summary", .version = "1", .summary = NULL, .run = run_ok},
        {.name = "bad_table", .version = "1", .summary = "s", .run = run_ok, .params = NULL, .n_params = 2},
    };
    static const char *const expect[] = {"'Calib' is invalid", "'' is invalid", "'a-b' is invalid", "has no name",
                                         "no run function", "no version", "no summary", "bad parameter table"};
    qp_registry *reg = new_registry();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(qp_registry_add(reg, &bad[i], "bad.so"), QP_ERR_INVALID_ARG);
        assert_message_contains("bad.so: ");
        assert_message_contains(expect[i]);
    }
    assert_int_equal(qp_registry_count(reg), 0);
    assert_int_equal(qp_registry_add(reg, NULL, "x.so"), QP_ERR_INVALID_ARG);
    qp_registry_free(reg);
}

static void test_registry_refuses_bad_param_tables(void **state) {
    (void)state;
    static const qp_param_def dup[] = {
        {.name = "bins", .type = QP_PARAM_INT, .default_value = "1", .min = 1, .max = 0},
        {.name = "bins", .type = QP_PARAM_FLOAT, .default_value = "1", .min = 1, .max = 0},
    };
    static const qp_param_def unknown_type[] = {{.name = "x", .type = (qp_param_type)99, .default_value = "1"}};
    static const qp_param_def enum_no_choices[] = {{.name = "mode", .type = QP_PARAM_ENUM, .default_value = "a"}};
    static const qp_param_def enum_empty_choice[] = {
        {.name = "mode", .type = QP_PARAM_ENUM, .default_value = "a", .choices = "a||b"}};
    static const qp_param_def enum_twice[] = {
        {.name = "mode", .type = QP_PARAM_ENUM, .default_value = "a", .choices = "a|b|a"}};
    static const qp_param_def int_out_of_range[] = {
        {.name = "bins", .type = QP_PARAM_INT, .default_value = "9", .min = 128, .max = 65536}};
    static const qp_param_def bool_bad_default[] = {{.name = "on", .type = QP_PARAM_BOOL, .default_value = "maybe"}};
    static const qp_param_def enum_bad_default[] = {
        {.name = "mode", .type = QP_PARAM_ENUM, .default_value = "c", .choices = "a|b"}};
    static const qp_param_def float_bad_default[] = {
        {.name = "ratio", .type = QP_PARAM_FLOAT, .default_value = "half", .min = 0, .max = 1}};
    static const qp_param_def bad_param_name[] = {{.name = "Bins", .type = QP_PARAM_INT, .default_value = "1"}};
    static const qp_param_def unnamed[] = {{.name = NULL, .type = QP_PARAM_INT, .default_value = "1"}};
    struct {
        const qp_param_def *params;
        const char *expect;
    } cases[] = {
        {dup, "parameter 'bins' is declared twice"},
        {unknown_type, "parameter 'x' has unknown type 99"},
        {enum_no_choices, "parameter 'mode' is an enum without choices"},
        {enum_empty_choice, "empty choice in 'a||b'"},
        {enum_twice, "lists choice 'a' twice"},
        {int_out_of_range, "parameter 'bins': invalid default: must be in [128, 65536], got 9"},
        {bool_bad_default, "parameter 'on': invalid default: wants a bool"},
        {enum_bad_default, "parameter 'mode': invalid default: wants one of a, b; got 'c'"},
        {float_bad_default, "parameter 'ratio': invalid default: wants a number, got 'half'"},
        {bad_param_name, "parameter name 'Bins' is invalid"},
        {unnamed, "a parameter has no name"},
    };
    qp_registry *reg = new_registry();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        qp_pass_def def = {.name = "p", .version = "1", .summary = "s", .run = run_ok, .params = cases[i].params,
                           .n_params = cases[i].params == dup ? 2 : 1};
        assert_int_equal(qp_registry_add(reg, &def, "t.so"), QP_ERR_INVALID_ARG);
        assert_message_contains("t.so: pass 'p': ");
        assert_message_contains(cases[i].expect);
    }
    assert_int_equal(qp_registry_count(reg), 0);
    qp_registry_free(reg);
}

static void test_registry_builtins(void **state) {
    (void)state;
    qp_registry *reg = new_registry();
    assert_int_equal(qp_registry_add_builtins(reg), QP_OK);
    int n = 0;
    while (qp_builtin_passes[n]) n++;
    assert_int_equal(qp_registry_count(reg), n);
    for (int i = 0; i < n; i++) {
        const char *origin = NULL;
        assert_ptr_equal(qp_registry_find(reg, qp_builtin_passes[i]->name, &origin), qp_builtin_passes[i]);
        assert_string_equal(origin, QP_ORIGIN_BUILTIN);
    }
    if (n > 0) {
        assert_int_equal(qp_registry_add(reg, qp_builtin_passes[0], "/x/clash.so"), QP_ERR_INVALID_ARG);
        assert_message_contains("from /x/clash.so is already provided by the built-in passes");
    }
    qp_registry_free(reg);
}

static void test_unknown_pass_messages(void **state) {
    (void)state;
    static const qp_pass_def defs[] = {
        {.name = "calib_kl", .version = "1", .summary = "s", .run = run_ok},
        {.name = "calib_minmax", .version = "1", .summary = "s", .run = run_ok},
        {.name = "cle", .version = "1", .summary = "s", .run = run_ok},
    };
    qp_registry *reg = new_registry();
    char known[256];
    assert_string_equal(qp_registry_known_list(reg, known, sizeof known), "none");
    for (int i = 0; i < 3; i++) assert_int_equal(qp_registry_add(reg, &defs[i], "x.so"), QP_OK);
    assert_string_equal(qp_registry_known_list(reg, known, sizeof known), "calib_kl, calib_minmax, cle");
    /* Too small for all names: ends in an ellipsis, never overflows. */
    char small[20];
    qp_registry_known_list(reg, small, sizeof small);
    assert_string_equal(small, "calib_kl, ...");
    assert_string_equal(qp_registry_closest(reg, "calib_kll"), "calib_kl");
    assert_string_equal(qp_registry_closest(reg, "cel"), "cle");
    assert_null(qp_registry_closest(reg, "adaround"));
    assert_int_equal(qp_registry_unknown_pass(reg, "pipelines/x.yaml:12:5", "calib_kll"), QP_ERR_INVALID_ARG);
    assert_string_equal(qp_error_message(), "pipelines/x.yaml:12:5: unknown pass 'calib_kll' (did you mean "
                                            "'calib_kl'? known: calib_kl, calib_minmax, cle)");
    assert_int_equal(qp_registry_unknown_pass(reg, NULL, "adaround"), QP_ERR_INVALID_ARG);
    assert_string_equal(qp_error_message(), "unknown pass 'adaround' (known: calib_kl, calib_minmax, cle)");
    qp_registry_free(reg);
}

static void test_closest_name(void **state) {
    (void)state;
    const char *names[] = {"bins", "method", "symmetric"};
    assert_string_equal(qp_closest_name("binz", names, 3), "bins");
    assert_string_equal(qp_closest_name("bnis", names, 3), "bins"); /* a swap is one edit */
    assert_string_equal(qp_closest_name("symetric", names, 3), "symmetric");
    assert_null(qp_closest_name("xyz", names, 3));
    assert_null(qp_closest_name("b", names, 0));
}

/* ---- loader ------------------------------------------------------------------------------- */

static void test_load_good_plugin(void **state) {
    (void)state;
    qp_registry *reg = new_registry();
    assert_int_equal(qp_registry_load_file(reg, GOOD_SO), QP_OK);
    assert_int_equal(qp_registry_count(reg), 2);
    const char *origin = NULL;
    const qp_pass_def *alpha = qp_registry_find(reg, "alpha", &origin);
    assert_non_null(alpha);
    assert_string_equal(origin, GOOD_SO);
    assert_string_equal(alpha->version, "1.2.3");
    assert_int_equal(alpha->n_params, 5);
    assert_non_null(qp_registry_find(reg, "beta", NULL));

    /* The plugin reads its parameters through libqpipe's exported getters. */
    qp_params *params = NULL;
    assert_int_equal(qp_params_new(alpha, &params), QP_OK);
    assert_int_equal(qp_params_set(params, "bins", "512", "t.yaml:1:1"), QP_OK);
    assert_int_equal(qp_params_set(params, "method", "mse", NULL), QP_OK);
    assert_int_equal(qp_params_set(params, "path", "out/x.onnx", NULL), QP_OK);
    assert_int_equal(qp_params_check_required(params, NULL), QP_OK);
    fixture_alpha_seen seen = {.undeclared = -1};
    assert_int_equal(alpha->run(NULL, params, &seen), QP_OK);
    assert_int_equal(seen.bins, 512);
    assert_true(seen.scale == 0.5);
    assert_int_equal(seen.symmetric, 1);
    assert_string_equal(seen.method, "mse");
    assert_string_equal(seen.path, "out/x.onnx");
    assert_int_equal(seen.undeclared, 0);
    qp_params_free(params);

    /* Loading the same file again (any spelling of its path) is a no-op. */
    assert_int_equal(qp_registry_load_file(reg, FIXTURE("good/../good/good.so")), QP_OK);
    assert_int_equal(qp_registry_count(reg), 2);
    qp_registry_free(reg);
}

static void expect_load_error(const char *path, qp_status want, const char *text) {
    qp_registry *reg = new_registry();
    assert_int_equal(qp_registry_load_file(reg, path), want);
    assert_message_contains(path);
    assert_message_contains(text);
    assert_int_equal(qp_registry_count(reg), 0);
    qp_registry_free(reg);
}

static void test_load_wrong_abi_major(void **state) {
    (void)state;
    char text[160]; /* the fixture is built for major + 1 with the host's minor */
    snprintf(text, sizeof text, "built for qpipe plugin ABI %d.%d, but this qpipe implements ABI %d.%d",
             QP_ABI_VERSION_MAJOR + 1, QP_ABI_VERSION_MINOR, QP_ABI_VERSION_MAJOR, QP_ABI_VERSION_MINOR);
    expect_load_error(FIXTURE("abi_major/abi_major.so"), QP_ERR_ABI, text);
}

static void test_load_newer_abi_minor(void **state) {
    (void)state;
    char want[128];
    snprintf(want, sizeof want, "built for a newer host (plugin ABI %d.%d, this qpipe implements ABI %d.%d)",
             QP_ABI_VERSION_MAJOR, QP_ABI_VERSION_MINOR + 1, QP_ABI_VERSION_MAJOR, QP_ABI_VERSION_MINOR);
    expect_load_error(FIXTURE("abi_minor/abi_minor.so"), QP_ERR_ABI, want);
}

static void test_load_no_entry_symbol(void **state) {
    (void)state;
    expect_load_error(FIXTURE("no_entry/no_entry.so"), QP_ERR_ABI, "not a qpipe plugin (no qp_plugin_entry symbol)");
}

static void test_load_undefined_symbol(void **state) {
    (void)state;
    expect_load_error(FIXTURE("undefined/undefined.so"), QP_ERR_ABI, "qp_fixture_function_from_the_future");
}

static void test_load_bad_param_table_is_all_or_nothing(void **state) {
    (void)state;
    expect_load_error(FIXTURE("bad_params/bad_params.so"), QP_ERR_INVALID_ARG,
                      "pass 'broken_pass': parameter 'mode' is an enum without choices");
}

static void test_load_declining_plugin(void **state) {
    (void)state;
    qp_registry *reg = new_registry();
    assert_int_equal(qp_registry_load_file(reg, FIXTURE("declines/declines.so")), QP_OK);
    assert_int_equal(qp_registry_count(reg), 0);
    assert_int_equal(qp_registry_num_notes(reg), 1);
    assert_non_null(strstr(qp_registry_note(reg, 0), FIXTURE("declines/declines.so")));
    assert_non_null(strstr(qp_registry_note(reg, 0), "declined"));
    qp_registry_free(reg);
}

static void test_load_duplicate_across_plugins(void **state) {
    (void)state;
    qp_registry *reg = new_registry();
    assert_int_equal(qp_registry_load_file(reg, GOOD_SO), QP_OK);
    assert_int_equal(qp_registry_load_file(reg, FIXTURE("dup/dup.so")), QP_ERR_INVALID_ARG);
    assert_string_equal(qp_error_message(),
                        "pass 'alpha' from " FIXTURE("dup/dup.so") " is already provided by " GOOD_SO);
    const char *origin = NULL;
    assert_non_null(qp_registry_find(reg, "alpha", &origin));
    assert_string_equal(origin, GOOD_SO);
    qp_registry_free(reg);
}

static void test_load_files_that_are_not_plugins(void **state) {
    (void)state;
    char *dir = qp_test_mkdtemp();
    char path[4096];
    snprintf(path, sizeof path, "%s/x.so", dir);
    const char text[] = "this is a text file, not a shared object\n";
    qp_test_write_file(path, text, sizeof text - 1);
    expect_load_error(path, QP_ERR_IO, "cannot load plugin");
    snprintf(path, sizeof path, "%s/absent.so", dir);
    expect_load_error(path, QP_ERR_IO, "cannot open plugin");
    qp_test_rmtree(dir);
    free(dir);
}

/* ---- search path ------------------------------------------------------------------------------ */

static void test_search_path_order(void **state) {
    (void)state;
    char **entries = NULL;
    int n = -1;
    assert_int_equal(qp_plugin_search_path("/cli/a:/cli/b::/cli/a:", "/env/c:/cli/b", "/opt/q/bin", "/inst/plugins",
                                           &entries, &n),
                     QP_OK);
    const char *want[8];
    int k = 0;
    want[k++] = "/cli/a";
    want[k++] = "/cli/b";
    want[k++] = "/env/c";
    want[k++] = "/opt/q/bin/plugins";
#ifdef QP_PLUGIN_RELATIVE_DIR
    want[k++] = "/opt/q/bin/" QP_PLUGIN_RELATIVE_DIR;
#endif
    want[k++] = "/inst/plugins";
    assert_int_equal(n, k);
    for (int i = 0; i < k; i++) assert_string_equal(entries[i], want[i]);
    assert_null(entries[n]);
    qp_plugin_search_path_free(entries);

    assert_int_equal(qp_plugin_search_path(NULL, "", NULL, NULL, &entries, &n), QP_OK);
    assert_int_equal(n, 0);
    assert_non_null(entries);
    assert_null(entries[0]);
    qp_plugin_search_path_free(entries);
}

static void test_search_skips_missing_dirs(void **state) {
    (void)state;
    char *const entries[] = {"/nonexistent/qpipe/plugins", FIXTURE("good"), FIXTURE("good/missing.so")};
    qp_registry *reg = new_registry();
    assert_int_equal(qp_registry_load_paths(reg, entries, 3), QP_OK);
    assert_int_equal(qp_registry_count(reg), 2);
    qp_registry_free(reg);
}

static void test_search_loads_a_directory_in_sorted_order(void **state) {
    (void)state;
    char *const entries[] = {FIXTURE("order")};
    qp_registry *reg = new_registry();
    assert_int_equal(qp_registry_load_paths(reg, entries, 1), QP_ERR_INVALID_ARG);
    assert_string_equal(qp_error_message(), "pass 'order' from " FIXTURE("order/b_second.so")
                                            " is already provided by " FIXTURE("order/a_first.so"));
    qp_registry_free(reg);
}

static void test_search_earlier_file_name_shadows_later(void **state) {
    (void)state;
    char *const a_first[] = {FIXTURE("shadow_a"), FIXTURE("shadow_b")};
    qp_registry *reg = new_registry();
    assert_int_equal(qp_registry_load_paths(reg, a_first, 2), QP_OK);
    assert_non_null(qp_registry_find(reg, "shadow_a", NULL));
    assert_null(qp_registry_find(reg, "shadow_b", NULL));
    assert_int_equal(qp_registry_num_notes(reg), 1);
    assert_non_null(strstr(qp_registry_note(reg, 0), FIXTURE("shadow_b/shadow.so") ": shadowed by " FIXTURE(
                                                         "shadow_a/shadow.so")));
    qp_registry_free(reg);

    char *const b_first[] = {FIXTURE("shadow_b"), FIXTURE("shadow_a")};
    reg = new_registry();
    assert_int_equal(qp_registry_load_paths(reg, b_first, 2), QP_OK);
    assert_non_null(qp_registry_find(reg, "shadow_b", NULL));
    assert_null(qp_registry_find(reg, "shadow_a", NULL));
    qp_registry_free(reg);
}

static void test_search_dedupes_by_realpath(void **state) {
    (void)state;
    char *dir = qp_test_mkdtemp();
    char link_path[4096], dir_link[4096];
    snprintf(link_path, sizeof link_path, "%s/another_name.so", dir);
    assert_int_equal(symlink(GOOD_SO, link_path), 0);
    snprintf(dir_link, sizeof dir_link, "%s/good_dir", dir);
    assert_int_equal(symlink(FIXTURE("good"), dir_link), 0);
    /* The same plugin through a second name, a linked folder, the folder twice and the file itself. */
    char *const entries[] = {FIXTURE("good"), dir, dir_link, FIXTURE("good/"), GOOD_SO};
    qp_registry *reg = new_registry();
    assert_int_equal(qp_registry_load_paths(reg, entries, 5), QP_OK);
    assert_int_equal(qp_registry_count(reg), 2);
    const char *origin = NULL;
    assert_non_null(qp_registry_find(reg, "alpha", &origin));
    assert_string_equal(origin, GOOD_SO);
    assert_int_equal(qp_registry_num_notes(reg), 0);
    qp_registry_free(reg);
    qp_test_rmtree(dir);
    free(dir);
}

static void test_search_failing_plugin_is_an_error(void **state) {
    (void)state;
    char *dir = qp_test_mkdtemp();
    char path[4096];
    snprintf(path, sizeof path, "%s/x.so", dir);
    qp_test_write_file(path, "not ELF", 7);
    snprintf(path, sizeof path, "%s/notes.txt", dir); /* not *.so: ignored */
    qp_test_write_file(path, "x", 1);
    char *const entries[] = {FIXTURE("good"), dir};
    qp_registry *reg = new_registry();
    assert_int_equal(qp_registry_load_paths(reg, entries, 2), QP_ERR_IO);
    snprintf(path, sizeof path, "%s/x.so", dir);
    assert_message_contains(path);
    qp_registry_free(reg);
    qp_test_rmtree(dir);
    free(dir);
}

static void test_search_path_from_environment(void **state) {
    (void)state;
    char *exe_dir = qp_test_mkdtemp(); /* no plugins/ beside this "executable" */
    assert_int_equal(setenv(QP_PLUGIN_PATH_ENV, FIXTURE("good") ":" FIXTURE("shadow_b"), 1), 0);
    qp_registry *reg = new_registry();
    assert_int_equal(qp_registry_load_search_path(reg, FIXTURE("shadow_a"), exe_dir), QP_OK);
    assert_non_null(qp_registry_find(reg, "alpha", NULL));
    assert_non_null(qp_registry_find(reg, "shadow_a", NULL));
    assert_null(qp_registry_find(reg, "shadow_b", NULL)); /* --plugin-path comes before the environment */
    assert_true(qp_registry_num_search_entries(reg) >= 4);
    assert_string_equal(qp_registry_search_entry(reg, 0), FIXTURE("shadow_a"));
    assert_string_equal(qp_registry_search_entry(reg, 1), FIXTURE("good"));
    assert_string_equal(qp_registry_search_entry(reg, 2), FIXTURE("shadow_b"));
    char want[4096];
    snprintf(want, sizeof want, "%s/plugins", exe_dir);
    assert_string_equal(qp_registry_search_entry(reg, 3), want);
    qp_registry_free(reg);
    unsetenv(QP_PLUGIN_PATH_ENV);
    qp_test_rmtree(exe_dir);
    free(exe_dir);
}

/* ---- parameters ------------------------------------------------------------------------------ */

static const qp_param_def test_params[] = {
    {.name = "bins", .type = QP_PARAM_INT, .default_value = "2048", .help = "histogram bins", .min = 8, .max = 65536},
    {.name = "scale", .type = QP_PARAM_FLOAT, .default_value = "0.5", .help = "a fraction", .min = 0, .max = 1},
    {.name = "symmetric", .type = QP_PARAM_BOOL, .default_value = "true", .help = "signed", .min = 1, .max = 0},
    {.name = "method", .type = QP_PARAM_ENUM, .default_value = "kl", .help = "how", .min = 1, .max = 0,
     .choices = "kl|percentile|mse"},
    {.name = "path", .type = QP_PARAM_STRING, .default_value = NULL, .help = "output file", .min = 1, .max = 0},
    {.name = "steps", .type = QP_PARAM_INT, .default_value = "-3", .help = "no range", .min = 1, .max = 0},
};
static const qp_pass_def test_pass = {.name = "calib_kl", .version = "1", .summary = "s", .params = test_params,
                                      .n_params = 6, .run = run_ok};

static qp_params *new_params(void) {
    qp_params *p = NULL;
    assert_int_equal(qp_params_new(&test_pass, &p), QP_OK);
    assert_non_null(p);
    return p;
}

static void test_params_defaults_and_required(void **state) {
    (void)state;
    qp_params *p = new_params();
    assert_int_equal(qp_params_int(p, "bins"), 2048);
    assert_true(qp_params_float(p, "scale") == 0.5);
    assert_int_equal(qp_params_bool(p, "symmetric"), 1);
    assert_string_equal(qp_params_string(p, "method"), "kl");
    assert_int_equal(qp_params_int(p, "steps"), -3);
    assert_int_equal(qp_params_is_set(p, "bins"), 0);
    assert_int_equal(qp_params_check_required(p, "x.yaml:4:3"), QP_ERR_INVALID_ARG);
    assert_string_equal(qp_error_message(), "x.yaml:4:3: pass 'calib_kl' needs parameter 'path' (string: output file)");
    assert_null(qp_params_string(p, "path")); /* required and unset: zero, and a message */
    assert_message_contains("never set");
    assert_int_equal(qp_params_set(p, "path", "out.json", NULL), QP_OK);
    assert_int_equal(qp_params_check_required(p, NULL), QP_OK);
    assert_int_equal(qp_params_is_set(p, "path"), 1);
    qp_params_free(p);
}

static void test_params_each_type(void **state) {
    (void)state;
    qp_params *p = new_params();
    static const struct {
        const char *text;
        int value;
    } bools[] = {{"true", 1}, {"FALSE", 0}, {"yes", 1}, {"No", 0}, {"on", 1}, {"off", 0}, {"1", 1}, {" 0 ", 0}};
    for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++) {
        assert_int_equal(qp_params_set(p, "symmetric", bools[i].text, NULL), QP_OK);
        assert_int_equal(qp_params_bool(p, "symmetric"), bools[i].value);
    }
    assert_int_equal(qp_params_set(p, "bins", " 4096 ", NULL), QP_OK);
    assert_int_equal(qp_params_int(p, "bins"), 4096);
    assert_int_equal(qp_params_set(p, "bins", "8", NULL), QP_OK); /* range ends are inside */
    assert_int_equal(qp_params_set(p, "bins", "65536", NULL), QP_OK);
    assert_int_equal(qp_params_int(p, "bins"), 65536);
    assert_int_equal(qp_params_set(p, "steps", "-9000000000", NULL), QP_OK);
    assert_true(qp_params_int(p, "steps") == -9000000000LL);
    assert_int_equal(qp_params_set(p, "scale", "2.5e-1", NULL), QP_OK);
    assert_true(qp_params_float(p, "scale") == 0.25);
    assert_int_equal(qp_params_set(p, "scale", "1", NULL), QP_OK);
    assert_true(qp_params_float(p, "scale") == 1.0);
    assert_int_equal(qp_params_set(p, "method", "percentile", NULL), QP_OK);
    assert_string_equal(qp_params_string(p, "method"), "percentile");
    assert_int_equal(qp_params_set(p, "path", " spaced name ", NULL), QP_OK);
    assert_string_equal(qp_params_string(p, "path"), " spaced name "); /* strings are kept verbatim */
    assert_int_equal(qp_params_is_set(p, "method"), 1);
    qp_params_free(p);
}

static void expect_set_error(qp_params *p, const char *key, const char *text, const char *message) {
    assert_int_equal(qp_params_set(p, key, text, "x.yaml:7:9"), QP_ERR_INVALID_ARG);
    if (strcmp(qp_error_message(), message) != 0) fail_msg("got  '%s'\nwant '%s'", qp_error_message(), message);
}

static void test_params_value_errors(void **state) {
    (void)state;
    qp_params *p = new_params();
    expect_set_error(p, "bins", "7", "x.yaml:7:9: parameter 'bins' of pass 'calib_kl' must be in [8, 65536], got 7");
    expect_set_error(p, "bins", "65537",
                     "x.yaml:7:9: parameter 'bins' of pass 'calib_kl' must be in [8, 65536], got 65537");
    expect_set_error(p, "bins", "12abc", "x.yaml:7:9: parameter 'bins' of pass 'calib_kl' wants an integer, got '12abc'");
    expect_set_error(p, "bins", "1.5", "x.yaml:7:9: parameter 'bins' of pass 'calib_kl' wants an integer, got '1.5'");
    expect_set_error(p, "bins", "", "x.yaml:7:9: parameter 'bins' of pass 'calib_kl' wants an integer, got ''");
    expect_set_error(p, "steps", "99999999999999999999",
                     "x.yaml:7:9: parameter 'steps' of pass 'calib_kl' does not fit a 64-bit integer: "
                     "'99999999999999999999'");
    expect_set_error(p, "scale", "1.5", "x.yaml:7:9: parameter 'scale' of pass 'calib_kl' must be in [0, 1], got 1.5");
    expect_set_error(p, "scale", "-0.1", "x.yaml:7:9: parameter 'scale' of pass 'calib_kl' must be in [0, 1], got -0.1");
    expect_set_error(p, "scale", "nan", "x.yaml:7:9: parameter 'scale' of pass 'calib_kl' wants a finite number, got 'nan'");
    expect_set_error(p, "scale", "half", "x.yaml:7:9: parameter 'scale' of pass 'calib_kl' wants a number, got 'half'");
    expect_set_error(p, "symmetric", "maybe",
                     "x.yaml:7:9: parameter 'symmetric' of pass 'calib_kl' wants a bool (true/false, yes/no, on/off, "
                     "1/0), got 'maybe'");
    expect_set_error(p, "method", "kll",
                     "x.yaml:7:9: parameter 'method' of pass 'calib_kl' wants one of kl, percentile, mse; got 'kll' "
                     "(did you mean 'kl'?)");
    expect_set_error(p, "method", "KL",
                     "x.yaml:7:9: parameter 'method' of pass 'calib_kl' wants one of kl, percentile, mse; got 'KL' "
                     "(did you mean 'kl'?)");
    expect_set_error(p, "method", "entropy",
                     "x.yaml:7:9: parameter 'method' of pass 'calib_kl' wants one of kl, percentile, mse; got 'entropy'");
    /* A refused value leaves the previous one in place. */
    assert_int_equal(qp_params_int(p, "bins"), 2048);
    assert_string_equal(qp_params_string(p, "method"), "kl");
    assert_int_equal(qp_params_is_set(p, "bins"), 0);
    qp_params_free(p);
}

static void test_params_unknown_key(void **state) {
    (void)state;
    qp_params *p = new_params();
    expect_set_error(p, "binz", "3",
                     "x.yaml:7:9: unknown parameter 'binz' for pass 'calib_kl' (did you mean 'bins'? known: bins, "
                     "scale, symmetric, method, path, steps)");
    expect_set_error(p, "iterations", "3",
                     "x.yaml:7:9: unknown parameter 'iterations' for pass 'calib_kl' (known: bins, scale, "
                     "symmetric, method, path, steps)");
    qp_params_free(p);

    static const qp_pass_def bare = {.name = "fold_bn", .version = "1", .summary = "s", .run = run_ok};
    assert_int_equal(qp_params_new(&bare, &p), QP_OK);
    assert_int_equal(qp_params_set(p, "x", "1", NULL), QP_ERR_INVALID_ARG);
    assert_string_equal(qp_error_message(), "unknown parameter 'x' for pass 'fold_bn' (it takes no parameters)");
    assert_int_equal(qp_params_check_required(p, NULL), QP_OK);
    qp_params_free(p);
}

static void test_params_later_set_overrides(void **state) {
    (void)state;
    qp_params *p = new_params();
    assert_int_equal(qp_params_set(p, "bins", "1024", "x.yaml:3:9"), QP_OK);
    assert_int_equal(qp_params_set(p, "bins", "4096", "--set calib_kl.bins=4096"), QP_OK);
    assert_int_equal(qp_params_int(p, "bins"), 4096);
    qp_params_free(p);
}

static void test_params_copy_and_format(void **state) {
    (void)state;
    qp_params *p = new_params();
    assert_ptr_equal(qp_params_pass(p), &test_pass);
    assert_int_equal(qp_params_set(p, "bins", "4096", NULL), QP_OK);
    assert_int_equal(qp_params_set(p, "method", "mse", NULL), QP_OK);
    char text[256];
    assert_string_equal(qp_params_format(p, 1, text, sizeof text), "bins=4096 method=mse");
    assert_string_equal(qp_params_format(p, 0, text, sizeof text),
                        "bins=4096 scale=0.5 symmetric=true method=mse steps=-3");
    char small[13];
    assert_string_equal(qp_params_format(p, 0, small, sizeof small), "bins=4096...");
    assert_string_equal(qp_params_format(p, 0, small, 12), "bins=409..."); /* never past the buffer */
    qp_params *copy = NULL;
    assert_int_equal(qp_params_copy(p, &copy), QP_OK);
    assert_int_equal(qp_params_set(copy, "method", "kl", NULL), QP_OK);
    assert_int_equal(qp_params_set(copy, "path", "a.onnx", NULL), QP_OK);
    assert_string_equal(qp_params_string(p, "method"), "mse"); /* the original is untouched */
    assert_int_equal(qp_params_int(copy, "bins"), 4096);
    assert_int_equal(qp_params_is_set(copy, "bins"), 1);
    assert_int_equal(qp_params_check_required(p, NULL), QP_ERR_INVALID_ARG);
    assert_int_equal(qp_params_check_required(copy, NULL), QP_OK);
    qp_params_free(copy);
    qp_params_free(p);
}

static void test_params_getter_misuse(void **state) {
    (void)state;
    qp_params *p = new_params();
    qp_error_clear();
    assert_int_equal(qp_params_int(p, "undeclared"), 0);
    assert_message_contains("pass 'calib_kl' asked for parameter 'undeclared', which it does not declare");
    qp_error_clear();
    assert_true(qp_params_float(p, "bins") == 0.0); /* declared int: read as float is a plugin bug */
    assert_message_contains("qp_params_float, but it is declared int");
    assert_int_equal(qp_params_bool(p, "method"), 0);
    assert_message_contains("declared enum");
    assert_null(qp_params_string(p, "bins"));
    assert_int_equal(qp_params_int(NULL, "bins"), 0);
    assert_message_contains("params is NULL");
    qp_params_free(p);
    assert_int_equal(qp_params_new(NULL, &p), QP_ERR_INVALID_ARG);
    assert_null(p);
}

static void test_params_describe(void **state) {
    (void)state;
    qp_param_info info;
    qp_params_describe(&test_params[0], &info);
    assert_string_equal(info.type, "int");
    assert_string_equal(info.default_text, "2048");
    assert_string_equal(info.range, "[8, 65536]");
    qp_params_describe(&test_params[1], &info);
    assert_string_equal(info.type, "float");
    assert_string_equal(info.range, "[0, 1]");
    qp_params_describe(&test_params[2], &info);
    assert_string_equal(info.type, "bool");
    assert_string_equal(info.range, "");
    qp_params_describe(&test_params[3], &info);
    assert_string_equal(info.type, "enum");
    assert_string_equal(info.range, "kl|percentile|mse");
    qp_params_describe(&test_params[4], &info);
    assert_string_equal(info.type, "string");
    assert_string_equal(info.default_text, "(required)");
    qp_params_describe(&test_params[5], &info);
    assert_string_equal(info.range, ""); /* min > max: no range */
    const qp_param_def big = {.name = "n", .type = QP_PARAM_INT, .default_value = "1", .min = 0, .max = 1e6};
    qp_params_describe(&big, &info);
    assert_string_equal(info.range, "[0, 1000000]");
    const qp_param_def tiny = {.name = "eps", .type = QP_PARAM_FLOAT, .default_value = "1e-5", .min = 1e-7, .max = 0.1};
    qp_params_describe(&tiny, &info);
    assert_string_equal(info.range, "[1e-07, 0.1]");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_add_find_sorted),
        cmocka_unit_test(test_registry_refuses_duplicate),
        cmocka_unit_test(test_registry_refuses_bad_passes),
        cmocka_unit_test(test_registry_refuses_bad_param_tables),
        cmocka_unit_test(test_registry_builtins),
        cmocka_unit_test(test_unknown_pass_messages),
        cmocka_unit_test(test_closest_name),
        cmocka_unit_test(test_load_good_plugin),
        cmocka_unit_test(test_load_wrong_abi_major),
        cmocka_unit_test(test_load_newer_abi_minor),
        cmocka_unit_test(test_load_no_entry_symbol),
        cmocka_unit_test(test_load_undefined_symbol),
        cmocka_unit_test(test_load_bad_param_table_is_all_or_nothing),
        cmocka_unit_test(test_load_declining_plugin),
        cmocka_unit_test(test_load_duplicate_across_plugins),
        cmocka_unit_test(test_load_files_that_are_not_plugins),
        cmocka_unit_test(test_search_path_order),
        cmocka_unit_test(test_search_skips_missing_dirs),
        cmocka_unit_test(test_search_loads_a_directory_in_sorted_order),
        cmocka_unit_test(test_search_earlier_file_name_shadows_later),
        cmocka_unit_test(test_search_dedupes_by_realpath),
        cmocka_unit_test(test_search_failing_plugin_is_an_error),
        cmocka_unit_test(test_search_path_from_environment),
        cmocka_unit_test(test_params_defaults_and_required),
        cmocka_unit_test(test_params_each_type),
        cmocka_unit_test(test_params_value_errors),
        cmocka_unit_test(test_params_unknown_key),
        cmocka_unit_test(test_params_later_set_overrides),
        cmocka_unit_test(test_params_copy_and_format),
        cmocka_unit_test(test_params_getter_misuse),
        cmocka_unit_test(test_params_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
