// Fused causal attention for several query rows (prefill, calibration, evaluation); see
// include/CSparse.h. Compiled for generic x86-64 with a target attribute; module Transformer
// calls it only when `csparse_cpu_features` reports AVX2 (its BLAS path is the reference twin).
//
// One call handles one tile: `rows` consecutive query rows of the `heads` query heads that share
// one key/value head. Keys are visited in blocks of 64. Per block: the block's keys are packed
// transposed (`kt[d][64]`, 16 KB at d = 64) so a score row is a run of FMAs over key lanes; for
// every head and every 4 query rows the scores go to a 4 × 64 buffer, the online softmax updates
// the rows' running maximum and sum (rescaling their accumulated context), and the probabilities
// times the block's values are added to the context rows. Scores never leave L1, the key and
// value block is loaded once for all heads and rows of the tile, and blocks past the last row's
// position (the masked upper triangle) are never visited.
#include "CSparse.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2,fma")))
#define KEYS 64   // keys per block (lanes of one score row)
#define ROWS 4    // query rows per micro-tile

// e^x for x ≥ −87 (smaller x is clamped there: the result, ~1e-38, is then scaled by a zero or
// dwarfed by the row's largest term, which is 1). Range reduction x = n·ln2 + r, |r| ≤ ln2/2,
// degree-6 Taylor polynomial for e^r (relative error < 2e-7), 2^n through the exponent bits.
AVX2 static inline __m256 exp_avx2(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
    x = _mm256_min_ps(x, _mm256_set1_ps(88.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187e-6f), r);
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

AVX2 static inline float hmax_avx2(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

AVX2 static inline float hsum8_avx2(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

int64_t csparse_attention_tile_scratch(int64_t heads, int64_t rows, int64_t d) {
    // context accumulators, running maxima and sums, packed keys, scores, a discard row block
    return heads * rows * (d + 2) + d * KEYS + ROWS * KEYS + ROWS * d;
}

// s[r][0..<64] = scale · q_r · kt for the 4 rows `q[0..3]` (each d values).
AVX2 static inline void scores_4x64(const float *const q[ROWS], const float *kt, int64_t d, float scale, float *s) {
    for (int c = 0; c < KEYS; c += 16) {
        __m256 a00 = _mm256_setzero_ps(), a01 = _mm256_setzero_ps(), a10 = _mm256_setzero_ps(), a11 = _mm256_setzero_ps();
        __m256 a20 = _mm256_setzero_ps(), a21 = _mm256_setzero_ps(), a30 = _mm256_setzero_ps(), a31 = _mm256_setzero_ps();
        const float *col = kt + c;
        for (int64_t i = 0; i < d; i++, col += KEYS) {
            const __m256 k0 = _mm256_loadu_ps(col), k1 = _mm256_loadu_ps(col + 8);
            __m256 b = _mm256_broadcast_ss(q[0] + i);
            a00 = _mm256_fmadd_ps(b, k0, a00); a01 = _mm256_fmadd_ps(b, k1, a01);
            b = _mm256_broadcast_ss(q[1] + i);
            a10 = _mm256_fmadd_ps(b, k0, a10); a11 = _mm256_fmadd_ps(b, k1, a11);
            b = _mm256_broadcast_ss(q[2] + i);
            a20 = _mm256_fmadd_ps(b, k0, a20); a21 = _mm256_fmadd_ps(b, k1, a21);
            b = _mm256_broadcast_ss(q[3] + i);
            a30 = _mm256_fmadd_ps(b, k0, a30); a31 = _mm256_fmadd_ps(b, k1, a31);
        }
        const __m256 sc = _mm256_set1_ps(scale);
        _mm256_storeu_ps(s + 0 * KEYS + c, _mm256_mul_ps(a00, sc)); _mm256_storeu_ps(s + 0 * KEYS + c + 8, _mm256_mul_ps(a01, sc));
        _mm256_storeu_ps(s + 1 * KEYS + c, _mm256_mul_ps(a10, sc)); _mm256_storeu_ps(s + 1 * KEYS + c + 8, _mm256_mul_ps(a11, sc));
        _mm256_storeu_ps(s + 2 * KEYS + c, _mm256_mul_ps(a20, sc)); _mm256_storeu_ps(s + 2 * KEYS + c + 8, _mm256_mul_ps(a21, sc));
        _mm256_storeu_ps(s + 3 * KEYS + c, _mm256_mul_ps(a30, sc)); _mm256_storeu_ps(s + 3 * KEYS + c + 8, _mm256_mul_ps(a31, sc));
    }
}

// o[r][0..<d] += Σ_{j < n} p[r][j] · v[j] for the 4 context rows `o[0..3]`; v rows `stride` apart.
AVX2 static inline void values_4(const float *p, const float *v, int64_t stride, int64_t n, int64_t d, float *const o[ROWS]) {
    for (int64_t c = 0; c < d; c += 16) {
        if (c + 16 <= d) {
            __m256 a00 = _mm256_loadu_ps(o[0] + c), a01 = _mm256_loadu_ps(o[0] + c + 8);
            __m256 a10 = _mm256_loadu_ps(o[1] + c), a11 = _mm256_loadu_ps(o[1] + c + 8);
            __m256 a20 = _mm256_loadu_ps(o[2] + c), a21 = _mm256_loadu_ps(o[2] + c + 8);
            __m256 a30 = _mm256_loadu_ps(o[3] + c), a31 = _mm256_loadu_ps(o[3] + c + 8);
            const float *row = v + c;
            for (int64_t j = 0; j < n; j++, row += stride) {
                const __m256 v0 = _mm256_loadu_ps(row), v1 = _mm256_loadu_ps(row + 8);
                __m256 b = _mm256_broadcast_ss(p + 0 * KEYS + j);
                a00 = _mm256_fmadd_ps(b, v0, a00); a01 = _mm256_fmadd_ps(b, v1, a01);
                b = _mm256_broadcast_ss(p + 1 * KEYS + j);
                a10 = _mm256_fmadd_ps(b, v0, a10); a11 = _mm256_fmadd_ps(b, v1, a11);
                b = _mm256_broadcast_ss(p + 2 * KEYS + j);
                a20 = _mm256_fmadd_ps(b, v0, a20); a21 = _mm256_fmadd_ps(b, v1, a21);
                b = _mm256_broadcast_ss(p + 3 * KEYS + j);
                a30 = _mm256_fmadd_ps(b, v0, a30); a31 = _mm256_fmadd_ps(b, v1, a31);
            }
            _mm256_storeu_ps(o[0] + c, a00); _mm256_storeu_ps(o[0] + c + 8, a01);
            _mm256_storeu_ps(o[1] + c, a10); _mm256_storeu_ps(o[1] + c + 8, a11);
            _mm256_storeu_ps(o[2] + c, a20); _mm256_storeu_ps(o[2] + c + 8, a21);
            _mm256_storeu_ps(o[3] + c, a30); _mm256_storeu_ps(o[3] + c + 8, a31);
        } else {
            // d = 8 (mod 16): the last 8 columns.
            __m256 a0 = _mm256_loadu_ps(o[0] + c), a1 = _mm256_loadu_ps(o[1] + c);
            __m256 a2 = _mm256_loadu_ps(o[2] + c), a3 = _mm256_loadu_ps(o[3] + c);
            const float *row = v + c;
            for (int64_t j = 0; j < n; j++, row += stride) {
                const __m256 v0 = _mm256_loadu_ps(row);
                a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + 0 * KEYS + j), v0, a0);
                a1 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + 1 * KEYS + j), v0, a1);
                a2 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + 2 * KEYS + j), v0, a2);
                a3 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + 3 * KEYS + j), v0, a3);
            }
            _mm256_storeu_ps(o[0] + c, a0); _mm256_storeu_ps(o[1] + c, a1);
            _mm256_storeu_ps(o[2] + c, a2); _mm256_storeu_ps(o[3] + c, a3);
        }
    }
}

AVX2 void csparse_attention_tile_avx2(const float *q, int64_t q_stride, int64_t heads, int64_t rows, int64_t position,
                                      const float *k, const float *v, int64_t kv_stride, int64_t d, float scale,
                                      float *context, int64_t context_stride, float *scratch) {
    const int64_t count = heads * rows;
    float *acc = scratch, *maxima = acc + count * d, *sums = maxima + count;
    float *kt = sums + count, *s = kt + d * KEYS, *discard = s + ROWS * KEYS;
    memset(acc, 0, (size_t)(count * d) * sizeof(float));
    for (int64_t i = 0; i < count; i++) { maxima[i] = -INFINITY; sums[i] = 0; }

    const int64_t keys = position + rows;   // keys the last row sees
    for (int64_t k0 = 0; k0 < keys; k0 += KEYS) {
        const int64_t block = keys - k0 < KEYS ? keys - k0 : KEYS;
        // kt[i][j] = k[k0 + j][i], zero past the block's last key.
        for (int64_t j = 0; j < block; j++) {
            const float *row = k + (k0 + j) * kv_stride;
            for (int64_t i = 0; i < d; i++) kt[i * KEYS + j] = row[i];
        }
        for (int64_t j = block; j < KEYS; j++)
            for (int64_t i = 0; i < d; i++) kt[i * KEYS + j] = 0;
        // The first query row that sees key k0 (rows before it skip this block).
        const int64_t first = k0 > position ? k0 - position : 0;
        for (int64_t h = 0; h < heads; h++) {
            for (int64_t r0 = first - first % ROWS; r0 < rows; r0 += ROWS) {
                const float *qr[ROWS];
                float *orow[ROWS];
                int64_t visible[ROWS], widest = 0;
                for (int r = 0; r < ROWS; r++) {
                    const int64_t row = r0 + r;
                    if (row < rows) {
                        qr[r] = q + row * q_stride + h * d;
                        orow[r] = acc + (h * rows + row) * d;
                        const int64_t seen = position + row + 1 - k0;   // keys of this block row `row` sees
                        visible[r] = seen < 0 ? 0 : (seen < block ? seen : block);
                    } else {
                        qr[r] = q + r0 * q_stride + h * d;
                        orow[r] = discard + r * d;
                        visible[r] = 0;
                    }
                    if (visible[r] > widest) widest = visible[r];
                }
                scores_4x64(qr, kt, d, scale, s);
                for (int r = 0; r < ROWS; r++) {
                    float *sr = s + r * KEYS;
                    const int64_t n = visible[r];
                    if (n == 0) {
                        memset(sr, 0, KEYS * sizeof(float));
                        continue;
                    }
                    for (int64_t j = n; j < KEYS; j++) sr[j] = -INFINITY;
                    __m256 m8 = _mm256_loadu_ps(sr);
                    for (int j = 8; j < KEYS; j += 8) m8 = _mm256_max_ps(m8, _mm256_loadu_ps(sr + j));
                    const int64_t index = h * rows + r0 + r;
                    const float previous = maxima[index], blockMax = hmax_avx2(m8);
                    const float m = blockMax > previous ? blockMax : previous;
                    const __m256 mv = _mm256_set1_ps(m);
                    __m256 sum8 = _mm256_setzero_ps();
                    for (int j = 0; j < KEYS; j += 8) {
                        const __m256 x = _mm256_loadu_ps(sr + j);
                        // Masked lanes (−∞) become exactly 0.
                        const __m256 e = _mm256_and_ps(exp_avx2(_mm256_sub_ps(x, mv)),
                                                       _mm256_cmp_ps(x, _mm256_set1_ps(-INFINITY), _CMP_NEQ_OQ));
                        sum8 = _mm256_add_ps(sum8, e);
                        _mm256_storeu_ps(sr + j, e);
                    }
                    if (m > previous && previous > -INFINITY) {
                        // Earlier blocks' terms were relative to the old maximum.
                        const float shrink = expf(previous - m);
                        sums[index] *= shrink;
                        float *o = orow[r];
                        const __m256 f = _mm256_set1_ps(shrink);
                        for (int64_t i = 0; i < d; i += 8) _mm256_storeu_ps(o + i, _mm256_mul_ps(_mm256_loadu_ps(o + i), f));
                    }
                    maxima[index] = m;
                    sums[index] += hsum8_avx2(sum8);
                }
                values_4(s, v + k0 * kv_stride, kv_stride, widest, d, orow);
            }
        }
    }
    for (int64_t h = 0; h < heads; h++) {
        for (int64_t row = 0; row < rows; row++) {
            const float *o = acc + (h * rows + row) * d;
            float *out = context + row * context_stride + h * d;
            const __m256 f = _mm256_set1_ps(1.0f / sums[h * rows + row]);
            for (int64_t i = 0; i < d; i += 8) _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_loadu_ps(o + i), f));
        }
    }
}
