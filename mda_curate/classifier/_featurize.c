/* The catalyst features of mda_curate.classifier.features, computed in C.
 *
 * fill(docs, out, char_ngrams, word_ngrams, min_distance_chars, min_distance_words, hashed_ngram,
 *      hashed_dims, zlib_column) writes row i of the float32 matrix `out` from the UTF-8 bytes docs[i]
 * (already capped), read as if followed by a newline. Column 1 is left to the caller when zlib_column
 * is true. Column order and definitions: see features.py.
 *
 * Two passes over each document collect what every feature needs (see scan). Spans are compared by the
 * polynomial hash sum_j v_j * P^j (mod 2^64) of their values (bytes, token hashes or line-shape symbols); tokens and lines
 * add their length times GOLDEN, so that trailing NUL bytes count, and token hashes are mixed before they
 * enter n-gram hashes. Recurrence is found with an open-addressing hash table per document.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define P 0x100000001B3ULL      /* FNV-64 prime, odd */
#define MIX 0xBF58476D1CE4E5B9ULL
#define GOLDEN 0x9E3779B97F4A7C15ULL  /* mixed into line and token hashes with their length */
#define N_CLASSES 10
#define N_MARKUP 5
#define N_LINE 8

enum { F_SPACE = 1, F_ANCHOR = 2, F_NEWLINE = 4, F_MARKUP = 8 };
static uint8_t SPACE[256], BLANK[256], FLAGS[256], SHAPE[256], MARKUP[256][256];
static uint64_t SHAPE_VALUE[256];  /* SHAPE, but 0 for the newline: what a run adds to its line's shape hash */
static uint8_t CLASS_OF[256][2];  /* the (at most two) character classes of each byte; N_CLASSES: none */

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
        SHAPE[b] = b == 0 ? 1 : (is_letter(b) || b >= 128) ? 'a' : is_digit(b) ? '0' : BLANK[b] ? ' ' : b;
        SHAPE_VALUE[b] = b == '\n' ? 0 : SHAPE[b];
        int classes[N_CLASSES] = {
            is_digit(b), b >= 65 && b < 91, b >= 97 && b < 123, BLANK[b], b == '\n',
            b >= 33 && b < 127 && !is_letter(b) && !is_digit(b), b != 0 && strchr("()[]{}<>", b) != NULL,
            b == '\\', b >= 128, b < 32 && !SPACE[b],
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

typedef struct {
    uint8_t *bytes;                          /* the document, its newline and a NUL */
    uint64_t *power, *inverse;               /* P^i and P^-i */
    uint64_t *prefix, *line_shapes;          /* prefix hashes of the bytes; shape hash of every line */
    uint64_t *token_prefix, *hashes;         /* prefix hash of the token hashes; hashes for the table */
    uint64_t *shape_hashes;
    int64_t *anchors, *edges, *positions;  /* edges: token starts and ends, alternating */
    int64_t *line_ends;                      /* the newline of every line */
    int64_t *buckets;                        /* hashed n-gram counts (hashed_dims) */
    uint64_t *keys;                          /* recurrence table: keys, first positions, generation stamps */
    int64_t *first;
    uint32_t *stamp, generation;
    size_t table_size;
} Work;

#define WORK_ARRAYS(X)                                                                                       \
    X(power) X(inverse) X(prefix) X(line_shapes) X(token_prefix) X(hashes) X(shape_hashes) X(anchors)         \
    X(edges) X(positions) X(line_ends)

static void work_free(Work *w) {
#define FREE(name) free(w->name);
    WORK_ARRAYS(FREE)
    free(w->bytes); free(w->buckets); free(w->keys); free(w->first); free(w->stamp);
}

static int work_alloc(Work *w, size_t longest, Py_ssize_t hashed_dims) {
    size_t n = longest + 3, table = 16;  /* every array holds one element per byte, newline and one more */
    while (table < 2 * n) table <<= 1;
    memset(w, 0, sizeof *w);
    w->table_size = table;
    int failed = 0;
#define ALLOC(name) failed |= !(w->name = malloc(n * 8));
    WORK_ARRAYS(ALLOC)
    failed |= !(w->bytes = malloc(n)) || !(w->buckets = calloc(hashed_dims > 0 ? (size_t)hashed_dims : 1, 8));
    failed |= !(w->keys = malloc(table * 8)) || !(w->first = malloc(table * 8)) || !(w->stamp = calloc(table, 4));
    if (failed) {
        work_free(w);
        return -1;
    }
    uint64_t p_inverse = P;  /* Newton's iteration for P^-1 mod 2^64: 3 correct bits, doubling each step */
    for (int i = 0; i < 5; i++) p_inverse *= 2 - P * p_inverse;
    w->power[0] = w->inverse[0] = 1;
    for (size_t i = 1; i < n; i++) {
        w->power[i] = w->power[i - 1] * P;
        w->inverse[i] = w->inverse[i - 1] * p_inverse;
    }
    return 0;
}

/* ---- recurrence -------------------------------------------------------------------------------- */

/* Count of the hashes (in position order) whose first occurrence lies more than min_distance earlier. */
static int64_t count_recurring(Work *w, const uint64_t *hashes, const int64_t *positions, size_t count,
                               int64_t min_distance) {
    int bits = 4;
    while (((size_t)1 << bits) < 2 * count) bits++;
    size_t mask = ((size_t)1 << bits) - 1;
    if (++w->generation == 0) {  /* stamps wrapped around: clear them once */
        memset(w->stamp, 0, w->table_size * 4);
        w->generation = 1;
    }
    int64_t recurring = 0;
    for (size_t k = 0; k < count; k++) {
        uint64_t key = hashes[k];
        size_t slot = (size_t)((key * MIX) >> (64 - bits));
        while (w->stamp[slot] == w->generation && w->keys[slot] != key) slot = (slot + 1) & mask;
        if (w->stamp[slot] == w->generation) {
            recurring += positions[k] - w->first[slot] > min_distance;
        } else {
            w->stamp[slot] = w->generation;
            w->keys[slot] = key;
            w->first[slot] = positions[k];
        }
    }
    return recurring;
}

static double share(int64_t part, int64_t whole) { return (double)part / (double)(whole > 1 ? whole : 1); }

/* Share of the anchored byte n-grams (ending before the newline) that recur. */
static double byte_recurrence(Work *w, size_t anchors, Py_ssize_t length, Py_ssize_t n, int64_t min_distance) {
    size_t count = 0;
    while (count < anchors && w->anchors[count] + n <= length) {
        int64_t s = w->anchors[count];
        w->hashes[count++] = (w->prefix[s + n] - w->prefix[s]) * w->inverse[s];
    }
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

/* ---- one document ------------------------------------------------------------------------------ */

typedef struct {
    Py_ssize_t *char_ngrams, n_char, *word_ngrams, n_word;
    long long min_distance_chars, min_distance_words;
    Py_ssize_t hashed_ngram, hashed_dims;
    int hashed_bits, zlib_column;
} Settings;

typedef struct {
    size_t anchors, tokens, lines;
    int64_t class_counts[N_CLASSES + 1], markup[N_MARKUP + 1];
} Scan;

/* Two passes over the document and its newline (each with few enough variables to stay in registers).
 * The first: prefix hash of the bytes, byte histogram, anchor positions and token edges (where spaces stop
 * or start). The second: lines (their newline and shape hash sum_k s_k P^k over the symbols s_k of their
 * runs of line-shape symbols; the newline adds 0) and markup pairs. */
static void scan(Work *w, Py_ssize_t length, Scan *out) {
    const uint8_t *b = w->bytes;
    const uint64_t *power = w->power;
    uint64_t *prefix = w->prefix, hash = 0;
    int64_t *anchor = w->anchors, *edge = w->edges;
    uint32_t histogram[256] = {0};
    int previous_space = 1;
    for (Py_ssize_t i = 0; i <= length; i++) {
        int c = b[i], flags = FLAGS[c], space = flags & F_SPACE;
        prefix[i] = hash;
        hash += c * power[i];
        histogram[c]++;
        *anchor = i;
        anchor += (flags & F_ANCHOR) != 0;
        *edge = i;
        edge += space ^ previous_space;
        previous_space = space;
    }
    prefix[length + 1] = hash;
    histogram['\n']--;  /* the added newline is not counted */
    memset(out->class_counts, 0, sizeof out->class_counts);
    for (int v = 0; v < 256; v++) {
        out->class_counts[CLASS_OF[v][0]] += histogram[v];
        out->class_counts[CLASS_OF[v][1]] += histogram[v];
    }
    out->anchors = (size_t)(anchor - w->anchors);
    out->tokens = (size_t)(edge - w->edges) / 2;  /* the document ends in a newline, so every token has ended */

    uint64_t shape_hash = 0;
    int64_t runs = 0, lines = 0;
    int previous_shape = '\n';
    memset(out->markup, 0, sizeof out->markup);
    for (Py_ssize_t i = 0; i <= length; i++) {
        int c = b[i], shape = SHAPE[c];
        uint64_t new_run = shape != previous_shape;
        shape_hash += (0 - new_run) & (SHAPE_VALUE[c] * power[runs]);  /* masked, not branched: runs are random */
        runs += (int64_t)new_run;
        previous_shape = shape;
        if (FLAGS[c] & (F_NEWLINE | F_MARKUP)) {
            if (c == '\n') {
                w->line_ends[lines] = i;
                w->line_shapes[lines++] = shape_hash;
                shape_hash = 0;
                runs = 0;
            } else {
                out->markup[MARKUP[c][b[i + 1]]]++;
            }
        }
    }
    out->lines = (size_t)lines;
}

/* splitmix64's finalizer: token hashes enter the n-gram hash non-linearly, else two n-grams whose tokens
 * differ by digits at offsetting positions ("0114 x 3100" vs "0110 x 3500") would hash equally. */
static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * MIX;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void hash_tokens(Work *w, size_t tokens) {
    w->token_prefix[0] = 0;
    for (size_t t = 0; t < tokens; t++) {
        int64_t start = w->edges[2 * t], end = w->edges[2 * t + 1];
        uint64_t hash = mix((w->prefix[end] - w->prefix[start]) * w->inverse[start] + (uint64_t)(end - start) * GOLDEN);
        w->token_prefix[t + 1] = w->token_prefix[t] + hash * w->power[t];
    }
}

/* Writes the 8 line features; lines end at every newline, the added last one included. */
static void line_features(Work *w, const Scan *found, float *out) {
    const uint8_t *b = w->bytes;
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
        w->hashes[content] = (w->prefix[end] - w->prefix[start]) * w->inverse[start] + (uint64_t)len * GOLDEN;
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
static void hashed_ngrams(Work *w, size_t anchors, Py_ssize_t length, const Settings *s, float *out) {
    Py_ssize_t n = s->hashed_ngram;
    size_t total = 0;
    memset(out, 0, (size_t)s->hashed_dims * sizeof *out);
    for (; total < anchors && w->anchors[total] + n <= length; total++) {
        int64_t i = w->anchors[total];
        uint64_t hash = (w->prefix[i + n] - w->prefix[i]) * w->inverse[i];
        w->positions[total] = s->hashed_bits ? (int64_t)((hash * MIX) >> (64 - s->hashed_bits)) : 0;
        w->buckets[w->positions[total]]++;
    }
    double scale = 1.0 / (double)(total > 1 ? total : 1);
    for (size_t k = 0; k < total; k++)  /* a bucket met again is written again: no branch to mispredict */
        out[w->positions[k]] = (float)sqrt((double)w->buckets[w->positions[k]] * scale);
    for (size_t k = 0; k < total; k++) w->buckets[w->positions[k]] = 0;
}

static void document_features(Work *w, const char *data, Py_ssize_t length, const Settings *s, float *row) {
    Scan found;
    memcpy(w->bytes, data, (size_t)length);
    w->bytes[length] = '\n';
    w->bytes[length + 1] = 0;
    scan(w, length, &found);
    double n_bytes = (double)(length > 1 ? length : 1);
    float *out = row;
    *out++ = (float)log1p((double)length);
    out += s->zlib_column;
    for (Py_ssize_t k = 0; k < s->n_char; k++)
        *out++ = (float)byte_recurrence(w, found.anchors, length, s->char_ngrams[k], s->min_distance_chars);
    hash_tokens(w, found.tokens);
    for (Py_ssize_t k = 0; k < s->n_word; k++)
        *out++ = (float)token_recurrence(w, found.tokens, s->word_ngrams[k], s->min_distance_words);
    for (int c = 0; c < N_CLASSES; c++) *out++ = (float)((double)found.class_counts[c] / n_bytes);
    found.markup[2] += found.markup[3];  /* closing tags are tags too */
    for (int m = 1; m <= N_MARKUP; m++) *out++ = (float)(1000.0 * (double)found.markup[m] / n_bytes);
    line_features(w, &found, out);
    out += N_LINE;
    if (s->hashed_dims) hashed_ngrams(w, found.anchors, length, s, out);
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

static PyMethodDef methods[] = {
    {"fill", fill, METH_VARARGS, "Write the catalyst features of UTF-8 documents into a float32 matrix."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_featurize", NULL, -1, methods};

PyMODINIT_FUNC PyInit__featurize(void) {
    build_tables();
    return PyModule_Create(&module);
}
