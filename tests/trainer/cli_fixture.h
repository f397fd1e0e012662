/* cli_fixture.h: what the end-to-end tests of the nntrain binary share: a scratch directory
 * per test, files written into it, the binary run there with its output captured, and the
 * small CSV problem most of them train on. Test-only. */
#ifndef NNT_CLI_FIXTURE_H
#define NNT_CLI_FIXTURE_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "checkpoint.h"
#include "nntrain/rng.h"

static char dir[256];
static const char *exe;

/* dir/name in one of four rotating buffers */
static inline const char *path_in(const char *name)
{
    static char bufs[4][1024];
    static int k;
    char *b = bufs[k++ & 3];
    snprintf(b, 1024, "%s/%s", dir, name);
    return b;
}

static inline int exists(const char *name)
{
    struct stat st;
    return stat(path_in(name), &st) == 0;
}

static inline void write_file(const char *name, const char *text)
{
    FILE *f = fopen(path_in(name), "w");
    cr_assert_not_null(f, "cannot write %s", name);
    fputs(text, f);
    fclose(f);
}

/* rows of eight features and a class from a fixed linear rule (learnable, not trivial);
 * with_label 0 leaves the label column out (prediction inputs) */
static inline void write_csv_rows(const char *name, int rows, uint64_t seed, int with_label)
{
    FILE *f = fopen(path_in(name), "w");
    cr_assert_not_null(f);
    fprintf(f, "f0,f1,f2,f3,f4,f5,f6,f7%s\n", with_label ? ",label" : "");
    nn_rng r;
    nn_rng_init(&r, seed, 0, 0, 0);
    for (int i = 0; i < rows; i++) {
        double x[8], s[3] = {0, 0, 0};
        for (int k = 0; k < 8; k++) {
            x[k] = 2 * nn_rng_uniform(&r) - 1;
            fprintf(f, k < 7 || with_label ? "%.5f," : "%.5f", x[k]);
            s[0] += x[k] * (k % 3 == 0 ? 1 : -0.3);
            s[1] += x[k] * (k % 3 == 1 ? 1 : -0.3);
            s[2] += x[k] * (k % 3 == 2 ? 1 : -0.3);
        }
        int best = s[1] > s[0] ? 1 : 0;
        best = s[2] > s[best] ? 2 : best;
        if (with_label)
            fprintf(f, "c%d", best);
        fputc('\n', f);
    }
    fclose(f);
}

static inline void write_csv(const char *name, int rows, uint64_t seed)
{
    write_csv_rows(name, rows, seed, 1);
}

/* n side x side greyscale images in three classes (a bright band at the top, middle or
 * bottom) as IDX files; img is gzip-compressed when its name ends in .gz */
static inline void write_idx(const char *img, const char *lab, int n, int side, unsigned seed)
{
    size_t px = (size_t)side * (size_t)side;
    uint8_t *b = calloc(1, 16 + (size_t)n * px), *l = calloc(1, 8 + (size_t)n);
    cr_assert(b && l);
    memcpy(b, (uint8_t[]){0, 0, 8, 3, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                          (uint8_t)n, 0, 0, 0, (uint8_t)side, 0, 0, 0, (uint8_t)side}, 16);
    memcpy(l, (uint8_t[]){0, 0, 8, 1, (uint8_t)(n >> 24), (uint8_t)(n >> 16),
                          (uint8_t)(n >> 8), (uint8_t)n}, 8);
    srand(seed);
    for (int i = 0; i < n; i++) {
        int c = i % 3;
        l[8 + i] = (uint8_t)c;
        for (size_t p = 0; p < px; p++)
            b[16 + (size_t)i * px + p] =
                (uint8_t)(rand() % 60 + ((int)(p / (size_t)side) * 3 / side == c ? 180 : 0));
    }
    size_t len = strlen(img), bytes = 16 + (size_t)n * px;
    if (len > 3 && strcmp(img + len - 3, ".gz") == 0) {
        gzFile g = gzopen(path_in(img), "wb");
        cr_assert_not_null(g);
        gzwrite(g, b, (unsigned)bytes);
        gzclose(g);
    } else {
        FILE *f = fopen(path_in(img), "wb");
        cr_assert_not_null(f);
        fwrite(b, 1, bytes, f);
        fclose(f);
    }
    FILE *f = fopen(path_in(lab), "wb");
    cr_assert_not_null(f);
    fwrite(l, 1, 8 + (size_t)n, f);
    fclose(f);
    free(b);
    free(l);
}

/* a fresh scratch directory named after the suite, and the binary under test */
static inline void cli_setup(const char *suite)
{
    exe = getenv("NNTRAIN_EXE");
    cr_assert_not_null(exe, "NNTRAIN_EXE is not set (run through meson test)");
    snprintf(dir, sizeof dir, "/tmp/nntrain-%s.XXXXXX", suite);
    cr_assert_not_null(mkdtemp(dir));
}

static inline void cli_teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        cr_log_warn("could not remove %s", dir);
}

/* runs `nntrain ARGS` in dir with stdout+stderr in dir/out.txt; returns the exit status as a
 * shell reports it (128 + signal when killed) */
static inline int nntrain(const char *fmt, ...)
{
    char args[2048], cmd[3072];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "cd %s && %s %s > out.txt 2>&1", dir, exe, args);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* the whole file, NUL-terminated and owned, or NULL */
static inline char *slurp(const char *name)
{
    FILE *f = fopen(path_in(name), "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, f);
    b[got] = 0;
    fclose(f);
    return b;
}

/* the number at key `key` of every record of kind `kind` in the jsonl file `name` (a run's
 * metrics.jsonl: kind "step" and key "loss" are the per-step losses); returns the count */
static inline int jsonl_records(const char *name, const char *kind, const char *key,
                                double *out, int cap)
{
    char *t = slurp(name);
    cr_assert_not_null(t, "no %s", name);
    char want[64], k[64];
    snprintf(want, sizeof want, "\"kind\":\"%s\"", kind);
    snprintf(k, sizeof k, "\"%s\":", key);
    int n = 0;
    char *save = NULL;
    for (char *line = strtok_r(t, "\n", &save); line && n < cap;
         line = strtok_r(NULL, "\n", &save))
        if (strstr(line, want)) {
            char *l = strstr(line, k);
            cr_assert_not_null(l, "%s", line);
            out[n++] = strtod(l + strlen(k), NULL);
        }
    free(t);
    return n;
}

/* the "loss" of every step record of a jsonl log, as written (round-trip exact text) */
static inline int step_loss_texts(const char *name, char out[][40], int cap)
{
    char *t = slurp(name);
    cr_assert_not_null(t, "no %s", name);
    int n = 0;
    for (char *line = strtok(t, "\n"); line && n < cap; line = strtok(NULL, "\n")) {
        if (!strstr(line, "\"kind\":\"step\""))
            continue;
        char *l = strstr(line, "\"loss\":");
        cr_assert_not_null(l, "step record without loss: %s", line);
        l += 7;
        int k = 0;
        while (l[k] && l[k] != ',' && l[k] != '}' && k < 39)
            k++;
        memcpy(out[n], l, (size_t)k);
        out[n][k] = 0;
        n++;
    }
    free(t);
    return n;
}

/* the largest relative difference between the same tensors of two checkpoints: those whose
 * names start with prefix, or (NULL) all but the optimizer's */
static inline double max_rel_diff(const char *a, const char *b, const char *prefix)
{
    nn_error err = {0};
    nn_checkpoint *ca, *cb;
    cr_assert_eq(nn_checkpoint_read(path_in(a), &ca, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_checkpoint_read(path_in(b), &cb, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_checkpoint_count(ca), nn_checkpoint_count(cb));
    double worst = 0;
    for (int i = 0; i < nn_checkpoint_count(ca); i++) {
        const char *name = nn_checkpoint_name(ca, i);
        if (prefix ? strncmp(name, prefix, strlen(prefix)) != 0 : strncmp(name, "optim.", 6) == 0)
            continue;
        const nn_tensor *x = nn_checkpoint_tensor(ca, name), *y = nn_checkpoint_tensor(cb, name);
        cr_assert_not_null(y, "%s lacks %s", b, name);
        if (nn_tensor_dtype(x) != NN_F32) {
            cr_assert_eq(memcmp(x->dl.data, y->dl.data, nn_tensor_nbytes(x)), 0, "%s", name);
            continue;
        }
        for (int64_t k = 0; k < nn_tensor_numel(x); k++) {
            float u, v;
            memcpy(&u, (const char *)x->dl.data + 4 * k, 4);
            memcpy(&v, (const char *)y->dl.data + 4 * k, 4);
            worst = fmax(worst, fabs((double)u - v) / fmax(fabs((double)v), 1e-3));
        }
    }
    nn_checkpoint_free(ca);
    nn_checkpoint_free(cb);
    return worst;
}

#endif
