/* gomath.c owns our reimplementation of Go 1.19's math functions (amd64 build) used by PromQL,
 * operation for operation, so results carry the same bits as Prometheus's.
 *
 * Sources of the algorithms (facts and constants; the code is ours):
 *  - exp: Go's amd64 assembly, N. Shibata's SLEEF method (ISC'10): k = round(x*log2e),
 *    r = (x - k*ln2u - k*ln2l)/16, Taylor series to degree 8, four squarings of (1+r)-1
 *    done as r*(r+2), then scaling by 2^k with a separate subnormal step; FMA variant when the
 *    CPU has AVX2+FMA (Go's useFMA).
 *  - log: FreeBSD e_log.c as in Go's amd64 assembly (f = m/2^k - 1, s = f/(2+f), a degree-14
 *    polynomial in s split in odd/even halves); its frexp ignores subnormals.
 *  - log1p, asinh, acosh, atanh: FreeBSD msun (s_log1p.c, s_asinh.c, e_acosh.c, e_atanh.c) as
 *    simplified in Go.
 *  - sin, cos, tan: Cephes sin.c/tan.c with pi/4 split in three parts (Cody-Waite) below 2^29
 *    and Payne-Hanek reduction (K. C. Ng, "Argument reduction for huge arguments: good to the
 *    last bit", 1992) with 4/pi as 64-bit digits above.
 *  - atan, asin, acos, atan2: Cephes atan.c (rational approximation on [0, 0.66], reduction by
 *    tan(3pi/8) and pi/4), asin/acos via atan of x/sqrt(1-x^2).
 *  - sinh, cosh: Hart & Cheney #2029 rational below 0.5, else e = exp(|x|) and (e -+ 1/e)/2
 *    (one exp call, as Go 1.19 does); tanh: Cephes tanh.c.
 *  - pow: Go's own: special cases from IEEE 754-2008 9.2.1, then exp(yf*log(x)) for the
 *    fraction of y and repeated squaring of frexp(x) for its integer part, ldexp at the end.
 *
 * Every expression keeps Go's evaluation order; Go does not contract a*b+c into FMA on amd64
 * (GOAMD64=v1) and ISO C mode does not either (-std=c11 implies -ffp-contract=off). */
#include "promql/gomath.h"
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Go's math.Pi and exact-constant multiples of it, each rounded once to double. */
#define GO_PI 3.14159265358979323846264338327950288419716939937510582097494459
#define GO_PI_2 1.57079632679489661923132169163975144209858469968755291048747230
#define GO_PI_4 0.785398163397448309615660845819875721049292349843776455243736148
#define GO_3PI_4 2.35619449019234492884698253745962716314787704953132936573120844
#define GO_4_PI 1.27323954473516268615107010698011489627567716592365404729872372
#define GO_LN2 0.693147180559945309417232121458176568075500134360255254120680009
#define GO_1_LN2 1.44269504088896340735992468100189213742664595415298593413544940
#define GO_1_LN10 0.434294481903251827651128918916605082294397005803666566114453783

static uint64_t d2u(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double u2d(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* Go's useFMA for the Exp assembly: the CPU has both AVX2 and FMA3. */
static bool cpu_has_fma(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return false;
#endif
}

/* ------------------------------------------------------------------ exp (SLEEF, Go amd64) */

#define EXP_LOG2E 1.4426950408889634073599246810018920
#define EXP_LN2U 0.69314718055966295651160180568695068359375
#define EXP_LN2L 0.28235290563031577122588448175013436025525412068e-12
#define EXP_OVERFLOW 7.09782712893384e+02
#define EXP_C2 0.5
#define EXP_C3 1.6666666666666666667e-1
#define EXP_C4 4.1666666666666666667e-2
#define EXP_C5 8.3333333333333333333e-3
#define EXP_C6 1.3888888888888888889e-3
#define EXP_C7 1.9841269841269841270e-4
#define EXP_C8 2.4801587301587301587e-5

double go_exp(double x) { return go_exp_variant(x, cpu_has_fma()); }

bool go_exp_uses_fma(void) { return cpu_has_fma(); }

double go_exp_variant(double x, bool use_fma)
{
    uint64_t bx = d2u(x);
    if ((bx & ~(UINT64_C(1) << 63)) >= UINT64_C(0x7FF0000000000000)) {
        if (bx == UINT64_C(0xFFF0000000000000))
            return 0; /* -Inf */
        return x;     /* NaN, +Inf */
    }
    if (x > EXP_OVERFLOW)
        return INFINITY;
    /* CVTSD2SL: round to nearest even; out of int32 range gives INT32_MIN. */
    double kr = nearbyint(EXP_LOG2E * x);
    int32_t k = (kr >= -2147483648.0 && kr <= 2147483647.0) ? (int32_t)kr : INT32_MIN;
    double kd = (double)k;
    double r, t;
    if (use_fma) {
        r = fma(-kd, EXP_LN2U, x);
        r = fma(-kd, EXP_LN2L, r);
        r *= 0.0625;
        t = EXP_C8;
        t = fma(t, r, EXP_C7);
        t = fma(t, r, EXP_C6);
        t = fma(t, r, EXP_C5);
        t = fma(t, r, EXP_C4);
        t = fma(t, r, EXP_C3);
        t = fma(t, r, EXP_C2);
        t = fma(t, r, 1.0);
        r = r * t;
        for (int i = 0; i < 3; i++) {
            t = r + 2.0;
            r = r * t;
        }
        t = r + 2.0;
        r = fma(r, t, 1.0);
    } else {
        r = x - kd * EXP_LN2U;
        r = r - kd * EXP_LN2L;
        r *= 0.0625;
        t = EXP_C8 * r;
        t = (t + EXP_C7) * r;
        t = (t + EXP_C6) * r;
        t = (t + EXP_C5) * r;
        t = (t + EXP_C4) * r;
        t = (t + EXP_C3) * r;
        t = (t + EXP_C2) * r;
        t = t + 1.0;
        r = r * t;
        for (int i = 0; i < 4; i++) {
            t = 2.0 + r;
            r = r * t;
        }
        r = r + 1.0;
    }
    /* r * 2^k: biased exponent k+1023; subnormal results scale in two steps. */
    int32_t be = k + 0x3FF;
    if (be <= 0) {
        if (be < -52)
            return 0;
        be += 0x3FE;
        r *= u2d((uint64_t)be << 52);
        be = 1;
    } else if (be >= 0x7FF) {
        return INFINITY;
    }
    return r * u2d((uint64_t)be << 52);
}

/* ------------------------------------------------------------------ log (FreeBSD, Go amd64) */

#define LOG_HSQRT2 7.07106781186547524401e-01
#define LOG_LN2HI 6.93147180369123816490e-01
#define LOG_LN2LO 1.90821492927058770002e-10
#define LOG_L1 6.666666666666735130e-01
#define LOG_L2 3.999999999940941908e-01
#define LOG_L3 2.857142874366239149e-01
#define LOG_L4 2.222219843214978396e-01
#define LOG_L5 1.818357216161805012e-01
#define LOG_L6 1.531383769920937332e-01
#define LOG_L7 1.479819860511658591e-01

double go_log(double x)
{
    uint64_t bx = d2u(x);
    if ((bx & ~(UINT64_C(1) << 63)) == 0)
        return -INFINITY;
    if ((int64_t)bx < 0)
        return NAN;
    if (bx >= UINT64_C(0x7FF0000000000000))
        return x; /* +Inf, NaN */
    /* Go's assembly frexp: mantissa bits with exponent of 0.5; subnormals are not normalized. */
    double f1 = u2d((bx & UINT64_C(0x000FFFFFFFFFFFFF)) | UINT64_C(0x3FE0000000000000));
    double k = (double)((int32_t)((bx >> 52) & 0x7FF) - 0x3FE);
    double adj = (f1 <= LOG_HSQRT2) ? 1.0 : 0.0; /* CMPSD not-less-than */
    k = k - adj;
    f1 = f1 * (adj + 1.0);
    double f = f1 - 1.0;
    double s = f / (2.0 + f);
    double s2 = s * s;
    double s4 = s2 * s2;
    double t1 = s2 * (((LOG_L7 * s4 + LOG_L5) * s4 + LOG_L3) * s4 + LOG_L1);
    double t2 = s4 * ((LOG_L6 * s4 + LOG_L4) * s4 + LOG_L2);
    double R = t1 + t2;
    double hfsq = 0.5 * f * f;
    return k * LOG_LN2HI - ((hfsq - (s * (R + hfsq) + k * LOG_LN2LO)) - f);
}

/* Go's Log2: exact for powers of two, else Log(frac)/ln2 + exp with a normalizing frexp. */
double go_log2(double x)
{
    int e;
    double frac = frexp(x, &e);
    if (frac == 0.5)
        return (double)(e - 1);
    return go_log(frac) * GO_1_LN2 + (double)e;
}

/* Go's Log10: Log(x) times 1/ln(10) rounded once. */
double go_log10(double x) { return go_log(x) * GO_1_LN10; }

/* ------------------------------------------------------------------ log1p (FreeBSD s_log1p.c) */

double go_log1p(double x)
{
    const double Sqrt2M1 = 4.142135623730950488017e-01;
    const double Sqrt2HalfM1 = -2.928932188134524755992e-01;
    const double Small = 1.0 / (1 << 29);
    const double Tiny = 1.0 / 18014398509481984.0; /* 2^-54 */
    const double Two53 = 9007199254740992.0;
    const double Lp1 = 6.666666666666735130e-01, Lp2 = 3.999999999940941908e-01,
                 Lp3 = 2.857142874366239149e-01, Lp4 = 2.222219843214978396e-01,
                 Lp5 = 1.818357216161805012e-01, Lp6 = 1.531383769920937332e-01,
                 Lp7 = 1.479819860511658591e-01;
    if (x < -1 || isnan(x))
        return NAN;
    if (x == -1)
        return -INFINITY;
    if (isinf(x))
        return INFINITY;
    double absx = fabs(x);
    double f = 0, c = 0;
    uint64_t iu = 0;
    int k = 1;
    if (absx < Sqrt2M1) {
        if (absx < Small) {
            if (absx < Tiny)
                return x;
            return x - x * x * 0.5;
        }
        if (x > Sqrt2HalfM1) {
            k = 0;
            f = x;
            iu = 1;
        }
    }
    if (k != 0) {
        double u;
        if (absx < Two53) {
            u = 1.0 + x;
            iu = d2u(u);
            k = (int)((int64_t)(iu >> 52) - 1023);
            if (k > 0)
                c = 1.0 - (u - x);
            else
                c = x - (u - 1.0);
            c /= u;
        } else {
            u = x;
            iu = d2u(u);
            k = (int)((int64_t)(iu >> 52) - 1023);
            c = 0;
        }
        iu &= UINT64_C(0x000fffffffffffff);
        if (iu < UINT64_C(0x0006a09e667f3bcd)) {
            u = u2d(iu | UINT64_C(0x3ff0000000000000));
        } else {
            k++;
            u = u2d(iu | UINT64_C(0x3fe0000000000000));
            iu = (UINT64_C(0x0010000000000000) - iu) >> 2;
        }
        f = u - 1.0;
    }
    double hfsq = 0.5 * f * f;
    double fk = (double)k;
    if (iu == 0) {
        if (f == 0) {
            if (k == 0)
                return 0;
            c += fk * LOG_LN2LO;
            return fk * LOG_LN2HI + c;
        }
        double R = hfsq * (1.0 - 0.66666666666666666 * f);
        if (k == 0)
            return f - R;
        return fk * LOG_LN2HI - ((R - (fk * LOG_LN2LO + c)) - f);
    }
    double s = f / (2.0 + f);
    double z = s * s;
    double R = z * (Lp1 + z * (Lp2 + z * (Lp3 + z * (Lp4 + z * (Lp5 + z * (Lp6 + z * Lp7))))));
    if (k == 0)
        return f - (hfsq - s * (hfsq + R));
    return fk * LOG_LN2HI - ((hfsq - (s * (hfsq + R) + (fk * LOG_LN2LO + c))) - f);
}

/* ------------------------------------------------------------------ trigonometry (Cephes) */

#define PI4A 7.85398125648498535156e-1
#define PI4B 3.77489470793079817668e-8
#define PI4C 2.69515142907905952645e-15
#define REDUCE_THRESHOLD 536870912.0 /* 2^29: Cody-Waite with 3 parts stays exact below */

static const double sin_c[6] = {
    1.58962301576546568060e-10, -2.50507477628578072866e-8, 2.75573136213857245213e-6,
    -1.98412698295895385996e-4, 8.33333333332211858878e-3,  -1.66666666666666307295e-1,
};
static const double cos_c[6] = {
    -1.13585365213876817300e-11, 2.08757008419747316778e-9, -2.75573141792967388112e-7,
    2.48015872888517045348e-5,   -1.38888888888730564116e-3, 4.16666666666665929218e-2,
};

/* Binary digits of 4/pi: 4/pi = sum mpi4[i] * 2^(-64 i); 1217 bits cover every float64. */
static const uint64_t mpi4[20] = {
    UINT64_C(0x0000000000000001), UINT64_C(0x45f306dc9c882a53), UINT64_C(0xf84eafa3ea69bb81),
    UINT64_C(0xb6c52b3278872083), UINT64_C(0xfca2c757bd778ac3), UINT64_C(0x6e48dc74849ba5c0),
    UINT64_C(0x0c925dd413a32439), UINT64_C(0xfc3bd63962534e7d), UINT64_C(0xd1046bea5d768909),
    UINT64_C(0xd338e04d68befc82), UINT64_C(0x7323ac7306a673e9), UINT64_C(0x3908bf177bf25076),
    UINT64_C(0x3ff12fffbc0b301f), UINT64_C(0xde5e2316b414da3e), UINT64_C(0xda6cfd9e4f96136e),
    UINT64_C(0x9e8c7ecd3cbfd45a), UINT64_C(0xea4f758fd7cbe2f6), UINT64_C(0x7a0e73ef14a525d4),
    UINT64_C(0xd7f6bf623f1aba10), UINT64_C(0xac06608df8f6d757),
};

/* Shifts with Go semantics: a count of 64 or more gives 0. */
static uint64_t shl64(uint64_t a, unsigned n) { return n >= 64 ? 0 : a << n; }
static uint64_t shr64(uint64_t a, unsigned n) { return n >= 64 ? 0 : a >> n; }

/* Full 64x64 -> 128-bit product. */
static void mul64(uint64_t a, uint64_t b, uint64_t *hi, uint64_t *lo)
{
    uint64_t a0 = a & 0xffffffffu, a1 = a >> 32, b0 = b & 0xffffffffu, b1 = b >> 32;
    uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    uint64_t mid = (p00 >> 32) + (p01 & 0xffffffffu) + (p10 & 0xffffffffu);
    *lo = (mid << 32) | (p00 & 0xffffffffu);
    *hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
}

/* Payne-Hanek: for x >= pi/4, the octant j (mod 8, mapped so j is even) and the remainder z
 * (in radians) of x / (pi/4), from the 192 bits of 4/pi that matter for x's exponent. */
static void trig_reduce(double x, uint64_t *j_out, double *z_out)
{
    if (x < GO_PI_4) {
        *j_out = 0;
        *z_out = x;
        return;
    }
    uint64_t ix = d2u(x);
    int e = (int)((ix >> 52) & 0x7ff) - 1023 - 52;
    ix &= ~(UINT64_C(0x7ff) << 52);
    ix |= UINT64_C(1) << 52;
    unsigned digit = (unsigned)(e + 61) / 64, bitshift = (unsigned)(e + 61) % 64;
    uint64_t z0 = shl64(mpi4[digit], bitshift) | shr64(mpi4[digit + 1], 64 - bitshift);
    uint64_t z1 = shl64(mpi4[digit + 1], bitshift) | shr64(mpi4[digit + 2], 64 - bitshift);
    uint64_t z2 = shl64(mpi4[digit + 2], bitshift) | shr64(mpi4[digit + 3], 64 - bitshift);
    uint64_t z2hi, z2lo, z1hi, z1lo;
    mul64(z2, ix, &z2hi, &z2lo);
    mul64(z1, ix, &z1hi, &z1lo);
    uint64_t z0lo = z0 * ix;
    uint64_t lo = z1lo + z2hi;
    uint64_t carry = lo < z1lo;
    uint64_t hi = z0lo + z1hi + carry;
    uint64_t j = hi >> 61;
    hi = hi << 3 | lo >> 61;
    unsigned lz = hi ? (unsigned)__builtin_clzll(hi) : 64;
    uint64_t be = (uint64_t)(1023 - (int)(lz + 1));
    hi = shl64(hi, lz + 1) | shr64(lo, 64 - (lz + 1));
    hi >>= 64 - 52;
    hi |= be << 52;
    double z = u2d(hi);
    if (j & 1) {
        j++;
        j &= 7;
        z--;
    }
    *j_out = j;
    *z_out = z * GO_PI_4;
}

/* Octant and remainder for 0 <= x < +Inf, as Go's sin/cos/tan compute them. */
static void trig_octant(double x, uint64_t *j_out, double *z_out)
{
    if (x >= REDUCE_THRESHOLD) {
        trig_reduce(x, j_out, z_out);
        return;
    }
    uint64_t j = (uint64_t)(x * GO_4_PI);
    double y = (double)j;
    if (j & 1) {
        j++;
        y++;
    }
    *j_out = j;
    *z_out = ((x - y * PI4A) - y * PI4B) - y * PI4C;
}

static double poly_sin(double z, double zz)
{
    return z + z * zz * ((((((sin_c[0] * zz) + sin_c[1]) * zz + sin_c[2]) * zz + sin_c[3]) * zz + sin_c[4]) * zz + sin_c[5]);
}

static double poly_cos(double zz)
{
    return 1.0 - 0.5 * zz + zz * zz * ((((((cos_c[0] * zz) + cos_c[1]) * zz + cos_c[2]) * zz + cos_c[3]) * zz + cos_c[4]) * zz + cos_c[5]);
}

double go_sin(double x)
{
    if (x == 0 || isnan(x))
        return x;
    if (isinf(x))
        return NAN;
    bool sign = false;
    if (x < 0) {
        x = -x;
        sign = true;
    }
    uint64_t j;
    double z;
    trig_octant(x, &j, &z);
    j &= 7;
    if (j > 3) {
        sign = !sign;
        j -= 4;
    }
    double zz = z * z;
    double y = (j == 1 || j == 2) ? poly_cos(zz) : poly_sin(z, zz);
    return sign ? -y : y;
}

double go_cos(double x)
{
    if (isnan(x) || isinf(x))
        return NAN;
    bool sign = false;
    x = fabs(x);
    uint64_t j;
    double z;
    trig_octant(x, &j, &z);
    j &= 7;
    if (j > 3) {
        j -= 4;
        sign = !sign;
    }
    if (j > 1)
        sign = !sign;
    double zz = z * z;
    double y = (j == 1 || j == 2) ? poly_sin(z, zz) : poly_cos(zz);
    return sign ? -y : y;
}

double go_tan(double x)
{
    static const double P0 = -1.30936939181383777646e4, P1 = 1.15351664838587416140e6,
                        P2 = -1.79565251976484877988e7;
    static const double Q1 = 1.36812963470692954678e4, Q2 = -1.32089234440210967447e6,
                        Q3 = 2.50083801823357915839e7, Q4 = -5.38695755929454629881e7;
    if (x == 0 || isnan(x))
        return x;
    if (isinf(x))
        return NAN;
    bool sign = false;
    if (x < 0) {
        x = -x;
        sign = true;
    }
    uint64_t j;
    double z, y;
    trig_octant(x, &j, &z);
    double zz = z * z;
    if (zz > 1e-14)
        y = z + z * (zz * (((P0 * zz) + P1) * zz + P2) / ((((zz + Q1) * zz + Q2) * zz + Q3) * zz + Q4));
    else
        y = z;
    if (j & 2)
        y = -1 / y;
    return sign ? -y : y;
}

/* ------------------------------------------------------------------ inverse trig (Cephes) */

/* Rational approximation of atan on [0, 0.66]. */
static double xatan(double x)
{
    const double P0 = -8.750608600031904122785e-01, P1 = -1.615753718733365076637e+01,
                 P2 = -7.500855792314704667340e+01, P3 = -1.228866684490136173410e+02,
                 P4 = -6.485021904942025371773e+01;
    const double Q0 = +2.485846490142306297962e+01, Q1 = +1.650270098316988542046e+02,
                 Q2 = +4.328810604912902668951e+02, Q3 = +4.853903996359136964868e+02,
                 Q4 = +1.945506571482613964425e+02;
    double z = x * x;
    z = z * ((((P0 * z + P1) * z + P2) * z + P3) * z + P4) / (((((z + Q0) * z + Q1) * z + Q2) * z + Q3) * z + Q4);
    return x * z + x;
}

/* atan for x > 0 (or NaN): reduce to [0, 0.66] via 1/x above tan(3pi/8), (x-1)/(x+1) above 0.66. */
static double satan(double x)
{
    const double Morebits = 6.123233995736765886130e-17; /* pi/2 = PIO2 + Morebits */
    const double Tan3pio8 = 2.41421356237309504880;
    if (x <= 0.66)
        return xatan(x);
    if (x > Tan3pio8)
        return GO_PI_2 - xatan(1 / x) + Morebits;
    return GO_PI_4 + xatan((x - 1) / (x + 1)) + 0.5 * Morebits;
}

double go_atan(double x)
{
    if (x == 0)
        return x;
    if (x > 0)
        return satan(x);
    return -satan(-x);
}

double go_asin(double x)
{
    if (x == 0)
        return x;
    bool sign = false;
    if (x < 0) {
        x = -x;
        sign = true;
    }
    if (x > 1)
        return NAN;
    double temp = sqrt(1 - x * x);
    if (x > 0.7)
        temp = GO_PI_2 - satan(temp / x);
    else
        temp = satan(x / temp);
    return sign ? -temp : temp;
}

double go_acos(double x) { return GO_PI_2 - go_asin(x); }

double go_atan2(double y, double x)
{
    if (isnan(y) || isnan(x))
        return NAN;
    if (y == 0) {
        if (x >= 0 && !signbit(x))
            return copysign(0, y);
        return copysign(GO_PI, y);
    }
    if (x == 0)
        return copysign(GO_PI_2, y);
    if (isinf(x)) {
        if (x > 0)
            return isinf(y) ? copysign(GO_PI_4, y) : copysign(0, y);
        return isinf(y) ? copysign(GO_3PI_4, y) : copysign(GO_PI, y);
    }
    if (isinf(y))
        return copysign(GO_PI_2, y);
    double q = go_atan(y / x);
    if (x < 0) {
        if (q <= 0)
            return q + GO_PI;
        return q - GO_PI;
    }
    return q;
}

/* ------------------------------------------------------------------ hyperbolic */

double go_sinh(double x)
{
    const double P0 = -0.6307673640497716991184787251e+6, P1 = -0.8991272022039509355398013511e+5,
                 P2 = -0.2894211355989563807284660366e+4, P3 = -0.2630563213397497062819489e+2;
    const double Q0 = -0.6307673640497716991212077277e+6, Q1 = 0.1521517378790019070696485176e+5,
                 Q2 = -0.173678953558233699533450911e+3;
    bool sign = false;
    if (x < 0) {
        x = -x;
        sign = true;
    }
    double temp;
    if (x > 21) {
        temp = go_exp(x) / 2;
    } else if (x > 0.5) {
        double ex = go_exp(x);
        temp = (ex - 1 / ex) * 0.5;
    } else {
        double sq = x * x;
        temp = (((P3 * sq + P2) * sq + P1) * sq + P0) * x;
        temp = temp / (((sq + Q2) * sq + Q1) * sq + Q0);
    }
    return sign ? -temp : temp;
}

double go_cosh(double x)
{
    x = fabs(x);
    if (x > 21)
        return go_exp(x) / 2;
    double ex = go_exp(x);
    return (ex + 1 / ex) * 0.5;
}

double go_tanh(double x)
{
    const double MAXLOG = 8.8029691931113054295988e+01;
    const double P0 = -9.64399179425052238628E-1, P1 = -9.92877231001918586564E1,
                 P2 = -1.61468768441708447952E3;
    const double Q0 = 1.12811678491632931402E2, Q1 = 2.23548839060100448583E3,
                 Q2 = 4.84406305325125486048E3;
    double z = fabs(x);
    if (z > 0.5 * MAXLOG)
        return x < 0 ? -1 : 1;
    if (z >= 0.625) {
        double s = go_exp(2 * z);
        z = 1 - 2 / (s + 1);
        return x < 0 ? -z : z;
    }
    if (x == 0)
        return x;
    double s = x * x;
    return x + x * s * ((P0 * s + P1) * s + P2) / (((s + Q0) * s + Q1) * s + Q2);
}

double go_asinh(double x)
{
    const double Ln2 = 6.93147180559945286227e-01;
    const double NearZero = 1.0 / (1 << 28), Large = 1 << 28;
    if (isnan(x) || isinf(x))
        return x;
    bool sign = false;
    if (x < 0) {
        x = -x;
        sign = true;
    }
    double temp;
    if (x > Large)
        temp = go_log(x) + Ln2;
    else if (x > 2)
        temp = go_log(2 * x + 1 / (sqrt(x * x + 1) + x));
    else if (x < NearZero)
        temp = x;
    else
        temp = go_log1p(x + x * x / (1 + sqrt(1 + x * x)));
    return sign ? -temp : temp;
}

double go_acosh(double x)
{
    const double Ln2 = 6.93147180559945286227e-01, Large = 1 << 28;
    if (x < 1 || isnan(x))
        return NAN;
    if (x == 1)
        return 0;
    if (x >= Large)
        return go_log(x) + Ln2;
    if (x > 2)
        return go_log(2 * x - 1 / (x + sqrt(x * x - 1)));
    double t = x - 1;
    return go_log1p(t + sqrt(2 * t + t * t));
}

double go_atanh(double x)
{
    const double NearZero = 1.0 / (1 << 28);
    if (x < -1 || x > 1 || isnan(x))
        return NAN;
    if (x == 1)
        return INFINITY;
    if (x == -1)
        return -INFINITY;
    bool sign = false;
    if (x < 0) {
        x = -x;
        sign = true;
    }
    double temp;
    if (x < NearZero) {
        temp = x;
    } else if (x < 0.5) {
        temp = x + x;
        temp = 0.5 * go_log1p(temp + temp * x / (1 - x));
    } else {
        temp = 0.5 * go_log1p((x + x) / (1 - x));
    }
    return sign ? -temp : temp;
}

/* ------------------------------------------------------------------ pow, mod */

/* Go's isOddInt: integral (modf) and odd as int64 (values beyond int64 convert as amd64's
 * CVTTSD2SQ does, to INT64_MIN, which is even). */
static bool is_odd_int(double x)
{
    double xi;
    double xf = modf(x, &xi);
    if (xf != 0)
        return false;
    if (!(xi >= -9223372036854775808.0 && xi < 9223372036854775808.0))
        return false;
    return ((int64_t)xi & 1) != 0;
}

double go_pow(double x, double y)
{
    if (y == 0 || x == 1)
        return 1;
    if (y == 1)
        return x;
    if (isnan(x) || isnan(y))
        return NAN;
    if (x == 0) {
        if (y < 0)
            return is_odd_int(y) ? copysign(INFINITY, x) : INFINITY;
        if (y > 0)
            return is_odd_int(y) ? x : 0;
    }
    if (isinf(y)) {
        if (x == -1)
            return 1;
        if ((fabs(x) < 1) == (y > 0))
            return 0;
        return INFINITY;
    }
    if (isinf(x)) {
        if (x < 0)
            return go_pow(1 / x, -y);
        if (y < 0)
            return 0;
        if (y > 0)
            return INFINITY;
    }
    if (y == 0.5)
        return sqrt(x);
    if (y == -0.5)
        return 1 / sqrt(x);

    double yi;
    double yf = modf(fabs(y), &yi);
    if (yf != 0 && x < 0)
        return NAN;
    if (yi >= 9223372036854775808.0) {
        if (x == -1)
            return 1;
        if ((fabs(x) < 1) == (y > 0))
            return 0;
        return INFINITY;
    }
    double a1 = 1.0;
    int64_t ae = 0;
    if (yf != 0) {
        if (yf > 0.5) {
            yf--;
            yi++;
        }
        a1 = go_exp(yf * go_log(x));
    }
    int xe_i;
    double x1 = frexp(x, &xe_i);
    int64_t xe = xe_i;
    /* yi < 2^63 here, but yi++ above may reach 2^63: Go's int64 conversion then gives
     * INT64_MIN (CVTTSD2SQ), which we reproduce. */
    int64_t i = yi < 9223372036854775808.0 ? (int64_t)yi : INT64_MIN;
    for (; i != 0; i >>= 1) {
        if (xe < -(1 << 12) || (1 << 12) < xe) {
            ae += xe;
            break;
        }
        if (i & 1) {
            a1 *= x1;
            ae += xe;
        }
        x1 *= x1;
        xe *= 2; /* Go: xe <<= 1 on a signed int */
        if (x1 < .5) {
            x1 += x1;
            xe--;
        }
    }
    if (y < 0) {
        a1 = 1 / a1;
        ae = -ae;
    }
    /* Go's Ldexp is correctly rounded (one multiply for subnormals), as C's ldexp is. */
    if (ae > 100000)
        ae = 100000;
    if (ae < -100000)
        ae = -100000;
    return ldexp(a1, (int)ae);
}

/* Go's Mod (repeated subtraction of y * 2^k) is exact, as is C's fmod: same bits, same sign of
 * zero, NaN for y == 0 or infinite x, x for infinite y. */
double go_mod(double x, double y) { return fmod(x, y); }
