#ifndef VAE_KERNELS_H
#define VAE_KERNELS_H
#include <stddef.h>

// Element-wise loops of the model compiled for AVX2 (eight floats a step, glibc's AVX2 expf/logf), used when the
// CPU has AVX2; each returns 0 without touching anything when it does not, and the caller runs its portable Swift
// loop (VAEModel), which is the definition: these follow it operation for operation (no FMA contraction).

/// Bernoulli NLL per pixel on logits l and targets x (VAEModel's BernoulliNLL): loss[j] = max(l, 0) − x·l +
/// (log u − ((u − 1) − e)/u) and gradient[j] = (l ≥ 0 ? 1 : e)/u − x, with e = exp(−|l|), u = 1 + e.
int vae_bernoulli_nll_avx2(const float *logits, const float *targets, size_t count, float *gradient, float *loss);

/// Adam (VAEModel's Adam.apply): m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g·g; p ← p − (s·m)/(√v·c + ε).
int vae_adam_avx2(
    float *parameters, const float *gradients, float *first_moment, float *second_moment, size_t count,
    float beta1, float beta2, float one_minus_beta1, float one_minus_beta2, float step_size,
    float inverse_root_correction2, float epsilon);

/// 1 when this CPU (and its OS) runs the AVX2 loops.
int vae_kernels_avx2(void);
#endif
