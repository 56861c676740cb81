// Fused causal attention for several query rows (prefill, calibration, evaluation); see
// include/CSparse.h. Compiled for generic x86-64 with a target attribute; module Transformer
// calls it only when `csparse_cpu_features` reports AVX2 (its BLAS path is the reference twin).
//
// One call handles one tile: `rows` consecutive query rows of the `heads` query heads that share
// one key/value head. Keys are visited in blocks of 64. Per block: the block's keys are packed
// transposed (`kt[d][64]`, 16 KB at d = 64) so a score row is a run of FMAs over key lanes; for
// every head and every 4 query rows the scores go to a 6 × 64 buffer, the online softmax updates
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
#ifndef ROWS
#define ROWS 6    // query rows per micro-tile (6 × 16 keys: 12 accumulators of 16 registers)
#endif

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

// s[r][0..<64] = scale · q_r · kt for the ROWS rows `q[r]` (each d values). Register tile: ROWS
// rows × 16 keys (2·ROWS accumulators), one broadcast of q per row and two key loads per step.
AVX2 static inline void scores_tile(const float *const q[ROWS], const float *kt, int64_t d, float scale, float *s) {
    for (int c = 0; c < KEYS; c += 16) {
        __m256 a[ROWS][2];
        for (int r = 0; r < ROWS; r++) a[r][0] = a[r][1] = _mm256_setzero_ps();
        const float *col = kt + c;
        for (int64_t i = 0; i < d; i++, col += KEYS) {
            const __m256 k0 = _mm256_loadu_ps(col), k1 = _mm256_loadu_ps(col + 8);
            for (int r = 0; r < ROWS; r++) {
                const __m256 b = _mm256_broadcast_ss(q[r] + i);
                a[r][0] = _mm256_fmadd_ps(b, k0, a[r][0]);
                a[r][1] = _mm256_fmadd_ps(b, k1, a[r][1]);
            }
        }
        const __m256 sc = _mm256_set1_ps(scale);
        for (int r = 0; r < ROWS; r++) {
            _mm256_storeu_ps(s + r * KEYS + c, _mm256_mul_ps(a[r][0], sc));
            _mm256_storeu_ps(s + r * KEYS + c + 8, _mm256_mul_ps(a[r][1], sc));
        }
    }
}

// o[r][0..<d] += Σ_{j < n} p[r][j] · v[j] for the ROWS context rows `o[r]`; v rows `stride` apart.
// Register tile: ROWS rows × 16 columns, two value loads and one broadcast per row per key.
AVX2 static inline void values_tile(const float *p, const float *v, int64_t stride, int64_t n, int64_t d, float *const o[ROWS]) {
    int64_t c = 0;
    for (; c + 16 <= d; c += 16) {
        __m256 a[ROWS][2];
        for (int r = 0; r < ROWS; r++) {
            a[r][0] = _mm256_loadu_ps(o[r] + c);
            a[r][1] = _mm256_loadu_ps(o[r] + c + 8);
        }
        const float *row = v + c;
        for (int64_t j = 0; j < n; j++, row += stride) {
            const __m256 v0 = _mm256_loadu_ps(row), v1 = _mm256_loadu_ps(row + 8);
            for (int r = 0; r < ROWS; r++) {
                const __m256 b = _mm256_broadcast_ss(p + r * KEYS + j);
                a[r][0] = _mm256_fmadd_ps(b, v0, a[r][0]);
                a[r][1] = _mm256_fmadd_ps(b, v1, a[r][1]);
            }
        }
        for (int r = 0; r < ROWS; r++) {
            _mm256_storeu_ps(o[r] + c, a[r][0]);
            _mm256_storeu_ps(o[r] + c + 8, a[r][1]);
        }
    }
    if (c < d) {
        // d = 8 (mod 16): the last 8 columns.
        __m256 a[ROWS];
        for (int r = 0; r < ROWS; r++) a[r] = _mm256_loadu_ps(o[r] + c);
        const float *row = v + c;
        for (int64_t j = 0; j < n; j++, row += stride) {
            const __m256 v0 = _mm256_loadu_ps(row);
            for (int r = 0; r < ROWS; r++) a[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(p + r * KEYS + j), v0, a[r]);
        }
        for (int r = 0; r < ROWS; r++) _mm256_storeu_ps(o[r] + c, a[r]);
    }
}

// kt[i][j] = k[j][i] for the `block` keys of rows `stride` apart, j < 64, zero for j ≥ block:
// 8 × 8 transposes in registers where 8 keys and 8 dimensions are whole.
AVX2 static inline void pack_keys(const float *k, int64_t stride, int64_t block, int64_t d, float *kt) {
    int64_t j = 0;
    for (; j + 8 <= block; j += 8) {
        for (int64_t i = 0; i < d; i += 8) {
            __m256 r0 = _mm256_loadu_ps(k + (j + 0) * stride + i), r1 = _mm256_loadu_ps(k + (j + 1) * stride + i);
            __m256 r2 = _mm256_loadu_ps(k + (j + 2) * stride + i), r3 = _mm256_loadu_ps(k + (j + 3) * stride + i);
            __m256 r4 = _mm256_loadu_ps(k + (j + 4) * stride + i), r5 = _mm256_loadu_ps(k + (j + 5) * stride + i);
            __m256 r6 = _mm256_loadu_ps(k + (j + 6) * stride + i), r7 = _mm256_loadu_ps(k + (j + 7) * stride + i);
            const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
            const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
            const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
            const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
            const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
            const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
            const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
            const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
            float *out = kt + i * KEYS + j;
            _mm256_storeu_ps(out + 0 * KEYS, _mm256_permute2f128_ps(u0, u4, 0x20));
            _mm256_storeu_ps(out + 1 * KEYS, _mm256_permute2f128_ps(u1, u5, 0x20));
            _mm256_storeu_ps(out + 2 * KEYS, _mm256_permute2f128_ps(u2, u6, 0x20));
            _mm256_storeu_ps(out + 3 * KEYS, _mm256_permute2f128_ps(u3, u7, 0x20));
            _mm256_storeu_ps(out + 4 * KEYS, _mm256_permute2f128_ps(u0, u4, 0x31));
            _mm256_storeu_ps(out + 5 * KEYS, _mm256_permute2f128_ps(u1, u5, 0x31));
            _mm256_storeu_ps(out + 6 * KEYS, _mm256_permute2f128_ps(u2, u6, 0x31));
            _mm256_storeu_ps(out + 7 * KEYS, _mm256_permute2f128_ps(u3, u7, 0x31));
        }
    }
    for (; j < block; j++)
        for (int64_t i = 0; i < d; i++) kt[i * KEYS + j] = k[j * stride + i];
    for (; j < KEYS; j++)
        for (int64_t i = 0; i < d; i++) kt[i * KEYS + j] = 0;
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
        pack_keys(k + k0 * kv_stride, kv_stride, block, d, kt);
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
                scores_tile(qr, kt, d, scale, s);
                for (int r = 0; r < ROWS; r++) {
                    float *sr = s + r * KEYS;
                    const int64_t n = visible[r];
                    if (n == 0) {
                        memset(sr, 0, KEYS * sizeof(float));
                        continue;
                    }
                    const int masked = n < KEYS;
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
                        __m256 e = exp_avx2(_mm256_sub_ps(x, mv));
                        // Masked lanes (−∞) become exactly 0.
                        if (masked) e = _mm256_and_ps(e, _mm256_cmp_ps(x, _mm256_set1_ps(-INFINITY), _CMP_NEQ_OQ));
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
                values_tile(s, v + k0 * kv_stride, kv_stride, widest, d, orow);
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

// ---------------------------------------------------------------------------------------------
// bf16 variant (AVX512_BF16, `--precision bf16`): the same tiles, blocks and online softmax, with
// both products on `vdpbf16ps`. Queries are rounded to bf16 once per tile, each key/value block
// once per block; scores, maxima, sums and the context accumulators stay f32, and the
// probabilities are rounded to bf16 for the product with the values. `d` must be a multiple of 16.

#define BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))
#define BROWS 6   // query rows per register tile: 6 rows × 64 keys (scores), 6 rows × 64 columns (values)

BF16 static inline __m512 exp_avx512(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
    x = _mm512_min_ps(x, _mm512_set1_ps(88.0f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187e-6f), r);
    __m512 p = _mm512_set1_ps(1.0f / 720);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

// 16 f32 values to 16 bf16 (round to nearest even), as 256 bits.
BF16 static inline __m256i bf16x16(__m512 v) { return (__m256i)_mm512_cvtneps_pbh(v); }

// o[r][c0 ..< c0+64] += Σ_jp (p[r][2jp], p[r][2jp+1]) · (v[2jp][c], v[2jp+1][c]) for the BROWS
// rows; `vp` points at column c0 of the packed value pairs (row stride d pairs).
BF16 static inline void values_bf16_64(const uint16_t *pb, const uint32_t *vp, int64_t d, int64_t keyPairs,
                                       float *const orow[BROWS], int64_t c0) {
    __m512 o[BROWS][4];
    for (int r = 0; r < BROWS; r++)
        for (int c = 0; c < 4; c++) o[r][c] = _mm512_loadu_ps(orow[r] + c0 + 16 * c);
    for (int64_t jp = 0; jp < keyPairs; jp++) {
        const uint32_t *vr = vp + jp * d;
        const __m512bh v0 = (__m512bh)_mm512_loadu_si512(vr), v1 = (__m512bh)_mm512_loadu_si512(vr + 16);
        const __m512bh v2 = (__m512bh)_mm512_loadu_si512(vr + 32), v3 = (__m512bh)_mm512_loadu_si512(vr + 48);
        for (int r = 0; r < BROWS; r++) {
            const __m512bh b = (__m512bh)_mm512_set1_epi32((int)((const uint32_t *)(pb + r * KEYS))[jp]);
            o[r][0] = _mm512_dpbf16_ps(o[r][0], b, v0);
            o[r][1] = _mm512_dpbf16_ps(o[r][1], b, v1);
            o[r][2] = _mm512_dpbf16_ps(o[r][2], b, v2);
            o[r][3] = _mm512_dpbf16_ps(o[r][3], b, v3);
        }
    }
    for (int r = 0; r < BROWS; r++)
        for (int c = 0; c < 4; c++) _mm512_storeu_ps(orow[r] + c0 + 16 * c, o[r][c]);
}

// The same for 16 columns.
BF16 static inline void values_bf16_16(const uint16_t *pb, const uint32_t *vp, int64_t d, int64_t keyPairs,
                                       float *const orow[BROWS], int64_t c0) {
    __m512 o[BROWS];
    for (int r = 0; r < BROWS; r++) o[r] = _mm512_loadu_ps(orow[r] + c0);
    for (int64_t jp = 0; jp < keyPairs; jp++) {
        const __m512bh v0 = (__m512bh)_mm512_loadu_si512(vp + jp * d);
        for (int r = 0; r < BROWS; r++)
            o[r] = _mm512_dpbf16_ps(o[r], (__m512bh)_mm512_set1_epi32((int)((const uint32_t *)(pb + r * KEYS))[jp]), v0);
    }
    for (int r = 0; r < BROWS; r++) _mm512_storeu_ps(orow[r] + c0, o[r]);
}

int64_t csparse_attention_tile_bf16_scratch(int64_t heads, int64_t rows, int64_t d) {
    // context accumulators, maxima, sums (f32); scores 6 × 64 (f32); discard rows (f32);
    // then bf16 (counted in floats, two per float): queries, packed keys, packed values, probabilities
    return heads * rows * (d + 2) + BROWS * KEYS + BROWS * d
        + (heads * rows * d + d * KEYS + KEYS * d + BROWS * KEYS) / 2 + 16;
}

BF16 void csparse_attention_tile_bf16(const float *q, int64_t q_stride, int64_t heads, int64_t rows, int64_t position,
                                      const float *k, const float *v, int64_t kv_stride, int64_t d, float scale,
                                      float *context, int64_t context_stride, float *scratch) {
    const int64_t count = heads * rows, pairs = d / 2;
    float *acc = scratch, *maxima = acc + count * d, *sums = maxima + count;
    float *s = sums + count, *discard = s + BROWS * KEYS;
    uint16_t *qb = (uint16_t *)(discard + BROWS * d);        // [heads·rows][d]
    uint16_t *kp = qb + count * d;                           // [d/2][64 keys][2]
    uint16_t *vp = kp + d * KEYS;                            // [32 key pairs][d][2]
    uint16_t *pb = vp + KEYS * d;                            // [BROWS][64]
    memset(acc, 0, (size_t)(count * d) * sizeof(float));
    for (int64_t i = 0; i < count; i++) { maxima[i] = -INFINITY; sums[i] = 0; }
    for (int64_t h = 0; h < heads; h++)
        for (int64_t row = 0; row < rows; row++)
            for (int64_t i = 0; i < d; i += 16)
                _mm256_storeu_si256((__m256i *)(qb + (h * rows + row) * d + i),
                                    bf16x16(_mm512_loadu_ps(q + row * q_stride + h * d + i)));

    const int64_t keys = position + rows;
    for (int64_t k0 = 0; k0 < keys; k0 += KEYS) {
        const int64_t block = keys - k0 < KEYS ? keys - k0 : KEYS;
        // kp[p][j] = (k[j][2p], k[j][2p+1]); vp[jp][c] = (v[2jp][c], v[2jp+1][c]); zero past the block.
        uint32_t *kp32 = (uint32_t *)kp, *vp32 = (uint32_t *)vp;
        for (int64_t j = 0; j < KEYS; j++) {
            if (j < block) {
                const float *row = k + (k0 + j) * kv_stride;
                for (int64_t i = 0; i < d; i += 16) {
                    uint16_t tmp[16];
                    _mm256_storeu_si256((__m256i *)tmp, bf16x16(_mm512_loadu_ps(row + i)));
                    for (int t = 0; t < 16; t += 2) kp32[((i + t) / 2) * KEYS + j] = (uint32_t)tmp[t] | ((uint32_t)tmp[t + 1] << 16);
                }
            } else {
                for (int64_t p = 0; p < pairs; p++) kp32[p * KEYS + j] = 0;
            }
        }
        for (int64_t jp = 0; jp < KEYS / 2; jp++) {
            const int64_t j0 = 2 * jp, j1 = 2 * jp + 1;
            for (int64_t c = 0; c < d; c += 16) {
                const __m512 a = j0 < block ? _mm512_loadu_ps(v + (k0 + j0) * kv_stride + c) : _mm512_setzero_ps();
                const __m512 b = j1 < block ? _mm512_loadu_ps(v + (k0 + j1) * kv_stride + c) : _mm512_setzero_ps();
                // Interleave: lane c holds (a[c], b[c]).
                const __m512i ai = _mm512_cvtepu16_epi32(bf16x16(a)), bi = _mm512_cvtepu16_epi32(bf16x16(b));
                _mm512_storeu_si512(vp32 + jp * d + c, _mm512_or_si512(ai, _mm512_slli_epi32(bi, 16)));
            }
        }
        const int64_t first = k0 > position ? k0 - position : 0;
        for (int64_t h = 0; h < heads; h++) {
            for (int64_t r0 = first - first % BROWS; r0 < rows; r0 += BROWS) {
                const uint32_t *qr[BROWS];
                float *orow[BROWS];
                int64_t visible[BROWS], widest = 0;
                for (int r = 0; r < BROWS; r++) {
                    const int64_t row = r0 + r;
                    if (row < rows) {
                        qr[r] = (const uint32_t *)(qb + (h * rows + row) * d);
                        orow[r] = acc + (h * rows + row) * d;
                        const int64_t seen = position + row + 1 - k0;
                        visible[r] = seen < 0 ? 0 : (seen < block ? seen : block);
                    } else {
                        qr[r] = (const uint32_t *)(qb + (h * rows + r0) * d);
                        orow[r] = discard + r * d;
                        visible[r] = 0;
                    }
                    if (visible[r] > widest) widest = visible[r];
                }
                // Scores: 6 rows × 64 keys, 24 accumulators.
                __m512 a[BROWS][4];
                for (int r = 0; r < BROWS; r++) a[r][0] = a[r][1] = a[r][2] = a[r][3] = _mm512_setzero_ps();
                for (int64_t p = 0; p < pairs; p++) {
                    const uint32_t *kr = kp32 + p * KEYS;
                    const __m512bh k0v = (__m512bh)_mm512_loadu_si512(kr), k1v = (__m512bh)_mm512_loadu_si512(kr + 16);
                    const __m512bh k2v = (__m512bh)_mm512_loadu_si512(kr + 32), k3v = (__m512bh)_mm512_loadu_si512(kr + 48);
                    for (int r = 0; r < BROWS; r++) {
                        const __m512bh b = (__m512bh)_mm512_set1_epi32((int)qr[r][p]);
                        a[r][0] = _mm512_dpbf16_ps(a[r][0], b, k0v);
                        a[r][1] = _mm512_dpbf16_ps(a[r][1], b, k1v);
                        a[r][2] = _mm512_dpbf16_ps(a[r][2], b, k2v);
                        a[r][3] = _mm512_dpbf16_ps(a[r][3], b, k3v);
                    }
                }
                const __m512 sc = _mm512_set1_ps(scale);
                for (int r = 0; r < BROWS; r++)
                    for (int c = 0; c < 4; c++) _mm512_storeu_ps(s + r * KEYS + 16 * c, _mm512_mul_ps(a[r][c], sc));
                // Online softmax per row; probabilities to bf16.
                for (int r = 0; r < BROWS; r++) {
                    float *sr = s + r * KEYS;
                    uint16_t *pr = pb + r * KEYS;
                    const int64_t n = visible[r];
                    if (n == 0) {
                        memset(pr, 0, KEYS * sizeof(uint16_t));
                        continue;
                    }
                    const __mmask16 live[4] = {
                        n >= 16 ? 0xffff : (__mmask16)((1u << n) - 1),
                        n >= 32 ? 0xffff : n <= 16 ? 0 : (__mmask16)((1u << (n - 16)) - 1),
                        n >= 48 ? 0xffff : n <= 32 ? 0 : (__mmask16)((1u << (n - 32)) - 1),
                        n >= 64 ? 0xffff : n <= 48 ? 0 : (__mmask16)((1u << (n - 48)) - 1)};
                    __m512 m16 = _mm512_set1_ps(-INFINITY);
                    for (int c = 0; c < 4; c++) m16 = _mm512_mask_max_ps(m16, live[c], m16, _mm512_loadu_ps(sr + 16 * c));
                    const int64_t index = h * rows + r0 + r;
                    const float previous = maxima[index], blockMax = _mm512_reduce_max_ps(m16);
                    const float m = blockMax > previous ? blockMax : previous;
                    const __m512 mv = _mm512_set1_ps(m);
                    __m512 sum16 = _mm512_setzero_ps();
                    for (int c = 0; c < 4; c++) {
                        const __m512 e = _mm512_maskz_mov_ps(live[c], exp_avx512(_mm512_sub_ps(_mm512_loadu_ps(sr + 16 * c), mv)));
                        sum16 = _mm512_add_ps(sum16, e);
                        _mm256_storeu_si256((__m256i *)(pr + 16 * c), bf16x16(e));
                    }
                    if (m > previous && previous > -INFINITY) {
                        const float shrink = expf(previous - m);
                        sums[index] *= shrink;
                        float *o = orow[r];
                        const __m512 f = _mm512_set1_ps(shrink);
                        for (int64_t i = 0; i < d; i += 16) _mm512_storeu_ps(o + i, _mm512_mul_ps(_mm512_loadu_ps(o + i), f));
                    }
                    maxima[index] = m;
                    sums[index] += _mm512_reduce_add_ps(sum16);
                }
                // Values: 6 rows × 64 columns per pass (24 accumulators), key pairs in order;
                // a last pass of 16 columns at a time when d is no multiple of 64.
                const int64_t keyPairs = (widest + 1) / 2;
                int64_t c0 = 0;
                for (; c0 + 64 <= d; c0 += 64) values_bf16_64(pb, vp32 + c0, d, keyPairs, orow, c0);
                for (; c0 < d; c0 += 16) values_bf16_16(pb, vp32 + c0, d, keyPairs, orow, c0);
            }
        }
    }
    for (int64_t h = 0; h < heads; h++) {
        for (int64_t row = 0; row < rows; row++) {
            const float *o = acc + (h * rows + row) * d;
            float *out = context + row * context_stride + h * d;
            const __m512 f = _mm512_set1_ps(1.0f / sums[h * rows + row]);
            for (int64_t i = 0; i < d; i += 16) _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_loadu_ps(o + i), f));
        }
    }
}
