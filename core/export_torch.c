/* export_torch.c: a model's weights as a PyTorch state dict in safetensors: every parameter
 * and state buffer under its checkpoint name (stock layers declare PyTorch's names and
 * layouts), plus what each layer's export slot adds (batch norm's num_batches_tracked). Only
 * weights: no optimizer state, no training metadata beyond provenance. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "file_replace.h"
#include "export_internal.h"
#include "version.h"

static nn_export *walk(nn_session *s, int64_t steps, nn_error *err)
{
    nn_export *x = nn_export_new(NN_EXPORT_TORCH, 0);
    if (!x) {
        nn_error_set(err, NN_ENOMEM, "out of memory");
        return NULL;
    }
    nn_export_walk w = {.steps = steps};
    if (nn_export_model(s, x, &w, err) != NN_OK) {
        nn_export_free(x);
        return NULL;
    }
    return x;
}

int nn_export_torch(nn_session *s, const nn_export_opts *o, nn_error *err)
{
    nn_export *x = walk(s, o->steps, err);
    if (!x)
        return err->status;
    int n = nn_export_torch_count(x);
    nn_ckpt_entry *e = calloc((size_t)n + 1, sizeof *e);
    if (!e) {
        nn_export_free(x);
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++)
        e[i].t = nn_export_torch_at(x, i, &e[i].name, NULL);
    /* "format": "pt" is what safetensors.torch.save_file writes */
    nn_ckpt_meta meta[] = {
        {"format", "pt"},
        {"producer", "nntrain " NNTRAIN_VERSION},
        {"model_file", nn_config_path(s->cfg)},
        {"checkpoint", o->checkpoint ? o->checkpoint : ""},
    };
    int rc = nn_checkpoint_write_to(o->output, NN_FILE_USER, e, n, meta, (int)(sizeof meta / sizeof *meta), err);
    free(e);
    nn_export_free(x);
    return rc;
}

int nn_export_torch_extras(nn_session *s, char ***names, nn_error *err)
{
    *names = NULL;
    nn_export *x = walk(s, -1, err);
    if (!x)
        return err->status;
    int n = nn_export_torch_count(x), k = 0;
    char **v = calloc((size_t)n + 1, sizeof *v);
    int rc = v ? NN_OK : nn_error_set(err, NN_ENOMEM, "out of memory");
    for (int i = 0; i < n && rc == NN_OK; i++) {
        const char *name;
        int extra;
        nn_export_torch_at(x, i, &name, &extra);
        if (extra && !(v[k++] = strdup(name)))
            rc = nn_error_set(err, NN_ENOMEM, "out of memory");
    }
    nn_export_free(x);
    if (rc) {
        for (int i = 0; v && i < k; i++)
            free(v[i]);
        free(v);
        return rc;
    }
    *names = v;
    return NN_OK;
}
