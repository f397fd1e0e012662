/* test_audio_folder.c: the audio_folder dataset on WAV/FLAC files the test writes with
 * libsndfile: stereo mixdown, linear-interpolation resampling checked by hand, cropping and
 * zero padding, and unreadable files (corrupt FLAC data too, found at open) or empty class
 * folders named. */
#include <math.h>
#include <sndfile.h>

#include "fixtures.h"

static void write_wav(const char *rel, int rate, int ch, int frames, const float *x, int flac)
{
    SF_INFO si = {.samplerate = rate, .channels = ch,
                  .format = flac ? SF_FORMAT_FLAC | SF_FORMAT_PCM_16
                                 : SF_FORMAT_WAV | SF_FORMAT_FLOAT};
    SNDFILE *f = sf_open(fx_path(rel), SFM_WRITE, &si);
    cr_assert_not_null(f, "%s", sf_strerror(NULL));
    cr_assert_eq(sf_writef_float(f, x, frames), frames);
    sf_close(f);
}

static void fixture(void)
{
    fx_tmpdir();
    fx_mkdir("au");
    fx_mkdir("au/yes");
    fx_mkdir("au/no");
    /* stereo at 8 kHz: left = i/100, right = -i/200, mono = i/400 */
    float st[2 * 10];
    for (int i = 0; i < 10; i++) {
        st[2 * i] = (float)i / 100.0f;
        st[2 * i + 1] = -(float)i / 200.0f;
    }
    write_wav("au/yes/a.wav", 8000, 2, 10, st, 0);
    float mono[6] = {0, 0.5f, 0.25f, -0.5f, 0, 0.125f};
    write_wav("au/no/b.flac", 8000, 1, 6, mono, 1);
}

Test(audio_folder, stereo_is_mixed_down_and_padded)
{
    fixture();
    nn_kv kv[] = {FX_KV("dir", "au"), FX_KV("rate", "8000"), FX_KV("length", "12"),
                  FX_KV("resample", "check")};
    fx_ds d;
    fx_ds_ok(&d, "audio_folder", kv, 4, NN_SPLIT_TRAIN);
    cr_assert_eq(d.info.length, 2);
    cr_assert_str_eq(d.info.class_names[0], "no");
    cr_assert_eq(d.info.sample.shape[0], 1);
    cr_assert_eq(d.info.sample.shape[1], 12);
    float x[12];
    int32_t y;
    nn_error err = {0};
    cr_assert_eq(fx_ds_get(&d, 1, x, &y, &err), 0, "%s", err.msg);
    cr_assert_eq(y, 1);
    for (int i = 0; i < 10; i++)
        cr_assert_float_eq(x[i], (float)i / 400.0f, 1e-6, "sample %d: %g", i, x[i]);
    cr_assert_float_eq(x[10], 0.0f, 0);
    cr_assert_float_eq(x[11], 0.0f, 0);
    /* FLAC, 16-bit: within one quantisation step */
    cr_assert_eq(fx_ds_get(&d, 0, x, &y, &err), 0, "%s", err.msg);
    cr_assert_float_eq(x[1], 0.5f, 1e-4);
    cr_assert_float_eq(x[3], -0.5f, 1e-4);
    fx_ds_free(&d);
}

Test(audio_folder, linear_resampling_and_cropping)
{
    fixture();
    /* 8 kHz -> 16 kHz: output j reads source j / 2 */
    nn_kv kv[] = {FX_KV("dir", "au"), FX_KV("rate", "16000"), FX_KV("length", "7")};
    fx_ds d;
    fx_ds_ok(&d, "audio_folder", kv, 3, NN_SPLIT_TRAIN);
    float x[7];
    int32_t y;
    nn_error err = {0};
    cr_assert_eq(fx_ds_get(&d, 0, x, &y, &err), 0, "%s", err.msg);
    float want[7] = {0, 0.25f, 0.5f, 0.375f, 0.25f, -0.125f, -0.5f};
    for (int i = 0; i < 7; i++)
        cr_assert_float_eq(x[i], want[i], 1e-4, "sample %d: %g", i, x[i]);
    fx_ds_free(&d);
    /* 8 kHz -> 4 kHz: output j reads source 2j; the tail past the file is zero */
    nn_kv kv2[] = {FX_KV("dir", "au"), FX_KV("rate", "4000"), FX_KV("length", "4")};
    fx_ds_ok(&d, "audio_folder", kv2, 3, NN_SPLIT_TRAIN);
    cr_assert_eq(fx_ds_get(&d, 0, x, &y, &err), 0, "%s", err.msg);
    float want2[4] = {0, 0.25f, 0, 0};
    for (int i = 0; i < 4; i++)
        cr_assert_float_eq(x[i], want2[i], 1e-4, "sample %d: %g", i, x[i]);
    fx_ds_free(&d);
}

Test(audio_folder, check_mode_rejects_another_rate)
{
    fixture();
    nn_kv kv[] = {FX_KV("dir", "au"), FX_KV("rate", "16000"), FX_KV("resample", "check")};
    fx_expect_fail("audio_folder", kv, 3, NN_SPLIT_TRAIN, "au/no/b.flac: sample rate 8000 Hz",
                   "expected 16000");
}

Test(audio_folder, unreadable_files_are_skipped_and_reported_or_refused_past_max_skipped)
{
    fixture();
    fx_write_text("au/yes/bad.wav", "RIFF....WAVEnot really");
    fx_write_text("au/yes/c.wav", "RIFF....WAVEnot really");
    fx_write_text("au/yes/d.mp3", "ID3");
    nn_kv kv[] = {FX_KV("dir", "au"), FX_KV("max_skipped", "0.75")};
    fx_ds d;
    fx_ds_ok(&d, "audio_folder", kv, 2, NN_SPLIT_TRAIN);
    cr_assert_eq(d.info.length, 2);
    cr_assert_not_null(d.info.notice);
    cr_assert(strstr(d.info.notice, "skipped 3 of the 5 files") &&
              strstr(d.info.notice, "au/yes/bad.wav: unreadable audio file") &&
              strstr(d.info.notice, "au/yes/d.mp3: not a .wav or .flac file"), "%s",
              d.info.notice);
    fx_ds_free(&d);
    /* the default 0.5: 3 of 5 is too many */
    fx_expect_fail("audio_folder", kv, 1, NN_SPLIT_TRAIN, "3 of the 5 files",
                   "au/yes/bad.wav: unreadable audio");
}

Test(audio_folder, a_flac_corrupt_after_its_header_is_skipped_at_open_and_counted)
{
    fixture(); /* au/yes/a.wav, au/no/b.flac */
    static float x[8000];
    for (int i = 0; i < 8000; i++) /* a tone that FLAC cannot store verbatim in one frame */
        x[i] = 0.5f * sinf(0.37f * (float)i) * (float)(i % 13) / 13.0f;
    write_wav("au/no/c.flac", 8000, 1, 8000, x, 1);
    FILE *f = fopen(fx_path("au/no/c.flac"), "rb");
    cr_assert_not_null(f);
    static uint8_t b[65536];
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    cr_assert_gt(n, 4000);
    for (size_t i = n / 2; i < n / 2 + 200; i++) /* the header and the first frames are whole */
        b[i] ^= 0x55;
    fx_write("au/no/c.flac", b, n);
    nn_kv kv[] = {FX_KV("dir", "au"), FX_KV("length", "4")};
    fx_ds d;
    fx_ds_ok(&d, "audio_folder", kv, 2, NN_SPLIT_TRAIN);
    cr_assert_eq(d.info.length, 2, "a.wav and b.flac are the samples");
    cr_assert_not_null(d.info.notice);
    cr_assert(strstr(d.info.notice, "skipped 1 of the 3 files") &&
              strstr(d.info.notice, "au/no/c.flac: unreadable audio data"), "%s",
              d.info.notice);
    float out[4];
    int32_t y;
    nn_error err = {0};
    for (int64_t i = 0; i < 2; i++)
        cr_assert_eq(fx_ds_get(&d, i, out, &y, &err), 0, "%s", err.msg);
    fx_ds_free(&d);
    nn_kv strict[] = {FX_KV("dir", "au"), FX_KV("max_skipped", "0")};
    fx_expect_fail("audio_folder", strict, 2, NN_SPLIT_TRAIN, "1 of the 3 files",
                   "au/no/c.flac: unreadable audio data");
}

Test(audio_folder, class_folder_without_files_is_named)
{
    fixture();
    fx_mkdir("au/maybe");
    nn_kv kv[] = {FX_KV("dir", "au")};
    fx_expect_fail("audio_folder", kv, 1, NN_SPLIT_TRAIN, "au/maybe: class folder has no", NULL);
}

Test(audio_folder, rejects_bad_parameters_naming_the_key)
{
    nn_error err = {0};
    fx_ds d;
    nn_kv k1[] = {FX_KV("dir", "x"), FX_KV("rate", "0")};
    cr_assert_lt(fx_ds_create(&d, "audio_folder", k1, 2, &err), 0);
    cr_assert_not_null(strstr(err.msg, "'rate'"), "%s", err.msg);
    fx_ds_free(&d);
    nn_kv k2[] = {FX_KV("dir", "x"), FX_KV("resample", "sinc")};
    cr_assert_lt(fx_ds_create(&d, "audio_folder", k2, 2, &err), 0);
    cr_assert_not_null(strstr(err.msg, "'resample'"), "%s", err.msg);
    fx_ds_free(&d);
}

/* as image_folder: a sample is kept after its first read when the split fits in cache_mb
 * (read again here after its file is deleted); cache_mb = 0 reads the file each time */
Test(audio_folder, samples_are_kept_after_their_first_read_when_the_split_fits_cache_mb)
{
    static const char *const mb[] = {"1024", "0"};
    for (int k = 0; k < 2; k++) {
        fixture();
        nn_kv kv[] = {FX_KV("dir", "au"), FX_KV("rate", "8000"), FX_KV("length", "12"),
                      FX_KV("cache_mb", mb[k])};
        fx_ds d;
        fx_ds_ok(&d, "audio_folder", kv, 4, NN_SPLIT_TRAIN);
        float first[12], again[12];
        int32_t y;
        nn_error err = {0};
        cr_assert_eq(fx_ds_get(&d, 1, first, &y, &err), 0, "%s", err.msg);
        cr_assert_eq(remove(fx_path("au/yes/a.wav")), 0);
        memset(again, 0xFF, sizeof again);
        int rc = fx_ds_get(&d, 1, again, &y, &err);
        if (k == 0) {
            cr_assert_eq(rc, 0, "kept sample: %s", err.msg);
            cr_assert_eq(memcmp(first, again, sizeof first), 0, "the kept sample differs");
            cr_assert_eq(y, 1);
        } else {
            cr_assert_neq(rc, 0, "cache_mb = 0: read without its file");
            cr_assert(strstr(err.msg, "au/yes/a.wav"), "%s", err.msg);
        }
        fx_ds_free(&d);
    }
}

Test(audio_folder, plugins_show_documents_every_key)
{
    fx_show_documents("audio_folder");
}
