/* metrics.c: accuracy, top-k and the confusion matrix from logits and class ids, or from
 * probability targets (mixup, cutmix), whose class is their first maximum. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "nntrain/backend.h"

int nn_metrics_init(nn_metrics *m, int n_classes, int top_k, int confusion)
{
    memset(m, 0, sizeof *m);
    m->n_classes = n_classes;
    m->top_k = top_k < n_classes ? top_k : 0;
    if (n_classes > 0 && confusion) {
        m->confusion = calloc((size_t)n_classes * (size_t)n_classes, sizeof *m->confusion);
        if (!m->confusion)
            return -1;
    }
    return 0;
}

void nn_metrics_reset(nn_metrics *m)
{
    m->loss_sum = 0;
    m->samples = m->correct = m->topk_correct = 0;
    if (m->confusion)
        memset(m->confusion, 0, (size_t)m->n_classes * (size_t)m->n_classes * sizeof *m->confusion);
}

void nn_metrics_free(nn_metrics *m)
{
    free(m->confusion);
    m->confusion = NULL;
}

void nn_metrics_add(nn_metrics *m, const nn_tensor *pred, const nn_tensor *target, int64_t n,
                    double loss)
{
    m->loss_sum += loss * (double)n;
    m->samples += n;
    if (m->n_classes <= 0 || pred->dl.ndim != 2)
        return;
    int64_t C = pred->shape[1];
    /* probability targets [N, C] (mixup, cutmix) stand for the class they weigh most */
    int soft = nn_tensor_dtype(target) == NN_F32 && target->dl.ndim == 2 &&
               target->shape[1] == C;
    if (!soft && nn_tensor_dtype(target) != NN_I32)
        return;
    const float *P = NN_F32P(pred);
    for (int64_t r = 0; r < n; r++) {
        const float *row = P + r * C;
        int64_t best = nn_argmax_first(row, C);
        int64_t t = soft ? nn_argmax_first(NN_F32P(target) + r * C, C) : NN_I32P(target)[r];
        if (t < 0 || t >= C)
            continue;
        m->correct += best == t;
        if (m->top_k > 0) {
            int64_t above = 0; /* classes scored strictly higher than the true one */
            for (int64_t c = 0; c < C; c++)
                above += row[c] > row[t];
            m->topk_correct += above < m->top_k;
        }
        if (m->confusion && t < m->n_classes && best < m->n_classes)
            m->confusion[(int64_t)t * m->n_classes + best]++;
    }
}

void nn_metrics_add_counts(nn_metrics *m, int64_t n, double loss, int64_t correct,
                           int64_t topk_correct)
{
    m->loss_sum += loss * (double)n;
    m->samples += n;
    if (m->n_classes <= 0)
        return;
    m->correct += correct;
    if (m->top_k > 0)
        m->topk_correct += topk_correct;
}

double nn_metrics_loss(const nn_metrics *m)
{
    return m->samples ? m->loss_sum / (double)m->samples : NAN;
}

double nn_metrics_accuracy(const nn_metrics *m)
{
    return m->n_classes > 0 && m->samples ? (double)m->correct / (double)m->samples : NAN;
}

double nn_metrics_topk(const nn_metrics *m)
{
    return m->n_classes > 0 && m->top_k > 0 && m->samples
               ? (double)m->topk_correct / (double)m->samples
               : NAN;
}

void nn_metrics_group_begin(nn_metrics_group *g, const nn_metrics *m, int sums)
{
    memset(g, 0, sizeof *g);
    g->sums = sums;
    g->start = *m;
}

void nn_metrics_group_add(nn_metrics_group *g, double loss, int64_t rows)
{
    if (rows <= 0)
        return; /* an empty slice: no sample, no loss */
    g->loss += g->sums ? loss : loss * (double)rows;
    g->rows += rows;
    g->batches++;
}

void nn_metrics_group_end(nn_metrics_group *g, nn_metrics *m, double *loss, double *accuracy)
{
    double l = NAN;
    if (g->rows > 0)
        l = g->sums ? g->loss : g->loss / (double)g->rows;
    /* one batch went in as it is (a data-parallel slice's sum is weighted by the global
     * batch's rows there); several are counted again as one batch of all their rows */
    if (g->batches > 1)
        m->loss_sum = g->start.loss_sum + l * (double)g->rows;
    if (loss)
        *loss = l;
    if (accuracy)
        *accuracy = m->n_classes > 0 && g->rows > 0
                        ? (double)(m->correct - g->start.correct) / (double)g->rows
                        : NAN;
    nn_metrics_group_begin(g, m, g->sums);
}
