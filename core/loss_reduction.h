/* loss_reduction.h: what a loss's setup declares in nn_loss_setup.reduction, in words, for the
 * core's messages (the session's check, `nntrain devices test`, `nntrain plugins test`). */
#ifndef NN_LOSS_REDUCTION_H
#define NN_LOSS_REDUCTION_H

#include <stdint.h>

#include "nntrain/loss.h"

/* what a value that is neither must be, for the messages that refuse it */
#define NN_LOSS_REDUCTION_RULE "it must be NN_LOSS_MEAN (0) or NN_LOSS_SUM (1)"

/* "a mean (NN_LOSS_MEAN)", "a sum (NN_LOSS_SUM)", or NULL for a value that is neither */
static inline const char *nn_loss_reduction_name(int64_t r)
{
    return r == NN_LOSS_MEAN ? "a mean (NN_LOSS_MEAN)" : r == NN_LOSS_SUM ? "a sum (NN_LOSS_SUM)"
                                                                          : NULL;
}

#endif
