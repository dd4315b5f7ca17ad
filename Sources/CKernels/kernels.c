// AVX2 versions of VAEModel's hottest element-wise loops (see vae_kernels.h). Compiled with -ffp-contract=off
// so each operation rounds as the Swift loop's does.
#include "vae_kernels.h"

#if defined(__x86_64__) && defined(__linux__)
#include <immintrin.h>
#include <math.h>

// glibc's libmvec: eight-lane expf and logf (the AVX2 variants of the SSE ones the Swift loops vectorize into).
__attribute__((target("avx2"))) __m256 _ZGVdN8v_expf(__m256);
__attribute__((target("avx2"))) __m256 _ZGVdN8v_logf(__m256);

static int avx2 = -1;  // -1 until checked; every thread that checks stores the same answer

int vae_kernels_avx2(void) {
    int known = __atomic_load_n(&avx2, __ATOMIC_RELAXED);
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx2") ? 1 : 0;
        __atomic_store_n(&avx2, known, __ATOMIC_RELAXED);
    }
    return known;
}

__attribute__((target("avx2")))
static void bernoulli_nll(const float *logits, const float *targets, size_t count, float *gradient, float *loss) {
    const __m256 one = _mm256_set1_ps(1), zero = _mm256_setzero_ps(), sign = _mm256_set1_ps(-0.0f);
    size_t j = 0;
    for (; j + 8 <= count; j += 8) {
        const __m256 l = _mm256_loadu_ps(logits + j), x = _mm256_loadu_ps(targets + j);
        const __m256 e = _ZGVdN8v_expf(_mm256_or_ps(l, sign));  // exp(−|l|)
        const __m256 u = _mm256_add_ps(one, e);
        const __m256 correction = _mm256_div_ps(_mm256_sub_ps(_mm256_sub_ps(u, one), e), u);
        const __m256 softplus = _mm256_sub_ps(_ZGVdN8v_logf(u), correction);
        _mm256_storeu_ps(loss + j, _mm256_add_ps(_mm256_sub_ps(_mm256_max_ps(l, zero), _mm256_mul_ps(x, l)), softplus));
        const __m256 numerator = _mm256_blendv_ps(e, one, _mm256_cmp_ps(l, zero, _CMP_GE_OQ));
        _mm256_storeu_ps(gradient + j, _mm256_sub_ps(_mm256_div_ps(numerator, u), x));
    }
    for (; j < count; j++) {
        const float l = logits[j], x = targets[j];
        const float e = expf(-fabsf(l)), u = 1 + e;
        loss[j] = (l > 0 ? l : 0) - x * l + (logf(u) - ((u - 1) - e) / u);
        gradient[j] = (l >= 0 ? 1 : e) / u - x;
    }
}

int vae_bernoulli_nll_avx2(const float *logits, const float *targets, size_t count, float *gradient, float *loss) {
    if (!vae_kernels_avx2()) return 0;
    bernoulli_nll(logits, targets, count, gradient, loss);
    return 1;
}

__attribute__((target("avx2")))
static void adam(
    float *p, const float *g, float *m, float *v, size_t count, float beta1, float beta2, float one_minus_beta1,
    float one_minus_beta2, float step_size, float inverse_root_correction2, float epsilon) {
    const __m256 b1 = _mm256_set1_ps(beta1), b2 = _mm256_set1_ps(beta2);
    const __m256 c1 = _mm256_set1_ps(one_minus_beta1), c2 = _mm256_set1_ps(one_minus_beta2);
    const __m256 s = _mm256_set1_ps(step_size), r = _mm256_set1_ps(inverse_root_correction2), eps = _mm256_set1_ps(epsilon);
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        const __m256 gi = _mm256_loadu_ps(g + i);
        const __m256 mi = _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(c1, gi));
        const __m256 vi = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(v + i)), _mm256_mul_ps(_mm256_mul_ps(c2, gi), gi));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        const __m256 denominator = _mm256_add_ps(_mm256_mul_ps(_mm256_sqrt_ps(vi), r), eps);
        _mm256_storeu_ps(p + i, _mm256_sub_ps(_mm256_loadu_ps(p + i), _mm256_div_ps(_mm256_mul_ps(s, mi), denominator)));
    }
    for (; i < count; i++) {
        const float gi = g[i];
        const float mi = beta1 * m[i] + one_minus_beta1 * gi;
        const float vi = beta2 * v[i] + one_minus_beta2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] -= step_size * mi / (sqrtf(vi) * inverse_root_correction2 + epsilon);
    }
}

int vae_adam_avx2(
    float *parameters, const float *gradients, float *first_moment, float *second_moment, size_t count,
    float beta1, float beta2, float one_minus_beta1, float one_minus_beta2, float step_size,
    float inverse_root_correction2, float epsilon) {
    if (!vae_kernels_avx2()) return 0;
    adam(parameters, gradients, first_moment, second_moment, count, beta1, beta2, one_minus_beta1, one_minus_beta2,
        step_size, inverse_root_correction2, epsilon);
    return 1;
}

#else
int vae_kernels_avx2(void) { return 0; }
int vae_bernoulli_nll_avx2(const float *logits, const float *targets, size_t count, float *gradient, float *loss) {
    (void)logits; (void)targets; (void)count; (void)gradient; (void)loss;
    return 0;
}
int vae_adam_avx2(
    float *parameters, const float *gradients, float *first_moment, float *second_moment, size_t count,
    float beta1, float beta2, float one_minus_beta1, float one_minus_beta2, float step_size,
    float inverse_root_correction2, float epsilon) {
    (void)parameters; (void)gradients; (void)first_moment; (void)second_moment; (void)count; (void)beta1; (void)beta2;
    (void)one_minus_beta1; (void)one_minus_beta2; (void)step_size; (void)inverse_root_correction2; (void)epsilon;
    return 0;
}
#endif
