/* test_requant.c — Q31 requantization: multiplier conversion, gemmlowp rounding at ties/saturation/negatives, error vs float. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "test_support.h"

#include "kernels/int8/requant.h"

/* gemmlowp's SaturatingRoundingDoublingHighMul, transcribed literally (nudge, then C division
 * that truncates toward zero), to check the library's version against the original text. */
static int32_t gemmlowp_srdhm(int32_t a, int32_t b) {
    const int overflow = a == b && a == INT32_MIN;
    const int64_t a_64 = a, b_64 = b;
    const int64_t ab_64 = a_64 * b_64;
    const int32_t nudge = ab_64 >= 0 ? (1 << 30) : (1 - (1 << 30));
    const int32_t ab_x2_high32 = (int32_t)((ab_64 + nudge) / (1ll << 31));
    return overflow ? INT32_MAX : ab_x2_high32;
}

/* x / 2^e rounded half away from zero, exactly, in int64. */
static int64_t round_div_pot(int64_t x, int e) {
    if (e == 0) return x;
    const int64_t half = (int64_t)1 << (e - 1);
    return x >= 0 ? (x + half) >> e : -((-x + half) >> e);
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

static void test_srdhm_ties_saturation_negatives(void **state) {
    (void)state;
    /* exact halves: ab = odd * 2^30 */
    assert_int_equal(qp_q31_srdhm(1, 1 << 30), 1);    /* +0.5 -> 1 */
    assert_int_equal(qp_q31_srdhm(3, 1 << 30), 2);    /* +1.5 -> 2 */
    assert_int_equal(qp_q31_srdhm(-1, 1 << 30), 0);   /* -0.5 -> 0: gemmlowp rounds ties UP */
    assert_int_equal(qp_q31_srdhm(-3, 1 << 30), -1);  /* -1.5 -> -1 */
    assert_int_equal(qp_q31_srdhm(1 << 30, -5), -2);  /* -2.5 -> -2 */
    /* just off the ties, negative side rounds to nearest */
    assert_int_equal(qp_q31_srdhm(-3, (1 << 30) + 1), -2); /* -1.5000000014 -> -2 */
    assert_int_equal(qp_q31_srdhm(-3, (1 << 30) - 1), -1); /* -1.4999999986 -> -1 */
    /* saturation and the extremes */
    assert_int_equal(qp_q31_srdhm(INT32_MIN, INT32_MIN), INT32_MAX);
    assert_int_equal(qp_q31_srdhm(INT32_MAX, INT32_MAX), INT32_MAX - 1);
    assert_int_equal(qp_q31_srdhm(INT32_MIN, INT32_MAX), -INT32_MAX);
    assert_int_equal(qp_q31_srdhm(INT32_MAX, INT32_MIN), -INT32_MAX);
    assert_int_equal(qp_q31_srdhm(0, INT32_MIN), 0);
    /* against the literal gemmlowp text on random and boundary operands */
    const int32_t edges[] = {0, 1, -1, 2, -2, 3, (1 << 30), -(1 << 30), (1 << 30) - 1, INT32_MAX,
                             INT32_MIN, INT32_MIN + 1, INT32_MAX - 1, 12345, -12345};
    const size_t n_edges = sizeof edges / sizeof edges[0];
    for (size_t i = 0; i < n_edges; i++)
        for (size_t j = 0; j < n_edges; j++)
            assert_int_equal(qp_q31_srdhm(edges[i], edges[j]), gemmlowp_srdhm(edges[i], edges[j]));
    for (int i = 0; i < 200000; i++) {
        const int32_t a = (int32_t)rng_next(), b = (int32_t)rng_next();
        const int32_t small = (int32_t)(rng_next() % 2001) - 1000;
        assert_int_equal(qp_q31_srdhm(a, b), gemmlowp_srdhm(a, b));
        assert_int_equal(qp_q31_srdhm(small, b), gemmlowp_srdhm(small, b));
    }
}

static void test_rdbpot_ties_away_from_zero(void **state) {
    (void)state;
    assert_int_equal(qp_q31_rdbpot(5, 1), 3);    /* 2.5 -> 3 */
    assert_int_equal(qp_q31_rdbpot(-5, 1), -3);  /* -2.5 -> -3 */
    assert_int_equal(qp_q31_rdbpot(1, 1), 1);    /* 0.5 -> 1 */
    assert_int_equal(qp_q31_rdbpot(-1, 1), -1);  /* -0.5 -> -1 */
    assert_int_equal(qp_q31_rdbpot(3, 2), 1);    /* 0.75 -> 1 */
    assert_int_equal(qp_q31_rdbpot(-2, 2), -1);  /* -0.5 -> -1 */
    assert_int_equal(qp_q31_rdbpot(-6, 2), -2);  /* -1.5 -> -2 */
    assert_int_equal(qp_q31_rdbpot(-5, 2), -1);  /* -1.25 -> -1 */
    /* shift 0 is the identity, even at the extremes */
    assert_int_equal(qp_q31_rdbpot(INT32_MAX, 0), INT32_MAX);
    assert_int_equal(qp_q31_rdbpot(INT32_MIN, 0), INT32_MIN);
    assert_int_equal(qp_q31_rdbpot(-1, 0), -1);
    /* shift 31 */
    assert_int_equal(qp_q31_rdbpot(INT32_MAX, 31), 1);
    assert_int_equal(qp_q31_rdbpot(INT32_MIN, 31), -1);
    assert_int_equal(qp_q31_rdbpot(1 << 30, 31), 1);      /* exactly +0.5 */
    assert_int_equal(qp_q31_rdbpot(-(1 << 30), 31), -1);  /* exactly -0.5 */
    assert_int_equal(qp_q31_rdbpot((1 << 30) - 1, 31), 0);
    assert_int_equal(qp_q31_rdbpot(-(1 << 30) + 1, 31), 0);
    for (int i = 0; i < 200000; i++) {
        const int32_t x = (int32_t)rng_next();
        const int e = (int)(rng_next() % 32);
        assert_int_equal(qp_q31_rdbpot(x, e), (int32_t)round_div_pot(x, e));
    }
}

static void test_mul_left_shift_saturates(void **state) {
    (void)state;
    qp_q31 q;
    assert_int_equal(qp_q31_from_real(256.0, &q), QP_OK);
    assert_int_equal(qp_q31_mul(3, q), 768);
    assert_int_equal(qp_q31_mul(-3, q), -768);
    assert_int_equal(qp_q31_mul(1 << 23, q), 1 << 30);          /* 2^31 saturates before the mul */
    assert_int_equal(qp_q31_mul(-(1 << 23), q), -(1 << 30));
    assert_int_equal(qp_q31_mul(INT32_MAX, q), 1 << 30);
    assert_int_equal(qp_q31_mul(INT32_MIN, q), -(1 << 30));
    /* the saturated value still clamps to the right end of the output range */
    assert_int_equal(qp_requantize(1 << 24, q.multiplier, q.shift, 128, 0, 255), 255);
    assert_int_equal(qp_requantize(-(1 << 24), q.multiplier, q.shift, 128, 0, 255), 0);
    /* left shift by 31 (m just below 2^31) */
    assert_int_equal(qp_q31_from_real(ldexp(1.0, 30), &q), QP_OK);
    assert_int_equal(q.shift, -31);
    assert_int_equal(qp_q31_mul(1, q), 1 << 30);
    assert_int_equal(qp_q31_mul(2, q), 1 << 30);
    assert_int_equal(qp_q31_mul(-1, q), -(1 << 30));
}

static void test_tiny_multipliers(void **state) {
    (void)state;
    qp_q31 q;
    assert_int_equal(qp_q31_from_real(ldexp(1.0, -31), &q), QP_OK); /* shift 30 */
    assert_int_equal(qp_q31_mul(INT32_MAX, q), 1);        /* 0.99999 -> 1 */
    assert_int_equal(qp_q31_mul(1 << 30, q), 1);          /* exactly 0.5 -> 1 (away from zero) */
    assert_int_equal(qp_q31_mul(-(1 << 30), q), -1);      /* exactly -0.5 -> -1 */
    /* double rounding: exact 0.4999999995, but SRDHM's tie rounds up to 2^29, which RDBPOT then
     * sees as exactly 0.5 -> 1. Off by one step at a near-tie, as the float test bounds. */
    assert_int_equal(qp_q31_mul((1 << 30) - 1, q), 1);
    assert_int_equal(qp_q31_mul((1 << 30) - 2, q), 0);
    assert_int_equal(qp_q31_mul(INT32_MIN, q), -1);
    assert_int_equal(qp_q31_from_real(ldexp(1.0, -32), &q), QP_OK); /* shift 31 */
    assert_int_equal(qp_q31_mul(INT32_MAX, q), 1);        /* 0.4999999998: double rounding again */
    assert_int_equal(qp_q31_mul(INT32_MAX - 2, q), 0);
    assert_int_equal(qp_q31_mul(INT32_MIN, q), -1);       /* exactly -0.5 -> -1 */
    assert_int_equal(qp_q31_mul(INT32_MIN + 2, q), 0);
    assert_int_equal(qp_q31_from_real(ldexp(1.0, -34), &q), QP_OK); /* flushed */
    assert_int_equal(qp_q31_mul(INT32_MAX, q), 0);
    assert_int_equal(qp_requantize(INT32_MIN, q.multiplier, q.shift, 7, 0, 255), 7);
}

/* The whole path at exact ties: where SRDHM is exact the tie is settled by RDBPOT (away from
 * zero); where the tie falls inside SRDHM (shift 0) it rounds up. Both documented in kernels.md. */
static void test_requantize_ties_documented(void **state) {
    (void)state;
    qp_q31 quarter, half;
    assert_int_equal(qp_q31_from_real(0.25, &quarter), QP_OK); /* {2^30, 1} */
    assert_int_equal(qp_q31_from_real(0.5, &half), QP_OK);     /* {2^30, 0} */
    assert_int_equal(qp_q31_mul(2, quarter), 1);   /* 0.5 -> 1 */
    assert_int_equal(qp_q31_mul(-2, quarter), -1); /* -0.5 -> -1 */
    assert_int_equal(qp_q31_mul(6, quarter), 2);   /* 1.5 -> 2 */
    assert_int_equal(qp_q31_mul(-6, quarter), -2); /* -1.5 -> -2 */
    assert_int_equal(qp_q31_mul(1, half), 1);      /* 0.5 -> 1 */
    assert_int_equal(qp_q31_mul(-1, half), 0);     /* -0.5 -> 0 (SRDHM tie, rounds up) */
    assert_int_equal(qp_q31_mul(-3, half), -1);    /* -1.5 -> -1 */
    /* the zero point is added after rounding, and the clamp comes last */
    assert_int_equal(qp_requantize(-6, quarter.multiplier, quarter.shift, 10, 0, 255), 8);
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

/* Against a float reference. Two roundings (SRDHM to an integer in units of 2^-shift, then
 * RDBPOT) bound the error by 0.5 + 2^-(shift + 1) steps (<= 0.75, shift >= 1), plus the
 * multiplier's own 2^-31 relative rounding; so a result differs from round(acc * m) only when
 * acc * m lies within 2^-(shift + 1) of a tie, and then by exactly one. Always <= 1 step. */
static void test_error_vs_float_reference(void **state) {
    (void)state;
    int64_t total = 0, differ_from_float = 0;
    double worst = 0.0;
    for (int i = 0; i < 300000; i++) {
        const double e = -24.0 + 32.0 * (double)(rng_next() >> 11) / 9007199254740992.0; /* 2^-24..2^8 */
        const double m = exp2(e);
        qp_q31 q;
        assert_int_equal(qp_q31_from_real(m, &q), QP_OK);
        /* results up to 2^12 (an int8 output range with headroom): the multiplier's own
         * rounding (2^-31 relative) then moves a result by < 2^-19 */
        const double bound = fmin(2147483647.0, ldexp(1.0, 12) / m);
        const int32_t acc = (int32_t)((double)(int64_t)(rng_next() % (2 * (uint64_t)bound + 1)) - bound);
        const int32_t got = qp_q31_mul(acc, q);
        const double exact = (double)acc * m;
        const double err = fabs((double)got - exact);
        const double allowed = 0.5 + (q.shift > 0 ? ldexp(1.0, -(q.shift + 1)) : 0.0) + 1e-5;
        if (err > allowed)
            fail_msg("acc %d * m %.17g (shift %d): got %d, exact %.6f", acc, m, q.shift, got, exact);
        if (err > worst) worst = err;
        const double rounded = round(exact); /* half away from zero */
        if ((double)got != rounded) {
            differ_from_float++;
            if (fabs((double)got - rounded) != 1.0) fail_msg("more than one step off");
        }
        total++;
    }
    print_message("requant vs float round(): %lld of %lld differ by one step; worst error %.4f steps\n",
                  (long long)differ_from_float, (long long)total, worst);
    assert_true(worst <= 0.75 + 1e-5);
    assert_true(differ_from_float * 20 < total); /* near-ties only, not a systematic bias */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from_real_exact_powers_and_edges),
        cmocka_unit_test(test_from_real_rejects_bad_values),
        cmocka_unit_test(test_from_real_round_trip),
        cmocka_unit_test(test_srdhm_ties_saturation_negatives),
        cmocka_unit_test(test_rdbpot_ties_away_from_zero),
        cmocka_unit_test(test_mul_left_shift_saturates),
        cmocka_unit_test(test_tiny_multipliers),
        cmocka_unit_test(test_requantize_ties_documented),
        cmocka_unit_test(test_error_vs_float_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
