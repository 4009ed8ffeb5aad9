/* gomath.h owns the Go-exact elementary functions PromQL needs: the same bits as Go 1.19's
 * math package on amd64 (the build of Prometheus 2.42 we are compared with).
 *
 * Why: glibc's libm is correctly rounded or close to it, Go's math is not; PromQL results
 * (and count_values labels built from them) must match Prometheus to the last bit.
 * Each function names the algorithm it reimplements in gomath.c. Rules:
 *  - pure functions of their arguments, thread-safe, no allocation;
 *  - go_exp follows Go's amd64 assembly, which takes an FMA path when the CPU has AVX2 and FMA
 *    (decided at run time, as Go does), so results on CPUs without FMA differ exactly as
 *    Prometheus's own do;
 *  - go_log follows Go's amd64 assembly, which mis-scales subnormal inputs (as Prometheus does).
 *  - sqrt, floor, ceil, trunc, fabs, fmod, frexp, ldexp, modf are exact (correctly rounded or
 *    exact by definition) in both C and Go, so C's are used as they are. */
#ifndef MS_PROMQL_GOMATH_H
#define MS_PROMQL_GOMATH_H
#include <stdbool.h>

double go_exp(double x);
/* Whether go_exp takes Go's FMA path on this CPU (AVX2 and FMA present). */
bool go_exp_uses_fma(void);
/* go_exp with the path forced (for tests: the path not taken on this CPU). */
double go_exp_variant(double x, bool use_fma);
double go_log(double x);
double go_log2(double x);
double go_log10(double x);
double go_log1p(double x);
double go_sin(double x);
double go_cos(double x);
double go_tan(double x);
double go_asin(double x);
double go_acos(double x);
double go_atan(double x);
double go_atan2(double y, double x);
double go_sinh(double x);
double go_cosh(double x);
double go_tanh(double x);
double go_asinh(double x);
double go_acosh(double x);
double go_atanh(double x);
double go_pow(double x, double y);
double go_mod(double x, double y);

#endif
