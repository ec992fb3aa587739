/* The catalyst features of mda_curate.classifier.features, computed in C.
 *
 * fill(docs, out, char_ngrams, word_ngrams, min_distance_chars, min_distance_words, hashed_ngram,
 *      hashed_dims, zlib_column) writes row i of the float32 matrix `out` from the UTF-8 bytes docs[i]
 * (already capped), read as if followed by a newline. Column 1 is left to the caller when zlib_column
 * is true. Column order and definitions: see features.py.
 *
 * One pass classifies each 64-byte block into bit masks (spaces, newlines, anchors, markup starts, starts of
 * line-shape runs) and character-class counts: with AVX2 where the CPU has it, else byte by byte
 * (set_simd(False) forces that path; both give the same masks). Everything else walks the set bits.
 * Spans (byte n-grams, tokens, lines) are compared by a 64-bit hash of their bytes and length (span_hash), and
 * n-grams of tokens or line-shape symbols by the polynomial hash sum_j v_j * P^j (mod 2^64) of their values;
 * recurrence is found with an open-addressing hash table per document. The hashed n-gram buckets use the
 * polynomial hash of the n-gram's bytes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_AVX2 1
#define AVX2 __attribute__((target("avx2,popcnt")))
#else
#define HAVE_AVX2 0
#endif

#define P 0x100000001B3ULL      /* FNV-64 prime, odd */
#define MIX 0xBF58476D1CE4E5B9ULL
#define GOLDEN 0x9E3779B97F4A7C15ULL  /* mixed into span hashes with their length */
#define N_CLASSES 10
#define N_MARKUP 5
#define N_LINE 8
#define PAD 64                  /* bytes before and after a document in the scratch buffer */

enum { F_SPACE = 1, F_ANCHOR = 2, F_NEWLINE = 4, F_MARKUP = 8 };
enum { C_DIGIT, C_UPPER, C_LOWER, C_BLANK, C_NEWLINE, C_PUNCT, C_BRACKET, C_BACKSLASH, C_NON_ASCII, C_CONTROL };
static uint8_t SPACE[256], BLANK[256], FLAGS[256], SHAPE[256], MARKUP[256][256];
static uint64_t SHAPE_VALUE[256];  /* SHAPE, but 0 for the newline: what a run adds to its line's shape hash */
static uint8_t CLASS_OF[256][2];  /* the (at most two) character classes of each byte; N_CLASSES: none */
static uint8_t ANCHOR_ROWS[2][16];  /* bit h of ANCHOR_ROWS[h / 8][lo] <=> byte 16 * h + lo is an anchor (h mod 8) */
static int use_simd;

static int is_letter(int b) { return (b >= 65 && b < 91) || (b >= 97 && b < 123); }
static int is_digit(int b) { return b >= 48 && b < 58; }

static void build_tables(void) {
    for (int b = 0; b < 256; b++) {
        SPACE[b] = b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\f' || b == '\v';
        BLANK[b] = SPACE[b] && b != '\n';
        /* Anchors: a fixed pseudo-random eighth of the non-space byte values. */
        int anchor = ((((uint64_t)b * 0x9E3779B1ULL) >> 7) % 8 == 0) && !SPACE[b];
        FLAGS[b] = SPACE[b] * F_SPACE | anchor * F_ANCHOR | (b == '\n') * F_NEWLINE |
                   (b == '\\' || b == '<' || b == '&' || b == '"') * F_MARKUP;
        if (anchor) ANCHOR_ROWS[b >> 7][b & 15] |= (uint8_t)(1 << ((b >> 4) & 7));
        SHAPE[b] = b == 0 ? 1 : (is_letter(b) || b >= 128) ? 'a' : is_digit(b) ? '0' : BLANK[b] ? ' ' : b;
        SHAPE_VALUE[b] = b == '\n' ? 0 : SHAPE[b];
        int classes[N_CLASSES] = {  /* the byte-by-byte definitions; classify32 has their AVX2 twins */
            [C_DIGIT] = is_digit(b), [C_UPPER] = b >= 65 && b < 91, [C_LOWER] = b >= 97 && b < 123,
            [C_BLANK] = BLANK[b], [C_NEWLINE] = b == '\n',
            [C_PUNCT] = b >= 33 && b < 127 && !is_letter(b) && !is_digit(b),
            [C_BRACKET] = b != 0 && strchr("()[]{}<>", b) != NULL, [C_BACKSLASH] = b == '\\', [C_NON_ASCII] = b >= 128,
            [C_CONTROL] = b < 32 && !SPACE[b],
        };
        CLASS_OF[b][0] = CLASS_OF[b][1] = N_CLASSES;
        for (int c = 0, k = 0; c < N_CLASSES; c++)
            if (classes[c]) CLASS_OF[b][k++] = (uint8_t)c;
    }
    memset(MARKUP, 0, sizeof MARKUP);
    for (int b = 0; b < 256; b++) {
        if (is_letter(b)) {
            MARKUP['\\'][b] = 1;  /* \command */
            MARKUP['<'][b] = 2;   /* <tag */
            MARKUP['&'][b] = 4;   /* &entity; */
        }
    }
    MARKUP['<']['!'] = MARKUP['<']['?'] = 2;  /* <!DOCTYPE, <?xml */
    MARKUP['<']['/'] = 3;                      /* </tag (also counted as a tag) */
    MARKUP['&']['#'] = 4;
    MARKUP['"'][':'] = 5;                      /* "key": */
}

/* ---- scratch memory for the longest document of a call ------------------------------------------ */

/* A recurrence table entry: a key, where it first occurred, and whether it is in use (stamp == generation). */
typedef struct {
    uint64_t key;
    uint32_t first, stamp;
} Slot;

typedef struct {
    uint8_t *buffer;                         /* PAD bytes, the document, its newline, zeros */
    uint64_t *power, *inverse;               /* P^i and P^-i */
    uint64_t *line_shapes;                   /* shape hash of every line */
    uint64_t *token_prefix, *hashes;         /* prefix hash of the token hashes; hashes for the table */
    uint64_t *shape_hashes;
    int64_t *anchors, *edges, *positions;  /* edges: token starts and ends, alternating */
    int64_t *line_ends;                      /* the newline of every line */
    int64_t *buckets;                        /* hashed n-gram counts (hashed_dims) */
    float *roots;                            /* square-root frequency of each count */
    Slot *table;                             /* the recurrence table */
    uint32_t generation;
    size_t table_size;
} Work;

#define WORK_ARRAYS(X)                                                                                       \
    X(power) X(inverse) X(line_shapes) X(token_prefix) X(hashes) X(shape_hashes) X(anchors) X(edges)         \
    X(positions) X(line_ends)

static void work_free(Work *w) {
#define FREE(name) free(w->name);
    WORK_ARRAYS(FREE)
    free(w->buffer); free(w->buckets); free(w->roots); free(w->table);
}

static int work_alloc(Work *w, size_t longest, Py_ssize_t hashed_dims) {
    size_t n = longest + 3, table = 16;  /* every array holds one element per byte, newline and one more */
    while (table < 8 * n) table <<= 1;
    memset(w, 0, sizeof *w);
    w->table_size = table;
    int failed = 0;
#define ALLOC(name) failed |= !(w->name = malloc(n * 8));
    WORK_ARRAYS(ALLOC)
    failed |= !(w->buffer = malloc(n + 3 * PAD)) || !(w->buckets = calloc(hashed_dims > 0 ? (size_t)hashed_dims : 1, 8));
    failed |= !(w->table = calloc(table, sizeof *w->table)) || !(w->roots = malloc(n * sizeof *w->roots));
    if (failed) {
        work_free(w);
        return -1;
    }
    memset(w->buffer, '\n', PAD);  /* the byte before a document reads as a newline: a line and a run start there */
    uint64_t p_inverse = P;  /* Newton's iteration for P^-1 mod 2^64: 3 correct bits, doubling each step */
    for (int i = 0; i < 5; i++) p_inverse *= 2 - P * p_inverse;
    w->power[0] = w->inverse[0] = 1;
    for (size_t i = 1; i < n; i++) {
        w->power[i] = w->power[i - 1] * P;
        w->inverse[i] = w->inverse[i - 1] * p_inverse;
    }
    return 0;
}

/* ---- spans -------------------------------------------------------------------------------------- */

/* splitmix64's finalizer: token hashes enter the n-gram hash non-linearly, else two n-grams whose tokens
 * differ by digits at offsetting positions ("0114 x 3100" vs "0110 x 3500") would hash equally. */
static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * MIX;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t load64(const uint8_t *p) {
    uint64_t value;
    memcpy(&value, p, 8);
    return value;
}

/* A 64-bit hash of the len bytes at p and of len (so trailing NUL bytes count), 8 bytes at a time: each
 * step is a bijection of the state, so equal hashes mean equal spans but for chance (its bits are not
 * mixed: see mix). Reads up to 7 bytes past the span (the buffer's zeros). */
static uint64_t span_hash(const uint8_t *p, int64_t len) {
    uint64_t h = (uint64_t)len * GOLDEN;
    for (; len >= 8; p += 8, len -= 8) {
        h = (h ^ load64(p)) * MIX;
        h ^= h >> 32;
    }
    if (len > 0) {
        h = (h ^ (load64(p) & (~0ULL >> (64 - 8 * len)))) * MIX;
        h ^= h >> 32;
    }
    return h;
}

/* The polynomial hash sum_j b_j P^j of the n bytes at p (what the hashed buckets are defined on). */
static uint64_t polynomial_hash(const uint8_t *p, Py_ssize_t n, const uint64_t *power) {
    uint64_t h = 0;
    for (Py_ssize_t j = 0; j < n; j++) h += p[j] * power[j];
    return h;
}

/* ---- recurrence -------------------------------------------------------------------------------- */

/* Count of the hashes (in position order) whose first occurrence lies more than min_distance earlier. */
static int64_t count_recurring(Work *w, const uint64_t *hashes, const int64_t *positions, size_t count,
                               int64_t min_distance) {
    int bits = 4;
    while (((size_t)1 << bits) < 8 * count) bits++;  /* at most an eighth full: few collisions to probe past */
    size_t mask = ((size_t)1 << bits) - 1;
    if (++w->generation == 0) {  /* stamps wrapped around: clear them once */
        memset(w->table, 0, w->table_size * sizeof *w->table);
        w->generation = 1;
    }
    int64_t recurring = 0;
    for (size_t k = 0; k < count; k++) {
        uint64_t key = hashes[k];
        size_t index = (size_t)((key * MIX) >> (64 - bits));
        while (w->table[index].stamp == w->generation && w->table[index].key != key) index = (index + 1) & mask;
        Slot *slot = w->table + index;
        int seen = slot->stamp == w->generation;  /* no branch: seen or not is random */
        recurring += seen & (positions[k] - (int64_t)slot->first > min_distance);
        slot->first = seen ? slot->first : (uint32_t)positions[k];
        slot->key = key;
        slot->stamp = w->generation;
    }
    return recurring;
}

static double share(int64_t part, int64_t whole) { return (double)part / (double)(whole > 1 ? whole : 1); }

/* Share of the anchored byte n-grams (ending before the newline) that recur. */
static double byte_recurrence(Work *w, const uint8_t *b, size_t anchors, Py_ssize_t length, Py_ssize_t n,
                              int64_t min_distance) {
    size_t count = 0;
    for (; count < anchors && w->anchors[count] + n <= length; count++)
        w->hashes[count] = span_hash(b + w->anchors[count], n);
    return share(count_recurring(w, w->hashes, w->anchors, count, min_distance), (int64_t)count);
}

/* Share of the n-token windows that recur. */
static double token_recurrence(Work *w, size_t tokens, Py_ssize_t n, int64_t min_distance) {
    size_t count = 0;
    for (size_t t = 0; t + (size_t)n <= tokens; t++) {
        w->hashes[count] = (w->token_prefix[t + n] - w->token_prefix[t]) * w->inverse[t];
        w->positions[count++] = (int64_t)t;
    }
    return share(count_recurring(w, w->hashes, w->positions, count, min_distance), (int64_t)count);
}

typedef struct {
    Py_ssize_t *char_ngrams, n_char, *word_ngrams, n_word;
    long long min_distance_chars, min_distance_words;
    Py_ssize_t hashed_ngram, hashed_dims;
    int hashed_bits, zlib_column;
} Settings;

/* ---- classifying bytes, 64 at a time ----------------------------------------------------------- */

/* Bit k of each mask describes byte k of a block. run: the byte's line-shape symbol differs from the
 * previous byte's (a run of symbols starts there; the byte before the document reads as a newline). */
typedef struct {
    uint64_t space, newline, anchor, markup, run;
} Masks;

typedef struct {
    size_t anchors, tokens, lines;
    int64_t class_counts[N_CLASSES + 1], markup[N_MARKUP + 1];
} Scan;

/* Byte by byte; the character classes are counted separately (count_classes). */
static void classify_bytes(const uint8_t *p, Masks *m) {
    uint64_t space = 0, newline = 0, anchor = 0, markup = 0, run = 0;
    int previous = SHAPE[p[-1]];
    for (int k = 0; k < 64; k++) {
        uint64_t flags = FLAGS[p[k]];
        int shape = SHAPE[p[k]];
        space |= (flags & F_SPACE) << k;
        anchor |= ((flags & F_ANCHOR) >> 1) << k;
        newline |= ((flags & F_NEWLINE) >> 2) << k;
        markup |= ((flags & F_MARKUP) >> 3) << k;
        run |= (uint64_t)(shape != previous) << k;
        previous = shape;
    }
    *m = (Masks){space, newline, anchor, markup, run};
}

static void count_classes(const uint8_t *b, Py_ssize_t length, int64_t *counts) {
    uint32_t histogram[256] = {0};
    for (Py_ssize_t i = 0; i < length; i++) histogram[b[i]]++;
    for (int v = 0; v < 256; v++) {
        counts[CLASS_OF[v][0]] += histogram[v];
        counts[CLASS_OF[v][1]] += histogram[v];
    }
}

#if HAVE_AVX2
AVX2 static __m256i byte_is(__m256i v, int c) { return _mm256_cmpeq_epi8(v, _mm256_set1_epi8((char)c)); }

AVX2 static __m256i in_range(__m256i v, int lo, int hi) {  /* lo <= v <= hi, unsigned */
    __m256i shifted = _mm256_sub_epi8(v, _mm256_set1_epi8((char)lo));
    return _mm256_cmpeq_epi8(_mm256_min_epu8(shifted, _mm256_set1_epi8((char)(hi - lo))), shifted);
}

AVX2 static __m256i is_space(__m256i v) { return _mm256_or_si256(byte_is(v, ' '), in_range(v, '\t', '\r')); }

AVX2 static __m256i is_letter_or_high(__m256i v) {  /* OR 0x20 folds A-Z onto a-z and nothing else onto it */
    __m256i high = _mm256_cmpgt_epi8(_mm256_setzero_si256(), v);
    return _mm256_or_si256(high, in_range(_mm256_or_si256(v, _mm256_set1_epi8(0x20)), 'a', 'z'));
}

AVX2 static __m256i shape_of(__m256i v) {  /* SHAPE, for 32 bytes */
    __m256i blank = _mm256_andnot_si256(byte_is(v, '\n'), is_space(v));
    __m256i shape = _mm256_blendv_epi8(v, _mm256_set1_epi8('a'), is_letter_or_high(v));
    shape = _mm256_blendv_epi8(shape, _mm256_set1_epi8('0'), in_range(v, '0', '9'));
    shape = _mm256_blendv_epi8(shape, _mm256_set1_epi8(' '), blank);
    return _mm256_blendv_epi8(shape, _mm256_set1_epi8(1), byte_is(v, 0));
}

AVX2 static uint32_t bits(__m256i v) { return (uint32_t)_mm256_movemask_epi8(v); }

/* The masks of 32 bytes (shifted to bit `at`); classes counted over the bytes of `counted`. */
AVX2 static void classify32(const uint8_t *p, int at, uint32_t counted, Masks *m, int64_t *counts) {
    __m256i v = _mm256_loadu_si256((const __m256i *)p), previous = _mm256_loadu_si256((const __m256i *)(p - 1));
    __m256i space = is_space(v), newline = byte_is(v, '\n'), digit = in_range(v, '0', '9');
    __m256i upper = in_range(v, 'A', 'Z'), lower = in_range(v, 'a', 'z');
    __m256i nibbles = _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(0x0F));
    __m256i low = _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
    __m256i rows = _mm256_blendv_epi8(  /* the anchor table's row for the low nibble; v's sign picks the half */
        _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)ANCHOR_ROWS[0])), low),
        _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)ANCHOR_ROWS[1])), low), v);
    __m256i bit = _mm256_shuffle_epi8(_mm256_setr_epi8(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128,
                                                       1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128),
                                      nibbles);
    __m256i not_anchor = _mm256_cmpeq_epi8(_mm256_and_si256(rows, bit), _mm256_setzero_si256());
    __m256i markup = _mm256_or_si256(_mm256_or_si256(byte_is(v, '\\'), byte_is(v, '<')),
                                     _mm256_or_si256(byte_is(v, '&'), byte_is(v, '"')));
    __m256i bracket = _mm256_or_si256(
        _mm256_or_si256(_mm256_or_si256(byte_is(v, '('), byte_is(v, ')')), _mm256_or_si256(byte_is(v, '['), byte_is(v, ']'))),
        _mm256_or_si256(_mm256_or_si256(byte_is(v, '{'), byte_is(v, '}')), _mm256_or_si256(byte_is(v, '<'), byte_is(v, '>'))));
    __m256i punct = _mm256_andnot_si256(_mm256_or_si256(_mm256_or_si256(upper, lower), digit), in_range(v, 33, 126));
    uint32_t space_bits = bits(space), newline_bits = bits(newline);
    m->space |= (uint64_t)space_bits << at;
    m->newline |= (uint64_t)newline_bits << at;
    m->anchor |= (uint64_t)~bits(not_anchor) << at;
    m->markup |= (uint64_t)bits(markup) << at;
    m->run |= (uint64_t)~bits(_mm256_cmpeq_epi8(shape_of(v), shape_of(previous))) << at;
    counts[C_DIGIT] += __builtin_popcount(bits(digit) & counted);
    counts[C_UPPER] += __builtin_popcount(bits(upper) & counted);
    counts[C_LOWER] += __builtin_popcount(bits(lower) & counted);
    counts[C_BLANK] += __builtin_popcount(space_bits & ~newline_bits & counted);
    counts[C_NEWLINE] += __builtin_popcount(newline_bits & counted);
    counts[C_PUNCT] += __builtin_popcount(bits(punct) & counted);
    counts[C_BRACKET] += __builtin_popcount(bits(bracket) & counted);
    counts[C_BACKSLASH] += __builtin_popcount(bits(byte_is(v, '\\')) & counted);
    counts[C_NON_ASCII] += __builtin_popcount(bits(v) & counted);
    counts[C_CONTROL] += __builtin_popcount(bits(in_range(v, 0, 31)) & ~space_bits & counted);
}

AVX2 static void classify_simd(const uint8_t *p, uint64_t counted, Masks *m, int64_t *counts) {
    *m = (Masks){0};
    classify32(p, 0, (uint32_t)counted, m, counts);
    classify32(p + 32, 32, (uint32_t)(counted >> 32), m, counts);
}
#endif

static uint64_t low_bits(Py_ssize_t n) { return n >= 64 ? ~0ULL : n <= 0 ? 0 : (1ULL << n) - 1; }

/* The positions of the set bits of `mask` (block at `base`), appended at `out`; returns the new end. */
static int64_t *append_bits(int64_t *out, uint64_t mask, int64_t base) {
    for (; mask; mask &= mask - 1) *out++ = base + __builtin_ctzll(mask);
    return out;
}

/* One pass over the document and its newline, a block at a time: class counts, anchor positions, token
 * edges (where spaces stop or start), lines (their newline and shape hash sum_k s_k P^k over the symbols s_k
 * of their runs of line-shape symbols; the newline adds 0) and markup pairs. */
static void scan(Work *w, const uint8_t *b, Py_ssize_t length, Scan *out) {
    memset(out->class_counts, 0, sizeof out->class_counts);
    memset(out->markup, 0, sizeof out->markup);
    int simd = HAVE_AVX2 && use_simd;
    if (!simd) count_classes(b, length, out->class_counts);
    int64_t *anchor = w->anchors, *edge = w->edges, lines = 0, runs = 0;
    uint64_t shape_hash = 0, previous_space = 1;
    for (Py_ssize_t base = 0; base <= length; base += 64) {
        Masks m;
#if HAVE_AVX2
        if (simd) classify_simd(b + base, low_bits(length - base), &m, out->class_counts);
        else
#endif
            classify_bytes(b + base, &m);
        uint64_t valid = low_bits(length + 1 - base);  /* the document and its newline */
        uint64_t space = m.space & valid;
        anchor = append_bits(anchor, m.anchor & valid, base);
        edge = append_bits(edge, (space ^ (space << 1 | previous_space)) & valid, base);
        previous_space = space >> 63;
        for (uint64_t marks = m.markup & valid; marks; marks &= marks - 1) {
            int64_t i = base + __builtin_ctzll(marks);
            out->markup[MARKUP[b[i]][b[i + 1]]]++;
        }
        for (uint64_t events = (m.run | m.newline) & valid; events; events &= events - 1) {
            int64_t i = base + __builtin_ctzll(events);
            int newline = b[i] == '\n';  /* no branch: a newline ends the line, other events extend its shape */
            w->line_ends[lines] = i;
            w->line_shapes[lines] = shape_hash;
            lines += newline;
            shape_hash = newline ? 0 : shape_hash + SHAPE_VALUE[b[i]] * w->power[runs];
            runs = newline ? 0 : runs + 1;
        }
    }
    out->anchors = (size_t)(anchor - w->anchors);
    out->tokens = (size_t)(edge - w->edges) / 2;  /* the document ends in a newline, so every token has ended */
    out->lines = (size_t)lines;
}

static void hash_tokens(Work *w, const uint8_t *b, size_t tokens) {
    w->token_prefix[0] = 0;
    for (size_t t = 0; t < tokens; t++) {
        int64_t start = w->edges[2 * t], end = w->edges[2 * t + 1];
        w->token_prefix[t + 1] = w->token_prefix[t] + mix(span_hash(b + start, end - start)) * w->power[t];
    }
}

/* Writes the 8 line features; lines end at every newline, the added last one included. */
static void line_features(Work *w, const uint8_t *b, const Scan *found, float *out) {
    int64_t lines = (int64_t)found->lines, blank = 0, indented = 0, content = 0, longest = 0;
    double sum = 0.0, sum_squares = 0.0;
    size_t token = 0;
    for (int64_t k = 0; k < lines; k++) {
        int64_t start = k ? w->line_ends[k - 1] + 1 : 0, end = w->line_ends[k], len = end - start;
        sum += (double)len;
        sum_squares += (double)len * (double)len;
        if (len > longest) longest = len;
        while (token < found->tokens && w->edges[2 * token] < start) token++;
        if (token == found->tokens || w->edges[2 * token] >= end) {  /* no token starts in the line */
            blank++;
            continue;
        }
        indented += BLANK[b[start]];
        w->hashes[content] = span_hash(b + start, len);
        w->shape_hashes[content] = w->line_shapes[k];
        w->positions[content] = content;
        content++;
    }
    double mean = sum / (double)lines;
    double variance = sum_squares / (double)lines - mean * mean;
    if (variance < 0.0) variance = 0.0;
    out[0] = (float)log1p((double)lines);
    out[1] = (float)log1p(mean);
    out[2] = (float)(sqrt(variance) / (mean > 1.0 ? mean : 1.0));
    out[3] = (float)log1p((double)longest);
    out[4] = (float)((double)blank / (double)lines);
    out[5] = (float)((double)indented / (double)lines);
    out[6] = (float)share(count_recurring(w, w->hashes, w->positions, (size_t)content, 0), content);
    out[7] = (float)share(count_recurring(w, w->shape_hashes, w->positions, (size_t)content, 0), content);
}

/* Square-root frequencies of the anchored byte n-grams in hashed_dims buckets (only touched ones computed). */
static void hashed_ngrams(Work *w, const uint8_t *b, size_t anchors, Py_ssize_t length, const Settings *s, float *out) {
    Py_ssize_t n = s->hashed_ngram;
    size_t total = 0;
    memset(out, 0, (size_t)s->hashed_dims * sizeof *out);
    for (; total < anchors && w->anchors[total] + n <= length; total++) {
        uint64_t hash = polynomial_hash(b + w->anchors[total], n, w->power);
        w->positions[total] = s->hashed_bits ? (int64_t)((hash * MIX) >> (64 - s->hashed_bits)) : 0;
        w->buckets[w->positions[total]]++;
    }
    int64_t most = 0;
    for (size_t k = 0; k < total; k++) most = w->buckets[w->positions[k]] > most ? w->buckets[w->positions[k]] : most;
    double scale = 1.0 / (double)(total > 1 ? total : 1);
    for (int64_t count = 1; count <= most; count++) w->roots[count] = (float)sqrt((double)count * scale);
    for (size_t k = 0; k < total; k++)  /* a bucket met again is written again: no branch to mispredict */
        out[w->positions[k]] = w->roots[w->buckets[w->positions[k]]];
    for (size_t k = 0; k < total; k++) w->buckets[w->positions[k]] = 0;
}

static void document_features(Work *w, const char *data, Py_ssize_t length, const Settings *s, float *row) {
    Scan found;
    uint8_t *b = w->buffer + PAD;
    memcpy(b, data, (size_t)length);
    b[length] = '\n';
    memset(b + length + 1, 0, 2 * PAD);  /* blocks and span_hash read past the newline */
    scan(w, b, length, &found);
    double n_bytes = (double)(length > 1 ? length : 1);
    float *out = row;
    *out++ = (float)log1p((double)length);
    out += s->zlib_column;
    for (Py_ssize_t k = 0; k < s->n_char; k++)
        *out++ = (float)byte_recurrence(w, b, found.anchors, length, s->char_ngrams[k], s->min_distance_chars);
    hash_tokens(w, b, found.tokens);
    for (Py_ssize_t k = 0; k < s->n_word; k++)
        *out++ = (float)token_recurrence(w, found.tokens, s->word_ngrams[k], s->min_distance_words);
    for (int c = 0; c < N_CLASSES; c++) *out++ = (float)((double)found.class_counts[c] / n_bytes);
    found.markup[2] += found.markup[3];  /* closing tags are tags too */
    for (int m = 1; m <= N_MARKUP; m++) *out++ = (float)(1000.0 * (double)found.markup[m] / n_bytes);
    line_features(w, b, &found, out);
    out += N_LINE;
    if (s->hashed_dims) hashed_ngrams(w, b, found.anchors, length, s, out);
}

/* ---- Python entry point ------------------------------------------------------------------------ */

static int read_lengths(PyObject *tuple, Py_ssize_t **values, Py_ssize_t *count) {
    PyObject *fast = PySequence_Fast(tuple, "n-gram lengths must be a sequence");
    if (!fast) return -1;
    *count = PySequence_Fast_GET_SIZE(fast);
    *values = PyMem_Calloc(*count > 0 ? (size_t)*count : 1, sizeof(Py_ssize_t));
    for (Py_ssize_t i = 0; *values && i < *count; i++) {
        (*values)[i] = PyLong_AsSsize_t(PySequence_Fast_GET_ITEM(fast, i));
        if ((*values)[i] < 1) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "n-gram lengths must be at least 1");
            Py_DECREF(fast);
            return -1;
        }
    }
    Py_DECREF(fast);
    return *values ? 0 : (PyErr_NoMemory(), -1);
}

static PyObject *fill(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *docs, *out, *char_ngrams, *word_ngrams, *fast = NULL, *result = NULL;
    Settings s = {0};
    Py_buffer view = {0};
    Work w;
    int have_work = 0;
    if (!PyArg_ParseTuple(args, "OOOOLLnnp", &docs, &out, &char_ngrams, &word_ngrams, &s.min_distance_chars,
                          &s.min_distance_words, &s.hashed_ngram, &s.hashed_dims, &s.zlib_column))
        return NULL;
    if (s.hashed_ngram < 1 || s.hashed_dims < 0 || (s.hashed_dims & (s.hashed_dims - 1))) {
        PyErr_SetString(PyExc_ValueError, "hashed_ngram must be >= 1 and hashed_dims a power of two or 0");
        return NULL;
    }
    while (((Py_ssize_t)1 << s.hashed_bits) < s.hashed_dims) s.hashed_bits++;
    if (read_lengths(char_ngrams, &s.char_ngrams, &s.n_char) < 0 || read_lengths(word_ngrams, &s.word_ngrams, &s.n_word) < 0)
        goto done;
    if (!(fast = PySequence_Fast(docs, "docs must be a sequence of bytes"))) goto done;
    if (PyObject_GetBuffer(out, &view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) goto done;
    Py_ssize_t n_docs = PySequence_Fast_GET_SIZE(fast);
    Py_ssize_t width = 1 + s.zlib_column + s.n_char + s.n_word + N_CLASSES + N_MARKUP + N_LINE + s.hashed_dims;
    if (view.ndim != 2 || strcmp(view.format, "f") != 0 || view.shape[0] != n_docs || view.shape[1] != width) {
        PyErr_Format(PyExc_ValueError, "out must be a C-contiguous float32 array of shape (%zd, %zd)", n_docs, width);
        goto done;
    }
    Py_ssize_t longest = 0;
    for (Py_ssize_t i = 0; i < n_docs; i++) {
        PyObject *doc = PySequence_Fast_GET_ITEM(fast, i);
        if (!PyBytes_Check(doc)) {
            PyErr_Format(PyExc_TypeError, "docs[%zd] is %s, not bytes", i, Py_TYPE(doc)->tp_name);
            goto done;
        }
        if (PyBytes_GET_SIZE(doc) > longest) longest = PyBytes_GET_SIZE(doc);
    }
    if (work_alloc(&w, (size_t)longest, s.hashed_dims) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    have_work = 1;
    for (Py_ssize_t i = 0; i < n_docs; i++) {
        PyObject *doc = PySequence_Fast_GET_ITEM(fast, i);
        document_features(&w, PyBytes_AS_STRING(doc), PyBytes_GET_SIZE(doc), &s, (float *)view.buf + i * width);
    }
    result = Py_NewRef(Py_None);
done:
    if (have_work) work_free(&w);
    if (view.obj) PyBuffer_Release(&view);
    Py_XDECREF(fast);
    PyMem_Free(s.char_ngrams);
    PyMem_Free(s.word_ngrams);
    return result;
}

static int cpu_has_avx2(void) {
#if HAVE_AVX2
    return __builtin_cpu_supports("avx2");
#else
    return 0;
#endif
}

static PyObject *set_simd(PyObject *Py_UNUSED(module), PyObject *enable) {
    int wanted = PyObject_IsTrue(enable);
    if (wanted < 0) return NULL;
    use_simd = wanted && cpu_has_avx2();
    return PyBool_FromLong(use_simd);
}

static PyMethodDef methods[] = {
    {"fill", fill, METH_VARARGS, "Write the catalyst features of UTF-8 documents into a float32 matrix."},
    {"set_simd", set_simd, METH_O,
     "Classify bytes with AVX2 (when the CPU has it; the default) or byte by byte; returns whether AVX2 is used."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_featurize", NULL, -1, methods};

PyMODINIT_FUNC PyInit__featurize(void) {
    build_tables();
    use_simd = cpu_has_avx2();
    return PyModule_Create(&module);
}
