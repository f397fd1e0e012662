/* test_tensorboard.c: the tensorboard logger: CRC32C against published vectors, one TFRecord
 * checked byte for byte, histogram buckets on hand-derived data, and a whole fake run decoded
 * by an independent reader (python3-protobuf, check_logs.py). The plugin source is included
 * so its static encoder functions can be tested directly; the run loads the real .so. */
#include "../../plugins/loggers/tensorboard.c"

#include "fake_run.h"

Test(tensorboard, crc32c_matches_published_test_vectors)
{
    crc32c_init();
    uint8_t zeros[32] = {0}, ones[32], inc[32];
    for (int i = 0; i < 32; i++) {
        ones[i] = 0xFF;
        inc[i] = (uint8_t)i;
    }
    cr_assert_eq(crc32c("123456789", 9), 0xE3069283u);
    cr_assert_eq(crc32c(zeros, 32), 0x8A9136AAu); /* RFC 3720 B.4 */
    cr_assert_eq(crc32c(ones, 32), 0x62A8AB43u);
    cr_assert_eq(crc32c(inc, 32), 0x46DD794Eu);
    cr_assert_eq(crc32c("", 0), 0u);
}

Test(tensorboard, tfrecord_of_a_scalar_event_is_exact_to_the_byte)
{
    crc32c_init();
    tb t = {0};
    /* Summary.Value {tag: "a", simple_value: 2.0} inside Summary inside Event */
    nn_pb_bytes(&t.value, VALUE_TAG, "a", 1);
    nn_pb_float(&t.value, VALUE_SIMPLE, 2.0f);
    nn_pb_message(&t.summary, SUMMARY_VALUE, &t.value);
    nn_pb_double(&t.event, EVENT_WALL_TIME, 1.5);
    nn_pb_int64(&t.event, EVENT_STEP, 7);
    nn_pb_message(&t.event, EVENT_SUMMARY, &t.summary);
    frame_event(&t);
    static const uint8_t want[] = {
        /* TFRecord header: the data length, 23, as little-endian uint64 */
        0x17, 0, 0, 0, 0, 0, 0, 0,
        /* masked CRC32C of those 8 bytes, little-endian (0x1ef8cee7) */
        0xe7, 0xce, 0xf8, 0x1e,
        /* Event: field 1 wall_time, wire type 1 (fixed64): tag (1<<3)|1 = 0x09 */
        0x09,
        /* 1.5 as an IEEE double 0x3FF8000000000000, little-endian */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf8, 0x3f,
        /* field 2 step, wire type 0 (varint): tag 0x10, value 7 */
        0x10, 0x07,
        /* field 5 summary, wire type 2 (length-delimited): tag 0x2a, length 10 */
        0x2a, 0x0a,
        /*   Summary field 1 value (repeated message): tag 0x0a, length 8 */
        0x0a, 0x08,
        /*     Value field 1 tag (string): tag 0x0a, length 1, "a" */
        0x0a, 0x01, 0x61,
        /*     Value field 2 simple_value, wire type 5 (fixed32): tag 0x15, 2.0f = 0x40000000 */
        0x15, 0x00, 0x00, 0x00, 0x40,
        /* masked CRC32C of the 23 data bytes, little-endian (0xdc219f59) */
        0x59, 0x9f, 0x21, 0xdc,
    };
    cr_assert_eq(t.out.len, sizeof want);
    for (size_t i = 0; i < sizeof want; i++)
        cr_assert_eq((uint8_t)t.out.p[i], want[i], "byte %zu: 0x%02x, expected 0x%02x", i,
                     (uint8_t)t.out.p[i], want[i]);
    nn_pb_free(&t.out);
    nn_pb_free(&t.event);
    nn_pb_free(&t.summary);
    nn_pb_free(&t.value);
}

Test(tensorboard, varints_and_negative_steps_follow_the_protobuf_wire_format)
{
    nn_pb_buf b = {0};
    nn_pb_varint(&b, 300); /* 300 = 0b10_0101100: 0xac 0x02 (protobuf docs' example) */
    nn_pb_int64(&b, 2, -1); /* int64 -1: tag 0x10 then ten bytes 0xff.. 0x01 */
    static const uint8_t want[] = {0xac, 0x02, 0x10, 0xff, 0xff, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0x01};
    cr_assert_eq(b.len, sizeof want);
    cr_assert_eq(memcmp(b.p, want, sizeof want), 0);
    nn_pb_free(&b);
}

/* reads one double of a packed field at p */
static double rd_double(const char *p)
{
    double d;
    memcpy(&d, p, 8);
    return d;
}

Test(tensorboard, histogram_uses_tensorflow_default_buckets_and_merges_empty_runs)
{
    tb t = {0};
    cr_assert_eq(make_buckets(&t), 0);
    /* the edges: 1e-12 * 1.1^k below 1e20, mirrored, 0 between, +-DBL_MAX at the ends */
    int npos = 0;
    double v1 = 0, v0 = 0; /* first edge above 1, and the one before it */
    for (double v = 1.0e-12; v < 1.0e20; v *= 1.1, npos++)
        if (v > 1 && v1 == 0) {
            v1 = v;
        } else if (v1 == 0) {
            v0 = v;
        }
    cr_assert_eq(t.n_limits, 2 * npos + 3);
    cr_assert_eq(t.limits[npos + 1], 0.0);
    cr_assert_eq(t.limits[npos + 2], 1e-12);
    cr_assert_eq(t.limits[npos], -1e-12);
    cr_assert_eq(t.limits[0], -DBL_MAX);
    cr_assert_eq(t.limits[t.n_limits - 1], DBL_MAX);

    float data[6] = {0.f, 1.f, -1.f, 1.f, 1e-13f, NAN};
    nn_tensor x = {0};
    int64_t shape[1] = {6};
    nn_tensor_describe(&x, NN_F32, 1, shape);
    x.dl.data = data;
    add_histogram(&t, "h", &x);
    /* expected, derived by hand: bucket i holds [limit[i-1], limit[i]); 0 and 1e-13 fall in
     * [0, 1e-12); 1 in [v0, v1); -1 in [-v1, -v0); NaN is left out. Compact form: */
    double lim[7] = {-v1, -v0, 0.0, 1e-12, v0, v1, DBL_MAX};
    double cnt[7] = {0, 1, 0, 2, 0, 2, 0};
    /* Summary: 0x0a, Value length (2-byte varint); Value: 0x0a 0x01 'h' (tag), 0x2a and a
     * 2-byte length (histo); HistogramProto: five (tag, double) pairs of 9 bytes for min, max,
     * num, sum, sum_squares, then 0x32 56 + 7 limits and 0x3a 56 + 7 counts (packed) */
    const uint8_t *p = (const uint8_t *)t.summary.p;
    cr_assert_eq(p[0], 0x0a);
    cr_assert_eq(p[3], 0x0a);
    cr_assert_eq(p[4], 0x01);
    cr_assert_eq(p[5], 'h');
    cr_assert_eq(p[6], 0x2a);
    const char *hp = (const char *)p + 9;
    size_t hlen = (size_t)(p[7] & 0x7f) | (size_t)p[8] << 7;
    cr_assert_eq(hlen, 5 * 9 + 2 * (2 + 7 * 8), "HistogramProto length %zu", hlen);
    cr_assert_eq((uint8_t)hp[0], 0x09); /* min: field 1, fixed64 */
    cr_assert_eq(rd_double(hp + 1), -1.0);
    cr_assert_eq((uint8_t)hp[9], 0x11); /* max: field 2 */
    cr_assert_eq(rd_double(hp + 10), 1.0);
    cr_assert_eq((uint8_t)hp[18], 0x19); /* num: field 3 */
    cr_assert_eq(rd_double(hp + 19), 5.0);
    cr_assert_eq((uint8_t)hp[27], 0x21); /* sum: field 4 */
    cr_assert_eq(rd_double(hp + 28), 0.0 + 1.0 - 1.0 + 1.0 + (double)1e-13f);
    cr_assert_eq((uint8_t)hp[36], 0x29); /* sum_squares: field 5 */
    cr_assert_eq(rd_double(hp + 37), 3.0 + (double)1e-13f * (double)1e-13f);
    const char *lim_at = hp + 47, *cnt_at = hp + 47 + 56 + 2;
    cr_assert_eq((uint8_t)hp[45], 0x32); /* bucket_limit: field 6, packed */
    cr_assert_eq((uint8_t)hp[46], 56);
    cr_assert_eq((uint8_t)hp[103], 0x3a); /* bucket: field 7, packed */
    cr_assert_eq((uint8_t)hp[104], 56);
    for (int i = 0; i < 7; i++) {
        cr_assert_eq(rd_double(lim_at + 8 * i), lim[i], "limit %d: %g, expected %g", i,
                     rd_double(lim_at + 8 * i), lim[i]);
        cr_assert_eq(rd_double(cnt_at + 8 * i), cnt[i], "count %d", i);
    }
    nn_pb_free(&t.summary);
    nn_pb_free(&t.value);
    free(t.limits);
    free(t.counts);
    free(t.compact_limits);
    free(t.compact_counts);
}

Test(tensorboard, event_file_of_a_run_decodes_with_protobuf_and_holds_every_value)
{
    logger_under_test l;
    lut_create(&l, "tensorboard", NULL, 0);
    lut_open(&l, 0, 0);
    fake_run(&l, NULL, NULL);
    lut_close(&l);
    char args[512];
    snprintf(args, sizeof args, "%s/tb", l.dir);
    cr_assert_eq(run_checker("tb", args), 0, "check_logs.py tb failed (see stderr)");
    rm_rf(l.dir);
}

Test(tensorboard, histograms_follow_histogram_every_and_dir_key)
{
    logger_under_test l;
    nn_kv kv[] = {{"dir", "logs/tensorboard", "test", 1}, {"histogram_every", "0", "test", 2}};
    lut_create(&l, "tensorboard", kv, 2);
    lut_open(&l, 0, 0);
    fake_run(&l, NULL, NULL);
    lut_close(&l);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cat %s/logs/tensorboard/events.out.tfevents.* > %s/all", l.dir,
             l.dir);
    cr_assert_eq(system(cmd), 0, "no event file under the dir key");
    snprintf(cmd, sizeof cmd, "%s/all", l.dir);
    size_t n;
    char *data = slurp(cmd, &n);
    cr_assert_gt(n, 100u);
    int found = 0;
    for (size_t i = 0; i + 6 < n; i++)
        found |= memcmp(data + i, "params/", 7) == 0 || memcmp(data + i, "grads/", 6) == 0;
    cr_assert_not(found, "histogram_every = 0 still wrote histograms");
    free(data);
    rm_rf(l.dir);
}

/* `nntrain eval` emits one EVAL_END per call; its message names the split. */
static void send_eval(logger_under_test *l, const char *split, double loss, double acc)
{
    nn_event ev = ev_base(NN_EV_EVAL_END, 1, -1);
    nn_metric m[2] = {{"loss", loss}, {"accuracy", acc}};
    ev.n_metrics = 2;
    ev.metrics = m;
    ev.message = split;
    lut_send(l, &ev);
}

Test(tensorboard, eval_of_the_val_split_has_tags_of_its_own)
{
    logger_under_test l;
    lut_create(&l, "tensorboard", NULL, 0);
    lut_open(&l, 0, 0);
    send_eval(&l, "test", 0.5, 0.75);
    send_eval(&l, "val", 0.25, 0.875);
    lut_close(&l);
    char args[512];
    snprintf(args, sizeof args, "%s/tb", l.dir);
    cr_assert_eq(run_checker("tb_eval", args), 0, "check_logs.py tb_eval failed (see stderr)");
    rm_rf(l.dir);
}
