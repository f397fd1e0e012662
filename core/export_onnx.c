/* export_onnx.c: writes a session's trained model as one ONNX file: graph input "input" (a
 * batch of samples as the dataset plugin gives them, batch dimension "N"), the evaluation
 * transforms, every layer's nodes, output "output" and, for classification, "probabilities"
 * (softmax over the last axis, as `nntrain predict` prints), with the class names and the
 * provenance as metadata. The file is replaced atomically; a failed export leaves none. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export_internal.h"
#include "file_replace.h"
#include "json_text.h"
#include "version.h"

/* field numbers of onnx.proto (ModelProto, GraphProto, ValueInfoProto, TypeProto) */
enum { M_IR = 1, M_PRODUCER = 2, M_PRODUCER_VERSION = 3, M_DOC = 6, M_GRAPH = 7, M_OPSET = 8,
       M_META = 14 };
enum { G_NAME = 2, G_DOC = 10, G_INPUT = 11, G_OUTPUT = 12 };

static const int elem_types[NN_DTYPE_COUNT] = {
    [NN_F32] = 1, [NN_F64] = 11, [NN_F16] = 10, [NN_BF16] = 16,
    [NN_I32] = 6, [NN_I64] = 7,  [NN_U8] = 2,
};

/* the IR version that goes with each opset (onnx/helper.py's VERSION_TABLE) */
static int ir_version(int opset)
{
    return opset <= 18 ? 8 : opset <= 20 ? 9 : 10;
}

/* ValueInfoProto of a value shaped [N, desc's dims after the batch] */
static void value_info(nn_pb_buf *graph, int field, const char *name, const nn_tensor *desc)
{
    nn_pb_buf vi = {0}, type = {0}, tensor = {0}, shape = {0}, dim = {0};
    for (int d = 0; d < desc->dl.ndim; d++) {
        nn_pb_reset(&dim);
        if (d == 0)
            nn_pb_string(&dim, 2, "N"); /* dim_param: the batch is dynamic */
        else
            nn_pb_int64(&dim, 1, desc->shape[d]);
        nn_pb_message(&shape, 1, &dim);
    }
    nn_pb_int64(&tensor, 1, elem_types[nn_tensor_dtype(desc)]);
    nn_pb_message(&tensor, 2, &shape);
    nn_pb_message(&type, 1, &tensor);
    nn_pb_string(&vi, 1, name);
    nn_pb_message(&vi, 2, &type);
    nn_pb_message(graph, field, &vi);
    nn_pb_free(&vi);
    nn_pb_free(&type);
    nn_pb_free(&tensor);
    nn_pb_free(&shape);
    nn_pb_free(&dim);
}

static void meta(nn_pb_buf *model, const char *key, const char *value)
{
    nn_pb_buf e = {0};
    nn_pb_string(&e, 1, key);
    nn_pb_string(&e, 2, value);
    nn_pb_message(model, M_META, &e);
    nn_pb_free(&e);
}

static void pb_piece(void *b, const char *p, size_t n) { nn_pb_raw(b, p, n); }

/* s as a JSON string into b */
static void json_string(nn_pb_buf *b, const char *s) { nn_json_string(s, pb_piece, b); }

/* "[1, 28, 28]" after the batch, as "F32 [N, 1, 28, 28]" */
static void describe(char *buf, size_t cap, const nn_tensor *t)
{
    static const char *const names[NN_DTYPE_COUNT] = {"F32", "F64", "F16", "BF16",
                                                      "I32", "I64", "U8"};
    size_t used = (size_t)snprintf(buf, cap, "%s [N", names[nn_tensor_dtype(t)]);
    for (int d = 1; d < t->dl.ndim && used < cap; d++)
        used += (size_t)snprintf(buf + used, cap - used, ", %lld", (long long)t->shape[d]);
    if (used < cap)
        snprintf(buf + used, cap - used, "]");
}

/* the model's metadata_props: what a deployment needs to use the outputs */
static void model_meta(nn_pb_buf *model, nn_session *s, const nn_export_opts *o,
                       const nn_tensor *in, const nn_tensor *out, int probs, int n_tf)
{
    const nn_dataset_info *info = nn_data_info(s->data);
    char text[700], a[160], b[160];
    if (info->n_classes > 0) {
        nn_pb_buf names = {0};
        nn_pb_raw(&names, "[", 1);
        for (int c = 0; c < info->n_classes; c++) {
            char num[24];
            snprintf(num, sizeof num, "%d", c);
            if (c)
                nn_pb_raw(&names, ", ", 2);
            json_string(&names, info->class_names && info->class_names[c]
                                    ? info->class_names[c] : num);
        }
        nn_pb_raw(&names, "]\0", 2);
        meta(model, "class_names", names.oom ? "[]" : (const char *)names.p);
        nn_pb_free(&names);
        snprintf(text, sizeof text, "%d", info->n_classes);
        meta(model, "n_classes", text);
    }
    const nn_kv *type = nn_config_get(s->cfg, "data", "type");
    describe(a, sizeof a, in);
    snprintf(text, sizeof text, "%s: samples as the [data] plugin '%s' gives them%s", a,
             type ? type->value : "?",
             n_tf ? "; the transforms evaluation runs are the graph's first nodes" : "");
    meta(model, "input", text);
    describe(b, sizeof b, out);
    snprintf(text, sizeof text, "%s: the model's output (its last layer)%s", b,
             probs ? "; 'probabilities' is its softmax over the last axis, as `nntrain "
                     "predict` prints it" : "");
    meta(model, "output", text);
    meta(model, "nntrain_version", NNTRAIN_VERSION);
    meta(model, "model_file", nn_config_path(s->cfg));
    meta(model, "checkpoint", o->checkpoint ? o->checkpoint : "");
}

/* writes head, then the graph field (tag, length, body), then tail, to path atomically */
static int write_model(const char *path, const nn_pb_buf *head, const nn_pb_buf *graph,
                       const nn_pb_buf *tail, nn_error *err)
{
    nn_pb_buf tag = {0};
    nn_pb_tag(&tag, M_GRAPH, NN_PB_LEN);
    nn_pb_varint(&tag, graph->len);
    size_t total = head->len + tag.len + graph->len + tail->len;
    if (total > 0x7fffffffu) {
        nn_pb_free(&tag);
        return nn_error_set(err, NN_ENOTSUP, "%s: the model takes %zu bytes, more than the 2 GiB "
                            "a single ONNX file can hold (external data is not supported)", path,
                            total);
    }
    const struct iovec parts[4] = {{head->p, head->len}, {tag.p, tag.len},
                                   {graph->p, graph->len}, {tail->p, tail->len}};
    int rc = nn_file_replace(path, "ONNX model", parts, 4, NN_FILE_USER, err);
    nn_pb_free(&tag);
    return rc;
}

static int classification(nn_session *s, const nn_tensor *out)
{
    const nn_dataset_info *info = nn_data_info(s->data);
    return info->n_classes > 0 && nn_tensor_dtype(&info->target) == NN_I32 &&
           out->dl.ndim == 2 && nn_tensor_dtype(out) == NN_F32;
}

int nn_export_onnx(nn_session *s, const nn_export_opts *o, nn_error *err)
{
    if (o->opset < NN_ONNX_OPSET_MIN || o->opset > NN_ONNX_OPSET_MAX)
        return nn_error_set(err, NN_EINVAL, "ONNX opset %d: nntrain writes opsets %d to %d",
                            o->opset, NN_ONNX_OPSET_MIN, NN_ONNX_OPSET_MAX);
    nn_export *x = nn_export_new(NN_EXPORT_ONNX, o->opset);
    if (!x)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    const nn_tensor *raw = nn_data_raw_sample(s->data);
    const nn_tensor *out = nn_plan_output(s->binds[0].plan);
    int probs = classification(s, out);
    nn_tensor in_desc = *raw; /* [N, sample...] */
    int64_t shape[NN_MAX_DIMS] = {1};
    for (int d = 0; d < raw->dl.ndim && d + 1 < NN_MAX_DIMS; d++)
        shape[d + 1] = raw->shape[d];
    nn_tensor_describe(&in_desc, (nn_dtype)nn_tensor_dtype(raw), raw->dl.ndim + 1, shape);
    nn_export_scope(x, NULL, NULL);
    const char *input = nn_export_claim(x, "input", 1);
    const char *output = nn_export_claim(x, "output", 0);
    const char *prob = probs ? nn_export_claim(x, "probabilities", 0) : NULL;
    const char *model_in = NULL;
    int n_tf = 0;
    int rc = !input || !output || (probs && !prob) ? nn_export_status(x, err) : NN_OK;
    if (rc == NN_OK)
        rc = nn_data_export(s->data, x, input, &model_in, err);
    n_tf = model_in && strcmp(model_in, input) != 0;
    nn_export_walk w = {.input = model_in, .output = output, .steps = o->steps};
    if (rc == NN_OK)
        rc = nn_export_model(s, x, &w, err);
    if (rc == NN_OK && probs) {
        nn_export_scope(x, NULL, NULL);
        int node = nn_export_op1(x, "Softmax", output, prob);
        if (node >= 0)
            nn_export_attr_int(x, node, "axis", -1);
        rc = nn_export_status(x, err);
    }
    nn_pb_buf head = {0}, graph = {0}, tail = {0};
    if (rc == NN_OK) {
        char *stem = strdup(nn_config_path(s->cfg)), doc[300];
        const char *keep[2] = {output, prob};
        nn_export_encode(x, &graph, prob ? 2 : 1, keep);
        char *name = stem ? basename(stem) : "model", *dot = strrchr(name, '.');
        if (dot && dot != name)
            *dot = 0;
        nn_pb_string(&graph, G_NAME, name);
        snprintf(doc, sizeof doc, "%s, trained with nntrain (%s)", nn_config_path(s->cfg),
                 o->checkpoint ? o->checkpoint : "initial weights");
        nn_pb_string(&graph, G_DOC, doc);
        value_info(&graph, G_INPUT, input, &in_desc);
        value_info(&graph, G_OUTPUT, output, out);
        if (probs)
            value_info(&graph, G_OUTPUT, prob, out);
        free(stem);
        nn_pb_int64(&head, M_IR, ir_version(o->opset));
        nn_pb_string(&head, M_PRODUCER, "nntrain");
        nn_pb_string(&head, M_PRODUCER_VERSION, NNTRAIN_VERSION);
        nn_pb_string(&head, M_DOC, doc);
        nn_pb_buf opset = {0};
        nn_pb_string(&opset, 1, "");
        nn_pb_int64(&opset, 2, o->opset);
        nn_pb_message(&head, M_OPSET, &opset);
        nn_pb_free(&opset);
        model_meta(&tail, s, o, &in_desc, out, probs, n_tf);
        if (head.oom || graph.oom || tail.oom)
            rc = nn_error_set(err, NN_ENOMEM, "out of memory encoding the ONNX model");
    }
    if (rc == NN_OK)
        rc = write_model(o->output, &head, &graph, &tail, err);
    nn_pb_free(&head);
    nn_pb_free(&graph);
    nn_pb_free(&tail);
    nn_export_free(x);
    return rc;
}
