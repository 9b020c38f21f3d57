/* test_ops_resize.c — Resize/Upsample modes and coordinate transformations against values from ONNX's
 * reference interpolation (onnx 1.12 backend test generator). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"
#include "engine/op.h"
#include "ops/ops_common_invoke.h"

typedef struct fixture {
    qp_graph *g;
    qp_node *node;
} fixture;

static fixture make(const char *op, int n_in) {
    fixture f = {qp_graph_new(), NULL};
    assert_non_null(f.g);
    f.node = qp_ops_scratch_node(f.g, op, n_in, 1);
    assert_non_null(f.node);
    return f;
}

static float DATA[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}; /* [1,1,4,4] */

/* Resize (opset 13 unless given) of DATA by scales or sizes; compares with want. */
static void check(fixture *f, int64_t opset, const float *scales, const int64_t *sizes, const float *roi,
                  int64_t oh, int64_t ow, const float *want, double tol) {
    qp_value x = qp_ops_value(QP_DT_FLOAT, 4, (int64_t[]){1, 1, 4, 4}, DATA);
    qp_value vr = qp_ops_value(QP_DT_FLOAT, 1, (int64_t[]){8}, (void *)roi);
    qp_value vs = qp_ops_value(QP_DT_FLOAT, 1, (int64_t[]){4}, (void *)scales);
    qp_value vz = qp_ops_value(QP_DT_INT64, 1, (int64_t[]){4}, (void *)sizes);
    const qp_value *ins[4] = {&x, roi ? &vr : NULL, scales ? &vs : NULL, sizes ? &vz : NULL};
    qp_value out;
    qp_status st = qp_ops_invoke(f->node, opset, ins, 4, &out, 1, 1);
    if (st != QP_OK) fail_msg("%s", qp_error_message());
    assert_int_equal(out.shape.rank, 4);
    assert_int_equal(out.shape.dims[2], oh);
    assert_int_equal(out.shape.dims[3], ow);
    for (int64_t i = 0; i < oh * ow; i++) {
        float got = ((float *)out.data)[i];
        if (fabs(got - want[i]) > tol * (1 + fabs(want[i])))
            fail_msg("[%lld]: got %.7g want %.7g", (long long)i, got, want[i]);
    }
    free(out.data);
    qp_graph_free(f->g);
}

static void test_linear_and_cubic(void **state) {
    (void)state;
    static const float up_linear[48] = {
        1,         1.25f,     1.75f,     2.25f,     2.75f,     3.25f,     3.75f,     4,
        3,         3.25f,     3.75f,     4.25f,     4.75f,     5.25f,     5.75f,     6,
        5.666667f, 5.916667f, 6.416667f, 6.916667f, 7.416667f, 7.916667f, 8.416667f, 8.666667f,
        8.333333f, 8.583333f, 9.083333f, 9.583333f, 10.08333f, 10.58333f, 11.08333f, 11.33333f,
        11,        11.25f,    11.75f,    12.25f,    12.75f,    13.25f,    13.75f,    14,
        13,        13.25f,    13.75f,    14.25f,    14.75f,    15.25f,    15.75f,    16};
    fixture f = make("Resize", 4);
    qp_ops_set_attr_string(f.node, "mode", "linear");
    check(&f, 13, (float[]){1, 1, 1.5f, 2}, NULL, NULL, 6, 8, up_linear, 1e-6);

    static const float up_cubic[64] = {
        0.4726562f, 0.7695312f, 1.246094f, 1.875f,    2.28125f,  2.910156f, 3.386719f, 3.683594f,
        1.660156f,  1.957031f,  2.433594f, 3.0625f,   3.46875f,  4.097656f, 4.574219f, 4.871094f,
        3.566406f,  3.863281f,  4.339844f, 4.96875f,  5.375f,    6.003906f, 6.480469f, 6.777344f,
        6.082031f,  6.378906f,  6.855469f, 7.484375f, 7.890625f, 8.519531f, 8.996094f, 9.292969f,
        7.707031f,  8.003906f,  8.480469f, 9.109375f, 9.515625f, 10.14453f, 10.62109f, 10.91797f,
        10.22266f,  10.51953f,  10.99609f, 11.625f,   12.03125f, 12.66016f, 13.13672f, 13.43359f,
        12.12891f,  12.42578f,  12.90234f, 13.53125f, 13.9375f,  14.56641f, 15.04297f, 15.33984f,
        13.31641f,  13.61328f,  14.08984f, 14.71875f, 15.125f,   15.75391f, 16.23047f, 16.52734f};
    f = make("Resize", 4);
    qp_ops_set_attr_string(f.node, "mode", "cubic");
    check(&f, 13, (float[]){1, 1, 2, 2}, NULL, NULL, 8, 8, up_cubic, 1e-6);

    static const float down_cubic[9] = {1.368127f, 2.669501f, 4.013337f, 6.573625f, 7.875f,
                                        9.218835f, 11.94897f, 13.25034f, 14.59418f};
    f = make("Resize", 4);
    qp_ops_set_attr_string(f.node, "mode", "cubic");
    qp_ops_set_attr_float(f.node, "cubic_coeff_a", -0.5f);
    qp_ops_set_attr_int(f.node, "exclude_outside", 1);
    check(&f, 13, (float[]){1, 1, 0.8f, 0.8f}, NULL, NULL, 3, 3, down_cubic, 1e-6);

    static const float align[15] = {1,     1.75f, 2.5f, 3.25f,  4,     7,      7.75f, 8.5f,
                                    9.25f, 10,    13,   13.75f, 14.5f, 15.25f, 16};
    f = make("Resize", 4);
    qp_ops_set_attr_string(f.node, "mode", "linear");
    qp_ops_set_attr_string(f.node, "coordinate_transformation_mode", "align_corners");
    check(&f, 13, NULL, (int64_t[]){1, 1, 3, 5}, NULL, 3, 5, align, 1e-6);

    static const float pytorch[3] = {1.666667f, 7, 12.33333f};
    f = make("Resize", 4);
    qp_ops_set_attr_string(f.node, "mode", "linear");
    qp_ops_set_attr_string(f.node, "coordinate_transformation_mode", "pytorch_half_pixel");
    check(&f, 13, NULL, (int64_t[]){1, 1, 3, 1}, NULL, 3, 1, pytorch, 1e-6);

    /* tf_crop_and_resize: outside the crop takes extrapolation_value. */
    static const float crop[9] = {7.6f, 10, 10, 12.4f, 10, 10, 10, 10, 10};
    f = make("Resize", 4);
    qp_ops_set_attr_string(f.node, "mode", "linear");
    qp_ops_set_attr_string(f.node, "coordinate_transformation_mode", "tf_crop_and_resize");
    qp_ops_set_attr_float(f.node, "extrapolation_value", 10.0f);
    check(&f, 13, NULL, (int64_t[]){1, 1, 3, 3}, (float[]){0, 0, 0.4f, 0.6f, 1, 1, 1.2f, 1.7f}, 3, 3, crop,
          1e-6);
}

static void test_nearest_modes(void **state) {
    (void)state;
    /* Analogues of ONNX's test_resize_upsample_scales_nearest / downsample_scales_nearest. */
    float want_up[8 * 12];
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 12; x++)
            want_up[y * 12 + x] = DATA[(y / 2) * 4 + x / 3];
    fixture f = make("Resize", 4);
    check(&f, 13, (float[]){1, 1, 2, 3}, NULL, NULL, 8, 12, want_up, 0);

    static const float down[2] = {5, 7}; /* row 1.5 rounds down to 1; cols 0.33 and 2.0 */
    f = make("Resize", 4);
    check(&f, 13, (float[]){1, 1, 0.25f, 0.6f}, NULL, NULL, 1, 2, down, 0);

    static const float ceil_half[18] = {5, 6, 7, 7, 8, 8, 9, 10, 11, 11, 12, 12, 13, 14, 15, 15, 16, 16};
    f = make("Resize", 4);
    qp_ops_set_attr_string(f.node, "coordinate_transformation_mode", "half_pixel");
    qp_ops_set_attr_string(f.node, "nearest_mode", "ceil");
    check(&f, 13, NULL, (int64_t[]){1, 1, 3, 6}, NULL, 3, 6, ceil_half, 0);

    static const float tfhp[9] = {6, 7, 8, 10, 11, 12, 14, 15, 16}; /* (x + 0.5) / 0.75 rounds to 1, 2, 3 */
    f = make("Resize", 4);
    qp_ops_set_attr_string(f.node, "coordinate_transformation_mode", "tf_half_pixel_for_nn");
    check(&f, 11, NULL, (int64_t[]){1, 1, 3, 3}, (float[]){0, 0, 0, 0, 1, 1, 1, 1}, 3, 3, tfhp, 0);

    /* round_prefer_ceil vs floor at exact halves: asymmetric, 4 -> 8 gives x/2. */
    float want_rpc[8], want_rpf[8];
    for (int x = 0; x < 8; x++) {
        want_rpc[x] = DATA[(x + 1) / 2 > 3 ? 3 : (x + 1) / 2];
        want_rpf[x] = DATA[x / 2];
    }
    f = make("Resize", 4);
    qp_ops_set_attr_string(f.node, "coordinate_transformation_mode", "asymmetric");
    qp_ops_set_attr_string(f.node, "nearest_mode", "round_prefer_ceil");
    check(&f, 13, NULL, (int64_t[]){1, 1, 1, 8}, NULL, 1, 8, want_rpc, 0);
    f = make("Resize", 4);
    qp_ops_set_attr_string(f.node, "coordinate_transformation_mode", "asymmetric");
    check(&f, 13, NULL, (int64_t[]){1, 1, 1, 8}, NULL, 1, 8, want_rpf, 0);

    /* The downsample_scales_linear_align_corners case: the reference divides by scale * in - 1. */
    static const float align_down[2] = {1, 3.142857f};
    f = make("Resize", 4);
    qp_ops_set_attr_string(f.node, "mode", "linear");
    qp_ops_set_attr_string(f.node, "coordinate_transformation_mode", "align_corners");
    check(&f, 13, (float[]){1, 1, 0.25f, 0.6f}, NULL, NULL, 1, 2, align_down, 1e-6);
}

static void test_upsample_and_resize10(void **state) {
    (void)state;
    float x[4] = {1, 2, 3, 4};
    qp_value vx = qp_ops_value(QP_DT_FLOAT, 4, (int64_t[]){1, 1, 2, 2}, x);
    float scales[4] = {1, 1, 2, 3};
    qp_value vs = qp_ops_value(QP_DT_FLOAT, 1, (int64_t[]){4}, scales);
    float want[24];
    for (int y = 0; y < 4; y++)
        for (int c = 0; c < 6; c++)
            want[y * 6 + c] = x[(y / 2) * 2 + c / 3];
    qp_value out;
    fixture f = make("Upsample", 1); /* opset 7: attribute scales */
    qp_ops_set_attr_floats(f.node, "scales", scales, 4);
    const qp_value *ins1[1] = {&vx};
    assert_int_equal(qp_ops_invoke(f.node, 7, ins1, 1, &out, 1, 1), QP_OK);
    assert_memory_equal(out.data, want, sizeof want);
    free(out.data);
    qp_graph_free(f.g);
    f = make("Upsample", 2); /* opset 9: input scales */
    const qp_value *ins2[2] = {&vx, &vs};
    assert_int_equal(qp_ops_invoke(f.node, 9, ins2, 2, &out, 1, 1), QP_OK);
    assert_memory_equal(out.data, want, sizeof want);
    free(out.data);
    qp_graph_free(f.g);
    /* Upsample linear is asymmetric: x / scale, clamped at the end. */
    f = make("Upsample", 2);
    qp_ops_set_attr_string(f.node, "mode", "linear");
    float s2[4] = {1, 1, 1, 2};
    qp_value vs2 = qp_ops_value(QP_DT_FLOAT, 1, (int64_t[]){4}, s2);
    const qp_value *ins3[2] = {&vx, &vs2};
    assert_int_equal(qp_ops_invoke(f.node, 9, ins3, 2, &out, 1, 1), QP_OK);
    const float want_lin[8] = {1, 1.5f, 2, 2, 3, 3.5f, 4, 4};
    assert_memory_equal(out.data, want_lin, sizeof want_lin);
    free(out.data);
    qp_graph_free(f.g);
    /* Resize-10 nearest downsampling takes ceil (ONNX Runtime's rule): 9 -> 3 picks 0, 3, 6 by
     * x / (1/3); a 0.6 scale on 5 picks ceil(0/0.6)=0, ceil(1/0.6)=2, ceil(2/0.6)=4. */
    float row[5] = {10, 11, 12, 13, 14};
    qp_value vrow = qp_ops_value(QP_DT_FLOAT, 2, (int64_t[]){1, 5}, row);
    float s10[2] = {1, 0.6f};
    qp_value vs10 = qp_ops_value(QP_DT_FLOAT, 1, (int64_t[]){2}, s10);
    const qp_value *ins10[2] = {&vrow, &vs10};
    f = make("Resize", 2);
    assert_int_equal(qp_ops_invoke(f.node, 10, ins10, 2, &out, 1, 1), QP_OK);
    assert_int_equal(out.shape.dims[1], 3);
    const float want10[3] = {10, 12, 14};
    assert_memory_equal(out.data, want10, sizeof want10);
    free(out.data);
    qp_graph_free(f.g);
}

static void test_integer_nearest_and_errors(void **state) {
    (void)state;
    uint8_t x[4] = {10, 20, 30, 40};
    qp_value vx = qp_ops_value(QP_DT_UINT8, 3, (int64_t[]){1, 2, 2}, x);
    int64_t sizes[3] = {1, 4, 1};
    qp_value vz = qp_ops_value(QP_DT_INT64, 1, (int64_t[]){3}, sizes);
    const qp_value *ins[4] = {&vx, NULL, NULL, &vz};
    fixture f = make("Resize", 4);
    qp_value out;
    assert_int_equal(qp_ops_invoke(f.node, 13, ins, 4, &out, 1, 1), QP_OK);
    /* half_pixel, 2 -> 4 rows: 0, 0, 1, 1 (round_prefer_floor of -0.25, 0.25, 0.75, 1.25); 2 -> 1 col: 0.5 ->
     * 0 */
    const uint8_t want[4] = {10, 10, 30, 30};
    assert_memory_equal(out.data, want, 4);
    free(out.data);
    qp_graph_free(f.g);
    f = make("Resize", 4);
    qp_ops_set_attr_string(f.node, "mode", "linear");
    assert_int_equal(qp_ops_invoke(f.node, 13, ins, 4, &out, 1, 1), QP_ERR_UNSUPPORTED);
    qp_graph_free(f.g);

    float fx[4] = {0};
    qp_value vf = qp_ops_value(QP_DT_FLOAT, 2, (int64_t[]){2, 2}, fx);
    qp_value dyn = qp_ops_value(QP_DT_FLOAT, 1, (int64_t[]){2}, NULL);
    const qp_value *dins[3] = {&vf, NULL, &dyn};
    f = make("Resize", 3);
    qp_value o = {0};
    qp_value *outs[1] = {&o};
    qp_op_context ctx = {
        .node = f.node, .opset = 13, .inputs = dins, .n_inputs = 3, .outputs = outs, .n_outputs = 1};
    assert_int_equal(qp_op_find("", "Resize")->infer(&ctx), QP_ERR_UNSUPPORTED);
    assert_non_null(strstr(qp_error_message(), "data-dependent"));
    qp_graph_free(f.g);
    f = make("Resize", 3);
    qp_ops_set_attr_string(f.node, "coordinate_transformation_mode", "sideways");
    float sc[2] = {1, 2};
    qp_value vsc = qp_ops_value(QP_DT_FLOAT, 1, (int64_t[]){2}, sc);
    const qp_value *bins[3] = {&vf, NULL, &vsc};
    assert_int_equal(qp_ops_invoke(f.node, 13, bins, 3, &out, 1, 1), QP_ERR_UNSUPPORTED);
    assert_non_null(strstr(qp_error_message(), "sideways"));
    qp_graph_free(f.g);
    f = make("Resize", 3); /* neither scales nor sizes */
    const qp_value *nins[3] = {&vf, NULL, NULL};
    assert_int_equal(qp_ops_invoke(f.node, 13, nins, 3, &out, 1, 1), QP_ERR_INVALID_MODEL);
    qp_graph_free(f.g);
}

/* A bigger bilinear resize split across threads equals the single-thread result. */
static void test_threads(void **state) {
    (void)state;
    int64_t n = 2 * 3 * 40 * 50;
    float *x = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)((i * 37) % 101);
    qp_value vx = qp_ops_value(QP_DT_FLOAT, 4, (int64_t[]){2, 3, 40, 50}, x);
    int64_t sizes[4] = {2, 3, 97, 203};
    qp_value vz = qp_ops_value(QP_DT_INT64, 1, (int64_t[]){4}, sizes);
    const qp_value *ins[4] = {&vx, NULL, NULL, &vz};
    fixture f = make("Resize", 4);
    qp_ops_set_attr_string(f.node, "mode", "linear");
    qp_value o1, o4;
    assert_int_equal(qp_ops_invoke(f.node, 13, ins, 4, &o1, 1, 1), QP_OK);
    assert_int_equal(qp_ops_invoke(f.node, 13, ins, 4, &o4, 1, 4), QP_OK);
    assert_memory_equal(o1.data, o4.data, o1.nbytes);
    free(o1.data);
    free(o4.data);
    free(x);
    qp_graph_free(f.g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_and_cubic),
        cmocka_unit_test(test_nearest_modes),
        cmocka_unit_test(test_upsample_and_resize10),
        cmocka_unit_test(test_integer_nearest_and_errors),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
