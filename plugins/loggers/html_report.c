/* html_report.c: the `html_report` logger: one self-contained HTML file (inline SVG charts of
 * every metric per epoch, the learning rate, the confusion matrix, the config text), rewritten
 * atomically at each epoch end. Never references anything outside the file (no network). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nntrain/logger.h>
#include <nntrain/plugin.h>

#include "logger_util.h"

#define WHO "logger 'html_report'"
#define LR_POINTS_MAX 1024
#define MESSAGES_MAX 20

typedef struct epoch_row {
    int64_t epoch, global_step;
    double elapsed_s, lr;
    lg_metrics m;
} epoch_row;

typedef struct report {
    char *path_key, *path;
    char *run_name, *config_path, *config_text;
    int opened;
    char status[64];
    epoch_row *rows;
    int n_rows, cap_rows;
    int64_t epochs;
    /* learning rate per step, thinned: when full, every other point goes and the stride
     * doubles, so the curve keeps its shape at bounded memory */
    double lr_x[LR_POINTS_MAX], lr_y[LR_POINTS_MAX];
    int n_lr;
    int64_t lr_stride, lr_seen;
    int n_classes;
    int64_t *confusion;
    char **class_names;
    char confusion_title[64];
    lg_metrics eval;
    int has_eval;
    char *messages[MESSAGES_MAX];
    int n_messages;
    lg_epoch rec;
    lg_buf html;
} report;

static void report_destroy(void *self)
{
    report *r = self;
    free(r->path_key);
    free(r->path);
    free(r->run_name);
    free(r->config_path);
    free(r->config_text);
    for (int i = 0; i < r->n_rows; i++)
        lg_metrics_free(&r->rows[i].m);
    free(r->rows);
    free(r->confusion);
    if (r->class_names)
        for (int i = 0; i < r->n_classes; i++)
            free(r->class_names[i]);
    free(r->class_names);
    lg_metrics_free(&r->eval);
    for (int i = 0; i < r->n_messages; i++)
        free(r->messages[i]);
    lg_epoch_free(&r->rec);
    lg_buf_free(&r->html);
    free(r);
}

static int report_create(const nn_params *params, void **self, nn_error *err)
{
    report *r = calloc(1, sizeof *r);
    if (!r)
        return nn_error_set(err, NN_ENOMEM, WHO ": out of memory");
    r->path_key = strdup(nn_params_str(params, "path"));
    if (!r->path_key) {
        report_destroy(r);
        return nn_error_set(err, NN_ENOMEM, WHO ": out of memory");
    }
    r->lr_stride = 1;
    snprintf(r->status, sizeof r->status, "not started");
    *self = r;
    return NN_OK;
}

/* ---- HTML and SVG writing ---- */
static void esc(lg_buf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': lg_buf_str(b, "&amp;"); break;
        case '<': lg_buf_str(b, "&lt;"); break;
        case '>': lg_buf_str(b, "&gt;"); break;
        case '"': lg_buf_str(b, "&quot;"); break;
        case '\'': lg_buf_str(b, "&#39;"); break;
        default: lg_buf_add(b, s, 1);
        }
    }
}

typedef struct series {
    const char *label, *color;
    const double *x, *y;
    int n;
} series;

enum { CW = 560, CH = 300, ML = 64, MR = 16, MT = 34, MB = 42 };

static void range_of(const series *s, int ns, int use_y, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int k = 0; k < ns; k++)
        for (int i = 0; i < s[k].n; i++) {
            double v = use_y ? s[k].y[i] : s[k].x[i];
            if (isfinite(v) && isfinite(s[k].y[i])) {
                *lo = v < *lo ? v : *lo;
                *hi = v > *hi ? v : *hi;
            }
        }
    if (!isfinite(*lo)) {
        *lo = 0;
        *hi = 1;
    } else if (*hi == *lo) {
        /* x is an epoch or a step: one point sits in the middle of [x-1, x+1] */
        double d = use_y && fabs(*lo) > 0 ? fabs(*lo) * 0.1 : 1;
        *lo -= d;
        *hi += d;
    }
}

/* One line chart. Each series is a <path class="series"> (a new M after a gap), plus dots
 * when there are few points so that a single epoch still shows. */
static void chart(lg_buf *b, const char *title, const char *xlabel, const series *s, int ns,
                  int integer_x)
{
    double x0, x1, y0, y1;
    range_of(s, ns, 0, &x0, &x1);
    range_of(s, ns, 1, &y0, &y1);
    double pad = (y1 - y0) * 0.05;
    y0 -= pad;
    y1 += pad;
    const double pw = CW - ML - MR, ph = CH - MT - MB;
#define PX(v) (ML + ((v) - x0) / (x1 - x0) * pw)
#define PY(v) (MT + (y1 - (v)) / (y1 - y0) * ph)
    lg_buf_printf(b, "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
                     "height=\"%d\" viewBox=\"0 0 %d %d\">\n", CW, CH, CW, CH);
    lg_buf_printf(b, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n", CW, CH);
    lg_buf_str(b, "<text x=\"8\" y=\"20\" font-size=\"15\" font-weight=\"bold\">");
    esc(b, title);
    lg_buf_str(b, "</text>\n");
    for (int i = 0; i <= 4; i++) {
        double v = y0 + (y1 - y0) * i / 4.0, py = PY(v);
        lg_buf_printf(b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                         "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%.4g"
                         "</text>\n", ML, py, CW - MR, py, ML - 4, py + 4, v);
    }
    /* epochs are whole numbers: no tick at epoch 1.25 */
    int nxt = integer_x && x1 - x0 < 4 ? (int)(x1 - x0) : 4;
    if (nxt < 1)
        nxt = 1;
    for (int i = 0; i <= nxt; i++) {
        double v = x0 + (x1 - x0) * i / nxt, px = PX(v);
        lg_buf_printf(b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>"
                         "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%.4g"
                         "</text>\n", px, MT, px, CH - MB, px, CH - MB + 14, v);
    }
    lg_buf_printf(b, "<text x=\"%.1f\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">",
                  ML + pw / 2, CH - 8);
    esc(b, xlabel);
    lg_buf_str(b, "</text>\n");
    lg_buf_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
                     "stroke=\"#888\"/>\n", ML, MT, pw, ph);
    for (int k = 0; k < ns; k++) {
        lg_buf_str(b, "<path class=\"series\" data-name=\"");
        esc(b, s[k].label);
        lg_buf_printf(b, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" d=\"", s[k].color);
        int pen_down = 0;
        for (int i = 0; i < s[k].n; i++) {
            if (!isfinite(s[k].y[i]) || !isfinite(s[k].x[i])) {
                pen_down = 0;
                continue;
            }
            lg_buf_printf(b, "%s%.1f %.1f ", pen_down ? "L" : "M", PX(s[k].x[i]),
                          PY(s[k].y[i]));
            pen_down = 1;
        }
        lg_buf_str(b, "\"/>\n");
        if (s[k].n <= 60)
            for (int i = 0; i < s[k].n; i++)
                if (isfinite(s[k].y[i]) && isfinite(s[k].x[i]))
                    lg_buf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
                                  PX(s[k].x[i]), PY(s[k].y[i]), s[k].color);
        lg_buf_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"4\" fill=\"%s\"/>"
                         "<text x=\"%d\" y=\"%d\" font-size=\"12\">", CW - MR - 150 + 0,
                      12 + 14 * k, s[k].color, CW - MR - 134, 17 + 14 * k);
        esc(b, s[k].label);
        lg_buf_str(b, "</text>\n");
    }
    lg_buf_str(b, "</svg>\n");
#undef PX
#undef PY
}

/* Confusion matrix as a heat map: a cell's shade is its share of the true class's row. */
static void heatmap(lg_buf *b, const report *r)
{
    int n = r->n_classes;
    int cell = n <= 12 ? 40 : (480 / n > 6 ? 480 / n : 6), lab = 110;
    int w = lab + n * cell + 20, h = lab + n * cell + 20;
    lg_buf_printf(b, "<svg class=\"confusion\" xmlns=\"http://www.w3.org/2000/svg\" "
                     "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n", w, h, w, h);
    lg_buf_printf(b, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n", w, h);
    lg_buf_printf(b, "<text x=\"%d\" y=\"14\" font-size=\"12\">predicted &#8594;</text>\n", lab);
    lg_buf_printf(b, "<text x=\"4\" y=\"%d\" font-size=\"12\">true &#8595;</text>\n", lab - 4);
    for (int i = 0; i < n; i++) {
        int64_t row = 0;
        for (int j = 0; j < n; j++)
            row += r->confusion[i * n + j];
        if (cell >= 14) {
            lg_buf_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">",
                          lab - 6, lab + i * cell + cell / 2 + 4);
            esc(b, r->class_names[i]);
            lg_buf_str(b, "</text>\n");
            lg_buf_printf(b, "<text font-size=\"11\" transform=\"translate(%d,%d) rotate(-60)\">",
                          lab + i * cell + cell / 2 + 4, lab - 6);
            esc(b, r->class_names[i]);
            lg_buf_str(b, "</text>\n");
        }
        for (int j = 0; j < n; j++) {
            int64_t c = r->confusion[i * n + j];
            double f = row > 0 ? (double)c / (double)row : 0;
            int red = (int)(255 - f * (255 - 8)), green = (int)(255 - f * (255 - 81)),
                blue = (int)(255 - f * (255 - 156));
            lg_buf_printf(b, "<rect class=\"cell\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
                             "fill=\"rgb(%d,%d,%d)\" stroke=\"#ccc\"><title>",
                          lab + j * cell, lab + i * cell, cell, cell, red, green, blue);
            esc(b, r->class_names[i]);
            lg_buf_str(b, " &#8594; ");
            esc(b, r->class_names[j]);
            lg_buf_printf(b, ": %lld</title></rect>\n", (long long)c);
            if (cell >= 28)
                lg_buf_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\" "
                                 "fill=\"%s\">%lld</text>\n", lab + j * cell + cell / 2,
                              lab + i * cell + cell / 2 + 4, f > 0.5 ? "#fff" : "#000",
                              (long long)c);
        }
    }
    lg_buf_str(b, "</svg>\n");
}

/* metric names in order of first appearance over all epochs, without the val_ prefix */
static int base_names(const report *r, const char **out, int cap)
{
    int n = 0;
    for (int e = 0; e < r->n_rows; e++)
        for (int i = 0; i < r->rows[e].m.n; i++) {
            const char *nm = r->rows[e].m.names[i];
            if (strncmp(nm, "val_", 4) == 0)
                nm += 4;
            int seen = 0;
            for (int k = 0; k < n && !seen; k++)
                seen = strcmp(out[k], nm) == 0;
            if (!seen && n < cap)
                out[n++] = nm;
        }
    return n;
}

static void metric_chart(lg_buf *b, const report *r, const char *base, double *xs, double *ys)
{
    char valname[160];
    snprintf(valname, sizeof valname, "val_%s", base);
    series s[2];
    int ns = 0;
    const char *names[2] = {base, valname}, *colors[2] = {"#1f77b4", "#ff7f0e"};
    for (int k = 0; k < 2; k++) {
        double *x = xs + k * r->n_rows, *y = ys + k * r->n_rows;
        int have = 0;
        for (int e = 0; e < r->n_rows; e++) {
            x[e] = (double)r->rows[e].epoch + 1;
            y[e] = lg_metrics_get(&r->rows[e].m, names[k]);
            have |= lg_metrics_find(&r->rows[e].m, names[k]) >= 0;
        }
        if (have)
            s[ns++] = (series){k ? "validation" : "train", colors[k], x, y, r->n_rows};
    }
    chart(b, base, "epoch", s, ns, 1);
}

static void build(report *r)
{
    lg_buf *b = &r->html;
    b->len = 0;
    b->oom = 0;
    lg_buf_str(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>");
    esc(b, r->run_name);
    lg_buf_str(b, " - nntrain report</title>\n<style>body{font-family:sans-serif;margin:20px;"
                  "color:#222}svg{margin:6px;border:1px solid #eee}table{border-collapse:"
                  "collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
                  "pre{background:#f6f6f6;padding:8px;overflow:auto}.msg{color:#a40}</style>\n"
                  "</head><body>\n<h1>");
    esc(b, r->run_name);
    lg_buf_str(b, "</h1>\n<p>status: <b>");
    esc(b, r->status);
    lg_buf_printf(b, "</b>; epochs done: %d of %lld", r->n_rows, (long long)r->epochs);
    if (r->n_rows)
        lg_buf_printf(b, "; elapsed %.1f s", r->rows[r->n_rows - 1].elapsed_s);
    lg_buf_str(b, "</p>\n");
    if (r->n_messages) {
        lg_buf_str(b, "<h2>Messages</h2>\n<ul>\n");
        for (int i = 0; i < r->n_messages; i++) {
            lg_buf_str(b, "<li class=\"msg\">");
            esc(b, r->messages[i]);
            lg_buf_str(b, "</li>\n");
        }
        lg_buf_str(b, "</ul>\n");
    }
    if (r->has_eval) {
        lg_buf_str(b, "<h2>Evaluation</h2>\n<table><tr>");
        for (int i = 0; i < r->eval.n; i++) {
            lg_buf_str(b, "<th>");
            esc(b, r->eval.names[i]);
            lg_buf_str(b, "</th>");
        }
        lg_buf_str(b, "</tr><tr>");
        for (int i = 0; i < r->eval.n; i++)
            lg_buf_printf(b, "<td>%.6g</td>", r->eval.values[i]);
        lg_buf_str(b, "</tr></table>\n");
    }
    lg_buf_str(b, "<h2>Curves</h2>\n<div>\n");
    const char *bases[64];
    int nb = base_names(r, bases, 64);
    size_t nr = r->n_rows > 0 ? (size_t)r->n_rows : 1;
    double *xy = malloc(4 * nr * sizeof *xy);
    if (!xy) {
        b->oom = 1;
        return;
    }
    for (int i = 0; i < nb; i++)
        metric_chart(b, r, bases[i], xy, xy + 2 * r->n_rows);
    free(xy);
    if (r->n_lr) {
        series s = {"learning rate", "#2ca02c", r->lr_x, r->lr_y, r->n_lr};
        chart(b, "learning rate", "global step", &s, 1, 0);
    }
    lg_buf_str(b, "</div>\n");
    if (r->confusion) {
        lg_buf_str(b, "<h2>");
        esc(b, r->confusion_title);
        lg_buf_str(b, "</h2>\n");
        heatmap(b, r);
    }
    if (r->n_rows) {
        lg_buf_str(b, "<h2>Epochs</h2>\n<table><tr><th>epoch</th><th>global step</th>"
                      "<th>elapsed s</th><th>lr</th>");
        for (int i = 0; i < nb; i++) {
            lg_buf_str(b, "<th>");
            esc(b, bases[i]);
            lg_buf_str(b, "</th><th>val_");
            esc(b, bases[i]);
            lg_buf_str(b, "</th>");
        }
        lg_buf_str(b, "</tr>\n");
        for (int e = 0; e < r->n_rows; e++) {
            const epoch_row *row = &r->rows[e];
            lg_buf_printf(b, "<tr><td>%lld</td><td>%lld</td><td>%.1f</td><td>%.3g</td>",
                          (long long)row->epoch + 1, (long long)row->global_step,
                          row->elapsed_s, row->lr);
            for (int i = 0; i < nb; i++) {
                char vn[160];
                snprintf(vn, sizeof vn, "val_%s", bases[i]);
                const char *nm[2] = {bases[i], vn};
                for (int k = 0; k < 2; k++) {
                    if (lg_metrics_find(&row->m, nm[k]) >= 0)
                        lg_buf_printf(b, "<td>%.5g</td>", lg_metrics_get(&row->m, nm[k]));
                    else
                        lg_buf_str(b, "<td></td>");
                }
            }
            lg_buf_str(b, "</tr>\n");
        }
        lg_buf_str(b, "</table>\n");
    }
    lg_buf_str(b, "<h2>Configuration</h2>\n<p>");
    esc(b, r->config_path ? r->config_path : "(no model file)");
    lg_buf_str(b, "</p>\n<pre class=\"config\">");
    esc(b, r->config_text ? r->config_text : "");
    lg_buf_str(b, "</pre>\n</body></html>\n");
}

static int write_report(report *r, nn_error *err)
{
    if (!r->opened)
        return NN_OK;
    build(r);
    if (r->html.oom)
        return nn_error_set(err, NN_ENOMEM, WHO ": out of memory building '%s'", r->path);
    return lg_write_atomic(r->path, r->html.p, r->html.len, WHO, err);
}

static int replace_confusion(report *r, int n, const int64_t *conf, const char *const *names)
{
    nn_event tmp = {.n_classes = n, .confusion = conf, .class_names = names};
    return lg_confusion_copy(&tmp, &r->n_classes, &r->confusion, &r->class_names);
}

static int epoch_done(void *ctx, const lg_epoch *rec, nn_error *err)
{
    report *r = ctx;
    if (r->n_rows == r->cap_rows) {
        int cap = r->cap_rows ? 2 * r->cap_rows : 64;
        epoch_row *rows = realloc(r->rows, (size_t)cap * sizeof *rows);
        if (!rows)
            return nn_error_set(err, NN_ENOMEM, WHO ": out of memory");
        r->rows = rows;
        r->cap_rows = cap;
    }
    epoch_row *row = &r->rows[r->n_rows];
    *row = (epoch_row){.epoch = rec->epoch, .global_step = rec->global_step,
                       .elapsed_s = rec->elapsed_s, .lr = rec->lr};
    for (int i = 0; i < rec->m.n; i++)
        if (lg_metrics_set(&row->m, rec->m.names[i], rec->m.values[i]) != 0) {
            lg_metrics_free(&row->m);
            return nn_error_set(err, NN_ENOMEM, WHO ": out of memory");
        }
    r->n_rows++;
    if (rec->confusion) {
        if (replace_confusion(r, rec->n_classes, rec->confusion,
                              (const char *const *)rec->class_names) != 0)
            return nn_error_set(err, NN_ENOMEM, WHO ": out of memory");
        snprintf(r->confusion_title, sizeof r->confusion_title,
                 "Confusion matrix (validation, epoch %lld)", (long long)rec->epoch + 1);
    }
    return write_report(r, err);
}

static void add_lr_point(report *r, const nn_event *ev)
{
    if (r->lr_seen++ % r->lr_stride != 0)
        return;
    if (r->n_lr == LR_POINTS_MAX) {
        for (int i = 0; i < LR_POINTS_MAX / 2; i++) {
            r->lr_x[i] = r->lr_x[2 * i];
            r->lr_y[i] = r->lr_y[2 * i];
        }
        r->n_lr = LR_POINTS_MAX / 2;
        r->lr_stride *= 2;
    }
    r->lr_x[r->n_lr] = (double)ev->global_step;
    r->lr_y[r->n_lr++] = ev->lr;
}

static void add_message(report *r, const char *prefix, const char *text)
{
    if (r->n_messages == MESSAGES_MAX) {
        free(r->messages[0]);
        memmove(r->messages, r->messages + 1, (MESSAGES_MAX - 1) * sizeof *r->messages);
        r->n_messages--;
    }
    size_t n = strlen(prefix) + strlen(text ? text : "") + 1;
    char *m = malloc(n);
    if (!m)
        return;
    snprintf(m, n, "%s%s", prefix, text ? text : "");
    r->messages[r->n_messages++] = m;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int report_open(void *self, const nn_logger_open *o, nn_error *err)
{
    report *r = self;
    free(r->path);
    free(r->run_name);
    free(r->config_path);
    free(r->config_text);
    r->path = NULL;
    int rc = lg_run_file(o->run_dir, r->path_key, WHO, &r->path, err);
    if (rc != NN_OK)
        return rc;
    r->run_name = strdup(o->run_name ? o->run_name : "nntrain run");
    r->config_path = dup_or_null(o->config_path);
    r->config_text = dup_or_null(o->config_text);
    if (!r->path || !r->run_name || (o->config_path && !r->config_path) ||
        (o->config_text && !r->config_text))
        return nn_error_set(err, NN_ENOMEM, WHO ": out of memory");
    snprintf(r->status, sizeof r->status, "starting");
    r->opened = 1;
    rc = write_report(r, err); /* an unwritable place shows now, not after an epoch */
    if (rc != NN_OK)
        r->opened = 0;
    return rc;
}

static int report_event(void *self, const nn_event *ev, nn_error *err)
{
    report *r = self;
    if (!r->opened)
        return NN_OK;
    if (ev->epochs > 0)
        r->epochs = ev->epochs;
    int rc = lg_epoch_feed(&r->rec, ev, epoch_done, r, WHO, err);
    switch (ev->kind) {
    case NN_EV_TRAIN_BEGIN:
        snprintf(r->status, sizeof r->status, "running");
        break;
    case NN_EV_BATCH_END:
        add_lr_point(r, ev);
        break;
    case NN_EV_NONFINITE:
        add_message(r, "non-finite value: ", ev->message);
        break;
    case NN_EV_HINT:
        add_message(r, "hint: ", ev->message);
        break;
    case NN_EV_TRAIN_END:
    case NN_EV_EVAL_END: {
        if (ev->kind == NN_EV_TRAIN_END) {
            snprintf(r->status, sizeof r->status, "%s", ev->message ? ev->message : "ended");
        } else {
            lg_metrics_clear(&r->eval);
            for (int i = 0; i < ev->n_metrics; i++)
                if (ev->metrics[i].name)
                    lg_metrics_set(&r->eval, ev->metrics[i].name, ev->metrics[i].value);
            r->has_eval = 1;
            if (ev->confusion && ev->n_classes > 0) {
                if (replace_confusion(r, ev->n_classes, ev->confusion, ev->class_names) != 0)
                    return nn_error_set(err, NN_ENOMEM, WHO ": out of memory");
                snprintf(r->confusion_title, sizeof r->confusion_title,
                         "Confusion matrix (evaluation)");
            }
        }
        int r2 = write_report(r, err);
        if (rc == NN_OK)
            rc = r2;
        break;
    }
    default:
        break;
    }
    return rc;
}

static int report_flush(void *self, nn_error *err)
{
    return write_report(self, err);
}

static int report_close(void *self, nn_error *err)
{
    report *r = self;
    if (!r->opened)
        return NN_OK;
    int rc = lg_epoch_finish(&r->rec, epoch_done, r, err);
    if (rc == NN_OK)
        rc = write_report(r, err);
    r->opened = 0;
    return rc;
}

static const nn_param_spec report_params[] = {
    {.name = "path", .type = NN_PARAM_STRING, .def = "report.html",
     .doc = "the report file, relative to the run directory (its directories are created if "
            "missing); self-contained (inline SVG, no "
            "network), rewritten atomically at each epoch end: refresh the browser to follow"},
    {.name = NULL},
};

static const nn_logger_vtable report_vtable = {
    .struct_size = sizeof(nn_logger_vtable),
    .create = report_create,
    .destroy = report_destroy,
    .open = report_open,
    .event = report_event,
    .flush = report_flush, /* optional */
    .close = report_close, /* optional */
};

static const nn_plugin_desc report_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LOGGER, .name = "html_report", .version = "1.0.0", .license = "MIT",
    .summary = "report.html: curves, learning rate, confusion heat map and config in one file",
    .params = report_params, .vtable = &report_vtable);

NN_PLUGIN_EXPORT(&report_desc);
