/* test_batch_loader.c: batch transforms (mixup) inside the core's data side: the training
 * target they declare, batches bitwise identical with 1 and 4 loader workers, each batch equal
 * to the plugin applied by hand to the plain batch with the stream (seed, epoch, batch, 2)
 * (partial last batch included), two batch transforms sharing that stream, validation batches
 * left alone, and the section order rule. */
#include "data_fixtures.h"

#include "nntrain/transform.h"

enum { B = 7, ROWS = 80, K = 3 };

static const char *ini_mix = "[data]\ntype = csv\npath = d.csv\nval_split = 0.2\n"
                             "[transform.mix]\ntype = mixup\nalpha = 0.5\np = 0.8\n";

typedef struct epoch_run {
    float x[ROWS][2];
    float t[ROWS][K];   /* training batches: probabilities */
    int32_t y[ROWS];    /* plain batches: class ids */
    int64_t idx[ROWS], n, batches;
    int64_t pad_nonzero; /* bytes past n that are not zero */
} epoch_run;

static nn_loader *make(dfx *f, nn_part part, int workers, int augment)
{
    nn_loader *l;
    nn_error err = {0};
    nn_loader_opts o = {.batch_size = B, .shuffle = part == NN_PART_TRAIN, .prefetch = workers,
                        .workers = workers, .augment = augment};
    cr_assert_eq(nn_loader_new(f->d, part, &o, &l, &err), 0, "%s", err.msg);
    return l;
}

static void collect(nn_loader *l, int64_t epoch, int soft, epoch_run *r)
{
    nn_error err = {0};
    memset(r, 0, sizeof *r);
    cr_assert_eq(nn_loader_start_epoch(l, epoch, 0, &err), 0, "%s", err.msg);
    nn_batch *b;
    int rc;
    while ((rc = nn_loader_next(l, &b, &err)) == 1) {
        cr_assert_eq(nn_tensor_dtype(b->y), soft ? NN_F32 : NN_I32);
        memcpy(r->x[r->n], b->x->dl.data, (size_t)b->n * 2 * sizeof(float));
        if (soft) {
            memcpy(r->t[r->n], b->y->dl.data, (size_t)b->n * K * sizeof(float));
            const char *pad = (const char *)b->y->dl.data + (size_t)b->n * K * sizeof(float);
            for (size_t i = 0; i < (size_t)(B - b->n) * K * sizeof(float); i++)
                r->pad_nonzero += pad[i] != 0;
        } else {
            memcpy(r->y + r->n, b->y->dl.data, (size_t)b->n * sizeof(int32_t));
        }
        memcpy(r->idx + r->n, b->indices, (size_t)b->n * sizeof(int64_t));
        r->n += b->n;
        r->batches++;
        nn_loader_release(l, b);
    }
    cr_assert_eq(rc, 0, "%s", err.msg);
}

/* a mixup instance made as the chain makes it, set up for F32 [2] samples and targets t */
typedef struct hand {
    nn_instance inst;
    const nn_transform_vtable *vt;
    nn_tensor in, target, tout;
} hand;

static void hand_make(hand *h, dfx *f, const char *alpha, const char *p, const nn_tensor *t)
{
    const nn_plugin_entry *e = nn_registry_find(f->reg, NN_KIND_TRANSFORM, "mixup", NULL, NULL);
    cr_assert(e);
    nn_kv kv[] = {{"alpha", alpha, "t", 1}, {"p", p, "t", 2}};
    nn_error err = {0};
    cr_assert_eq(nn_instance_create(&h->inst, e->desc, kv, 2, "hand", &err), 0, "%s", err.msg);
    h->vt = h->inst.vt;
    const int64_t two = 2;
    nn_tensor_describe(&h->in, NN_F32, 1, &two);
    h->target = *t;
    h->target.dl.shape = h->target.shape;
    h->target.dl.strides = h->target.strides;
    h->tout = h->target;
    h->tout.dl.shape = h->tout.shape;
    h->tout.dl.strides = h->tout.strides;
    nn_transform_setup s = {.struct_size = sizeof s, .in = &h->in, .out = h->in,
                            .train_only = 1, .target = &h->target, .target_out = &h->tout,
                            .n_classes = K};
    s.out.dl.shape = s.out.shape;
    s.out.dl.strides = s.out.strides;
    cr_assert_eq(h->vt->setup(h->inst.self, &s, &err), 0, "%s", err.msg);
}

/* applies h to rows [first, first + n) of x (in place) with targets tin -> tout */
static void hand_apply(hand *h, float (*x)[2], const void *tin, float (*tout)[K], int64_t n,
                       nn_rng *r)
{
    int64_t xs[2] = {n, 2}, ts[2] = {n, K};
    nn_tensor xv = {0}, tv = {0}, ov = {0};
    nn_tensor_describe(&xv, NN_F32, 2, xs);
    xv.dl.data = x;
    nn_tensor_describe(&tv, (nn_dtype)nn_tensor_dtype(&h->target), h->target.dl.ndim + 1, ts);
    tv.dl.data = (void *)tin;
    nn_tensor_describe(&ov, NN_F32, 2, ts);
    ov.dl.data = tout;
    static float scratch[64];
    nn_transform_batch b = {.struct_size = sizeof b, .rows = n, .x = &xv, .target = &tv,
                            .target_out = &ov, .scratch = scratch};
    nn_error err = {0};
    cr_assert_eq(h->vt->apply_batch(h->inst.self, &b, r, &err), 0, "%s", err.msg);
}

Test(batch_loader, the_training_target_is_declared_at_open)
{
    fx_tmpdir();
    dfx_write_csv("d.csv", 100);
    dfx f;
    dfx_ok(&f, ini_mix, &(nn_data_opts){.seed = 3, .fit = 1});
    const nn_tensor *tt = nn_data_target(f.d, 1), *et = nn_data_target(f.d, 0);
    cr_assert_eq(nn_tensor_dtype(tt), NN_F32);
    cr_assert_eq(tt->dl.ndim, 1);
    cr_assert_eq(tt->shape[0], K, "F32 [classes] for training batches");
    cr_assert_eq(nn_tensor_dtype(et), NN_I32);
    cr_assert_eq(et->dl.ndim, 0, "class ids everywhere else");
    cr_assert_eq(et, &nn_data_info(f.d)->target);
    dfx_free(&f);
}

Test(batch_loader, batches_are_identical_with_1_and_4_workers_and_equal_mixup_by_hand)
{
    setenv("UV_THREADPOOL_SIZE", "4", 1);
    fx_tmpdir();
    dfx_write_csv("d.csv", 100);
    dfx f;
    dfx_ok(&f, ini_mix, &(nn_data_opts){.seed = 3, .fit = 1});
    nn_loader *one = make(&f, NN_PART_TRAIN, 1, 1), *four = make(&f, NN_PART_TRAIN, 4, 1);
    nn_loader *plain = make(&f, NN_PART_TRAIN, 2, 0);
    hand h;
    hand_make(&h, &f, "0.5", "0.8", nn_data_target(f.d, 0));
    static epoch_run a, b, p;
    int mixed = 0;
    for (int64_t e = 0; e < 2; e++) {
        collect(one, e, 1, &a);
        collect(four, e, 1, &b);
        collect(plain, e, 0, &p);
        cr_assert_eq(a.n, ROWS);
        cr_assert_eq(a.batches, (ROWS + B - 1) / B, "the last batch is partial");
        cr_assert_arr_eq(a.x, b.x, sizeof a.x, "epoch %lld: batches differ", (long long)e);
        cr_assert_arr_eq(a.t, b.t, sizeof a.t, "epoch %lld: targets differ", (long long)e);
        cr_assert_arr_eq(a.idx, p.idx, sizeof a.idx, "the same order with and without mixup");
        cr_assert_eq(a.pad_nonzero + b.pad_nonzero, 0, "rows past the last one are zero");
        for (int64_t k = 0; k * B < ROWS; k++) {
            int64_t first = k * B, n = ROWS - first < B ? ROWS - first : B;
            nn_rng r;
            nn_rng_init(&r, 3, (uint64_t)e, (uint64_t)k, 2);
            static float tout[B][K];
            hand_apply(&h, p.x + first, p.y + first, tout, n, &r);
            cr_assert_arr_eq(p.x + first, a.x + first, (size_t)n * sizeof p.x[0],
                             "epoch %lld batch %lld", (long long)e, (long long)k);
            cr_assert_arr_eq(tout, a.t + first, (size_t)n * sizeof tout[0],
                             "epoch %lld batch %lld targets", (long long)e, (long long)k);
            mixed += a.t[first][p.y[first]] < 1;
        }
    }
    cr_assert_gt(mixed, 5, "some batches must be mixed (p = 0.8)");
    nn_instance_destroy(&h.inst);
    nn_loader_free(one);
    nn_loader_free(four);
    nn_loader_free(plain);
    dfx_free(&f);
}

Test(batch_loader, two_batch_transforms_share_the_batch_stream_in_file_order)
{
    fx_tmpdir();
    dfx_write_csv("d.csv", 100);
    dfx f;
    dfx_ok(&f, "[data]\ntype = csv\npath = d.csv\nval_split = 0.2\n"
               "[transform.a]\ntype = mixup\np = 1\n"
               "[transform.b]\ntype = mixup\nalpha = 3\np = 1\n",
           &(nn_data_opts){.seed = 5, .fit = 1});
    nn_loader *l = make(&f, NN_PART_TRAIN, 2, 1), *plain = make(&f, NN_PART_TRAIN, 2, 0);
    hand a, b;
    hand_make(&a, &f, "1", "1", nn_data_target(f.d, 0));
    hand_make(&b, &f, "3", "1", nn_data_target(f.d, 1));
    static epoch_run m, p;
    collect(l, 1, 1, &m);
    collect(plain, 1, 0, &p);
    for (int64_t k = 0; k * B < ROWS; k++) {
        int64_t first = k * B, n = ROWS - first < B ? ROWS - first : B;
        nn_rng r;
        nn_rng_init(&r, 5, 1, (uint64_t)k, 2);
        static float mid[B][K], out[B][K];
        hand_apply(&a, p.x + first, p.y + first, mid, n, &r);
        hand_apply(&b, p.x + first, mid, out, n, &r);
        cr_assert_arr_eq(p.x + first, m.x + first, (size_t)n * sizeof p.x[0], "batch %lld",
                         (long long)k);
        cr_assert_arr_eq(out, m.t + first, (size_t)n * sizeof out[0], "batch %lld targets",
                         (long long)k);
    }
    nn_instance_destroy(&a.inst);
    nn_instance_destroy(&b.inst);
    nn_loader_free(l);
    nn_loader_free(plain);
    dfx_free(&f);
}

Test(batch_loader, validation_batches_are_left_alone)
{
    fx_tmpdir();
    dfx_write_csv("d.csv", 100);
    dfx f;
    dfx_ok(&f, "[data]\ntype = csv\npath = d.csv\nval_split = 0.2\n"
               "[transform.mix]\ntype = mixup\np = 1\n", &(nn_data_opts){.seed = 3, .fit = 1});
    nn_loader *v = make(&f, NN_PART_VAL, 2, 0);
    static epoch_run r;
    collect(v, 0, 0, &r);
    cr_assert_eq(r.n, 20);
    for (int64_t i = 0; i < r.n; i++) {
        cr_assert_eq(r.x[i][0], (float)r.idx[i], "validation samples are not mixed");
        cr_assert_eq(r.y[i], dfx_class((int)r.idx[i]), "validation targets stay class ids");
    }
    nn_loader_free(v);
    dfx_free(&f);
}

Test(batch_loader, a_per_sample_transform_after_a_batch_transform_is_an_error)
{
    fx_tmpdir();
    dfx_write_csv("d.csv", 100);
    dfx f;
    nn_error err = {0};
    int rc = dfx_open(&f, "[data]\ntype = csv\npath = d.csv\n"
                          "[transform.mix]\ntype = mixup\n"
                          "[transform.norm]\ntype = normalize\nmean = 1\nstd = 2\n",
                      &(nn_data_opts){.seed = 3, .fit = 1}, &err);
    cr_assert_eq(rc, NN_EINVAL, "%s", err.msg);
    cr_assert(strstr(err.msg, "[transform.norm]") && strstr(err.msg, "batch transform") &&
              strstr(err.msg, "come last"), "%s", err.msg);
    dfx_free(&f);
}

Test(batch_loader, regression_targets_are_refused_with_label_smoothing_naming_the_section)
{
    fx_tmpdir();
    dfx_write_csv("d.csv", 100);
    dfx f;
    nn_error err = {0};
    int rc = dfx_open(&f, "[data]\ntype = csv\npath = d.csv\nlabel = f1\nfeatures = f0\n"
                          "task = regression\n"
                          "[transform.mix]\ntype = mixup\nlabel_smoothing = 0.1\n",
                      &(nn_data_opts){.seed = 3, .fit = 1}, &err);
    cr_assert_neq(rc, NN_OK);
    cr_assert(strstr(err.msg, "[transform.mix]") && strstr(err.msg, "'label_smoothing'"), "%s",
              err.msg);
    dfx_free(&f);
}
