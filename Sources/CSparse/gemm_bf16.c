// bf16 linear layers Y = X · Wᵀ with f32 accumulation (AVX512_BF16 `vdpbf16ps`); see
// include/CSparse.h. Compiled for generic x86-64: the kernel carries its own target attribute
// and is called only after `csparse_cpu_features` reports CSPARSE_AVX512BF16.
//
// `vdpbf16ps` multiplies 16 pairs of bf16 and adds each pair's two products to one f32 lane, so
// the reduction dimension k is consumed two at a time. The weight is packed once into panels of
// 32 output columns: for each pair p, the 32 columns' (w[c][2p], w[c][2p+1]) — two zmm registers.
// The activations need no packing: a row converted to bf16 already holds its pairs side by side,
// so one 32-bit broadcast feeds a row's pair to 16 lanes. Register tile: 8 rows × 32 columns
// (16 accumulators).
#include "CSparse.h"

#include <immintrin.h>
#include <string.h>

#define BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define PANEL 32   // output columns per packed panel
#define MR 8       // rows per register tile
#define MC 96      // rows whose bf16 activations stay in L2 while every panel passes

// Round-to-nearest-even f32 → bf16 (NaN kept a quiet NaN), the conversion `vcvtneps2bf16` does.
static inline uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

int64_t csparse_bf16_pairs(int64_t k) { return (k + 1) / 2; }

int64_t csparse_bf16_packed_count(int64_t n, int64_t k) {
    return (n + PANEL - 1) / PANEL * PANEL * 2 * csparse_bf16_pairs(k);
}

void csparse_bf16_pack_weight(const float *w, int64_t n, int64_t k, uint16_t *packed) {
    const int64_t pairs = csparse_bf16_pairs(k), panels = (n + PANEL - 1) / PANEL;
    for (int64_t panel = 0; panel < panels; panel++) {
        uint16_t *out = packed + panel * PANEL * 2 * pairs;
        for (int64_t p = 0; p < pairs; p++) {
            for (int64_t c = 0; c < PANEL; c++) {
                const int64_t column = panel * PANEL + c;
                float a = 0, b = 0;
                if (column < n) {
                    a = w[column * k + 2 * p];
                    b = 2 * p + 1 < k ? w[column * k + 2 * p + 1] : 0;
                }
                out[(p * PANEL + c) * 2] = to_bf16(a);
                out[(p * PANEL + c) * 2 + 1] = to_bf16(b);
            }
        }
    }
}

void csparse_bf16_convert_rows(const float *x, int64_t m, int64_t k, int64_t ldx, uint16_t *out) {
    const int64_t width = 2 * csparse_bf16_pairs(k);
    for (int64_t r = 0; r < m; r++) {
        for (int64_t i = 0; i < k; i++) out[r * width + i] = to_bf16(x[r * ldx + i]);
        if (width > k) out[r * width + k] = 0;
    }
}

BF16 static inline void tile_full(const uint16_t *x, int64_t width, const uint16_t *panel, int64_t pairs,
                                  float *y, int64_t ldy, int accumulate, __mmask16 m0, __mmask16 m1) {
    __m512 a[MR][2];
    for (int r = 0; r < MR; r++) a[r][0] = a[r][1] = _mm512_setzero_ps();
    const uint32_t *xr = (const uint32_t *)x;
    const int64_t stride = width / 2;   // pairs per row
    for (int64_t p = 0; p < pairs; p++) {
        const __m512bh b0 = (__m512bh)_mm512_loadu_si512(panel + p * PANEL * 2);
        const __m512bh b1 = (__m512bh)_mm512_loadu_si512(panel + p * PANEL * 2 + 32);
        for (int r = 0; r < MR; r++) {
            const __m512bh s = (__m512bh)_mm512_set1_epi32((int)xr[r * stride + p]);
            a[r][0] = _mm512_dpbf16_ps(a[r][0], s, b0);
            a[r][1] = _mm512_dpbf16_ps(a[r][1], s, b1);
        }
    }
    for (int r = 0; r < MR; r++) {
        float *out = y + r * ldy;
        if (accumulate) {
            a[r][0] = _mm512_add_ps(a[r][0], _mm512_maskz_loadu_ps(m0, out));
            a[r][1] = _mm512_add_ps(a[r][1], _mm512_maskz_loadu_ps(m1, out + 16));
        }
        _mm512_mask_storeu_ps(out, m0, a[r][0]);
        _mm512_mask_storeu_ps(out + 16, m1, a[r][1]);
    }
}

// The same for fewer than MR rows (the last rows of a range).
BF16 static inline void tile_rows(const uint16_t *x, int64_t width, int rows, const uint16_t *panel, int64_t pairs,
                                  float *y, int64_t ldy, int accumulate, __mmask16 m0, __mmask16 m1) {
    const uint32_t *xr = (const uint32_t *)x;
    const int64_t stride = width / 2;
    for (int r = 0; r < rows; r++) {
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
        for (int64_t p = 0; p < pairs; p++) {
            const __m512bh s = (__m512bh)_mm512_set1_epi32((int)xr[r * stride + p]);
            a0 = _mm512_dpbf16_ps(a0, s, (__m512bh)_mm512_loadu_si512(panel + p * PANEL * 2));
            a1 = _mm512_dpbf16_ps(a1, s, (__m512bh)_mm512_loadu_si512(panel + p * PANEL * 2 + 32));
        }
        float *out = y + r * ldy;
        if (accumulate) {
            a0 = _mm512_add_ps(a0, _mm512_maskz_loadu_ps(m0, out));
            a1 = _mm512_add_ps(a1, _mm512_maskz_loadu_ps(m1, out + 16));
        }
        _mm512_mask_storeu_ps(out, m0, a0);
        _mm512_mask_storeu_ps(out + 16, m1, a1);
    }
}

BF16 void csparse_gemm_bf16_avx512(const uint16_t *x, int64_t k, const uint16_t *packed, int64_t n,
                                   float *y, int64_t ldy, int accumulate, int64_t r0, int64_t r1) {
    const int64_t pairs = csparse_bf16_pairs(k), width = 2 * pairs, panels = (n + PANEL - 1) / PANEL;
    for (int64_t c0 = r0; c0 < r1; c0 += MC) {
        const int64_t c1 = c0 + MC < r1 ? c0 + MC : r1;
        for (int64_t panel = 0; panel < panels; panel++) {
            const uint16_t *w = packed + panel * PANEL * 2 * pairs;
            const int64_t column = panel * PANEL, left = n - column;
            const __mmask16 m0 = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
            const __mmask16 m1 = left >= 32 ? 0xffff : left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1);
            int64_t r = c0;
            for (; r + MR <= c1; r += MR)
                tile_full(x + r * width, width, w, pairs, y + r * ldy + column, ldy, accumulate, m0, m1);
            if (r < c1) tile_rows(x + r * width, width, (int)(c1 - r), w, pairs, y + r * ldy + column, ldy, accumulate, m0, m1);
        }
    }
}
