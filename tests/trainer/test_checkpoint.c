/* test_checkpoint.c: safetensors writing, bit-exact reading, the reader's rejections, and
 * atomic replacement under SIGKILL. Fixture files are written by the tests themselves. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"

static char dir[256];

static void mkdir_tmp(void)
{
    snprintf(dir, sizeof dir, "/tmp/nnckpt.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void rm_tmp(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        cr_log_warn("could not remove %s", dir);
}

TestSuite(checkpoint, .init = mkdir_tmp, .fini = rm_tmp);

static int write_sample(const char *path, float base, nn_error *err)
{
    int64_t s1[2] = {3, 4}, s2[1] = {5}, s3[1] = {0};
    nn_tensor *a = nn_tensor_new(NN_F32, 2, s1), *b = nn_tensor_new(NN_I32, 1, s2);
    nn_tensor *c = nn_tensor_new(NN_F64, 0, s3);
    for (int i = 0; i < 12; i++)
        NN_F32P(a)[i] = base + (float)i * 0.25f;
    for (int i = 0; i < 5; i++)
        NN_I32P(b)[i] = -i * 1000;
    ((double *)c->dl.data)[0] = 3.141592653589793;
    nn_ckpt_entry e[] = {{"fc1.weight", a}, {"optim.step", b}, {"scalar", c}};
    nn_ckpt_meta m[] = {{"epoch", "7"}, {"model", "[train]\nepochs = \"2\"\t\\ ok é"}};
    int rc = nn_checkpoint_write(path, e, 3, m, 2, err);
    nn_tensor_free(a);
    nn_tensor_free(b);
    nn_tensor_free(c);
    return rc;
}

Test(checkpoint, round_trip_is_bit_exact_with_metadata)
{
    char path[300];
    nn_error err = {0};
    snprintf(path, sizeof path, "%s/a.safetensors", dir);
    cr_assert_eq(write_sample(path, 1.5f, &err), NN_OK, "%s", err.msg);
    nn_checkpoint *c;
    cr_assert_eq(nn_checkpoint_read(path, &c, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_checkpoint_count(c), 3);
    cr_assert_str_eq(nn_checkpoint_meta(c, "epoch"), "7");
    cr_assert_str_eq(nn_checkpoint_meta(c, "model"), "[train]\nepochs = \"2\"\t\\ ok é");
    const nn_tensor *w = nn_checkpoint_tensor(c, "fc1.weight");
    cr_assert_eq(w->dl.ndim, 2);
    cr_assert_eq(w->shape[1], 4);
    for (int i = 0; i < 12; i++)
        cr_assert_eq(NN_F32P(w)[i], 1.5f + (float)i * 0.25f);
    int64_t s2[1] = {5}, bad[1] = {6};
    nn_tensor *dst = nn_tensor_new(NN_I32, 1, s2), *wrong = nn_tensor_new(NN_I32, 1, bad);
    cr_assert_eq(nn_checkpoint_load(c, "optim.step", dst, &err), NN_OK);
    cr_assert_eq(NN_I32P(dst)[4], -4000);
    cr_assert_eq(nn_checkpoint_load(c, "optim.step", wrong, &err), NN_ESHAPE);
    cr_assert(strstr(err.msg, "[5]") && strstr(err.msg, "[6]"), "%s", err.msg);
    cr_assert_eq(nn_checkpoint_load(c, "nope", dst, &err), NN_ENOTFOUND);
    double pi; /* views may be unaligned (safetensors packs tensors back to back) */
    memcpy(&pi, nn_checkpoint_tensor(c, "scalar")->dl.data, sizeof pi);
    cr_assert_eq(pi, 3.141592653589793);
    nn_tensor_free(dst);
    nn_tensor_free(wrong);
    nn_checkpoint_free(c);
}

Test(checkpoint, an_independent_reader_agrees)
{
    /* Python's struct + json, not our parser, read the file (the same rules PyTorch's
     * safetensors applies: header length, contiguous offsets, data size). */
    char path[300], cmd[1200];
    nn_error err = {0};
    snprintf(path, sizeof path, "%s/py.safetensors", dir);
    cr_assert_eq(write_sample(path, 2.0f, &err), NN_OK, "%s", err.msg);
    snprintf(cmd, sizeof cmd,
             "python3 -c \"import json,struct,sys;b=open('%s','rb').read();n=struct.unpack('<Q',b[:8])[0];"
             "h=json.loads(b[8:8+n]);d=b[8+n:];m=h.pop('__metadata__');assert m['epoch']=='7';"
             "t=h['fc1.weight'];s,e=t['data_offsets'];v=struct.unpack('<12f',d[s:e]);"
             "assert t['dtype']=='F32' and t['shape']==[3,4] and v[5]==2.0+5*0.25,v;"
             "assert sorted(x['data_offsets'] for x in h.values())==[[0,48],[48,68],[68,76]];"
             "assert len(d)==76 and n%%8==0\"", path);
    cr_assert_eq(system(cmd), 0, "python could not read what we wrote");
}

static int parse_bytes(const void *buf, size_t n, nn_error *err)
{
    nn_checkpoint *c = NULL;
    int rc = nn_checkpoint_parse(buf, n, "x.safetensors", &c, err);
    nn_checkpoint_free(c);
    return rc;
}

/* builds 8-byte length + header + data */
static size_t mk(uint8_t *out, const char *header, size_t data_len)
{
    size_t hl = strlen(header);
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(out + 8, header, hl);
    memset(out + 8 + hl, 0x3f, data_len);
    return 8 + hl + data_len;
}

static void reject(const char *header, size_t data_len, const char *expect)
{
    uint8_t buf[1024];
    nn_error err = {0};
    size_t n = mk(buf, header, data_len);
    cr_assert_eq(parse_bytes(buf, n, &err), NN_EFORMAT, "accepted: %s", header);
    cr_assert(strstr(err.msg, expect), "for %s: message '%s' lacks '%s'", header, err.msg, expect);
    cr_assert(strstr(err.msg, "x.safetensors"), "%s", err.msg);
}

Test(checkpoint, reader_rejects_what_the_format_forbids)
{
    nn_error err = {0};
    uint8_t tiny[4] = {1, 2, 3, 4};
    cr_assert_eq(parse_bytes(tiny, 4, &err), NN_EFORMAT);
    cr_assert(strstr(err.msg, "too short"), "%s", err.msg);
    uint8_t huge[16] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, '{', '}'};
    cr_assert_eq(parse_bytes(huge, 16, &err), NN_EFORMAT);
    cr_assert(strstr(err.msg, "limit"), "%s", err.msg);
    uint8_t past[16] = {100, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    cr_assert_eq(parse_bytes(past, 10, &err), NN_EFORMAT);
    cr_assert(strstr(err.msg, "past the end"), "%s", err.msg);
    reject("[]", 0, "start with '{'");
    reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 0, "truncated");
    reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 9, "trailing bytes");
    reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "dtype size x shape");
    reject("{\"a\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unsupported dtype");
    reject("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
           "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[4,6]}}", 6, "contiguous");
    reject("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
           "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,3]}}", 3, "contiguous");
    reject("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
           "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", 2, "duplicate tensor");
    reject("{\"__metadata__\":{\"k\":3}}", 0, "must be strings");
    reject("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":1}}", 1, "unknown");
    reject("{\"a\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,1]}}", 1, "non-negative");
    reject("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}} x", 1, "trailing characters");
    reject("{\"a\":{\"dtype\":\"U8\",\"shape\":[1]}}", 0, "needs dtype, shape and data_offsets");
    reject("{\"a\":{\"dtype\":\"U8\",\"shape\":[99999999999,99999999999,99999999999],"
           "\"data_offsets\":[0,1]}}", 1, "too large");
    reject("{\"a\\ud800\":1}", 0, "surrogate");
    /* an empty file of tensors is fine */
    uint8_t ok[16];
    cr_assert_eq(parse_bytes(ok, mk(ok, "{}      ", 0), &err), NN_OK, "%s", err.msg);
}

/* every file written carries the crc32 of its tensor bytes: one byte changed in them after
 * the write is refused as damage (it loaded, and a NaN or a wild weight surfaced steps later);
 * a file without the entry (from elsewhere) is read as before */
Test(checkpoint, damaged_tensor_bytes_are_refused_by_their_checksum)
{
    char path[300];
    nn_error err = {0};
    snprintf(path, sizeof path, "%s/c.safetensors", dir);
    cr_assert_eq(write_sample(path, 1.5f, &err), NN_OK, "%s", err.msg);
    nn_checkpoint *c;
    cr_assert_eq(nn_checkpoint_read(path, &c, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(strlen(nn_checkpoint_meta(c, NN_CKPT_CRC_KEY)), 8);
    nn_checkpoint_free(c);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    int fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0);
    unsigned char b;
    off_t at = st.st_size - 30; /* inside the tensors, which end the file */
    cr_assert_eq(pread(fd, &b, 1, at), 1);
    b ^= 0x40;
    cr_assert_eq(pwrite(fd, &b, 1, at), 1);
    close(fd);
    cr_assert_eq(nn_checkpoint_read(path, &c, &err), NN_EFORMAT);
    cr_assert(strstr(err.msg, "c.safetensors: its tensor bytes do not match the checksum "
                              "written with them") &&
              strstr(err.msg, "damaged after it was written"), "%s", err.msg);
    uint8_t plain[64];
    size_t n = mk(plain, "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}",
                  2);
    cr_assert_eq(parse_bytes(plain, n, &err), NN_OK, "%s", err.msg);
}

Test(checkpoint, a_failed_write_leaves_the_old_file_intact)
{
    char path[300];
    nn_error err = {0};
    snprintf(path, sizeof path, "%s/keep.safetensors", dir);
    cr_assert_eq(write_sample(path, 1.0f, &err), NN_OK);
    /* make the directory unwritable for the temp file: the write must fail cleanly */
    if (geteuid() == 0) {
        /* root ignores permissions: use a path whose directory does not exist instead */
        char bad[300];
        snprintf(bad, sizeof bad, "%s/missing/x.safetensors", dir);
        cr_assert_eq(write_sample(bad, 2.0f, &err), NN_EIO);
        cr_assert(strstr(err.msg, "missing/x.safetensors"), "%s", err.msg);
    } else {
        chmod(dir, 0500);
        cr_assert_eq(write_sample(path, 2.0f, &err), NN_EIO);
        chmod(dir, 0700);
    }
    nn_checkpoint *c;
    cr_assert_eq(nn_checkpoint_read(path, &c, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(NN_F32P(nn_checkpoint_tensor(c, "fc1.weight"))[0], 1.0f);
    nn_checkpoint_free(c);
}

Test(checkpoint, sigkill_at_any_moment_leaves_a_loadable_file)
{
    char path[300];
    nn_error err = {0};
    snprintf(path, sizeof path, "%s/kill.safetensors", dir);
    int64_t shape[1] = {1 << 20}; /* 4 MiB, so a kill often lands mid-write */
    nn_tensor *big = nn_tensor_new(NN_F32, 1, shape);
    nn_ckpt_entry e[] = {{"big", big}};
    cr_assert_eq(nn_checkpoint_write(path, e, 1, NULL, 0, &err), NN_OK);
    srand((unsigned)time(NULL));
    for (int round = 0; round < 20; round++) {
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            for (int k = 0;; k++) {
                for (int i = 0; i < 16; i++)
                    NN_F32P(big)[i] = (float)k;
                nn_checkpoint_write(path, e, 1, NULL, 0, NULL);
            }
        }
        usleep((useconds_t)(rand() % 30000));
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        nn_checkpoint *c;
        cr_assert_eq(nn_checkpoint_read(path, &c, &err), NN_OK, "round %d: %s", round, err.msg);
        const float *v = NN_F32P(nn_checkpoint_tensor(c, "big"));
        for (int i = 1; i < 16; i++)
            cr_assert_eq(v[i], v[0], "round %d: a mix of two writes", round);
        nn_checkpoint_free(c);
    }
    nn_tensor_free(big);
}
