/* test_q8_conv.c — the int8 Conv's work splits (whole images per thread, im2col row blocks, a 3-channel stem and other few-input-channel convs, row and channel chunks, small planes) give the same bytes for any thread count and batch, equal to QUANTSIM. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "test_support.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float frand(float lo, float hi) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return lo + (hi - lo) * (float)((rng_state >> 11) * (1.0 / 9007199254740992.0));
}

static void init_tensor(qp_graph *g, const char *name, qp_shape shape, float lo, float hi) {
    int64_t n = qp_shape_numel(&shape);
    float *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = frand(lo, hi);
    qp_test_add_initializer(g, name, &shape, v);
    free(v);
}

/* Conv(x, w, b) with a 3x3 (or 1x1) kernel, pads 1 (or 0), stride s, group g; returns the output
 * name. */
static void conv(qp_graph *g, const char *name, const char *in, const char *out, int64_t cin, int64_t cout, int64_t k,
                 int64_t stride, int64_t group) {
    char w[64], b[64];
    snprintf(w, sizeof w, "%s.w", name);
    snprintf(b, sizeof b, "%s.b", name);
    init_tensor(g, w, (qp_shape){.rank = 4, .dims = {cout, cin / group, k, k}}, -0.4f, 0.4f);
    init_tensor(g, b, (qp_shape){.rank = 1, .dims = {cout}}, -0.2f, 0.2f);
    int ins[3] = {qp_graph_get_or_add_tensor(g, in), qp_graph_find_tensor(g, w), qp_graph_find_tensor(g, b)};
    int o = qp_graph_get_or_add_tensor(g, out);
    int id = qp_graph_add_node(g, name, "Conv", "", ins, 3, &o, 1);
    assert_true(id >= 0);
    const int64_t p = k / 2, pads[4] = {p, p, p, p}, strides[2] = {stride, stride};
    qp_attr *a = qp_node_add_attr(&g->nodes[id], "pads", QP_ATTR_INTS);
    a->ints = malloc(4 * sizeof *a->ints);
    memcpy(a->ints, pads, sizeof pads);
    a->n = 4;
    a = qp_node_add_attr(&g->nodes[id], "strides", QP_ATTR_INTS);
    a->ints = malloc(2 * sizeof *a->ints);
    memcpy(a->ints, strides, sizeof strides);
    a->n = 2;
    a = qp_node_add_attr(&g->nodes[id], "group", QP_ATTR_INT);
    a->i = group;
}

/* Activations: asymmetric 8-bit over [-range, range]; weights: symmetric per channel from
 * their values. */
static qp_encodings *encodings_for(const qp_graph *g) {
    qp_encodings *e = qp_encodings_new(g->n_tensors);
    assert_non_null(e);
    for (int t = 0; t < g->n_tensors; t++) {
        const qp_tensor *x = g->tensors[t];
        if (!x->is_initializer) { /* activations (their dtype is only known after inference) */
            const float mn = -3.0f, mx = 3.0f;
            assert_int_equal(qp_encodings_set_range(e, t, 8, 0, -1, 1, &mn, &mx), QP_OK);
        } else if (x->dtype == QP_DT_FLOAT && x->shape.rank == 4) {
            const int64_t ch = x->shape.dims[0], inner = qp_shape_numel(&x->shape) / ch;
            float *mn = calloc((size_t)ch, sizeof *mn), *mx = calloc((size_t)ch, sizeof *mx);
            const float *v = x->data;
            for (int64_t i = 0; i < ch * inner; i++) {
                if (v[i] < mn[i / inner]) mn[i / inner] = v[i];
                if (v[i] > mx[i / inner]) mx[i / inner] = v[i];
            }
            assert_int_equal(qp_encodings_set_range(e, t, 8, 1, 0, (int)ch, mn, mx), QP_OK);
            free(mn);
            free(mx);
        }
    }
    return e;
}

/* INT8 at 1 thread equals QUANTSIM, and 2 to 4 threads give the same bytes, at batches 1, 3, 8
 * (split images, and whole images per thread). */
static void check_splits(const qp_graph *g, int64_t in_per_image) {
    qp_encodings *e = encodings_for(g);
    static const int batches[] = {1, 3, 8};
    for (size_t bi = 0; bi < sizeof batches / sizeof batches[0]; bi++) {
        const int batch = batches[bi];
        const size_t n_in = (size_t)batch * (size_t)in_per_image;
        float *x = malloc(n_in * sizeof *x);
        for (size_t i = 0; i < n_in; i++) x[i] = frand(-2.5f, 2.5f);
        size_t n_ref;
        free(qp_test_check_int8_invariants(g, e, batch, x, 4, "Conv", &n_ref));
        free(x);
    }
    qp_encodings_free(e);
}

static qp_graph *new_graph(const char *input, int64_t c, int64_t h, int64_t w) {
    qp_graph *g = qp_graph_new();
    g->opsets = calloc(1, sizeof *g->opsets);
    g->opsets[0].domain = strdup("");
    g->opsets[0].version = 13;
    g->n_opsets = 1;
    qp_test_add_input(g, input, QP_DT_FLOAT, &(qp_shape){.rank = 4, .dims = {-1, c, h, w}});
    return g;
}

/* x [N, 16, 40, 40] -> 3x3 16->32 (im2col in row blocks: 144 x 1600 columns) -> depthwise 3x3
 * s2 (20x20 rows) -> 1x1 32->48 -> 3x3 s2 48->48 (10x10, whole-image im2col) -> depthwise 3x3 on
 * 10x10 and s2 to 5x5 (flat small-plane kernel) -> grouped 3x3 (2 groups) -> 1x1 on 5x5. */
static void test_splits_give_the_same_bytes(void **state) {
    (void)state;
    qp_graph *g = new_graph("x", 16, 40, 40);
    conv(g, "c1", "x", "a1", 16, 32, 3, 1, 1);
    conv(g, "d1", "a1", "a2", 32, 32, 3, 2, 32);
    conv(g, "p1", "a2", "a3", 32, 48, 1, 1, 1);
    conv(g, "c2", "a3", "a4", 48, 48, 3, 2, 1);
    conv(g, "d2", "a4", "a5", 48, 48, 3, 1, 48);
    conv(g, "d3", "a5", "a6", 48, 48, 3, 2, 48);
    conv(g, "g1", "a6", "a7", 48, 48, 3, 1, 2);
    conv(g, "p2", "a7", "y", 48, 24, 1, 1, 1);
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    assert_int_equal(qp_graph_finalize(g), QP_OK);
    check_splits(g, 16 * 40 * 40);
    qp_graph_free(g);
}

/* A MobileNet-like stem: x [N, 3, 128, 128] -> 3x3 s2 3->32 (few input channels: row blocks of
 * im2col + GEMM when threads share the image) -> depthwise 3x3 on 64x64 and s2 to 32x32 (split
 * since the depthwise work counts its taps) -> 1x1 32->16. */
static void test_stem_splits_give_the_same_bytes(void **state) {
    (void)state;
    qp_graph *g = new_graph("x", 3, 128, 128);
    conv(g, "c1", "x", "a1", 3, 32, 3, 2, 1);
    conv(g, "d1", "a1", "a2", 32, 32, 3, 1, 32);
    conv(g, "d2", "a2", "a3", 32, 32, 3, 2, 32);
    conv(g, "p1", "a3", "y", 32, 16, 1, 1, 1);
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    assert_int_equal(qp_graph_finalize(g), QP_OK);
    check_splits(g, 3 * 128 * 128);
    qp_graph_free(g);
}

/* Few input channels (the direct small-C_in kernel when the CPU has it): odd planes and output
 * channel counts that fill neither a 16-channel group nor a 16-column block, stride 1 and 2,
 * one and two input channels, a 2x2 kernel. */
static void test_small_input_channels_give_the_same_bytes(void **state) {
    (void)state;
    qp_graph *g = new_graph("x", 2, 45, 67);
    conv(g, "c1", "x", "a1", 2, 21, 3, 1, 1);
    conv(g, "p1", "a1", "y", 21, 8, 1, 1, 1);
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    assert_int_equal(qp_graph_finalize(g), QP_OK);
    check_splits(g, 2 * 45 * 67);
    qp_graph_free(g);
    g = new_graph("x", 1, 50, 37);
    conv(g, "c1", "x", "a1", 1, 13, 3, 2, 1);
    conv(g, "c2", "a1", "y", 13, 6, 2, 1, 1);
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    assert_int_equal(qp_graph_finalize(g), QP_OK);
    check_splits(g, 50 * 37);
    qp_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_splits_give_the_same_bytes),
        cmocka_unit_test(test_stem_splits_give_the_same_bytes),
        cmocka_unit_test(test_small_input_channels_give_the_same_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
