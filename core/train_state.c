/* train_state.c: a run's training state in and out of checkpoints: what is written (tensors
 * and every counter needed for an exact continuation), and what resuming accepts. It refuses
 * rather than guesses: unknown tensors, non-finite weights, malformed counters and model-file
 * changes that would alter the trained function are errors naming what is wrong. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint.h"
#include "dist.h"
#include "signals.h"
#include "train_state.h"
#include "trainer_internal.h"
#include "version.h"

static void hexd(char *buf, size_t cap, double v) { snprintf(buf, cap, "%a", v); }

static void shape_text(char *buf, size_t cap, const nn_tensor *t)
{
    size_t used = 0;
    buf[0] = 0;
    for (int d = 0; d < t->dl.ndim && used < cap; d++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%lld", d ? "," : "",
                                 (long long)t->shape[d]);
}

int nn_tr_save(nn_trainer *t, const char *file, char *out_path, nn_error *err)
{
    nn_session *s = t->s;
    if (nn_dist_rank(s->dist) != 0) { /* only rank 0 writes the run directory */
        snprintf(out_path, sizeof t->r->last_ckpt, "%s/%s", s->run_dir, file);
        return NN_OK;
    }
    /* the logs hold every record up to this checkpoint before it exists: a crash after it,
     * then a resume, loses no row (mid-epoch checkpoints as at epoch ends) */
    nn_tr_flush_loggers(t);
    int np = nn_session_tensor_count(s);
    int no = nn_optim_tensor_count(s->optim);
    nn_ckpt_entry *e = calloc((size_t)(np + no) + 1, sizeof *e);
    char *ostate = NULL, *dstate = NULL;
    int rc = NN_OK, n = 0;
    if (!e) {
        rc = nn_error_set(err, NN_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = nn_session_to_host(s, err)))
        goto out;
    for (int i = 0; i < np; i++, n++) {
        e[n].t = nn_session_host_tensor(s, i);
        e[n].name = e[n].t->name;
    }
    for (int i = 0; i < no; i++, n++)
        e[n].t = nn_optim_host_tensor(s->optim, i, &e[n].name);
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
    char ep[32], st[32], gs[32], bs[32], seed[32], best[48], bep[32], bad[32], ls[48], smp[32],
        cor[32], tk[32], el[48], hints[256], ishape[128], bfig[200], lr[48];
    snprintf(ep, sizeof ep, "%lld", (long long)t->epoch);
    snprintf(st, sizeof st, "%lld", (long long)t->step_in_epoch);
    snprintf(gs, sizeof gs, "%lld", (long long)t->global_step);
    snprintf(bs, sizeof bs, "%lld", (long long)t->batches_seen);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)s->seed);
    hexd(best, sizeof best, t->best);
    snprintf(bep, sizeof bep, "%lld", (long long)t->best_epoch);
    snprintf(bad, sizeof bad, "%lld", (long long)t->bad_epochs);
    hexd(ls, sizeof ls, t->tm.loss_sum);
    snprintf(smp, sizeof smp, "%lld", (long long)t->tm.samples);
    snprintf(cor, sizeof cor, "%lld", (long long)t->tm.correct);
    snprintf(tk, sizeof tk, "%lld", (long long)t->tm.topk_correct);
    hexd(el, sizeof el, t->elapsed_before + nn_tr_seconds(&t->t0));
    hexd(lr, sizeof lr, t->epoch_lr);
    snprintf(hints, sizeof hints, "%d %d %a %lld %a %a %lld", t->hint_plateau, t->hint_overfit,
             t->best_train_loss, (long long)t->train_stall, t->prev_train_loss,
             t->prev_val_loss, (long long)t->rising);
    shape_text(ishape, sizeof ishape, &nn_data_info(s->data)->sample);
    const double *bf = t->best_figures;
    snprintf(bfig, sizeof bfig, "%a %a %a %a", bf[0], bf[1], bf[2], bf[3]);
    nn_ckpt_meta meta[] = {
        {"format", NN_CKPT_FORMAT},
        {"nntrain_version", NNTRAIN_VERSION},
        {"epoch", ep},
        {"step_in_epoch", st},
        {"global_step", gs},
        {"batches_seen", bs},
        {"seed", seed},
        {"monitor", s->tc.monitor},
        {"best_metric", best},
        {"best_epoch", bep},
        {"bad_epochs", bad},
        {"best_figures", bfig},
        {"epoch_loss_sum", ls},
        {"epoch_samples", smp},
        {"epoch_correct", cor},
        {"epoch_topk_correct", tk},
        {"elapsed_s", el},
        {"last_lr", lr},
        {"hints", hints},
        {"input_shape", ishape},
        {"optimizer_state", ostate},
        {"data_state", dstate},
        {"model_config", nn_config_text(s->cfg)},
    };
    snprintf(out_path, sizeof t->r->last_ckpt, "%s/%s", s->run_dir, file);
    /* a second Ctrl-C waits for the rename: the file is either the old one or the new one */
    nn_signals_critical_begin();
    rc = nn_checkpoint_write(out_path, e, n, meta, (int)(sizeof meta / sizeof *meta), err);
    nn_signals_critical_end();
    if (rc == NN_OK) {
        nn_tr_rec x;
        nn_tr_rec_base(t, &x, NN_EV_CHECKPOINT);
        snprintf(x.text, sizeof x.text, "%s", out_path);
        nn_tr_post(t, &x);
    }
out:
    free(e);
    free(ostate);
    free(dstate);
    return rc;
}

/* ---- reading ---- */

/* strict decimal integer in [lo, hi]; -1 when absent or malformed */
static int meta_i64(const nn_checkpoint *c, const char *key, int64_t lo, int64_t hi,
                    int64_t *v)
{
    const char *s = nn_checkpoint_meta(c, key);
    char *end;
    if (!s || !*s)
        return -1;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (end == s || *end || errno == ERANGE || x < lo || x > hi)
        return -1;
    *v = x;
    return 0;
}

static int meta_f64(const nn_checkpoint *c, const char *key, double *v)
{
    const char *s = nn_checkpoint_meta(c, key);
    char *end;
    if (!s || !*s)
        return -1;
    *v = strtod(s, &end);
    return end == s || *end ? -1 : 0;
}

#define COUNT_MAX INT64_C(4611686018427387904) /* 2^62: no run gets near it */

int nn_ckpt_check_tensors(const nn_checkpoint *c, const char *path, nn_session *s,
                          int with_optim, int allow_nonfinite, nn_error *err)
{
    /* every tensor in the file must be one this model (or its optimizer) has */
    for (int i = 0; i < nn_checkpoint_count(c); i++) {
        const char *name = nn_checkpoint_name(c, i);
        int known = 0;
        for (int k = 0; k < nn_session_tensor_count(s) && !known; k++)
            known = strcmp(nn_session_tensor(s, k)->name, name) == 0;
        if (!known && strncmp(name, "optim.", 6) == 0) {
            if (!with_optim)
                known = 1; /* eval/predict: the optimizer's slots are not needed */
            for (int k = 0; with_optim && k < nn_optim_tensor_count(s->optim) && !known; k++) {
                const char *on;
                nn_optim_tensor(s->optim, k, &on);
                known = strcmp(on, name) == 0;
            }
        }
        if (!known && strncmp(name, "optim.", 6) != 0)
            return nn_error_set(err, NN_EINVAL, "%s: tensor '%s' is not part of this model; "
                                "the checkpoint belongs to another model file", path, name);
        if (!known) { /* the optimizer's state: another model, or another plugin's names */
            char have[300] = "";
            size_t used = 0;
            for (int k = 0; k < nn_optim_tensor_count(s->optim) && k < 4 && used < sizeof have;
                 k++) {
                const char *on;
                nn_optim_tensor(s->optim, k, &on);
                used += (size_t)snprintf(have + used, sizeof have - used, "%s'%s'",
                                         k ? ", " : "", on);
            }
            return nn_error_set(err, NN_EINVAL, "%s: tensor '%s' is not part of this run's "
                                "optimizer state (%s%s%s); the checkpoint belongs to another "
                                "model file, or its optimizer plugin names its state otherwise "
                                "(a device's pack may: `nntrain devices test` compares the "
                                "names)", path, name, have[0] ? "it has " : "none",
                                have, nn_optim_tensor_count(s->optim) > 4 ? ", ..." : "");
        }
    }
    if (allow_nonfinite)
        return NN_OK;
    for (int i = 0; i < nn_checkpoint_count(c); i++) {
        const nn_tensor *v = nn_checkpoint_tensor(c, nn_checkpoint_name(c, i));
        if (nn_tensor_dtype(v) != NN_F32)
            continue;
        const char *p = (const char *)v->dl.data;
        for (int64_t k = 0, m = nn_tensor_numel(v); k < m; k++) {
            float x;
            memcpy(&x, p + 4 * k, 4); /* the view may be unaligned */
            if (!isfinite(x))
                return nn_error_set(err, NN_EINVAL, "%s: tensor '%s' holds %g at element "
                                    "%lld: the weights are not usable (--allow-nonfinite "
                                    "loads them anyway, for forensics)", path, v->name,
                                    (double)x, (long long)k);
        }
    }
    return NN_OK;
}

int nn_ckpt_check_input(const nn_checkpoint *c, const char *path, nn_session *s,
                        nn_error *err)
{
    const char *want = nn_checkpoint_meta(c, "input_shape");
    if (!want)
        return NN_OK; /* written before 0.4: the parameter shapes are checked on load */
    char have[128];
    shape_text(have, sizeof have, &nn_data_info(s->data)->sample);
    if (strcmp(want, have) != 0)
        return nn_error_set(err, NN_ESHAPE, "%s was trained on samples of shape [%s] but the "
                            "data gives samples of shape [%s]; the model cannot be applied to "
                            "them (check the [data] files, or resize the inputs)", path, want,
                            have);
    return NN_OK;
}

static int load_model_tensors(nn_session *s, const nn_checkpoint *c, const char *path,
                              nn_error *err)
{
    int rc = NN_OK;
    for (int i = 0; i < nn_session_tensor_count(s) && rc == NN_OK; i++) {
        nn_tensor *dst = nn_session_host_tensor(s, i);
        if ((rc = nn_checkpoint_load(c, dst->name, dst, err)))
            nn_error_prefix(err, "%s", path);
    }
    return rc ? rc : nn_session_to_device(s, err);
}

int nn_train_load_weights(nn_session *s, const char *path, int allow_nonfinite, nn_error *err)
{
    nn_checkpoint *c;
    int rc = nn_checkpoint_read(path, &c, err);
    if (rc)
        return rc;
    if ((rc = nn_ckpt_check_input(c, path, s, err)) == NN_OK &&
        (rc = nn_ckpt_check_tensors(c, path, s, 0, allow_nonfinite, err)) == NN_OK)
        rc = load_model_tensors(s, c, path, err);
    if (meta_i64(c, "epoch", 0, COUNT_MAX, &s->weights_epoch))
        s->weights_epoch = -1;
    if (meta_i64(c, "global_step", 0, COUNT_MAX, &s->weights_step))
        s->weights_step = -1;
    /* fitted transforms (normalize from_data) must see the training statistics again */
    const char *ds = nn_checkpoint_meta(c, "data_state");
    if (rc == NN_OK && ds && *ds && (rc = nn_data_state_load(s->data, ds, err)))
        nn_error_prefix(err, "%s", path);
    nn_checkpoint_free(c);
    return rc;
}

/* restore_best after a resume needs the best epoch's weights: best.safetensors beside the
 * checkpoint holds them, and they go into the best-weights buffer (the checkpoint's own weights
 * are loaded after). A best.safetensors of an epoch after the checkpoint's (checkpoint_every > 1,
 * or a stop between the two writes) is left alone: the run replays that epoch and keeps its
 * weights again. Any other mismatch is refused, or restoring would put back other weights. */
static int hold_best(nn_trainer *t, const char *from, nn_error *err)
{
    char bp[PATH_MAX];
    const char *slash = strrchr(from, '/');
    snprintf(bp, sizeof bp, "%.*sbest.safetensors", slash ? (int)(slash - from + 1) : 0, from);
    nn_checkpoint *c = NULL;
    int64_t ep = -1;
    int rc = nn_tr_checkpoint_read(t, bp, &c, err);
    if (rc == NN_OK && meta_i64(c, "epoch", 0, COUNT_MAX, &ep))
        rc = nn_error_set(err, NN_EFORMAT, "%s: __metadata__ entry 'epoch' is missing or "
                          "malformed", bp);
    if (rc == NN_OK && ep > t->epoch) {
        nn_checkpoint_free(c);
        return NN_OK;
    }
    if (rc == NN_OK && ep != t->best_epoch)
        rc = nn_error_set(err, NN_EINVAL, "%s holds epoch %lld, but %s says the best epoch "
                          "was %lld", bp, (long long)ep, from, (long long)t->best_epoch);
    int64_t gs;
    if (rc == NN_OK && meta_i64(c, "global_step", 0, COUNT_MAX, &gs) == 0)
        t->best_global_step = gs; /* what a restored model's test record says */
    if (rc == NN_OK)
        rc = nn_ckpt_check_tensors(c, bp, t->s, 1, t->o->allow_nonfinite, err);
    if (rc == NN_OK)
        rc = load_model_tensors(t->s, c, bp, err);
    if (rc == NN_OK)
        rc = nn_tr_best_weights(t, 1, err);
    nn_checkpoint_free(c);
    if (rc) {
        char why[NN_ERROR_MSG_MAX];
        snprintf(why, sizeof why, "%s", err->msg);
        nn_error_set(err, rc, "[train] restore_best = true needs the weights of the best epoch "
                     "(%lld) to restore after early stopping: %s; put the run's best.safetensors "
                     "back, or resume with --set train.restore_best=false",
                     (long long)t->best_epoch, why);
    }
    return rc;
}

/* ---- what resuming accepts ---- */

typedef struct resume_counts {
    int64_t epoch, step, gstep, best_epoch, bad, samples, correct, topk, stall, rising;
    double best, lsum, el, lr, btl, ptl, pvl;
    int hp, ho;
} resume_counts;

/* "FILE: __metadata__ entry 'KEY' = 'VALUE' WHY", quoting the checkpoint's own text */
static int bad_entry(nn_error *err, const nn_checkpoint *c, const char *path, const char *key,
                     const char *fmt, ...)
{
    char why[480];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    const char *raw = nn_checkpoint_meta(c, key);
    return nn_error_set(err, NN_EINVAL, "%s: __metadata__ entry '%s' = '%.40s' %s", path, key,
                        raw ? raw : "", why);
}

/* The counters describe one point of one run: each is checked against the others and against
 * this run (its epochs, training part and batch size, which the model-file check has shown to
 * be the checkpoint's wherever they matter), so an edited or damaged file is refused by name
 * rather than trained on from a state no run reaches. Where a bound depends on the run's
 * history (batch sizes changed at earlier resumes) it is the loosest any history allows. */
static int check_counts(const nn_trainer *t, const nn_checkpoint *c, const char *path,
                        const resume_counts *k, nn_error *err)
{
    const nn_train_cfg *tc = &t->s->tc;
    const long long E = tc->epochs, ep = k->epoch, st = k->step;
    if (ep > E)
        return bad_entry(err, c, path, "epoch", "is beyond this run's [train] epochs = %lld: "
                         "the checkpoint was written after epoch %lld, past the end of this "
                         "run; set epochs above %lld to train longer (--set train.epochs=N), "
                         "or evaluate it with `nntrain eval`", E, ep, ep);
    if (ep == E && st > 0)
        return bad_entry(err, c, path, "step_in_epoch", "at 'epoch' = %lld is inside epoch "
                         "%lld, beyond this run's [train] epochs = %lld: expected 0 there; set "
                         "epochs above %lld to finish that epoch (--set train.epochs=N)", ep,
                         ep + 1, E, E);
    if (st > t->steps_per_epoch)
        return bad_entry(err, c, path, "step_in_epoch", "is beyond an epoch of this run, which "
                         "has %lld batches (batch_size %lld): expected at most %lld; resume "
                         "with the batch_size and data it was trained with",
                         (long long)t->steps_per_epoch, (long long)tc->batch_size,
                         (long long)t->steps_per_epoch);
    /* every epoch makes at least one optimizer step and at most one a training sample */
    const int64_t n = nn_data_size(t->s->data, NN_PART_TRAIN), here = nn_tr_steps(t, st);
    const int64_t lo = ep + here,
                  hi = n > 0 && ep > (COUNT_MAX - here) / n ? COUNT_MAX : ep * n + here;
    if (k->gstep < lo || k->gstep > hi)
        return bad_entry(err, c, path, "global_step", "does not follow from 'epoch' = %lld and "
                         "'step_in_epoch' = %lld: %lld whole epochs (1 to %lld steps each, the "
                         "training part having %lld samples) and %lld steps make between %lld "
                         "and %lld optimizer steps", ep, st, ep, (long long)n, (long long)n,
                         (long long)here, (long long)lo, (long long)hi);
    if (k->best_epoch > ep)
        return bad_entry(err, c, path, "best_epoch", "is after 'epoch' = %lld: expected a best "
                         "epoch in [0, %lld]", ep, ep);
    if (k->best_epoch > 0 && !isfinite(k->best))
        return bad_entry(err, c, path, "best_metric", "but 'best_epoch' = %lld says it was "
                         "measured: expected a finite value", (long long)k->best_epoch);
    if (k->best_epoch == 0 && !isnan(k->best))
        return bad_entry(err, c, path, "best_metric", "but 'best_epoch' = 0 says none was "
                         "measured yet: expected nan");
    if (k->bad > ep - k->best_epoch)
        return bad_entry(err, c, path, "bad_epochs", "is more than the %lld epochs after "
                         "'best_epoch' = %lld of 'epoch' = %lld: expected at most %lld",
                         ep - (long long)k->best_epoch, (long long)k->best_epoch, ep,
                         ep - (long long)k->best_epoch);
    /* the running figures of the epoch in progress: each batch has 1 to batch_size rows */
    const int64_t smax = st > COUNT_MAX / tc->batch_size ? COUNT_MAX : st * tc->batch_size;
    if (k->samples < st || k->samples > smax)
        return bad_entry(err, c, path, "epoch_samples", "does not follow from 'step_in_epoch' "
                         "= %lld batches of batch_size %lld: expected between %lld and %lld",
                         st, (long long)tc->batch_size, st, (long long)smax);
    if (k->correct > k->samples)
        return bad_entry(err, c, path, "epoch_correct", "is more than 'epoch_samples' = %lld: "
                         "expected at most %lld", (long long)k->samples, (long long)k->samples);
    if (k->topk > k->samples)
        return bad_entry(err, c, path, "epoch_topk_correct", "is more than 'epoch_samples' = "
                         "%lld: expected at most %lld", (long long)k->samples,
                         (long long)k->samples);
    if (!isfinite(k->lsum) || (k->samples == 0 && k->lsum != 0))
        return bad_entry(err, c, path, "epoch_loss_sum", "is not the loss summed over "
                         "'epoch_samples' = %lld rows: expected a finite number%s",
                         (long long)k->samples, k->samples ? "" : ", 0 for none");
    if (!isfinite(k->el) || k->el < 0)
        return bad_entry(err, c, path, "elapsed_s", "is not a training time: expected a finite "
                         "number of seconds, 0 or more");
    if (nn_checkpoint_meta(c, "last_lr") && !(isfinite(k->lr) && k->lr >= 0))
        return bad_entry(err, c, path, "last_lr", "is not a learning rate: expected a finite "
                         "number, 0 or more");
    if (k->hp < 0 || k->hp > 1 || k->ho < 0 || k->ho > 1 || k->stall > ep ||
        k->rising > ep || isinf(k->btl) || isinf(k->ptl) || isinf(k->pvl))
        return bad_entry(err, c, path, "hints", "is not the advice state of %lld epochs: "
                         "expected two flags (0 or 1), the best training loss, epochs without "
                         "improvement (at most %lld), the last training and validation "
                         "losses and epochs of rising validation loss (at most %lld)", ep, ep,
                         ep);
    return NN_OK;
}

/* The best value, epoch and best.safetensors are of the checkpoint's monitor: another one
 * would compare other numbers with them and replace best.safetensors by another metric's
 * best. Refused while there is a best to lose; before any, the new monitor simply applies. */
static int check_monitor(const nn_trainer *t, const nn_checkpoint *c, const char *path,
                         int64_t best_epoch, nn_error *err)
{
    const char *ms = nn_checkpoint_meta(c, "monitor"), *now = t->s->tc.monitor;
    if (!ms || strcmp(ms, now) == 0 || best_epoch == 0)
        return NN_OK;
    return bad_entry(err, c, path, "monitor", "but this run's [train] monitor = '%s': the "
                     "checkpoint's best value (epoch %lld) and best.safetensors are of '%.40s'; "
                     "resume with --set train.monitor=%.40s, or start a new run (--run-dir) to "
                     "monitor %s", now, (long long)best_epoch, ms, ms, now);
}

int nn_tr_resume(nn_trainer *t, const char *path, nn_error *err)
{
    nn_session *s = t->s;
    nn_checkpoint *c;
    int rc = nn_tr_checkpoint_read(t, path, &c, err);
    if (rc)
        return rc;
    const char *fmt = nn_checkpoint_meta(c, "format");
    if (!fmt || strcmp(fmt, NN_CKPT_FORMAT) != 0) {
        /* the message quotes the checkpoint's own text: made before c is freed */
        rc = nn_error_set(err, NN_EFORMAT, "%s is not an nntrain training checkpoint (format "
                          "'%.60s', expected '%s'); it cannot be resumed", path,
                          fmt ? fmt : "none", NN_CKPT_FORMAT);
        nn_checkpoint_free(c);
        return rc;
    }
    static const struct {
        const char *key;
        int64_t hi;
    } counts[] = {{"epoch", COUNT_MAX},         {"step_in_epoch", COUNT_MAX},
                  {"global_step", COUNT_MAX},   {"seed", INT64_MAX},
                  {"best_epoch", COUNT_MAX},    {"bad_epochs", COUNT_MAX},
                  {"epoch_samples", COUNT_MAX}, {"epoch_correct", COUNT_MAX},
                  {"epoch_topk_correct", COUNT_MAX}};
    int64_t v[9];
    for (int i = 0; i < 9; i++)
        if (meta_i64(c, counts[i].key, 0, counts[i].hi, &v[i])) {
            const char *raw = nn_checkpoint_meta(c, counts[i].key);
            nn_error_set(err, NN_EFORMAT, "%s: __metadata__ entry '%s' = '%.40s' is %s: "
                         "expected a whole number in [0, %lld]", path, counts[i].key,
                         raw ? raw : "", raw ? "malformed or out of range" : "missing",
                         (long long)counts[i].hi);
            nn_checkpoint_free(c);
            return NN_EFORMAT;
        }
    int64_t seed = v[3], stall = 0, rising = 0;
    int hp = 0, ho = 0;
    double el = 0, best = NAN, lsum = 0, btl = NAN, ptl = NAN, pvl = NAN;
    const char *hs = nn_checkpoint_meta(c, "hints");
    long long stall_ll = 0, rising_ll = 0;
    if (meta_f64(c, "best_metric", &best) || meta_f64(c, "epoch_loss_sum", &lsum) ||
        meta_f64(c, "elapsed_s", &el) || !hs ||
        sscanf(hs, "%d %d %la %lld %la %la %lld", &hp, &ho, &btl, &stall_ll, &ptl, &pvl,
               &rising_ll) != 7 || stall_ll < 0 || rising_ll < 0) {
        nn_checkpoint_free(c);
        return nn_error_set(err, NN_EFORMAT, "%s: the training state in __metadata__ (best_metric, "
                            "epoch_loss_sum, elapsed_s, hints) is missing or malformed", path);
    }
    stall = stall_ll;
    rising = rising_ll;
    resume_counts k = {.epoch = v[0], .step = v[1], .gstep = v[2], .best_epoch = v[4],
                       .bad = v[5], .samples = v[6], .correct = v[7], .topk = v[8],
                       .stall = stall, .rising = rising, .best = best, .lsum = lsum, .el = el,
                       .lr = NAN, .btl = btl, .ptl = ptl, .pvl = pvl, .hp = hp, .ho = ho};
    /* absent from older checkpoints */
    if (nn_checkpoint_meta(c, "last_lr") && meta_f64(c, "last_lr", &k.lr) != 0) {
        rc = bad_entry(err, c, path, "last_lr", "is malformed: expected a number");
        nn_checkpoint_free(c);
        return rc;
    }
    const char *old_cfg = nn_checkpoint_meta(c, "model_config");
    /* the monitor before the model-file comparison, which would report it as applied */
    if ((rc = check_monitor(t, c, path, k.best_epoch, err)) ||
        (rc = nn_ckpt_check_input(c, path, s, err)) ||
        (rc = nn_ckpt_check_tensors(c, path, s, 1, t->o->allow_nonfinite, err)) ||
        (old_cfg && (rc = nn_resume_config_diff(s, old_cfg, path, v[1],
                                                t->o->verbosity >= 0, err)))) {
        nn_checkpoint_free(c);
        return rc;
    }
    /* after the checks that the checkpoint is of this model: the seed is advice for it */
    if ((uint64_t)seed != s->seed) {
        nn_checkpoint_free(c);
        return nn_error_set(err, NN_EINVAL, "%s was trained with seed %lld but this run uses "
                            "%llu; resume with --seed %lld for an exact continuation", path,
                            (long long)seed, (unsigned long long)s->seed, (long long)seed);
    }
    /* after the model-file comparison: its refusals (a batch size changed mid-epoch) say why
     * better than a count that no longer fits */
    if ((rc = check_counts(t, c, path, &k, err))) {
        nn_checkpoint_free(c); /* after the message, which quotes the checkpoint's text */
        return rc;
    }
    if (k.epoch == s->tc.epochs && t->o->verbosity >= 0)
        fprintf(stderr, "nntrain: %s: the run is already complete (epoch %lld of [train] "
                "epochs = %lld): nothing to train; --set train.epochs=N with N > %lld trains "
                "it longer\n", path, (long long)k.epoch, (long long)s->tc.epochs,
                (long long)k.epoch);
    t->epoch = v[0];
    t->step_in_epoch = v[1];
    t->global_step = v[2];
    /* absent from older checkpoints: one batch an update, as they exported it */
    if (meta_i64(c, "batches_seen", v[2], COUNT_MAX, &t->batches_seen))
        t->batches_seen = v[2];
    t->best = best;
    t->best_epoch = v[4];
    t->bad_epochs = v[5];
    /* absent from older checkpoints: a restored run then reports its last epoch's figures */
    const char *bfs = nn_checkpoint_meta(c, "best_figures");
    double *bf = t->best_figures;
    if (bfs && (sscanf(bfs, "%la %la %la %la", &bf[0], &bf[1], &bf[2], &bf[3]) != 4 ||
                isinf(bf[0]) || isinf(bf[1]) || isinf(bf[2]) || isinf(bf[3]))) {
        rc = nn_error_set(err, NN_EFORMAT, "%s: __metadata__ entry 'best_figures' = '%.60s' "
                          "is malformed: expected four numbers (the best epoch's loss, "
                          "accuracy, val_loss, val_accuracy; nan where not measured)", path,
                          bfs);
        nn_checkpoint_free(c); /* after the message, which quotes bfs */
        return rc;
    }
    t->tm.loss_sum = lsum;
    t->tm.samples = v[6];
    t->tm.correct = v[7];
    t->tm.topk_correct = v[8];
    t->best_train_loss = btl;
    t->prev_train_loss = ptl;
    t->prev_val_loss = pvl;
    t->train_stall = stall;
    t->rising = rising;
    t->hint_plateau = hp;
    t->hint_overfit = ho;
    t->elapsed_before = el;
    /* the rate the last step applied, for records made before the next step (a resumed run
     * with nothing left to train); absent from older checkpoints */
    t->resumed_lr = k.lr;
    if (t->best_copy && t->best_epoch > 0 && (rc = hold_best(t, path, err))) {
        nn_checkpoint_free(c);
        return rc;
    }
    rc = load_model_tensors(s, c, path, err);
    for (int i = 0; i < nn_optim_tensor_count(s->optim) && rc == NN_OK; i++) {
        const char *nm;
        nn_tensor *ot = nn_optim_host_tensor(s->optim, i, &nm);
        rc = nn_checkpoint_load(c, nm, ot, err);
    }
    if (rc == NN_OK)
        rc = nn_optim_to_device(s->optim, err);
    /* every training checkpoint records both: without them the optimizer's counters and
     * schedule, or the data order, would silently start over */
    const char *os = nn_checkpoint_meta(c, "optimizer_state"),
               *ds = nn_checkpoint_meta(c, "data_state");
    if (rc == NN_OK && (!os || !ds))
        rc = nn_error_set(err, NN_EFORMAT, "__metadata__ entry '%s' is missing (a training "
                          "checkpoint records the optimizer's and the data's state); the run "
                          "cannot continue exactly from it: start a new run from its weights "
                          "with --init-from %s", !os ? "optimizer_state" : "data_state", path);
    if (rc == NN_OK)
        rc = nn_optim_state_load(s->optim, os, t->o->verbosity >= 0, err);
    if (rc == NN_OK && *ds)
        rc = nn_data_state_load(s->data, ds, err);
    if (rc)
        nn_error_prefix(err, "resuming from %s", path);
    nn_checkpoint_free(c);
    if (rc == NN_OK && t->best_epoch > 0) {
        char bp[sizeof t->r->best_ckpt];
        struct stat sb;
        snprintf(bp, sizeof bp, "%s/best.safetensors", s->run_dir);
        if (stat(bp, &sb) == 0)
            memcpy(t->r->best_ckpt, bp, sizeof bp);
    }
    return rc;
}

int nn_resume_seed(const char *resume, const char *run_dir, uint64_t *seed)
{
    char path[PATH_MAX + 32];
    if (strcmp(resume, "auto") == 0)
        snprintf(path, sizeof path, "%s/last.safetensors", run_dir);
    else
        snprintf(path, sizeof path, "%s", resume);
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    nn_checkpoint *c = NULL;
    nn_error err = {0};
    int found = nn_checkpoint_read(path, &c, &err) == NN_OK && nn_checkpoint_seed(c, seed);
    nn_checkpoint_free(c);
    return found;
}

int nn_checkpoint_seed(const nn_checkpoint *c, uint64_t *seed)
{
    int64_t v;
    if (meta_i64(c, "seed", 0, INT64_MAX, &v))
        return 0;
    *seed = (uint64_t)v;
    return 1;
}
