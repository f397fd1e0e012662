/* nn_dnnl.c: the process-wide oneDNN engine, a stream and a scratchpad per computing thread,
 * error sentences, descriptors, bound primitives and the fused-activation helper of
 * libnn_dnnl.so.
 * Every primitive runs with a user-managed scratchpad: oneDNN 2.6's library-managed one is
 * kept per thread by the thread that created the primitive, so another thread ([train]
 * replicas: plans are bound on one thread and run on several) would execute it with no
 * scratchpad at all (a crash at address 0). A layer either binds a scratchpad buffer of its
 * plan (nn_dnnl_op_scratchpad) or gets the running thread's (grown when a primitive is
 * created on the engine's thread, at a thread's first run of a primitive elsewhere).
 * Never allocates in nn_dnnl_op_run() or the activation's per-step calls, but for the stream
 * and scratchpad of a thread other than the engine's, at that thread's first step. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include "nn_dnnl.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* what a computing thread executes with */
typedef struct thread_ctx {
    dnnl_stream_t stream;
    void *scratch;
    size_t scratch_bytes;
} thread_ctx;

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static dnnl_engine_t g_engine;
static thread_ctx g_ctx; /* the thread that set the engine up */
static pthread_t g_owner;
static pthread_key_t g_ctx_key; /* other threads' ([train] replicas' threads) */
static int g_key_ok;
static __thread thread_ctx *t_ctx;
static dnnl_status_t g_init_status = dnnl_success;
static const char *g_init_what = "";

static void ctx_free(void *p)
{
    thread_ctx *c = p;
    if (c->stream)
        dnnl_stream_destroy(c->stream);
    free(c->scratch);
    free(c);
}

static void init_once(void)
{
    g_owner = pthread_self();
    g_key_ok = pthread_key_create(&g_ctx_key, ctx_free) == 0;
    g_init_what = "engine creation";
    g_init_status = dnnl_engine_create(&g_engine, dnnl_cpu, 0);
    if (g_init_status != dnnl_success) {
        g_engine = NULL;
        return;
    }
    g_init_what = "stream creation";
    g_init_status = dnnl_stream_create(&g_ctx.stream, g_engine, dnnl_stream_default_flags);
    if (g_init_status != dnnl_success) {
        g_ctx.stream = NULL;
        dnnl_engine_destroy(g_engine);
        g_engine = NULL;
    }
}

/* the engine, stream and scratchpad live as long as this library is loaded */
__attribute__((destructor)) static void nn_dnnl_fini(void)
{
    if (g_ctx.stream)
        dnnl_stream_destroy(g_ctx.stream);
    if (g_engine)
        dnnl_engine_destroy(g_engine);
    free(g_ctx.scratch);
    memset(&g_ctx, 0, sizeof g_ctx);
    g_engine = NULL;
}

/* c's scratchpad holds at least `bytes` (64-byte aligned); 0 when out of memory */
static int scratch_reserve(thread_ctx *c, size_t bytes)
{
    if (c->scratch_bytes >= bytes)
        return 1;
    void *p = NULL;
    size_t want = (bytes + 4095) / 4096 * 4096;
    if (posix_memalign(&p, 64, want))
        return 0;
    free(c->scratch);
    c->scratch = p;
    c->scratch_bytes = want;
    return 1;
}

/* the running thread's stream and scratchpad (made at a replica thread's first run) */
static thread_ctx *thread_ctx_get(const char *layer, nn_error *err)
{
    if (pthread_equal(pthread_self(), g_owner))
        return &g_ctx;
    if (t_ctx)
        return t_ctx;
    thread_ctx *c = g_key_ok ? calloc(1, sizeof *c) : NULL;
    if (!c) {
        nn_error_set(err, NN_ENOMEM, "layer '%s': no memory for this thread's oneDNN stream",
                     layer);
        return NULL;
    }
    dnnl_status_t st = dnnl_stream_create(&c->stream, g_engine, dnnl_stream_default_flags);
    if (st != dnnl_success) {
        free(c);
        nn_dnnl_fail(err, st, layer, "stream creation");
        return NULL;
    }
    pthread_setspecific(g_ctx_key, c);
    return t_ctx = c;
}

int nn_dnnl_init(const char *layer, nn_error *err)
{
    pthread_once(&g_once, init_once);
    if (g_init_status != dnnl_success)
        return nn_dnnl_fail(err, g_init_status, layer, g_init_what);
    return NN_OK;
}

dnnl_engine_t nn_dnnl_engine(void)
{
    return g_engine;
}

int nn_dnnl_fail(nn_error *err, dnnl_status_t st, const char *layer, const char *what)
{
    const char *why;
    int status;
    switch (st) {
    case dnnl_out_of_memory:
        why = "out of memory";
        status = NN_ENOMEM;
        break;
    case dnnl_invalid_arguments:
        why = "invalid arguments (shapes, strides or sizes that do not fit together)";
        status = NN_EINVAL;
        break;
    case dnnl_unimplemented:
        why = "unimplemented (this oneDNN build has no kernel for these shapes and layouts)";
        status = NN_ENOTSUP;
        break;
    case dnnl_runtime_error:
        why = "runtime error during execution";
        status = NN_EINTERNAL;
        break;
    default:
        why = "unexpected status";
        status = NN_EINTERNAL;
        break;
    }
    return nn_error_set(err, status, "layer '%s': oneDNN %s failed: %s (dnnl_status_t %d)",
                        layer ? layer : "?", what ? what : "call", why, (int)st);
}

int nn_dnnl_md_tensor(dnnl_memory_desc_t *md, const nn_tensor *t, const char *layer,
                      nn_error *err)
{
    if (nn_tensor_dtype(t) != NN_F32)
        return nn_error_set(err, NN_ENOTSUP,
                            "layer '%s': tensor '%s' must be float32 for oneDNN, got dtype "
                            "code %d with %d bits",
                            layer, t->name ? t->name : "?", t->dl.dtype.code,
                            t->dl.dtype.bits);
    dnnl_dims_t dims, strides;
    for (int i = 0; i < t->dl.ndim; i++) {
        dims[i] = t->shape[i];
        strides[i] = t->strides[i];
    }
    NN_DNNL_TRY(err, layer, "memory descriptor",
                dnnl_memory_desc_init_by_strides(md, t->dl.ndim, dims, dnnl_f32, strides));
    return NN_OK;
}

void nn_dnnl_md_dims(dnnl_memory_desc_t *md, int ndim, const int64_t *dims)
{
    dnnl_dims_t d, st;
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        d[i] = dims[i];
        st[i] = s;
        s *= dims[i];
    }
    /* cannot fail for ndim in [1, 8] with positive dims, which every caller guarantees */
    (void)dnnl_memory_desc_init_by_strides(md, ndim, d, dnnl_f32, st);
}

/* ---- layouts ------------------------------------------------------------------------ */

void nn_dnnl_layout_init(nn_layout *lo, const dnnl_memory_desc_t *md)
{
    memset(lo, 0, sizeof *lo);
    lo->struct_size = sizeof *lo;
    lo->family = NN_DNNL_LAYOUT;
    lo->desc = md;
    lo->bytes = dnnl_memory_desc_get_size(md);
    lo->stored_dtype = md->data_type == dnnl_bf16 ? NN_BF16 : NN_F32;
}

int nn_dnnl_layout_get(const nn_tensor *t, dnnl_memory_desc_t *md)
{
    const nn_layout *lo = t->layout;
    if (!lo || !lo->family || strcmp(lo->family, NN_DNNL_LAYOUT) != 0 || !lo->desc)
        return 0;
    const dnnl_memory_desc_t *d = lo->desc;
    if (d->ndims != t->dl.ndim || (d->data_type != dnnl_f32 && d->data_type != dnnl_bf16))
        return 0;
    for (int i = 0; i < d->ndims; i++)
        if (d->dims[i] != t->shape[i])
            return 0;
    *md = *d;
    return 1;
}

int nn_dnnl_md_channel_lanes(const dnnl_memory_desc_t *md)
{
    static const struct {
        dnnl_format_tag_t tag;
        int lanes;
    } tags[] = {{dnnl_nChw8c, 8}, {dnnl_nChw16c, 16}};
    for (size_t i = 0; md->ndims == 4 && i < sizeof tags / sizeof *tags; i++) {
        dnnl_memory_desc_t t;
        if (dnnl_memory_desc_init_by_tag(&t, 4, md->dims, md->data_type, tags[i].tag) ==
                dnnl_success &&
            dnnl_memory_desc_equal(&t, md))
            return tags[i].lanes;
    }
    return 0;
}

int nn_dnnl_md_is_plain(const dnnl_memory_desc_t *md)
{
    if (md->format_kind != dnnl_blocked || md->format_desc.blocking.inner_nblks != 0 ||
        md->offset0 != 0)
        return 0;
    int64_t s = 1;
    for (int i = md->ndims - 1; i >= 0; i--) {
        if (md->dims[i] != md->padded_dims[i] || md->format_desc.blocking.strides[i] != s)
            return 0;
        s *= md->dims[i];
    }
    return 1;
}

dnnl_memory_desc_t nn_dnnl_md_retype(const dnnl_memory_desc_t *md, dnnl_data_type_t dt)
{
    dnnl_memory_desc_t r = *md;
    r.data_type = dt;
    return r;
}

/* ---- precision ----------------------------------------------------------------------- */

static pthread_once_t bf16_once = PTHREAD_ONCE_INIT;
static int bf16_ok;

/* whether this oneDNN has bf16 kernels on this CPU: the smallest inner product tells */
static void bf16_probe(void)
{
    dnnl_memory_desc_t x, w, y;
    dnnl_dims_t d2 = {2, 2};
    dnnl_inner_product_desc_t d;
    dnnl_primitive_desc_t pd = NULL;
    if (dnnl_memory_desc_init_by_tag(&x, 2, d2, dnnl_bf16, dnnl_ab) ||
        dnnl_memory_desc_init_by_tag(&w, 2, d2, dnnl_bf16, dnnl_ab) ||
        dnnl_memory_desc_init_by_tag(&y, 2, d2, dnnl_bf16, dnnl_ab) ||
        dnnl_inner_product_forward_desc_init(&d, dnnl_forward_training, &x, &w, NULL, &y))
        return;
    bf16_ok = dnnl_primitive_desc_create(&pd, &d, NULL, g_engine, NULL) == dnnl_success;
    if (pd)
        dnnl_primitive_desc_destroy(pd);
}

static const char *isa_name(dnnl_cpu_isa_t isa)
{
    switch (isa) {
    case dnnl_cpu_isa_sse41: return "SSE4.1";
    case dnnl_cpu_isa_avx: return "AVX";
    case dnnl_cpu_isa_avx2: return "AVX2";
    case dnnl_cpu_isa_avx2_vnni: return "AVX2 with VNNI";
    case dnnl_cpu_isa_avx512_mic:
    case dnnl_cpu_isa_avx512_mic_4ops: return "AVX-512 (Xeon Phi)";
    case dnnl_cpu_isa_avx512_core: return "AVX-512";
    case dnnl_cpu_isa_avx512_core_vnni: return "AVX-512 with VNNI";
    case dnnl_cpu_isa_avx512_core_bf16: return "AVX-512 with BF16";
    case dnnl_cpu_isa_avx512_core_amx: return "AMX";
    default: return "an unknown ISA";
    }
}

int nn_dnnl_precision(intptr_t precision, dnnl_data_type_t *dt, const char *layer,
                      nn_error *err)
{
    *dt = dnnl_f32;
    if (precision == NN_F32)
        return NN_OK;
    if (precision != NN_BF16)
        return nn_error_set(err, NN_ENOTSUP,
                            "layer '%s': precision %d is not one the oneDNN layers compute in "
                            "(f32 or bf16)", layer, (int)precision);
    int rc = nn_dnnl_init(layer, err);
    if (rc)
        return rc;
    pthread_once(&bf16_once, bf16_probe);
    if (!bf16_ok)
        return nn_error_set(err, NN_ENOTSUP,
                            "layer '%s': [train] precision = bf16 needs a CPU on which oneDNN "
                            "has bf16 kernels (AVX-512, best with AVX512_BF16 or AMX); oneDNN "
                            "finds %s on this one: use precision = f32",
                            layer, isa_name(dnnl_get_effective_cpu_isa()));
    *dt = dnnl_bf16;
    return NN_OK;
}

size_t nn_dnnl_scratchpad_size(const_dnnl_primitive_desc_t pd)
{
    const dnnl_memory_desc_t *md = pd ? dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0)
                                      : NULL;
    return md ? dnnl_memory_desc_get_size(md) : 0;
}

dnnl_status_t nn_dnnl_attr(dnnl_primitive_attr_t *attr, int act)
{
    dnnl_status_t s = dnnl_primitive_attr_create(attr);
    if (s)
        return s;
    s = dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user);
    if (!s && act != NN_ACT_NONE) {
        dnnl_post_ops_t po;
        if (!(s = dnnl_post_ops_create(&po))) {
            s = dnnl_post_ops_append_eltwise(po, 1.0f, nn_dnnl_act_alg(act), 0.f, 0.f);
            if (!s)
                s = dnnl_primitive_attr_set_post_ops(*attr, po);
            dnnl_post_ops_destroy(po);
        }
    }
    if (s) {
        dnnl_primitive_attr_destroy(*attr);
        *attr = NULL;
    }
    return s;
}

int nn_dnnl_add_buffer(nn_layer_setup *s, const char *name, nn_buffer_kind kind, size_t bytes)
{
    int64_t n = (int64_t)bytes;
    return nn_layer_add_buffer(s, name, kind, NN_U8, 1, &n);
}

size_t nn_dnnl_arg_size(const_dnnl_primitive_desc_t pd, int arg)
{
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg);
    return md ? dnnl_memory_desc_get_size(md) : 0;
}

void nn_dnnl_pd_free(dnnl_primitive_desc_t *pd)
{
    if (*pd)
        dnnl_primitive_desc_destroy(*pd);
    *pd = NULL;
}

dnnl_status_t nn_dnnl_pd_create(dnnl_primitive_desc_t *pd, const_dnnl_op_desc_t desc,
                                const_dnnl_primitive_attr_t attr,
                                const_dnnl_primitive_desc_t hint)
{
    dnnl_primitive_attr_t own = NULL;
    dnnl_status_t s = dnnl_success;
    if (!attr && (s = nn_dnnl_attr(&own, NN_ACT_NONE)) == dnnl_success)
        attr = own;
    if (s == dnnl_success)
        s = dnnl_primitive_desc_create(pd, desc, attr, g_engine, hint);
    if (own)
        dnnl_primitive_attr_destroy(own);
    return s;
}

static int op_add(nn_dnnl_op *op, const_dnnl_primitive_desc_t pd, int arg, void *ptr,
                  size_t bytes, const nn_tensor *t, const char *layer, nn_error *err);

/* oneDNN 2.6 generates the JIT kernels of its gemm-based primitives (x64:gemm:jit: inner
 * products, gemm convolutions) at their first execution, not when they are created: 2.5 to
 * 18 ms for the MLP's inner products, which fell into the first training step (its first
 * epoch took 1.1-1.2x the steady one). Such a primitive runs once here, on fresh zero pages
 * of its own, so that the first step finds the kernels made, unless its arguments need more
 * than WARM_UP_MAX bytes (a run that large dwarfs the kernels' making). A failure here costs
 * only the warm-up: the primitive's own runs report theirs. */
#define WARM_UP_MAX ((size_t)32 << 20)
static void warm_up(const_dnnl_primitive_desc_t pd, dnnl_primitive_t prim, thread_ctx *c)
{
    if (!nn_dnnl_impl_is(pd, "gemm") || nn_dnnl_impl_is(pd, "brg"))
        return;
    static const int cand[] = {DNNL_ARG_SRC,       DNNL_ARG_WEIGHTS,      DNNL_ARG_BIAS,
                               DNNL_ARG_DST,       DNNL_ARG_DIFF_SRC,     DNNL_ARG_DIFF_WEIGHTS,
                               DNNL_ARG_DIFF_BIAS, DNNL_ARG_DIFF_DST,     DNNL_ARG_WORKSPACE,
                               DNNL_ARG_SCRATCHPAD};
    enum { N_CAND = sizeof cand / sizeof *cand, ALIGN = 4096 };
    const dnnl_memory_desc_t *mds[N_CAND];
    size_t room[N_CAND], total = 0; /* each argument's bytes, rounded up to whole pages */
    for (int i = 0; i < N_CAND; i++) {
        mds[i] = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, cand[i]);
        size_t bytes = mds[i] && mds[i]->ndims ? dnnl_memory_desc_get_size(mds[i]) : 0;
        if (bytes > WARM_UP_MAX)
            return;
        room[i] = (bytes + ALIGN - 1) / ALIGN * ALIGN;
        if ((total += room[i]) > WARM_UP_MAX)
            return;
    }
    /* fresh anonymous pages read as zero without being given memory of their own: only what
     * the run writes (its output) adds to the process's peak, not every argument */
    char *mem = total ? mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                             -1, 0)
                      : NULL;
    if (mem == MAP_FAILED)
        return;
    dnnl_exec_arg_t args[N_CAND];
    int n = 0, ok = 1;
    size_t at = 0;
    for (int i = 0; i < N_CAND && ok; i++) {
        if (!mds[i] || mds[i]->ndims == 0)
            continue;
        ok = dnnl_memory_create(&args[n].memory, mds[i], g_engine, mem + at) == dnnl_success;
        if (ok)
            args[n++].arg = cand[i];
        at += room[i];
    }
    if (ok && dnnl_primitive_execute(prim, c->stream, n, args) == dnnl_success)
        dnnl_stream_wait(c->stream);
    for (int i = 0; i < n; i++)
        dnnl_memory_destroy(args[i].memory);
    if (mem)
        munmap(mem, total);
}

int nn_dnnl_op_create(nn_dnnl_op *op, const_dnnl_primitive_desc_t pd, const char *what,
                      const char *layer, nn_error *err)
{
    nn_dnnl_op_destroy(op);
    op->what = what;
    const_dnnl_primitive_attr_t attr = NULL;
    dnnl_scratchpad_mode_t mode = dnnl_scratchpad_mode_library;
    if (dnnl_primitive_desc_get_attr(pd, &attr) != dnnl_success || !attr ||
        dnnl_primitive_attr_get_scratchpad_mode(attr, &mode) != dnnl_success ||
        mode != dnnl_scratchpad_mode_user)
        return nn_error_set(err, NN_EINTERNAL,
                            "layer '%s': oneDNN %s was described with a library-managed "
                            "scratchpad, which only the thread that made it can use (a bug in "
                            "the layer: describe it with nn_dnnl_pd_create or nn_dnnl_attr)",
                            layer, what);
    NN_DNNL_TRY(err, layer, what, dnnl_primitive_create(&op->prim, pd));
    thread_ctx *c = thread_ctx_get(layer, err);
    if (!c)
        return err->status;
    warm_up(pd, op->prim, c);
    size_t bytes = nn_dnnl_scratchpad_size(pd);
    if (bytes == 0)
        return NN_OK;
    /* the running thread's scratchpad, unless the layer binds one (nn_dnnl_op_scratchpad) */
    if (!scratch_reserve(c, bytes))
        return nn_error_set(err, NN_ENOMEM, "layer '%s': no memory for the %zu-byte scratchpad "
                            "of oneDNN %s", layer, bytes, what);
    int rc = op_add(op, pd, DNNL_ARG_SCRATCHPAD, c->scratch, c->scratch_bytes, NULL, layer, err);
    if (rc)
        return rc;
    op->scratch = op->nargs;
    op->scratch_bytes = bytes;
    return NN_OK;
}

static int op_add(nn_dnnl_op *op, const_dnnl_primitive_desc_t pd, int arg, void *ptr,
                  size_t bytes, const nn_tensor *t, const char *layer, nn_error *err)
{
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg);
    if (!md || md->ndims == 0)
        return nn_error_set(err, NN_EINTERNAL,
                            "layer '%s': oneDNN %s takes no argument %d (a bug in the layer)",
                            layer, op->what, arg);
    size_t need = dnnl_memory_desc_get_size(md);
    if (need > bytes)
        return nn_error_set(err, NN_ESHAPE,
                            "layer '%s': oneDNN %s needs %zu bytes for argument %d but tensor "
                            "'%s' holds %zu",
                            layer, op->what, need, arg, t && t->name ? t->name : "?", bytes);
    if (op->nargs >= NN_DNNL_MAX_ARGS)
        return nn_error_set(err, NN_EINTERNAL, "layer '%s': oneDNN %s: too many arguments",
                            layer, op->what);
    dnnl_memory_t mem;
    NN_DNNL_TRY(err, layer, "memory creation", dnnl_memory_create(&mem, md, g_engine, ptr));
    int i = op->nargs++;
    op->args[i].arg = arg;
    op->args[i].memory = mem;
    op->tensors[i] = t;
    op->handles[i] = ptr;
    return NN_OK;
}

static void *tensor_ptr(const nn_tensor *t)
{
    return (char *)t->dl.data + t->dl.byte_offset;
}

int nn_dnnl_op_tensor(nn_dnnl_op *op, const_dnnl_primitive_desc_t pd, int arg,
                      const nn_tensor *t, const char *layer, nn_error *err)
{
    return op_add(op, pd, arg, tensor_ptr(t), nn_tensor_nbytes(t), t, layer, err);
}

int nn_dnnl_op_scratchpad(nn_dnnl_op *op, const_dnnl_primitive_desc_t pd, const nn_tensor *t,
                          const char *layer, nn_error *err)
{
    if (nn_dnnl_scratchpad_size(pd) == 0)
        return NN_OK;
    if (!t)
        return nn_error_set(err, NN_EINTERNAL,
                            "layer '%s': oneDNN %s needs a scratchpad the layer did not declare",
                            layer, op->what);
    if (!op->scratch)
        return nn_dnnl_op_tensor(op, pd, DNNL_ARG_SCRATCHPAD, t, layer, err);
    /* the layer's buffer instead of the thread's */
    int i = op->scratch - 1;
    if (nn_tensor_nbytes(t) < op->scratch_bytes)
        return nn_error_set(err, NN_ESHAPE, "layer '%s': oneDNN %s needs a %zu-byte scratchpad "
                            "but tensor '%s' holds %zu", layer, op->what, op->scratch_bytes,
                            t->name ? t->name : "?", nn_tensor_nbytes(t));
    op->tensors[i] = t;
    op->handles[i] = NULL; /* set at the next run */
    op->scratch = 0;
    return NN_OK;
}

int nn_dnnl_op_run(nn_dnnl_op *op, const char *layer, nn_error *err)
{
    for (int i = 0; i < op->nargs; i++) {
        if (!op->tensors[i])
            continue;
        void *p = tensor_ptr(op->tensors[i]);
        if (p != op->handles[i]) {
            NN_DNNL_TRY(err, layer, "data handle update",
                        dnnl_memory_set_data_handle(op->args[i].memory, p));
            op->handles[i] = p;
        }
    }
    thread_ctx *c = thread_ctx_get(layer, err);
    if (!c)
        return err->status;
    if (op->scratch) {
        int i = op->scratch - 1;
        if (!scratch_reserve(c, op->scratch_bytes))
            return nn_error_set(err, NN_ENOMEM, "layer '%s': no memory for the %zu-byte "
                                "scratchpad of oneDNN %s", layer, op->scratch_bytes, op->what);
        if (c->scratch != op->handles[i]) {
            NN_DNNL_TRY(err, layer, "data handle update",
                        dnnl_memory_set_data_handle(op->args[i].memory, c->scratch));
            op->handles[i] = c->scratch;
        }
    }
    dnnl_stream_t stream = c->stream;
    NN_DNNL_TRY(err, layer, op->what,
                dnnl_primitive_execute(op->prim, stream, op->nargs, op->args));
    NN_DNNL_TRY(err, layer, op->what, dnnl_stream_wait(stream));
    return NN_OK;
}

void nn_dnnl_op_destroy(nn_dnnl_op *op)
{
    for (int i = 0; i < op->nargs; i++)
        dnnl_memory_destroy(op->args[i].memory);
    if (op->prim)
        dnnl_primitive_destroy(op->prim);
    memset(op, 0, sizeof *op);
}

/* ---- fused activation ---------------------------------------------------------------- */

dnnl_alg_kind_t nn_dnnl_act_alg(int kind)
{
    switch (kind) {
    case NN_ACT_RELU: return dnnl_eltwise_relu;
    case NN_ACT_TANH: return dnnl_eltwise_tanh;
    case NN_ACT_SIGMOID: return dnnl_eltwise_logistic;
    default: return dnnl_eltwise_gelu_erf;
    }
}

int nn_dnnl_reorder_op(nn_dnnl_op *op, const dnnl_memory_desc_t *from_md, const nn_tensor *from,
                       const dnnl_memory_desc_t *to_md, const nn_tensor *to, const char *layer,
                       nn_error *err)
{
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_status_t st = nn_dnnl_attr(&attr, NN_ACT_NONE);
    if (st == dnnl_success)
        st = dnnl_reorder_primitive_desc_create(&pd, from_md, g_engine, to_md, g_engine, attr);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success)
        return nn_dnnl_fail(err, st, layer, "reorder");
    int rc;
    if (!(rc = nn_dnnl_op_create(op, pd, "reorder", layer, err)) &&
        !(rc = nn_dnnl_op_tensor(op, pd, DNNL_ARG_FROM, from, layer, err)))
        rc = nn_dnnl_op_tensor(op, pd, DNNL_ARG_TO, to, layer, err);
    dnnl_primitive_desc_destroy(pd);
    return rc;
}

int nn_dnnl_impl_is(const_dnnl_primitive_desc_t pd, const char *what)
{
    const char *name = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name) != dnnl_success ||
        !name)
        return 0;
    return strstr(name, what) != NULL;
}

/* the eltwise algorithm whose backward reads the output, or undef when there is none */
static dnnl_alg_kind_t use_dst_alg(int kind)
{
    switch (kind) {
    case NN_ACT_RELU: return dnnl_eltwise_relu_use_dst_for_bwd;
    case NN_ACT_TANH: return dnnl_eltwise_tanh_use_dst_for_bwd;
    case NN_ACT_SIGMOID: return dnnl_eltwise_logistic_use_dst_for_bwd;
    default: return dnnl_alg_kind_undef;
    }
}

void nn_dnnl_act_init(nn_dnnl_act *a, int kind, int training, int can_fuse)
{
    nn_dnnl_act_destroy(a);
    a->kind = kind;
    a->training = training;
    int by_dst = use_dst_alg(kind) != dnnl_alg_kind_undef;
    a->fused = kind != NN_ACT_NONE && can_fuse && (!training || by_dst);
    a->from_pre = kind != NN_ACT_NONE && training && !by_dst;
}

int nn_dnnl_act_postop(const nn_dnnl_act *a)
{
    return a->fused ? a->kind : NN_ACT_NONE;
}

int nn_dnnl_act_plan(nn_dnnl_act *a, const dnnl_memory_desc_t *md, const char *layer,
                     nn_error *err)
{
    nn_dnnl_pd_free(&a->fwd_pd);
    nn_dnnl_pd_free(&a->hint_pd);
    nn_dnnl_pd_free(&a->bwd_pd);
    if (a->kind == NN_ACT_NONE || (a->fused && !a->training))
        return NN_OK;
    dnnl_alg_kind_t alg = a->training && !a->from_pre ? use_dst_alg(a->kind)
                                                      : nn_dnnl_act_alg(a->kind);
    dnnl_eltwise_desc_t e;
    dnnl_primitive_desc_t *fpd = a->fused ? &a->hint_pd : &a->fwd_pd;
    NN_DNNL_TRY(err, layer, "eltwise forward descriptor",
                dnnl_eltwise_forward_desc_init(
                    &e, a->training ? dnnl_forward_training : dnnl_forward_inference, alg, md,
                    0.f, 0.f));
    NN_DNNL_TRY(err, layer, "eltwise forward",
                nn_dnnl_pd_create(fpd, &e, NULL, NULL));
    if (!a->training)
        return NN_OK;
    NN_DNNL_TRY(err, layer, "eltwise backward descriptor",
                dnnl_eltwise_backward_desc_init(&e, alg, md, md, 0.f, 0.f));
    NN_DNNL_TRY(err, layer, "eltwise backward",
                nn_dnnl_pd_create(&a->bwd_pd, &e, NULL, *fpd));
    return NN_OK;
}

int nn_dnnl_act_bind(nn_dnnl_act *a, const nn_tensor *y, const nn_tensor *pre,
                     const nn_tensor *dy, const nn_tensor *dz, const char *layer, nn_error *err)
{
    int rc;
    if (a->fwd_pd &&
        ((rc = nn_dnnl_op_create(&a->fwd, a->fwd_pd, "eltwise forward", layer, err)) ||
         (rc = nn_dnnl_op_tensor(&a->fwd, a->fwd_pd, DNNL_ARG_SRC, a->from_pre ? pre : y, layer,
                                 err)) ||
         (rc = nn_dnnl_op_tensor(&a->fwd, a->fwd_pd, DNNL_ARG_DST, y, layer, err))))
        return rc;
    if (!a->bwd_pd || !dy)
        return NN_OK;
    if ((rc = nn_dnnl_op_create(&a->bwd, a->bwd_pd, "eltwise backward", layer, err)) ||
        (rc = nn_dnnl_op_tensor(&a->bwd, a->bwd_pd, a->from_pre ? DNNL_ARG_SRC : DNNL_ARG_DST,
                                a->from_pre ? pre : y, layer, err)) ||
        (rc = nn_dnnl_op_tensor(&a->bwd, a->bwd_pd, DNNL_ARG_DIFF_DST, dy, layer, err)) ||
        (rc = nn_dnnl_op_tensor(&a->bwd, a->bwd_pd, DNNL_ARG_DIFF_SRC, dz, layer, err)))
        return rc;
    return NN_OK;
}

int nn_dnnl_act_forward(nn_dnnl_act *a, const char *layer, nn_error *err)
{
    return a->fwd.prim ? nn_dnnl_op_run(&a->fwd, layer, err) : NN_OK;
}

int nn_dnnl_act_backward(nn_dnnl_act *a, const char *layer, nn_error *err)
{
    if (a->kind == NN_ACT_NONE)
        return NN_OK;
    if (!a->bwd.prim)
        return nn_error_set(err, NN_EINVAL,
                            "layer '%s': backward called on a plan built without training buffers",
                            layer);
    return nn_dnnl_op_run(&a->bwd, layer, err);
}

void nn_dnnl_act_destroy(nn_dnnl_act *a)
{
    nn_dnnl_op_destroy(&a->fwd);
    nn_dnnl_op_destroy(&a->bwd);
    nn_dnnl_pd_free(&a->fwd_pd);
    nn_dnnl_pd_free(&a->hint_pd);
    nn_dnnl_pd_free(&a->bwd_pd);
}
