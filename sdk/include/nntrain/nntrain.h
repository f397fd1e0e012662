/* nntrain.h: the whole SDK in one include. */
#ifndef NNTRAIN_NNTRAIN_H
#define NNTRAIN_NNTRAIN_H
#include "status.h"
#include "tensor.h"
#include "rng.h"
#include "params.h"
#include "plugin.h"
#include "layer.h"
#include "loss.h"
#include "optimizer.h"
#include "scheduler.h"
#include "dataset.h"
#include "transform.h"
#include "logger.h"
#include "device.h"
#include "backend.h"
#include "communicator.h"
#include "file.h"
#include "test_spec.h"
#include "gradcheck.h"
#include "export.h"
#include "version.h"
#endif
