/* test_shard.c: the loader's slices of a data-parallel run: N processes' slices of each global
 * batch, concatenated in rank order, are exactly the batch one process gets (indices, rows
 * and their bytes), including uneven slices, the last partial batch and empty slices. */
#include "data/fixtures.h"
#include "core/data/loader.h"

static void write_rows(const char *rel, int n)
{
    char *buf = malloc((size_t)n * 64 + 64);
    size_t o = (size_t)sprintf(buf, "f0,f1,label\n");
    for (int i = 0; i < n; i++)
        o += (size_t)sprintf(buf + o, "%d,%.1f,c%d\n", i, 0.5 * i, i % 3);
    fx_write(rel, buf, o);
    free(buf);
}

typedef struct opened {
    nn_registry *reg;
    nn_config *cfg;
    nn_data *d;
} opened;

static void open_data(opened *o, int rows)
{
    fx_tmpdir();
    write_rows("d.csv", rows);
    nn_error err = {0};
    o->reg = fx_registry();
    cr_assert_eq(nn_config_parse("[data]\ntype = csv\npath = d.csv\nlabel = label\n",
                                 "model.ini", &o->cfg, &err), 0, "%s", err.msg);
    nn_data_opts dopt = {.base_dir = fx_dir, .seed = 5, .fit = 1};
    cr_assert_eq(nn_data_open(o->reg, o->cfg, &dopt, &o->d, &err), 0, "%s", err.msg);
}

static void close_data(opened *o)
{
    nn_data_free(o->d);
    nn_config_free(o->cfg);
    nn_registry_free(o->reg);
}

static nn_loader *loader(opened *o, int64_t batch, int drop_last, int rank, int size)
{
    nn_loader *l;
    nn_error err = {0};
    nn_loader_opts lo = {.batch_size = batch, .shuffle = 1, .drop_last = drop_last,
                         .prefetch = 2, .workers = 2, .shard_rank = rank, .shard_count = size};
    cr_assert_eq(nn_loader_new(o->d, NN_PART_TRAIN, &lo, &l, &err), 0, "%s", err.msg);
    cr_assert_eq(nn_loader_start_epoch(l, 3, 0, &err), 0, "%s", err.msg);
    return l;
}

/* every global batch of epoch 3: the size processes' slices against one process's batch */
static void check(int rows, int64_t batch, int drop_last, int size, int *empties)
{
    opened o;
    open_data(&o, rows);
    nn_loader *whole = loader(&o, batch, drop_last, 0, 1), *part[8];
    for (int r = 0; r < size; r++)
        part[r] = loader(&o, batch, drop_last, r, size);
    cr_assert_eq(nn_loader_batches(part[0]), nn_loader_batches(whole), "every process takes "
                 "a slice of every global batch");
    nn_error err = {0};
    nn_batch *w;
    int64_t k = 0;
    while (nn_loader_next(whole, &w, &err) == 1) {
        int64_t at = 0;
        size_t xrow = nn_tensor_nbytes(w->x) / (size_t)w->x->shape[0];
        for (int r = 0; r < size; r++) {
            nn_batch *b;
            cr_assert_eq(nn_loader_next(part[r], &b, &err), 1, "%s", err.msg);
            cr_assert_eq(b->index, k);
            cr_assert_eq(b->global_n, w->n, "batch %lld: rank %d was told of %lld rows, the "
                         "global batch has %lld", (long long)k, r, (long long)b->global_n,
                         (long long)w->n);
            cr_assert_eq(b->row0, at, "batch %lld rank %d", (long long)k, r);
            /* balanced: slices differ by one row at most, the larger ones first */
            int64_t lo = w->n / size;
            cr_assert(b->n == lo || b->n == lo + 1);
            cr_assert_leq(b->x->shape[0], (batch + size - 1) / size);
            *empties += b->n == 0;
            for (int64_t i = 0; i < b->n; i++) {
                cr_assert_eq(b->indices[i], w->indices[at + i], "batch %lld rank %d row %lld",
                             (long long)k, r, (long long)i);
                cr_assert_arr_eq((char *)b->x->dl.data + (size_t)i * xrow,
                                 (char *)w->x->dl.data + (size_t)(at + i) * xrow, xrow);
            }
            at += b->n;
            nn_loader_release(part[r], b);
        }
        cr_assert_eq(at, w->n, "the slices of batch %lld cover it", (long long)k);
        nn_loader_release(whole, w);
        k++;
    }
    cr_assert_eq(k, nn_loader_batches(whole));
    for (int r = 0; r < size; r++) {
        nn_batch *b;
        cr_assert_eq(nn_loader_next(part[r], &b, &err), 0, "rank %d has batches left", r);
        nn_loader_free(part[r]);
    }
    nn_loader_free(whole);
    close_data(&o);
}

Test(shard, two_processes_split_each_global_batch_in_order)
{
    int empties = 0;
    check(101, 10, 0, 2, &empties); /* a last batch of 1: one rank empty */
    cr_assert_eq(empties, 1);
}

Test(shard, uneven_slices_and_empty_ones_cover_every_batch)
{
    int empties = 0;
    check(86, 11, 0, 4, &empties); /* 11 = 3 + 3 + 3 + 2; the last batch of 9 = 3+2+2+2 */
    cr_assert_eq(empties, 0);
    check(85, 7, 0, 3, &empties);  /* last batch of 1 = 1 + 0 + 0 */
    cr_assert_eq(empties, 2);
}

Test(shard, dropping_the_last_batch_drops_it_on_every_process)
{
    int empties = 0;
    check(86, 11, 1, 4, &empties);
    cr_assert_eq(empties, 0);
}

Test(shard, a_shard_that_does_not_exist_is_refused)
{
    opened o;
    open_data(&o, 20);
    nn_loader *l;
    nn_error err = {0};
    nn_loader_opts lo = {.batch_size = 4, .shard_rank = 2, .shard_count = 2};
    cr_assert_eq(nn_loader_new(o.d, NN_PART_TRAIN, &lo, &l, &err), NN_EINVAL);
    cr_assert(strstr(err.msg, "shard 2 of 2"), "%s", err.msg);
    close_data(&o);
}
