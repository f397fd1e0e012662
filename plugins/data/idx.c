/* idx.c: the `idx` dataset: MNIST-family IDX files (images idx3 + labels idx1), gzipped or raw.
 * open() loads one whole split into memory and checks it; get() only converts bytes to floats,
 * so it is safe on many threads. It must never trust a header: every size is checked.
 * Prediction (NN_SPLIT_PREDICT): each input is an IDX images file like the training one
 * (same record dimensions), without labels; samples are named "FILE:RECORD". */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <nntrain/dataset.h>
#include <nntrain/file.h>

#include "nn_datafile.h"

static const char *const fashion_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                              "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                              "Bag",         "Ankle boot"};
static const char *const digit_names[10] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};

/* One parsed IDX file: dims and a pointer to its unsigned-byte payload (inside the buffer). */
typedef struct idx_array {
    int ndim;
    int64_t dims[8];
    const uint8_t *data;
    int64_t count;  /* dims[0] */
    int64_t record; /* bytes per record: product of dims[1..] */
} idx_array;

typedef struct idx_ds {
    const char *dir, *files[4]; /* train_images, train_labels, test_images, test_labels */
    double scale;
    int preset; /* 0 fashion_mnist, 1 mnist, 2 none */
    char *names_buf;
    const char **names;
    int n_names;
    uint8_t *img_buf, *lab_buf; /* whole files */
    idx_array img, lab;
    int32_t *labels;
    /* NN_SPLIT_PREDICT: one images file per input; sample i is record i - start[f] of file f */
    int n_in;
    uint8_t **in_buf;
    idx_array *in_img;
    int64_t *in_start; /* n_in + 1 entries */
    char **in_path; /* copies of the input paths */
} idx_ds;

enum { IDX_ANY, IDX_LABELS, IDX_IMAGES }; /* what the caller expects a file to hold */

/* What idx_read_file found past the size a file's header declares. */
typedef struct idx_tail {
    size_t bytes; /* bytes of data past it (decompressed, then raw ones after a gzip stream) */
    int more;     /* there are more than `bytes`: a gzip stream was inflated no further */
    int after_gz; /* some follow the end of the gzip stream (zlib's gzread ignores them) */
} idx_tail;

#define IDX_TAIL_CAP ((size_t)1 << 20) /* trailing gzip data is inflated no further */
#define IDX_CHUNK ((size_t)1 << 16)

/* Parses an IDX header and checks that the payload holds exactly the records it announces.
 * Only the unsigned-byte type (0x08) is accepted: that is what the MNIST family uses. The
 * dimension count tells labels (1) from images (2 or more) before the sizes are checked, so a
 * file given in the other's place is named as such. */
static int idx_parse(const uint8_t *b, size_t len, const idx_tail *tail, const char *file,
                     int role, idx_array *a, nn_error *err)
{
    memset(a, 0, sizeof *a);
    if (len < 4)
        return nn_error_set(err, NN_EFORMAT, "%s: %zu bytes is too short for an IDX header",
                            file, len);
    if (b[0] != 0 || b[1] != 0)
        return nn_error_set(err, NN_EFORMAT,
                            "%s: bad IDX magic at offset 0: bytes %02x %02x, expected 00 00",
                            file, b[0], b[1]);
    if (b[2] != 0x08)
        return nn_error_set(err, NN_EFORMAT,
                            "%s: IDX data type 0x%02x at offset 2 is not supported "
                            "(expected 0x08, unsigned byte)", file, b[2]);
    int nd = b[3];
    if (nd < 1 || nd > 8)
        return nn_error_set(err, NN_EFORMAT,
                            "%s: IDX dimension count %d at offset 3 is not in [1, 8]", file, nd);
    if (role == IDX_IMAGES && nd == 1)
        return nn_error_set(err, NN_EFORMAT,
                            "%s: this is a labels file, not images: its IDX magic 00 00 08 01 "
                            "announces 1 dimension, images have 2 or more (00 00 08 03: count, "
                            "height, width); are the images and labels files swapped?", file);
    if (role == IDX_LABELS && nd != 1)
        return nn_error_set(err, NN_EFORMAT,
                            "%s: this is an images file, not labels: its IDX magic 00 00 08 %02x "
                            "announces %d dimensions, labels have 1 (00 00 08 01); are the "
                            "images and labels files swapped?", file, nd, nd);
    size_t hdr = 4 + 4 * (size_t)nd;
    if (len < hdr)
        return nn_error_set(err, NN_EFORMAT,
                            "%s: header announces %d dimensions but the file ends at offset %zu",
                            file, nd, len);
    int64_t rec = 1;
    for (int i = 0; i < nd; i++) {
        const uint8_t *p = b + 4 + 4 * i;
        uint32_t d = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (d > (1u << 30) || (i > 0 && (d == 0 || rec > ((int64_t)1 << 40) / d)))
            return nn_error_set(err, NN_EFORMAT, "%s: dimension %d (%u) at offset %d is invalid",
                                file, i, d, 4 + 4 * i);
        a->dims[i] = d;
        if (i > 0)
            rec *= d;
    }
    a->ndim = nd;
    a->count = a->dims[0];
    a->record = rec;
    a->data = b + hdr;
    size_t have = len - hdr, want = (size_t)a->count * (size_t)rec;
    if (have < want) {
        int64_t r = (int64_t)(have / (size_t)rec);
        return nn_error_set(err, NN_EFORMAT,
                            "%s: truncated: record %lld at offset %zu is incomplete (header "
                            "announces %lld records of %lld bytes, the data has %zu bytes)",
                            file, (long long)r, hdr + (size_t)r * (size_t)rec,
                            (long long)a->count, (long long)rec, have);
    }
    /* raw or gzipped, a file goes no further than its records: what idx_read_file counted
     * past the declared size, or (a file whose header it could not read) what is here */
    size_t extra = (have - want) + tail->bytes;
    if (extra)
        return nn_error_set(err, NN_EFORMAT, "%s: %s%zu bytes of trailing data after the last "
                            "record at offset %zu%s", file, tail->more ? "more than " : "",
                            extra, hdr + want,
                            tail->more        ? " (not read further)"
                            : tail->after_gz  ? " (after the end of its gzip stream)"
                                              : "");
    return NN_OK;
}

/* Opens a regular file (never a FIFO or device: see nn_file_open) for reading through zlib,
 * which passes raw (non-gzip) files through unchanged. */
static int idx_gzopen(const char *path, const char *what, gzFile *g, nn_error *err)
{
    int fd = nn_file_open(path, what, err);
    if (fd < 0)
        return fd;
    if (!(*g = gzdopen(fd, "rb"))) {
        close(fd);
        return nn_error_set(err, NN_ENOMEM, "%s %s: out of memory for the zlib stream", what,
                            path);
    }
    return NN_OK;
}

/* The size the IDX header in b (n bytes so far) declares; SIZE_MAX while the header is
 * incomplete; 0 when it is not IDX or declares an impossible size (the parser says which). */
static size_t idx_declared(const uint8_t *b, size_t n)
{
    if (n < 4)
        return SIZE_MAX;
    if (b[0] || b[1] || b[3] < 1 || b[3] > 8)
        return 0;
    if (n < 4 + 4 * (size_t)b[3])
        return SIZE_MAX;
    size_t total = 1;
    for (int i = 0; i < b[3]; i++) {
        const uint8_t *p = b + 4 + 4 * i;
        size_t d = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
        if (d > (1u << 30) || (d && total > ((size_t)1 << 40) / d))
            return 0;
        total *= d;
    }
    return 4 + 4 * (size_t)b[3] + total;
}

/* A file's data being read: kept up to the size its header declares, counted past it. */
typedef struct idx_reader {
    uint8_t *buf;
    size_t n, cap, limit; /* limit: SIZE_MAX until the header is whole */
    idx_tail *tail;
} idx_reader;

static int idx_take(idx_reader *r, const uint8_t *p, size_t n)
{
    while (n) {
        if (r->n >= r->limit) {
            r->tail->bytes += n;
            return NN_OK;
        }
        size_t k = r->limit - r->n < n ? r->limit - r->n : n;
        if (r->n + k > r->cap) {
            size_t cap = r->cap * 2 > r->n + k ? r->cap * 2 : r->n + k;
            uint8_t *nb = realloc(r->buf, cap);
            if (!nb)
                return NN_ENOMEM;
            r->buf = nb;
            r->cap = cap;
        }
        memcpy(r->buf + r->n, p, k);
        r->n += k;
        p += k;
        n -= k;
        if (r->limit == SIZE_MAX) {
            size_t d = idx_declared(r->buf, r->n);
            r->limit = d == 0 ? r->n : d; /* not IDX: keep what is here for the parser */
            if (r->n > r->limit) { /* this chunk went past the declared size */
                r->tail->bytes += r->n - r->limit;
                r->n = r->limit;
            }
        }
    }
    return NN_OK;
}

/* Inflates the gzip members of fd (the first `got` bytes already in `in`) into r; raw bytes
 * after the last member are counted as trailing data, as are decompressed bytes past the
 * declared size (up to IDX_TAIL_CAP: a small stream that inflates to gigabytes stops there). */
static int idx_inflate(int fd, off_t size, uint8_t *in, size_t got, idx_reader *r,
                       const char *path, nn_error *err)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return nn_error_set(err, NN_ENOMEM, "%s: out of memory for the zlib stream", path);
    uint8_t *out = malloc(IDX_CHUNK);
    size_t rd = got; /* compressed bytes read from fd */
    int rc = out ? NN_OK : nn_error_set(err, NN_ENOMEM, "%s: out of memory", path);
    int eof = 0, between = 0; /* between: a member ended; another may follow */
    z.next_in = in;
    z.avail_in = (uInt)got;
    while (rc == NN_OK) {
        if (z.avail_in == 0 && !eof) {
            ssize_t k = read(fd, in, IDX_CHUNK);
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0) {
                rc = nn_error_set(err, NN_EIO, "%s: read error: %s", path, strerror(errno));
                break;
            }
            eof = k == 0;
            rd += (size_t)k;
            z.next_in = in;
            z.avail_in = (uInt)k;
        }
        if (between) {
            if (z.avail_in == 0)
                break; /* the last member ended with the file */
            if (z.next_in[0] != 0x1f) { /* not another member: what zlib's gzread ignores */
                r->tail->bytes += z.avail_in + (size > (off_t)rd ? (size_t)(size - (off_t)rd) : 0);
                r->tail->after_gz = 1;
                break;
            }
            between = 0;
        }
        z.next_out = out;
        z.avail_out = (uInt)IDX_CHUNK;
        int zr = inflate(&z, Z_NO_FLUSH);
        if (idx_take(r, out, IDX_CHUNK - z.avail_out))
            rc = nn_error_set(err, NN_ENOMEM, "%s: out of memory after %zu bytes", path, r->n);
        else if (r->tail->bytes > IDX_TAIL_CAP)
            r->tail->more = 1, r->tail->bytes = IDX_TAIL_CAP;
        else if (zr == Z_STREAM_END)
            between = inflateReset(&z) == Z_OK;
        else if (zr == Z_BUF_ERROR && eof && z.avail_in == 0)
            rc = nn_error_set(err, NN_EFORMAT, "%s: truncated gzip stream after %zu "
                              "decompressed bytes", path, r->n + r->tail->bytes);
        else if (zr != Z_OK && zr != Z_BUF_ERROR)
            rc = nn_error_set(err, NN_EFORMAT, "%s: corrupt gzip stream after %zu decompressed "
                              "bytes: %s", path, r->n + r->tail->bytes, z.msg ? z.msg : "");
        if (r->tail->more)
            break;
    }
    inflateEnd(&z);
    free(out);
    return rc;
}

/* Reads a whole file, gzipped (one or more members) or raw, no further than its header
 * declares; what lies past that is counted in *tail for idx_parse to refuse: exactly in a raw
 * file or after a gzip stream, up to IDX_TAIL_CAP inside one. */
static int idx_read_file(const char *path, const char *what, uint8_t **out, size_t *len,
                         idx_tail *tail, nn_error *err)
{
    memset(tail, 0, sizeof *tail);
    int fd = nn_file_open(path, what, err);
    if (fd < 0)
        return fd;
    struct stat st;
    idx_reader r = {.limit = SIZE_MAX, .tail = tail};
    uint8_t *in = malloc(IDX_CHUNK);
    int rc = in ? NN_OK : nn_error_set(err, NN_ENOMEM, "%s: out of memory", path);
    if (rc == NN_OK && fstat(fd, &st))
        rc = nn_error_set(err, NN_EIO, "%s: %s", path, strerror(errno));
    size_t got = 0, rd = 0;
    int gz = -1; /* unknown until two bytes are read */
    while (rc == NN_OK && gz != 1) {
        ssize_t k = read(fd, in + got, IDX_CHUNK - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            rc = nn_error_set(err, NN_EIO, "%s: read error: %s", path, strerror(errno));
            break;
        }
        got += (size_t)k;
        rd += (size_t)k;
        if (gz < 0 && (got >= 2 || k == 0))
            gz = got >= 2 && in[0] == 0x1f && in[1] == 0x8b;
        if (gz == 1 || (k > 0 && got < 2))
            continue;
        if (idx_take(&r, in, got)) /* raw: the bytes are the data */
            rc = nn_error_set(err, NN_ENOMEM, "%s: out of memory after %zu bytes", path, r.n);
        got = 0;
        if (k == 0 || r.n >= r.limit) {
            /* the rest of a raw file is counted, not read */
            tail->bytes += st.st_size > (off_t)rd ? (size_t)(st.st_size - (off_t)rd) : 0;
            break;
        }
    }
    if (rc == NN_OK && gz == 1)
        rc = idx_inflate(fd, st.st_size, in, got, &r, path, err);
    close(fd);
    free(in);
    if (rc) {
        free(r.buf);
        return rc;
    }
    *out = r.buf ? r.buf : malloc(1);
    *len = r.n;
    return *out ? NN_OK : nn_error_set(err, NN_ENOMEM, "%s: out of memory", path);
}

static int idx_create(const nn_params *p, void **self, nn_error *err)
{
    idx_ds *d = calloc(1, sizeof *d);
    if (!d)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    d->dir = nn_params_str(p, "dir");
    d->files[0] = nn_params_str(p, "train_images");
    d->files[1] = nn_params_str(p, "train_labels");
    d->files[2] = nn_params_str(p, "test_images");
    d->files[3] = nn_params_str(p, "test_labels");
    d->scale = nn_params_float(p, "scale");
    d->preset = nn_params_enum(p, "preset");
    const char *cn = nn_params_str(p, "class_names");
    if (cn && cn[0]) {
        d->names_buf = strdup(cn);
        int n = 1;
        for (const char *s = cn; *s; s++)
            n += *s == ',';
        d->names = calloc((size_t)n, sizeof *d->names);
        if (!d->names_buf || !d->names) {
            free(d->names_buf);
            free(d->names);
            free(d);
            return nn_error_set(err, NN_ENOMEM, "out of memory");
        }
        char *save = NULL;
        for (char *t = strtok_r(d->names_buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            while (*t == ' ')
                t++;
            d->names[d->n_names++] = t;
        }
    } else if (d->preset == 0 || d->preset == 1) {
        d->names = calloc(10, sizeof *d->names);
        if (!d->names) {
            free(d);
            return nn_error_set(err, NN_ENOMEM, "out of memory");
        }
        for (int i = 0; i < 10; i++)
            d->names[i] = d->preset == 0 ? fashion_names[i] : digit_names[i];
        d->n_names = 10;
    }
    *self = d;
    return NN_OK;
}

static void idx_destroy(void *self)
{
    idx_ds *d = self;
    free(d->names_buf);
    free(d->names);
    free(d->img_buf);
    free(d->lab_buf);
    free(d->labels);
    for (int i = 0; i < d->n_in; i++) {
        free(d->in_buf[i]);
        free(d->in_path[i]);
    }
    free(d->in_path);
    free(d->in_buf);
    free(d->in_img);
    free(d->in_start);
    free(d);
}

/* the record shape as a sample: [n, features] gives a flat vector, else the dims after n */
static void idx_sample_desc(const idx_array *a, nn_tensor *t)
{
    int64_t shp[8] = {1};
    int nd = 1;
    for (int i = 1; i < a->ndim && nd < NN_MAX_DIMS; i++)
        shp[nd++] = a->dims[i];
    if (a->ndim == 2) {
        shp[0] = a->dims[1];
        nd = 1;
    }
    nn_tensor_describe(t, NN_F32, nd, shp);
}

/* n_classes of training when there are no names: one more than the largest training label */
static int idx_train_classes(idx_ds *d, const nn_dataset_open *o, int *n, nn_error *err)
{
    char lp[4096];
    uint8_t *buf;
    size_t len;
    idx_array a;
    idx_tail tail;
    int rc = nnd_join(lp, sizeof lp, o->base_dir, d->dir, d->files[1], err);
    if (!rc)
        rc = idx_read_file(lp, "labels file", &buf, &len, &tail, err);
    if (rc) {
        nn_error_prefix(err, "predict needs the training labels for the class count (or set "
                        "class_names)");
        return rc;
    }
    if ((rc = idx_parse(buf, len, &tail, lp, IDX_LABELS, &a, err))) {
        free(buf);
        return rc;
    }
    int maxl = -1;
    for (int64_t i = 0; i < a.count; i++)
        maxl = a.data[i] > maxl ? a.data[i] : maxl;
    free(buf);
    *n = maxl + 1;
    return NN_OK;
}

/* The records of a (from file path) must be shaped like the training images: compares with
 * that file's header only. who: what needs it, for the message ("an input"). */
static int idx_same_shape_as_train(const idx_ds *d, const nn_dataset_open *o, const idx_array *a,
                                   const char *path, const char *who, nn_error *err)
{
    char tp[4096];
    int rc = nnd_join(tp, sizeof tp, o->base_dir, d->dir, d->files[0], err);
    if (rc)
        return rc;
    uint8_t hdr[4 + 4 * 8];
    gzFile g;
    if ((rc = idx_gzopen(tp, "training images file", &g, err))) {
        nn_error_prefix(err, "the training images fix the shape of %s", who);
        return rc;
    }
    int got = gzread(g, hdr, sizeof hdr);
    gzclose(g);
    if (got < 4 || hdr[0] != 0 || hdr[1] != 0 || hdr[3] < 1 || hdr[3] > 8 ||
        got < 4 + 4 * hdr[3])
        return nn_error_set(err, NN_EFORMAT, "%s: cannot read the IDX header of the training "
                            "images, which fixes the shape of %s", tp, who);
    char mine[96] = "", theirs[96] = "";
    int same = hdr[3] == a->ndim;
    for (int i = 1; i < hdr[3] || i < a->ndim; i++) {
        const uint8_t *q = hdr + 4 + 4 * i;
        uint32_t t = (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
        if (i < a->ndim)
            snprintf(mine + strlen(mine), sizeof mine - strlen(mine), "%s%lld", i > 1 ? "x" : "",
                     (long long)a->dims[i]);
        if (i < hdr[3])
            snprintf(theirs + strlen(theirs), sizeof theirs - strlen(theirs), "%s%u",
                     i > 1 ? "x" : "", t);
        same = same && i < a->ndim && t == (uint32_t)a->dims[i];
    }
    if (!same)
        return nn_error_set(err, NN_ESHAPE, "%s: records are %s, but the training images of %s "
                            "are %s (%s needs the same H x W)", path, mine[0] ? mine : "scalars",
                            tp, theirs[0] ? theirs : "scalars", who);
    return NN_OK;
}

static int idx_open_predict(idx_ds *d, const nn_dataset_open *o, nn_dataset_info *info,
                            nn_error *err)
{
    d->in_buf = calloc((size_t)o->n_inputs, sizeof *d->in_buf);
    d->in_img = calloc((size_t)o->n_inputs, sizeof *d->in_img);
    d->in_start = calloc((size_t)o->n_inputs + 1, sizeof *d->in_start);
    d->in_path = calloc((size_t)o->n_inputs, sizeof *d->in_path);
    if (!d->in_buf || !d->in_img || !d->in_start || !d->in_path)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    for (int f = 0; f < o->n_inputs; f++) {
        const char *path = o->inputs[f];
        d->n_in = f + 1;
        if (!(d->in_path[f] = strdup(path)))
            return nn_error_set(err, NN_ENOMEM, "out of memory");
        size_t len;
        idx_tail tail;
        int rc = idx_read_file(path, "images file", &d->in_buf[f], &len, &tail, err);
        if (rc)
            return rc;
        if ((rc = idx_parse(d->in_buf[f], len, &tail, path, IDX_IMAGES, &d->in_img[f], err)))
            return rc;
        const idx_array *a = &d->in_img[f], *a0 = &d->in_img[0];
        if (a->ndim != a0->ndim || memcmp(a->dims + 1, a0->dims + 1,
                                          (size_t)(a->ndim - 1) * sizeof *a->dims))
            return nn_error_set(err, NN_ESHAPE, "%s: records of %lld bytes in %d dimensions "
                                "differ from those of %s", path, (long long)a->record, a->ndim,
                                o->inputs[0]);
        d->in_start[f + 1] = d->in_start[f] + a->count;
    }
    int rc = idx_same_shape_as_train(d, o, &d->in_img[0], o->inputs[0], "an input", err);
    if (rc)
        return rc;
    int n_classes = d->n_names;
    if (!n_classes && (rc = idx_train_classes(d, o, &n_classes, err)))
        return rc;
    memset(info, 0, sizeof *info);
    info->struct_size = sizeof *info;
    info->length = d->in_start[d->n_in];
    idx_sample_desc(&d->in_img[0], &info->sample);
    nn_tensor_describe(&info->target, NN_I32, 0, NULL);
    info->n_classes = n_classes;
    info->class_names = d->n_names ? d->names : NULL;
    return NN_OK;
}

/* the input file holding predict sample index (binary search over in_start) */
static int idx_file_of(const idx_ds *d, int64_t index)
{
    int lo = 0, hi = d->n_in - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (d->in_start[mid] <= index)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

static int idx_open(void *self, const nn_dataset_open *o, nn_dataset_info *info, nn_error *err)
{
    idx_ds *d = self;
    if (o->split == NN_SPLIT_PREDICT) {
        if (o->struct_size < sizeof *o || o->n_inputs < 1 || !o->inputs)
            return nn_error_set(err, NN_EINVAL, "idx: predict needs at least one IDX images "
                                "file");
        return idx_open_predict(d, o, info, err);
    }
    if (o->split == NN_SPLIT_VAL)
        return nn_error_set(err, NN_ENOTSUP, "idx has no explicit validation split; use "
                            "[data] val_split to carve one from the training files");
    int t = o->split == NN_SPLIT_TEST ? 2 : 0;
    char ip[4096], lp[4096];
    size_t ilen, llen;
    int rc;
    idx_tail itail, ltail;
    if ((rc = nnd_join(ip, sizeof ip, o->base_dir, d->dir, d->files[t], err)) ||
        (rc = nnd_join(lp, sizeof lp, o->base_dir, d->dir, d->files[t + 1], err)) ||
        (rc = idx_read_file(ip, "images file", &d->img_buf, &ilen, &itail, err)))
        return rc;
    if ((rc = idx_parse(d->img_buf, ilen, &itail, ip, IDX_IMAGES, &d->img, err)) ||
        (rc = idx_read_file(lp, "labels file", &d->lab_buf, &llen, &ltail, err)) ||
        (rc = idx_parse(d->lab_buf, llen, &ltail, lp, IDX_LABELS, &d->lab, err)))
        return rc;
    /* the test split is opened before training: a shape that differs is said then, by name */
    if (t && (rc = idx_same_shape_as_train(d, o, &d->img, ip, "the test split", err)))
        return rc;
    if (d->img.count != d->lab.count)
        return nn_error_set(err, NN_EFORMAT, "%s has %lld images but %s has %lld labels", ip,
                            (long long)d->img.count, lp, (long long)d->lab.count);
    d->labels = malloc((size_t)(d->lab.count ? d->lab.count : 1) * sizeof *d->labels);
    if (!d->labels)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    int maxl = -1;
    for (int64_t i = 0; i < d->lab.count; i++) {
        int v = d->lab.data[i];
        if (d->n_names && v >= d->n_names)
            return nn_error_set(err, NN_EFORMAT,
                                "%s: record %lld (offset %lld): label %d is not below the %d "
                                "class names", lp, (long long)i, (long long)(8 + i), v,
                                d->n_names);
        d->labels[i] = v;
        maxl = v > maxl ? v : maxl;
    }
    memset(info, 0, sizeof *info);
    info->struct_size = sizeof *info;
    info->length = d->img.count;
    idx_sample_desc(&d->img, &info->sample);
    nn_tensor_describe(&info->target, NN_I32, 0, NULL);
    info->n_classes = d->n_names ? d->n_names : maxl + 1;
    info->class_names = d->n_names ? d->names : NULL;
    info->labels = d->labels;
    return NN_OK;
}

/* dst[i] = src[i] * s, for every pixel of every sample of every epoch, on the loader's
 * threads, which share the cores with training: built for AVX-512 (16 pixels an instruction)
 * and AVX2 as well as baseline x86-64, picked at load time */
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void scale_pixels(float *restrict dst, const uint8_t *restrict src, int64_t n, float s)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = (float)src[i] * s;
}

static int idx_get(void *self, int64_t index, nn_tensor *sample, nn_tensor *target, nn_error *err)
{
    idx_ds *d = self;
    if (d->n_in) {
        if (index < 0 || index >= d->in_start[d->n_in])
            return nn_error_set(err, NN_EINVAL, "idx: sample %lld out of range [0, %lld)",
                                (long long)index, (long long)d->in_start[d->n_in]);
        int f = idx_file_of(d, index);
        const idx_array *a = &d->in_img[f];
        scale_pixels(NN_F32P(sample), a->data + (index - d->in_start[f]) * a->record,
                     a->record, (float)d->scale);
        NN_I32P(target)[0] = -1;
        return NN_OK;
    }
    if (index < 0 || index >= d->img.count)
        return nn_error_set(err, NN_EINVAL, "idx: sample %lld out of range [0, %lld)",
                            (long long)index, (long long)d->img.count);
    scale_pixels(NN_F32P(sample), d->img.data + index * d->img.record, d->img.record,
                 (float)d->scale);
    NN_I32P(target)[0] = d->labels[index];
    return NN_OK;
}

static int idx_describe(void *self, int64_t index, char *buf, size_t cap)
{
    const idx_ds *d = self;
    if (!d->n_in) {
        if (index < 0 || index >= d->img.count)
            return NN_EINVAL;
        snprintf(buf, cap, "%lld", (long long)index);
        return NN_OK;
    }
    if (index < 0 || index >= d->in_start[d->n_in])
        return NN_EINVAL;
    int f = idx_file_of(d, index);
    snprintf(buf, cap, "%s:%lld", d->in_path[f], (long long)(index - d->in_start[f]));
    return NN_OK;
}

static const nn_param_spec idx_params[] = {
    {.name = "dir", .type = NN_PARAM_STRING, .def = "/usr/share/datasets/fashion-mnist",
     .doc = "directory of the four files; relative paths are resolved from the model file"},
    {.name = "train_images", .type = NN_PARAM_STRING, .def = "train-images-idx3-ubyte.gz",
     .doc = "training images (IDX, type 0x08), gzipped or raw, relative to dir"},
    {.name = "train_labels", .type = NN_PARAM_STRING, .def = "train-labels-idx1-ubyte.gz",
     .doc = "training labels (IDX with 1 dimension), gzipped or raw, relative to dir"},
    {.name = "test_images", .type = NN_PARAM_STRING, .def = "t10k-images-idx3-ubyte.gz",
     .doc = "test images, read by `nntrain eval`"},
    {.name = "test_labels", .type = NN_PARAM_STRING, .def = "t10k-labels-idx1-ubyte.gz",
     .doc = "test labels, read by `nntrain eval`"},
    {.name = "scale", .type = NN_PARAM_FLOAT, .def = "0.00392156862745098", .range = "(0, inf)",
     .doc = "each byte is multiplied by this (default 1/255 maps pixels to [0, 1])"},
    {.name = "preset", .type = NN_PARAM_ENUM, .def = "fashion_mnist",
     .choices = "fashion_mnist|mnist|none",
     .doc = "class names: Fashion-MNIST's ten names, the digits 0-9, or none (ids only)"},
    {.name = "class_names", .type = NN_PARAM_STRING,
     .doc = "comma-separated class names in label order; overrides preset"},
    {0}};

static const nn_dataset_vtable idx_vt = {
    .struct_size = sizeof(nn_dataset_vtable),
    .create = idx_create,
    .destroy = idx_destroy,
    .open = idx_open,
    .get = idx_get,
    .describe = idx_describe, /* optional: names predicted samples */
};

static const nn_plugin_desc idx_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_DATASET, .name = "idx", .version = "1.0.0", .license = "MIT",
    .summary = "MNIST-family IDX files (Fashion-MNIST by default): F32 [1, H, W] images, "
               "I32 class ids; predict --input takes IDX images files of the same H x W",
    .caps = NN_CAP_THREAD_SAFE, .params = idx_params, .vtable = &idx_vt);

NN_PLUGIN_EXPORT(&idx_desc);
