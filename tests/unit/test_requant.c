/* test_requant.c — Q31 requantization: multiplier conversion, single rounding at ties/saturation/negatives, error vs real arithmetic. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "test_support.h"

#include "kernels/int8/requant.h"

/* qp_q31_mul's value computed a second, independent way: the exact rational x * multiplier /
 * 2^total plus 1/2, floored with 128-bit integers and an explicit floor division (no shift of a
 * negative number), then saturated to int32. */
static int32_t exact_single_rounding(int32_t x, qp_q31 q) {
    const int total = 31 + q.shift;
    const __int128 num = (__int128)x * q.multiplier * 2 + ((__int128)1 << total); /* 2(xm + 2^(t-1)) */
    const __int128 den = (__int128)1 << (total + 1);
    __int128 quot = num / den; /* truncates toward zero */
    if (num % den != 0 && num < 0) quot--;
    return quot > INT32_MAX ? INT32_MAX : quot < INT32_MIN ? INT32_MIN : (int32_t)quot;
}

/* The gemmlowp double rounding qpipe used before (SRDHM, then RDBPOT), kept here only to show
 * in the error test what single rounding gained. */
static int32_t gemmlowp_double_rounding(int32_t x, qp_q31 q) {
    if (q.shift < 0) {
        const int64_t y = (int64_t)x * ((int64_t)1 << -q.shift);
        x = y > INT32_MAX ? INT32_MAX : y < INT32_MIN ? INT32_MIN : (int32_t)y;
    }
    const int64_t ab = (int64_t)x * q.multiplier;
    const int32_t high = (int32_t)((ab + (ab >= 0 ? (1 << 30) : (1 - (1 << 30)))) / ((int64_t)1 << 31));
    const int e = q.shift > 0 ? q.shift : 0;
    const int32_t mask = (int32_t)(((int64_t)1 << e) - 1);
    const int32_t threshold = (mask >> 1) + (high < 0 ? 1 : 0);
    return (high >> e) + ((high & mask) > threshold ? 1 : 0);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng_next(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void expect_q31(double real, int32_t multiplier, int32_t shift) {
    qp_q31 q = {-1, -1};
    assert_int_equal(qp_q31_from_real(real, &q), QP_OK);
    if (q.multiplier != multiplier || q.shift != shift)
        fail_msg("qp_q31_from_real(%.17g) = {%d, %d}, expected {%d, %d}", real, q.multiplier, q.shift,
                 multiplier, shift);
}

static void test_from_real_exact_powers_and_edges(void **state) {
    (void)state;
    expect_q31(0.0, 0, 0);
    expect_q31(0.5, 1 << 30, 0);
    expect_q31(0.75, 1610612736, 0);
    expect_q31(0.25, 1 << 30, 1);
    expect_q31(1.0, 1 << 30, -1);      /* >= 1: left shift */
    expect_q31(3.0, 1610612736, -2);
    expect_q31(256.0, 1 << 30, -9);
    expect_q31(ldexp(1.0, -31), 1 << 30, 30);
    expect_q31(ldexp(1.0, -32), 1 << 30, 31); /* the smallest exponent kept */
    expect_q31(ldexp(1.0, -33), 0, 0);        /* flushed, as TFLite does */
    expect_q31(1e-300, 0, 0);
    /* q * 2^31 rounding up to 2^31 halves the mantissa and bumps the exponent */
    expect_q31(1.0 - ldexp(1.0, -40), 1 << 30, -1);
    expect_q31(0.5 - ldexp(1.0, -41), 1 << 30, 0);
    /* round half away from zero of q * 2^31: q = 0.5 + 2^-32 gives 2^30 + 0.5 -> 2^30 + 1 */
    expect_q31(0.5 + ldexp(1.0, -32), (1 << 30) + 1, 0);
}

static void test_from_real_rejects_bad_values(void **state) {
    (void)state;
    const double bad[] = {-1.0, -1e-30, NAN, INFINITY, -INFINITY, ldexp(1.0, 31), 1e300,
                          ldexp(1.0, 31) * (1.0 - ldexp(1.0, -45))};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        qp_q31 q = {123, 456};
        assert_int_equal(qp_q31_from_real(bad[i], &q), QP_ERR_INVALID_ARG);
        assert_non_null(strstr(qp_error_message(), "requantization multiplier"));
        assert_int_equal(q.multiplier, 0); /* never left half-written */
        assert_int_equal(q.shift, 0);
    }
    /* the largest accepted value */
    qp_q31 q;
    assert_int_equal(qp_q31_from_real(ldexp(1.0, 30) * 1.5, &q), QP_OK);
    assert_int_equal(q.shift, -31);
}

static void test_from_real_round_trip(void **state) {
    (void)state;
    for (int i = 0; i < 20000; i++) {
        const double e = -31.0 + 39.0 * (double)(rng_next() >> 11) / 9007199254740992.0;
        const double m = exp2(e);
        qp_q31 q;
        assert_int_equal(qp_q31_from_real(m, &q), QP_OK);
        assert_true(q.multiplier >= (1 << 30));
        assert_true(q.shift >= -31 && q.shift <= 31);
        const double back = qp_q31_to_real(q);
        if (fabs(back - m) > m * ldexp(1.0, -31))
            fail_msg("round trip of %.17g gave %.17g", m, back);
    }
}

/* The library's qp_q31_mul equals the 128-bit rational form on every shift, on boundary
 * operands and on random ones. */
static void test_mul_matches_exact_formula(void **state) {
    (void)state;
    const int32_t edges[] = {0, 1, -1, 2, -2, 3, -3, 255, -255, (1 << 30), -(1 << 30), (1 << 30) - 1,
                             -(1 << 30) + 1, INT32_MAX, INT32_MIN, INT32_MIN + 1, INT32_MAX - 1, 12345,
                             -12345, 1 << 23, -(1 << 23)};
    const int32_t multipliers[] = {1 << 30, (1 << 30) + 1, 1518500250, INT32_MAX, INT32_MAX - 1, 0};
    const size_t n_edges = sizeof edges / sizeof edges[0];
    for (int shift = -31; shift <= 31; shift++)
        for (size_t mi = 0; mi < sizeof multipliers / sizeof multipliers[0]; mi++) {
            const qp_q31 q = {multipliers[mi], shift};
            for (size_t i = 0; i < n_edges; i++)
                if (qp_q31_mul(edges[i], q) != exact_single_rounding(edges[i], q))
                    fail_msg("qp_q31_mul(%d, {%d, %d}) = %d, exact %d", edges[i], q.multiplier, shift,
                             qp_q31_mul(edges[i], q), exact_single_rounding(edges[i], q));
        }
    for (int i = 0; i < 400000; i++) {
        const qp_q31 q = {(int32_t)((1u << 30) + (uint32_t)(rng_next() % (1u << 30))),
                          (int32_t)(rng_next() % 63) - 31};
        const int32_t wide = (int32_t)rng_next();
        const int32_t small = (int32_t)(rng_next() % 200001) - 100000;
        assert_int_equal(qp_q31_mul(wide, q), exact_single_rounding(wide, q));
        assert_int_equal(qp_q31_mul(small, q), exact_single_rounding(small, q));
    }
}

/* Ties go towards +inf whatever the shift: there is one rounding, so no step can settle a tie
 * differently from another. */
static void test_ties_round_up(void **state) {
    (void)state;
    qp_q31 quarter, half, eighth;
    assert_int_equal(qp_q31_from_real(0.25, &quarter), QP_OK); /* {2^30, 1} */
    assert_int_equal(qp_q31_from_real(0.5, &half), QP_OK);     /* {2^30, 0} */
    assert_int_equal(qp_q31_from_real(0.125, &eighth), QP_OK); /* {2^30, 2} */
    assert_int_equal(qp_q31_mul(2, quarter), 1);   /* 0.5 -> 1 */
    assert_int_equal(qp_q31_mul(-2, quarter), 0);  /* -0.5 -> 0 */
    assert_int_equal(qp_q31_mul(6, quarter), 2);   /* 1.5 -> 2 */
    assert_int_equal(qp_q31_mul(-6, quarter), -1); /* -1.5 -> -1 */
    assert_int_equal(qp_q31_mul(-10, quarter), -2); /* -2.5 -> -2 */
    assert_int_equal(qp_q31_mul(-7, quarter), -2); /* -1.75 -> -2 */
    assert_int_equal(qp_q31_mul(-5, quarter), -1); /* -1.25 -> -1 */
    assert_int_equal(qp_q31_mul(1, half), 1);      /* 0.5 -> 1 */
    assert_int_equal(qp_q31_mul(-1, half), 0);     /* -0.5 -> 0, the same as with m = 0.25 */
    assert_int_equal(qp_q31_mul(-3, half), -1);    /* -1.5 -> -1 */
    assert_int_equal(qp_q31_mul(-12, eighth), -1); /* -1.5 -> -1 */
    assert_int_equal(qp_q31_mul(-13, eighth), -2); /* -1.625 -> -2 */
    /* just off a tie, both sides round to nearest */
    const qp_q31 above = {(1 << 30) + 1, 1}, below = {INT32_MAX, 2}; /* 0.25 + 2^-32, 0.25 - 2^-33 */
    assert_int_equal(qp_q31_mul(-2, above), -1); /* -0.50000000047 -> -1 */
    assert_int_equal(qp_q31_mul(6, below), 1);   /* 1.4999999993 -> 1 */
    assert_int_equal(qp_q31_mul(-6, below), -1); /* -1.4999999993 -> -1 */
    /* the zero point is added after rounding, and the clamp comes last */
    assert_int_equal(qp_requantize(-6, quarter.multiplier, quarter.shift, 10, 0, 255), 9);
    assert_int_equal(qp_requantize(-6, quarter.multiplier, quarter.shift, 1, 0, 255), 0);
    assert_int_equal(qp_requantize(6, quarter.multiplier, quarter.shift, 250, 0, 251), 251);
    /* ReLU6-style narrowed clamp */
    assert_int_equal(qp_requantize(1000, half.multiplier, half.shift, 0, 0, 120), 120);
    assert_int_equal(qp_requantize(-1000, half.multiplier, half.shift, 30, 30, 255), 30);
    /* the zero-point add cannot wrap around */
    qp_q31 near_one;
    assert_int_equal(qp_q31_from_real(0.9999999, &near_one), QP_OK);
    assert_int_equal(qp_requantize(INT32_MAX, near_one.multiplier, near_one.shift, 255, 0, 255), 255);
    assert_int_equal(qp_requantize(INT32_MIN, near_one.multiplier, near_one.shift, 255, 0, 255), 0);
}

static void test_mul_saturates_for_large_multipliers(void **state) {
    (void)state;
    qp_q31 q;
    assert_int_equal(qp_q31_from_real(256.0, &q), QP_OK); /* {2^30, -9}: total 22 */
    assert_int_equal(qp_q31_mul(3, q), 768);
    assert_int_equal(qp_q31_mul(-3, q), -768);
    assert_int_equal(qp_q31_mul((1 << 23) - 1, q), INT32_MAX - 255);
    assert_int_equal(qp_q31_mul(1 << 23, q), INT32_MAX);  /* 2^31 saturates */
    assert_int_equal(qp_q31_mul(-(1 << 23), q), INT32_MIN); /* -2^31 fits */
    assert_int_equal(qp_q31_mul(INT32_MAX, q), INT32_MAX);
    assert_int_equal(qp_q31_mul(INT32_MIN, q), INT32_MIN);
    /* the saturated value still clamps to the right end of the output range */
    assert_int_equal(qp_requantize(1 << 24, q.multiplier, q.shift, 128, 0, 255), 255);
    assert_int_equal(qp_requantize(-(1 << 24), q.multiplier, q.shift, 128, 0, 255), 0);
    /* total 0 (m just below 2^31): no rounding term at all */
    assert_int_equal(qp_q31_from_real(ldexp(1.0, 30), &q), QP_OK);
    assert_int_equal(q.shift, -31);
    assert_int_equal(qp_q31_mul(1, q), 1 << 30);
    assert_int_equal(qp_q31_mul(-1, q), -(1 << 30));
    assert_int_equal(qp_q31_mul(2, q), INT32_MAX);
    assert_int_equal(qp_q31_mul(-2, q), INT32_MIN);
    assert_int_equal(qp_q31_mul(INT32_MIN, q), INT32_MIN);
}

static void test_tiny_multipliers(void **state) {
    (void)state;
    qp_q31 q;
    assert_int_equal(qp_q31_from_real(ldexp(1.0, -31), &q), QP_OK); /* shift 30, total 61 */
    assert_int_equal(qp_q31_mul(INT32_MAX, q), 1);        /* 0.99999 -> 1 */
    assert_int_equal(qp_q31_mul(1 << 30, q), 1);          /* exactly 0.5 -> 1 */
    assert_int_equal(qp_q31_mul(-(1 << 30), q), 0);       /* exactly -0.5 -> 0 */
    assert_int_equal(qp_q31_mul(-(1 << 30) - 1, q), -1);  /* -0.5000000005 -> -1 */
    /* 0.4999999995: double rounding made this 1 (SRDHM's tie, then RDBPOT's); one rounding
     * gets the nearest integer */
    assert_int_equal(qp_q31_mul((1 << 30) - 1, q), 0);
    assert_int_equal(gemmlowp_double_rounding((1 << 30) - 1, q), 1);
    assert_int_equal(qp_q31_mul(INT32_MIN, q), -1);
    assert_int_equal(qp_q31_from_real(ldexp(1.0, -32), &q), QP_OK); /* shift 31, total 62 */
    assert_int_equal(qp_q31_mul(INT32_MAX, q), 0);        /* 0.4999999998 -> 0 */
    assert_int_equal(qp_q31_mul(INT32_MIN, q), 0);        /* exactly -0.5 -> 0 */
    assert_int_equal(qp_q31_from_real(ldexp(1.0, -34), &q), QP_OK); /* flushed */
    assert_int_equal(qp_q31_mul(INT32_MAX, q), 0);
    assert_int_equal(qp_requantize(INT32_MIN, q.multiplier, q.shift, 7, 0, 255), 7);
}

/* Against real arithmetic. With one rounding the result is the nearest integer to acc * m' for
 * the stored m' (ties up), so |result - acc * m| <= 0.5 + |acc| * |m' - m|: half a step plus the
 * multiplier's own representation error (2^-31 relative). It differs from round(acc * m) only
 * where acc * m lies within that representation error of a tie. The old double rounding is
 * measured on the same cases for comparison. */
static void test_error_vs_float_reference(void **state) {
    (void)state;
    int64_t total = 0, differ = 0, differ_double = 0;
    double worst = 0.0, worst_double = 0.0;
    for (int i = 0; i < 300000; i++) {
        const double e = -24.0 + 32.0 * (double)(rng_next() >> 11) / 9007199254740992.0; /* 2^-24..2^8 */
        const double m = exp2(e);
        qp_q31 q;
        assert_int_equal(qp_q31_from_real(m, &q), QP_OK);
        /* results up to 2^12 (an int8 output range with headroom) */
        const double bound = fmin(2147483647.0, ldexp(1.0, 12) / m);
        const int32_t acc = (int32_t)((double)(int64_t)(rng_next() % (2 * (uint64_t)bound + 1)) - bound);
        const long double exact = (long double)acc * (long double)m;
        const long double representation = fabsl((long double)acc * ((long double)qp_q31_to_real(q) - (long double)m));
        const int32_t got = qp_q31_mul(acc, q);
        const double err = (double)fabsl((long double)got - exact);
        if ((long double)err > 0.5L + representation + 1e-12L)
            fail_msg("acc %d * m %.17g (shift %d): got %d, exact %.9Lf", acc, m, q.shift, got, exact);
        /* against the stored multiplier it is exactly nearest-with-ties-up */
        assert_int_equal(got, exact_single_rounding(acc, q));
        if (err > worst) worst = err;
        const long double rounded = roundl(exact); /* half away from zero */
        if ((long double)got != rounded) {
            differ++;
            /* only where the representation error can move acc * m across a tie */
            const long double to_tie = fabsl(fabsl(exact - floorl(exact)) - 0.5L);
            if (to_tie > representation + 1e-12L && !(to_tie == 0 && exact < 0))
                fail_msg("acc %d * m %.17g: got %d, round() %.0Lf, %.3Lg from a tie", acc, m, got, rounded, to_tie);
        }
        const int32_t old = gemmlowp_double_rounding(acc, q);
        if ((long double)old != rounded) differ_double++;
        const double err_double = (double)fabsl((long double)old - exact);
        if (err_double > worst_double) worst_double = err_double;
        total++;
    }
    print_message("requant vs real acc*m on %lld cases: single rounding: %lld differ from round() "
                  "(ties/representation error), worst error %.6f steps; old double rounding: %lld differ, "
                  "worst %.6f steps\n",
                  (long long)total, (long long)differ, worst, (long long)differ_double, worst_double);
    assert_true(worst <= 0.5 + 1e-6);
    assert_true(differ * 1000 < total);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from_real_exact_powers_and_edges),
        cmocka_unit_test(test_from_real_rejects_bad_values),
        cmocka_unit_test(test_from_real_round_trip),
        cmocka_unit_test(test_mul_matches_exact_formula),
        cmocka_unit_test(test_ties_round_up),
        cmocka_unit_test(test_mul_saturates_for_large_multipliers),
        cmocka_unit_test(test_tiny_multipliers),
        cmocka_unit_test(test_error_vs_float_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
