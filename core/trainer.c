/* trainer.c: the training state machine. A libuv loop on its own thread handles signals,
 * progress and checkpoint timers and event delivery to loggers; compute runs on the calling
 * thread and posts records to the loop. It must never write a checkpoint from non-finite state, and
 * a resumed run must reproduce the uninterrupted one exactly. */
#define _GNU_SOURCE
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "checkpoint.h"
#include "loggers.h"
#include "version.h"
#include "trainer.h"

#define RING 4096
#define MAX_METRICS 12
#define CKPT_FORMAT "nntrain.checkpoint.1"

typedef struct rec {
    nn_event_kind kind;
    int64_t epoch, step, global_step, seq;
    double elapsed, sps, lr, grad_norm;
    int n_metrics;
    nn_metric metrics[MAX_METRICS];
    char names[MAX_METRICS][24];
    char text[700];
    int with_params, with_confusion, ack;
} rec;

typedef struct trainer {
    nn_session *s;
    const nn_train_opts *o;
    nn_train_result *r;
    uv_loop_t loop;
    uv_async_t async;
    uv_timer_t progress, ckpt_timer;
    uv_signal_t sig_int, sig_term;
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cv;
    rec *ring;
    int64_t head, tail, seq, acked, dropped;
    atomic_int stop_signal;
    atomic_int ckpt_due;
    atomic_int done;
    rec last_batch;
    int have_batch, batch_shown;
    nn_loggers *loggers;
    /* compute side */
    nn_loader *train_l, *val_l;
    nn_metrics tm, vm;
    int64_t epoch, step_in_epoch, global_step, steps_per_epoch;
    double best;
    int64_t best_epoch, bad_epochs;
    double best_train_loss;
    int64_t train_stall;
    double prev_train_loss, prev_val_loss;
    int64_t rising;
    int hint_plateau, hint_overfit;
    float *best_copy;
    size_t best_bytes;
    struct timespec t0, epoch_t0;
    double elapsed_before; /* wall seconds of earlier sessions of a resumed run */
    int64_t epoch_samples;
    const nn_tensor **hist_params, **hist_grads;
    int n_hist;
    int rc;
    nn_error err;
} trainer;

static double now_s(const struct timespec *since)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - since->tv_sec) + 1e-9 * (double)(t.tv_nsec - since->tv_nsec);
}

/* ---- records from compute to loop ---- */

static void rec_metric(rec *x, const char *name, double v)
{
    if (x->n_metrics == MAX_METRICS || isnan(v))
        return;
    snprintf(x->names[x->n_metrics], sizeof x->names[0], "%s", name);
    x->metrics[x->n_metrics].value = v;
    x->n_metrics++;
}

static void rec_base(trainer *t, rec *x, nn_event_kind kind)
{
    memset(x, 0, sizeof *x);
    x->kind = kind;
    x->epoch = t->epoch;
    x->step = t->step_in_epoch;
    x->global_step = t->global_step;
    x->elapsed = t->elapsed_before + now_s(&t->t0);
    double es = now_s(&t->epoch_t0);
    x->sps = es > 0 ? (double)t->epoch_samples / es : 0;
    x->lr = t->s->optim ? nn_optim_lr(t->s->optim) : NAN;
    x->grad_norm = NAN;
}

/* Posts a record; batch records are dropped when the loop falls behind (a slow logger never
 * stalls training), others wait for room. With ack, waits until the loop has delivered it. */
static void post(trainer *t, const rec *x)
{
    uv_mutex_lock(&t->mu);
    if (t->tail - t->head >= RING) {
        if (x->kind == NN_EV_BATCH_END && !x->ack) {
            t->dropped++;
            uv_mutex_unlock(&t->mu);
            return;
        }
        while (t->tail - t->head >= RING)
            uv_cond_wait(&t->cv, &t->mu);
    }
    rec *slot = &t->ring[t->tail % RING];
    *slot = *x;
    slot->seq = ++t->seq;
    t->tail++;
    int64_t my = slot->seq;
    uv_mutex_unlock(&t->mu);
    uv_async_send(&t->async);
    if (x->ack) {
        uv_mutex_lock(&t->mu);
        while (t->acked < my)
            uv_cond_wait(&t->cv, &t->mu);
        uv_mutex_unlock(&t->mu);
    }
}

static void deliver(trainer *t, rec *x)
{
    nn_event ev = {
        .struct_size = sizeof ev,
        .kind = x->kind,
        .epoch = x->epoch,
        .epochs = t->s->tc.epochs,
        .step = x->step,
        .steps_per_epoch = t->steps_per_epoch,
        .global_step = x->global_step,
        .elapsed_s = x->elapsed,
        .samples_per_s = x->sps,
        .lr = x->lr,
        .grad_norm = x->grad_norm,
        .n_metrics = x->n_metrics,
        .metrics = x->metrics,
    };
    for (int i = 0; i < x->n_metrics; i++)
        x->metrics[i].name = x->names[i];
    if (x->kind == NN_EV_CHECKPOINT)
        ev.path = x->text;
    else if (x->text[0])
        ev.message = x->text;
    if (x->with_params) {
        ev.n_params = t->n_hist;
        ev.params = t->hist_params;
        ev.grads = t->hist_grads;
    }
    const nn_dataset_info *info = nn_data_info(t->s->data);
    if (x->with_confusion && t->vm.confusion) {
        ev.n_classes = t->vm.n_classes;
        ev.confusion = t->vm.confusion;
        ev.class_names = info->class_names;
    }
    nn_error lerr = {0};
    if (nn_loggers_emit(t->loggers, &ev, &lerr) != NN_OK && t->rc == NN_OK) {
        t->rc = lerr.status ? lerr.status : NN_EIO;
        t->err = lerr;
        atomic_store(&t->stop_signal, -1);
    }
    if (x->kind == NN_EV_EPOCH_END || x->kind == NN_EV_TRAIN_END)
        nn_loggers_flush(t->loggers);
}

static void on_async(uv_async_t *h)
{
    trainer *t = h->data;
    for (;;) {
        uv_mutex_lock(&t->mu);
        if (t->head == t->tail) {
            uv_mutex_unlock(&t->mu);
            break;
        }
        rec x = t->ring[t->head % RING];
        t->head++;
        uv_cond_broadcast(&t->cv); /* room in the ring */
        uv_mutex_unlock(&t->mu);
        if (x.kind == NN_EV_BATCH_END) {
            t->last_batch = x;
            t->have_batch = 1;
            t->batch_shown = 0;
        }
        deliver(t, &x);
        if (x.ack) {
            uv_mutex_lock(&t->mu);
            t->acked = x.seq;
            uv_cond_broadcast(&t->cv);
            uv_mutex_unlock(&t->mu);
        }
    }
    if (atomic_load(&t->done)) {
        uv_close((uv_handle_t *)&t->async, NULL);
        uv_close((uv_handle_t *)&t->progress, NULL);
        uv_close((uv_handle_t *)&t->ckpt_timer, NULL);
        if (t->o->handle_signals) {
            uv_close((uv_handle_t *)&t->sig_int, NULL);
            uv_close((uv_handle_t *)&t->sig_term, NULL);
        }
    }
}

static void on_progress(uv_timer_t *h)
{
    trainer *t = h->data;
    if (!t->have_batch || t->batch_shown)
        return;
    rec x = t->last_batch;
    x.kind = NN_EV_PROGRESS;
    x.ack = 0;
    deliver(t, &x);
    t->batch_shown = 1;
}

static void on_ckpt_timer(uv_timer_t *h)
{
    trainer *t = h->data;
    atomic_store(&t->ckpt_due, 1);
}

static void on_signal(uv_signal_t *h, int signum)
{
    trainer *t = h->data;
    if (atomic_load(&t->stop_signal) > 0) {
        /* second signal: stop at once; the last complete checkpoint stays as it is */
        signal(signum, SIG_DFL);
        raise(signum);
        return;
    }
    atomic_store(&t->stop_signal, signum);
    fprintf(stderr, "\nnntrain: %s received: finishing this step and writing a checkpoint "
            "(press Ctrl-C again to quit at once)\n", signum == SIGINT ? "SIGINT" : "SIGTERM");
}

/* ---- checkpoints (written on the compute thread, between steps) ---- */

static void hexd(char *buf, size_t cap, double v) { snprintf(buf, cap, "%a", v); }

static int write_checkpoint(trainer *t, const char *file, char *out_path, nn_error *err)
{
    nn_session *s = t->s;
    int np = nn_session_tensor_count(s);
    int no = nn_optim_tensor_count(s->optim);
    nn_ckpt_entry *e = calloc((size_t)(np + no) + 1, sizeof *e);
    char *ostate = NULL, *dstate = NULL;
    int rc = NN_OK, n = 0;
    if (!e) {
        rc = nn_error_set(err, NN_ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < np; i++, n++) {
        e[n].t = nn_session_tensor(s, i);
        e[n].name = e[n].t->name;
    }
    for (int i = 0; i < no; i++, n++)
        e[n].t = nn_optim_tensor(s->optim, i, &e[n].name);
    int need = nn_optim_state_save(s->optim, NULL, 0);
    ostate = malloc((size_t)(need > 0 ? need : 0) + 1);
    int dneed = nn_data_state_save(s->data, NULL, 0);
    dstate = malloc((size_t)(dneed > 0 ? dneed : 0) + 1);
    if (!ostate || !dstate) {
        rc = nn_error_set(err, NN_ENOMEM, "out of memory");
        goto out;
    }
    ostate[0] = dstate[0] = 0;
    if (need > 0)
        nn_optim_state_save(s->optim, ostate, (size_t)need + 1);
    if (dneed > 0)
        nn_data_state_save(s->data, dstate, (size_t)dneed + 1);
    char ep[32], st[32], gs[32], seed[32], best[48], bep[32], bad[32], ls[48], smp[32], cor[32],
        tk[32], el[48], hints[256];
    snprintf(ep, sizeof ep, "%lld", (long long)t->epoch);
    snprintf(st, sizeof st, "%lld", (long long)t->step_in_epoch);
    snprintf(gs, sizeof gs, "%lld", (long long)t->global_step);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)s->seed);
    hexd(best, sizeof best, t->best);
    snprintf(bep, sizeof bep, "%lld", (long long)t->best_epoch);
    snprintf(bad, sizeof bad, "%lld", (long long)t->bad_epochs);
    hexd(ls, sizeof ls, t->tm.loss_sum);
    snprintf(smp, sizeof smp, "%lld", (long long)t->tm.samples);
    snprintf(cor, sizeof cor, "%lld", (long long)t->tm.correct);
    snprintf(tk, sizeof tk, "%lld", (long long)t->tm.topk_correct);
    hexd(el, sizeof el, t->elapsed_before + now_s(&t->t0));
    snprintf(hints, sizeof hints, "%d %d %a %lld %a %a %lld", t->hint_plateau, t->hint_overfit,
             t->best_train_loss, (long long)t->train_stall, t->prev_train_loss,
             t->prev_val_loss, (long long)t->rising);
    nn_ckpt_meta meta[] = {
        {"format", CKPT_FORMAT},
        {"nntrain_version", NNTRAIN_VERSION},
        {"epoch", ep},
        {"step_in_epoch", st},
        {"global_step", gs},
        {"seed", seed},
        {"monitor", s->tc.monitor},
        {"best_metric", best},
        {"best_epoch", bep},
        {"bad_epochs", bad},
        {"epoch_loss_sum", ls},
        {"epoch_samples", smp},
        {"epoch_correct", cor},
        {"epoch_topk_correct", tk},
        {"elapsed_s", el},
        {"hints", hints},
        {"optimizer_state", ostate},
        {"data_state", dstate},
        {"model_config", nn_config_text(s->cfg)},
    };
    snprintf(out_path, sizeof t->r->last_ckpt, "%s/%s", s->run_dir, file);
    rc = nn_checkpoint_write(out_path, e, n, meta, (int)(sizeof meta / sizeof *meta), err);
out:
    free(e);
    free(ostate);
    free(dstate);
    return rc;
}

int nn_train_load_weights(nn_session *s, const char *path, nn_error *err)
{
    nn_checkpoint *c;
    int rc = nn_checkpoint_read(path, &c, err);
    if (rc)
        return rc;
    for (int i = 0; i < nn_session_tensor_count(s) && rc == NN_OK; i++) {
        nn_tensor *dst = nn_session_tensor(s, i);
        if ((rc = nn_checkpoint_load(c, dst->name, dst, err)))
            nn_error_prefix(err, "%s", path);
    }
    /* fitted transforms (normalize from_data) must see the training statistics again */
    const char *ds = nn_checkpoint_meta(c, "data_state");
    if (rc == NN_OK && ds && *ds && (rc = nn_data_state_load(s->data, ds, err)))
        nn_error_prefix(err, "%s", path);
    nn_checkpoint_free(c);
    return rc;
}

static int meta_i64(const nn_checkpoint *c, const char *key, int64_t *v)
{
    const char *s = nn_checkpoint_meta(c, key);
    char *end;
    if (!s)
        return -1;
    long long x = strtoll(s, &end, 10);
    if (end == s || *end)
        return -1;
    *v = x;
    return 0;
}

static int meta_f64(const nn_checkpoint *c, const char *key, double *v)
{
    const char *s = nn_checkpoint_meta(c, key);
    char *end;
    if (!s)
        return -1;
    *v = strtod(s, &end);
    return end == s || *end ? -1 : 0;
}

static int resume_from(trainer *t, const char *path, nn_error *err)
{
    nn_session *s = t->s;
    nn_checkpoint *c;
    int rc = nn_checkpoint_read(path, &c, err);
    if (rc)
        return rc;
    const char *fmt = nn_checkpoint_meta(c, "format");
    if (!fmt || strcmp(fmt, CKPT_FORMAT) != 0) {
        nn_checkpoint_free(c);
        return nn_error_set(err, NN_EFORMAT, "%s is not an nntrain training checkpoint (format "
                            "'%s'); it cannot be resumed", path, fmt ? fmt : "none");
    }
    int64_t seed = 0, smp = 0, cor = 0, tk = 0, stall = 0, rising = 0;
    int hp = 0, ho = 0;
    double el = 0;
    if (meta_i64(c, "epoch", &t->epoch) || meta_i64(c, "step_in_epoch", &t->step_in_epoch) ||
        meta_i64(c, "global_step", &t->global_step) || meta_i64(c, "seed", &seed) ||
        meta_f64(c, "best_metric", &t->best) || meta_i64(c, "best_epoch", &t->best_epoch) ||
        meta_i64(c, "bad_epochs", &t->bad_epochs) ||
        meta_f64(c, "epoch_loss_sum", &t->tm.loss_sum) ||
        meta_i64(c, "epoch_samples", &smp) || meta_i64(c, "epoch_correct", &cor) ||
        meta_i64(c, "epoch_topk_correct", &tk) || meta_f64(c, "elapsed_s", &el) ||
        !nn_checkpoint_meta(c, "hints") ||
        sscanf(nn_checkpoint_meta(c, "hints"), "%d %d %la %ld %la %la %ld", &hp, &ho,
               &t->best_train_loss, &stall, &t->prev_train_loss, &t->prev_val_loss,
               &rising) != 7) {
        nn_checkpoint_free(c);
        return nn_error_set(err, NN_EFORMAT, "%s: the training state in __metadata__ is missing "
                            "or malformed", path);
    }
    if ((uint64_t)seed != s->seed) {
        nn_checkpoint_free(c);
        return nn_error_set(err, NN_EINVAL, "%s was trained with seed %lld but this run uses "
                            "%llu; resume with --seed %lld for an exact continuation", path,
                            (long long)seed, (unsigned long long)s->seed, (long long)seed);
    }
    t->tm.samples = smp;
    t->tm.correct = cor;
    t->tm.topk_correct = tk;
    t->train_stall = stall;
    t->rising = rising;
    t->hint_plateau = hp;
    t->hint_overfit = ho;
    t->elapsed_before = el;
    const char *ms = nn_checkpoint_meta(c, "monitor");
    if (ms && strcmp(ms, s->tc.monitor) != 0) { /* the best value is of another metric */
        t->best = NAN;
        t->best_epoch = 0;
        t->bad_epochs = 0;
    }
    for (int i = 0; i < nn_session_tensor_count(s) && rc == NN_OK; i++) {
        nn_tensor *dst = nn_session_tensor(s, i);
        rc = nn_checkpoint_load(c, dst->name, dst, err);
    }
    for (int i = 0; i < nn_optim_tensor_count(s->optim) && rc == NN_OK; i++) {
        const char *nm;
        nn_tensor *ot = nn_optim_tensor(s->optim, i, &nm);
        rc = nn_checkpoint_load(c, nm, ot, err);
    }
    if (rc == NN_OK && nn_checkpoint_meta(c, "optimizer_state"))
        rc = nn_optim_state_load(s->optim, nn_checkpoint_meta(c, "optimizer_state"), err);
    const char *ds = nn_checkpoint_meta(c, "data_state");
    if (rc == NN_OK && ds && *ds)
        rc = nn_data_state_load(s->data, ds, err);
    if (rc)
        nn_error_prefix(err, "resuming from %s", path);
    nn_checkpoint_free(c);
    return rc;
}

/* ---- compute ---- */

static uint64_t step_seed(uint64_t seed, int64_t global_step)
{
    uint64_t x = seed ^ 0xD1B54A32D192ED03ull;
    x = nn_splitmix64(&x) ^ (uint64_t)global_step;
    return nn_splitmix64(&x);
}

static double metric_value(trainer *t, const char *name, double tl, double ta, double vl,
                           double va)
{
    if (strcmp(name, "val_loss") == 0)
        return vl;
    if (strcmp(name, "val_accuracy") == 0)
        return va;
    if (strcmp(name, "loss") == 0)
        return tl;
    if (strcmp(name, "accuracy") == 0)
        return ta;
    if (strcmp(name, "val_top5") == 0)
        return nn_metrics_topk(&t->vm);
    return NAN;
}

static int diagnose(trainer *t, nn_loss_bind *lb, double loss, double gnorm, nn_error *err)
{
    nn_error d = {0};
    const char *what;
    if (!isfinite(loss)) {
        what = "loss";
        if (nn_plan_forward_checked(lb->plan, 1, &d) == NN_OK)
            snprintf(d.msg, sizeof d.msg, "every layer's output is finite, so the loss '%s' "
                     "itself produced %g", t->s->loss_entry->desc->name, loss);
    } else {
        what = "gradient";
        if (nn_plan_check_grads(lb->plan, &d) == NN_OK)
            snprintf(d.msg, sizeof d.msg, "global gradient norm %g", gnorm);
    }
    return nn_error_set(err, NN_ENONFINITE,
                        "the %s became non-finite at epoch %lld, step %lld: %s. Try a lower "
                        "learning rate (now %g) or gradient clipping ([train] clip_norm = 1); "
                        "the last checkpoint was left untouched",
                        what, (long long)t->epoch + 1, (long long)t->step_in_epoch + 1, d.msg,
                        nn_optim_lr(t->s->optim));
}

static int validate(trainer *t, nn_error *err)
{
    nn_metrics_reset(&t->vm);
    if (!t->val_l)
        return NN_OK;
    int rc = nn_loader_start_epoch(t->val_l, 0, 0, err);
    nn_batch *b;
    while (rc == NN_OK && (rc = nn_loader_next(t->val_l, &b, err)) == 1) {
        nn_loss_bind *lb;
        double loss;
        rc = nn_session_step(t->s, b, 0, 0, &lb, &loss, err);
        if (rc == NN_OK)
            nn_metrics_add(&t->vm, nn_plan_output(lb->plan), &lb->target, b->n, loss);
        nn_loader_release(t->val_l, b);
    }
    return rc < 0 ? rc : NN_OK;
}

static void hints(trainer *t, double tl, double vl)
{
    rec x;
    if (!isnan(tl)) {
        if (isnan(t->best_train_loss) || tl < t->best_train_loss * (1 - 1e-3)) {
            t->best_train_loss = tl;
            t->train_stall = 0;
        } else if (++t->train_stall >= t->s->tc.plateau_hint && !t->hint_plateau) {
            t->hint_plateau = 1;
            rec_base(t, &x, NN_EV_HINT);
            snprintf(x.text, sizeof x.text,
                     "the training loss has not improved for %lld epochs (best %.4g): try a "
                     "higher learning rate or a scheduler, and check that inputs and labels "
                     "match", (long long)t->train_stall, t->best_train_loss);
            post(t, &x);
        }
    }
    if (!isnan(vl) && !isnan(t->prev_val_loss)) {
        if (vl > t->prev_val_loss && tl < t->prev_train_loss)
            t->rising++;
        else
            t->rising = 0;
        if (t->rising >= 2 && !t->hint_overfit) {
            t->hint_overfit = 1;
            rec_base(t, &x, NN_EV_HINT);
            snprintf(x.text, sizeof x.text,
                     "the validation loss has risen for %lld epochs while the training loss "
                     "fell: the model is overfitting; consider [train] early_stopping = true, "
                     "dropout or weight decay", (long long)t->rising);
            post(t, &x);
        }
    }
    t->prev_train_loss = tl;
    t->prev_val_loss = vl;
}

static int save_checkpoint(trainer *t, const char *file, char *out, nn_error *err)
{
    int rc = write_checkpoint(t, file, out, err);
    if (rc == NN_OK) {
        rec x;
        rec_base(t, &x, NN_EV_CHECKPOINT);
        snprintf(x.text, sizeof x.text, "%s", out);
        post(t, &x);
    }
    return rc;
}

/* Copies every parameter and state tensor into the best-weights buffer (save = 1) or back. */
static void best_weights(trainer *t, int save)
{
    size_t off = 0;
    for (int i = 0; i < nn_session_tensor_count(t->s); i++) {
        nn_tensor *p = nn_session_tensor(t->s, i);
        char *b = (char *)t->best_copy + off;
        if (save)
            memcpy(b, p->dl.data, nn_tensor_nbytes(p));
        else
            memcpy(p->dl.data, b, nn_tensor_nbytes(p));
        off += nn_tensor_nbytes(p);
    }
}

static int epoch_end(trainer *t, nn_error *err)
{
    nn_session *s = t->s;
    const nn_train_cfg *tc = &s->tc;
    int rc = validate(t, err);
    if (rc)
        return rc;
    double tl = nn_metrics_loss(&t->tm), ta = nn_metrics_accuracy(&t->tm);
    double vl = t->val_l ? nn_metrics_loss(&t->vm) : NAN;
    double va = t->val_l ? nn_metrics_accuracy(&t->vm) : NAN;
    t->r->train_loss = tl;
    t->r->train_acc = ta;
    t->r->val_loss = vl;
    t->r->val_acc = va;
    const char *names[3] = {"val_loss", "val_accuracy", "val_top5"};
    double vals[3] = {vl, va, nn_metrics_topk(&t->vm)};
    if ((rc = nn_optim_epoch_end(s->optim, t->epoch, t->val_l ? 3 : 0, names, vals, err)))
        return rc;

    rec x;
    rec_base(t, &x, NN_EV_EPOCH_END);
    rec_metric(&x, "loss", tl);
    rec_metric(&x, "accuracy", ta);
    char topk[16];
    snprintf(topk, sizeof topk, "top%lld", (long long)tc->top_k);
    rec_metric(&x, topk, nn_metrics_topk(&t->tm));
    rec_metric(&x, "val_loss", vl);
    rec_metric(&x, "val_accuracy", va);
    x.with_params = 1;
    x.ack = 1; /* loggers read the parameters: wait before they change */
    post(t, &x);
    if (t->val_l) {
        rec_base(t, &x, NN_EV_VALIDATION_END);
        rec_metric(&x, "val_loss", vl);
        rec_metric(&x, "val_accuracy", va);
        snprintf(topk, sizeof topk, "val_top%lld", (long long)tc->top_k);
        rec_metric(&x, topk, nn_metrics_topk(&t->vm));
        x.with_confusion = 1;
        x.ack = 1;
        post(t, &x);
    }
    hints(t, tl, vl);

    /* the epoch is complete: from here on a checkpoint describes epoch + 1 */
    t->epoch++;
    t->step_in_epoch = 0;
    nn_metrics_reset(&t->tm);
    t->r->epochs_done = t->epoch;

    double mv = metric_value(t, tc->monitor, tl, ta, vl, va);
    int improved = 0;
    if (!isnan(mv)) {
        double delta = tc->monitor_max ? mv - t->best : t->best - mv;
        improved = isnan(t->best) || delta > tc->min_delta;
        if (improved) {
            t->best = mv;
            t->best_epoch = t->epoch;
            t->bad_epochs = 0;
            if (t->best_copy)
                best_weights(t, 1);
        } else {
            t->bad_epochs++;
        }
    }
    int last = t->epoch >= tc->epochs;
    int stop_early = tc->early_stopping && t->bad_epochs >= tc->patience;
    if ((tc->checkpoint_every > 0 && t->epoch % tc->checkpoint_every == 0) || last || stop_early)
        if ((rc = save_checkpoint(t, "last.safetensors", t->r->last_ckpt, err)))
            return rc;
    if (improved && (rc = save_checkpoint(t, "best.safetensors", t->r->best_ckpt, err)))
        return rc;
    if (stop_early) {
        t->r->end = NN_END_EARLY_STOP;
        rec_base(t, &x, NN_EV_HINT);
        snprintf(x.text, sizeof x.text, "early stopping: %s has not improved for %lld epochs "
                 "(best %.4g at epoch %lld)%s", tc->monitor, (long long)t->bad_epochs, t->best,
                 (long long)t->best_epoch,
                 tc->restore_best ? "; the best weights are restored" : "");
        post(t, &x);
        if (tc->restore_best && t->best_copy)
            best_weights(t, 0);
    }
    t->r->best_metric = t->best;
    t->r->best_epoch = t->best_epoch;
    return NN_OK;
}

static int train_epochs(trainer *t, nn_error *err)
{
    nn_session *s = t->s;
    int rc = NN_OK;
    while (t->epoch < s->tc.epochs && t->r->end == NN_END_COMPLETED) {
        rc = nn_loader_start_epoch(t->train_l, t->epoch, t->step_in_epoch, err);
        if (rc)
            return rc;
        clock_gettime(CLOCK_MONOTONIC, &t->epoch_t0);
        t->epoch_samples = 0;
        rec x;
        if (t->step_in_epoch == 0) {
            rec_base(t, &x, NN_EV_EPOCH_BEGIN);
            post(t, &x);
        }
        nn_batch *b;
        while ((rc = nn_loader_next(t->train_l, &b, err)) == 1) {
            nn_loss_bind *lb;
            double loss = NAN, gnorm = NAN;
            rc = nn_session_step(s, b, 1, step_seed(s->seed, t->global_step), &lb, &loss, err);
            if (rc == NN_OK && !isfinite(loss))
                rc = diagnose(t, lb, loss, gnorm, err);
            if (rc == NN_OK) {
                nn_metrics_add(&t->tm, nn_plan_output(lb->plan), &lb->target, b->n, loss);
                rc = nn_optim_update(s->optim, 1, &gnorm, err);
                if (rc == NN_OK && !isfinite(gnorm))
                    rc = diagnose(t, lb, loss, gnorm, err);
            }
            nn_loader_release(t->train_l, b);
            if (rc)
                return rc;
            t->global_step++;
            t->step_in_epoch++;
            t->epoch_samples += b->n;
            rec_base(t, &x, NN_EV_BATCH_END);
            x.step = t->step_in_epoch - 1; /* 0-based index of the step just done */
            x.grad_norm = gnorm;
            rec_metric(&x, "loss", loss);
            rec_metric(&x, "accuracy", nn_metrics_accuracy(&t->tm));
            post(t, &x);
            int sig = atomic_load(&t->stop_signal);
            if (sig != 0) {
                if (sig > 0) {
                    t->r->end = NN_END_SIGNAL;
                    t->r->signal = sig;
                    return save_checkpoint(t, "last.safetensors", t->r->last_ckpt, err);
                }
                return t->rc ? t->rc : NN_ECANCELED;
            }
            if (atomic_exchange(&t->ckpt_due, 0) &&
                (rc = save_checkpoint(t, "last.safetensors", t->r->last_ckpt, err)))
                return rc;
        }
        if (rc < 0)
            return rc;
        if ((rc = epoch_end(t, err)))
            return rc;
    }
    return NN_OK;
}

static void compute_main(void *arg)
{
    trainer *t = arg;
    nn_error err = {0};
    int rc = train_epochs(t, &err);
    if (rc && t->rc == NN_OK) {
        t->rc = rc;
        t->err = err;
    }
    if (rc == NN_ENONFINITE) {
        t->r->end = NN_END_NONFINITE;
        rec x;
        rec_base(t, &x, NN_EV_NONFINITE);
        snprintf(x.text, sizeof x.text, "%s", err.msg);
        post(t, &x);
    } else if (rc) {
        t->r->end = NN_END_ERROR;
    }
    rec x;
    rec_base(t, &x, NN_EV_TRAIN_END);
    static const char *const why[] = {"completed", "early stopping", "interrupted",
                                      "non-finite value", "error"};
    snprintf(x.text, sizeof x.text, "%s", why[t->r->end]);
    rec_metric(&x, "loss", t->r->train_loss);
    rec_metric(&x, "accuracy", t->r->train_acc);
    rec_metric(&x, "val_loss", t->r->val_loss);
    rec_metric(&x, "val_accuracy", t->r->val_acc);
    post(t, &x);
    atomic_store(&t->done, 1);
    uv_async_send(&t->async);
}

static void loop_main(void *arg)
{
    trainer *t = arg;
    uv_run(&t->loop, UV_RUN_DEFAULT);
}

static int open_loaders(trainer *t, nn_error *err)
{
    nn_session *s = t->s;
    nn_loader_opts lo = {
        .batch_size = s->tc.batch_size,
        .shuffle = s->tc.shuffle,
        .drop_last = s->tc.drop_last,
        .prefetch = (int)s->tc.prefetch,
        .workers = (int)s->tc.workers,
        .augment = 1,
    };
    int rc = nn_loader_new(s->data, NN_PART_TRAIN, &lo, &t->train_l, err);
    if (rc)
        return rc;
    t->steps_per_epoch = nn_loader_batches(t->train_l);
    if (t->steps_per_epoch == 0)
        return nn_error_set(err, NN_EINVAL, "%s: the training part is empty (batch_size %lld, "
                            "drop_last %s)", nn_config_path(s->cfg), (long long)s->tc.batch_size,
                            s->tc.drop_last ? "true" : "false");
    if (nn_data_size(s->data, NN_PART_VAL) > 0) {
        lo.shuffle = 0;
        lo.drop_last = 0;
        lo.augment = 0;
        if ((rc = nn_loader_new(s->data, NN_PART_VAL, &lo, &t->val_l, err)))
            return rc;
    }
    return NN_OK;
}

int nn_train_run(nn_session *s, const nn_train_opts *o, nn_train_result *r, nn_error *err)
{
    memset(r, 0, sizeof *r);
    r->best_metric = NAN;
    trainer *t = calloc(1, sizeof *t);
    if (!t)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    t->s = s;
    t->o = o;
    t->r = r;
    t->best = NAN;
    t->best_train_loss = t->prev_train_loss = t->prev_val_loss = NAN;
    clock_gettime(CLOCK_MONOTONIC, &t->t0);
    t->epoch_t0 = t->t0;
    int rc = open_loaders(t, err);
    if (rc == NN_OK)
        rc = nn_session_optim(s, t->steps_per_epoch, err);
    int nc = nn_data_info(s->data)->n_classes;
    if (rc == NN_OK && (nn_metrics_init(&t->tm, nc, (int)s->tc.top_k, 0) ||
                        nn_metrics_init(&t->vm, nc, (int)s->tc.top_k, 1)))
        rc = nn_error_set(err, NN_ENOMEM, "out of memory");
    if (rc == NN_OK && o->resume) {
        char auto_path[600];
        const char *path = o->resume;
        struct stat st;
        if (strcmp(o->resume, "auto") == 0) {
            snprintf(auto_path, sizeof auto_path, "%s/last.safetensors", s->run_dir);
            path = stat(auto_path, &st) == 0 ? auto_path : NULL;
            if (!path)
                fprintf(stderr, "nntrain: --resume auto: no %s yet; starting from scratch\n",
                        auto_path);
        }
        if (path)
            rc = resume_from(t, path, err);
    }
    /* parameters and gradients for histograms, and room for the best weights */
    int np = nn_model_param_count(s->model);
    t->hist_params = calloc((size_t)np + 1, sizeof *t->hist_params);
    t->hist_grads = calloc((size_t)np + 1, sizeof *t->hist_grads);
    for (int i = 0; rc == NN_OK && t->hist_params && t->hist_grads && i < np; i++) {
        nn_tensor *g;
        t->hist_params[i] = nn_model_param(s->model, i, &g, NULL, NULL, NULL);
        t->hist_grads[i] = g;
    }
    t->n_hist = np;
    for (int i = 0; i < nn_session_tensor_count(s); i++)
        t->best_bytes += nn_tensor_nbytes(nn_session_tensor(s, i));
    if (rc == NN_OK && s->tc.early_stopping && s->tc.restore_best) {
        t->best_copy = malloc(t->best_bytes + 1);
        if (!t->best_copy)
            rc = nn_error_set(err, NN_ENOMEM, "out of memory");
    }
    t->ring = calloc(RING, sizeof *t->ring);
    if (rc == NN_OK && (!t->ring || !t->hist_params || !t->hist_grads))
        rc = nn_error_set(err, NN_ENOMEM, "out of memory");
    if (rc == NN_OK) {
        nn_logger_open lo = {
            .struct_size = sizeof lo,
            .run_dir = s->run_dir,
            .run_name = strrchr(s->run_dir, '/') ? strrchr(s->run_dir, '/') + 1 : s->run_dir,
            .config_path = nn_config_path(s->cfg),
            .config_text = nn_config_text(s->cfg),
            .is_tty = isatty(STDOUT_FILENO),
            .verbosity = o->verbosity,
        };
        rc = nn_loggers_open(s->reg, s->cfg, &lo, s->tc.strict_loggers, &t->loggers, err);
    }
    if (rc == NN_OK) {
        /* the model file as this run used it, next to its checkpoints */
        char path[PATH_MAX + 16];
        snprintf(path, sizeof path, "%s/model.ini", s->run_dir);
        FILE *f = fopen(path, "w");
        if (!f || fputs(nn_config_text(s->cfg), f) < 0)
            rc = nn_error_set(err, NN_EIO, "cannot write %s", path);
        if (f && fclose(f) != 0 && rc == NN_OK)
            rc = nn_error_set(err, NN_EIO, "cannot write %s", path);
    }
    if (rc == NN_OK) {
        uv_loop_init(&t->loop);
        uv_mutex_init(&t->mu);
        uv_cond_init(&t->cv);
        uv_async_init(&t->loop, &t->async, on_async);
        t->async.data = t;
        uv_timer_init(&t->loop, &t->progress);
        t->progress.data = t;
        int hz = o->progress_hz > 0 ? o->progress_hz : 10;
        uv_timer_start(&t->progress, on_progress, (uint64_t)(1000 / hz), (uint64_t)(1000 / hz));
        uv_timer_init(&t->loop, &t->ckpt_timer);
        t->ckpt_timer.data = t;
        if (s->tc.checkpoint_minutes > 0) {
            uint64_t ms = (uint64_t)(s->tc.checkpoint_minutes * 60000.0);
            uv_timer_start(&t->ckpt_timer, on_ckpt_timer, ms ? ms : 1, ms ? ms : 1);
        }
        if (o->handle_signals) {
            uv_signal_init(&t->loop, &t->sig_int);
            uv_signal_init(&t->loop, &t->sig_term);
            t->sig_int.data = t->sig_term.data = t;
            uv_signal_start(&t->sig_int, on_signal, SIGINT);
            uv_signal_start(&t->sig_term, on_signal, SIGTERM);
        }
        rec x;
        rec_base(t, &x, NN_EV_TRAIN_BEGIN);
        deliver(t, &x);
        /* compute stays on the calling thread, where the session was built: oneDNN keeps
         * per-thread state (scratchpads) that must outlive the primitives using it, and
         * eval after training runs here too. The loop gets its own thread. */
        if (uv_thread_create(&t->thread, loop_main, t) != 0) {
            rc = nn_error_set(err, NN_EINTERNAL, "cannot start the event-loop thread");
            atomic_store(&t->done, 1); /* close the handles on this thread instead */
            uv_async_send(&t->async);
            uv_run(&t->loop, UV_RUN_DEFAULT);
        } else {
            compute_main(t);
            uv_thread_join(&t->thread);
            rc = t->rc;
            if (rc)
                *err = t->err;
        }
        uv_loop_close(&t->loop);
        uv_mutex_destroy(&t->mu);
        uv_cond_destroy(&t->cv);
    }
    nn_loggers_close(t->loggers);
    r->wall_s = now_s(&t->t0);
    if (t->train_l) {
        r->wait_fraction = nn_loader_wait_fraction(t->train_l);
        r->wait_s = nn_loader_wait_seconds(t->train_l);
    }
    nn_loader_free(t->train_l);
    nn_loader_free(t->val_l);
    nn_metrics_free(&t->tm);
    nn_metrics_free(&t->vm);
    free(t->hist_params);
    free(t->hist_grads);
    free(t->best_copy);
    free(t->ring);
    free(t);
    return rc;
}
