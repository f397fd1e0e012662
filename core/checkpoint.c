/* checkpoint.c: reads and writes safetensors (8-byte little-endian header length, a JSON
 * header, then the tensor bytes). The writer never leaves a half-written file where a good
 * one was; the reader rejects anything the format forbids instead of guessing. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "checkpoint.h"
#include "file_replace.h"
#include "json_text.h"
#include "params_internal.h"
#include "nntrain/file.h"

static const char *const dtype_names[NN_DTYPE_COUNT] = {
    [NN_F32] = "F32", [NN_F64] = "F64", [NN_F16] = "F16", [NN_BF16] = "BF16",
    [NN_I32] = "I32", [NN_I64] = "I64", [NN_U8] = "U8",
};

/* ---- writing ---- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *g = realloc(b->p, cap);
        if (!g) {
            b->oom = 1;
            return;
        }
        b->p = g;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_piece(void *b, const char *p, size_t n) { sb_put(b, p, n); }

static void sb_json_string(sbuf *b, const char *s) { nn_json_string(s, sb_piece, b); }

int nn_checkpoint_write(const char *path, const nn_ckpt_entry *tensors, int n,
                        const nn_ckpt_meta *meta, int n_meta, nn_error *err)
{
    return nn_checkpoint_write_to(path, 0, tensors, n, meta, n_meta, err);
}

/* crc32 of n bytes (zlib's, whose length argument is 32-bit), chained through crc */
static unsigned long crc_of(unsigned long crc, const uint8_t *p, size_t n)
{
    while (n > 0) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = crc32(crc, p, k);
        p += k;
        n -= k;
    }
    return crc;
}

int nn_checkpoint_write_to(const char *path, int flags, const nn_ckpt_entry *tensors, int n,
                           const nn_ckpt_meta *meta, int n_meta, nn_error *err)
{
    sbuf h = {0};
    char num[64], crc[16];
    uint64_t off = 0;
    /* the tensor bytes' checksum, which the reader verifies: a damaged file is refused as
     * such instead of loading (a NaN or a wild weight found steps later, or never) */
    unsigned long c = crc32(0, Z_NULL, 0);
    for (int i = 0; i < n; i++)
        c = crc_of(c, tensors[i].t->dl.data, nn_tensor_nbytes(tensors[i].t));
    snprintf(crc, sizeof crc, "%08lx", c);
    sb_str(&h, "{\"__metadata__\":{");
    for (int i = 0; i < n_meta; i++) {
        sb_json_string(&h, meta[i].key);
        sb_str(&h, ":");
        sb_json_string(&h, meta[i].value);
        sb_str(&h, ",");
    }
    sb_str(&h, "\"" NN_CKPT_CRC_KEY "\":\"");
    sb_str(&h, crc);
    sb_str(&h, "\"}");
    for (int i = 0; i < n; i++) {
        const nn_tensor *t = tensors[i].t;
        int dt = nn_tensor_dtype(t);
        if (dt < 0) {
            free(h.p);
            return nn_error_set(err, NN_EINVAL, "%s: tensor '%s' has an unsupported dtype", path,
                                tensors[i].name);
        }
        sb_str(&h, ",");
        sb_json_string(&h, tensors[i].name);
        sb_str(&h, ":{\"dtype\":\"");
        sb_str(&h, dtype_names[dt]);
        sb_str(&h, "\",\"shape\":[");
        for (int d = 0; d < t->dl.ndim; d++) {
            snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)t->shape[d]);
            sb_str(&h, num);
        }
        uint64_t bytes = nn_tensor_nbytes(t);
        snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                 (unsigned long long)(off + bytes));
        sb_str(&h, num);
        off += bytes;
    }
    sb_str(&h, "}");
    while (!h.oom && h.len % 8)
        sb_str(&h, " "); /* pad so the data starts 8-byte aligned, as safetensors does */
    if (h.oom) {
        free(h.p);
        return nn_error_set(err, NN_ENOMEM, "%s: out of memory building the header", path);
    }

    uint8_t len8[8];
    uint64_t hl = h.len;
    for (int i = 0; i < 8; i++)
        len8[i] = (uint8_t)(hl >> (8 * i));
    struct iovec *parts = calloc((size_t)n + 2, sizeof *parts);
    if (!parts) {
        free(h.p);
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    }
    parts[0] = (struct iovec){len8, 8};
    parts[1] = (struct iovec){h.p, h.len};
    for (int i = 0; i < n; i++)
        parts[i + 2] = (struct iovec){tensors[i].t->dl.data, nn_tensor_nbytes(tensors[i].t)};
    int rc = nn_file_replace(path, "checkpoint", parts, n + 2, flags, err);
    free(parts);
    free(h.p);
    return rc;
}

/* ---- reading ---- */

typedef struct ck_tensor {
    char *name;
    nn_tensor view;
    uint64_t begin, end;
} ck_tensor;

struct nn_checkpoint {
    uint8_t *buf;
    size_t len;
    uint8_t *data; /* start of the byte buffer */
    size_t data_len;
    ck_tensor *tensors;
    int n, cap;
    char **meta; /* key, value pairs */
    int n_meta;
};

typedef struct jp {
    const char *p, *end, *start;
    const char *name;
    nn_error *err;
    int failed;
} jp;

static int jfail(jp *j, const char *what)
{
    if (!j->failed)
        nn_error_set(j->err, NN_EFORMAT, "%s: bad safetensors header at byte %ld: %s", j->name,
                     (long)(j->p - j->start) + 8, what);
    j->failed = 1;
    return -1;
}

static void ws(jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
        j->p++;
}

static int expect(jp *j, char c)
{
    ws(j);
    if (j->p >= j->end || *j->p != c) {
        char what[48];
        snprintf(what, sizeof what, "expected '%c'", c);
        return jfail(j, what);
    }
    j->p++;
    return 0;
}

static void put_utf8(sbuf *b, unsigned cp)
{
    char u[4];
    if (cp < 0x80) {
        u[0] = (char)cp;
        sb_put(b, u, 1);
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        sb_put(b, u, 2);
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        sb_put(b, u, 3);
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        sb_put(b, u, 4);
    }
}

static int hex4(jp *j, unsigned *out)
{
    if (j->end - j->p < 4)
        return jfail(j, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = j->p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return jfail(j, "bad \\u escape");
    }
    j->p += 4;
    *out = v;
    return 0;
}

/* returns a malloc'd string or NULL (j->failed set) */
static char *jstring(jp *j)
{
    if (expect(j, '"'))
        return NULL;
    sbuf b = {0};
    sb_put(&b, "", 0);
    while (j->p < j->end && *j->p != '"') {
        unsigned char c = (unsigned char)*j->p++;
        if (c < 0x20) {
            free(b.p);
            jfail(j, "control character in a string");
            return NULL;
        }
        if (c != '\\') {
            sb_put(&b, (const char *)&c, 1);
            continue;
        }
        if (j->p >= j->end)
            break;
        char e = *j->p++;
        unsigned cp;
        switch (e) {
        case '"': sb_put(&b, "\"", 1); break;
        case '\\': sb_put(&b, "\\", 1); break;
        case '/': sb_put(&b, "/", 1); break;
        case 'b': sb_put(&b, "\b", 1); break;
        case 'f': sb_put(&b, "\f", 1); break;
        case 'n': sb_put(&b, "\n", 1); break;
        case 'r': sb_put(&b, "\r", 1); break;
        case 't': sb_put(&b, "\t", 1); break;
        case 'u':
            if (hex4(j, &cp)) {
                free(b.p);
                return NULL;
            }
            if (cp >= 0xD800 && cp < 0xDC00) {
                unsigned lo;
                if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u') {
                    free(b.p);
                    jfail(j, "unpaired surrogate");
                    return NULL;
                }
                j->p += 2;
                if (hex4(j, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                    free(b.p);
                    jfail(j, "unpaired surrogate");
                    return NULL;
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp < 0xE000) {
                free(b.p);
                jfail(j, "unpaired surrogate");
                return NULL;
            }
            if (cp == 0) {
                free(b.p);
                jfail(j, "NUL in a string");
                return NULL;
            }
            put_utf8(&b, cp);
            break;
        default:
            free(b.p);
            jfail(j, "bad escape");
            return NULL;
        }
    }
    if (j->p >= j->end) {
        free(b.p);
        jfail(j, "unterminated string");
        return NULL;
    }
    j->p++;
    if (b.oom) {
        free(b.p);
        jfail(j, "out of memory");
        return NULL;
    }
    return b.p;
}

static int juint(jp *j, uint64_t *out)
{
    ws(j);
    if (j->p >= j->end || *j->p < '0' || *j->p > '9')
        return jfail(j, "expected a non-negative integer");
    if (*j->p == '0' && j->p + 1 < j->end && j->p[1] >= '0' && j->p[1] <= '9')
        return jfail(j, "leading zero");
    uint64_t v = 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        uint64_t d = (uint64_t)(*j->p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return jfail(j, "integer overflow");
        v = v * 10 + d;
        j->p++;
    }
    if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E'))
        return jfail(j, "expected an integer");
    *out = v;
    return 0;
}

/* [a, b, ...] of unsigned integers, at most max entries */
static int juint_array(jp *j, uint64_t *vals, int max, int *n)
{
    *n = 0;
    if (expect(j, '['))
        return -1;
    ws(j);
    if (j->p < j->end && *j->p == ']') {
        j->p++;
        return 0;
    }
    for (;;) {
        if (*n == max)
            return jfail(j, "array too long");
        if (juint(j, &vals[(*n)++]))
            return -1;
        ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        return expect(j, ']');
    }
}

static int add_meta(nn_checkpoint *c, char *k, char *v)
{
    char **g = realloc(c->meta, (size_t)(c->n_meta + 1) * 2 * sizeof *g);
    if (!g)
        return -1;
    c->meta = g;
    c->meta[2 * c->n_meta] = k;
    c->meta[2 * c->n_meta + 1] = v;
    c->n_meta++;
    return 0;
}

static int parse_metadata(jp *j, nn_checkpoint *c)
{
    if (expect(j, '{'))
        return -1;
    ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return 0;
    }
    for (;;) {
        char *k = jstring(j);
        if (!k)
            return -1;
        for (int i = 0; i < c->n_meta; i++)
            if (strcmp(c->meta[2 * i], k) == 0) {
                free(k);
                return jfail(j, "duplicate metadata key");
            }
        if (expect(j, ':')) {
            free(k);
            return -1;
        }
        ws(j);
        if (j->p >= j->end || *j->p != '"') {
            free(k);
            return jfail(j, "__metadata__ values must be strings");
        }
        char *v = jstring(j);
        if (!v) {
            free(k);
            return -1;
        }
        if (add_meta(c, k, v)) {
            free(k);
            free(v);
            return jfail(j, "out of memory");
        }
        ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        return expect(j, '}');
    }
}

static int parse_tensor(jp *j, ck_tensor *t)
{
    int have_dtype = 0, have_shape = 0, have_off = 0, dtype = -1, ndim = 0, noff = 0;
    uint64_t shape[NN_MAX_DIMS], offs[2];
    if (expect(j, '{'))
        return -1;
    for (;;) {
        char *k = jstring(j);
        if (!k)
            return -1;
        if (expect(j, ':')) {
            free(k);
            return -1;
        }
        int rc = 0;
        if (strcmp(k, "dtype") == 0 && !have_dtype) {
            char *v = jstring(j);
            have_dtype = 1;
            for (int d = 0; v && d < NN_DTYPE_COUNT; d++)
                if (strcmp(v, dtype_names[d]) == 0)
                    dtype = d;
            if (v && dtype < 0)
                rc = jfail(j, "unsupported dtype");
            if (!v)
                rc = -1;
            free(v);
        } else if (strcmp(k, "shape") == 0 && !have_shape) {
            have_shape = 1;
            rc = juint_array(j, shape, NN_MAX_DIMS, &ndim);
        } else if (strcmp(k, "data_offsets") == 0 && !have_off) {
            have_off = 1;
            rc = juint_array(j, offs, 2, &noff);
            if (!rc && noff != 2)
                rc = jfail(j, "data_offsets needs exactly two integers");
        } else {
            rc = jfail(j, "unknown or repeated field in a tensor entry");
        }
        free(k);
        if (rc)
            return -1;
        ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (expect(j, '}'))
            return -1;
        break;
    }
    if (!have_dtype || !have_shape || !have_off)
        return jfail(j, "a tensor entry needs dtype, shape and data_offsets");
    int64_t ishape[NN_MAX_DIMS];
    uint64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] > (uint64_t)INT64_MAX || (shape[d] && numel > UINT64_MAX / shape[d]))
            return jfail(j, "shape too large");
        numel *= shape[d];
        ishape[d] = (int64_t)shape[d];
    }
    size_t es = nn_dtype_size((nn_dtype)dtype);
    if (numel > UINT64_MAX / es)
        return jfail(j, "shape too large");
    if (offs[1] < offs[0] || offs[1] - offs[0] != numel * es)
        return jfail(j, "data_offsets do not span dtype size x shape");
    memset(&t->view, 0, sizeof t->view);
    nn_tensor_describe(&t->view, (nn_dtype)dtype, ndim, ishape);
    t->begin = offs[0];
    t->end = offs[1];
    return 0;
}

static int cmp_begin(const void *a, const void *b)
{
    const ck_tensor *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end > y->end) - (x->end < y->end);
}

void nn_checkpoint_free(nn_checkpoint *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n; i++)
        free(c->tensors[i].name);
    for (int i = 0; i < 2 * c->n_meta; i++)
        free(c->meta[i]);
    free(c->meta);
    free(c->tensors);
    free(c->buf);
    free(c);
}

static int take(nn_checkpoint *c, uint8_t *buf, size_t len, const char *name, nn_error *err)
{
    c->buf = buf;
    c->len = len;
    if (len < 8)
        return nn_error_set(err, NN_EFORMAT, "%s is not a safetensors file (%zu bytes is too "
                            "short for one: it needs an 8-byte header length)", name, len);
    /* byte 8 opens the JSON header of every safetensors file: any other byte there is another
     * kind of file (a model file, an ONNX model, a .pt pickle), whatever its first 8 bytes
     * would make of a header length */
    if (len > 8 && buf[8] != '{') {
        char head[17], shown[80];
        size_t hn = len < sizeof head - 1 ? len : sizeof head - 1;
        memcpy(head, buf, hn);
        head[hn] = 0;
        return nn_error_set(err, NN_EFORMAT, "%s is not a safetensors file (it begins with "
                            "\"%s\"; a safetensors file begins with an 8-byte header length, "
                            "then its JSON header, which must start with '{')", name,
                            nn_text_escape(head, shown, sizeof shown, 0));
    }
    uint64_t hl = 0;
    for (int i = 0; i < 8; i++)
        hl |= (uint64_t)buf[i] << (8 * i);
    if (hl > NN_CKPT_MAX_HEADER)
        return nn_error_set(err, NN_EFORMAT, "%s: header length %llu exceeds the %u-byte limit",
                            name, (unsigned long long)hl, NN_CKPT_MAX_HEADER);
    if (hl > len - 8)
        return nn_error_set(err, NN_EFORMAT, "%s: header length %llu runs past the end of the "
                            "%zu-byte file (truncated?)", name, (unsigned long long)hl, len);
    if (hl < 2 || buf[8] != '{')
        return nn_error_set(err, NN_EFORMAT, "%s: the header does not start with '{'", name);
    for (uint64_t i = 0; i < hl; i++)
        if (buf[8 + i] == 0)
            return nn_error_set(err, NN_EFORMAT, "%s: NUL byte in the header", name);
    jp j = {(const char *)buf + 8, (const char *)buf + 8 + hl, (const char *)buf + 8, name, err,
            0};
    if (expect(&j, '{'))
        return NN_EFORMAT;
    ws(&j);
    int first = 1, seen_meta = 0;
    while (j.p < j.end && *j.p != '}') {
        if (!first && expect(&j, ','))
            return NN_EFORMAT;
        first = 0;
        char *k = jstring(&j);
        if (!k)
            return NN_EFORMAT;
        if (expect(&j, ':')) {
            free(k);
            return NN_EFORMAT;
        }
        if (strcmp(k, "__metadata__") == 0) {
            free(k);
            if (seen_meta++) {
                jfail(&j, "two __metadata__ entries");
                return NN_EFORMAT;
            }
            if (parse_metadata(&j, c))
                return NN_EFORMAT;
        } else {
            for (int i = 0; i < c->n; i++)
                if (strcmp(c->tensors[i].name, k) == 0) {
                    free(k);
                    jfail(&j, "duplicate tensor name");
                    return NN_EFORMAT;
                }
            if (c->n == c->cap) {
                int cap = c->cap ? c->cap * 2 : 16;
                ck_tensor *g = realloc(c->tensors, (size_t)cap * sizeof *g);
                if (!g) {
                    free(k);
                    return nn_error_set(err, NN_ENOMEM, "out of memory");
                }
                c->tensors = g;
                c->cap = cap;
            }
            ck_tensor *t = &c->tensors[c->n];
            memset(t, 0, sizeof *t);
            if (parse_tensor(&j, t)) {
                free(k);
                return NN_EFORMAT;
            }
            t->name = k;
            c->n++;
        }
        ws(&j);
    }
    if (expect(&j, '}'))
        return NN_EFORMAT;
    ws(&j);
    if (j.p != j.end)
        return jfail(&j, "trailing characters after the header object"), NN_EFORMAT;
    c->data = buf + 8 + hl;
    c->data_len = len - 8 - (size_t)hl;
    /* the byte buffer must be covered exactly: sorted, contiguous, no holes, no tail */
    ck_tensor *sorted = malloc(((size_t)c->n + 1) * sizeof *sorted);
    if (!sorted)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    if (c->n > 0) { /* no tensor: c->tensors is NULL, and memcpy/qsort must not see it */
        memcpy(sorted, c->tensors, (size_t)c->n * sizeof *sorted);
        qsort(sorted, (size_t)c->n, sizeof *sorted, cmp_begin);
    }
    uint64_t at = 0;
    int rc = NN_OK;
    for (int i = 0; i < c->n && rc == NN_OK; i++) {
        if (sorted[i].begin != at)
            rc = nn_error_set(err, NN_EFORMAT, "%s: tensor '%s' starts at byte %llu of the data "
                              "but the previous one ends at %llu (offsets must be contiguous)",
                              name, sorted[i].name, (unsigned long long)sorted[i].begin,
                              (unsigned long long)at);
        at = sorted[i].end;
    }
    free(sorted);
    if (rc)
        return rc;
    if (at != c->data_len)
        return nn_error_set(err, NN_EFORMAT, "%s: the tensors cover %llu bytes but the file holds "
                            "%zu bytes of data (%s)", name, (unsigned long long)at, c->data_len,
                            at > c->data_len ? "truncated file" : "trailing bytes");
    const char *want = nn_checkpoint_meta(c, NN_CKPT_CRC_KEY);
    if (want) {
        char got[16];
        snprintf(got, sizeof got, "%08lx", crc_of(crc32(0, Z_NULL, 0), c->data, c->data_len));
        if (strcmp(want, got) != 0)
            return nn_error_set(err, NN_EFORMAT, "%s: its tensor bytes do not match the "
                                "checksum written with them (__metadata__ %s '%.16s', the "
                                "bytes give '%s'): the file was damaged after it was written",
                                name, NN_CKPT_CRC_KEY, want, got);
    }
    for (int i = 0; i < c->n; i++) {
        c->tensors[i].view.dl.data = c->data + c->tensors[i].begin;
        c->tensors[i].view.name = c->tensors[i].name;
    }
    return NN_OK;
}

int nn_checkpoint_parse(const uint8_t *buf, size_t len, const char *name, nn_checkpoint **out,
                        nn_error *err)
{
    *out = NULL;
    nn_checkpoint *c = calloc(1, sizeof *c);
    uint8_t *copy = malloc(len ? len : 1);
    if (!c || !copy) {
        free(c);
        free(copy);
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    }
    memcpy(copy, buf, len);
    int rc = take(c, copy, len, name, err);
    if (rc) {
        nn_checkpoint_free(c);
        return rc;
    }
    *out = c;
    return NN_OK;
}

void nn_checkpoint_bytes(const nn_checkpoint *c, const uint8_t **buf, size_t *len)
{
    *buf = c->buf;
    *len = c->len;
}

int nn_checkpoint_read(const char *path, nn_checkpoint **out, nn_error *err)
{
    *out = NULL;
    int fd = nn_file_open(path, "checkpoint", err); /* a FIFO or device is refused, unread */
    if (fd < 0)
        return fd;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return nn_error_set(err, NN_EIO, "cannot stat checkpoint %s: %s", path, strerror(errno));
    }
    size_t len = (size_t)st.st_size;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        close(fd);
        return nn_error_set(err, NN_ENOMEM, "out of memory for %zu bytes of %s", len, path);
    }
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got != len) {
        free(buf);
        return nn_error_set(err, NN_EIO, "cannot read %s", path);
    }
    nn_checkpoint *c = calloc(1, sizeof *c);
    if (!c) {
        free(buf);
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    }
    int rc = take(c, buf, len, path, err);
    if (rc) {
        nn_checkpoint_free(c);
        return rc;
    }
    *out = c;
    return NN_OK;
}

const char *nn_checkpoint_meta(const nn_checkpoint *c, const char *key)
{
    for (int i = 0; i < c->n_meta; i++)
        if (strcmp(c->meta[2 * i], key) == 0)
            return c->meta[2 * i + 1];
    return NULL;
}

int nn_checkpoint_count(const nn_checkpoint *c) { return c->n; }
const char *nn_checkpoint_name(const nn_checkpoint *c, int i) { return c->tensors[i].name; }

const nn_tensor *nn_checkpoint_tensor(const nn_checkpoint *c, const char *name)
{
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->tensors[i].name, name) == 0)
            return &c->tensors[i].view;
    return NULL;
}

int nn_checkpoint_load(const nn_checkpoint *c, const char *name, nn_tensor *dst, nn_error *err)
{
    const nn_tensor *src = nn_checkpoint_tensor(c, name);
    char a[96], b[96];
    if (!src)
        return nn_error_set(err, NN_ENOTFOUND, "the checkpoint has no tensor '%s' (was it made "
                            "by another model?)", name);
    if (nn_tensor_dtype(src) != nn_tensor_dtype(dst))
        return nn_error_set(err, NN_EFORMAT, "checkpoint tensor '%s' has dtype %s but the model "
                            "expects %s", name, dtype_names[nn_tensor_dtype(src)],
                            dtype_names[nn_tensor_dtype(dst) < 0 ? 0 : nn_tensor_dtype(dst)]);
    if (!nn_shape_equal(src, dst))
        return nn_error_set(err, NN_ESHAPE, "checkpoint tensor '%s' has shape %s but the model "
                            "expects %s", name, nn_shape_str(src, a, sizeof a),
                            nn_shape_str(dst, b, sizeof b));
    memcpy(dst->dl.data, src->dl.data, nn_tensor_nbytes(dst));
    return NN_OK;
}
