/* train_callbacks.c: the trainer's built-in callbacks between epochs and steps: the monitored
 * metric and early stopping, the best weights kept for restore_best, advice when training
 * stalls or overfits, and the diagnosis that names the first non-finite layer or gradient. */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "trainer_internal.h"

double nn_tr_metric_value(const nn_trainer *t, const char *name, double tl, double ta,
                          double vl, double va)
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

void nn_tr_track_best(nn_trainer *t, double mv, int *improved, int *stop)
{
    const nn_train_cfg *tc = &t->s->tc;
    *improved = 0;
    if (!isnan(mv)) {
        double delta = tc->monitor_max ? mv - t->best : t->best - mv;
        *improved = isnan(t->best) || delta > tc->min_delta;
        if (*improved) {
            t->best = mv;
            t->best_epoch = t->epoch;
            t->bad_epochs = 0;
        } else {
            t->bad_epochs++;
        }
    }
    *stop = tc->early_stopping && t->bad_epochs >= tc->patience;
}

int nn_tr_best_weights(nn_trainer *t, int save, nn_error *err)
{
    nn_session *s = t->s;
    size_t off = 0;
    if (!save && !t->best_held)
        return nn_error_set(err, NN_EINVAL, "[train] restore_best: the weights of the best "
                            "epoch (%lld) are not held (best.safetensors was of a later epoch "
                            "when the run resumed, and that epoch did not improve again); "
                            "last.safetensors keeps the last epoch's", (long long)t->best_epoch);
    if (save && nn_session_to_host(s, err))
        return err->status;
    for (int i = 0; i < nn_session_tensor_count(s); i++) {
        nn_tensor *p = nn_session_host_tensor(s, i);
        char *b = (char *)t->best_copy + off;
        if (save)
            memcpy(b, p->dl.data, nn_tensor_nbytes(p));
        else
            memcpy(p->dl.data, b, nn_tensor_nbytes(p));
        off += nn_tensor_nbytes(p);
    }
    t->best_held |= save;
    return save ? NN_OK : nn_session_to_device(s, err);
}

void nn_tr_hints(nn_trainer *t, double tl, double vl)
{
    nn_tr_rec x;
    if (!isnan(tl)) {
        if (isnan(t->best_train_loss) || tl < t->best_train_loss * (1 - 1e-3)) {
            t->best_train_loss = tl;
            t->train_stall = 0;
        } else if (++t->train_stall >= t->s->tc.plateau_hint && !t->hint_plateau) {
            t->hint_plateau = 1;
            nn_tr_rec_base(t, &x, NN_EV_HINT);
            snprintf(x.text, sizeof x.text,
                     "the training loss has not improved for %lld epochs (best %.4g): try a "
                     "higher learning rate or a scheduler, and check that inputs and labels "
                     "match", (long long)t->train_stall, t->best_train_loss);
            nn_tr_post(t, &x);
        }
    }
    if (!isnan(vl) && !isnan(t->prev_val_loss)) {
        if (vl > t->prev_val_loss && tl < t->prev_train_loss)
            t->rising++;
        else
            t->rising = 0;
        if (t->rising >= 2 && !t->hint_overfit) {
            t->hint_overfit = 1;
            nn_tr_rec_base(t, &x, NN_EV_HINT);
            snprintf(x.text, sizeof x.text,
                     "the validation loss has risen for %lld epochs while the training loss "
                     "fell: the model is overfitting; consider [train] early_stopping = true, "
                     "dropout or weight decay", (long long)t->rising);
            nn_tr_post(t, &x);
        }
    }
    t->prev_train_loss = tl;
    t->prev_val_loss = vl;
}

/* What a failed run leaves to resume from, as it is on disk (a checkpoint of this session,
 * of an earlier one, or none yet): no non-finite state is ever written over it. */
static void checkpoints_kept(const nn_trainer *t, char *out, size_t cap)
{
    char last[PATH_MAX + 32], best[PATH_MAX + 32];
    struct stat st;
    snprintf(last, sizeof last, "%s/last.safetensors", t->s->run_dir);
    snprintf(best, sizeof best, "%s/best.safetensors", t->s->run_dir);
    int has_last = stat(last, &st) == 0, has_best = stat(best, &st) == 0;
    if (has_last)
        snprintf(out, cap, "the last checkpoint, %s, was left untouched%s", last,
                 has_best ? " (and best.safetensors)" : "");
    else if (has_best)
        snprintf(out, cap, "no last.safetensors was written yet; %s was left untouched", best);
    else
        snprintf(out, cap, "no checkpoint was written yet (in %s): nothing to resume from",
                 t->s->run_dir);
}

int nn_tr_diagnose(nn_trainer *t, nn_loss_bind *lb, double loss, double gnorm, nn_error *err)
{
    nn_error d = {0};
    const char *what;
    int rc;
    if (!isfinite(loss)) {
        what = "loss";
        if ((rc = nn_session_forward_checked(t->s, lb, &d)) == NN_OK)
            snprintf(d.msg, sizeof d.msg, "every layer's output is finite, so the loss '%s' "
                     "itself produced %g", t->s->loss_entry->desc->name, loss);
    } else {
        what = "gradient";
        if ((rc = nn_plan_check_grads(lb->plan, &d)) == NN_OK)
            snprintf(d.msg, sizeof d.msg, "global gradient norm %g", gnorm);
    }
    if (rc != NN_OK && rc != NN_ENONFINITE) /* the diagnosis itself failed */
        return nn_error_set(err, rc, "%s", d.msg);
    char kept[PATH_MAX + 160];
    checkpoints_kept(t, kept, sizeof kept);
    return nn_error_set(err, NN_ENONFINITE,
                        "the %s became non-finite at epoch %lld, step %lld: %s. Try a lower "
                        "learning rate (now %g) or gradient clipping ([train] clip_norm = 1); "
                        "%s", what, (long long)t->epoch + 1, (long long)t->step_in_epoch + 1,
                        d.msg, t->epoch_lr, kept);
}
