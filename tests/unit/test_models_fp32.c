/* test_models_fp32.c — every model in ../shared/models runs in fp32 and matches ONNX Runtime's stored outputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/npy.h"
#include "engine/engine.h"
#include "onnx/onnx_import.h"
#include "test_support.h"

/* Argmax over the class axis of a classifier output ([N,C] or [N,C,1,1]) for sample n. */
static int64_t argmax_row(const float *x, int64_t classes, int64_t n) {
    int64_t best = 0;
    for (int64_t c = 1; c < classes; c++)
        if (x[n * classes + c] > x[n * classes + best]) best = c;
    return best;
}

/* Runs model.onnx on every ref/input_<i>.npy and compares output k with ref/output_<i>_<k>.npy:
 * max |qpipe - ref| <= 1e-4 * max(1, max |ref|) (the tolerance ../shared/models/README.md sets),
 * and for classifiers the same arg-max. */
static void check_model(const char *folder, int classifier) {
    char rel[512], path[4096];
    snprintf(rel, sizeof rel, "models/%s/model.onnx", folder);
    QP_REQUIRE_SHARED(rel);
    qp_graph *g = NULL;
    assert_int_equal(qp_onnx_load(qp_test_shared_path(rel, path), &g), QP_OK);
    int n_checked = 0;
    for (int i = 0;; i++) {
        snprintf(rel, sizeof rel, "models/%s/ref/input_%d.npy", folder, i);
        if (!qp_test_file_exists(qp_test_shared_path(rel, path))) break;
        float *input = NULL;
        qp_shape shape;
        assert_int_equal(qp_npy_read_f32(path, &input, &shape), QP_OK);
        qp_input_shape fixed = {g->tensors[g->inputs[0]]->name, shape};
        qp_plan_options opts = {.mode = QP_MODE_FP32, .n_threads = 2, .input_shapes = &fixed, .n_input_shapes = 1};
        qp_plan *plan = NULL;
        qp_status st = qp_plan_create(g, &opts, &plan);
        if (st != QP_OK) print_error("%s: %s\n", folder, qp_error_message());
        assert_int_equal(st, QP_OK);
        memcpy(qp_plan_input(plan, 0)->data, input, qp_plan_input(plan, 0)->nbytes);
        st = qp_plan_run(plan);
        if (st != QP_OK) print_error("%s: %s\n", folder, qp_error_message());
        assert_int_equal(st, QP_OK);
        for (int k = 0; k < qp_plan_num_outputs(plan); k++) {
            snprintf(rel, sizeof rel, "models/%s/ref/output_%d_%d.npy", folder, i, k);
            float *ref = NULL;
            qp_shape ref_shape;
            assert_int_equal(qp_npy_read_f32(qp_test_shared_path(rel, path), &ref, &ref_shape), QP_OK);
            const qp_value *out = qp_plan_output(plan, k);
            int64_t n = qp_shape_numel(&ref_shape);
            assert_int_equal(qp_shape_numel(&out->shape), n);
            const float *got = out->data;
            double max_ref = 0, max_err = 0;
            for (int64_t e = 0; e < n; e++) {
                if (fabs(ref[e]) > max_ref) max_ref = fabs(ref[e]);
                double err = fabs((double)got[e] - ref[e]);
                if (!(err <= max_err)) max_err = err; /* NaN counts as an error */
            }
            double tol = 1e-4 * (max_ref > 1 ? max_ref : 1);
            if (!(max_err <= tol))
                print_error("%s input %d output %d: max error %g > %g\n", folder, i, k, max_err, tol);
            assert_true(max_err <= tol);
            if (classifier && k == 0) {
                int64_t batch = ref_shape.dims[0], classes = n / batch;
                for (int64_t b = 0; b < batch; b++)
                    assert_int_equal(argmax_row(got, classes, b), argmax_row(ref, classes, b));
            }
            free(ref);
        }
        free(input);
        qp_plan_free(plan);
        n_checked++;
    }
    assert_true(n_checked > 0);
    print_message("%s: %d reference inputs match\n", folder, n_checked);
    qp_graph_free(g);
}

static void test_squeezenet(void **state) { (void)state; check_model("squeezenet1.1", 1); }
static void test_mobilenetv2(void **state) { (void)state; check_model("mobilenetv2-12", 1); }
static void test_shufflenet(void **state) { (void)state; check_model("shufflenet-v2-12", 1); }
static void test_mnist(void **state) { (void)state; check_model("mnist-8", 1); }
static void test_ultraface(void **state) { (void)state; check_model("ultraface-rfb-320", 0); }
static void test_ppocr(void **state) { (void)state; check_model("ppocr-cls", 1); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_squeezenet), cmocka_unit_test(test_mobilenetv2),
        cmocka_unit_test(test_shufflenet), cmocka_unit_test(test_mnist),
        cmocka_unit_test(test_ultraface),  cmocka_unit_test(test_ppocr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
