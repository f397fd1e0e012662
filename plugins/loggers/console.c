/* console.c: the `console` logger: a progress bar redrawn in place on a terminal, plain
 * lines otherwise, and one summary line per epoch. Never writes a control character (ESC, \r)
 * when the output is not a terminal, and never allocates per step. */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <nntrain/logger.h>
#include <nntrain/plugin.h>

#include "logger_util.h"

#define WHO "logger 'console'"
#define LINE_MAX_ 512

typedef struct console {
    FILE *out;
    int stream_is_stderr;
    int64_t log_every; /* 0 = about 10 lines per epoch */
    int bar_width;
    int is_tty, verbosity, opened;
    int bar_shown; /* a bar is on the current terminal line */
    int64_t epoch, epochs, step, steps;
    double epoch_t0, elapsed, samples_per_s, lr, loss, accuracy;
    lg_epoch rec;
    char line[LINE_MAX_];
    char clean[LINE_MAX_ - 64]; /* leaves room for a line's prefix around it */
} console;

static int console_create(const nn_params *params, void **self, nn_error *err)
{
    console *c = calloc(1, sizeof *c);
    if (!c)
        return nn_error_set(err, NN_ENOMEM, WHO ": out of memory");
    c->stream_is_stderr = nn_params_enum(params, "stream") == 1;
    c->log_every = nn_params_int(params, "log_every");
    c->bar_width = (int)nn_params_int(params, "bar_width");
    c->loss = c->accuracy = NAN;
    *self = c;
    return NN_OK;
}

static void console_destroy(void *self)
{
    console *c = self;
    lg_epoch_free(&c->rec);
    free(c);
}

/* Copies s into c->clean with every control character replaced by a space: messages come
 * from elsewhere and must not smuggle ESC or \r into a log file. */
static const char *clean(console *c, const char *s)
{
    size_t i = 0;
    for (; s && s[i] && i < sizeof c->clean - 1; i++) {
        unsigned char ch = (unsigned char)s[i];
        c->clean[i] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
    }
    c->clean[i] = 0;
    return c->clean;
}

static int terminal_columns(console *c)
{
    struct winsize ws;
    if (c->is_tty && ioctl(fileno(c->out), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
        return ws.ws_col;
    return 100;
}

/* Ends the in-place bar line before a normal line is printed. */
static void end_bar(console *c)
{
    if (c->bar_shown) {
        fputs("\r\033[K", c->out);
        c->bar_shown = 0;
    }
}

static void put_line(console *c, const char *text)
{
    end_bar(c);
    fputs(text, c->out);
    fputc('\n', c->out);
    fflush(c->out);
}

static void fmt_eta(char *buf, size_t cap, double s)
{
    if (!isfinite(s) || s < 0) {
        snprintf(buf, cap, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
}

/* "loss 0.1234 accuracy 0.9012 lr 0.001 1234 samples/s" from the last step's numbers */
static size_t fmt_step_numbers(console *c, char *buf, size_t cap)
{
    size_t n = 0;
#define ADD(...)                                                                    \
    do {                                                                            \
        int k_ = snprintf(buf + n, cap > n ? cap - n : 0, __VA_ARGS__);              \
        if (k_ > 0)                                                                 \
            n = n + (size_t)k_ < cap ? n + (size_t)k_ : cap - 1;                    \
    } while (0)
    if (!isnan(c->loss))
        ADD(" loss %.4f", c->loss);
    if (!isnan(c->accuracy))
        ADD(" acc %.4f", c->accuracy);
    ADD(" lr %.3g", c->lr);
    if (c->samples_per_s > 0)
        ADD(" %.0f samples/s", c->samples_per_s);
#undef ADD
    return n;
}

static void draw_bar(console *c)
{
    char nums[160], eta[32];
    fmt_step_numbers(c, nums, sizeof nums);
    int64_t done = c->step + 1 < c->steps ? c->step + 1 : c->steps;
    double per_step = done > 0 ? (c->elapsed - c->epoch_t0) / (double)done : NAN;
    fmt_eta(eta, sizeof eta, per_step * (double)(c->steps - done));
    char bar[256];
    int w = c->bar_width, filled = c->steps > 0 ? (int)(w * done / c->steps) : 0;
    for (int i = 0; i < w; i++)
        bar[i] = i < filled ? '=' : (i == filled ? '>' : '.');
    bar[w] = 0;
    int cols = terminal_columns(c);
    int n = snprintf(c->line, sizeof c->line, "epoch %lld/%lld [%s] %lld/%lld%s ETA %s",
                     (long long)c->epoch + 1, (long long)c->epochs, bar, (long long)done,
                     (long long)c->steps, nums, eta);
    if (n >= cols && (size_t)cols <= sizeof c->line) /* a wrapped line cannot be redrawn */
        c->line[cols - 1] = 0;
    fprintf(c->out, "\r\033[K%s", c->line);
    fflush(c->out);
    c->bar_shown = 1;
}

static void step_line(console *c)
{
    char nums[160];
    fmt_step_numbers(c, nums, sizeof nums);
    snprintf(c->line, sizeof c->line, "epoch %lld/%lld step %lld/%lld%s",
             (long long)c->epoch + 1, (long long)c->epochs, (long long)c->step + 1,
             (long long)c->steps, nums);
    put_line(c, c->line);
}

static int summary_line(void *ctx, const lg_epoch *r, nn_error *err)
{
    (void)err;
    console *c = ctx;
    size_t n = 0, cap = sizeof c->line;
    n += (size_t)snprintf(c->line, cap, "epoch %lld/%lld:", (long long)r->epoch + 1,
                          (long long)r->epochs);
    int val_started = 0;
    for (int i = 0; i < r->m.n && n < cap; i++) {
        const char *name = r->m.names[i];
        if (strncmp(name, "val_", 4) == 0 && !val_started) {
            val_started = 1;
            n += (size_t)snprintf(c->line + n, cap - n, " |");
        }
        if (n < cap)
            n += (size_t)snprintf(c->line + n, cap - n, " %s %.4f", clean(c, name),
                                  r->m.values[i]);
    }
    if (n < cap && r->has_train)
        n += (size_t)snprintf(c->line + n, cap - n, " | lr %.3g", r->lr);
    if (n < cap)
        snprintf(c->line + n, cap - n, " | %.1f s", r->elapsed_s);
    put_line(c, c->line);
    return NN_OK;
}

static void eval_lines(console *c, const nn_event *ev)
{
    size_t n = (size_t)snprintf(c->line, sizeof c->line, "eval:");
    for (int i = 0; i < ev->n_metrics && n < sizeof c->line; i++)
        n += (size_t)snprintf(c->line + n, sizeof c->line - n, " %s %.4f",
                              clean(c, ev->metrics[i].name), ev->metrics[i].value);
    put_line(c, c->line);
    if (!ev->confusion || ev->n_classes <= 0 || ev->n_classes > 20)
        return;
    put_line(c, "confusion matrix (row = true class, column = predicted):");
    for (int i = 0; i < ev->n_classes; i++) {
        char num[24];
        snprintf(num, sizeof num, "%d", i);
        const char *name = ev->class_names && ev->class_names[i] ? ev->class_names[i] : num;
        n = (size_t)snprintf(c->line, sizeof c->line, "  %-12.12s", clean(c, name));
        for (int j = 0; j < ev->n_classes && n < sizeof c->line; j++)
            n += (size_t)snprintf(c->line + n, sizeof c->line - n, " %7lld",
                                  (long long)ev->confusion[i * ev->n_classes + j]);
        put_line(c, c->line);
    }
}

static int console_open(void *self, const nn_logger_open *o, nn_error *err)
{
    (void)err;
    console *c = self;
    c->out = c->stream_is_stderr ? stderr : stdout;
    c->is_tty = o->is_tty;
    c->verbosity = o->verbosity;
    c->opened = 1;
    return NN_OK;
}

static int console_event(void *self, const nn_event *ev, nn_error *err)
{
    console *c = self;
    if (!c->opened)
        return NN_OK;
    int quiet = c->verbosity < 0, verbose = c->verbosity > 0;
    int rc = lg_epoch_feed(&c->rec, ev, summary_line, c, WHO, err);
    switch (ev->kind) {
    case NN_EV_TRAIN_BEGIN:
        if (!quiet) {
            snprintf(c->line, sizeof c->line, "training: %lld epochs of %lld steps%s%s",
                     (long long)ev->epochs, (long long)ev->steps_per_epoch,
                     ev->message && *ev->message ? ", " : "",
                     ev->message ? clean(c, ev->message) : "");
            put_line(c, c->line);
        }
        break;
    case NN_EV_EPOCH_BEGIN:
        c->epoch = ev->epoch;
        c->epochs = ev->epochs;
        c->steps = ev->steps_per_epoch;
        c->step = -1;
        c->epoch_t0 = ev->elapsed_s;
        c->loss = c->accuracy = NAN;
        break;
    case NN_EV_BATCH_END: {
        c->epoch = ev->epoch;
        c->epochs = ev->epochs;
        c->step = ev->step;
        c->steps = ev->steps_per_epoch;
        c->elapsed = ev->elapsed_s;
        c->samples_per_s = ev->samples_per_s;
        c->lr = ev->lr;
        c->loss = lg_event_metric(ev, "loss");
        c->accuracy = lg_event_metric(ev, "accuracy");
        int64_t every = c->log_every;
        if (every <= 0)
            every = c->steps >= 10 ? c->steps / 10 : 1;
        if (verbose || (!quiet && !c->is_tty && ((ev->step + 1) % every == 0)))
            step_line(c);
        break;
    }
    case NN_EV_PROGRESS:
        if (c->is_tty && !quiet && c->steps > 0 && c->step >= 0) {
            if (ev->elapsed_s > c->elapsed)
                c->elapsed = ev->elapsed_s;
            if (ev->samples_per_s > 0)
                c->samples_per_s = ev->samples_per_s;
            draw_bar(c);
        }
        break;
    case NN_EV_CHECKPOINT:
        if (!quiet) {
            snprintf(c->line, sizeof c->line, "checkpoint: %s", clean(c, ev->path));
            put_line(c, c->line);
        }
        break;
    case NN_EV_NONFINITE:
        /* an error: shown even when quiet */
        if (c->is_tty)
            snprintf(c->line, sizeof c->line, "\033[1;31mERROR: non-finite value: %s\033[0m",
                     clean(c, ev->message));
        else
            snprintf(c->line, sizeof c->line, "ERROR: non-finite value: %s",
                     clean(c, ev->message));
        put_line(c, c->line);
        break;
    case NN_EV_HINT:
        if (!quiet) {
            if (c->is_tty)
                snprintf(c->line, sizeof c->line, "\033[1;33mHINT:\033[0m %s",
                         clean(c, ev->message));
            else
                snprintf(c->line, sizeof c->line, "HINT: %s", clean(c, ev->message));
            put_line(c, c->line);
        }
        break;
    case NN_EV_TRAIN_END:
        if (!quiet || (ev->message && strcmp(ev->message, "completed") != 0)) {
            snprintf(c->line, sizeof c->line, "training ended (%s) after %.1f s",
                     ev->message ? clean(c, ev->message) : "completed", ev->elapsed_s);
            put_line(c, c->line);
        }
        break;
    case NN_EV_EVAL_END:
        /* the command that evaluated prints its own result; the matrix is for --verbose */
        if (c->verbosity > 0)
            eval_lines(c, ev);
        break;
    default:
        break;
    }
    /* a reader that went away (`| head -1`): SIGPIPE is ignored, the write failed; the logger
     * is switched off with this message and training goes on */
    if (rc == NN_OK && ferror(c->out)) {
        int e = errno;
        clearerr(c->out);
        rc = nn_error_set(err, NN_EIO, WHO ": cannot write to %s: %s; progress output stops",
                          c->out == stderr ? "stderr" : "stdout",
                          e == EPIPE ? "the reader closed the pipe" : strerror(e));
    }
    return rc;
}

static int console_flush(void *self, nn_error *err)
{
    (void)err;
    console *c = self;
    if (c->opened)
        fflush(c->out);
    return NN_OK;
}

static int console_close(void *self, nn_error *err)
{
    console *c = self;
    if (!c->opened)
        return NN_OK;
    int rc = lg_epoch_finish(&c->rec, summary_line, c, err);
    end_bar(c);
    fflush(c->out);
    c->opened = 0;
    return rc;
}

static const nn_param_spec console_params[] = {
    {.name = "stream", .type = NN_PARAM_ENUM, .def = "stdout", .choices = "stdout|stderr",
     .doc = "where progress and summaries go"},
    {.name = "log_every", .type = NN_PARAM_INT, .def = "0", .range = "[0, inf)",
     .doc = "when not on a terminal: print a line every N steps; 0 = about 10 lines per "
            "epoch (verbose prints every step). A step line's loss and acc are that optimizer "
            "step's own (its whole batch); the epoch's summary line has the epoch's"},
    {.name = "bar_width", .type = NN_PARAM_INT, .def = "30", .range = "[10, 200]",
     .doc = "width of the progress bar in characters (terminal only)"},
    {.name = NULL},
};

static const nn_logger_vtable console_vtable = {
    .struct_size = sizeof(nn_logger_vtable),
    .create = console_create,
    .destroy = console_destroy,
    .open = console_open,
    .event = console_event,
    .flush = console_flush, /* optional */
    .close = console_close, /* optional */
};

static const nn_plugin_desc console_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LOGGER, .name = "console", .version = "1.0.0", .license = "MIT",
    .summary = "progress bar on a terminal (plain lines otherwise) and a summary line per epoch",
    .params = console_params, .vtable = &console_vtable);

NN_PLUGIN_EXPORT(&console_desc);
