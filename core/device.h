/* device.h (core): one opened compute device, the host or a backend plugin's device. The
 * graph, optimizer driver, trainer and evaluators move and compute on device memory only
 * through these calls, so no core code ever dereferences a device pointer. */
#ifndef NN_DEVICE_INTERNAL_H
#define NN_DEVICE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "nntrain/backend.h"
#include "nntrain/device.h"
#include "registry.h"

typedef struct nn_dev nn_dev;

/* A device spec's syntax: TYPE ([a-z0-9_]+, under cap bytes) or TYPE:N (N in [0, 999999]).
 * returns 0 with the type and index (0 without ":N"), or -1; says nothing about whether the
 * type or device exists. NN_DEV_SPEC_RULE is the sentence a refusal ends with. */
#define NN_DEV_SPEC_RULE "expected TYPE or TYPE:N (cpu, sim:1, cuda:0)"
int nn_dev_spec_parse(const char *spec, char *type, size_t cap, int *index);

/* Parses spec: "cpu", "TYPE" (= TYPE:0) or "TYPE:N", finds the backend plugin of TYPE in reg,
 * checks N against its device count and opens it. returns an owned device (nn_dev_close), or
 * an error naming the spec and what exists instead. spec NULL = "cpu". */
int nn_dev_open(nn_registry *reg, const char *spec, nn_dev **out, nn_error *err);
void nn_dev_close(nn_dev *d); /* NULL is allowed */
/* The error for a device type without a usable backend plugin in reg: the refused file and
 * the registry's reason where its backend failed to load, else the device types there are.
 * subject starts the sentence ("--device 'vpk:0'"). returns NN_ENOTFOUND. */
int nn_dev_type_missing(const nn_registry *reg, const char *subject, const char *type,
                        nn_error *err);

/* The host device, static: never closed. */
nn_dev *nn_dev_host(void);

const nn_device *nn_dev_public(const nn_dev *d); /* borrowed; what plugins are given */
const char *nn_dev_type(const nn_dev *d);        /* "cpu", "sim": the registry's device key */
const char *nn_dev_name(const nn_dev *d);        /* "cpu", "sim:1" */
int nn_dev_is_host(const nn_dev *d);
/* the backend's describe() line, or "" */
void nn_dev_describe(const nn_dev *d, char *buf, size_t cap);

/* Memory. alloc returns NN_TENSOR_ALIGN-aligned memory filled with zero bytes. */
void *nn_dev_alloc(nn_dev *d, size_t bytes, nn_error *err);
void nn_dev_free(nn_dev *d, void *p);
/* The backend's count of its live device allocations (nn_device_ops.mem_live): 0, or -1
 * on the host or when the backend does not count. */
int nn_dev_mem_live(nn_dev *d, int64_t *blocks, int64_t *bytes);
/* Host buffers for data that is copied to the device (pinned when the backend can). */
void *nn_dev_host_alloc(nn_dev *d, size_t bytes, nn_error *err);
void nn_dev_host_free(nn_dev *d, void *p);

int nn_dev_memset(nn_dev *d, void *p, int value, size_t bytes, nn_error *err);
/* blocking copies; on the host all three are memcpy */
int nn_dev_copy(nn_dev *d, void *dst, const void *src, size_t bytes, nn_copy_kind kind,
                nn_error *err);
/* An asynchronous copy when the backend has one (ev from nn_dev_event_new, may be NULL);
 * otherwise a blocking copy with ev already complete. */
int nn_dev_copy_async(nn_dev *d, void *dst, const void *src, size_t bytes, nn_copy_kind kind,
                      void *ev, nn_error *err);
/* returns an event, or a dummy non-NULL handle when the backend has none */
void *nn_dev_event_new(nn_dev *d, nn_error *err);
int nn_dev_event_wait(nn_dev *d, void *ev, nn_error *err);
void nn_dev_event_free(nn_dev *d, void *ev);
int nn_dev_sync(nn_dev *d, nn_error *err);

/* Tensor copies between a host tensor and a device tensor of the same byte size. */
int nn_dev_upload(nn_dev *d, nn_tensor *dst, const nn_tensor *host_src, nn_error *err);
int nn_dev_download(nn_dev *d, nn_tensor *host_dst, const nn_tensor *src, nn_error *err);

/* Device math (nn_device_ops); also implemented for the host, so callers need no branch. */
int nn_dev_add(nn_dev *d, nn_tensor *y, const nn_tensor *x, nn_error *err);
int nn_dev_scale(nn_dev *d, nn_tensor *x, float s, nn_error *err);
int nn_dev_clamp(nn_dev *d, nn_tensor *x, float lo, float hi, nn_error *err);
int nn_dev_norm_acc(nn_dev *d, const nn_tensor *x, int inf, double *acc, nn_error *err);
int nn_dev_find_nonfinite(nn_dev *d, const nn_tensor *x, int64_t *index, nn_error *err);
int nn_dev_count_correct(nn_dev *d, const nn_tensor *pred, const nn_tensor *target,
                         int64_t rows, int top_k, double *out, nn_error *err);

#endif
