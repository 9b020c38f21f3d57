/* test_engine.c — the fp32 planner: constant folding, arena reuse, observer, error messages naming nodes, API edges. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/plan_internal.h" /* step counts: which Relu/Clip the fp32 planner fused */
#include "test_support.h"

/* A node with up to three inputs (NULL = none) and one output, by tensor name. */
static int node(qp_graph *g, const char *name, const char *op, const char *in0, const char *in1, const char *in2,
                const char *out) {
    int ins[3], n_in = 0;
    const char *names[3] = {in0, in1, in2};
    for (int i = 0; i < 3; i++)
        if (names[i]) ins[n_in++] = qp_graph_get_or_add_tensor(g, names[i]);
    int o = qp_graph_get_or_add_tensor(g, out);
    int id = qp_graph_add_node(g, name, op, "", ins, n_in, &o, 1);
    assert_true(id >= 0);
    return id;
}

static void set_opset(qp_graph *g, int64_t version) {
    g->opsets = calloc(1, sizeof *g->opsets);
    g->opsets[0].domain = strdup("");
    g->opsets[0].version = version;
    g->n_opsets = 1;
}

static qp_graph *new_graph(void) {
    qp_graph *g = qp_graph_new();
    assert_non_null(g);
    set_opset(g, 13);
    return g;
}

static void finalize(qp_graph *g) {
    qp_status st = qp_graph_finalize(g);
    if (st != QP_OK) print_error("%s\n", qp_error_message());
    assert_int_equal(st, QP_OK);
}

static qp_plan *plan_ok(const qp_graph *g, const qp_plan_options *o) {
    qp_plan *plan = NULL;
    qp_status st = qp_plan_create(g, o, &plan);
    if (st != QP_OK) print_error("%s\n", qp_error_message());
    assert_int_equal(st, QP_OK);
    return plan;
}

typedef struct seen {
    int count;
    int ids[64];
    int64_t numel[64];
} seen;

static void record(void *user, int tensor_id, const qp_value *v) {
    seen *s = user;
    if (s->count < 64) {
        s->ids[s->count] = tensor_id;
        s->numel[s->count] = qp_shape_numel(&v->shape);
    }
    s->count++;
}

/* y = x * (a + b): a + b has only constant inputs, so it folds; the observer sees Mul only. */
static void test_constant_folding(void **state) {
    (void)state;
    qp_graph *g = new_graph();
    qp_shape s4 = {.rank = 1, .dims = {4}};
    const float a[] = {1, 2, 3, 4}, b[] = {10, 20, 30, 40};
    qp_test_add_input(g, "x", QP_DT_FLOAT, &s4);
    qp_test_add_initializer(g, "a", &s4, a);
    qp_test_add_initializer(g, "b", &s4, b);
    node(g, "sum", "Add", "a", "b", NULL, "ab");
    node(g, "mul", "Mul", "x", "ab", NULL, "y");
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    finalize(g);
    seen s = {0};
    qp_plan_options o = {.n_threads = 1, .observer = record, .observer_user = &s};
    qp_plan *plan = plan_ok(g, &o);
    const int ab = qp_graph_find_tensor(g, "ab");
    /* The folded value is known right after planning. */
    const float *abv = qp_plan_tensor(plan, ab)->data;
    for (int i = 0; i < 4; i++) assert_float_equal(abv[i], a[i] + b[i], 0);
    float *x = qp_plan_input(plan, 0)->data;
    for (int i = 0; i < 4; i++) x[i] = (float)(i + 1);
    assert_int_equal(qp_plan_run(plan), QP_OK);
    const float *y = qp_plan_output(plan, 0)->data;
    for (int i = 0; i < 4; i++) assert_float_equal(y[i], (float)(i + 1) * (a[i] + b[i]), 0);
    assert_int_equal(s.count, 1); /* only Mul ran */
    assert_int_equal(s.ids[0], qp_graph_find_tensor(g, "y"));
    assert_int_equal(s.numel[0], 4);
    qp_plan_free(plan);
    qp_graph_free(g);
}

/* A chain of 6 Relus over 64K floats: lifetimes let buffers be reused, so the arena is far
 * smaller than the sum of the activations. */
static void test_arena_reuse_on_chain(void **state) {
    (void)state;
    qp_graph *g = new_graph();
    qp_shape s = {.rank = 2, .dims = {256, 256}};
    qp_test_add_input(g, "t0", QP_DT_FLOAT, &s);
    char in[16], out[16], name[16];
    const int n_layers = 6;
    for (int i = 0; i < n_layers; i++) {
        snprintf(in, sizeof in, "t%d", i);
        snprintf(out, sizeof out, "t%d", i + 1);
        snprintf(name, sizeof name, "relu%d", i);
        node(g, name, i == 0 ? "Relu" : "Neg", in, NULL, NULL, out);
    }
    qp_test_add_output(g, qp_graph_find_tensor(g, out));
    finalize(g);
    qp_plan_options o = {.n_threads = 1};
    qp_plan *plan = plan_ok(g, &o);
    size_t one = 256 * 256 * sizeof(float);
    size_t sum = (size_t)n_layers * one;
    assert_true(qp_plan_arena_bytes(plan) < sum);
    assert_true(qp_plan_arena_bytes(plan) <= 2 * one + 64);
    assert_true(qp_plan_arena_bytes(plan) >= 2 * one); /* a step's input and output cannot share */
    float *x = qp_plan_input(plan, 0)->data;
    for (int i = 0; i < 256 * 256; i++) x[i] = (float)(i % 7) - 3.0f;
    assert_int_equal(qp_plan_run(plan), QP_OK);
    const float *y = qp_plan_output(plan, 0)->data;
    /* relu, then five negations: -relu(x). */
    for (int i = 0; i < 256 * 256; i++) assert_float_equal(y[i], -fmaxf(x[i], 0.0f), 0);
    qp_plan_free(plan);
    qp_graph_free(g);
}

/* The observer sees every executed output once, in execution order, with its shape. */
static void test_observer_order(void **state) {
    (void)state;
    qp_graph *g = new_graph();
    qp_shape s = {.rank = 2, .dims = {2, 3}};
    qp_test_add_input(g, "x", QP_DT_FLOAT, &s);
    node(g, "r", "Relu", "x", NULL, NULL, "r");
    node(g, "n", "Neg", "r", NULL, NULL, "n");
    node(g, "a", "Add", "r", "n", NULL, "y");
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    finalize(g);
    seen s_ = {0};
    qp_plan_options o = {.n_threads = 1, .observer = record, .observer_user = &s_};
    qp_plan *plan = plan_ok(g, &o);
    assert_int_equal(qp_plan_run(plan), QP_OK);
    assert_int_equal(s_.count, 3);
    assert_int_equal(s_.ids[0], qp_graph_find_tensor(g, "r"));
    assert_int_equal(s_.ids[1], qp_graph_find_tensor(g, "n"));
    assert_int_equal(s_.ids[2], qp_graph_find_tensor(g, "y"));
    for (int i = 0; i < 3; i++) assert_int_equal(s_.numel[i], 6);
    assert_int_equal(qp_plan_run(plan), QP_OK); /* runs again: three more calls */
    assert_int_equal(s_.count, 6);
    qp_plan_free(plan);
    qp_graph_free(g);
}

/* Shape errors at plan time name the node and its op. */
static void test_error_names_node(void **state) {
    (void)state;
    qp_graph *g = new_graph();
    qp_shape sa = {.rank = 2, .dims = {2, 3}}, sb = {.rank = 2, .dims = {4, 5}};
    qp_test_add_input(g, "x", QP_DT_FLOAT, &sa);
    qp_test_add_input(g, "z", QP_DT_FLOAT, &sb);
    node(g, "ok_relu", "Relu", "x", NULL, NULL, "r");
    node(g, "bad_add", "Add", "r", "z", NULL, "y");
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    finalize(g);
    qp_plan *plan = NULL;
    qp_plan_options o = {.n_threads = 1};
    qp_status st = qp_plan_create(g, &o, &plan);
    assert_int_not_equal(st, QP_OK);
    assert_null(plan);
    assert_non_null(strstr(qp_error_message(), "node 'bad_add' (Add)"));
    qp_graph_free(g);
}

/* Unsupported ops are all listed, each with its first node, before any planning. */
static void test_unsupported_ops_listed(void **state) {
    (void)state;
    qp_graph *g = new_graph();
    qp_shape s = {.rank = 1, .dims = {3}};
    qp_test_add_input(g, "x", QP_DT_FLOAT, &s);
    node(g, "f1", "FrobnicateA", "x", NULL, NULL, "a");
    node(g, "r", "Relu", "a", NULL, NULL, "b");
    node(g, "f2", "FrobnicateA", "b", NULL, NULL, "c");
    node(g, "q1", "QuuxB", "c", NULL, NULL, "y");
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    finalize(g);
    assert_int_equal(qp_graph_check_ops(g), QP_ERR_UNSUPPORTED);
    const char *msg = qp_error_message();
    assert_non_null(strstr(msg, "FrobnicateA (first used by node 'f1' (FrobnicateA))"));
    assert_non_null(strstr(msg, "QuuxB (first used by node 'q1' (QuuxB))"));
    assert_null(strstr(msg, "'f2'"));
    qp_plan *plan = NULL;
    assert_int_equal(qp_plan_create(g, NULL, &plan), QP_ERR_UNSUPPORTED);
    assert_null(plan);
    assert_non_null(strstr(qp_error_message(), "QuuxB"));
    qp_graph_free(g);
}

/* Quantized modes refuse to plan without encodings, and unknown modes are rejected. */
static void test_mode_arguments(void **state) {
    (void)state;
    qp_graph *g = new_graph();
    qp_shape s = {.rank = 1, .dims = {3}};
    qp_test_add_input(g, "x", QP_DT_FLOAT, &s);
    node(g, "r", "Relu", "x", NULL, NULL, "y");
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    finalize(g);
    qp_plan *plan = NULL;
    qp_plan_options o = {.mode = QP_MODE_QUANTSIM};
    assert_int_equal(qp_plan_create(g, &o, &plan), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "encodings"));
    o.mode = (qp_engine_mode)7;
    assert_int_equal(qp_plan_create(g, &o, &plan), QP_ERR_INVALID_ARG);
    assert_null(plan);
    /* fp32: no fallbacks to report, mode reads back. */
    o.mode = QP_MODE_FP32;
    plan = plan_ok(g, &o);
    assert_int_equal(qp_plan_mode(plan), QP_MODE_FP32);
    assert_int_equal(qp_plan_num_fp32_fallbacks(plan), 0);
    char buf[64];
    assert_int_equal(qp_plan_fp32_fallback_summary(plan, buf, sizeof buf), 0);
    assert_string_equal(buf, "");
    assert_int_equal(qp_plan_fp32_fallback_node(plan, 0), -1);
    qp_plan_free(plan);
    qp_graph_free(g);
}

/* Symbolic batch dims take options.batch; explicit shapes override; other unknown dims fail
 * with a message naming the input. */
static void test_input_shapes(void **state) {
    (void)state;
    qp_graph *g = new_graph();
    qp_shape s = {.rank = 2, .dims = {-1, 5}};
    int x = qp_test_add_input(g, "x", QP_DT_FLOAT, &s);
    node(g, "r", "Relu", "x", NULL, NULL, "y");
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    finalize(g);
    qp_plan_options o = {.batch = 3, .n_threads = 1};
    qp_plan *plan = plan_ok(g, &o);
    assert_int_equal(qp_plan_input(plan, 0)->shape.dims[0], 3);
    assert_int_equal(qp_plan_output(plan, 0)->shape.dims[0], 3);
    assert_string_equal(qp_plan_input_name(plan, 0), "x");
    assert_string_equal(qp_plan_output_name(plan, 0), "y");
    assert_null(qp_plan_tensor(plan, -1));
    qp_plan_free(plan);
    qp_input_shape fixed = {"x", {.rank = 2, .dims = {7, 5}}};
    o.input_shapes = &fixed;
    o.n_input_shapes = 1;
    plan = plan_ok(g, &o);
    assert_int_equal(qp_plan_output(plan, 0)->shape.dims[0], 7);
    qp_plan_free(plan);
    g->tensors[x]->shape.dims[1] = -1;
    o.n_input_shapes = 0;
    assert_int_equal(qp_plan_create(g, &o, &plan), QP_ERR_SHAPE);
    assert_non_null(strstr(qp_error_message(), "'x'"));
    qp_graph_free(g);
}

/* Graph outputs stay intact until the end even when their buffer could otherwise be reused,
 * and the same inputs give bit-identical outputs run after run. */
static void test_outputs_survive_and_repeat(void **state) {
    (void)state;
    qp_graph *g = new_graph();
    qp_shape s = {.rank = 1, .dims = {1000}};
    qp_test_add_input(g, "x", QP_DT_FLOAT, &s);
    node(g, "r", "Relu", "x", NULL, NULL, "early");
    node(g, "n1", "Neg", "early", NULL, NULL, "a");
    node(g, "n2", "Neg", "a", NULL, NULL, "b");
    node(g, "n3", "Sigmoid", "b", NULL, NULL, "late");
    qp_test_add_output(g, qp_graph_find_tensor(g, "early"));
    qp_test_add_output(g, qp_graph_find_tensor(g, "late"));
    finalize(g);
    qp_plan_options o = {.n_threads = 2};
    qp_plan *plan = plan_ok(g, &o);
    float *x = qp_plan_input(plan, 0)->data;
    for (int i = 0; i < 1000; i++) x[i] = sinf((float)i);
    assert_int_equal(qp_plan_run(plan), QP_OK);
    const float *early = qp_plan_output(plan, 0)->data, *late = qp_plan_output(plan, 1)->data;
    float first[1000];
    for (int i = 0; i < 1000; i++) {
        assert_float_equal(early[i], fmaxf(x[i], 0.0f), 0);
        first[i] = late[i];
    }
    assert_int_equal(qp_plan_run(plan), QP_OK);
    assert_memory_equal(first, late, sizeof first);
    qp_plan_free(plan);
    qp_graph_free(g);
}

/* ---- Relu/Clip fused into Conv (fp32 plans without an observer) --------------------------- */

static void set_ints(qp_graph *g, int node_id, const char *name, const int64_t *v, int n) {
    qp_attr *a = qp_node_add_attr(&g->nodes[node_id], name, QP_ATTR_INTS);
    assert_non_null(a);
    a->ints = malloc((size_t)n * sizeof *a->ints);
    assert_non_null(a->ints);
    memcpy(a->ints, v, (size_t)n * sizeof *a->ints);
    a->n = n;
}

/* Conv with weights [c_out, c_in / group, k, k] and a bias, seeded values. */
static void conv_node(qp_graph *g, const char *name, const char *x, const char *y, int64_t c_in, int64_t c_out,
                      int64_t group, int64_t k, int64_t stride, int64_t pad, uint32_t seed) {
    char wname[64], bname[64];
    snprintf(wname, sizeof wname, "%s_w", name);
    snprintf(bname, sizeof bname, "%s_b", name);
    qp_shape ws = {.rank = 4, .dims = {c_out, c_in / group, k, k}}, bs = {.rank = 1, .dims = {c_out}};
    const int64_t nw = qp_shape_numel(&ws);
    float *w = malloc((size_t)nw * sizeof *w), *b = malloc((size_t)c_out * sizeof *b);
    for (int64_t i = 0; i < nw; i++) {
        seed = seed * 1664525u + 1013904223u;
        w[i] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * 2.0f;
    }
    for (int64_t i = 0; i < c_out; i++) b[i] = (float)(i % 5) - 2.0f;
    qp_test_add_initializer(g, wname, &ws, w);
    qp_test_add_initializer(g, bname, &bs, b);
    free(w);
    free(b);
    const int id = node(g, name, "Conv", x, wname, bname, y);
    const int64_t ks[2] = {k, k}, st[2] = {stride, stride}, pads[4] = {pad, pad, pad, pad};
    set_ints(g, id, "kernel_shape", ks, 2);
    set_ints(g, id, "strides", st, 2);
    set_ints(g, id, "pads", pads, 4);
    qp_attr *a = qp_node_add_attr(&g->nodes[id], "group", QP_ATTR_INT);
    assert_non_null(a);
    a->i = group;
}

typedef struct conv_seen {
    int tensor;
    int negatives; /* values below zero the observer saw in `tensor` */
} conv_seen;

static void count_negatives(void *user, int tensor_id, const qp_value *v) {
    conv_seen *s = user;
    if (tensor_id != s->tensor) return;
    for (int64_t i = 0; i < qp_shape_numel(&v->shape); i++) s->negatives += ((const float *)v->data)[i] < 0;
}

/* Runs g with and without an observer (which turns fusion off) at 1 and 2 threads: outputs must be
 * bit-identical, since the fused epilogue clamps the same floats Relu/Clip would. Returns how many
 * steps fusion removed; the observer must have seen `observed` unclamped. */
static int check_fusion_invisible(qp_graph *g, int observed) {
    int removed = -1;
    for (int threads = 1; threads <= 2; threads++) {
        conv_seen seen_conv = {observed, 0};
        qp_plan_options fused_o = {.n_threads = threads};
        qp_plan_options plain_o = {.n_threads = threads, .observer = count_negatives, .observer_user = &seen_conv};
        qp_plan *fused = plan_ok(g, &fused_o), *plain = plan_ok(g, &plain_o);
        qp_value *xf = qp_plan_input(fused, 0), *xp = qp_plan_input(plain, 0);
        float *x = xf->data;
        uint32_t seed = 7;
        for (size_t i = 0; i < xf->nbytes / sizeof(float); i++) {
            seed = seed * 1664525u + 1013904223u;
            x[i] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * 8.0f;
        }
        x[3] = NAN; /* NaN passes through Clip and the fused clamp alike */
        x[5] = -0.0f;
        memcpy(xp->data, x, xf->nbytes);
        assert_int_equal(qp_plan_run(fused), QP_OK);
        assert_int_equal(qp_plan_run(plain), QP_OK);
        for (int o = 0; o < qp_plan_num_outputs(fused); o++) {
            const qp_value *a = qp_plan_output(fused, o), *b = qp_plan_output(plain, o);
            assert_int_equal(a->nbytes, b->nbytes);
            assert_memory_equal(a->data, b->data, a->nbytes);
        }
        assert_true(seen_conv.negatives > 0); /* the observer saw the Conv output before the clamp */
        if (removed < 0) removed = plain->n_steps - fused->n_steps;
        assert_int_equal(plain->n_steps - fused->n_steps, removed);
        qp_plan_free(fused);
        qp_plan_free(plain);
    }
    return removed;
}

/* im2col, depthwise (small and large planes, stride 1 and 2) and pointwise Convs, each followed by
 * Relu or Clip with constant bounds; Convs whose output is a graph output or has a second reader
 * keep their activation as a step. */
static void test_conv_clamp_fusion(void **state) {
    (void)state;
    qp_graph *g = new_graph();
    qp_shape xs = {.rank = 4, .dims = {2, 8, 40, 40}}, scalar = {.rank = 0};
    qp_test_add_input(g, "x", QP_DT_FLOAT, &xs);
    const float six = 6.0f, zero = 0.0f;
    qp_test_add_initializer(g, "lo", &scalar, &zero);
    qp_test_add_initializer(g, "hi", &scalar, &six);
    conv_node(g, "c1", "x", "y1", 8, 16, 1, 3, 1, 1, 1);          /* im2col */
    node(g, "r1", "Relu", "y1", NULL, NULL, "a1");
    conv_node(g, "c2", "a1", "y2", 16, 16, 16, 3, 1, 1, 2);       /* depthwise, 40x40 plane */
    node(g, "k2", "Clip", "y2", "lo", "hi", "a2");
    conv_node(g, "c3", "a2", "y3", 16, 16, 16, 3, 2, 1, 3);       /* depthwise, stride 2 */
    const int clip3_in[3] = {qp_graph_find_tensor(g, "y3"), -1, qp_graph_find_tensor(g, "hi")}; /* max only */
    const int clip3_out = qp_graph_get_or_add_tensor(g, "a3");
    assert_true(qp_graph_add_node(g, "k3", "Clip", "", clip3_in, 3, &clip3_out, 1) >= 0);
    conv_node(g, "c4", "a3", "y4", 16, 24, 1, 1, 1, 0, 4);        /* pointwise */
    node(g, "k4", "Clip", "y4", "lo", NULL, "a4");                /* min only */
    conv_node(g, "c5", "a4", "y5", 24, 24, 24, 3, 1, 1, 5);       /* depthwise, small plane */
    node(g, "r5", "Relu", "y5", NULL, NULL, "a5");
    conv_node(g, "c6", "a5", "y6", 24, 8, 1, 1, 1, 0, 6);         /* graph output: not fused */
    node(g, "r6", "Relu", "y6", NULL, NULL, "a6");
    conv_node(g, "c7", "a5", "y7", 24, 8, 1, 3, 1, 1, 7);         /* a second reader: not fused */
    node(g, "r7", "Relu", "y7", NULL, NULL, "a7");
    node(g, "add", "Add", "a7", "y7", NULL, "s7");
    qp_test_add_output(g, qp_graph_find_tensor(g, "a6"));
    qp_test_add_output(g, qp_graph_find_tensor(g, "y6"));
    qp_test_add_output(g, qp_graph_find_tensor(g, "s7"));
    finalize(g);
    assert_int_equal(check_fusion_invisible(g, qp_graph_find_tensor(g, "y1")), 5);
    qp_graph_free(g);
}

/* Clip before opset 11 takes its bounds from attributes (default: the float limits). */
static void test_conv_clamp_fusion_clip_attributes(void **state) {
    (void)state;
    qp_graph *g = qp_graph_new();
    assert_non_null(g);
    set_opset(g, 6);
    qp_shape xs = {.rank = 4, .dims = {1, 4, 9, 9}};
    qp_test_add_input(g, "x", QP_DT_FLOAT, &xs);
    conv_node(g, "c1", "x", "y1", 4, 8, 1, 3, 2, 1, 11);
    const int k1 = node(g, "k1", "Clip", "y1", NULL, NULL, "a1");
    qp_attr *a = qp_node_add_attr(&g->nodes[k1], "min", QP_ATTR_FLOAT);
    a->f = -0.5f;
    a = qp_node_add_attr(&g->nodes[k1], "max", QP_ATTR_FLOAT);
    a->f = 0.75f;
    conv_node(g, "c2", "a1", "y2", 8, 8, 8, 3, 1, 1, 12);
    node(g, "k2", "Clip", "y2", NULL, NULL, "a2"); /* no attributes: clips to +-FLT_MAX */
    qp_test_add_output(g, qp_graph_find_tensor(g, "a2"));
    finalize(g);
    assert_int_equal(check_fusion_invisible(g, qp_graph_find_tensor(g, "y1")), 2);
    qp_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_constant_folding),   cmocka_unit_test(test_arena_reuse_on_chain),
        cmocka_unit_test(test_observer_order),     cmocka_unit_test(test_error_names_node),
        cmocka_unit_test(test_unsupported_ops_listed), cmocka_unit_test(test_mode_arguments),
        cmocka_unit_test(test_input_shapes),       cmocka_unit_test(test_outputs_survive_and_repeat),
        cmocka_unit_test(test_conv_clamp_fusion),  cmocka_unit_test(test_conv_clamp_fusion_clip_attributes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
