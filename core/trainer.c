/* trainer.c: the training state machine: epochs of steps on the calling thread, validation,
 * the epoch-end decisions, and the run's tear-down. The run is opened by train_open.c; events
 * go to the loggers through train_events.c; checkpoints through train_state.c. It must never
 * write a checkpoint from non-finite state, and a resumed run must reproduce the uninterrupted
 * one exactly. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "evaluate.h"
#include "signals.h"
#include "trainer_internal.h"

static uint64_t step_seed(uint64_t seed, int64_t global_step)
{
    uint64_t x = seed ^ 0xD1B54A32D192ED03ull;
    x = nn_splitmix64(&x) ^ (uint64_t)global_step;
    return nn_splitmix64(&x);
}

/* the signal watcher's thread: only raises a flag that compute polls between batches */
static void on_stop_signal(void *arg, int signum)
{
    nn_trainer *t = arg;
    int none = 0;
    if (atomic_compare_exchange_strong(&t->stop_signal, &none, signum) &&
        t->o->verbosity >= 0)
        fprintf(stderr, "\nnntrain: %s received: finishing this step and writing a checkpoint "
                "(press Ctrl-C again to quit at once)\n", nn_signals_name(signum));
}

/* After a step: a signal ends the run with a checkpoint (1 = stop), a failed logger in a
 * strict run ends it with an error. */
static int check_stop(nn_trainer *t, int *rc, nn_error *err)
{
    int sig = atomic_load(&t->stop_signal);
    /* a data-parallel process stops only at a step whose agreement carried the signal, where
     * every process stops: one that stopped for a signal that came after the agreement would
     * leave the others waiting in the next step's sums */
    if (sig > 0 && t->s->dist)
        sig = t->agreed_signal;
    if (sig == 0)
        return 0;
    if (sig > 0) {
        t->r->end = NN_END_SIGNAL;
        t->r->signal = sig;
        *rc = nn_tr_save(t, "last.safetensors", t->r->last_ckpt, err);
    } else {
        *rc = t->rc ? t->rc : NN_ECANCELED;
        if (t->rc)
            *err = t->err;
    }
    return 1;
}

/* 1 when a signal asks to stop now: all processes of a data-parallel run agree on it */
static int stop_now(nn_trainer *t, int *rc, nn_error *err)
{
    if (!t->s->dist)
        return atomic_load(&t->stop_signal) > 0;
    int r = nn_tr_dist_stop(t, err);
    if (r < 0)
        *rc = r;
    return r > 0;
}

/* 1 when validation was cut short by a signal */
static int validate(nn_trainer *t, nn_error *err, int *rc)
{
    nn_metrics_reset(&t->vm);
    *rc = NN_OK;
    if (!t->val_l)
        return 0;
    *rc = nn_loader_start_epoch(t->val_l, 0, 0, err);
    nn_batch *b;
    nn_metrics_group g; /* as many batches as a training step takes: the same loss scale */
    nn_metrics_group_begin(&g, &t->vm, t->s->loss_sums);
    while (*rc == NN_OK && (*rc = nn_loader_next(t->val_l, &b, err)) == 1) {
        nn_loss_bind *lb;
        double loss;
        int64_t before = t->vm.samples;
        *rc = nn_session_step(t->s, b, 0, 0, &lb, &loss, err);
        if (*rc == NN_OK)
            *rc = nn_session_metrics(t->s, lb, b, loss, &t->vm, err);
        nn_loader_release(t->val_l, b);
        if (*rc == NN_OK) {
            nn_metrics_group_add(&g, loss, t->vm.samples - before);
            if (g.batches == t->s->tc.accumulate)
                nn_metrics_group_end(&g, &t->vm, NULL, NULL);
        }
        if (*rc == NN_OK && stop_now(t, rc, err))
            return 1;
    }
    if (*rc > 0)
        *rc = NN_OK;
    nn_metrics_group_end(&g, &t->vm, NULL, NULL);
    if (*rc == NN_OK && t->s->dist) /* each process validated its slices */
        *rc = nn_dist_metrics_sum(t->s->dist, &t->vm, err);
    return 0;
}

/* Early stopping ends the run: the hint, and the best weights back with restore_best. again:
 * the checkpoint this run resumed from had already met the stopping rule at an epoch's end,
 * so the run stays ended (and its test figures are those of the run that stopped). */
static int end_early(nn_trainer *t, int again, nn_error *err)
{
    const nn_train_cfg *tc = &t->s->tc;
    nn_tr_rec x;
    char when[64] = "";
    if (again)
        snprintf(when, sizeof when, " at epoch %lld, before this resume", (long long)t->epoch);
    t->r->end = NN_END_EARLY_STOP;
    nn_tr_rec_base(t, &x, NN_EV_HINT);
    snprintf(x.text, sizeof x.text, "early stopping%s: %s has not improved for %lld epochs "
             "(best %.4g at epoch %lld)%s%s", when, tc->monitor, (long long)t->bad_epochs,
             t->best, (long long)t->best_epoch,
             again ? "; nothing to train (raise [train] patience to train on)" : "",
             tc->restore_best ? "; the best weights are restored" : "");
    nn_tr_post(t, &x);
    if (!tc->restore_best || !t->best_copy)
        return NN_OK;
    /* the run ends with the best epoch's model: its figures are the run's (cv's table) */
    if (!isnan(t->best_figures[0])) {
        t->r->train_loss = t->best_figures[0];
        t->r->train_acc = t->best_figures[1];
        t->r->val_loss = t->best_figures[2];
        t->r->val_acc = t->best_figures[3];
    }
    int rc = nn_tr_best_weights(t, 0, err);
    t->best_restored = rc == NN_OK;
    return rc;
}

static int epoch_end(nn_trainer *t, nn_error *err)
{
    nn_session *s = t->s;
    const nn_train_cfg *tc = &s->tc;
    int rc;
    if (validate(t, err, &rc)) {
        /* every training step of the epoch is done: the checkpoint resumes at validation */
        check_stop(t, &rc, err);
        return rc;
    }
    if (rc)
        return rc;
    double tl = nn_metrics_loss(&t->tm), ta = nn_metrics_accuracy(&t->tm);
    double vl = t->val_l ? nn_metrics_loss(&t->vm) : NAN;
    double va = t->val_l ? nn_metrics_accuracy(&t->vm) : NAN;
    if (s->dist) { /* every decision below derives from rank 0's figures */
        double v[4] = {tl, ta, vl, va};
        if ((rc = nn_tr_dist_epoch(t, v, 4, err)))
            return rc;
        tl = v[0], ta = v[1], vl = v[2], va = v[3];
    }
    t->r->train_loss = tl;
    t->r->train_acc = ta;
    t->r->val_loss = vl;
    t->r->val_acc = va;
    const char *names[3] = {"val_loss", "val_accuracy", "val_top5"};
    double vals[3] = {vl, va, nn_metrics_topk(&t->vm)};
    if ((rc = nn_optim_epoch_end(s->optim, t->epoch, t->val_l ? 3 : 0, names, vals, err)))
        return rc;

    nn_tr_rec x;
    nn_tr_rec_base(t, &x, NN_EV_EPOCH_END);
    nn_tr_rec_metric(&x, "loss", tl);
    nn_tr_rec_metric(&x, "accuracy", ta);
    char topk[16];
    snprintf(topk, sizeof topk, "top%lld", (long long)tc->top_k);
    nn_tr_rec_metric(&x, topk, nn_metrics_topk(&t->tm));
    x.with_params = 1;
    x.ack = 1; /* loggers read the parameters: wait before they change */
    if (t->hist_params && (rc = nn_session_to_host(s, err)))
        return rc;
    nn_tr_post(t, &x);
    if (t->val_l) {
        nn_tr_rec_base(t, &x, NN_EV_VALIDATION_END);
        nn_tr_rec_metric(&x, "val_loss", vl);
        nn_tr_rec_metric(&x, "val_accuracy", va);
        snprintf(topk, sizeof topk, "val_top%lld", (long long)tc->top_k);
        nn_tr_rec_metric(&x, topk, nn_metrics_topk(&t->vm));
        x.with_confusion = 1;
        x.ack = 1;
        nn_tr_post(t, &x);
    }
    nn_tr_hints(t, tl, vl);

    /* the epoch is complete: from here on a checkpoint describes epoch + 1 */
    t->epoch++;
    t->step_in_epoch = 0;
    nn_metrics_reset(&t->tm);
    t->r->epochs_done = t->epoch;

    int improved, stop_early;
    nn_tr_track_best(t, nn_tr_metric_value(t, tc->monitor, tl, ta, vl, va), &improved,
                     &stop_early);
    if (improved) {
        const double bf[4] = {tl, ta, vl, va};
        memcpy(t->best_figures, bf, sizeof bf);
        t->best_global_step = t->global_step;
    }
    if (improved && t->best_copy && (rc = nn_tr_best_weights(t, 1, err)))
        return rc;
    int last = t->epoch >= tc->epochs;
    /* best first: a last.safetensors never names a best epoch that best.safetensors lacks */
    if (improved && (rc = nn_tr_save(t, "best.safetensors", t->r->best_ckpt, err)))
        return rc;
    if ((tc->checkpoint_every > 0 && t->epoch % tc->checkpoint_every == 0) || last || stop_early)
        if ((rc = nn_tr_save(t, "last.safetensors", t->r->last_ckpt, err)))
            return rc;
    if (stop_early && (rc = end_early(t, 0, err)))
        return rc;
    t->r->best_metric = t->best;
    t->r->best_epoch = t->best_epoch;
    return NN_OK;
}

static int train_epochs(nn_trainer *t, nn_error *err)
{
    nn_session *s = t->s;
    int rc = NN_OK;
    if (t->epoch > 0 && t->step_in_epoch == 0 && s->tc.early_stopping &&
        t->bad_epochs >= s->tc.patience)
        return end_early(t, 1, err);
    while (t->epoch < s->tc.epochs && t->r->end == NN_END_COMPLETED) {
        rc = nn_loader_start_epoch(t->train_l, t->epoch, t->step_in_epoch, err);
        if (rc)
            return rc;
        clock_gettime(CLOCK_MONOTONIC, &t->epoch_t0);
        t->epoch_samples = 0;
        nn_tr_rec x;
        if (t->step_in_epoch == 0) {
            nn_tr_rec_base(t, &x, NN_EV_EPOCH_BEGIN);
            nn_tr_post(t, &x);
        }
        nn_batch *b, *next = NULL;
        rc = nn_loader_next(t->train_l, &b, err);
        if (rc == 1 && (rc = nn_session_stage(s, b, err)) == NN_OK)
            rc = 1;
        const int64_t K = s->tc.accumulate;
        int64_t micro = 0, group_rows = 0; /* micro-batches summed so far for one update */
        nn_metrics_group step; /* the figures of the optimizer step's micro-batches */
        nn_metrics_group_begin(&step, &t->tm, s->loss_sums);
        while (rc == 1) {
            nn_loss_bind *lb;
            double loss = NAN, gnorm = NAN;
            double lr = nn_optim_lr(s->optim); /* the rate this step applies */
            uint64_t seed = step_seed(s->seed, t->global_step * K + micro);
            rc = nn_session_step_begin(s, b, 1, seed, &lb, err);
            if (rc && rc != NN_ENONFINITE && b->global_n < s->tc.batch_size) {
                /* a plan made for the short last batch: say so, a layer's advice ("a batch
                 * larger than 1") reads as if batch_size were wrong */
                char said[NN_ERROR_MSG_MAX];
                snprintf(said, sizeof said, "%s", err->msg);
                nn_error_set(err, rc, "%s (in the epoch's last batch, of the %lld sample%s left "
                             "after the full batches of %lld; [train] drop_last = true skips "
                             "it)", said, (long long)b->global_n, b->global_n == 1 ? "" : "s",
                             (long long)s->tc.batch_size);
            }
            /* while the device computes, the next batch is decoded (already, on the loader's
             * threads) and copied over */
            int more = rc == NN_OK ? nn_loader_next(t->train_l, &next, err) : 0;
            if (more < 0)
                rc = more;
            else if (more == 1 && (rc = nn_session_stage(s, next, err)) != NN_OK)
                more = 0;
            if (rc == NN_OK)
                rc = nn_session_step_finish(s, lb, b, &loss, err);
            if (rc == NN_OK && !isfinite(loss))
                rc = nn_tr_diagnose(t, lb, loss, gnorm, err);
            nn_metrics before = t->tm;
            if (rc == NN_OK)
                rc = nn_session_metrics(s, lb, b, loss, &t->tm, err);
            int update = 1;
            if (rc == NN_OK && K > 1) {
                /* rows weigh each micro-batch's mean loss (sums add as they are): the update
                 * equals one batch of all their rows */
                rc = nn_model_accumulate(s->model, (float)(s->loss_sums ? 1 : b->n), micro == 0,
                                         err);
                micro++;
                group_rows += b->n;
                update = micro == K || more != 1; /* the epoch's last group may be short */
                if (rc == NN_OK && update)
                    rc = nn_model_accumulate_finish(
                        s->model, (float)(s->loss_sums ? 1.0 : 1.0 / (double)group_rows), err);
            }
            if (rc == NN_OK && s->dist) /* the global batch's loss, and summed gradients */
                rc = nn_tr_dist_step(t, &before, &loss, err);
            if (rc == NN_OK)
                nn_metrics_group_add(&step, loss, t->tm.samples - before.samples);
            if (rc == NN_OK && update) {
                rc = nn_optim_update(s->optim, 1, &gnorm, err);
                if (rc == NN_ENONFINITE)
                    rc = nn_tr_diagnose(t, lb, loss, gnorm, err);
                micro = group_rows = 0;
            }
            int64_t rows = b->global_n; /* the batch is the loader's again once released */
            nn_loader_release(t->train_l, b);
            if (rc) {
                nn_loader_release(t->train_l, next);
                return rc;
            }
            t->step_in_epoch++;
            t->batches_seen++;
            t->epoch_samples += rows;
            b = next;
            next = NULL;
            if (!update) {
                rc = more;
                continue;
            }
            /* one record per optimizer step: the loss and accuracy of all its rows (its own,
             * never the epoch's running figures), as the one batch of them would give */
            t->epoch_lr = lr;
            t->global_step++;
            double step_loss, step_acc;
            nn_metrics_group_end(&step, &t->tm, &step_loss, &step_acc);
            nn_tr_rec_base(t, &x, NN_EV_BATCH_END);
            x.step--; /* 0-based index of the step just done */
            x.grad_norm = gnorm;
            nn_tr_rec_metric(&x, "loss", step_loss);
            nn_tr_rec_metric(&x, "accuracy", step_acc);
            nn_tr_post(t, &x);
            if (t->o->on_step)
                t->o->on_step(t->o->on_step_ctx, x.epoch, x.step,
                              nn_tr_steps(t, t->steps_per_epoch));
            /* checkpoints fall between optimizer steps, never inside an accumulation */
            int stop = check_stop(t, &rc, err);
            if (!stop && atomic_exchange(&t->ckpt_due, 0))
                stop = (rc = nn_tr_save(t, "last.safetensors", t->r->last_ckpt, err)) != NN_OK;
            if (stop) {
                nn_loader_release(t->train_l, b); /* staged, never stepped: decoded again
                                                     on resume */
                return rc;
            }
            rc = more;
        }
        if (rc < 0)
            return rc;
        if ((rc = epoch_end(t, err)) || t->r->end == NN_END_SIGNAL)
            return rc;
    }
    return NN_OK;
}

/* The test split after training: its metrics go to the result and, as EVAL_END, to the
 * loggers. A test split that exists but cannot be read is an error, never a silent skip. */
static int test_after_training(nn_trainer *t, nn_error *err)
{
    nn_session *s = t->s;
    int rc = nn_data_open_test(s->data, err);
    if (rc) {
        nn_error_prefix(err, "the final test evaluation failed (checkpoints are saved in %s; "
                        "--no-test skips it)", s->run_dir);
        return rc;
    }
    if (nn_data_size(s->data, NN_PART_TEST) <= 0)
        return NN_OK; /* this dataset has no test split */
    if (nn_metrics_init(&t->r->test, s->n_classes, (int)s->tc.top_k, 1))
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    if ((rc = nn_evaluate(s, NN_PART_TEST, &t->r->test, err))) {
        nn_error_prefix(err, "the final test evaluation failed (checkpoints are saved in %s)",
                        s->run_dir);
        return rc;
    }
    t->r->tested = 1;
    nn_tr_rec x;
    nn_tr_rec_base(t, &x, NN_EV_EVAL_END);
    if (t->best_restored) { /* the figures are of the best epoch's weights: so is the record */
        x.epoch = t->best_epoch;
        if (t->best_global_step >= 0)
            x.global_step = t->best_global_step;
    }
    snprintf(x.text, sizeof x.text, "test");
    nn_tr_rec_metric(&x, "loss", nn_metrics_loss(&t->r->test));
    nn_tr_rec_metric(&x, "accuracy", nn_metrics_accuracy(&t->r->test));
    char topk[16];
    snprintf(topk, sizeof topk, "top%lld", (long long)s->tc.top_k);
    nn_tr_rec_metric(&x, topk, nn_metrics_topk(&t->r->test));
    x.with_confusion = 1;
    x.ack = 1;
    nn_tr_post(t, &x);
    return NN_OK;
}

static void run_loop(nn_trainer *t)
{
    nn_error err = {0};
    if (t->o->handle_signals)
        nn_signals_set_handler(on_stop_signal, t);
    int rc = train_epochs(t, &err);
    if (t->o->handle_signals)
        nn_signals_set_handler(NULL, NULL);
    if (rc == NN_ENONFINITE) {
        t->r->end = NN_END_NONFINITE;
        nn_tr_rec x;
        nn_tr_rec_base(t, &x, NN_EV_NONFINITE);
        snprintf(x.text, sizeof x.text, "%s", err.msg);
        nn_tr_post(t, &x);
    } else if (rc) {
        t->r->end = NN_END_ERROR;
    }
    nn_tr_rec x;
    nn_tr_rec_base(t, &x, NN_EV_TRAIN_END);
    static const char *const why[] = {"completed", "early stopping", "interrupted",
                                      "non-finite value", "error"};
    snprintf(x.text, sizeof x.text, "%s", why[t->r->end]);
    t->r->train_s = x.elapsed; /* the run's figure: the console's "training ended after" */
    nn_tr_rec_metric(&x, "loss", t->r->train_loss);
    nn_tr_rec_metric(&x, "accuracy", t->r->train_acc);
    nn_tr_rec_metric(&x, "val_loss", t->r->val_loss);
    nn_tr_rec_metric(&x, "val_accuracy", t->r->val_acc);
    nn_tr_post(t, &x);
    if (rc == NN_OK && t->o->test &&
        (t->r->end == NN_END_COMPLETED || t->r->end == NN_END_EARLY_STOP))
        rc = test_after_training(t, &err);
    if (rc && t->rc == NN_OK) {
        t->rc = rc;
        t->err = err;
    }
}

int nn_train_run(nn_session *s, const nn_train_opts *o, nn_train_result *r, nn_error *err)
{
    memset(r, 0, sizeof *r);
    r->best_metric = NAN;
    nn_trainer *t = calloc(1, sizeof *t);
    if (!t)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    t->s = s;
    t->o = o;
    t->r = r;
    t->best = NAN;
    t->best_global_step = -1;
    t->best_train_loss = t->prev_train_loss = t->prev_val_loss = NAN;
    for (int i = 0; i < 4; i++)
        t->best_figures[i] = NAN;
    clock_gettime(CLOCK_MONOTONIC, &t->t0);
    t->epoch_t0 = t->t0;
    int rc = nn_tr_open_run(t, err);
    r->epochs_done = r->epochs_before = t->epoch; /* a resumed run may have none left */
    r->earlier_s = t->elapsed_before;
    if (s->dist) {
        rc = nn_tr_dist_setup(t, rc, &r->error_elsewhere, err);
        r->setup_failed = rc != NN_OK;
    }
    if (rc == NN_OK) {
        nn_tr_rec x;
        nn_tr_rec_base(t, &x, NN_EV_TRAIN_BEGIN);
        if (s->gang)
            nn_session_replicas_placement(s, t->placement, sizeof t->placement);
        snprintf(x.text, sizeof x.text, "%s", t->placement);
        nn_tr_deliver(t, &x);
        rc = nn_tr_loop_start(t, err);
    }
    if (rc == NN_OK) {
        /* compute stays on the calling thread, where the session was built: oneDNN keeps
         * per-thread state (scratchpads) that must outlive the primitives using it, and
         * eval after training runs here too. The loop has its own thread. */
        run_loop(t);
        nn_tr_loop_stop(t);
        rc = t->rc;
        if (rc)
            *err = t->err;
    }
    nn_loggers_close(t->loggers);
    r->wall_s = nn_tr_seconds(&t->t0);
    if (t->train_l) {
        r->wait_fraction = nn_loader_wait_fraction(t->train_l);
        r->wait_s = nn_loader_wait_seconds(t->train_l);
        r->wakeups = nn_loader_wakeups(t->train_l) + t->wakeups;
    }
    r->dropped = t->dropped;
    if (t->dropped && o->verbosity >= 0)
        fprintf(stderr, "nntrain: the loggers fell behind: %lld steps' own records (their loss "
                "and accuracy) were not logged; the epochs' figures and the checkpoints are "
                "whole\n", (long long)t->dropped);
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
