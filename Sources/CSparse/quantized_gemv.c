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
// AVX-512 (VBMI2 + VNNI), 64 columns (two groups) per step: `vpexpandb` spreads the pair's
// packed codes (unsigned: q + 128 for Q8_0, q + 8 for Q4_0) to the lanes of its 64 mask bits,
// `vpdpbusd` sums code · x, and a second `vpdpbusd` of the offset (in the mask's lanes only) with
// −x removes the offset. Measured on a Zen 4 (one thread, 26.5M weights at 70%): 18–21 G
// weights/s against 4–11 for one 32-column group per step with |w| · sign(x, w).

#define QAVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi2,avx512vnni,avx2,fma,f16c,popcnt")))
#define QAVX2 __attribute__((target("avx2,fma,f16c,popcnt")))

static inline uint64_t load64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

QAVX2 static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// 64 packed codes: Q4_0 nibbles (32 bytes, low nibble first) widened to bytes, or Q8_0 bytes.
QAVX512 static inline __m512i codes64_avx512(const uint8_t *p, int q4) {
    if (q4) {
        const __m512i h = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)p));
        return _mm512_or_si512(_mm512_and_si512(h, _mm512_set1_epi16(0x0F)), _mm512_slli_epi16(_mm512_srli_epi16(h, 4), 8));
    }
    __m512i w = _mm512_loadu_si512((const void *)p);
    // Keep the expand in its register form: with the load folded in (`vpexpandb zmm{k}, [mem]`)
    // it measured several times slower on a Zen 4.
    __asm__("" : "+v"(w));
    return w;
}

// 32 packed codes (the last group of a row with an odd number of groups).
QAVX512 static inline __m256i codes32_avx512(const uint8_t *p, int q4) {
    if (q4) {
        const __m256i h = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)p));
        return _mm256_or_si256(_mm256_and_si256(h, _mm256_set1_epi16(0x0F)), _mm256_slli_epi16(_mm256_srli_epi16(h, 4), 8));
    }
    __m256i w = _mm256_loadu_si256((const __m256i *)p);
    __asm__("" : "+v"(w));
    return w;
}

QAVX512 static inline void qgemv_avx512_typed(const csparse_qmatrix *m, int q4, const int8_t *xq, const int8_t *xn,
                                              const float *xd, float *y, int64_t r0, int64_t r1) {
    const int64_t groups = m->cols / 32, pairs = groups / 2;
    const int dense = m->mask == NULL;
    const __m512i zero = _mm512_setzero_si512(), offset = _mm512_set1_epi8(q4 ? 8 : (char)128);
    const __m512i halves = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    float ds[CSPARSE_Q_MAX_COLS / 32];
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = dense ? NULL : m->mask + r * m->stride;
        const uint8_t *p = m->values + m->offsets[r];
        const uint16_t *scale = m->scales + r * groups;
        // The row's group scales times the vector's, 16 at a time (two scalar loads, a conversion
        // and a product per group measured as much as the rest of a step).
        int64_t g0 = 0;
        for (; g0 + 16 <= groups; g0 += 16)
            _mm512_storeu_ps(ds + g0, _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(scale + g0))),
                                                     _mm512_loadu_ps(xd + g0)));
        for (; g0 < groups; g0++) ds[g0] = _cvtsh_ss(scale[g0]) * xd[g0];
        __m512 acc = _mm512_setzero_ps();
        for (int64_t i = 0; i < pairs; i++) {
            _mm_prefetch((const char *)(p + 1024), _MM_HINT_T0);
            const int64_t g = 2 * i;
            __m512i w = codes64_avx512(p, q4);
            __mmask64 k = ~(__mmask64)0;
            int n = 64;
            if (!dense) {
                k = load64(row + 8 * i);
                n = __builtin_popcountll(k);
                w = _mm512_maskz_expand_epi8(k, w);
            }
            p += q4 ? (n + 1) >> 1 : n;
            __m512i s = _mm512_dpbusd_epi32(zero, w, _mm512_loadu_si512((const void *)(xq + 32 * g)));
            s = _mm512_dpbusd_epi32(s, _mm512_maskz_mov_epi8(k, offset), _mm512_loadu_si512((const void *)(xn + 32 * g)));
            const __m128 d = _mm_castpd_ps(_mm_load_sd((const double *)(ds + g)));
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_permutexvar_ps(halves, _mm512_castps128_ps512(d)), acc);
        }
        float total = _mm512_reduce_add_ps(acc);
        if (groups & 1) {
            const int64_t g = groups - 1;
            __m256i w = codes32_avx512(p, q4);
            __mmask32 k = ~(__mmask32)0;
            if (!dense) {
                k = (__mmask32)load32(row + 4 * g);
                w = _mm256_maskz_expand_epi8(k, w);
            }
            __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), w, _mm256_loadu_si256((const __m256i *)(xq + 32 * g)));
            s = _mm256_dpbusd_epi32(s, _mm256_maskz_mov_epi8(k, _mm512_castsi512_si256(offset)),
                                    _mm256_loadu_si256((const __m256i *)(xn + 32 * g)));
            total += hsum8(_mm256_mul_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(ds[g])));
        }
        y[r] = total;
    }
}

void csparse_qgemv_avx512(const csparse_qmatrix *m, const int8_t *xq, const int8_t *xn, const float *xd, float *y,
                          int64_t r0, int64_t r1) {
    if (m->type == CSPARSE_Q4_0) qgemv_avx512_typed(m, 1, xq, xn, xd, y, r0, r1);
    else qgemv_avx512_typed(m, 0, xq, xn, xd, y, r0, r1);
}

// ---------------------------------------------------------------------------------------------
// AVX2: no byte expand — a 256-entry table gives, per mask byte, the `pshufb` control that moves
// the next packed values to the lanes of its set bits (0x80, i.e. zero, elsewhere); no VNNI —
// `pmaddubsw` on |w| and sign(x, w) + `pmaddwd` (|w| ≤ 127 and |x| ≤ 127 cannot saturate the
// 16-bit pair sums). Sparse rows: a pair's codes are first made signed in a small buffer, then
// expanded. Dense rows have loops of their own below (no expand, no buffer).

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

// The 32 columns of mask word `k` from the signed packed values at `v`.
QAVX2 static inline __m256i expand32(const int8_t *v, uint32_t k) {
    const unsigned b0 = k & 0xFF, b1 = (k >> 8) & 0xFF, b2 = (k >> 16) & 0xFF, b3 = k >> 24;
    const int n0 = __builtin_popcount(b0), n1 = n0 + __builtin_popcount(b1), n2 = n1 + __builtin_popcount(b2);
    return _mm256_set_m128i(_mm_unpacklo_epi64(expand8(v + n1, b2), expand8(v + n2, b3)),
                            _mm_unpacklo_epi64(expand8(v, b0), expand8(v + n0, b1)));
}

// The (up to) 64 codes of a pair at `p`, signed, into `out` (96 bytes: expand8 may read past).
QAVX2 static inline void signed_codes_avx2(const uint8_t *p, int q4, int8_t *out) {
    if (q4) {
        const __m256i b = _mm256_loadu_si256((const __m256i *)p);
        const __m256i low = _mm256_set1_epi8(0x0F), eight = _mm256_set1_epi8(8);
        const __m256i lo = _mm256_and_si256(b, low), hi = _mm256_and_si256(_mm256_srli_epi16(b, 4), low);
        // unpack works within 128-bit lanes: bytes 0–7 and 16–23 of the source go to the first result.
        const __m256i a = _mm256_unpacklo_epi8(lo, hi), c = _mm256_unpackhi_epi8(lo, hi);
        _mm256_storeu_si256((__m256i *)out, _mm256_sub_epi8(_mm256_permute2x128_si256(a, c, 0x20), eight));
        _mm256_storeu_si256((__m256i *)(out + 32), _mm256_sub_epi8(_mm256_permute2x128_si256(a, c, 0x31), eight));
    } else {
        const __m256i flip = _mm256_set1_epi8((char)0x80);
        _mm256_storeu_si256((__m256i *)out, _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)p), flip));
        _mm256_storeu_si256((__m256i *)(out + 32), _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(p + 32)), flip));
    }
}

// Groups g and, where count is 2, g + 1 of a sparse row's codes at p (its mask at `row`), each
// expanded to 32 signed weights in w[0], w[1]; returns the bytes of codes they took.
QAVX2 static inline int64_t expand_groups_avx2(const uint8_t *row, const uint8_t *p, int64_t g, int count, int q4,
                                               int8_t *buffer, __m256i *w) {
    signed_codes_avx2(p, q4, buffer);
    const uint32_t k0 = load32(row + 4 * g);
    w[0] = expand32(buffer, k0);
    int used = __builtin_popcount(k0);
    if (count == 2) {
        const uint32_t k1 = load32(row + 4 * g + 4);
        w[1] = expand32(buffer + used, k1);
        used += __builtin_popcount(k1);
    }
    return q4 ? (used + 1) >> 1 : used;
}

// The row's group scales times the vector's, groups g0 ..< g1, into ds[0 ..< g1 - g0].
QAVX2 static inline void group_scales_avx2(const uint16_t *scale, const float *xd, int64_t g0, int64_t g1, float *ds) {
    int64_t g = g0;
    for (; g + 8 <= g1; g += 8)
        _mm256_storeu_ps(ds + (g - g0), _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(scale + g))),
                                                       _mm256_loadu_ps(xd + g)));
    for (; g < g1; g++) ds[g - g0] = _cvtsh_ss(scale[g]) * xd[g];
}

// Σ w · x of 32 signed weights, each lane 4 columns (|w| · sign(x, w): |w|, |x| ≤ 127 cannot
// saturate the 16-bit pair sums).
QAVX2 static inline __m256i group_sums(__m256i w, const int8_t *xq) {
    const __m256i x = _mm256_loadu_si256((const __m256i *)xq);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w)), _mm256_set1_epi16(1));
}

// The same for one dense Q8_0 group, the codes made signed as they are loaded, as f32.
QAVX2 static inline __m256 q8_group_sums(const uint8_t *p, const int8_t *xq) {
    const __m256i w = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)p), _mm256_set1_epi8((char)0x80));
    return _mm256_cvtepi32_ps(group_sums(w, xq));
}

// Dense Q8_0 rows: the codes made signed as they are loaded (no staging buffer), two groups per
// step into two accumulators.
QAVX2 static inline void qgemv_dense_q8_avx2(const csparse_qmatrix *m, const int8_t *xq, const float *xd, float *y,
                                             int64_t r0, int64_t r1) {
    const int64_t groups = m->cols / 32;
    float ds[CSPARSE_Q_MAX_COLS / 32];
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *p = m->values + m->offsets[r];
        group_scales_avx2(m->scales + r * groups, xd, 0, groups, ds);
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
        int64_t g = 0;
        for (; g + 2 <= groups; g += 2) {
            acc0 = _mm256_fmadd_ps(q8_group_sums(p + 32 * g, xq + 32 * g), _mm256_broadcast_ss(ds + g), acc0);
            acc1 = _mm256_fmadd_ps(q8_group_sums(p + 32 * g + 32, xq + 32 * g + 32), _mm256_broadcast_ss(ds + g + 1), acc1);
        }
        if (g < groups) acc0 = _mm256_fmadd_ps(q8_group_sums(p + 32 * g, xq + 32 * g), _mm256_broadcast_ss(ds + g), acc0);
        y[r] = hsum8(_mm256_add_ps(acc0, acc1));
    }
}

// Dense Q4_0 rows. A byte of codes holds columns 2k (low nibble) and 2k + 1 (high), so the nibbles
// are used where they lie: `pmaddubsw` of the low nibbles (unsigned 0–15, the codes themselves)
// with the vector's even columns plus that of the high nibbles with its odd columns, minus 8 · the
// vector's sums over each 4 columns (the codes' offset), is each 4 columns' exact Σ q · x in 16
// bits (|·| ≤ 2 · 2 · 15 · 127 + 8 · 4 · 127). The vector is rearranged once per tile of
// Q4_TILE columns (on the stack); a row's tiles add into y[r]. Against unpacking the nibbles to
// signed bytes through a staging buffer and |w| · sign(x, w), on a Zen 3 (`dlp bench sparse
// --dtype q4_0,q8_0`, SmolLM2-135M's 210 block linears, medians of three alternated runs): 9.46 →
// 7.96 ms per token on one thread, 8.67 → 6.62 on two (Q8_0's loop, mostly waiting on memory,
// did not change: 12.15 → 11.91 and 10.84 → 10.61).
enum { Q4_TILE = 2048 };

// Columns c0 ..< c0 + n (n a multiple of 32, c0 of 64) of the vector: per 64 columns (or a final
// 32) the even ones then the odd ones, and 8 · the sum over each 4 columns.
QAVX2 static inline void q4_arrange(const int8_t *xq, int64_t n, int8_t *arranged, int16_t *offsets) {
    // Within each 128-bit lane: the 8 even bytes, then the 8 odd ones.
    const __m256i split = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15,
                                           0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    const __m256i eight = _mm256_set1_epi8(8), ones = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < n; b += 64) {
        // [even 0–15, even 16–31, odd 0–15, odd 16–31] of each 32 columns; 8 · the 4-column sums.
        const __m256i a = _mm256_loadu_si256((const __m256i *)(xq + b));
        const __m256i ea = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(a, split), 0xD8);
        const __m256i sa = _mm256_madd_epi16(_mm256_maddubs_epi16(eight, a), ones);
        if (n - b >= 64) {
            const __m256i c = _mm256_loadu_si256((const __m256i *)(xq + b + 32));
            const __m256i ec = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(c, split), 0xD8);
            const __m256i sc = _mm256_madd_epi16(_mm256_maddubs_epi16(eight, c), ones);
            _mm256_store_si256((__m256i *)(arranged + b), _mm256_permute2x128_si256(ea, ec, 0x20));
            _mm256_store_si256((__m256i *)(arranged + b + 32), _mm256_permute2x128_si256(ea, ec, 0x31));
            _mm256_store_si256((__m256i *)(offsets + b / 4), _mm256_permute4x64_epi64(_mm256_packs_epi32(sa, sc), 0xD8));
        } else {
            _mm256_store_si256((__m256i *)(arranged + b), ea);
            _mm_store_si128((__m128i *)(offsets + b / 4),
                            _mm256_castsi256_si128(_mm256_permute4x64_epi64(_mm256_packs_epi32(sa, sa), 0xD8)));
        }
    }
}

// The float steps every Q4_0 loop shares, so sparse and dense rows give bit-identical results:
// a 64-column step's sums (8 lanes of 8 columns, lanes 0–3 its first group, 4–7 its second)
// times the two groups' scales, and a lone last group's 4 lanes times its scale, summed.
QAVX2 static inline __m256 q4_pair_scales(const float *ds) {
    const __m256i halves = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1);
    return _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_castpd_ps(_mm_load_sd((const double *)ds))), halves);
}

QAVX2 static inline float q4_lone_total(__m128i s, float d) {
    __m128 t = _mm_mul_ps(_mm_cvtepi32_ps(s), _mm_set1_ps(d));
    t = _mm_add_ps(t, _mm_movehl_ps(t, t));
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}

// Σ over 64 columns (two groups) of code · x − offsets: lanes 0–3 the first group's, 4–7 the second's.
QAVX2 static inline __m256i q4_pair_sums(const uint8_t *p, const int8_t *arranged, const int16_t *offsets) {
    const __m256i low = _mm256_set1_epi8(0x0F);
    const __m256i b = _mm256_loadu_si256((const __m256i *)p);
    const __m256i lo = _mm256_and_si256(b, low), hi = _mm256_and_si256(_mm256_srli_epi16(b, 4), low);
    const __m256i sums = _mm256_add_epi16(_mm256_maddubs_epi16(lo, _mm256_load_si256((const __m256i *)arranged)),
                                          _mm256_maddubs_epi16(hi, _mm256_load_si256((const __m256i *)(arranged + 32))));
    return _mm256_madd_epi16(_mm256_sub_epi16(sums, _mm256_load_si256((const __m256i *)offsets)), _mm256_set1_epi16(1));
}

QAVX2 static inline void qgemv_dense_q4_avx2(const csparse_qmatrix *m, const int8_t *xq, const float *xd, float *y,
                                             int64_t r0, int64_t r1) {
    const int64_t groups = m->cols / 32;
    int8_t arranged[Q4_TILE] __attribute__((aligned(32)));
    int16_t offsets[Q4_TILE / 4] __attribute__((aligned(32)));
    float ds[Q4_TILE / 32];
    for (int64_t c0 = 0; c0 < m->cols; c0 += Q4_TILE) {
        const int64_t n = m->cols - c0 < Q4_TILE ? m->cols - c0 : Q4_TILE, pairs = n / 64, g0 = c0 / 32;
        q4_arrange(xq + c0, n, arranged, offsets);
        for (int64_t r = r0; r < r1; r++) {
            const uint8_t *p = m->values + m->offsets[r] + c0 / 2;
            group_scales_avx2(m->scales + r * groups, xd, g0, g0 + n / 32, ds);
            __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
            int64_t i = 0;
            for (; i + 2 <= pairs; i += 2) {
                const __m256i s0 = q4_pair_sums(p + 32 * i, arranged + 64 * i, offsets + 16 * i);
                const __m256i s1 = q4_pair_sums(p + 32 * i + 32, arranged + 64 * i + 64, offsets + 16 * i + 16);
                acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s0), q4_pair_scales(ds + 2 * i), acc0);
                acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s1), q4_pair_scales(ds + 2 * i + 2), acc1);
            }
            if (i < pairs) {
                acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q4_pair_sums(p + 32 * i, arranged + 64 * i, offsets + 16 * i)),
                                       q4_pair_scales(ds + 2 * i), acc0);
                i++;
            }
            float total = hsum8(_mm256_add_ps(acc0, acc1));
            if (n & 32) {
                // The row's last group alone (an odd group count): 16 bytes of codes, its 16 even
                // columns then 16 odd ones arranged in one 32-byte row.
                const __m128i l = _mm_set1_epi8(0x0F);
                const __m128i b = _mm_loadu_si128((const __m128i *)(p + 32 * i));
                const __m128i lo = _mm_and_si128(b, l), hi = _mm_and_si128(_mm_srli_epi16(b, 4), l);
                const __m128i sums = _mm_add_epi16(_mm_maddubs_epi16(lo, _mm_load_si128((const __m128i *)(arranged + 64 * i))),
                                                   _mm_maddubs_epi16(hi, _mm_load_si128((const __m128i *)(arranged + 64 * i + 16))));
                const __m128i s = _mm_madd_epi16(_mm_sub_epi16(sums, _mm_load_si128((const __m128i *)(offsets + 16 * i))),
                                                 _mm_set1_epi16(1));
                total += q4_lone_total(s, ds[2 * i]);
            }
            y[r] = c0 == 0 ? total : y[r] + total;
        }
    }
}

// Sparse rows: each group expanded through the table (its codes made signed in a small buffer
// first), then |w| · sign(x, w). The float steps are the dense loops' own — the same lanes, the
// same accumulators, the same tiles — so a sparse row gives exactly what its dense twin gives
// (the decoder's outputs do not depend on the storage).
QAVX2 static inline float sparse_q8_row(const uint8_t *row, const uint8_t *p, int64_t groups, const int8_t *xq,
                                        const float *ds, int8_t *buffer) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (int64_t g = 0; g < groups; g += 2) {
        const int count = groups - g >= 2 ? 2 : 1;
        __m256i w[2];
        p += expand_groups_avx2(row, p, g, count, 0, buffer, w);
        acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(group_sums(w[0], xq + 32 * g)), _mm256_broadcast_ss(ds + g), acc0);
        if (count == 2)
            acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(group_sums(w[1], xq + 32 * g + 32)), _mm256_broadcast_ss(ds + g + 1), acc1);
    }
    return hsum8(_mm256_add_ps(acc0, acc1));
}

QAVX2 static inline float sparse_q4_row(const uint8_t *row, const uint8_t *p, int64_t cols, const int8_t *xq,
                                        const float *ds, int8_t *buffer) {
    float sum = 0;
    for (int64_t c0 = 0; c0 < cols; c0 += Q4_TILE) {
        const int64_t n = cols - c0 < Q4_TILE ? cols - c0 : Q4_TILE, pairs = n / 64, g0 = c0 / 32;
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
        for (int64_t i = 0; i < pairs; i++) {
            const int64_t g = g0 + 2 * i;
            __m256i w[2];
            p += expand_groups_avx2(row, p, g, 2, 1, buffer, w);
            const __m256i s0 = group_sums(w[0], xq + 32 * g), s1 = group_sums(w[1], xq + 32 * g + 32);
            // [4 lanes of 8 columns of the first group, 4 of the second], as the dense loop has them.
            const __m256 s = _mm256_cvtepi32_ps(_mm256_permute4x64_epi64(_mm256_hadd_epi32(s0, s1), 0xD8));
            if (i & 1) acc1 = _mm256_fmadd_ps(s, q4_pair_scales(ds + g), acc1);
            else acc0 = _mm256_fmadd_ps(s, q4_pair_scales(ds + g), acc0);
        }
        float total = hsum8(_mm256_add_ps(acc0, acc1));
        if (n & 32) {
            const int64_t g = g0 + 2 * pairs;
            __m256i w[1];
            expand_groups_avx2(row, p, g, 1, 1, buffer, w);
            const __m256i h = _mm256_hadd_epi32(group_sums(w[0], xq + 32 * g), _mm256_setzero_si256());
            total += q4_lone_total(_mm_unpacklo_epi64(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1)), ds[g]);
        }
        sum = c0 == 0 ? total : sum + total;
    }
    return sum;
}

QAVX2 static inline void qgemv_sparse_avx2(const csparse_qmatrix *m, int q4, const int8_t *xq, const float *xd, float *y,
                                           int64_t r0, int64_t r1) {
    const int64_t groups = m->cols / 32;
    float ds[CSPARSE_Q_MAX_COLS / 32];
    int8_t buffer[96] __attribute__((aligned(32)));
    memset(buffer + 64, 0, 32);
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = m->mask + r * m->stride, *p = m->values + m->offsets[r];
        group_scales_avx2(m->scales + r * groups, xd, 0, groups, ds);
        y[r] = q4 ? sparse_q4_row(row, p, m->cols, xq, ds, buffer) : sparse_q8_row(row, p, groups, xq, ds, buffer);
    }
}

void csparse_qgemv_avx2(const csparse_qmatrix *m, const int8_t *xq, const float *xd, float *y, int64_t r0, int64_t r1) {
    const int q4 = m->type == CSPARSE_Q4_0;
    if (m->mask) {
        qgemv_sparse_avx2(m, q4, xq, xd, y, r0, r1);
    } else if (q4) {
        qgemv_dense_q4_avx2(m, xq, xd, y, r0, r1);
    } else {
        qgemv_dense_q8_avx2(m, xq, xd, y, r0, r1);
    }
}

// Dequantized rows (the tile a prefill GEMM multiplies).
QAVX2 static inline void store_group(float *o, __m256i w, float d) {
    const __m256 s = _mm256_set1_ps(d);
    const __m128i lo = _mm256_castsi256_si128(w), hi = _mm256_extracti128_si256(w, 1);
    _mm256_storeu_ps(o, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), s));
    _mm256_storeu_ps(o + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))), s));
    _mm256_storeu_ps(o + 16, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), s));
    _mm256_storeu_ps(o + 24, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))), s));
}

QAVX2 static inline void qexpand_typed(const csparse_qmatrix *m, int q4, float *out, int64_t r0, int64_t r1) {
    const int64_t groups = m->cols / 32;
    int8_t buffer[96] __attribute__((aligned(32)));
    memset(buffer + 64, 0, 32);
    for (int64_t r = r0; r < r1; r++) {
        const uint16_t *scale = m->scales + r * groups;
        const uint8_t *row = m->mask ? m->mask + r * m->stride : NULL, *p = m->values + m->offsets[r];
        float *o = out + (r - r0) * m->cols;
        for (int64_t g = 0; g < groups; g += 2) {
            const int count = groups - g >= 2 ? 2 : 1;
            __m256i w[2];
            if (row) {
                p += expand_groups_avx2(row, p, g, count, q4, buffer, w);
            } else {
                signed_codes_avx2(p, q4, buffer);
                w[0] = _mm256_load_si256((const __m256i *)buffer);
                w[1] = _mm256_load_si256((const __m256i *)(buffer + 32));
                p += q4 ? 32 : 64;
            }
            for (int h = 0; h < count; h++) store_group(o + 32 * (g + h), w[h], _cvtsh_ss(scale[g + h]));
        }
    }
}

void csparse_qexpand_avx2(const csparse_qmatrix *m, float *out, int64_t r0, int64_t r1) {
    if (m->type == CSPARSE_Q4_0) qexpand_typed(m, 1, out, r0, r1);
    else qexpand_typed(m, 0, out, r0, r1);
}

// ---------------------------------------------------------------------------------------------
// The vector's quantization, per 32 values: d = max|x| / 127, codes = x · (1/d) rounded half away
// from zero (C's roundf; computed as truncation plus a step where the fraction is ≥ ½, so every
// value gives the code the Swift twin gives).

QAVX2 void csparse_quantize_vector_avx2(const float *x, int64_t n, int8_t *codes, int8_t *negated, float *scales) {
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
        const __m256i ordered = _mm256_permutevar8x32_epi32(packed, order);
        _mm256_storeu_si256((__m256i *)(codes + 32 * g), ordered);
        if (negated) _mm256_storeu_si256((__m256i *)(negated + 32 * g), _mm256_sub_epi8(_mm256_setzero_si256(), ordered));
    }
}
