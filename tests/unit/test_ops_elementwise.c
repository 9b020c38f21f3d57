/* test_ops_elementwise.c — elementwise ops (arithmetic, comparison, logic, Where, variadic, unary) against
 * values computed here. */
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

static fixture make(const char *op, int n_in, int n_out) {
    fixture f = {qp_graph_new(), NULL};
    assert_non_null(f.g);
    f.node = qp_ops_scratch_node(f.g, op, n_in, n_out);
    assert_non_null(f.node);
    return f;
}

static qp_status run1(fixture *f, int64_t opset, const qp_value *const *ins, int n_in, qp_value *out,
                      int threads) {
    return qp_ops_invoke(f->node, opset, ins, n_in, out, 1, threads);
}

/* Offset into a (possibly lower-rank) broadcast input for output multi-index idx. */
static int64_t bcast_offset(const qp_shape *in, const qp_shape *out, const int64_t *idx) {
    int64_t off = 0, stride = 1;
    for (int d = in->rank - 1; d >= 0; d--) {
        int od = d + out->rank - in->rank;
        int64_t i = in->dims[d] == 1 ? 0 : idx[od];
        off += i * stride;
        stride *= in->dims[d];
    }
    return off;
}

static void unravel(int64_t flat, const qp_shape *s, int64_t *idx) {
    for (int d = s->rank - 1; d >= 0; d--) {
        idx[d] = flat % s->dims[d];
        flat /= s->dims[d];
    }
}

static float frand(unsigned *seed) {
    *seed = *seed * 1103515245u + 12345u;
    return (float)((*seed >> 8) & 0xffff) / 65536.0f * 4.0f - 2.0f;
}

typedef float (*ref_fn)(float, float);
static float ref_add(float a, float b) {
    return a + b;
}
static float ref_sub(float a, float b) {
    return a - b;
}
static float ref_mul(float a, float b) {
    return a * b;
}
static float ref_div(float a, float b) {
    return a / b;
}
static float ref_max(float a, float b) {
    return a > b ? a : b;
}
static float ref_min(float a, float b) {
    return a < b ? a : b;
}
static float ref_pow(float a, float b) {
    return powf(fabsf(a), b);
}

/* Every binary float op over shape pairs covering same-shape, scalar, per-channel and two-sided
 * broadcasts, with 1 and 3 threads. */
static void test_binary_broadcast_matches_reference(void **state) {
    (void)state;
    static const struct {
        int ra;
        int64_t a[4];
        int rb;
        int64_t b[4];
    } cases[] = {
        {3, {2, 3, 4}, 3, {2, 3, 4}},
        {3, {2, 3, 4}, 0, {0}},
        {4, {2, 3, 2, 2}, 4, {1, 3, 1, 1}},
        {3, {2, 3, 4}, 2, {3, 1}},
        {1, {1}, 2, {2, 3}},
        {3, {2, 1, 4}, 3, {1, 3, 1}},
        {4, {4, 1, 1, 5}, 4, {1, 3, 2, 1}},
        {2, {3, 4}, 1, {4}},
        {3, {1, 1, 1}, 1, {5}},
        {2, {3, 0}, 2, {1, 0}},
    };
    static const struct {
        const char *op;
        ref_fn fn;
    } ops[] = {
        {"Add", ref_add}, {"Sub", ref_sub}, {"Mul", ref_mul}, {"Div", ref_div},
        {"Max", ref_max}, {"Min", ref_min}, {"Pow", ref_pow},
    };
    unsigned seed = 7;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++)
            for (int threads = 1; threads <= 3; threads += 2) {
                qp_value a = qp_ops_value(QP_DT_FLOAT, cases[c].ra, cases[c].a, NULL);
                qp_value b = qp_ops_value(QP_DT_FLOAT, cases[c].rb, cases[c].b, NULL);
                int64_t na = qp_shape_numel(&a.shape), nb = qp_shape_numel(&b.shape);
                float *da = malloc(sizeof(float) * (size_t)(na + 1)),
                      *db = malloc(sizeof(float) * (size_t)(nb + 1));
                for (int64_t i = 0; i < na; i++)
                    da[i] = frand(&seed);
                for (int64_t i = 0; i < nb; i++) {
                    db[i] = frand(&seed);
                    if (db[i] == 0) db[i] = 0.5f;
                }
                if (strcmp(ops[o].op, "Pow") == 0)
                    for (int64_t i = 0; i < na; i++)
                        da[i] = fabsf(da[i]);
                a.data = da;
                b.data = db;
                fixture f = make(ops[o].op, 2, 1);
                const qp_value *ins[2] = {&a, &b};
                qp_value out;
                assert_int_equal(run1(&f, 15, ins, 2, &out, threads), QP_OK);
                qp_shape expect;
                assert_int_equal(qp_broadcast_shape(&a.shape, &b.shape, &expect), QP_OK);
                assert_int_equal(out.shape.rank, expect.rank);
                assert_memory_equal(out.shape.dims, expect.dims, sizeof(int64_t) * (size_t)expect.rank);
                assert_int_equal(out.dtype, QP_DT_FLOAT);
                int64_t n = qp_shape_numel(&expect), idx[QP_MAX_RANK];
                for (int64_t i = 0; i < n; i++) {
                    unravel(i, &expect, idx);
                    float want = ops[o].fn(da[bcast_offset(&a.shape, &expect, idx)],
                                           db[bcast_offset(&b.shape, &expect, idx)]);
                    float got = ((float *)out.data)[i];
                    assert_true(fabsf(got - want) <= 1e-6f * (1 + fabsf(want)));
                }
                free(out.data);
                free(da);
                free(db);
                qp_graph_free(f.g);
            }
}

static void test_integer_division_and_mod(void **state) {
    (void)state;
    int32_t x[6] = {-7, 7, 7, -7, 5, INT32_MIN}, y[6] = {2, -2, 2, -2, 0, -1};
    int64_t dims[1] = {6};
    qp_value a = qp_ops_value(QP_DT_INT32, 1, dims, x), b = qp_ops_value(QP_DT_INT32, 1, dims, y);
    const qp_value *ins[2] = {&a, &b};
    qp_value out;
    fixture f = make("Div", 2, 1);
    assert_int_equal(run1(&f, 14, ins, 2, &out, 1), QP_OK);
    const int32_t want_div[6] = {-3, -3, 3, 3, 0, INT32_MIN}; /* truncation; x/0 -> 0; MIN/-1 wraps */
    assert_memory_equal(out.data, want_div, sizeof want_div);
    free(out.data);
    qp_graph_free(f.g);

    f = make("Mod", 2, 1);
    assert_int_equal(run1(&f, 13, ins, 2, &out, 1), QP_OK);
    const int32_t want_mod[6] = {1, -1, 1, -1, 0, 0}; /* sign of the divisor */
    assert_memory_equal(out.data, want_mod, sizeof want_mod);
    free(out.data);
    qp_graph_free(f.g);

    f = make("Mod", 2, 1);
    assert_int_equal(qp_ops_set_attr_int(f.node, "fmod", 1), QP_OK);
    assert_int_equal(run1(&f, 13, ins, 2, &out, 1), QP_OK);
    const int32_t want_fmod[6] = {-1, 1, 1, -1, 0, 0}; /* sign of the dividend */
    assert_memory_equal(out.data, want_fmod, sizeof want_fmod);
    free(out.data);
    qp_graph_free(f.g);
}

static void test_uint8_arithmetic_wraps(void **state) {
    (void)state;
    uint8_t x[3] = {250, 3, 200}, y[3] = {10, 5, 2};
    int64_t dims[1] = {3};
    qp_value a = qp_ops_value(QP_DT_UINT8, 1, dims, x), b = qp_ops_value(QP_DT_UINT8, 1, dims, y);
    const qp_value *ins[2] = {&a, &b};
    qp_value out;
    fixture f = make("Add", 2, 1);
    assert_int_equal(run1(&f, 14, ins, 2, &out, 1), QP_OK);
    const uint8_t want_add[3] = {4, 8, 202};
    assert_memory_equal(out.data, want_add, 3);
    free(out.data);
    qp_graph_free(f.g);
    f = make("Sub", 2, 1);
    assert_int_equal(run1(&f, 14, ins, 2, &out, 1), QP_OK);
    const uint8_t want_sub[3] = {240, 254, 198};
    assert_memory_equal(out.data, want_sub, 3);
    free(out.data);
    qp_graph_free(f.g);
}

static void test_comparisons_give_bool(void **state) {
    (void)state;
    float x[4] = {1, 2, 3, 4}, y[1] = {2.5f};
    int64_t dx[1] = {4}, dy[1] = {1};
    qp_value a = qp_ops_value(QP_DT_FLOAT, 1, dx, x), b = qp_ops_value(QP_DT_FLOAT, 1, dy, y);
    const qp_value *ins[2] = {&a, &b};
    static const struct {
        const char *op;
        uint8_t want[4];
    } cases[] = {
        {"Less", {1, 1, 0, 0}},        {"Greater", {0, 0, 1, 1}},        {"Equal", {0, 0, 0, 0}},
        {"LessOrEqual", {1, 1, 0, 0}}, {"GreaterOrEqual", {0, 0, 1, 1}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        fixture f = make(cases[c].op, 2, 1);
        qp_value out;
        assert_int_equal(run1(&f, 16, ins, 2, &out, 1), QP_OK);
        assert_int_equal(out.dtype, QP_DT_BOOL);
        assert_memory_equal(out.data, cases[c].want, 4);
        free(out.data);
        qp_graph_free(f.g);
    }
    int64_t xi[3] = {5, -1, 7}, yi[3] = {5, 1, 7};
    int64_t d3[1] = {3};
    qp_value ai = qp_ops_value(QP_DT_INT64, 1, d3, xi), bi = qp_ops_value(QP_DT_INT64, 1, d3, yi);
    const qp_value *ins_i[2] = {&ai, &bi};
    fixture f = make("Equal", 2, 1);
    qp_value out;
    assert_int_equal(run1(&f, 13, ins_i, 2, &out, 1), QP_OK);
    const uint8_t want_eq[3] = {1, 0, 1};
    assert_memory_equal(out.data, want_eq, 3);
    free(out.data);
    qp_graph_free(f.g);
}

static void test_logic_ops(void **state) {
    (void)state;
    uint8_t x[4] = {0, 0, 1, 1}, y[4] = {0, 1, 0, 1};
    int64_t dims[1] = {4};
    qp_value a = qp_ops_value(QP_DT_BOOL, 1, dims, x), b = qp_ops_value(QP_DT_BOOL, 1, dims, y);
    const qp_value *ins[2] = {&a, &b};
    static const struct {
        const char *op;
        uint8_t want[4];
    } cases[] = {{"And", {0, 0, 0, 1}}, {"Or", {0, 1, 1, 1}}, {"Xor", {0, 1, 1, 0}}};
    for (size_t c = 0; c < 3; c++) {
        fixture f = make(cases[c].op, 2, 1);
        qp_value out;
        assert_int_equal(run1(&f, 7, ins, 2, &out, 1), QP_OK);
        assert_memory_equal(out.data, cases[c].want, 4);
        free(out.data);
        qp_graph_free(f.g);
    }
    fixture f = make("Not", 1, 1);
    qp_value out;
    assert_int_equal(run1(&f, 1, ins, 1, &out, 1), QP_OK);
    const uint8_t want_not[4] = {1, 1, 0, 0};
    assert_memory_equal(out.data, want_not, 4);
    free(out.data);
    qp_graph_free(f.g);
}

static void test_where_broadcasts_three_ways(void **state) {
    (void)state;
    uint8_t c[2] = {1, 0};
    int64_t x[3] = {1, 2, 3}, y[1] = {-9};
    int64_t dc[2] = {2, 1}, dx[1] = {3}, dy[1] = {1};
    qp_value vc = qp_ops_value(QP_DT_BOOL, 2, dc, c), vx = qp_ops_value(QP_DT_INT64, 1, dx, x),
             vy = qp_ops_value(QP_DT_INT64, 1, dy, y);
    const qp_value *ins[3] = {&vc, &vx, &vy};
    fixture f = make("Where", 3, 1);
    qp_value out;
    assert_int_equal(run1(&f, 16, ins, 3, &out, 1), QP_OK);
    assert_int_equal(out.shape.rank, 2);
    assert_int_equal(out.shape.dims[0], 2);
    assert_int_equal(out.shape.dims[1], 3);
    const int64_t want[6] = {1, 2, 3, -9, -9, -9};
    assert_memory_equal(out.data, want, sizeof want);
    free(out.data);
    qp_graph_free(f.g);
}

static void test_variadic_sum_mean_max(void **state) {
    (void)state;
    float a[3] = {1, 2, 3}, b[1] = {10}, c[6] = {0, 1, 2, 3, 4, 5};
    int64_t da[1] = {3}, db[1] = {1}, dc[2] = {2, 3};
    qp_value va = qp_ops_value(QP_DT_FLOAT, 1, da, a), vb = qp_ops_value(QP_DT_FLOAT, 1, db, b),
             vc = qp_ops_value(QP_DT_FLOAT, 2, dc, c);
    const qp_value *ins[3] = {&va, &vb, &vc};
    qp_value out;
    fixture f = make("Sum", 3, 1);
    assert_int_equal(run1(&f, 13, ins, 3, &out, 1), QP_OK);
    const float want_sum[6] = {11, 13, 15, 14, 16, 18};
    assert_memory_equal(out.data, want_sum, sizeof want_sum);
    free(out.data);
    qp_graph_free(f.g);
    f = make("Mean", 3, 1);
    assert_int_equal(run1(&f, 13, ins, 3, &out, 1), QP_OK);
    for (int i = 0; i < 6; i++)
        assert_float_equal(((float *)out.data)[i], want_sum[i] / 3.0f, 1e-6);
    free(out.data);
    qp_graph_free(f.g);
    f = make("Max", 3, 1);
    assert_int_equal(run1(&f, 13, ins, 3, &out, 1), QP_OK);
    for (int i = 0; i < 6; i++)
        assert_float_equal(((float *)out.data)[i], 10.0f, 0);
    free(out.data);
    qp_graph_free(f.g);
    f = make("Min", 1, 1); /* one input: a copy */
    assert_int_equal(run1(&f, 13, ins, 1, &out, 1), QP_OK);
    assert_memory_equal(out.data, a, sizeof a);
    free(out.data);
    qp_graph_free(f.g);
}

static void test_unary_math(void **state) {
    (void)state;
    float x[6] = {0.5f, 1.5f, 2.5f, -0.5f, -2.5f, 3.7f};
    int64_t dims[1] = {6};
    qp_value v = qp_ops_value(QP_DT_FLOAT, 1, dims, x);
    const qp_value *ins[1] = {&v};
    qp_value out;
    fixture f = make("Round", 1, 1);
    assert_int_equal(run1(&f, 11, ins, 1, &out, 1), QP_OK);
    const float want_round[6] = {0, 2, 2, -0.0f, -2, 4}; /* half to even */
    for (int i = 0; i < 6; i++)
        assert_float_equal(((float *)out.data)[i], want_round[i], 0);
    free(out.data);
    qp_graph_free(f.g);

    static const struct {
        const char *op;
        double (*fn)(double);
    } fns[] = {
        {"Exp", exp},     {"Sin", sin},   {"Cos", cos},  {"Erf", erf},
        {"Floor", floor}, {"Ceil", ceil}, {"Abs", fabs},
    };
    for (size_t k = 0; k < sizeof fns / sizeof fns[0]; k++) {
        if (!fns[k].fn) continue;
        f = make(fns[k].op, 1, 1);
        assert_int_equal(run1(&f, 13, ins, 1, &out, 1), QP_OK);
        for (int i = 0; i < 6; i++)
            assert_float_equal(((float *)out.data)[i], fns[k].fn(x[i]), 1e-6);
        free(out.data);
        qp_graph_free(f.g);
    }
    float pos[3] = {4, 0.25f, 1};
    qp_value vp = qp_ops_value(QP_DT_FLOAT, 1, (int64_t[]){3}, pos);
    const qp_value *ins_p[1] = {&vp};
    f = make("Sqrt", 1, 1);
    assert_int_equal(run1(&f, 13, ins_p, 1, &out, 1), QP_OK);
    assert_float_equal(((float *)out.data)[0], 2.0f, 0);
    assert_float_equal(((float *)out.data)[1], 0.5f, 0);
    free(out.data);
    qp_graph_free(f.g);
    f = make("Reciprocal", 1, 1);
    assert_int_equal(run1(&f, 13, ins_p, 1, &out, 1), QP_OK);
    assert_float_equal(((float *)out.data)[1], 4.0f, 0);
    free(out.data);
    qp_graph_free(f.g);
    f = make("Log", 1, 1);
    assert_int_equal(run1(&f, 13, ins_p, 1, &out, 1), QP_OK);
    assert_float_equal(((float *)out.data)[0], logf(4.0f), 1e-7);
    assert_float_equal(((float *)out.data)[2], 0.0f, 0);
    free(out.data);
    qp_graph_free(f.g);
}

static void test_integer_unary(void **state) {
    (void)state;
    int32_t x[4] = {-5, 0, 7, INT32_MIN};
    qp_value v = qp_ops_value(QP_DT_INT32, 1, (int64_t[]){4}, x);
    const qp_value *ins[1] = {&v};
    qp_value out;
    fixture f = make("Abs", 1, 1);
    assert_int_equal(run1(&f, 13, ins, 1, &out, 1), QP_OK);
    const int32_t want_abs[4] = {5, 0, 7, INT32_MIN};
    assert_memory_equal(out.data, want_abs, sizeof want_abs);
    free(out.data);
    qp_graph_free(f.g);
    f = make("Neg", 1, 1);
    assert_int_equal(run1(&f, 13, ins, 1, &out, 1), QP_OK);
    const int32_t want_neg[4] = {5, 0, -7, INT32_MIN};
    assert_memory_equal(out.data, want_neg, sizeof want_neg);
    free(out.data);
    qp_graph_free(f.g);
    f = make("Sign", 1, 1);
    assert_int_equal(run1(&f, 13, ins, 1, &out, 1), QP_OK);
    const int32_t want_sign[4] = {-1, 0, 1, -1};
    assert_memory_equal(out.data, want_sign, sizeof want_sign);
    free(out.data);
    qp_graph_free(f.g);
}

static void test_pow_mixed_types(void **state) {
    (void)state;
    int32_t base[3] = {2, 3, -2};
    float e[3] = {3, 0.5f, 2};
    qp_value vb = qp_ops_value(QP_DT_INT32, 1, (int64_t[]){3}, base),
             ve = qp_ops_value(QP_DT_FLOAT, 1, (int64_t[]){3}, e);
    const qp_value *ins[2] = {&vb, &ve};
    fixture f = make("Pow", 2, 1);
    qp_value out;
    assert_int_equal(run1(&f, 15, ins, 2, &out, 1), QP_OK);
    assert_int_equal(out.dtype, QP_DT_INT32);
    const int32_t want[3] = {8, 1, 4}; /* 3^0.5 truncates to 1 */
    assert_memory_equal(out.data, want, sizeof want);
    free(out.data);
    qp_graph_free(f.g);
    int64_t bi[2] = {3, -2}, ei[2] = {4, 3};
    qp_value vbi = qp_ops_value(QP_DT_INT64, 1, (int64_t[]){2}, bi),
             vei = qp_ops_value(QP_DT_INT64, 1, (int64_t[]){2}, ei);
    const qp_value *ins_i[2] = {&vbi, &vei};
    f = make("Pow", 2, 1);
    assert_int_equal(run1(&f, 15, ins_i, 2, &out, 1), QP_OK);
    const int64_t want_i[2] = {81, -8};
    assert_memory_equal(out.data, want_i, sizeof want_i);
    free(out.data);
    qp_graph_free(f.g);
}

static void test_errors(void **state) {
    (void)state;
    float x[6] = {0};
    int32_t y[6] = {0};
    uint8_t bools[2] = {0};
    qp_value a = qp_ops_value(QP_DT_FLOAT, 2, (int64_t[]){2, 3}, x),
             b = qp_ops_value(QP_DT_INT32, 2, (int64_t[]){2, 3}, y),
             c = qp_ops_value(QP_DT_FLOAT, 1, (int64_t[]){2}, x),
             d = qp_ops_value(QP_DT_BOOL, 1, (int64_t[]){2}, bools);
    qp_value out;
    fixture f = make("Add", 2, 1);
    const qp_value *mixed[2] = {&a, &b};
    assert_int_equal(run1(&f, 14, mixed, 2, &out, 1), QP_ERR_SHAPE);
    assert_non_null(strstr(qp_error_message(), "differ"));
    const qp_value *bad_bcast[2] = {&a, &c};
    assert_int_equal(run1(&f, 14, bad_bcast, 2, &out, 1), QP_ERR_SHAPE);
    const qp_value *bools2[2] = {&d, &d};
    assert_int_equal(run1(&f, 14, bools2, 2, &out, 1), QP_ERR_UNSUPPORTED);
    assert_non_null(strstr(qp_error_message(), "bool"));
    const qp_value *one[1] = {&a};
    assert_int_equal(run1(&f, 14, one, 1, &out, 1), QP_ERR_INVALID_MODEL);
    qp_graph_free(f.g);
    f = make("And", 2, 1);
    const qp_value *floats[2] = {&a, &a};
    assert_int_equal(run1(&f, 7, floats, 2, &out, 1), QP_ERR_UNSUPPORTED);
    qp_graph_free(f.g);
}

/* Threaded runs split the output in fixed ranges: bit-identical to one thread. */
static void test_threads_are_deterministic(void **state) {
    (void)state;
    int64_t dims[4] = {2, 16, 64, 64}, dc[4] = {1, 16, 1, 1};
    int64_t n = 2 * 16 * 64 * 64;
    float *x = malloc(sizeof(float) * (size_t)n), s[16];
    unsigned seed = 3;
    for (int64_t i = 0; i < n; i++)
        x[i] = frand(&seed);
    for (int i = 0; i < 16; i++)
        s[i] = frand(&seed);
    qp_value a = qp_ops_value(QP_DT_FLOAT, 4, dims, x), b = qp_ops_value(QP_DT_FLOAT, 4, dc, s);
    const qp_value *ins[2] = {&a, &b};
    fixture f = make("Mul", 2, 1);
    qp_value o1, o4;
    assert_int_equal(run1(&f, 14, ins, 2, &o1, 1), QP_OK);
    assert_int_equal(run1(&f, 14, ins, 2, &o4, 4), QP_OK);
    assert_memory_equal(o1.data, o4.data, (size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i += 997)
        assert_float_equal(((float *)o1.data)[i], x[i] * s[(i / 4096) % 16], 0);
    free(o1.data);
    free(o4.data);
    free(x);
    qp_graph_free(f.g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary_broadcast_matches_reference),
        cmocka_unit_test(test_integer_division_and_mod),
        cmocka_unit_test(test_uint8_arithmetic_wraps),
        cmocka_unit_test(test_comparisons_give_bool),
        cmocka_unit_test(test_logic_ops),
        cmocka_unit_test(test_where_broadcasts_three_ways),
        cmocka_unit_test(test_variadic_sum_mean_max),
        cmocka_unit_test(test_unary_math),
        cmocka_unit_test(test_integer_unary),
        cmocka_unit_test(test_pow_mixed_types),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_threads_are_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
