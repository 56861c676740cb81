// Quantized (Q8_0 / Q4_0 grid) GEMV, sparse or dense; see include/CSparse.h. The vector is
// quantized per 32 columns like the weights, so a group's products sum exactly in int32
// (llama.cpp's approach for its quantized dot products); the group's two scales are applied
// once per group in f32. Each kernel carries its own target attribute and is called only after
// `csparse_cpu_features` says the CPU has it.
#include "CSparse.h"

#include <immintrin.h>
#include <string.h>

static inline uint32_t load32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

// ---------------------------------------------------------------------------------------------
// AVX-512 (VBMI2 + VNNI, on 256-bit vectors): `vpexpandb` spreads a group's packed int8 values to
// the lanes of its 32 mask bits, `vpdpbusd` sums |w| · sign(x, w) four bytes at a time.

#define QAVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi2,avx512vnni,avx2,fma,f16c,popcnt")))
#define QAVX2 __attribute__((target("avx2,fma,f16c,popcnt")))

// 32 packed 4-bit two's complement values (16 bytes, low nibble first) as int8.
QAVX2 static inline __m256i unpack_q4(const uint8_t *p) {
    const __m128i b = _mm_loadu_si128((const __m128i *)p);
    const __m128i low = _mm_set1_epi8(0x0F);
    const __m128i lo = _mm_and_si128(b, low), hi = _mm_and_si128(_mm_srli_epi16(b, 4), low);
    const __m256i v = _mm256_set_m128i(_mm_unpackhi_epi8(lo, hi), _mm_unpacklo_epi8(lo, hi));
    const __m256i eight = _mm256_set1_epi8(8);
    return _mm256_sub_epi8(_mm256_xor_si256(v, eight), eight);
}

QAVX2 static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

QAVX512 static inline void qgemv_avx512_typed(const csparse_qmatrix *m, int q4, const int8_t *xq, const float *xd,
                                              float *y, int64_t r0, int64_t r1) {
    const int64_t groups = m->cols / 32;
    const int dense = m->mask == NULL;
    const __m256i zero = _mm256_setzero_si256();
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = dense ? NULL : m->mask + r * m->stride;
        const uint8_t *p = m->values + m->offsets[r];
        const uint16_t *scale = m->scales + r * groups;
        __m256 acc = _mm256_setzero_ps();
        for (int64_t g = 0; g < groups; g++) {
            _mm_prefetch((const char *)(p + 1024), _MM_HINT_T0);
            __m256i w;
            if (dense) {
                w = q4 ? unpack_q4(p) : _mm256_loadu_si256((const __m256i *)p);
                p += q4 ? 16 : 32;
            } else {
                const uint32_t k = load32(row + 4 * g);
                const int n = __builtin_popcount(k);
                w = _mm256_maskz_expand_epi8((__mmask32)k, q4 ? unpack_q4(p) : _mm256_loadu_si256((const __m256i *)p));
                p += q4 ? (n + 1) >> 1 : n;
            }
            const __m256i x = _mm256_loadu_si256((const __m256i *)(xq + 32 * g));
            const __m256i s = _mm256_dpbusd_epi32(zero, _mm256_abs_epi8(w), _mm256_sign_epi8(x, w));
            const float d = _cvtsh_ss(scale[g]) * xd[g];
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(d), acc);
        }
        y[r] = hsum8(acc);
    }
}

void csparse_qgemv_avx512(const csparse_qmatrix *m, const int8_t *xq, const float *xd, float *y, int64_t r0, int64_t r1) {
    if (m->type == CSPARSE_Q4_0) qgemv_avx512_typed(m, 1, xq, xd, y, r0, r1);
    else qgemv_avx512_typed(m, 0, xq, xd, y, r0, r1);
}

// ---------------------------------------------------------------------------------------------
// AVX2: no byte expand — a 256-entry table gives, per mask byte, the `pshufb` control that moves
// the next packed values to the lanes of its set bits (0x80, i.e. zero, elsewhere); no VNNI —
// `pmaddubsw` + `pmaddwd` (|w| ≤ 127 and |x| ≤ 127 cannot saturate the 16-bit pair sums).

static uint8_t expand_table[256][16] __attribute__((aligned(16)));

__attribute__((constructor)) static void csparse_init_expand_table(void) {
    for (int b = 0; b < 256; b++) {
        int rank = 0;
        for (int i = 0; i < 16; i++) expand_table[b][i] = 0x80;
        for (int i = 0; i < 8; i++)
            if ((b >> i) & 1) expand_table[b][i] = (uint8_t)rank++;
    }
}

// The 8 columns of mask byte `b` from the packed bytes at `p` (low 8 lanes of the result).
QAVX2 static inline __m128i expand8(const int8_t *p, unsigned b) {
    return _mm_shuffle_epi8(_mm_loadl_epi64((const __m128i *)p), _mm_load_si128((const __m128i *)expand_table[b]));
}

QAVX2 static inline void qgemv_avx2_typed(const csparse_qmatrix *m, int q4, const int8_t *xq, const float *xd,
                                          float *y, int64_t r0, int64_t r1) {
    const int64_t groups = m->cols / 32;
    const int dense = m->mask == NULL;
    const __m256i ones = _mm256_set1_epi16(1);
    int8_t unpacked[64] __attribute__((aligned(32)));
    memset(unpacked, 0, sizeof unpacked);
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = dense ? NULL : m->mask + r * m->stride;
        const uint8_t *p = m->values + m->offsets[r];
        const uint16_t *scale = m->scales + r * groups;
        __m256 acc = _mm256_setzero_ps();
        for (int64_t g = 0; g < groups; g++) {
            __m256i w;
            if (dense) {
                w = q4 ? unpack_q4(p) : _mm256_loadu_si256((const __m256i *)p);
                p += q4 ? 16 : 32;
            } else {
                const uint32_t k = load32(row + 4 * g);
                const int n = __builtin_popcount(k);
                const int8_t *v = (const int8_t *)p;
                if (q4) {
                    _mm256_store_si256((__m256i *)unpacked, unpack_q4(p));
                    v = unpacked;
                }
                const unsigned b0 = k & 0xFF, b1 = (k >> 8) & 0xFF, b2 = (k >> 16) & 0xFF, b3 = k >> 24;
                const int n0 = __builtin_popcount(b0), n1 = n0 + __builtin_popcount(b1), n2 = n1 + __builtin_popcount(b2);
                const __m128i lo = _mm_unpacklo_epi64(expand8(v, b0), expand8(v + n0, b1));
                const __m128i hi = _mm_unpacklo_epi64(expand8(v + n1, b2), expand8(v + n2, b3));
                w = _mm256_set_m128i(hi, lo);
                p += q4 ? (n + 1) >> 1 : n;
            }
            const __m256i x = _mm256_loadu_si256((const __m256i *)(xq + 32 * g));
            const __m256i pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w));
            const __m256i s = _mm256_madd_epi16(pairs, ones);
            const float d = _cvtsh_ss(scale[g]) * xd[g];
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(d), acc);
        }
        y[r] = hsum8(acc);
    }
}

void csparse_qgemv_avx2(const csparse_qmatrix *m, const int8_t *xq, const float *xd, float *y, int64_t r0, int64_t r1) {
    if (m->type == CSPARSE_Q4_0) qgemv_avx2_typed(m, 1, xq, xd, y, r0, r1);
    else qgemv_avx2_typed(m, 0, xq, xd, y, r0, r1);
}

// ---------------------------------------------------------------------------------------------
// The vector's quantization, per 32 values: d = max|x| / 127, codes = x · (1/d) rounded half away
// from zero (C's roundf; computed as truncation plus a step where the fraction is ≥ ½, so every
// value gives the code the Swift twin gives).

QAVX2 void csparse_quantize_vector_avx2(const float *x, int64_t n, int8_t *codes, float *scales) {
    const __m256 sign_bit = _mm256_set1_ps(-0.0f), half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t g = 0; g < n / 32; g++) {
        const float *p = x + 32 * g;
        __m256 v[4];
        __m256 amax = _mm256_setzero_ps();
        for (int i = 0; i < 4; i++) {
            v[i] = _mm256_loadu_ps(p + 8 * i);
            amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign_bit, v[i]));
        }
        __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
        m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        m = _mm_max_ss(m, _mm_movehdup_ps(m));
        const float d = _mm_cvtss_f32(m) / 127.0f;
        const float inverse = d != 0.0f ? 1.0f / d : 0.0f;
        scales[g] = d;
        const __m256 id = _mm256_set1_ps(inverse);
        __m256i q[4];
        for (int i = 0; i < 4; i++) {
            const __m256 s = _mm256_mul_ps(v[i], id);
            const __m256 t = _mm256_round_ps(s, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            const __m256 frac = _mm256_andnot_ps(sign_bit, _mm256_sub_ps(s, t));
            const __m256 step = _mm256_or_ps(one, _mm256_and_ps(sign_bit, s));
            const __m256 away = _mm256_and_ps(_mm256_cmp_ps(frac, half, _CMP_GE_OQ), step);
            q[i] = _mm256_cvttps_epi32(_mm256_add_ps(t, away));
        }
        const __m256i packed = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        _mm256_storeu_si256((__m256i *)(codes + 32 * g), _mm256_permutevar8x32_epi32(packed, order));
    }
}

// ---------------------------------------------------------------------------------------------
// Dequantized rows (the tile a prefill GEMM multiplies): each group's values spread to their
// lanes, widened to f32 and scaled.

QAVX2 static inline void store_group(float *o, __m256i w, float d) {
    const __m256 s = _mm256_set1_ps(d);
    const __m128i lo = _mm256_castsi256_si128(w), hi = _mm256_extracti128_si256(w, 1);
    _mm256_storeu_ps(o, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), s));
    _mm256_storeu_ps(o + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))), s));
    _mm256_storeu_ps(o + 16, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), s));
    _mm256_storeu_ps(o + 24, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))), s));
}

QAVX2 void csparse_qexpand_avx2(const csparse_qmatrix *m, float *out, int64_t r0, int64_t r1) {
    const int64_t groups = m->cols / 32;
    const int dense = m->mask == NULL, q4 = m->type == CSPARSE_Q4_0;
    int8_t unpacked[64] __attribute__((aligned(32)));
    memset(unpacked, 0, sizeof unpacked);
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = dense ? NULL : m->mask + r * m->stride;
        const uint8_t *p = m->values + m->offsets[r];
        const uint16_t *scale = m->scales + r * groups;
        float *o = out + (r - r0) * m->cols;
        for (int64_t g = 0; g < groups; g++) {
            __m256i w;
            if (dense) {
                w = q4 ? unpack_q4(p) : _mm256_loadu_si256((const __m256i *)p);
                p += q4 ? 16 : 32;
            } else {
                const uint32_t k = load32(row + 4 * g);
                const int8_t *v = (const int8_t *)p;
                if (q4) {
                    _mm256_store_si256((__m256i *)unpacked, unpack_q4(p));
                    v = unpacked;
                }
                const unsigned b0 = k & 0xFF, b1 = (k >> 8) & 0xFF, b2 = (k >> 16) & 0xFF, b3 = k >> 24;
                const int n0 = __builtin_popcount(b0), n1 = n0 + __builtin_popcount(b1), n2 = n1 + __builtin_popcount(b2);
                w = _mm256_set_m128i(_mm_unpacklo_epi64(expand8(v + n1, b2), expand8(v + n2, b3)),
                                     _mm_unpacklo_epi64(expand8(v, b0), expand8(v + n0, b1)));
                const int n = __builtin_popcount(k);
                p += q4 ? (n + 1) >> 1 : n;
            }
            store_group(o + 32 * g, w, _cvtsh_ss(scale[g]));
        }
    }
}
