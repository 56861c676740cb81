// Sparse (bitmask) and dense 16-bit GEMV inner loops; see include/CSparse.h. Compiled for
// generic x86-64: each kernel carries its own target attribute and is called only after
// `csparse_cpu_features` says the CPU has it (module Sparse dispatches).
#include "CSparse.h"

#include <immintrin.h>
#include <string.h>

int csparse_cpu_features(void) {
    __builtin_cpu_init();
    int features = 0;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
        features |= CSPARSE_AVX2;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
        features |= CSPARSE_AVX512;
    if (__builtin_cpu_supports("avx512vbmi2")) features |= CSPARSE_AVX512VBMI2;
    if (__builtin_cpu_supports("avx512bf16")) features |= CSPARSE_AVX512BF16;
    if (__builtin_cpu_supports("avx512vnni")) features |= CSPARSE_AVX512VNNI;
    return features;
}

// Up to `n` bytes of a mask row starting at byte `byte`, least significant first, never reading
// past the row's `stride` bytes.
static inline uint32_t mask_bits(const uint8_t *row, int64_t byte, int64_t stride, int n) {
    uint32_t bits = 0;
    for (int i = 0; i < n && byte + i < stride; i++) bits |= (uint32_t)row[byte + i] << (8 * i);
    return bits;
}

// ---------------------------------------------------------------------------------------------
// AVX-512: `vexpandps` spreads 16 packed non-zeros (f32, or 16-bit values widened while still
// packed) to the lanes of their mask bits. The register form after a plain load measured faster
// than the memory form here; the load may read past the row (the values carry 64 bytes of padding).

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c,popcnt")))

AVX512 static inline __m512 widen16_avx512(__m256i h, int bf16) {
    return bf16 ? _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)) : _mm512_cvtph_ps(h);
}

// 16-bit values: the next 16 packed values are widened to f32 while still packed (contiguous:
// one vpmovzxwd + shift for bf16, vcvtph2ps for f16), then spread with the f32 expand — the
// 16-bit `vpexpandw` is several times slower per element on Zen 4.
AVX512 static inline __m512 packed16_avx512(const uint16_t *p, int bf16) {
    return widen16_avx512(_mm256_loadu_si256((const __m256i *)p), bf16);
}

// f32 (`size` 4) or 16-bit widened (`size` 2, `bf16` 0/1) packed values of one 16-column chunk.
AVX512 static inline __m512 packed_avx512(const uint8_t *p, int size, int bf16) {
    return size == 4 ? _mm512_loadu_ps((const float *)p) : packed16_avx512((const uint16_t *)p, bf16);
}

// One row at a time, 32 columns per step with two accumulators (two rows interleaved sharing the
// x loads measured 1.7× slower for f32 on a Zen 4).
AVX512 static inline void gemv_row_avx512(const csparse_matrix *m, int size, int bf16, const float *x, float *y,
                                          int64_t r0, int64_t r1) {
    const uint8_t *values = (const uint8_t *)m->values;
    const int64_t cols = m->cols, stride = m->stride, full = cols / 16 * 16;
    const int tail = (int)(cols - full);
    const __mmask16 tail_lanes = (__mmask16)((1u << tail) - 1);
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = m->mask + r * stride;
        const uint8_t *p = values + m->offsets[r] * size;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
        int64_t c = 0;
        for (; c + 32 <= full; c += 32) {
            // The value loads' addresses hang on a chain of popcounts; a prefetch 2 KiB ahead
            // measured 10–20% faster from DRAM on a Zen 4.
            _mm_prefetch((const char *)(p + 2048), _MM_HINT_T0);
            uint32_t bits;
            memcpy(&bits, row + c / 8, 4);
            const __mmask16 k0 = (__mmask16)bits, k1 = (__mmask16)(bits >> 16);
            const __m512 v0 = _mm512_maskz_expand_ps(k0, packed_avx512(p, size, bf16));
            p += __builtin_popcount(k0) * size;
            const __m512 v1 = _mm512_maskz_expand_ps(k1, packed_avx512(p, size, bf16));
            p += __builtin_popcount(k1) * size;
            a0 = _mm512_fmadd_ps(v0, _mm512_loadu_ps(x + c), a0);
            a1 = _mm512_fmadd_ps(v1, _mm512_loadu_ps(x + c + 16), a1);
        }
        for (; c < full; c += 16) {
            uint16_t k;
            memcpy(&k, row + c / 8, 2);
            a0 = _mm512_fmadd_ps(_mm512_maskz_expand_ps((__mmask16)k, packed_avx512(p, size, bf16)), _mm512_loadu_ps(x + c), a0);
            p += __builtin_popcount(k) * size;
        }
        if (tail) {
            const __mmask16 k = (__mmask16)mask_bits(row, c / 8, stride, 2) & tail_lanes;
            a0 = _mm512_fmadd_ps(_mm512_maskz_expand_ps(k, packed_avx512(p, size, bf16)),
                                 _mm512_maskz_loadu_ps(tail_lanes, x + c), a0);
        }
        y[r] = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
    }
}

void csparse_gemv_avx512(const csparse_matrix *m, const float *x, float *y, int64_t r0, int64_t r1) {
    switch (m->type) {
    case CSPARSE_F32: gemv_row_avx512(m, 4, 0, x, y, r0, r1); break;
    case CSPARSE_F16: gemv_row_avx512(m, 2, 0, x, y, r0, r1); break;
    case CSPARSE_BF16: gemv_row_avx512(m, 2, 1, x, y, r0, r1); break;
    }
}

AVX512 static inline void expand_rows_avx512(const csparse_matrix *m, int size, int bf16, float *out, int64_t r0,
                                             int64_t r1) {
    const uint8_t *values = (const uint8_t *)m->values;
    const int64_t cols = m->cols, stride = m->stride, full = cols / 16 * 16;
    const int tail = (int)(cols - full);
    const __mmask16 tail_lanes = (__mmask16)((1u << tail) - 1);
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = m->mask + r * stride;
        const uint8_t *p = values + m->offsets[r] * size;
        float *o = out + (r - r0) * cols;
        int64_t c = 0;
        for (; c < full; c += 16) {
            uint16_t k;
            memcpy(&k, row + c / 8, 2);
            _mm512_storeu_ps(o + c, _mm512_maskz_expand_ps((__mmask16)k, packed_avx512(p, size, bf16)));
            p += __builtin_popcount(k) * size;
        }
        if (tail) {
            const __mmask16 k = (__mmask16)mask_bits(row, c / 8, stride, 2) & tail_lanes;
            _mm512_mask_storeu_ps(o + c, tail_lanes, _mm512_maskz_expand_ps(k, packed_avx512(p, size, bf16)));
        }
    }
}

void csparse_expand_avx512(const csparse_matrix *m, float *out, int64_t r0, int64_t r1) {
    switch (m->type) {
    case CSPARSE_F32: expand_rows_avx512(m, 4, 0, out, r0, r1); break;
    case CSPARSE_F16: expand_rows_avx512(m, 2, 0, out, r0, r1); break;
    case CSPARSE_BF16: expand_rows_avx512(m, 2, 1, out, r0, r1); break;
    }
}

AVX512 static inline void dense16_avx512(const uint16_t *w, int bf16, int64_t cols, const float *x, float *y,
                                         int64_t r0, int64_t r1) {
    const int64_t full = cols / 32 * 32;
    const int tail = (int)(cols - full);
    const __mmask32 tail_bits = tail ? (__mmask32)((1ull << tail) - 1) : 0;
    for (int64_t r = r0; r < r1; r++) {
        const uint16_t *row = w + r * cols;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
        int64_t c = 0;
        for (; c < full; c += 32) {
            const __m512i v = _mm512_loadu_si512((const void *)(row + c));
            a0 = _mm512_fmadd_ps(widen16_avx512(_mm512_castsi512_si256(v), bf16), _mm512_loadu_ps(x + c), a0);
            a1 = _mm512_fmadd_ps(widen16_avx512(_mm512_extracti64x4_epi64(v, 1), bf16), _mm512_loadu_ps(x + c + 16), a1);
        }
        if (tail) {
            const __m512i v = _mm512_maskz_loadu_epi16(tail_bits, row + c);
            a0 = _mm512_fmadd_ps(widen16_avx512(_mm512_castsi512_si256(v), bf16),
                                 _mm512_maskz_loadu_ps((__mmask16)tail_bits, x + c), a0);
            a1 = _mm512_fmadd_ps(widen16_avx512(_mm512_extracti64x4_epi64(v, 1), bf16),
                                 _mm512_maskz_loadu_ps((__mmask16)(tail_bits >> 16), x + c + 16), a1);
        }
        y[r] = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
    }
}

AVX512 void csparse_dense_gemv32_avx512(const float *w, int64_t cols, const float *x, float *y, int64_t r0, int64_t r1) {
    const int64_t full = cols / 64 * 64;
    for (int64_t r = r0; r < r1; r++) {
        const float *row = w + r * cols;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
        int64_t c = 0;
        for (; c < full; c += 64) {
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(row + c), _mm512_loadu_ps(x + c), a0);
            a1 = _mm512_fmadd_ps(_mm512_loadu_ps(row + c + 16), _mm512_loadu_ps(x + c + 16), a1);
            a2 = _mm512_fmadd_ps(_mm512_loadu_ps(row + c + 32), _mm512_loadu_ps(x + c + 32), a2);
            a3 = _mm512_fmadd_ps(_mm512_loadu_ps(row + c + 48), _mm512_loadu_ps(x + c + 48), a3);
        }
        for (; c < cols; c += 16) {
            const int64_t left = cols - c;
            const __mmask16 k = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
            a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, row + c), _mm512_maskz_loadu_ps(k, x + c), a0);
        }
        y[r] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
    }
}

void csparse_dense_gemv16_avx512(const uint16_t *w, int32_t type, int64_t cols, const float *x, float *y, int64_t r0,
                                 int64_t r1) {
    if (type == CSPARSE_BF16) dense16_avx512(w, 1, cols, x, y, r0, r1);
    else dense16_avx512(w, 0, cols, x, y, r0, r1);
}

// ---------------------------------------------------------------------------------------------
// AVX2 has no expand: a 256-entry table turns a mask byte into the 8 lane indices of `vpermps`
// (lane i takes packed value #rank(i)) and a lane mask that zeroes the lanes whose bit is clear.

#define AVX2 __attribute__((target("avx2,fma,f16c")))

static int32_t permute_table[256][8] __attribute__((aligned(32)));
static int32_t lane_table[256][8] __attribute__((aligned(32)));

__attribute__((constructor)) static void csparse_init_tables(void) {
    for (int b = 0; b < 256; b++) {
        int rank = 0;
        for (int i = 0; i < 8; i++) {
            const int set = (b >> i) & 1;
            permute_table[b][i] = set ? rank : 0;
            lane_table[b][i] = set ? -1 : 0;
            rank += set;
        }
    }
}

AVX2 static inline float hsum_avx2(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    __m128 h = _mm_movehdup_ps(s);
    s = _mm_add_ps(s, h);
    h = _mm_movehl_ps(h, s);
    return _mm_cvtss_f32(_mm_add_ss(s, h));
}

// One 16-bit value (`type` CSPARSE_F16 or CSPARSE_BF16) as f32, for the columns past the vectors.
AVX2 static inline float half_to_float(uint16_t h, int type) {
    if (type != CSPARSE_BF16) return _cvtsh_ss(h);
    const uint32_t bits = (uint32_t)h << 16;
    float v;
    memcpy(&v, &bits, 4);
    return v;
}

// 8 packed values (f32, or 16-bit widened) placed in the lanes of mask byte `b`.
AVX2 static inline __m256 place_avx2(__m256 packed, unsigned b) {
    const __m256 v = _mm256_permutevar8x32_ps(packed, _mm256_load_si256((const __m256i *)permute_table[b]));
    return _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_load_si256((const __m256i *)lane_table[b])));
}

AVX2 static inline __m256 load8_avx2(const void *p, int type) {
    switch (type) {
    case CSPARSE_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
    case CSPARSE_BF16:
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
    default: return _mm256_loadu_ps((const float *)p);
    }
}

AVX2 static inline void gemv_avx2_typed(const csparse_matrix *m, int type, const float *x, float *y, int64_t r0,
                                        int64_t r1) {
    const int size = type == CSPARSE_F32 ? 4 : 2;
    const uint8_t *values = (const uint8_t *)m->values;
    const int64_t cols = m->cols, stride = m->stride, full = cols / 8 * 8;
    const int tail = (int)(cols - full);
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = m->mask + r * stride;
        const uint8_t *p = values + m->offsets[r] * size;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        int64_t c = 0;
        for (; c + 16 <= full; c += 16) {
            const unsigned b0 = row[c / 8], b1 = row[c / 8 + 1];
            const __m256 v0 = place_avx2(load8_avx2(p, type), b0);
            p += __builtin_popcount(b0) * size;
            const __m256 v1 = place_avx2(load8_avx2(p, type), b1);
            p += __builtin_popcount(b1) * size;
            a0 = _mm256_fmadd_ps(v0, _mm256_loadu_ps(x + c), a0);
            a1 = _mm256_fmadd_ps(v1, _mm256_loadu_ps(x + c + 8), a1);
        }
        for (; c < full; c += 8) {
            const unsigned b = row[c / 8];
            a0 = _mm256_fmadd_ps(place_avx2(load8_avx2(p, type), b), _mm256_loadu_ps(x + c), a0);
            p += __builtin_popcount(b) * size;
        }
        if (tail) {
            const unsigned lanes = (1u << tail) - 1, b = row[c / 8] & lanes;
            const __m256i keep = _mm256_load_si256((const __m256i *)lane_table[lanes]);
            a0 = _mm256_fmadd_ps(place_avx2(load8_avx2(p, type), b), _mm256_maskload_ps(x + c, keep), a0);
        }
        y[r] = hsum_avx2(_mm256_add_ps(a0, a1));
    }
}

void csparse_gemv_avx2(const csparse_matrix *m, const float *x, float *y, int64_t r0, int64_t r1) {
    switch (m->type) {
    case CSPARSE_F32: gemv_avx2_typed(m, CSPARSE_F32, x, y, r0, r1); break;
    case CSPARSE_F16: gemv_avx2_typed(m, CSPARSE_F16, x, y, r0, r1); break;
    case CSPARSE_BF16: gemv_avx2_typed(m, CSPARSE_BF16, x, y, r0, r1); break;
    }
}

AVX2 static inline void expand_rows_avx2(const csparse_matrix *m, int type, float *out, int64_t r0, int64_t r1) {
    const int size = type == CSPARSE_F32 ? 4 : 2;
    const uint8_t *values = (const uint8_t *)m->values;
    const int64_t cols = m->cols, stride = m->stride, full = cols / 8 * 8;
    const int tail = (int)(cols - full);
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = m->mask + r * stride;
        const uint8_t *p = values + m->offsets[r] * size;
        float *o = out + (r - r0) * cols;
        int64_t c = 0;
        for (; c < full; c += 8) {
            const unsigned b = row[c / 8];
            _mm256_storeu_ps(o + c, place_avx2(load8_avx2(p, type), b));
            p += __builtin_popcount(b) * size;
        }
        if (tail) {
            const unsigned lanes = (1u << tail) - 1, b = row[c / 8] & lanes;
            const __m256i keep = _mm256_load_si256((const __m256i *)lane_table[lanes]);
            _mm256_maskstore_ps(o + c, keep, place_avx2(load8_avx2(p, type), b));
        }
    }
}

void csparse_expand_avx2(const csparse_matrix *m, float *out, int64_t r0, int64_t r1) {
    switch (m->type) {
    case CSPARSE_F32: expand_rows_avx2(m, CSPARSE_F32, out, r0, r1); break;
    case CSPARSE_F16: expand_rows_avx2(m, CSPARSE_F16, out, r0, r1); break;
    case CSPARSE_BF16: expand_rows_avx2(m, CSPARSE_BF16, out, r0, r1); break;
    }
}

AVX2 static inline void widen16_typed_avx2(const uint16_t *w, int type, int64_t count, float *out) {
    int64_t i = 0;
    for (; i + 8 <= count; i += 8) _mm256_storeu_ps(out + i, load8_avx2(w + i, type));
    for (; i < count; i++) out[i] = half_to_float(w[i], type);
}

void csparse_widen16_avx2(const uint16_t *w, int32_t type, int64_t count, float *out) {
    if (type == CSPARSE_BF16) widen16_typed_avx2(w, CSPARSE_BF16, count, out);
    else widen16_typed_avx2(w, CSPARSE_F16, count, out);
}

AVX2 static inline void dense16_avx2(const uint16_t *w, int type, int64_t cols, const float *x, float *y, int64_t r0,
                                     int64_t r1) {
    const int64_t full = cols / 16 * 16;
    for (int64_t r = r0; r < r1; r++) {
        const uint16_t *row = w + r * cols;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        int64_t c = 0;
        for (; c < full; c += 16) {
            a0 = _mm256_fmadd_ps(load8_avx2(row + c, type), _mm256_loadu_ps(x + c), a0);
            a1 = _mm256_fmadd_ps(load8_avx2(row + c + 8, type), _mm256_loadu_ps(x + c + 8), a1);
        }
        float sum = hsum_avx2(_mm256_add_ps(a0, a1));
        for (; c < cols; c++) sum += half_to_float(row[c], type) * x[c];
        y[r] = sum;
    }
}

AVX2 void csparse_dense_gemv32_avx2(const float *w, int64_t cols, const float *x, float *y, int64_t r0, int64_t r1) {
    const int64_t full = cols / 32 * 32;
    for (int64_t r = r0; r < r1; r++) {
        const float *row = w + r * cols;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        int64_t c = 0;
        for (; c < full; c += 32) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(row + c), _mm256_loadu_ps(x + c), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(row + c + 8), _mm256_loadu_ps(x + c + 8), a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(row + c + 16), _mm256_loadu_ps(x + c + 16), a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(row + c + 24), _mm256_loadu_ps(x + c + 24), a3);
        }
        float sum = hsum_avx2(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
        for (; c < cols; c++) sum += row[c] * x[c];
        y[r] = sum;
    }
}

AVX2 void csparse_attention_scores_avx2(const float *q, int64_t heads, int64_t group, const float *k, int64_t n, int64_t d,
                                        int64_t stride, float scale, float *scores) {
    const int64_t full = d / 8 * 8, width = (heads + group - 1) / group * d;
    for (int64_t s = 0; s < n; s++) {
        const float *row = k + s * stride;
        // The cache rows come from memory (every block's weights went through the caches since
        // this block last ran): fetch a few rows ahead.
        for (int64_t i = 0; i < width; i += 16) _mm_prefetch((const char *)(row + 4 * stride + i), _MM_HINT_T0);
        for (int64_t j = 0; j < heads; j++) {
            const float *qj = q + j * d, *ks = row + (j / group) * d;
            __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
            int64_t i = 0;
            for (; i + 16 <= full; i += 16) {
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(qj + i), _mm256_loadu_ps(ks + i), a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(qj + i + 8), _mm256_loadu_ps(ks + i + 8), a1);
            }
            for (; i < full; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(qj + i), _mm256_loadu_ps(ks + i), a0);
            float sum = hsum_avx2(_mm256_add_ps(a0, a1));
            for (; i < d; i++) sum += qj[i] * ks[i];
            scores[j * n + s] = sum * scale;
        }
    }
}

AVX2 void csparse_attention_values_avx2(const float *p, int64_t heads, int64_t group, const float *v, int64_t n, int64_t d,
                                        int64_t stride, float *out) {
    const int64_t full = d / 8 * 8, width = (heads + group - 1) / group * d;
    memset(out, 0, (size_t)(heads * d) * sizeof(float));
    for (int64_t s = 0; s < n; s++) {
        const float *row = v + s * stride;
        for (int64_t i = 0; i < width; i += 16) _mm_prefetch((const char *)(row + 4 * stride + i), _MM_HINT_T0);
        for (int64_t j = 0; j < heads; j++) {
            const float w = p[j * n + s], *vs = row + (j / group) * d;
            const __m256 wv = _mm256_set1_ps(w);
            float *o = out + j * d;
            int64_t i = 0;
            for (; i < full; i += 8) _mm256_storeu_ps(o + i, _mm256_fmadd_ps(wv, _mm256_loadu_ps(vs + i), _mm256_loadu_ps(o + i)));
            for (; i < d; i++) o[i] += w * vs[i];
        }
    }
}

void csparse_pause(void) { __builtin_ia32_pause(); }

void csparse_dense_gemv16_avx2(const uint16_t *w, int32_t type, int64_t cols, const float *x, float *y, int64_t r0,
                               int64_t r1) {
    if (type == CSPARSE_BF16) dense16_avx2(w, CSPARSE_BF16, cols, x, y, r0, r1);
    else dense16_avx2(w, CSPARSE_F16, cols, x, y, r0, r1);
}

AVX2 static double read_probe_avx2(const float *data, int64_t count) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= count; i += 32) {
        a0 = _mm256_add_ps(a0, _mm256_loadu_ps(data + i));
        a1 = _mm256_add_ps(a1, _mm256_loadu_ps(data + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_loadu_ps(data + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_loadu_ps(data + i + 24));
    }
    double sum = hsum_avx2(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < count; i++) sum += data[i];
    return sum;
}

double csparse_read_bandwidth_probe(const float *data, int64_t count) {
    if (csparse_cpu_features() & CSPARSE_AVX2) return read_probe_avx2(data, count);
    double sum = 0;
    for (int64_t i = 0; i < count; i++) sum += data[i];
    return sum;
}
