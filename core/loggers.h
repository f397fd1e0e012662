/* loggers.h: the run's logger plugins, created from [logger.NAME] sections (a console logger
 * when there is none), and event delivery. A logger that fails is reported once and dropped;
 * training goes on unless the run is strict. */
#ifndef NN_LOGGERS_H
#define NN_LOGGERS_H

#include "config.h"
#include "nntrain/logger.h"
#include "registry.h"

typedef struct nn_loggers nn_loggers;

/* Creates the loggers and opens them with o. With o NULL they are created (keys checked)
 * but never opened, so nothing is written: `nntrain summary` checks them this way. */
int nn_loggers_open(nn_registry *reg, const nn_config *cfg, const nn_logger_open *o, int strict,
                    nn_loggers **out, nn_error *err);
/* Delivers ev to every live logger. returns NN_OK, or (strict runs only) the first failure. */
int nn_loggers_emit(nn_loggers *l, const nn_event *ev, nn_error *err);
void nn_loggers_flush(nn_loggers *l);
/* closes and frees; NULL is allowed */
void nn_loggers_close(nn_loggers *l);

#endif
