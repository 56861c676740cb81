// Sparse (bitmask, f32) times a tile of 64 tokens: the prefill / batched product of a pruned
// linear layer; see include/CSparse.h. Compiled for generic x86-64: the kernel carries its own
// target attribute and is called only after `csparse_cpu_features` reports AVX2 + FMA.
#include "CSparse.h"

#include <immintrin.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2,fma,bmi,bmi2,popcnt")))

// Mask bits of columns `col ..< col + 64` of a row (`cols` columns, `stride` bytes), never
// reading past the row; bits past `cols` cleared.
static inline uint64_t word_bits(const uint8_t *row, int64_t col, int64_t cols, int64_t stride) {
    const int64_t byte = col / 8;
    uint64_t bits = 0;
    if (byte + 8 <= stride) {
        memcpy(&bits, row + byte, 8);
    } else {
        for (int64_t i = 0; byte + i < stride; i++) bits |= (uint64_t)row[byte + i] << (8 * i);
    }
    const int64_t left = cols - col;
    return left >= 64 ? bits : bits & ((UINT64_C(1) << left) - 1);
}

// The input tile is cut into blocks of 64 input columns (64 × 64 floats, 16 KiB: it stays in
// L1 while every row of the range uses it); the 64 outputs of a row live in eight registers
// across one block and are stored between blocks. Without the column blocks (the whole
// [cols, 64] tile in L2) the same loop measured 1.45× slower on a Zen 3; with the output
// tile strided by the token count instead of rows of 64, the output rows alias the same L1
// sets. Each output is the sum over its row's non-zeros in column order, one FMA per
// non-zero and lane: the result does not depend on how rows are split between threads.
AVX2 void csparse_gemm_tile_avx2(const csparse_matrix *m, const float *xt, float *yt, int64_t r0, int64_t r1,
                                 int64_t *cursor) {
    const float *values = (const float *)m->values;
    const int64_t cols = m->cols, stride = m->stride;
    for (int64_t r = r0; r < r1; r++) cursor[r - r0] = m->offsets[r];
    for (int64_t col = 0; col < cols; col += 64) {
        const float *block = xt + col * 64;
        for (int64_t r = r0; r < r1; r++) {
            uint64_t bits = word_bits(m->mask + r * stride, col, cols, stride);
            float *y = yt + (r - r0) * 64;
            __m256 a0, a1, a2, a3, a4, a5, a6, a7;
            if (col == 0) {
                a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = _mm256_setzero_ps();
            } else {
                a0 = _mm256_loadu_ps(y), a1 = _mm256_loadu_ps(y + 8), a2 = _mm256_loadu_ps(y + 16), a3 = _mm256_loadu_ps(y + 24);
                a4 = _mm256_loadu_ps(y + 32), a5 = _mm256_loadu_ps(y + 40), a6 = _mm256_loadu_ps(y + 48), a7 = _mm256_loadu_ps(y + 56);
            }
            const float *p = values + cursor[r - r0];
            cursor[r - r0] += __builtin_popcountll(bits);
            while (bits) {
                const float *x = block + __builtin_ctzll(bits) * 64;
                bits &= bits - 1;
                const __m256 v = _mm256_broadcast_ss(p++);
                a0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x), a0);
                a1 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x + 8), a1);
                a2 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x + 16), a2);
                a3 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x + 24), a3);
                a4 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x + 32), a4);
                a5 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x + 40), a5);
                a6 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x + 48), a6);
                a7 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x + 56), a7);
            }
            _mm256_storeu_ps(y, a0), _mm256_storeu_ps(y + 8, a1), _mm256_storeu_ps(y + 16, a2), _mm256_storeu_ps(y + 24, a3);
            _mm256_storeu_ps(y + 32, a4), _mm256_storeu_ps(y + 40, a5), _mm256_storeu_ps(y + 48, a6), _mm256_storeu_ps(y + 56, a7);
        }
    }
}

// Transposes between token-major activations and the kernel's token-minor tiles, by blocks of
// 16 × 16 so both sides stay in L1 (element by element, with a stride of 64 floats on one side,
// the two copies took a fifth of a product's time on a Zen 3).
void csparse_tile_load(const float *x, int64_t ldx, int64_t tokens, int64_t cols, float *xt) {
    if (tokens < 64) memset(xt, 0, (size_t)(cols * 64) * sizeof(float));
    for (int64_t c0 = 0; c0 < cols; c0 += 16) {
        const int64_t c1 = c0 + 16 < cols ? c0 + 16 : cols;
        for (int64_t t0 = 0; t0 < tokens; t0 += 16) {
            const int64_t t1 = t0 + 16 < tokens ? t0 + 16 : tokens;
            for (int64_t t = t0; t < t1; t++) {
                const float *row = x + t * ldx;
                for (int64_t c = c0; c < c1; c++) xt[c * 64 + t] = row[c];
            }
        }
    }
}

void csparse_tile_store(const float *yt, int64_t r0, int64_t r1, int64_t tokens, float *y, int64_t ldy,
                        const float *bias, int accumulate) {
    for (int64_t b0 = r0; b0 < r1; b0 += 16) {
        const int64_t b1 = b0 + 16 < r1 ? b0 + 16 : r1;
        for (int64_t t0 = 0; t0 < tokens; t0 += 16) {
            const int64_t t1 = t0 + 16 < tokens ? t0 + 16 : tokens;
            for (int64_t t = t0; t < t1; t++) {
                float *row = y + t * ldy;
                for (int64_t r = b0; r < b1; r++) {
                    float v = yt[(r - r0) * 64 + t];
                    if (bias) v += bias[r];
                    row[r] = accumulate ? row[r] + v : v;
                }
            }
        }
    }
}
