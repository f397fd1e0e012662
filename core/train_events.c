/* train_events.c: how training events reach the loggers. Compute posts records into a ring;
 * a libuv loop on a thread of its own delivers them, ticks the progress and checkpoint timers,
 * and never touches what compute is using (it sees copies, and parameters only while compute
 * waits for the acknowledgement of an epoch-end record). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "trainer_internal.h"

double nn_tr_seconds(const struct timespec *since)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - since->tv_sec) + 1e-9 * (double)(t.tv_nsec - since->tv_nsec);
}

void nn_tr_rec_metric(nn_tr_rec *x, const char *name, double v)
{
    if (x->n_metrics == NN_TR_MAX_METRICS || isnan(v))
        return;
    snprintf(x->names[x->n_metrics], sizeof x->names[0], "%s", name);
    x->metrics[x->n_metrics].value = v;
    x->n_metrics++;
}

void nn_tr_rec_base(nn_trainer *t, nn_tr_rec *x, nn_event_kind kind)
{
    memset(x, 0, sizeof *x);
    x->kind = kind;
    x->epoch = t->epoch;
    x->step = nn_tr_steps(t, t->step_in_epoch);
    x->global_step = t->global_step;
    x->elapsed = t->elapsed_before + nn_tr_seconds(&t->t0);
    double es = nn_tr_seconds(&t->epoch_t0);
    x->sps = es > 0 ? (double)t->epoch_samples / es : 0;
    x->lr = t->epoch_lr;
    x->grad_norm = NAN;
}

void nn_tr_post(nn_trainer *t, const nn_tr_rec *x)
{
    if (!t->loop_running) {
        nn_tr_rec copy = *x;
        nn_tr_deliver(t, &copy);
        return;
    }
    uv_mutex_lock(&t->mu);
    if (t->tail - t->head >= NN_TR_RING) {
        if (x->kind == NN_EV_BATCH_END && !x->ack) {
            t->dropped++;
            uv_mutex_unlock(&t->mu);
            return;
        }
        while (t->tail - t->head >= NN_TR_RING)
            uv_cond_wait(&t->cv, &t->mu);
    }
    nn_tr_rec *slot = &t->ring[t->tail % NN_TR_RING];
    *slot = *x;
    slot->seq = ++t->seq;
    t->tail++;
    int64_t my = slot->seq;
    /* a step's record waits for the progress tick (or the next record of another kind) while
     * the ring has room: waking the loop thread once per step costs a step tens of
     * microseconds (an eventfd write and a wake-up on the other core) */
    int wake = x->kind != NN_EV_BATCH_END || x->ack || t->tail - t->head >= NN_TR_RING / 4;
    t->wakeups += wake;
    uv_mutex_unlock(&t->mu);
    if (wake)
        uv_async_send(&t->async);
    if (x->ack) {
        uv_mutex_lock(&t->mu);
        while (t->acked < my)
            uv_cond_wait(&t->cv, &t->mu);
        uv_mutex_unlock(&t->mu);
    }
}

void nn_tr_deliver(nn_trainer *t, nn_tr_rec *x)
{
    if (x->flush) {
        nn_loggers_flush(t->loggers);
        return;
    }
    nn_event ev = {
        .struct_size = sizeof ev,
        .kind = x->kind,
        .epoch = x->epoch,
        .epochs = t->s->tc.epochs,
        .step = x->step,
        .steps_per_epoch = nn_tr_steps(t, t->steps_per_epoch),
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
    const nn_metrics *cm = x->kind == NN_EV_EVAL_END ? &t->r->test : &t->vm;
    if (x->with_confusion && cm->confusion) {
        ev.n_classes = cm->n_classes;
        ev.confusion = cm->confusion;
        ev.class_names = info->class_names;
    }
    nn_error lerr = {0};
    if (nn_loggers_emit(t->loggers, &ev, &lerr) != NN_OK && t->rc == NN_OK) {
        t->rc = lerr.status ? lerr.status : NN_EIO;
        t->err = lerr;
        atomic_store(&t->stop_signal, -1);
    }
    if (x->kind == NN_EV_EPOCH_END || x->kind == NN_EV_TRAIN_END || x->kind == NN_EV_EVAL_END)
        nn_loggers_flush(t->loggers);
}

void nn_tr_flush_loggers(nn_trainer *t)
{
    nn_tr_rec x;
    nn_tr_rec_base(t, &x, NN_EV_PROGRESS);
    x.flush = 1;
    x.ack = 1; /* the ring is delivered in order: waits for every record posted before */
    nn_tr_post(t, &x);
}

/* loop thread: delivers what the ring holds, in order */
static void drain(nn_trainer *t)
{
    for (;;) {
        uv_mutex_lock(&t->mu);
        if (t->head == t->tail) {
            uv_mutex_unlock(&t->mu);
            break;
        }
        nn_tr_rec x = t->ring[t->head % NN_TR_RING];
        t->head++;
        uv_cond_broadcast(&t->cv); /* room in the ring */
        uv_mutex_unlock(&t->mu);
        if (x.kind == NN_EV_BATCH_END) {
            t->last_batch = x;
            t->have_batch = 1;
            t->batch_shown = 0;
        }
        nn_tr_deliver(t, &x);
        if (x.ack) {
            uv_mutex_lock(&t->mu);
            t->acked = x.seq;
            uv_cond_broadcast(&t->cv);
            uv_mutex_unlock(&t->mu);
        }
    }
}

static void on_async(uv_async_t *h)
{
    nn_trainer *t = h->data;
    drain(t);
    if (atomic_load(&t->done)) {
        uv_close((uv_handle_t *)&t->async, NULL);
        uv_close((uv_handle_t *)&t->progress, NULL);
        uv_close((uv_handle_t *)&t->ckpt_timer, NULL);
    }
}

static void on_progress(uv_timer_t *h)
{
    nn_trainer *t = h->data;
    drain(t); /* the steps' records posted without a wake-up */
    if (!t->have_batch || t->batch_shown)
        return;
    nn_tr_rec x = t->last_batch;
    x.kind = NN_EV_PROGRESS;
    x.ack = 0;
    nn_tr_deliver(t, &x);
    t->batch_shown = 1;
}

static void on_ckpt_timer(uv_timer_t *h)
{
    nn_trainer *t = h->data;
    atomic_store(&t->ckpt_due, 1);
}

static void loop_main(void *arg)
{
    nn_trainer *t = arg;
    uv_run(&t->loop, UV_RUN_DEFAULT);
}

int nn_tr_loop_start(nn_trainer *t, nn_error *err)
{
    if (uv_loop_init(&t->loop) != 0)
        return nn_error_set(err, NN_EINTERNAL, "cannot create the event loop");
    uv_mutex_init(&t->mu);
    uv_cond_init(&t->cv);
    uv_async_init(&t->loop, &t->async, on_async);
    t->async.data = t;
    uv_timer_init(&t->loop, &t->progress);
    t->progress.data = t;
    int hz = t->o->progress_hz > 0 ? t->o->progress_hz : 10;
    uv_timer_start(&t->progress, on_progress, (uint64_t)(1000 / hz), (uint64_t)(1000 / hz));
    uv_timer_init(&t->loop, &t->ckpt_timer);
    t->ckpt_timer.data = t;
    if (t->s->tc.checkpoint_minutes > 0) {
        uint64_t ms = (uint64_t)(t->s->tc.checkpoint_minutes * 60000.0);
        uv_timer_start(&t->ckpt_timer, on_ckpt_timer, ms ? ms : 1, ms ? ms : 1);
    }
    if (uv_thread_create(&t->thread, loop_main, t) != 0) {
        atomic_store(&t->done, 1); /* close the handles on this thread instead */
        uv_async_send(&t->async);
        uv_run(&t->loop, UV_RUN_DEFAULT);
        uv_loop_close(&t->loop);
        uv_mutex_destroy(&t->mu);
        uv_cond_destroy(&t->cv);
        return nn_error_set(err, NN_EINTERNAL, "cannot start the event-loop thread");
    }
    t->loop_running = 1;
    return NN_OK;
}

void nn_tr_loop_stop(nn_trainer *t)
{
    if (!t->loop_running)
        return;
    atomic_store(&t->done, 1);
    uv_async_send(&t->async);
    uv_thread_join(&t->thread);
    t->loop_running = 0;
    uv_loop_close(&t->loop);
    uv_mutex_destroy(&t->mu);
    uv_cond_destroy(&t->cv);
}
