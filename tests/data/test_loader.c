/* test_loader.c: the prefetching loader: batches bitwise identical for 1 and 4 workers,
 * per-epoch shuffles that differ but reproduce, partial and dropped last batches, exact
 * mid-epoch resume, augmentation values from the per-sample streams, errors that name the
 * file, and shutdown with work in flight. */
#include <png.h>

#include "data_fixtures.h"
#include <criterion/redirect.h>

static const char *ini_aug = "[data]\ntype = csv\npath = d.csv\nval_split = 0.2\n"
                             "[transform.j]\ntype = test_jitter\n";

typedef struct run {
    float x[100][2];
    int32_t y[100];
    int64_t idx[100];
    int64_t n;
} run;

/* all batches of one epoch, concatenated */
static void collect(nn_loader *l, int64_t epoch, int64_t skip, run *r)
{
    nn_error err = {0};
    cr_assert_eq(nn_loader_start_epoch(l, epoch, skip, &err), 0, "%s", err.msg);
    r->n = 0;
    nn_batch *b;
    int rc;
    int64_t k = skip;
    while ((rc = nn_loader_next(l, &b, &err)) == 1) {
        cr_assert_eq(b->index, k++);
        cr_assert_eq(b->epoch, epoch);
        memcpy(r->x[r->n], b->x->dl.data, (size_t)b->n * 2 * sizeof(float));
        memcpy(r->y + r->n, b->y->dl.data, (size_t)b->n * sizeof(int32_t));
        memcpy(r->idx + r->n, b->indices, (size_t)b->n * sizeof(int64_t));
        r->n += b->n;
        nn_loader_release(l, b);
    }
    cr_assert_eq(rc, 0, "%s", err.msg);
}

static nn_loader *make(dfx *f, nn_part part, int workers, int prefetch, int augment)
{
    nn_loader *l;
    nn_error err = {0};
    nn_loader_opts o = {.batch_size = 8, .shuffle = 1, .prefetch = prefetch, .workers = workers,
                        .augment = augment};
    cr_assert_eq(nn_loader_new(f->d, part, &o, &l, &err), 0, "%s", err.msg);
    return l;
}

Test(loader, batches_are_bitwise_identical_with_1_and_4_workers)
{
    setenv("UV_THREADPOOL_SIZE", "4", 1);
    fx_tmpdir();
    dfx_write_csv("d.csv", 100);
    dfx f;
    dfx_ok(&f, ini_aug, &(nn_data_opts){.seed = 9, .fit = 1});
    nn_loader *a = make(&f, NN_PART_TRAIN, 1, 1, 1), *b = make(&f, NN_PART_TRAIN, 4, 4, 1);
    static run ra, rb;
    for (int e = 0; e < 3; e++) {
        collect(a, e, 0, &ra);
        collect(b, e, 0, &rb);
        cr_assert_eq(ra.n, 80);
        cr_assert_eq(rb.n, 80);
        cr_assert_arr_eq(ra.x, rb.x, sizeof ra.x, "epoch %d differs", e);
        cr_assert_arr_eq(ra.y, rb.y, sizeof ra.y);
        cr_assert_arr_eq(ra.idx, rb.idx, sizeof ra.idx);
    }
    nn_loader_free(a);
    nn_loader_free(b);
    dfx_free(&f);
}

Test(loader, augmentation_draws_from_the_per_sample_stream)
{
    fx_tmpdir();
    dfx_write_csv("d.csv", 100);
    dfx f;
    dfx_ok(&f, ini_aug, &(nn_data_opts){.seed = 9, .fit = 1});
    nn_loader *aug = make(&f, NN_PART_TRAIN, 2, 2, 1), *plain = make(&f, NN_PART_TRAIN, 2, 2, 0);
    static run r;
    collect(aug, 3, 0, &r);
    for (int64_t i = 0; i < r.n; i++) {
        nn_rng g;
        nn_rng_init(&g, 9, 3, (uint64_t)r.idx[i], 0);
        float u = (float)nn_rng_uniform(&g);
        cr_assert_float_eq(r.x[i][0], (float)r.idx[i] + u, 1e-4);
        cr_assert_float_eq(r.x[i][1], 2.0f * (float)r.idx[i] + 0.5f + u, 1e-4);
        cr_assert_eq(r.y[i], dfx_class((int)r.idx[i]));
    }
    collect(plain, 3, 0, &r);
    for (int64_t i = 0; i < r.n; i++)
        cr_assert_float_eq(r.x[i][0], (float)r.idx[i], 0, "no augmentation when augment = 0");
    nn_loader_free(aug);
    nn_loader_free(plain);
    dfx_free(&f);
}

Test(loader, shuffles_differ_across_epochs_and_reproduce)
{
    fx_tmpdir();
    dfx_write_csv("d.csv", 100);
    dfx f;
    dfx_ok(&f, ini_aug, &(nn_data_opts){.seed = 4, .fit = 1});
    nn_loader *l = make(&f, NN_PART_TRAIN, 2, 3, 0);
    static run e0, e1, again;
    collect(l, 0, 0, &e0);
    collect(l, 1, 0, &e1);
    cr_assert_neq(memcmp(e0.idx, e1.idx, sizeof e0.idx), 0, "epochs 0 and 1 in the same order");
    int64_t n;
    const int64_t *part = nn_data_indices(f.d, NN_PART_TRAIN, &n);
    int seen[100] = {0};
    for (int64_t i = 0; i < e1.n; i++)
        seen[e1.idx[i]]++;
    for (int64_t i = 0; i < n; i++)
        cr_assert_eq(seen[part[i]], 1, "epoch 1 must visit each training sample once");
    nn_loader_free(l);
    l = make(&f, NN_PART_TRAIN, 3, 2, 0);
    collect(l, 1, 0, &again);
    cr_assert_arr_eq(e1.idx, again.idx, sizeof e1.idx);
    /* exact resume: starting epoch 1 at batch 3 yields the tail of the full epoch */
    collect(l, 1, 3, &again);
    cr_assert_eq(again.n, 80 - 24);
    cr_assert_arr_eq(again.idx, e1.idx + 24, (size_t)again.n * sizeof(int64_t));
    cr_assert_arr_eq(again.x, e1.x[24], (size_t)again.n * 2 * sizeof(float));
    nn_loader_free(l);
    dfx_free(&f);
}

Test(loader, last_partial_batch_has_zero_rows_and_drop_last_skips_it)
{
    fx_tmpdir();
    dfx_write_csv("d.csv", 100);
    dfx f;
    dfx_ok(&f, "[data]\ntype = csv\npath = d.csv\n", &(nn_data_opts){.seed = 1, .fit = 1});
    nn_loader *l;
    nn_error err = {0};
    nn_loader_opts o = {.batch_size = 16, .prefetch = 2, .workers = 2};
    cr_assert_eq(nn_loader_new(f.d, NN_PART_TRAIN, &o, &l, &err), 0, "%s", err.msg);
    cr_assert_eq(nn_loader_batches(l), 7);
    cr_assert_eq(nn_loader_start_epoch(l, 0, 0, &err), 0);
    nn_batch *b;
    int64_t k = 0;
    while (nn_loader_next(l, &b, &err) == 1) {
        cr_assert_eq(b->x->shape[0], 16);
        cr_assert_eq(b->x->shape[1], 2);
        cr_assert_eq(b->y->dl.ndim, 1);
        if (k == 6) {
            cr_assert_eq(b->n, 4);
            for (int r = 4; r < 16; r++) {
                cr_assert_float_eq(NN_F32P(b->x)[r * 2], 0.0f, 0);
                cr_assert_float_eq(NN_F32P(b->x)[r * 2 + 1], 0.0f, 0);
                cr_assert_eq(NN_I32P(b->y)[r], 0);
            }
            /* unshuffled: rows are samples 96..99 */
            cr_assert_float_eq(NN_F32P(b->x)[2 * 3], 99.0f, 0);
            cr_assert_eq(NN_I32P(b->y)[3], dfx_class(99));
        }
        k++;
        nn_loader_release(l, b);
    }
    cr_assert_eq(k, 7);
    nn_loader_free(l);
    o.drop_last = 1;
    cr_assert_eq(nn_loader_new(f.d, NN_PART_TRAIN, &o, &l, &err), 0, "%s", err.msg);
    cr_assert_eq(nn_loader_batches(l), 6);
    nn_loader_free(l);
    dfx_free(&f);
}

Test(loader, holding_every_buffer_is_an_error_not_a_hang)
{
    fx_tmpdir();
    dfx_write_csv("d.csv", 100);
    dfx f;
    dfx_ok(&f, "[data]\ntype = csv\npath = d.csv\n", &(nn_data_opts){.fit = 1});
    nn_loader *l;
    nn_error err = {0};
    nn_loader_opts o = {.batch_size = 4, .prefetch = 1, .workers = 1};
    cr_assert_eq(nn_loader_new(f.d, NN_PART_TRAIN, &o, &l, &err), 0, "%s", err.msg);
    cr_assert_eq(nn_loader_next(l, &(nn_batch *){NULL}, &err), NN_EINVAL, "next before start");
    cr_assert_eq(nn_loader_start_epoch(l, 0, 0, &err), 0);
    nn_batch *b1, *b2, *b3;
    cr_assert_eq(nn_loader_next(l, &b1, &err), 1);
    cr_assert_eq(nn_loader_next(l, &b2, &err), 1);
    cr_assert_lt(nn_loader_next(l, &b3, &err), 0);
    cr_assert_not_null(strstr(err.msg, "held"), "%s", err.msg);
    nn_loader_release(l, b1);
    nn_loader_release(l, b2);
    cr_assert_eq(nn_loader_next(l, &b3, &err), 1);
    cr_assert_eq(b3->index, 2, "the refused call consumed no batch");
    nn_loader_release(l, b3);
    nn_loader_free(l);
    dfx_free(&f);
}

Test(loader, decode_error_names_the_file)
{
    fx_tmpdir();
    fx_mkdir("img");
    fx_mkdir("img/a");
    uint8_t px[4] = {1, 2, 3, 4};
    for (int i = 0; i < 6; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "img/a/%d.png", i);
        png_image im = {.version = PNG_IMAGE_VERSION, .width = 2, .height = 2,
                        .format = PNG_FORMAT_GRAY};
        cr_assert(png_image_write_to_file(&im, fx_path(rel), 0, px, 0, NULL));
    }
    dfx f;
    dfx_ok(&f, "[data]\ntype = image_folder\ndir = img\nmode = gray\n", &(nn_data_opts){.fit = 1});
    fx_write_text("img/a/4.png", "gone bad after open");
    nn_loader *l;
    nn_error err = {0};
    nn_loader_opts o = {.batch_size = 2, .prefetch = 2, .workers = 2};
    cr_assert_eq(nn_loader_new(f.d, NN_PART_TRAIN, &o, &l, &err), 0, "%s", err.msg);
    cr_assert_eq(nn_loader_start_epoch(l, 0, 0, &err), 0);
    nn_batch *b;
    int rc, good = 0;
    while ((rc = nn_loader_next(l, &b, &err)) == 1) {
        good++;
        nn_loader_release(l, b);
    }
    cr_assert_eq(good, 2);
    cr_assert_lt(rc, 0);
    cr_assert_not_null(strstr(err.msg, "img/a/4.png: unreadable image"), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "sample 4"), "%s", err.msg);
    nn_loader_free(l);
    dfx_free(&f);
}

Test(loader, test_part_opens_on_demand)
{
    fx_tmpdir();
    dfx_write_csv("d.csv", 40);
    dfx_write_csv("t.csv", 10);
    dfx f;
    dfx_ok(&f, "[data]\ntype = csv\npath = d.csv\ntest_path = t.csv\n", &(nn_data_opts){.fit = 1});
    cr_assert_eq(nn_data_size(f.d, NN_PART_TEST), NN_ENOTFOUND);
    nn_loader *l = make(&f, NN_PART_TEST, 2, 2, 0);
    cr_assert_eq(nn_data_size(f.d, NN_PART_TEST), 10);
    static run r;
    collect(l, 0, 0, &r);
    cr_assert_eq(r.n, 10);
    nn_loader_free(l);
    dfx_free(&f);
}

/* nn_loader_free reports on stderr when uv_loop_close fails (a leaked handle or request) */
Test(loader, free_and_restart_with_work_in_flight, .init = cr_redirect_stderr)
{
    fx_tmpdir();
    dfx_write_csv("d.csv", 100);
    dfx f;
    dfx_ok(&f, ini_aug, &(nn_data_opts){.seed = 3, .fit = 1});
    for (int rep = 0; rep < 20; rep++) {
        nn_loader *l = make(&f, NN_PART_TRAIN, 4, 8, 1);
        nn_error err = {0};
        cr_assert_eq(nn_loader_start_epoch(l, 0, 0, &err), 0);
        nn_batch *b;
        cr_assert_eq(nn_loader_next(l, &b, &err), 1);
        /* restart while batches are queued and one is held */
        cr_assert_eq(nn_loader_start_epoch(l, 1, 0, &err), 0);
        nn_loader_release(l, b);
        cr_assert_eq(nn_loader_next(l, &b, &err), 1);
        cr_assert_eq(b->epoch, 1);
        cr_assert_eq(b->index, 0);
        nn_loader_free(l); /* b still held, work still queued */
    }
    dfx_free(&f);
    fflush(stderr);
    cr_assert_stderr_eq_str("", "uv_loop_close must return 0 after nn_loader_free");
}
