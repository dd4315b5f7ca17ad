#ifndef VAE_SHA256_H
#define VAE_SHA256_H
#include <stddef.h>
#include <stdint.h>

/// SHA-256's compression function (FIPS 180-4 §6.2.2) over `blocks` consecutive 64-byte blocks at `data`,
/// updating the eight working words in `state` (H0…H7, host order). Uses the x86 SHA extensions when the CPU has
/// them (checked once), the portable rounds otherwise; both give the same words.
void vae_sha256_blocks(uint32_t state[8], const uint8_t *data, size_t blocks);

/// The portable rounds alone (the tests compare both paths).
void vae_sha256_blocks_portable(uint32_t state[8], const uint8_t *data, size_t blocks);

/// 1 when `vae_sha256_blocks` uses the SHA extensions on this CPU.
int vae_sha256_accelerated(void);
#endif
