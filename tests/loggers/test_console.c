/* test_console.c: the console logger: plain lines without any control character when the
 * output is not a terminal, a bar redrawn with \r on one, the epoch summary, verbosity, the
 * stream key. Output is captured by pointing file descriptor 1 or 2 at a file. */
#include "fake_run.h"
#include <fcntl.h>

typedef struct capture {
    int fd, saved;
    char path[300];
} capture;

static void capture_begin(capture *c, const char *dir, int fd)
{
    fflush(stdout);
    fflush(stderr);
    snprintf(c->path, sizeof c->path, "%s/out.txt", dir);
    int f = open(c->path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert_geq(f, 0);
    c->fd = fd;
    c->saved = dup(fd);
    dup2(f, fd);
    close(f);
}

static char *capture_end(capture *c)
{
    fflush(stdout);
    fflush(stderr);
    dup2(c->saved, c->fd);
    close(c->saved);
    return slurp(c->path, NULL);
}

static int count(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)); p++)
        n++;
    return n;
}

/* runs the fake run into a string; kv may be NULL */
static char *run_console(int tty, int verbosity, const nn_kv *kv, int nkv, int fd, int nonfinite)
{
    logger_under_test l;
    lut_create(&l, "console", kv, nkv);
    capture c;
    capture_begin(&c, l.dir, fd);
    lut_open(&l, tty, verbosity);
    fake_run(&l, NULL, NULL);
    if (nonfinite) {
        nn_event ev = ev_base(NN_EV_NONFINITE, 1, 2);
        ev.message = "loss is nan at step 8\r\033[2J";
        lut_send(&l, &ev);
    }
    lut_close(&l);
    char *text = capture_end(&c);
    rm_rf(l.dir);
    return text;
}

static const char summary0[] =
    "epoch 1/2: loss 1.0500 accuracy 0.5000 | val_loss 1.2000 val_accuracy 0.4500 | lr 0.1 | "
    "2.5 s\n";
static const char summary1[] =
    "epoch 2/2: loss 0.5500 accuracy 0.7000 | val_loss 0.6000 val_accuracy 0.6500 | lr 0.05 | "
    "5.0 s\n";

Test(console, not_a_terminal_gets_plain_lines_without_control_characters)
{
    char *t = run_console(0, 0, NULL, 0, 1, 1);
    for (const char *p = t; *p; p++)
        cr_assert(*p == '\n' || ((unsigned char)*p >= 0x20 && *p != 0x7f),
                  "control character 0x%02x at offset %td", (unsigned char)*p, p - t);
    cr_assert(strstr(t, summary0), "no epoch 1 summary in:\n%s", t);
    cr_assert(strstr(t, summary1), "no epoch 2 summary in:\n%s", t);
    /* 5 steps per epoch: about 10 lines per epoch means every step */
    cr_assert_eq(count(t, "/2 step "), 10, "%s", t);
    cr_assert(strstr(t, "epoch 1/2 step 2/5 loss 0.6667 acc 0.1000 lr 0.1 102 samples/s\n"),
              "%s", t);
    cr_assert(strstr(t, "HINT: validation loss rose: consider early stopping\n"), "%s", t);
    cr_assert(strstr(t, "ERROR: non-finite value: loss is nan at step 8  [2J\n"), "%s", t);
    cr_assert(strstr(t, "checkpoint: ckpt/epoch1.safetensors\n"), "%s", t);
    cr_assert(strstr(t, "training ended (completed) after 5.0 s\n"), "%s", t);
    /* the summary of an epoch comes after its last step line and before the next epoch's */
    cr_assert(strstr(t, "step 5/5") < strstr(t, summary0));
    cr_assert(strstr(t, summary0) < strstr(t, "epoch 2/2 step 1/5"));
    free(t);
}

Test(console, log_every_sets_the_plain_line_interval)
{
    nn_kv kv[] = {{"log_every", "2", "test", 1}};
    char *t = run_console(0, 0, kv, 1, 1, 0);
    cr_assert_eq(count(t, "/2 step "), 4, "%s", t); /* steps 2 and 4 of each epoch */
    cr_assert(strstr(t, "epoch 2/2 step 4/5"), "%s", t);
    cr_assert(strstr(t, summary1), "%s", t);
    free(t);
}

Test(console, terminal_redraws_a_bar_with_carriage_return_and_clear_line)
{
    char *t = run_console(1, 0, NULL, 0, 1, 0);
    /* one redraw per PROGRESS event (10), plus the erases before normal lines */
    cr_assert_geq(count(t, "\r\033[K"), 10, "%s", t);
    cr_assert_eq(count(t, "/2 step "), 0, "a terminal gets the bar, not step lines");
    /* step 2 of epoch 1: 1.1 s for 2 steps, 3 to go: ETA 1.65 s */
    cr_assert(strstr(t, "\r\033[Kepoch 1/2 [============>.................] 2/5 loss 0.6667 "
                        "acc 0.1000 lr 0.1 102 samples/s ETA 0:02"), "%s", t);
    cr_assert(strstr(t, "] 5/5 "), "%s", t);
    /* the summary replaces the bar line instead of being glued to it */
    cr_assert(strstr(t, "\r\033[K" "epoch 1/2: loss 1.0500"), "%s", t);
    free(t);
}

Test(console, quiet_prints_only_epoch_summaries_and_errors)
{
    char *t = run_console(1, -1, NULL, 0, 1, 1);
    cr_assert(strstr(t, summary0) && strstr(t, summary1), "%s", t);
    cr_assert(strstr(t, "non-finite value: loss is nan"), "%s", t);
    cr_assert_null(strstr(t, "HINT"), "%s", t);
    cr_assert_null(strstr(t, "checkpoint"), "%s", t);
    cr_assert_null(strstr(t, "ETA"), "%s", t);
    cr_assert_null(strstr(t, "training:"), "%s", t);
    free(t);
}

Test(console, verbose_prints_every_step_even_with_a_large_interval)
{
    nn_kv kv[] = {{"log_every", "100", "test", 1}};
    char *t = run_console(0, 1, kv, 1, 1, 0);
    cr_assert_eq(count(t, "/2 step "), 10, "%s", t);
    free(t);
}

Test(console, stream_stderr_leaves_stdout_empty)
{
    nn_kv kv[] = {{"stream", "stderr", "test", 1}};
    char *out = run_console(0, 0, kv, 1, 1, 0);
    cr_assert_eq(out[0], 0, "stdout got: %s", out);
    free(out);
    char *err = run_console(0, 0, kv, 1, 2, 0);
    cr_assert(strstr(err, summary1), "stderr got: %s", err);
    free(err);
}
