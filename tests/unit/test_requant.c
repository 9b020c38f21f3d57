/* test_requant.c — the float output stage (ONNX Runtime's requantization): scale derivation in float, int->float rounding of large accumulators, clamp, round half to even. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "test_support.h"

#include "kernels/int8/requant.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng_next(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static float rng_scale(void) { /* log-uniform in [2^-12, 2^4) */
    return ldexpf(1.0f + (float)(rng_next() % 1000000) / 1000000.0f, (int)(rng_next() % 16) - 12);
}

/* qp_requantize computed a second, independent way: the product of two floats is exact in
 * double (48 significant bits), so rounding it to float is the IEEE float multiply; the clamp
 * and the rounding happen in double with the C library's nearbyint (half to even). */
static uint8_t reference_requantize(int32_t acc, float scale, int32_t zp, int32_t qmin, int32_t qmax) {
    const float acc_f = (float)acc; /* nearest float, ties to even */
    const float v = (float)((double)acc_f * (double)scale);
    double r = nearbyint((double)v);
    if (r < qmin - zp) r = qmin - zp;
    if (r > qmax - zp) r = qmax - zp;
    return (uint8_t)((int32_t)r + zp);
}

static void test_scale_is_computed_in_float_in_orts_order(void **state) {
    (void)state;
    int differs_from_double = 0;
    for (int i = 0; i < 20000; i++) {
        const float in = rng_scale(), w = rng_scale(), out = rng_scale();
        float s;
        assert_int_equal(qp_requant_scale(in, w, out, &s), QP_OK);
        volatile float product = in * w;
        const float expected = product / out;
        assert_true(s == expected);
        if (s != (float)((double)in * (double)w / (double)out)) differs_from_double++;
    }
    /* The float order is not the double result rounded once: the test would notice a switch. */
    assert_true(differs_from_double > 0);
    float s;
    assert_int_equal(qp_requant_mean_scale(0.02f, 0.01f, 49, &s), QP_OK);
    volatile float divisor = 0.01f * 49.0f;
    assert_true(s == 0.02f / divisor);
}

static void test_scale_rejects_bad_values(void **state) {
    (void)state;
    float s = 1.0f;
    const float bad[] = {0.0f, -1.0f, NAN, INFINITY};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(qp_requant_scale(bad[i], 1.0f, 1.0f, &s), QP_ERR_INVALID_ARG);
        assert_true(s == 0.0f);
        assert_int_equal(qp_requant_scale(1.0f, bad[i], 1.0f, &s), QP_ERR_INVALID_ARG);
        assert_int_equal(qp_requant_scale(1.0f, 1.0f, bad[i], &s), QP_ERR_INVALID_ARG);
        assert_int_equal(qp_requant_mean_scale(bad[i], 1.0f, 4, &s), QP_ERR_INVALID_ARG);
    }
    assert_int_equal(qp_requant_scale(1e30f, 1e30f, 1e-30f, &s), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "not finite"));
    assert_int_equal(qp_requant_mean_scale(1.0f, 1.0f, 0, &s), QP_ERR_INVALID_ARG);
    assert_int_equal(qp_requant_mean_scale(1.0f, 1.0f, ((int64_t)1 << 24) + 1, &s), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "count"));
}

static void test_round_is_half_to_even(void **state) {
    (void)state;
    for (int i = -512; i <= 512; i++) {
        const float v = (float)i / 2.0f; /* every integer and half-integer in [-256, 256] */
        assert_true(qp_requant_round(v) == nearbyintf(v));
    }
    assert_true(qp_requant_round(2.5f) == 2.0f);
    assert_true(qp_requant_round(3.5f) == 4.0f);
    assert_true(qp_requant_round(-2.5f) == -2.0f);
    assert_true(qp_requant_round(0.49999997f) == 0.0f);
    assert_true(qp_requant_round(-0.5f) == 0.0f);
}

static void test_ties_round_half_to_even(void **state) {
    (void)state;
    /* acc * 0.5 lands on exact halves: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> 0, -1.5 -> -2. */
    const int32_t acc[] = {1, 3, 5, 7, -1, -3, -5, -7};
    const int32_t want[] = {0, 2, 2, 4, 0, -2, -2, -4};
    for (int i = 0; i < 8; i++) assert_int_equal(qp_requantize(acc[i], 0.5f, 100, 0, 255), 100 + want[i]);
    /* A product that is a tie only in float: 3 * 0.8333333f rounds to exactly 2.5f (the real
     * product 2.4999999...), and ORT's arithmetic takes the float product. */
    const float s = 0.8333333f;
    assert_true(3.0f * s == 2.5f);
    assert_int_equal(qp_requantize(3, s, 0, 0, 255), 2);
    assert_true(3.0f * 0.8333335f > 2.5f);
    assert_int_equal(qp_requantize(3, 0.8333335f, 0, 0, 255), 3);
}

static void test_large_accumulators_round_to_float_first(void **state) {
    (void)state;
    /* Above 2^24 the accumulator itself is rounded to float (vcvtdq2ps): 33947647 becomes
     * 33947648 = 129.5 * 2^18, a tie that goes to 130, where exact arithmetic gives 129. */
    const float s = ldexpf(1.0f, -18);
    assert_true((float)33947647 == 33947648.0f);
    assert_int_equal(qp_requantize(33947647, s, 0, 0, 255), 130);
    assert_int_equal(qp_requantize(33947647 - 2, s, 0, 0, 255), 129); /* 33947645 -> 33947644 */
    assert_int_equal(qp_requantize(-33947647, s, 255, 0, 255), 255 - 130);
    assert_int_equal(qp_requantize(INT32_MAX, 1.0f, 0, 0, 255), 255);
    assert_int_equal(qp_requantize(INT32_MIN, 1.0f, 255, 0, 255), 0);
}

static void test_clamp_and_zero_point(void **state) {
    (void)state;
    assert_int_equal(qp_requantize(-1000, 0.1f, 10, 0, 255), 0);      /* -100 + 10 below 0 */
    assert_int_equal(qp_requantize(1000000, 0.1f, 10, 0, 255), 255);
    assert_int_equal(qp_requantize(-1000, 0.01f, 10, 0, 255), 0);     /* -10 + 10 = 0 exactly */
    assert_int_equal(qp_requantize(50, 0.1f, 10, 12, 200), 15);
    assert_int_equal(qp_requantize(0, 0.1f, 10, 12, 200), 12);        /* fused Relu-like floor */
    assert_int_equal(qp_requantize(5000, 0.1f, 10, 12, 200), 200);    /* fused Relu6-like ceiling */
    assert_int_equal(qp_requantize(123, 1e30f, 0, 0, 255), 255);      /* an infinite product clamps */
    assert_int_equal(qp_requantize(-123, 1e30f, 7, 3, 255), 3);
}

static void test_matches_independent_reference(void **state) {
    (void)state;
    for (int i = 0; i < 200000; i++) {
        int32_t acc;
        switch (i % 3) {
        case 0: acc = (int32_t)(rng_next() % 200001) - 100000; break;
        case 1: acc = (int32_t)(uint32_t)rng_next(); break; /* any int32, most above 2^24 */
        default: acc = (int32_t)(rng_next() % 67108864) - 33554432; break;
        }
        const int32_t zp = (int32_t)(rng_next() % 256);
        int32_t qmin = (int32_t)(rng_next() % 256), qmax = (int32_t)(rng_next() % 256);
        if (qmin > qmax) {
            const int32_t t = qmin;
            qmin = qmax;
            qmax = t;
        }
        /* scales that keep most results inside the range for each kind of accumulator */
        const float scale = i % 3 == 0 ? ldexpf(rng_scale(), -8) : ldexpf(rng_scale(), -24);
        const uint8_t got = qp_requantize(acc, scale, zp, qmin, qmax);
        const uint8_t want = reference_requantize(acc, scale, zp, qmin, qmax);
        if (got != want) fail_msg("acc %d scale %a zp %d [%d, %d]: %d vs %d", acc, (double)scale, zp, qmin, qmax, got, want);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scale_is_computed_in_float_in_orts_order),
        cmocka_unit_test(test_scale_rejects_bad_values),
        cmocka_unit_test(test_round_is_half_to_even),
        cmocka_unit_test(test_ties_round_half_to_even),
        cmocka_unit_test(test_large_accumulators_round_to_float_first),
        cmocka_unit_test(test_clamp_and_zero_point),
        cmocka_unit_test(test_matches_independent_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
